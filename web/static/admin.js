// hark admin page: htmx settings, the live meters, and the "connection lost" state.

// ---- the meters ---------------------------------------------------------------------------
// The server renders the meter markup (web/templates/components.ts `meters`); the `levels`
// event then carries numbers ({s: seq, p: peak, r: rms, h: hold, c: clip}, dBFS) applied here.
// METER_SCALE is components.ts `METER_SCALE` (dBFS → % of the track): change both together.
const METER_SCALE = [[-60, 0], [-50, 5], [-40, 13], [-30, 28], [-20, 50], [0, 100]];
const FLOOR = -60;
function meterPct(db) {
  if (!(db > METER_SCALE[0][0])) return 0;
  for (let i = 1; i < METER_SCALE.length; i++) {
    const [d1, p1] = METER_SCALE[i];
    if (db <= d1) {
      const [d0, p0] = METER_SCALE[i - 1];
      return p0 + ((db - d0) / (d1 - d0)) * (p1 - p0);
    }
  }
  return 100;
}
const dbText = (db) => (db <= -119 ? '−∞' : db.toFixed(1).replace('-', '−'));
let refetching = 0;

/**
 * The meters' markup carries its widths and positions as data attributes (the page's
 * Content-Security-Policy refuses style attributes); they are applied here, through the CSSOM,
 * to the page and to every fragment swapped in.
 */
function placeMeters(root) {
  const all = (sel) => [...(root.matches?.(sel) ? [root] : []), ...root.querySelectorAll(sel)];
  all('[data-w]').forEach((el) => (el.style.width = `${el.dataset.w}%`));
  all('[data-x]').forEach((el) => (el.style.left = `${el.dataset.x}%`));
  all('[data-z-amber]').forEach((el) => {
    el.style.setProperty('--z-amber', `${el.dataset.zAmber}%`);
    el.style.setProperty('--z-red', `${el.dataset.zRed}%`);
  });
}

function applyLevels(data) {
  const box = document.querySelector('#meters .meters');
  if (!box) return;
  let v;
  try { v = JSON.parse(data); } catch { return; }
  const rows = box.querySelectorAll('.meter[data-ch]');
  if (rows.length !== v.p.length) {
    // The channel count changed (another device): fetch the markup again, at most every 2 s.
    if (Date.now() - refetching > 2000) {
      refetching = Date.now();
      fetch('/ui/widget/meters', { cache: 'no-store' }).then((r) => (r.ok ? r.text() : null)).then((t) => {
        if (t !== null) document.getElementById('meters').innerHTML = t;
      }).catch(() => {});
    }
    return;
  }
  box.dataset.seq = String(v.s);
  rows.forEach((row, c) => {
    const p = v.p[c], lit = !!v.c[c];
    row.dataset.peak = p.toFixed(1);
    row.querySelector('.bar.peak').style.width = meterPct(p).toFixed(1) + '%';
    row.querySelector('.bar.rms').style.width = meterPct(v.r[c]).toFixed(1) + '%';
    row.querySelector('.hold').style.left = meterPct(v.h[c]).toFixed(1) + '%';
    row.querySelector('.db').textContent = dbText(p);
    const track = row.querySelector('.track');
    track.setAttribute('aria-valuenow', Math.max(FLOOR, Math.min(0, p)).toFixed(1));
    track.setAttribute('aria-valuetext', p <= -119 ? 'silence' : `${dbText(p)} dB${lit ? ', clipping' : ''}`);
    const lamp = row.querySelector('.clip');
    if (lamp.classList.contains('on') !== lit) {
      lamp.classList.toggle('on', lit);
      if (lit) {
        lamp.removeAttribute('aria-hidden');
        lamp.setAttribute('role', 'img');
        lamp.setAttribute('aria-label', track.getAttribute('aria-label').replace(/ level$/, ' clipping'));
      } else {
        lamp.removeAttribute('role');
        lamp.removeAttribute('aria-label');
        lamp.setAttribute('aria-hidden', 'true');
      }
    }
  });
}

/**
 * Each program's levels (`program-levels`: {id: [[pre peak, pre rms], [post peak, post rms]]},
 * dBFS, the loudest channel), applied to the compact meters of web/templates/programs.ts on the
 * Programs page (before and after) and the dashboard (after).
 */
function applyProgramLevels(data) {
  let v;
  try { v = JSON.parse(data); } catch { return; }
  document.querySelectorAll('.pmeter[data-program]').forEach((m) => {
    const l = v[m.dataset.program];
    if (!l) return;
    const [p, r] = m.dataset.stage === 'pre' ? l[0] : l[1];
    m.dataset.peak = p.toFixed(1);
    m.querySelector('.bar.peak').style.width = meterPct(p).toFixed(1) + '%';
    m.querySelector('.bar.rms').style.width = meterPct(r).toFixed(1) + '%';
    m.querySelector('.db').textContent = dbText(p);
    const track = m.querySelector('.track');
    track.setAttribute('aria-valuenow', Math.max(FLOOR, Math.min(0, p)).toFixed(1));
    track.setAttribute('aria-valuetext', p <= -119 ? 'silence' : `${dbText(p)} dB`);
  });
}

/** No connection: the bars empty, and screen readers hear that the level is unknown. */
function emptyMeters() {
  document.querySelectorAll('.pmeter[data-program]').forEach((m) => {
    delete m.dataset.peak;
    m.querySelectorAll('.bar').forEach((b) => (b.style.width = '0%'));
    m.querySelector('.db').textContent = '—';
    m.querySelector('.track').setAttribute('aria-valuetext', 'unknown: no connection');
  });
  document.querySelectorAll('#meters .meter[data-ch]').forEach((row) => {
    // No reading now: nothing on the page (nor a script reading it) may take the last one for current.
    delete row.dataset.peak;
    row.querySelectorAll('.bar').forEach((b) => (b.style.width = '0%'));
    row.querySelector('.hold').style.left = '0%';
    row.querySelector('.db').textContent = '—';
    const track = row.querySelector('.track');
    track.setAttribute('aria-valuenow', String(FLOOR));
    track.setAttribute('aria-valuetext', 'unknown: no connection');
  });
}

// ---- the connection -----------------------------------------------------------------------
// The page's one SSE connection (htmx's sse extension). When it errors, or goes quiet (the
// server sends `hb` every 5 s, meters ~15 times a second), the page says so at once: a banner,
// empty meters, and the state badge no longer claims "Live". It recovers by itself: the
// EventSource reconnects, and the server sends every widget's current rendering on connect;
// if the connection cannot come back (the session ended with a restart), the page reloads
// once hark answers, which lands on the login page if need be.
const QUIET_MS = 12000;
let source = null;
let lastHeard = Date.now();
let lost = false;
let lostTimer = 0;
let probeTimer = 0;

function heard() {
  lastHeard = Date.now();
  if (lost && source && source.readyState === EventSource.OPEN) recovered();
}

function showLost() {
  if (lost) return;
  lost = true;
  document.body.classList.add('conn-lost');
  const banner = document.getElementById('conn-lost');
  if (banner) banner.hidden = false;
  const badge = document.querySelector('#state-badge .badge');
  if (badge) { badge.textContent = 'No connection'; badge.dataset.state = 'unknown'; badge.className = 'badge state-unknown'; }
  const word = document.querySelector('.state-word');
  if (word) { word.textContent = 'Not known'; word.dataset.state = 'unknown'; }
  emptyMeters();
  // Nothing pressed now would be known to work: the buttons wait for the connection, and say why
  // (the banner's words, read out with the button and shown on hover). Copy works without the box.
  for (const b of document.querySelectorAll('main button:not([disabled]):not(.copy), main input[type=submit]:not([disabled])')) {
    b.disabled = true;
    b.dataset.lostDisabled = 'true';
    b.dataset.lostTitle = b.getAttribute('title') ?? '';
    b.dataset.lostDescribed = b.getAttribute('aria-describedby') ?? '';
    b.setAttribute('title', 'No connection to the box');
    b.setAttribute('aria-describedby', `${b.dataset.lostDescribed} conn-lost-why`.trim());
  }
  probe();
}

function recovered() {
  lost = false;
  clearTimeout(lostTimer);
  clearTimeout(probeTimer);
  document.body.classList.remove('conn-lost');
  const banner = document.getElementById('conn-lost');
  if (banner) banner.hidden = true;
  for (const b of document.querySelectorAll('[data-lost-disabled]')) {
    b.disabled = false;
    for (const [attr, key] of [['title', 'lostTitle'], ['aria-describedby', 'lostDescribed']]) {
      if (b.dataset[key]) b.setAttribute(attr, b.dataset[key]);
      else b.removeAttribute(attr);
      delete b.dataset[key];
    }
    delete b.dataset.lostDisabled;
  }
}

/**
 * While lost: ask hark every 2 s; when it answers but the live connection stays down, reload.
 * While the browser's own EventSource is still retrying (every 2 s: the server's `retry:`), it
 * gets five answers' time to come back by itself, so the page recovers in place (what was
 * typed stays); a connection given up (closed: a refusal, or htmx's backoff) reloads after two.
 */
function probe() {
  let answered = 0;
  const once = () => {
    if (!lost) return;
    fetch(location.pathname + location.search, { cache: 'no-store', redirect: 'manual' }).then((r) => {
      if (!lost) return;
      if (r.type === 'opaqueredirect' || r.status === 401) return location.reload();
      const patience = source && source.readyState === EventSource.CONNECTING ? 5 : 2;
      if (r.ok && ++answered >= patience) return location.reload();
      probeTimer = setTimeout(once, 2000);
    }).catch(() => { answered = 0; probeTimer = setTimeout(once, 2000); });
  };
  clearTimeout(probeTimer);
  probeTimer = setTimeout(once, 2000);
}

document.addEventListener('htmx:sseOpen', (e) => {
  const s = e.detail.source;
  if (s !== source) {
    source = s;
    s.addEventListener('levels', (m) => { heard(); if (!lost) applyLevels(m.data); });
    s.addEventListener('program-levels', (m) => { heard(); if (!lost) applyProgramLevels(m.data); });
    s.addEventListener('hb', heard);
  }
  heard();
  recovered();
});
document.addEventListener('htmx:sseError', () => {
  // One second's grace: a reconnect that succeeds at once shows nothing.
  clearTimeout(lostTimer);
  lostTimer = setTimeout(() => { if (!source || source.readyState !== EventSource.OPEN) showLost(); }, 1000);
});
document.addEventListener('htmx:sseBeforeMessage', heard);
setInterval(() => {
  if (!lost && source && Date.now() - lastHeard > QUIET_MS) {
    // Quiet without an error (a network that stopped answering): start again.
    showLost();
    source.close();
    probe();
  }
}, 2000);

// ---- htmx settings ------------------------------------------------------------------------
// A refused form (422) is swapped in, so errors show next to their fields; other errors are
// not swapped and are shown as a notice instead.
// The page as parsed (this script is deferred: the document is complete), then every element
// added later (htmx swaps, SSE fragments), in the same task as the insertion, before the page
// is painted or measured: no moment shows a meter without its widths.
placeMeters(document.body);
new MutationObserver((records) => {
  for (const r of records) for (const n of r.addedNodes) if (n.nodeType === 1) placeMeters(n);
}).observe(document.body, { childList: true, subtree: true });

document.addEventListener('DOMContentLoaded', () => {
  htmx.config.responseHandling = [
    { code: '204', swap: false },
    { code: '[23]..', swap: true },
    { code: '422', swap: true, error: false },
    { code: '409', swap: true, error: false },
    { code: '404', swap: true, error: false },
    // A password form told to wait (too many wrong current passwords) says so beside the field.
    { code: '429', swap: true, error: false },
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
  // A list with a player that is playing (the Recordings page) is not replaced under it: the
  // newest list waits until every player in it is paused or has ended, then goes in.
  const deferred = new Map();
  const playingIn = (el) => [...el.querySelectorAll('audio')].some((a) => !a.paused && !a.ended);
  const applyDeferred = (target) => {
    if (!deferred.has(target) || playingIn(target)) return;
    const data = deferred.get(target);
    deferred.delete(target);
    if (!target.isConnected) return;
    target.innerHTML = data;
    window.htmx.process(target);
  };
  document.body.addEventListener('htmx:sseBeforeMessage', (e) => {
    if (e.defaultPrevented || !playingIn(e.target)) return;
    e.preventDefault();
    const target = e.target;
    const first = !deferred.has(target);
    deferred.set(target, e.detail.data);
    if (!first) return;
    for (const a of target.querySelectorAll('audio')) {
      a.addEventListener('pause', () => setTimeout(() => applyDeferred(target), 0));
      a.addEventListener('ended', () => setTimeout(() => applyDeferred(target), 0));
    }
  });
  // A live update that replaces the element holding the focus (a program's Mute button, swapped
  // in with its card's new state) gives the focus to its successor, the element of the same id.
  let focusedId = '';
  document.body.addEventListener('htmx:sseBeforeMessage', () => {
    const a = document.activeElement;
    focusedId = a && a !== document.body ? a.getAttribute('id') || '' : '';
  });
  document.body.addEventListener('htmx:sseMessage', () => {
    const id = focusedId;
    focusedId = '';
    const a = document.activeElement;
    if (!id || (a && a !== document.body)) return;
    const el = document.getElementById(id);
    if (el) el.focus({ preventScroll: true });
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
  // A connection test's result appears under its button: bring it into view (a phone's form is long).
  document.body.addEventListener('htmx:afterSettle', () => {
    const r = document.querySelector('[data-test-result]:not([data-shown])');
    if (!r) return;
    r.dataset.shown = 'true';
    r.scrollIntoView({ block: 'center', behavior: 'instant' });
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

  // Recordings page: a marked moment plays its recording from that point.
  document.body.addEventListener('click', (e) => {
    const btn = e.target.closest && e.target.closest('button.seek[data-player]');
    const audio = btn && document.getElementById(btn.dataset.player);
    if (!audio) return;
    const at = Number(btn.dataset.seek) || 0;
    const go = () => { audio.currentTime = at; audio.play().catch(() => {}); };
    if (audio.readyState >= 1) go();
    else { audio.preload = 'metadata'; audio.addEventListener('loadedmetadata', go, { once: true }); audio.load(); }
  });

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
  // A release file (System page, Software update) goes to POST /api/update as the request body,
  // with the session's CSRF header, showing how much has been sent; the answer (installed and
  // restarting, or the reason it was refused) shows below the form.
  document.body.addEventListener('submit', (e) => {
    const form = e.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.rawUpload) return;
    e.preventDefault();
    const out = document.getElementById('update-result');
    const say = (ok, text) => {
      if (!out) return;
      out.innerHTML = '';
      const p = document.createElement('p');
      p.className = `notice ${ok ? 'ok' : 'bad'}`;
      p.setAttribute('role', ok ? 'status' : 'alert');
      p.textContent = text;
      out.append(p);
    };
    const file = form.querySelector('input[type=file]').files[0];
    if (!file) return say(false, 'Choose the release file (hark-<version>-arm64.hark) first.');
    const button = form.querySelector('button[type=submit]');
    let headers = {};
    try {
      headers = JSON.parse(document.body.getAttribute('hx-headers') || '{}');
    } catch {}
    const down = form.querySelector('input[name=allow_downgrade]');
    const xhr = new XMLHttpRequest();
    xhr.open('POST', form.dataset.rawUpload + (down && down.checked ? '?allow_downgrade=1' : ''));
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (p) => {
      if (p.lengthComputable) say(true, `Sending ${file.name}: ${Math.floor((100 * p.loaded) / p.total)} %…`);
    };
    xhr.onload = () => {
      button.disabled = false;
      let body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {}
      if (xhr.status === 202) say(true, `${body.message} This page reconnects by itself.`);
      else say(false, body.error || `Refused (${xhr.status}).`);
    };
    xhr.onerror = () => {
      button.disabled = false;
      say(false, 'The upload stopped: the connection to the box was lost. Nothing was installed; try again.');
    };
    button.disabled = true;
    say(true, `Sending ${file.name}…`);
    xhr.send(file);
  });
  // A backup just made (System page) downloads at once: its link is marked data-autodownload,
  // followed once; the link stays for a second try.
  document.body.addEventListener('htmx:afterSettle', () => {
    const link = document.querySelector('a[data-autodownload]');
    if (!link) return;
    link.removeAttribute('data-autodownload');
    link.click();
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
