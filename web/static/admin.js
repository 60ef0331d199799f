// hark admin page: htmx settings. A refused form (422) is swapped in, so errors show next to
// their fields; other errors are not swapped and are shown as a notice instead.
document.addEventListener('DOMContentLoaded', () => {
  htmx.config.responseHandling = [
    { code: '204', swap: false },
    { code: '[23]..', swap: true },
    { code: '422', swap: true, error: false },
    { code: '409', swap: true, error: false },
    { code: '404', swap: true, error: false },
    { code: '[45]..', swap: false, error: true },
  ];
  // The log tail stays scrolled to the newest line unless the user scrolled up.
  // A fragment with the data-sig its target already shows is not swapped (the resend on each
  // SSE (re)connect): a recording that is playing keeps playing.
  document.body.addEventListener('htmx:sseBeforeMessage', (e) => {
    const sig = /^\s*<[^>]*\bdata-sig="([^"]+)"/.exec(e.detail.data || '');
    const cur = e.target.firstElementChild;
    if (sig && cur && cur.getAttribute('data-sig') === sig[1]) e.preventDefault();
  });
  document.body.addEventListener('htmx:sseBeforeMessage', (e) => {
    const log = document.getElementById('log');
    if (log && e.target === log) log.dataset.pinned = String(log.scrollHeight - log.scrollTop - log.clientHeight < 40);
  });
  document.body.addEventListener('htmx:sseMessage', (e) => {
    const log = document.getElementById('log');
    if (!log || e.target !== log) return;
    while (log.childElementCount > 500) log.firstElementChild.remove();
    if (log.dataset.pinned !== 'false') log.scrollTop = log.scrollHeight;
  });
  document.body.addEventListener('htmx:responseError', (e) => {
    const xhr = e.detail.xhr;
    let msg = `${xhr.status} ${xhr.statusText}`;
    try { msg = JSON.parse(xhr.responseText).error || msg; } catch {}
    if (xhr.status === 401) { location.href = '/login?next=' + encodeURIComponent(location.pathname); return; }
    const box = document.getElementById('alerts');
    if (box) {
      const div = document.createElement('div');
      div.className = 'alert critical';
      div.setAttribute('role', 'alert');
      div.textContent = msg;
      box.append(div);
      setTimeout(() => div.remove(), 8000);
    }
  });
  const log = document.getElementById('log');
  if (log) log.scrollTop = log.scrollHeight;
});
