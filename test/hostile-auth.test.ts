/**
 * The login as a LAN attacker meets it (issue 14, items 1 and 6): raw TCP connections to a real
 * daemon, each from its own loopback address (127.0.0.x), so the server sees distinct clients.
 *
 * - A burst of 300 wrong passwords at once from one address: at most 10 are checked (401), the
 *   rest are refused at once with 429, a Retry-After and a plain message.
 * - 100+ wrong passwords from 12 addresses, before and while the owner logs in from another
 *   address: the owner gets in every time (no global lockout).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { rawRequest, type RawResponse } from './lib/raw-http.ts';
import { cookiesOf, FORM, formToken, pageCsrf, postLogin } from './lib/session.ts';

const PASSWORD = 'the owner knows this one';
let hark: HarkProcess;

beforeAll(async () => {
  hark = await startHark(`[input]\nsource = "tone"\n[webrtc]\nenabled = false\n[admin]\npassword = "${PASSWORD}"\n`, { timeoutMs: 60_000 });
  await hark.waitFor(/admin password taken from the config file/, 30_000);
}, 90_000);

afterAll(async () => {
  await hark?.stop();
}, 30_000);

/** The login form's CSRF pair (cookie and field), fetched from `from`. */
async function loginForm(from: string): Promise<{ cookie: string; field: string }> {
  const page = await rawRequest({ port: hark.port, localAddress: from, method: 'GET', path: '/login' });
  expect(page.status).toBe(200);
  const cookie = page.setCookies.find((c) => c.startsWith('hark_csrf='))!.split(';')[0]!;
  const field = formToken(page.body);
  return { cookie, field };
}

function login(from: string, f: { cookie: string; field: string }, password: string): Promise<RawResponse> {
  return rawRequest({
    port: hark.port,
    localAddress: from,
    method: 'POST',
    path: '/login',
    headers: { 'content-type': FORM, cookie: f.cookie },
    body: new URLSearchParams({ _csrf: f.field, password, next: '/' }).toString(),
  });
}

/** How many wrong passwords from `addr` the daemon checked (its log says each one). */
const checkedFrom = (addr: string) => hark.output().split('\n').filter((l) => l.includes(`failed login from ${addr} `)).length;

describe('the login limit under attack', () => {
  test('300 wrong passwords at once from one address: at most 10 are checked, the rest get 429 with Retry-After and a plain message', async () => {
    const from = '127.0.0.2';
    const f = await loginForm(from);
    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => login(from, f, `wrong guess ${i}`)));
    const counts: Record<number, number> = {};
    for (const a of answers) counts[a.status] = (counts[a.status] ?? 0) + 1;
    console.log(`[hostile-auth] burst of 300 from ${from}: ${JSON.stringify(counts)}`);
    expect(Object.keys(counts).sort()).toEqual(['401', '429']);
    expect(counts[401]!).toBeLessThanOrEqual(10);
    expect(checkedFrom(from)).toBe(counts[401]!);
    for (const a of answers.filter((x) => x.status === 429)) {
      expect(Number(a.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(a.body).toMatch(/<p class="notice bad" role="alert">(Too many wrong passwords from your address: try again in \d+ seconds?\.|Another password check from your address is still running: try again in a second\.)<\/p>/);
    }
    // Guesses one at a time: the fifth wrong one makes the address wait, even with the right password …
    let last: RawResponse | undefined;
    for (let i = 0; i < 10 && last?.status !== 429; i++) last = await login(from, f, `one more guess ${i}`);
    expect(last!.status).toBe(429);
    expect(checkedFrom(from)).toBeGreaterThanOrEqual(5);
    expect(checkedFrom(from)).toBeLessThanOrEqual(10);
    const waiting = await login(from, f, PASSWORD);
    expect(waiting.status).toBe(429);
    expect(waiting.body).toContain('Too many wrong passwords from your address');
    // … while the owner, elsewhere, logs in at once.
    const owner = await login('127.0.0.1', await loginForm('127.0.0.1'), PASSWORD);
    expect(owner.status).toBe(303);
    expect(owner.setCookies.some((c) => c.startsWith('hark_session='))).toBe(true);
  }, 120_000);

  test('100 wrong passwords from 12 addresses do not stop the owner logging in from another one, before or during the attack', async () => {
    const attackers = Array.from({ length: 12 }, (_, i) => `127.0.0.${10 + i}`);
    const f = await loginForm(attackers[0]!);
    let sent = 0;
    const statuses: number[] = [];
    // Each attacker sends one guess after another (as a script would), until 100 have gone out.
    const attack = (limit: number) =>
      Promise.all(
        attackers.map(async (a) => {
          while (sent < limit) {
            sent++;
            statuses.push((await login(a, f, `guess ${sent}`)).status);
          }
        }),
      );
    const started = performance.now();
    await attack(100);
    expect(statuses.length).toBeGreaterThanOrEqual(100);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    const ownerForm = await loginForm('127.0.0.3');
    const before = await login('127.0.0.3', ownerForm, PASSWORD);
    expect(before.status).toBe(303);

    // While another 100 guesses go out, the owner logs in again (a typo first: one wrong is fine).
    const during = attack(200);
    expect((await login('127.0.0.3', ownerForm, 'typo in it')).status).toBe(401);
    const inDuring = await login('127.0.0.3', ownerForm, PASSWORD);
    await during;
    expect(inDuring.status).toBe(303);
    console.log(`[hostile-auth] ${statuses.length} guesses from 12 addresses: ${statuses.filter((s) => s === 401).length} checked, ${statuses.filter((s) => s === 429).length} told to wait`);
    // Each attacking address was made to wait: 5 guesses checked, then one more after 1 s, 2 s,
    // 4 s … of waiting, so k more take at least 2^k − 1 s (one extra for a check under way).
    const seconds = (performance.now() - started) / 1000;
    const bound = 5 + Math.floor(Math.log2(seconds + 1)) + 1;
    for (const a of attackers) expect(checkedFrom(a)).toBeLessThanOrEqual(bound);
  }, 180_000);
});

describe('tokens and the password: a hostile corpus', () => {
  let session: { cookie: string; csrf: string };
  const tokens: Record<string, { id: string; token: string }> = {};

  beforeAll(async () => {
    const res = await postLogin(hark.url, PASSWORD);
    expect(res.status).toBe(303);
    const cookie = `hark_session=${cookiesOf(res).hark_session!}`;
    const home = await (await fetch(`${hark.url}/`, { headers: { cookie } })).text();
    const csrf = pageCsrf(home);
    session = { cookie, csrf };
    for (const scope of ['read', 'control', 'admin']) {
      const t = await fetch(`${hark.url}/api/tokens`, { method: 'POST', headers: { ...sess(), 'content-type': 'application/json' }, body: JSON.stringify({ name: `corpus ${scope}`, scope }) });
      expect(t.status).toBe(200);
      tokens[scope] = await t.json();
    }
  }, 60_000);

  const sess = () => ({ cookie: session.cookie, 'x-csrf-token': session.csrf });
  const tok = (scope: string) => ({ authorization: `Bearer ${tokens[scope]!.token}` });
  const JSONH = { 'content-type': 'application/json' };
  const send = (method: string, path: string, headers: Record<string, string>, body?: string) => fetch(`${hark.url}${path}`, { method, headers, body });

  interface Case {
    name: string;
    send: () => Promise<Response>;
    status: number;
    reason: RegExp;
    field?: string;
  }
  const cases: Case[] = [
    { name: 'read token: go live', send: () => send('POST', '/api/live', tok('read')), status: 403, reason: /"read" scope; POST \/api\/live needs the "control" scope/ },
    { name: 'read token: set the title', send: () => send('POST', '/api/metadata', { ...tok('read'), ...JSONH }, '{"title":"x"}'), status: 403, reason: /needs the "control" scope/ },
    { name: 'read token: read the config (Icecast passwords)', send: () => send('GET', '/api/config', tok('read')), status: 403, reason: /needs the "admin" scope/ },
    { name: 'read token: the config as TOML', send: () => send('GET', '/api/config/text', tok('read')), status: 403, reason: /needs the "admin" scope/ },
    { name: 'read token: list tokens', send: () => send('GET', '/api/tokens', tok('read')), status: 403, reason: /needs the "admin" scope/ },
    { name: 'read token: the log', send: () => send('GET', '/api/logs', tok('read')), status: 403, reason: /needs the "admin" scope/ },
    { name: 'read token: listeners (addresses)', send: () => send('GET', '/api/listeners', tok('read')), status: 403, reason: /needs the "admin" scope/ },
    { name: 'read token: recordings', send: () => send('GET', '/api/recordings', tok('read')), status: 403, reason: /needs the "admin" scope/ },
    { name: 'read token: an admin page', send: () => send('GET', '/system', tok('read')), status: 403, reason: /needs the "admin" scope/ },
    { name: 'read token: a page form (/ui/action)', send: () => send('POST', '/ui/action/go_live', tok('read')), status: 403, reason: /needs the "admin" scope/ },
    { name: 'control token: make itself an admin token', send: () => send('POST', '/api/tokens', { ...tok('control'), ...JSONH }, '{"name":"escalate","scope":"admin"}'), status: 403, reason: /needs the "admin" scope/ },
    { name: 'control token: revoke a token', send: () => send('DELETE', `/api/tokens/${tokens.admin!.id}`, tok('control')), status: 403, reason: /needs the "admin" scope/ },
    { name: 'control token: change a setting', send: () => send('PATCH', '/api/config', { ...tok('control'), ...JSONH }, '{"tone.frequency":500}'), status: 403, reason: /needs the "admin" scope/ },
    { name: 'control token: restart', send: () => send('POST', '/api/restart', tok('control')), status: 403, reason: /needs the "admin" scope/ },
    { name: 'admin token: the password, with the right current one', send: () => send('POST', '/api/password', { ...tok('admin'), ...JSONH }, JSON.stringify({ current: PASSWORD, password: 'chosen by a script' })), status: 403, reason: /API tokens cannot change the admin password/ },
    { name: 'admin token: the password form', send: () => send('POST', '/ui/password', { ...tok('admin'), 'content-type': FORM }, new URLSearchParams({ current: PASSWORD, password: 'chosen by a script', confirm: 'chosen by a script' }).toString()), status: 403, reason: /API tokens cannot change the admin password/ },
    { name: 'admin token: [admin] password in PUT /api/config', send: () => send('PUT', '/api/config', { ...tok('admin'), 'content-type': 'application/toml' }, '[admin]\npassword = "chosen by a script"\n'), status: 422, reason: /not set through the config/, field: 'admin.password' },
    { name: 'admin token: admin.password in PATCH', send: () => send('PATCH', '/api/config', { ...tok('admin'), ...JSONH }, '{"admin.password":"chosen by a script"}'), status: 422, reason: /POST \/api\/password/, field: 'admin.password' },
    { name: 'session: [admin] password in PUT /api/config (JSON)', send: () => send('PUT', '/api/config', { ...sess(), ...JSONH }, '{"admin":{"password":"chosen by a page"}}'), status: 422, reason: /current password/, field: 'admin.password' },
    { name: 'session: the password without the current one', send: () => send('POST', '/api/password', { ...sess(), ...JSONH }, '{"password":"chosen by a page"}'), status: 422, reason: /^current: required/, field: 'current' },
    { name: 'session: a 10,000-character current password', send: () => send('POST', '/api/password', { ...sess(), ...JSONH }, JSON.stringify({ current: 'x'.repeat(10_000), password: 'chosen by a page' })), status: 400, reason: /./, field: 'current' },
    { name: 'session: revoke_tokens as a string', send: () => send('POST', '/api/password', { ...sess(), ...JSONH }, JSON.stringify({ current: PASSWORD, password: 'chosen by a page', revoke_tokens: 'yes' })), status: 400, reason: /./, field: 'revoke_tokens' },
    { name: 'session: a token with scope "root"', send: () => send('POST', '/api/tokens', { ...sess(), ...JSONH }, '{"name":"x","scope":"root"}'), status: 400, reason: /./, field: 'scope' },
    { name: 'session: a token with scope "__proto__"', send: () => send('POST', '/api/tokens', { ...sess(), ...JSONH }, '{"name":"x","scope":"__proto__"}'), status: 400, reason: /./, field: 'scope' },
    { name: 'a 10 KB bearer token', send: () => send('GET', '/api/state', { authorization: `Bearer ${'A'.repeat(10_240)}` }), status: 401, reason: /not valid/ },
    { name: 'a revoked-looking token (right prefix, wrong secret)', send: () => send('GET', '/api/state', { authorization: `Bearer ${tokens.admin!.token.slice(0, -2)}xx` }), status: 401, reason: /not valid/ },
  ];

  for (const c of cases) {
    test(c.name, async () => {
      const res = await c.send();
      const body = await res.json();
      expect({ status: res.status, error: body.error }).toMatchObject({ status: c.status });
      expect(body.error).toMatch(c.reason);
      if (c.field) expect(body.field).toBe(c.field);
    }, 30_000);
  }

  test('the page form refuses an unknown scope beside the choice (422), and nothing above changed the password', async () => {
    const res = await send('POST', '/ui/tokens', { ...sess(), 'content-type': FORM }, new URLSearchParams({ name: 'x', scope: '__proto__' }).toString());
    expect(res.status).toBe(422);
    expect(await res.text()).toContain('<span class="err" role="alert">one of read, control, admin</span>');
    const owner = await login('127.0.0.4', await loginForm('127.0.0.4'), PASSWORD);
    expect(owner.status).toBe(303);
    expect(hark.proc.exitCode).toBeNull();
  }, 30_000);
});
