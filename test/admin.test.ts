/**
 * The HTTP surface of the control plane through `app.handle(new Request(…))` on a real
 * in-process daemon (test tone): authentication, CSRF, the login limit, session expiry with
 * an injected clock, API tokens, the listener guard, config writes, escaping, SSE, /metrics
 * and OpenAPI.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hark } from '../src/daemon.ts';
import { loadConfig } from '../src/config/load.ts';
import { forceLogLevel } from '../src/log.ts';

const PASSWORD = 'a good long password';
let clock = Date.now();
let hark: Hark;
let dir: string;
let configPath: string;

const url = (path: string) => `http://localhost${path}`;
const handle = (req: Request) => hark.app!.handle(req);

function cookiesOf(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of res.headers.getSetCookie()) {
    const [kv] = c.split(';');
    const i = kv!.indexOf('=');
    out[kv!.slice(0, i)] = decodeURIComponent(kv!.slice(i + 1));
  }
  return out;
}

function form(data: Record<string, string>): string {
  return new URLSearchParams(data).toString();
}

const FORM = 'application/x-www-form-urlencoded';

/** GET /login for its CSRF cookie and field, then POST the password. */
async function login(password = PASSWORD): Promise<Response> {
  const page = await handle(new Request(url('/login')));
  const pre = cookiesOf(page).hark_csrf!;
  const field = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
  return handle(
    new Request(url('/login'), {
      method: 'POST',
      headers: { 'content-type': FORM, cookie: `hark_csrf=${pre}` },
      body: form({ _csrf: field, password, next: '/' }),
    }),
  );
}

/** A logged-in session: its cookie header and CSRF token (read from the page, as htmx does). */
async function session(): Promise<{ cookie: string; csrf: string }> {
  const res = await login();
  expect(res.status).toBe(303);
  const id = cookiesOf(res).hark_session!;
  const cookie = `hark_session=${id}`;
  const page = await (await handle(new Request(url('/'), { headers: { cookie } }))).text();
  const csrf = JSON.parse(/hx-headers="([^"]+)"/.exec(page)![1]!.replaceAll('&quot;', '"'))['X-CSRF-Token'];
  return { cookie, csrf };
}

beforeAll(async () => {
  forceLogLevel('warn');
  dir = mkdtempSync(join(tmpdir(), 'hark-admin-'));
  configPath = join(dir, 'hark.toml');
  // No WebRTC here: its one UDP port would collide with other tests running at the same time.
  writeFileSync(configPath, '# hand-written\n[input]\nsource = "tone" # keep me\n\n[control]\non_boot = "idle"\n\n[webrtc]\nenabled = false\n');
  hark = new Hark(loadConfig(configPath), { configPath, now: () => clock, port: 0 });
  await hark.start();
});

afterAll(async () => {
  await hark.close();
});

describe('before a password exists', () => {
  test('pages send the browser to the first-run page; the API answers 401 saying so', async () => {
    const page = await handle(new Request(url('/'), { headers: { accept: 'text/html' } }));
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/setup');
    const api = await handle(new Request(url('/api/live'), { method: 'POST' }));
    expect(api.status).toBe(401);
    expect((await api.json()).error).toContain('/setup');
    // Status stays public (monitoring, the systemd watchdog).
    expect((await handle(new Request(url('/api/status')))).status).toBe(200);
  });

  test('the first-run form needs its CSRF token, refuses a short password inline, then sets it', async () => {
    const page = await handle(new Request(url('/setup')));
    expect(page.status).toBe(200);
    const pre = cookiesOf(page).hark_csrf!;
    const field = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const post = (body: Record<string, string>, cookie = `hark_csrf=${pre}`) =>
      handle(new Request(url('/setup'), { method: 'POST', headers: { 'content-type': FORM, cookie }, body: form(body) }));
    expect((await post({ password: PASSWORD, confirm: PASSWORD }, '')).status).toBe(403);
    // Not from the box itself (app.handle has no peer address): the setup code is needed.
    const code = hark.ctx.setup.current!;
    expect(code).toMatch(/^[A-Z2-9]{8}$/);
    const noCode = await post({ _csrf: field, password: PASSWORD, confirm: PASSWORD });
    expect(noCode.status).toBe(403);
    expect(await noCode.text()).toContain('Type the setup code.');
    const short = await post({ _csrf: field, code, password: 'short', confirm: 'short' });
    expect(short.status).toBe(422);
    expect(await short.text()).toContain('at least 8 characters');
    const ok = await post({ _csrf: field, code: `${code.slice(0, 4).toLowerCase()}-${code.slice(4)}`, password: PASSWORD, confirm: PASSWORD });
    expect(ok.status).toBe(303);
    expect(cookiesOf(ok).hark_session).toBeTruthy();
    expect(ok.headers.getSetCookie().find((c) => c.startsWith('hark_session='))).toMatch(/HttpOnly; SameSite=Strict/);
    // The page exists only until the password is set.
    expect((await handle(new Request(url('/setup')))).status).toBe(404);
    const auth = JSON.parse(readFileSync(join(dir, 'auth.json'), 'utf8'));
    expect(auth.password_hash).toStartWith('$argon2id$');
    expect(readFileSync(join(dir, 'auth.json'), 'utf8')).not.toContain(PASSWORD);
  });
});

describe('sessions, CSRF and tokens', () => {
  test('a mutating request without a session or token is 401; with a session but no CSRF token 403', async () => {
    expect((await handle(new Request(url('/api/live'), { method: 'POST' }))).status).toBe(401);
    expect((await handle(new Request(url('/api/config')))).status).toBe(401);
    const s = await session();
    const noCsrf = await handle(new Request(url('/api/live'), { method: 'POST', headers: { cookie: s.cookie } }));
    expect(noCsrf.status).toBe(403);
    expect((await noCsrf.json()).error).toContain('CSRF');
    const wrong = await handle(new Request(url('/api/live'), { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': 'nope' } }));
    expect(wrong.status).toBe(403);
    expect(hark.ctx.control.state).toBe('idle');
    const ok = await handle(new Request(url('/api/live'), { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf } }));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ok: true, state: 'live' });
    // A form post may carry the token as the _csrf field instead (no JavaScript).
    const f = await handle(new Request(url('/ui/action/stop'), { method: 'POST', headers: { cookie: s.cookie, 'content-type': FORM }, body: form({ _csrf: s.csrf }) }));
    expect(f.status).toBe(200);
    expect(hark.ctx.control.state).toBe('idle');
  });

  test('a cross-site POST is refused even with a valid session and token', async () => {
    const s = await session();
    const res = await handle(new Request(url('/api/live'), { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, origin: 'http://evil.example' } }));
    expect(res.status).toBe(403);
    expect(hark.ctx.control.state).toBe('idle');
  });

  test('sessions expire (injected clock) and log out ends one at once', async () => {
    const s = await session();
    const get = () => handle(new Request(url('/api/state'), { headers: { cookie: s.cookie } }));
    expect((await get()).status).toBe(200);
    clock += 11 * 3600_000;
    expect((await get()).status).toBe(200);
    clock += 2 * 3600_000; // past access.session_hours = 12
    expect((await get()).status).toBe(401);
    const page = await handle(new Request(url('/system'), { headers: { cookie: s.cookie, accept: 'text/html' } }));
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login?next=%2Fsystem');

    const t = await session();
    const out = await handle(new Request(url('/logout'), { method: 'POST', headers: { cookie: t.cookie, 'content-type': FORM }, body: form({ _csrf: t.csrf }) }));
    expect(out.status).toBe(303);
    expect((await handle(new Request(url('/api/state'), { headers: { cookie: t.cookie } }))).status).toBe(401);
  });

  test('10 wrong passwords lock the login out, even for the right one, until the window passes', async () => {
    for (let i = 0; i < 10; i++) expect((await login('wrong password')).status).toBe(401);
    const locked = await login(PASSWORD);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(800);
    expect(await locked.text()).toContain('Too many wrong passwords');
    clock += 16 * 60_000;
    expect((await login(PASSWORD)).status).toBe(303);
  });

  test('an API token works without CSRF (Bearer), and not after it is revoked', async () => {
    const s = await session();
    const created = await handle(new Request(url('/api/tokens'), { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ci' }) }));
    expect(created.status).toBe(200);
    const { id, token } = await created.json();
    expect(token).toStartWith('hark_');
    const mark = await handle(new Request(url('/api/mark'), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ label: 'from ci' }) }));
    expect(mark.status).toBe(200);
    expect((await mark.json()).message).toContain('"from ci"');
    expect(readFileSync(join(dir, 'auth.json'), 'utf8')).not.toContain(token);
    await handle(new Request(url(`/api/tokens/${id}`), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }));
    expect((await handle(new Request(url('/api/state'), { headers: { authorization: `Bearer ${token}` } }))).status).toBe(401);
  });
});

describe('config through the API', () => {
  test('an invalid PUT is 422 naming the key; nothing is written; a valid PATCH keeps comments', async () => {
    const s = await session();
    const h = { cookie: s.cookie, 'x-csrf-token': s.csrf };
    const before = readFileSync(configPath, 'utf8');
    const bad = await handle(new Request(url('/api/config'), { method: 'PUT', headers: { ...h, 'content-type': 'application/toml' }, body: '[input]\nchannels = 12\n' }));
    expect(bad.status).toBe(422);
    expect(await bad.json()).toMatchObject({ field: 'input.channels' });
    expect(readFileSync(configPath, 'utf8')).toBe(before);
    const patch = await handle(new Request(url('/api/config'), { method: 'PATCH', headers: { ...h, 'content-type': 'application/json' }, body: JSON.stringify({ 'tone.frequency': '880', 'log.level': 'warn' }) }));
    expect(patch.status).toBe(200);
    const r = await patch.json();
    expect(r).toMatchObject({ restart_required: [], comments_preserved: true });
    expect(r.changed.sort()).toEqual(['log.level', 'tone.frequency']);
    expect(r.applied.sort()).toEqual(['log', 'tone']);
    const after = readFileSync(configPath, 'utf8');
    expect(after).toContain('source = "tone" # keep me');
    expect(after).toContain('frequency = 880');
    expect(readFileSync(`${configPath}.bak`, 'utf8')).toBe(before);
    expect(hark.ctx.config.tone.frequency).toBe(880);
    const restart = await handle(new Request(url('/api/config'), { method: 'PATCH', headers: { ...h, 'content-type': 'application/json' }, body: JSON.stringify({ 'mp3.bitrate_kbps': 192 }) }));
    expect((await restart.json()).restart_required).toEqual(['mp3']);
  });

  test('a plaintext admin.password arriving in a config is hashed and removed from the file at once', async () => {
    const s = await session();
    const text = `${readFileSync(configPath, 'utf8')}\n[admin]\npassword = "changed by file"\n`;
    const put = await handle(new Request(url('/api/config'), { method: 'PUT', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/toml' }, body: text }));
    expect(put.status).toBe(200);
    const until = performance.now() + 5000;
    while (readFileSync(configPath, 'utf8').includes('changed by file') && performance.now() < until) await Bun.sleep(50);
    expect(readFileSync(configPath, 'utf8')).not.toContain('changed by file');
    expect(await hark.ctx.auth.verifyPassword('changed by file')).toBe(true);
    await hark.ctx.auth.setPassword(PASSWORD);
  });

  test('a form with a bad value comes back with the error beside the field (422), escaped', async () => {
    const s = await session();
    const res = await handle(new Request(url('/ui/config/recording'), { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': FORM }, body: form({ dir: '<b>x', rotate_minutes: 'soon' }) }));
    expect(res.status).toBe(422);
    const text = await res.text();
    expect(text).toMatch(/data-field="rotate_minutes">[\s\S]*?class="err"[^>]*>must be an integer, got &quot;soon&quot;/);
    expect(text).toContain('value="&lt;b&gt;x"');
    expect(text).not.toContain('<b>x');
  });
});

describe('pages and live updates', () => {
  test('every page renders for a logged-in browser, with its SSE connection', async () => {
    const s = await session();
    for (const [path, page] of [['/', 'dashboard'], ['/input', 'input'], ['/outputs', 'outputs'], ['/listeners', 'listeners'], ['/recordings', 'recordings'], ['/system', 'system']]) {
      const res = await handle(new Request(url(path!), { headers: { cookie: s.cookie } }));
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain(`sse-connect="/events?page=${page}"`);
      expect(text).toContain('<script src="/static/htmx.min.js" defer></script>');
    }
    for (const asset of ['/static/htmx.min.js', '/static/htmx-sse.js', '/static/admin.css', '/static/admin.js', '/static/dashboard.js']) {
      const res = await handle(new Request(url(asset), { headers: { 'accept-encoding': 'gzip' } }));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-encoding')).toBe('gzip');
    }
  });

  test('user-supplied strings are escaped on the page', async () => {
    const s = await session();
    await hark.ctx.control.run('set_metadata', { title: '<img src=x onerror=alert(1)>' }, 'api');
    const page = await (await handle(new Request(url('/'), { headers: { cookie: s.cookie } }))).text();
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page).not.toContain('<img src=x');
  });

  test('SSE: one connection per page, named events carrying fragments', async () => {
    const s = await session();
    const res = await handle(new Request(url('/events?page=dashboard'), { headers: { cookie: s.cookie } }));
    expect(res.headers.get('content-type')).toStartWith('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    const dec = new TextDecoder();
    const until = performance.now() + 1500;
    while (performance.now() < until && !/event: levels[\s\S]*event: levels/.test(text)) {
      const { value } = await reader.read();
      text += dec.decode(value);
    }
    await hark.ctx.control.run('go_live', {}, 'gpio');
    while (!text.includes('data-state="live"')) text += dec.decode((await reader.read()).value);
    await reader.cancel();
    expect(text).toContain('event: state\ndata: <section id="state-panel"');
    expect(text).toContain('event: outputs\n');
    // The meters move by numbers (admin.js applies them to the page's meter markup).
    expect(text).toMatch(/event: levels\ndata: \{"s":\d+,"p":\[/);
    await hark.ctx.control.run('stop', {}, 'gpio');
  });

  test('/metrics is Prometheus text with state, listeners, bytes, outputs, xruns, levels and encoder time', async () => {
    // A listener, so the MP3 encoder runs and has time to report.
    const listener = await handle(new Request(url('/stream.mp3')));
    const reader = listener.body!.getReader();
    let got = 0;
    while (got < 8000) got += (await reader.read()).value?.byteLength ?? 0;
    await Bun.sleep(1100); // the worker's stats come once a second
    const res = await handle(new Request(url('/metrics')));
    await reader.cancel();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await res.text();
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
      expect(line).toMatch(/^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/);
    }
    expect(text).toContain('hark_state{state="idle"} 1');
    expect(text).toContain('hark_listeners{output="http_mp3"} 1');
    expect(Number(/hark_output_bytes_total\{output="http_mp3",id=""\} (\d+)/.exec(text)![1])).toBeGreaterThanOrEqual(8000);
    expect(text).toContain('hark_capture_xruns_total 0');
    expect(Number(/hark_encoder_seconds_total\{encoder="encoder mp3[^"]*"\} ([0-9.e-]+)/.exec(text)![1])).toBeGreaterThan(0);
    // Each family's lines are together (the exposition format requires it).
    const names = text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]);
    const seen = new Set<string>();
    names.forEach((n, i) => {
      if (i > 0 && names[i - 1] !== n) expect(seen.has(n!)).toBe(false);
      seen.add(n!);
    });
    expect(text).toMatch(/hark_input_peak_dbfs\{channel="0"\} -1[0-9.]+/);
    expect(text).toContain('# TYPE hark_encoder_seconds_total counter');
    expect(text).toContain('# TYPE hark_bus_dropped_frames_total counter');
  });

  test('OpenAPI lists the API with the schemas that validate it', async () => {
    const doc = await (await handle(new Request(url('/api/openapi.json')))).json();
    expect(doc.openapi).toBe('3.1.0');
    for (const p of ['/api/live', '/api/stop', '/api/mute', '/api/unmute', '/api/mark', '/api/metadata', '/api/status', '/api/devices', '/api/listeners', '/api/config']) expect(doc.paths[p]).toBeDefined();
    expect(doc.paths['/api/config'].put).toBeDefined();
    expect(doc.components.schemas.Config.properties.input.properties.channels.maximum).toBe(8);
    expect(doc.components.securitySchemes.bearer.scheme).toBe('bearer');
  });

  test('the listener guard: with a listener token, /stream.mp3 needs it', async () => {
    const s = await session();
    await handle(new Request(url('/api/config'), { method: 'PATCH', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' }, body: JSON.stringify({ 'access.listener_token': 'sesame' }) }));
    expect((await handle(new Request(url('/stream.mp3')))).status).toBe(401);
    expect((await handle(new Request(url('/stream.mp3?token=wrong')))).status).toBe(401);
    const ok = await handle(new Request(url('/stream.mp3?token=sesame')));
    expect(ok.status).toBe(200);
    await ok.body?.cancel();
    // /listen?token=… leaves a cookie, so the page's own requests pass without the token.
    const page = await handle(new Request(url('/listen?token=sesame')));
    expect(page.status).toBe(200);
    const c = page.headers.getSetCookie().find((x) => x.startsWith('hark_listen='))!;
    expect(c).toMatch(/HttpOnly; SameSite=Strict/);
    const viaCookie = await handle(new Request(url('/stream.mp3'), { headers: { cookie: c.split(';')[0]! } }));
    expect(viaCookie.status).toBe(200);
    await viaCookie.body?.cancel();
    const bearer = await handle(new Request(url('/stream.mp3'), { headers: { authorization: 'Bearer sesame' } }));
    expect(bearer.status).toBe(200);
    await bearer.body?.cancel();
    await handle(new Request(url('/api/config'), { method: 'PATCH', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' }, body: JSON.stringify({ 'access.listener_token': '' }) }));
    const open = await handle(new Request(url('/stream.mp3')));
    expect(open.status).toBe(200);
    await open.body?.cancel();
  });
});
