/**
 * A LAN attacker against a real hark (issue 14, items 2, 3, 7 and 8): raw sockets, fetch and
 * ffmpeg, loopback only. Each case says what the attacker tried and what they must notice:
 *
 * - WHEP sessions: public status names no session, address or player; a session id alone
 *   cannot end a session (its own secret, from its Location, or an admin can); other sites'
 *   pages cannot make sessions; one address holds at most 4; the UDP port stays on http.host.
 * - Request bodies that stall are answered 408 and closed within ~10 s on every route, and
 *   file descriptors come back, while /stream.mp3, SSE and `?follow` stay open while read.
 * - A title cannot inject ICY fields (ffmpeg sees no StreamUrl).
 * - Hostile config JSON, login `next` values and log text are refused or escaped, never 500.
 * - hark.toml is 0600.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { cookiesOf, pageCsrf, postLogin } from './lib/session.ts';
import { freeUdpPort } from './lib/whep-client.ts';
import { until } from './lib/wait.ts';

const OFFER = readFileSync(join(import.meta.dir, 'fixtures/webrtc/chromium-offer.sdp'), 'utf8');
const PASSWORD = 'a good long password';
const SDP = { 'content-type': 'application/sdp' };

let hark: HarkProcess;
let udpPort: number;
/** An admin API token (made over the CLI socket). */
let token = '';

/** A request over the CLI's Unix socket: SSH's login, admin whatever the config says. */
function admin(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://localhost${path}`, { ...init, unix: join(hark.dir, 'hark.sock') } as RequestInit);
}

async function offer(headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${hark.url}/whep`, { method: 'POST', headers: { ...SDP, ...headers }, body: OFFER });
}

async function listenerIds(): Promise<string[]> {
  const l = (await (await admin('/api/listeners')).json()) as { webrtc: { id: string }[] };
  return l.webrtc.map((w) => w.id);
}

/** End every WebRTC session (as the admin), so each test starts from none. */
async function endAll(): Promise<void> {
  for (const id of await listenerIds()) await admin(`/whep/${id}`, { method: 'DELETE' });
  await until(async () => (await listenerIds()).length === 0, 5000, 'no sessions left');
}

function fdCount(): number {
  return readdirSync(`/proc/${hark.proc.pid}/fd`).length;
}

beforeAll(async () => {
  udpPort = await freeUdpPort();
  hark = await startHark(
    `[input]\nsource = "tone"\n[http]\nhost = "127.0.0.1"\n[webrtc]\nudp_port = ${udpPort}\nmax_listeners = 20\nmax_listeners_per_address = 4\n[metadata]\nicy_metaint = 8192\n`,
    { timeoutMs: 60_000 },
  );
  await until(() => {
    try {
      return statSync(join(hark.dir, 'hark.sock')).isSocket();
    } catch {
      return false;
    }
  }, 10_000, 'the CLI socket');
  const made = await admin('/api/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'hostile test' }) });
  expect(made.status).toBe(200);
  token = ((await made.json()) as { token: string }).token;
  const pw = await admin('/api/password', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
  expect(pw.status).toBe(200);
}, 60_000);

afterAll(async () => {
  await hark?.stop();
}, 30_000);

/** Log in through the form, as a browser does; `next` as given. */
const login = (next: string): Promise<Response> => postLogin(hark.url, PASSWORD, { next });

describe('WHEP sessions: nobody can end another listener', () => {
  test('public /api/status counts listeners but names no session, address or player', async () => {
    await endAll();
    const made = await offer({ 'user-agent': 'MarkerPlayer/7.3 (spy-me)' });
    expect(made.status).toBe(201);
    const [id] = await listenerIds();
    expect(id).toBeTruthy();
    // Anonymous (status is public on loopback): what any LAN client can read.
    const text = await (await fetch(`${hark.url}/api/status`)).text();
    const doc = JSON.parse(text) as { outputs: { webrtc: Record<string, unknown> } };
    expect(doc.outputs.webrtc.listeners).toBe(1);
    expect(doc.outputs.webrtc.sessions).toBeUndefined();
    expect(text).not.toContain(id!);
    expect(text).not.toContain('127.0.0.1');
    expect(text).not.toContain('spy-me');
    // The details stay behind the login.
    expect((await fetch(`${hark.url}/api/listeners`)).status).toBe(401);
    const behind = await (await admin('/api/listeners')).text();
    expect(behind).toContain(id!);
    expect(behind).toContain('spy-me');
    await endAll();
  }, 30_000);

  test('the Location carries an unguessable secret; the id alone (or a wrong secret) cannot DELETE or PATCH', async () => {
    await endAll();
    const made = await offer();
    expect(made.status).toBe(201);
    const location = made.headers.get('location')!;
    const [id] = await listenerIds();
    expect(location).toMatch(new RegExp(`^/whep/${id}\\.[A-Za-z0-9_-]{22}$`));
    const secret = location.split('.')[1]!;

    const byId = await fetch(`${hark.url}/whep/${id}`, { method: 'DELETE' });
    expect(byId.status).toBe(403);
    expect(((await byId.json()) as { error: string }).error).toBe('ending a WebRTC session needs its own address (the Location of its POST /whep) or an admin login');
    const wrong = await fetch(`${hark.url}/whep/${id}.${secret.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))}`, { method: 'DELETE' });
    expect(wrong.status).toBe(404);
    expect(((await wrong.json()) as { error: string }).error).toBe(`no WHEP session ${id}`);
    const patch = await fetch(`${hark.url}/whep/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': made.headers.get('etag')! }, body: 'a=end-of-candidates\r\n' });
    expect(patch.status).toBe(404);
    expect(await listenerIds()).toEqual([id!]);

    // The client that made it ends it with its own URL.
    const own = await fetch(new URL(location, hark.url), { method: 'DELETE' });
    expect(own.status).toBe(200);
    expect(await own.json()).toEqual({ deleted: id });
    expect(await listenerIds()).toEqual([]);
    await hark.waitFor(new RegExp(`deleted by the listener \\(DELETE\\)`));
  }, 30_000);

  test('an admin ends any session by its id: API token, or a logged-in page with its CSRF token', async () => {
    await endAll();
    expect((await offer()).status).toBe(201);
    expect((await offer()).status).toBe(201);
    const [a, b] = await listenerIds();

    const withToken = await fetch(`${hark.url}/whep/${a}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(200);
    await hark.waitFor(/deleted by the admin \(DELETE\)/);

    const res = await login('/listeners');
    expect(res.status).toBe(303);
    const cookie = `hark_session=${cookiesOf(res).hark_session}`;
    const page = await (await fetch(`${hark.url}/listeners`, { headers: { cookie } })).text();
    const csrf = pageCsrf(page);
    // The cookie alone (what a cross-site page could make a browser send) is not enough.
    expect((await fetch(`${hark.url}/whep/${b}`, { method: 'DELETE', headers: { cookie } })).status).toBe(403);
    const withSession = await fetch(`${hark.url}/whep/${b}`, { method: 'DELETE', headers: { cookie, 'x-csrf-token': csrf } });
    expect(withSession.status).toBe(200);
    expect(await listenerIds()).toEqual([]);
  }, 30_000);

  test("another site's page cannot make sessions (403); hark's own page and players without Origin can", async () => {
    await endAll();
    const cross = await offer({ origin: 'http://evil.example' });
    expect(cross.status).toBe(403);
    expect(((await cross.json()) as { error: string }).error).toBe('a WHEP offer from another site\'s page is refused (Origin "http://evil.example" is not this box)');
    expect(cross.headers.get('access-control-allow-origin')).toBe('*');
    expect((await offer({ origin: 'null' })).status).toBe(403);
    expect((await offer({ origin: hark.url })).status).toBe(201);
    expect((await offer()).status).toBe(201);
    expect((await listenerIds()).length).toBe(2);
    await endAll();
  }, 30_000);

  test('one address holds at most 4 sessions: the 5th is 429 with a reason and Retry-After; ending one frees a place', async () => {
    await endAll();
    const made: Response[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await offer();
      expect(r.status).toBe(201);
      made.push(r);
    }
    const fifth = await offer();
    expect(fifth.status).toBe(429);
    expect(Number(fifth.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await fifth.json()) as { error: string }).error).toBe(
      'this address already has 4 WebRTC listeners open, the most one address may have (webrtc.max_listeners_per_address): stop one first',
    );
    expect((await listenerIds()).length).toBe(4);
    expect((await fetch(new URL(made[0]!.headers.get('location')!, hark.url), { method: 'DELETE' })).status).toBe(200);
    expect((await offer()).status).toBe(201);
    await endAll();
  }, 30_000);

  test('with http.host = 127.0.0.1 the WebRTC UDP port is bound on loopback only, before and after the first offer', async () => {
    // /proc/net/udp: local_address is hex IP:port (127.0.0.1 = 0100007F, any = 00000000).
    const bound = () =>
      readFileSync(`/proc/${hark.proc.pid}/net/udp`, 'utf8')
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/)[1] ?? '')
        .filter((a) => a.endsWith(`:${udpPort.toString(16).toUpperCase().padStart(4, '0')}`));
    expect(bound().length).toBeGreaterThan(0);
    expect(bound().every((a) => a.startsWith('0100007F:'))).toBe(true);
    await endAll();
    expect((await offer()).status).toBe(201);
    expect(bound().length).toBeGreaterThan(0);
    expect(bound().every((a) => a.startsWith('0100007F:'))).toBe(true);
    expect(readFileSync(`/proc/${hark.proc.pid}/net/udp6`, 'utf8')).not.toMatch(new RegExp(`:${udpPort.toString(16).toUpperCase().padStart(4, '0')} `));
    await endAll();
  }, 30_000);
});

/** A raw HTTP request whose body never finishes: resolves with what came back and when the socket closed. */
function stalledRequest(head: string, firstBodyBytes: string, dripMs = 0): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let text = '';
    let drip: ReturnType<typeof setInterval> | undefined;
    const sock: Socket = connect(hark.port, '127.0.0.1', () => {
      sock.write(head + firstBodyBytes);
      // One byte every dripMs: never idle, never done.
      if (dripMs) drip = setInterval(() => sock.writable && sock.write('x'), dripMs);
    });
    sock.setEncoding('latin1');
    sock.on('data', (d) => (text += d));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearInterval(drip);
      resolve({ text, closedAfterMs: Date.now() - t0 });
    });
  });
}

describe('request bodies that stall', () => {
  test('210 stalled bodies on POST /whep, /login, /setup and PUT /api/config are answered 408 and closed in ~10 s; fds come back; streams read for 35 s stay open', async () => {
    // Let the daemon settle before counting its descriptors.
    await Bun.sleep(500);
    const baseline = fdCount();
    const auth = `Authorization: Bearer ${token}\r\n`;
    const heads = [
      `POST /whep HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/sdp\r\nContent-Length: 4000\r\n\r\n`,
      `POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n`,
      `POST /setup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n`,
      `PUT /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n`,
      `PATCH /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
      `POST /api/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n`,
      `POST /api/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n`,
    ];
    const first = (h: string) => (h.includes('chunked') ? '5\r\n{"a":\r\n' : h.includes('sdp') ? 'v=0\r\n' : h.includes('json') ? '{"a":' : 'password=');

    // Streams that must outlive every deadline while they are read.
    const ac = new AbortController();
    const readFor = async (path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${hark.url}${path}`, { headers, signal: ac.signal });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      let bytes = 0;
      let lastAt = Date.now();
      const t0 = Date.now();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return { bytes, endedAfterMs: Date.now() - t0, lastAt };
          bytes += value.byteLength;
          lastAt = Date.now();
        }
      } catch {
        return { bytes, endedAfterMs: -1, lastAt };
      }
    };
    const mp3 = readFor('/stream.mp3');
    const sse = readFor('/listen/events');
    const follow = readFor('/api/logs?follow=1', { authorization: `Bearer ${token}` });

    const t0 = Date.now();
    const stalled = Array.from({ length: 210 }, (_, i) => stalledRequest(heads[i % heads.length]!, first(heads[i % heads.length]!)));
    // A body dripping one byte a second is never idle: the 30 s total deadline ends it.
    const drip = stalledRequest(heads[0]!, 'v=0\r\n', 1000);
    // The connections are open in hark (counted as they are accepted; a loaded machine takes its time).
    await until(() => fdCount() > baseline + 150, 8000, `hark holding the stalled connections (fds ${fdCount()}, baseline ${baseline})`);

    const results = await Promise.all(stalled);
    const slowest = Math.max(...results.map((r) => r.closedAfterMs));
    console.log(`210 stalled bodies: all closed by ${slowest} ms; fds ${baseline} before, ${fdCount()} after`);
    expect(Date.now() - t0).toBeLessThan(16_000);
    for (const r of results) {
      expect(r.text).toStartWith('HTTP/1.1 408 ');
      expect(r.text).toContain('the request body sent nothing for 10 s: the connection is closed');
      expect(r.closedAfterMs).toBeGreaterThan(9_000);
    }
    await until(() => fdCount() <= baseline + 5, 5000, `fds back to the baseline ${baseline} (now ${fdCount()})`);

    const d = await drip;
    expect(d.text).toStartWith('HTTP/1.1 408 ');
    expect(d.text).toContain('the request body was not complete after 30 s: the connection is closed');
    expect(d.closedAfterMs).toBeGreaterThan(29_000);
    expect(d.closedAfterMs).toBeLessThan(36_000);

    // 35 s and more after they opened, the streams are still open and still sending.
    await until(() => Date.now() - t0 > 35_000, 10_000, '35 s');
    ac.abort();
    for (const [name, r] of [['/stream.mp3', await mp3], ['/listen/events', await sse], ['/api/logs?follow', await follow]] as const) {
      expect({ name, endedByServer: r.endedAfterMs >= 0 }).toEqual({ name, endedByServer: false });
      expect(r.bytes).toBeGreaterThan(0);
    }
    // The MP3 stream was sending right up to the end (128 kbit/s for 35 s is ~560 kB).
    expect((await mp3).bytes).toBeGreaterThan(400_000);
    expect(Date.now() - (await mp3).lastAt).toBeLessThan(2000);
    // And hark still answers a normal body.
    const ok = await fetch(`${hark.url}/api/metadata`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'after the storm' }) });
    expect(ok.status).toBe(200);
  }, 90_000);
});

describe('ICY titles', () => {
  test("a title with '; cannot set StreamUrl: ffmpeg reads one StreamTitle, as typed (the closing quote shown as ’)", async () => {
    const title = "Evensong';StreamUrl='http://evil.example/x'; \"quoted\" it's'";
    const set = await admin('/api/metadata', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title }) });
    expect(set.status).toBe(200);
    const proc = Bun.spawn(['ffmpeg', '-hide_banner', '-nostdin', '-v', 'verbose', '-icy', '1', '-i', `${hark.url}/stream.mp3`, '-t', '3', '-f', 'null', '-'], { stdout: 'pipe', stderr: 'pipe' });
    const killer = setTimeout(() => proc.kill(), 20_000);
    const err = await new Response(proc.stderr).text();
    await proc.exited;
    clearTimeout(killer);
    const updates = [...err.matchAll(/Metadata update for (\w+): (.*)/g)].map((m) => [m[1], m[2]]);
    expect(updates.length).toBeGreaterThan(0);
    expect(updates.map(([k]) => k)).not.toContain('StreamUrl');
    // Only the quotes that would end it read ’ (a title cannot hold control characters: 422).
    expect(updates).toContainEqual(['StreamTitle', "Evensong’;StreamUrl='http://evil.example/x’; \"quoted\" it's’"]);
  }, 30_000);

  test('a title as long as hark takes (1024 characters of 3 bytes) arrives whole', async () => {
    const title = '€'.repeat(1024);
    const set = await admin('/api/metadata', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title }) });
    expect(set.status).toBe(200);
    const proc = Bun.spawn(['ffmpeg', '-hide_banner', '-nostdin', '-v', 'verbose', '-icy', '1', '-i', `${hark.url}/stream.mp3`, '-t', '2', '-f', 'null', '-'], { stdout: 'pipe', stderr: 'pipe' });
    const killer = setTimeout(() => proc.kill(), 20_000);
    const err = await new Response(proc.stderr).text();
    await proc.exited;
    clearTimeout(killer);
    expect(/Metadata update for StreamTitle: (.*)/.exec(err)?.[1]).toBe(title);
  }, 30_000);
});

describe('hostile backups, restores and report requests', () => {
  const json = { 'content-type': 'application/json' };
  const restore = (backup: unknown, passphrase?: unknown) => admin('/api/restore', { method: 'POST', headers: json, body: JSON.stringify(passphrase === undefined ? { backup } : { backup, passphrase }) });
  const env = (payload: string) => `{"product":"hark-backup","format":1,"encrypted":false,"payload":${payload}}`;
  const cases: [string, () => Promise<Response>, number, RegExp][] = [
    ['a backup nested 40000 deep', () => restore(env(`${'['.repeat(40_000)}${']'.repeat(40_000)}`)), 422, /^not a hark backup: (it is not the JSON file|its contents are not an object)/],
    ['a backup whose payload is {"__proto__": …}', () => restore(env('{"__proto__":{"config_text":"[input]\\nsource = \\"pipewire\\"\\n"}}')), 422, /^not a hark backup: it has no settings$/],
    ['a backup whose credentials carry a __proto__ token', () => restore(env('{"config_text":"","credentials":{"password_hash":"$argon2id$x","tokens":[{"__proto__":{"id":"x"}}]}}')), 422, /^not a hark backup: API token 1 has no valid id$/],
    ['a backup with 1001 tokens', () => restore(env(`{"config_text":"","credentials":{"tokens":[${Array(1001).fill('{}').join(',')}]}}`)), 422, /^not a hark backup: its credentials are damaged$/],
    ['a backup 600 kB long', () => restore('x'.repeat(600 * 1024)), 400, /^backup: Expected string length less or equal to 524288$/],
    ['a passphrase of 300 characters', () => admin('/api/backup', { method: 'POST', headers: json, body: JSON.stringify({ passphrase: 'p'.repeat(300) }) }), 400, /^passphrase: Expected string length less or equal to 256$/],
    ['a locked backup with a kdf that would take a gigabyte', () => restore('{"product":"hark-backup","format":1,"encrypted":true,"kdf":{"name":"scrypt","N":1073741824,"r":8,"p":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA=="},"cipher":"aes-256-gcm","iv":"AAAAAAAAAAAAAAAA","payload":"AAAAAAAAAAAAAAAAAAAAAAAA"}', 'a passphrase'), 422, /^not a hark backup: its lock \(kdf\) is not one this hark knows$/],
    ['a restore body that is not JSON', () => admin('/api/restore', { method: 'POST', headers: json, body: '{"backup": ' }), 400, /./],
    // Only a release upload may be large (http/update.ts); every other body stops at 1 MB, declared or chunked.
    // Over HTTP (the CLI's socket is trusted): refused before the login is even asked for.
    ['a 2 MB config (Content-Length)', () => fetch(`${hark.url}/api/config`, { method: 'PATCH', headers: json, body: `{"metadata.title":"${'x'.repeat(2 * 1048576)}"}` }), 413, /^the request body is larger than 1 MB$/],
    [
      'a 2 MB config sent chunked (no Content-Length)',
      () => fetch(`${hark.url}/api/config`, { method: 'PATCH', headers: json, body: new Blob([`{"metadata.title":"${'x'.repeat(2 * 1048576)}"}`]).stream() }),
      413,
      /^the request body is larger than 1 MB$/,
    ],
    ['an update that is not a release', () => admin('/api/update', { method: 'POST', body: 'MZ\x90\x00 an executable' }), 409, /^cannot update here: updates are installed on a hark box/],
  ];
  test.each(cases.map((c) => [c[0], c] as const))('%s → refused, saying why', async (_n, [, send, status, re]) => {
    const res = await send();
    const body = (await res.json()) as { error: string };
    expect(`${res.status} ${body.error}`.slice(0, 300)).toMatch(new RegExp(`^${status} `));
    expect(body.error).toMatch(re);
    expect(({} as Record<string, unknown>).config_text).toBeUndefined();
  }, 30_000);

  test('after all of them the config is unchanged, hark serves, and the report still holds no secret', async () => {
    const c = (await (await admin('/api/config')).json()) as { input: { source: string } };
    expect(c.input.source).toBe('tone');
    const diag = await admin('/api/diag?lines=%00&x=' + 'a'.repeat(2000));
    expect(diag.status).toBe(200);
    expect(await diag.text()).toContain('== settings (secrets removed) ==');
  }, 30_000);
});

describe('hostile config JSON, login next and log text', () => {
  const json = { 'content-type': 'application/json' };
  const cases: [string, () => Promise<Response>, number, RegExp, string?][] = [
    ['PUT nested 5000 deep', () => admin('/api/config', { method: 'PUT', headers: json, body: `{"input":${'['.repeat(5000)}${']'.repeat(5000)}}` }), 400, /nested more than 16 levels deep/],
    ['PATCH nested 40000 deep', () => admin('/api/config', { method: 'PATCH', headers: json, body: `{"metadata.title":${'{"a":'.repeat(40_000)}1${'}'.repeat(40_000)}}` }), 400, /metadata\.title(\.a)+: nested more than 16 levels deep/],
    ['PUT {"__proto__": …}', () => admin('/api/config', { method: 'PUT', headers: json, body: '{"__proto__":{"input":{"source":"pipewire"}}}' }), 400, /^__proto__: the key "__proto__" is not allowed$/, '__proto__'],
    ['PUT a nested constructor key', () => admin('/api/config', { method: 'PUT', headers: json, body: '{"metadata":{"constructor":{"prototype":{"x":1}}}}' }), 400, /^metadata\.constructor: the key "constructor" is not allowed$/, 'metadata.constructor'],
    ['PATCH "constructor.prototype.polluted"', () => admin('/api/config', { method: 'PATCH', headers: json, body: '{"constructor.prototype.polluted":"yes"}' }), 400, /the key "constructor" is not allowed/, 'constructor.prototype.polluted'],
    ['PATCH {"__proto__": …}', () => admin('/api/config', { method: 'PATCH', headers: json, body: '{"__proto__":{"x":1}}' }), 400, /the key "__proto__" is not allowed/, '__proto__'],
    ['PATCH a value holding "prototype"', () => admin('/api/config', { method: 'PATCH', headers: json, body: '{"metadata.title":{"prototype":1}}' }), 400, /metadata\.title\.prototype: the key "prototype" is not allowed/],
    ['PUT TOML with [__proto__]', () => admin('/api/config', { method: 'PUT', headers: { 'content-type': 'application/toml' }, body: '[__proto__]\nx = 1\n' }), 400, /__proto__: the key "__proto__" is not allowed/],
  ];
  test.each(cases.map((c) => [c[0], c] as const))('%s → 400 naming the problem', async (_n, [, send, status, re, field]) => {
    const res = await send();
    const body = (await res.json()) as { error: string; field?: string };
    expect(`${res.status} ${body.error}`.slice(0, 300)).toMatch(new RegExp(`^${status} `));
    expect(body.error).toMatch(re);
    if (field) expect(body.field).toBe(field);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 30_000);

  test('after all of them the config is unchanged and hark serves', async () => {
    const c = (await (await admin('/api/config')).json()) as { input: { source: string } };
    expect(c.input.source).toBe('tone');
    expect(hark.output()).not.toMatch(/failed: Maximum call stack/);
    expect((await fetch(`${hark.url}/api/status`)).status).toBe(200);
  });

  test.each([
    ['a NUL', '/listeners\u0000x'],
    ['a non-Latin-1 character', '/listeners/€'],
    ['a tab', '/listeners\tx'],
  ])('a login next with %s logs in and goes to / (no 500, the session is delivered)', async (_n, next) => {
    const res = await login(next);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/');
    const id = cookiesOf(res).hark_session;
    expect(id).toBeTruthy();
    expect((await fetch(`${hark.url}/listeners`, { headers: { cookie: `hark_session=${id}` } })).status).toBe(200);
    const page = await fetch(`${hark.url}/login?next=${encodeURIComponent(next)}`);
    expect(page.status).toBe(200);
  }, 30_000);

  test('terminal escapes in user text reach the log as \\x1b, never as the byte', async () => {
    const label = 'evil\u001b[2J\u001b[31mred\rhidden\u009b1m\u202egnp.exe';
    const res = await admin('/api/mark', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ label }) });
    expect(res.status).toBe(200);
    const line = await hark.waitFor(/mark by cli: marked .*/);
    expect(line).toContain('"evil\\x1b[2J\\x1b[31mred\\x0dhidden\\x9b1m\\u202egnp.exe"');
    expect(hark.output()).not.toMatch(/[\u001b\r\u009b\u202e]/);
    const tail = await (await admin('/api/logs?lines=20')).text();
    expect(tail).toContain('evil\\x1b[2J');
    expect(tail).not.toContain('\u001b');
  });
});

describe('hark.toml holds passwords: mode 0600', () => {
  test('a write makes it 0600 (and its .bak), even when it was world-readable', async () => {
    const file = hark.configPath;
    chmodSync(file, 0o644);
    const res = await admin('/api/config', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ 'stream.queue_kb': 300 }) });
    expect(res.status).toBe(200);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}.bak`).mode & 0o777).toBe(0o600);
  });

  test('a world-readable file is made 0600 at start', async () => {
    // startHark writes the file as any editor would: 0644 under the usual umask.
    const other = await startHark('[input]\nsource = "tone"\n[webrtc]\nenabled = false\n', { timeoutMs: 60_000 });
    try {
      expect(statSync(other.configPath).mode & 0o777).toBe(0o600);
      expect(other.output()).toMatch(/hark\.toml was readable by others \(mode 06[04]4\): now 0600/);
    } finally {
      await other.stop();
    }
  }, 60_000);
});

describe('the title through Icecast', () => {
  test("Icecast's own listeners (ffmpeg) see the title as one StreamTitle, no StreamUrl from it", async () => {
    const { startIcecast } = await import('./lib/icecast.ts');
    const ice = await startIcecast();
    const h = await startHark(`[input]\nsource = "tone"\n[webrtc]\nenabled = false\n[[icecast]]\nid = "mp3"\nurl = "http://source:${ice.sourcePassword}@127.0.0.1:${ice.port}/live.mp3"\nformat = "mp3"\n`, { timeoutMs: 60_000 });
    try {
      await ice.waitForSource('/live.mp3', 30_000);
      const title = "Evensong';StreamUrl='http://evil.example/x';";
      const set = await fetch(`${h.url}/api/metadata`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title }) });
      expect(set.status).toBe(200);
      // What hark sent Icecast (its admin metadata call) is the quoted form.
      const shown = "Evensong’;StreamUrl='http://evil.example/x’;";
      await ice.waitForSource('/live.mp3', 10_000, (s) => s.title === shown);
      const proc = Bun.spawn(['ffmpeg', '-hide_banner', '-nostdin', '-v', 'verbose', '-icy', '1', '-i', `${ice.url}/live.mp3`, '-t', '3', '-f', 'null', '-'], { stdout: 'pipe', stderr: 'pipe' });
      const killer = setTimeout(() => proc.kill(), 20_000);
      const err = await new Response(proc.stderr).text();
      await proc.exited;
      clearTimeout(killer);
      const updates = [...err.matchAll(/Metadata update for (\w+): (.*)/g)].map((m) => [m[1], m[2]]);
      expect(updates.map(([k]) => k)).not.toContain('StreamUrl');
      // Icecast 2.4 writes characters past Latin-1 in its ICY blocks as HTML entities (any title's “ ” – too).
      expect(updates).toContainEqual(['StreamTitle', shown.replaceAll('’', '&#8217;')]);
    } finally {
      await h.stop();
      await ice.stop();
    }
  }, 90_000);
});
