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
  // A connection test's result appears under its button: bring it into view (a phone's form is long).
  document.body.addEventListener('htmx:afterSettle', () => {
    const r = document.querySelector('[data-test-result]:not([data-shown])');
    if (!r) return;
    r.dataset.shown = 'true';
    r.scrollIntoView({ block: 'center', behavior: 'instant' });
  });
  const log = document.getElementById('log');
  if (log) log.scrollTop = log.scrollHeight;
});
