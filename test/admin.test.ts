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
import { cookiesOf, FORM, formToken, pageCsrf, postLogin } from './lib/session.ts';

const PASSWORD = 'a good long password';
let clock = Date.now();
let hark: Hark;
let dir: string;
let configPath: string;

const url = (path: string) => `http://localhost${path}`;
const handle = (req: Request) => hark.app!.handle(req);

function form(data: Record<string, string>): string {
  return new URLSearchParams(data).toString();
}

/** GET /login for its CSRF cookie and field, then POST the password. */
const login = (password = PASSWORD): Promise<Response> => postLogin(url(''), password, { via: handle });

/** A logged-in session: its cookie header and CSRF token (read from the page, as htmx does). */
async function session(): Promise<{ cookie: string; csrf: string }> {
  const res = await login();
  expect(res.status).toBe(303);
  const id = cookiesOf(res).hark_session!;
  const cookie = `hark_session=${id}`;
  const page = await (await handle(new Request(url('/'), { headers: { cookie } }))).text();
  const csrf = pageCsrf(page);
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
    const field = formToken(await page.text());
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

  test('5 wrong passwords make the address wait 1 s, even for the right one; then it works', async () => {
    for (let i = 0; i < 5; i++) expect((await login('wrong password')).status).toBe(401);
    const locked = await login(PASSWORD);
    expect(locked.status).toBe(429);
    expect(locked.headers.get('retry-after')).toBe('1');
    expect(await locked.text()).toContain('Too many wrong passwords from your address: try again in 1 second.');
    clock += 1000;
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

  test('PUT /api/config (TOML or JSON) and PATCH never set the admin password, from a session or an admin token', async () => {
    const s = await session();
    const h = { cookie: s.cookie, 'x-csrf-token': s.csrf };
    const before = readFileSync(configPath, 'utf8');
    const text = `${before}\n[admin]\npassword = "taken over by a page"\n`;
    const json = { ...hark.ctx.config, admin: { password: 'taken over by a page' } };
    const created = await handle(new Request(url('/api/tokens'), { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'full', scope: 'admin' }) }));
    const { token } = await created.json();
    const tries = [
      new Request(url('/api/config'), { method: 'PUT', headers: { ...h, 'content-type': 'application/toml' }, body: text }),
      new Request(url('/api/config'), { method: 'PUT', headers: { ...h, 'content-type': 'application/json' }, body: JSON.stringify(json) }),
      new Request(url('/api/config'), { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/toml' }, body: text }),
      new Request(url('/api/config'), { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ 'admin.password': 'taken over by a page' }) }),
    ];
    for (const req of tries) {
      const res = await handle(req);
      expect(res.status).toBe(422);
      const body = await res.json();
      expect(body.field).toBe('admin.password');
      expect(body.error).toContain('current password');
    }
    expect(readFileSync(configPath, 'utf8')).toBe(before);
    expect(await hark.ctx.auth.verifyPassword('taken over by a page')).toBe(false);
    expect(await hark.ctx.auth.verifyPassword(PASSWORD)).toBe(true);
  });

  test('a plaintext admin.password written into the file by hand (first boot) is still hashed and removed from it', async () => {
    const text = `${readFileSync(configPath, 'utf8')}\n[admin]\npassword = "changed by file"\n`;
    writeFileSync(configPath, text);
    expect((await hark.ctx.store.reload('test')).ok).toBe(true);
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
    // Each operation names the API token scope it needs.
    expect(doc.paths['/api/status'].get['x-token-scope']).toBe('read');
    expect(doc.paths['/api/live'].post['x-token-scope']).toBe('control');
    expect(doc.paths['/api/actions/{action}'].post['x-token-scope']).toBe('control');
    expect(doc.paths['/api/config'].put['x-token-scope']).toBe('admin');
    expect(doc.paths['/api/password'].post['x-token-scope']).toBe('none');
    expect(doc.components.schemas.TokenBody.properties.scope).toBeDefined();
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

describe('token scopes and the password (issue 14)', () => {
  const bearer = (t: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${t}`, ...extra });
  const json = { 'content-type': 'application/json' };
  async function newToken(s: { cookie: string; csrf: string }, name: string, scope?: string): Promise<{ id: string; token: string; scope: string }> {
    const res = await handle(new Request(url('/api/tokens'), { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, ...json }, body: JSON.stringify(scope ? { name, scope } : { name }) }));
    expect(res.status).toBe(200);
    return res.json();
  }
  async function expect403(req: Request, need: string): Promise<void> {
    const res = await handle(req);
    expect(res.status).toBe(403);
    const b = await res.json();
    expect(b.error).toContain(`needs the "${need}" scope`);
    expect(b.scope_needed).toBe(need);
  }

  test('read: status and metrics only; control: also the actions and the title; admin: the rest; each refusal names the scope needed', async () => {
    const s = await session();
    const read = await newToken(s, 'wall display', 'read');
    const control = await newToken(s, 'stream deck', 'control');
    expect(read.scope).toBe('read');
    for (const p of ['/api/status', '/api/state', '/metrics', '/api/metadata']) expect((await handle(new Request(url(p), { headers: bearer(read.token) }))).status).toBe(200);
    await expect403(new Request(url('/api/live'), { method: 'POST', headers: bearer(read.token) }), 'control');
    await expect403(new Request(url('/api/metadata'), { method: 'POST', headers: bearer(read.token, json), body: JSON.stringify({ title: 'x' }) }), 'control');
    await expect403(new Request(url('/api/config'), { headers: bearer(read.token) }), 'admin');
    await expect403(new Request(url('/api/listeners'), { headers: bearer(read.token) }), 'admin');
    await expect403(new Request(url('/api/logs'), { headers: bearer(read.token) }), 'admin');
    await expect403(new Request(url('/system'), { headers: bearer(read.token) }), 'admin');
    expect(hark.ctx.control.state).toBe('idle');

    const mark = await handle(new Request(url('/api/mark'), { method: 'POST', headers: bearer(control.token, json), body: JSON.stringify({ label: 'by the deck' }) }));
    expect(mark.status).toBe(200);
    const title = await handle(new Request(url('/api/metadata'), { method: 'POST', headers: bearer(control.token, json), body: JSON.stringify({ title: 'Evensong' }) }));
    expect(title.status).toBe(200);
    expect((await handle(new Request(url('/api/actions/mute'), { method: 'POST', headers: bearer(control.token) }))).status).toBe(200);
    expect((await handle(new Request(url('/api/unmute'), { method: 'POST', headers: bearer(control.token) }))).status).toBe(200);
    await expect403(new Request(url('/api/config'), { method: 'PATCH', headers: bearer(control.token, json), body: JSON.stringify({ 'tone.frequency': 500 }) }), 'admin');
    await expect403(new Request(url('/api/tokens'), { method: 'POST', headers: bearer(control.token, json), body: JSON.stringify({ name: 'more', scope: 'admin' }) }), 'admin');
    await expect403(new Request(url('/api/restart'), { method: 'POST', headers: bearer(control.token) }), 'admin');

    // The list shows each token's scope; a token made without one is admin (as before scopes).
    const full = await newToken(s, 'backup script');
    expect(full.scope).toBe('admin');
    const list = (await (await handle(new Request(url('/api/tokens'), { headers: bearer(full.token) }))).json()) as { name: string; scope: string }[];
    expect(list.filter((t) => ['wall display', 'stream deck', 'backup script'].includes(t.name)).map((t) => `${t.name}:${t.scope}`).sort()).toEqual(['backup script:admin', 'stream deck:control', 'wall display:read']);
    const bad = await handle(new Request(url('/api/tokens'), { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, ...json }, body: JSON.stringify({ name: 'x', scope: 'root' }) }));
    expect(bad.status).toBe(400);
    expect((await bad.json()).field).toBe('scope');
    for (const t of [read, control, full]) await handle(new Request(url(`/api/tokens/${t.id}`), { method: 'DELETE', headers: bearer(full.token) }));
  });

  test('a token stored before scopes existed keeps working as admin', async () => {
    const secret = 'hark_from_an_older_version_0123456789abcdef';
    const file = join(dir, 'auth.json');
    const data = JSON.parse(readFileSync(file, 'utf8'));
    const hash = new Bun.CryptoHasher('sha256').update(secret).digest('hex');
    data.tokens = [...(data.tokens ?? []), { id: 'old00001', name: 'old script', hash, created: '2025-01-01T00:00:00.000Z' }];
    writeFileSync(file, JSON.stringify(data));
    hark.ctx.auth.reload();
    expect((await handle(new Request(url('/api/config'), { headers: bearer(secret) }))).status).toBe(200);
    expect(hark.ctx.auth.tokens().find((t) => t.id === 'old00001')?.scope).toBe('admin');
    expect(hark.ctx.auth.revokeToken('old00001')).toBe(true);
  });

  test('no token may set the password, even an admin one with the current password', async () => {
    const s = await session();
    const full = await newToken(s, 'full');
    const res = await handle(new Request(url('/api/password'), { method: 'POST', headers: bearer(full.token, json), body: JSON.stringify({ current: PASSWORD, password: 'a token chose this' }) }));
    expect(res.status).toBe(403);
    expect((await res.json()).error).toContain('API tokens cannot change the admin password');
    const viaForm = await handle(new Request(url('/ui/password'), { method: 'POST', headers: bearer(full.token, { 'content-type': FORM }), body: form({ current: PASSWORD, password: 'a token chose this', confirm: 'a token chose this' }) }));
    expect(viaForm.status).toBe(403);
    expect(await hark.ctx.auth.verifyPassword(PASSWORD)).toBe(true);
    hark.ctx.auth.revokeToken(full.id);
  });

  test('POST /api/password needs the current password; the change ends every other session and, when asked, revokes the tokens', async () => {
    const s = await session();
    const other = await session();
    const keep = await newToken(s, 'kept', 'read');
    const h = { cookie: s.cookie, 'x-csrf-token': s.csrf, ...json };
    const post = (b: object) => handle(new Request(url('/api/password'), { method: 'POST', headers: h, body: JSON.stringify(b) }));
    const missing = await post({ password: 'the second password' });
    expect(missing.status).toBe(422);
    expect(await missing.json()).toMatchObject({ field: 'current', error: 'current: required: type the password you log in with now' });
    const wrong = await post({ current: 'not it at all', password: 'the second password' });
    expect(wrong.status).toBe(422);
    expect(await wrong.json()).toMatchObject({ field: 'current', error: 'current: this is not the current password' });
    expect(await hark.ctx.auth.verifyPassword(PASSWORD)).toBe(true);

    const ok = await post({ current: PASSWORD, password: 'the second password' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ok: true, revoked_tokens: 0 });
    // The other browser is logged out; this one has a new session; the token (not revoked) still works.
    expect((await handle(new Request(url('/api/state'), { headers: { cookie: other.cookie } }))).status).toBe(401);
    expect((await handle(new Request(url('/api/state'), { headers: { cookie: s.cookie } }))).status).toBe(401);
    const fresh = `hark_session=${cookiesOf(ok).hark_session}`;
    expect((await handle(new Request(url('/api/state'), { headers: { cookie: fresh } }))).status).toBe(200);
    expect((await handle(new Request(url('/api/state'), { headers: bearer(keep.token) }))).status).toBe(200);

    // Back, revoking every token this time.
    const csrf = pageCsrf(await (await handle(new Request(url('/'), { headers: { cookie: fresh } }))).text());
    const back = await handle(new Request(url('/api/password'), { method: 'POST', headers: { cookie: fresh, 'x-csrf-token': csrf, ...json }, body: JSON.stringify({ current: 'the second password', password: PASSWORD, revoke_tokens: true }) }));
    expect(back.status).toBe(200);
    expect((await back.json()).revoked_tokens).toBeGreaterThanOrEqual(1);
    expect((await handle(new Request(url('/api/state'), { headers: bearer(keep.token) }))).status).toBe(401);
    expect(hark.ctx.auth.tokens()).toEqual([]);
  });

  test('guessing the current password is limited like the login (5 wrong, then a wait)', async () => {
    const s = await session();
    const h = { cookie: s.cookie, 'x-csrf-token': s.csrf, ...json };
    const post = (current: string) => handle(new Request(url('/api/password'), { method: 'POST', headers: h, body: JSON.stringify({ current, password: 'whatever it is now' }) }));
    for (let i = 0; i < 5; i++) expect((await post(`guess number ${i}`)).status).toBe(422);
    const wait = await post(PASSWORD);
    expect(wait.status).toBe(429);
    expect(wait.headers.get('retry-after')).toBe('1');
    expect((await wait.json()).error).toContain('Too many wrong passwords from your address');
    expect(await hark.ctx.auth.verifyPassword(PASSWORD)).toBe(true);
    clock += 1000;
    // The right one clears the count (and the browser can log in again).
    const ok = await handle(new Request(url('/api/password'), { method: 'POST', headers: h, body: JSON.stringify({ current: PASSWORD, password: PASSWORD }) }));
    expect(ok.status).toBe(200);
    expect((await login()).status).toBe(303);
  });
});
