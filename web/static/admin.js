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

  // After a form is saved or tested, its answer ("Saved.", the test result, a refusal) is
  // shown where the user is: scrolled into view, and the focus stays on the button pressed.
  let pending = null;
  document.body.addEventListener('htmx:beforeRequest', (e) => {
    const t = e.detail.target;
    // getAttribute: a form's .id is its field named "id" when it has one (the Icecast form).
    const id = t && t.getAttribute('id');
    if (!id || id === 'log') return;
    if (!t.matches('form, section.entries') && !t.querySelector('form')) return;
    const a = document.activeElement;
    pending = { target: id, focus: a && a.getAttribute('id'), xhr: e.detail.xhr };
  });
  document.body.addEventListener('htmx:afterSettle', (e) => {
    // Only the answer to that request: SSE swaps settle too, meanwhile.
    if (!pending || !e.detail.xhr || e.detail.xhr !== pending.xhr) return;
    const { target, focus } = pending;
    pending = null;
    const box = document.getElementById(target);
    if (!box) return;
    const notice = box.querySelector('[data-test-result], .field.invalid, [data-notice]');
    const again = focus && document.getElementById(focus);
    if (again) again.focus({ preventScroll: true });
    else if (notice) {
      notice.tabIndex = -1;
      notice.focus({ preventScroll: true });
    }
    if (notice) notice.scrollIntoView({ block: 'center' });
  });

  // "Paste the URL your host gave you": fill the fields below from it at once (the server
  // does the same when the form is sent without this script).
  document.body.addEventListener('input', (e) => {
    const el = e.target;
    if (!el.matches || !el.matches('form.entry-form[id^="icecast-form"] input[name="url"]')) return;
    const p = parseServerUrl(el.value);
    if (!p) return;
    const form = el.form;
    const set = (name, v) => { const f = form.elements.namedItem(name); if (f && v !== undefined && v !== '') f.value = String(v); };
    set('host', p.host); set('port', p.port); set('mount', p.mount); set('user', p.user); set('password', p.password);
  });
});

/** As parseServerUrl in src/http/admin/forms.ts: icecast://user:pass@host:port/mount, http://…, or host:port/mount. */
function parseServerUrl(text) {
  const t = text.trim();
  if (!t) return null;
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(t);
  let u;
  try { u = new URL(hasScheme ? t : `http://${t}`); } catch { return null; }
  if ((u.protocol !== 'http:' && u.protocol !== 'icecast:') || !u.hostname) return null;
  const mount = decodeURIComponent(u.pathname);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : u.protocol === 'http:' && hasScheme ? 80 : 8000,
    mount: mount === '/' ? '' : mount,
    user: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
  };
}
