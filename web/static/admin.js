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
  const log = document.getElementById('log');
  if (log) log.scrollTop = log.scrollHeight;
  // Input page: "Listen to the input here" plays /ui/monitor.mp3 in this browser; pressing it
  // again (or leaving the page) ends the stream, so the encoder stops.
  document.body.addEventListener('click', (e) => {
    const btn = e.target.closest && e.target.closest('#monitor-toggle');
    const audio = document.getElementById('monitor-audio');
    if (!btn || !audio) return;
    const say = (t) => { const s = document.getElementById('monitor-state'); if (s) s.textContent = t; };
    if (btn.getAttribute('aria-pressed') === 'true') {
      audio.onplaying = audio.onerror = null; // an emptied src reports an error: not one to show
      audio.pause();
      audio.removeAttribute('src');
      audio.load();
      btn.setAttribute('aria-pressed', 'false');
      btn.textContent = 'Listen to the input here';
      say('');
      return;
    }
    audio.src = audio.dataset.src + '?t=' + Date.now();
    btn.setAttribute('aria-pressed', 'true');
    btn.textContent = 'Stop listening';
    say('Starting…');
    audio.onplaying = () => say('Playing the input on this device.');
    audio.onerror = () => {
      btn.setAttribute('aria-pressed', 'false');
      btn.textContent = 'Listen to the input here';
      say('Could not play the input here. Reload the page and try again.');
    };
    audio.play().catch((err) => say('Could not play the input here: ' + err.message));
  });
});
