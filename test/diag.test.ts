/**
 * The diagnostic report, as a user gets it: the System page's download (Chromium, phone and
 * desktop), `hark diag` over SSH, `GET /api/diag` with a token; what it holds (versions, the box,
 * PipeWire's devices, status, settings, the log) and, above all, that no secret of the config
 * leaves the box in it, not even one that reached a log line. Also with the default config.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { startPipewire, type PipewireHarness } from './lib/pipewire.ts';
import { loginInPage, session } from './lib/session.ts';

const CLI = resolve(import.meta.dir, '../src/cli/main.ts');
const PASSWORD = 'diag-admin-password';
/** Every secret the config holds: none may appear in a report. */
const SECRETS = ['ice-url-pw-77', 'ice-pw-entry-88', 'whip-key-in-path-99', 'whip-bearer-secret', 'whep-token-secret', 'turn-credential-secret', 'listener-token-secret', PASSWORD];

let pw: PipewireHarness;
let hark: HarkProcess;
let cookie: string;
let chrome: ChromiumHandle;
const shots = process.env.HARK_SHOTS_DIR ?? '/tmp/shots-diag';

async function cli(args: string[], cwd: string, socket: string) {
  const p = Bun.spawn([process.execPath, CLI, '--socket', socket, ...args], { cwd, stdout: 'pipe', stderr: 'pipe', env: process.env });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

function expectNoSecret(text: string) {
  for (const s of SECRETS) expect(text).not.toContain(s);
  expect(text).not.toContain(encodeURIComponent('ice-url-pw-77'));
}

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  pw = await startPipewire();
  hark = await startHark(
    `[input]
source = "tone"
[admin]
password = "${PASSWORD}"
[access]
listener_token = "listener-token-secret"
[webrtc]
token = "whep-token-secret"
[[webrtc.ice_servers]]
url = "turn:127.0.0.1:3478"
username = "turnuser"
credential = "turn-credential-secret"
[[icecast]]
id = "main"
url = "http://source:ice-url-pw-77@127.0.0.1:9/live.mp3"
[[icecast]]
id = "second"
host = "127.0.0.1"
port = 9
mount = "/b.mp3"
password = "ice-pw-entry-88"
[[whip]]
id = "cf"
url = "http://127.0.0.1:9/whip-key-in-path-99/publish"
token = "whip-bearer-secret"
[control]
on_boot = "live"
`,
    { env: pw.env },
  );
  cookie = (await session(hark.url, PASSWORD)).cookie;
  chrome = await launchChromium();
}, 120_000);

afterAll(async () => {
  await chrome?.close();
  await hark?.stop();
  await pw?.stop();
});

describe('the diagnostic report', () => {
  test('GET /api/diag needs a login: 401 without one, 403 for a read-scope token, 200 for an admin token', async () => {
    expect((await fetch(`${hark.url}/api/diag`)).status).toBe(401);
    const dir = mkdtempSync(join(tmpdir(), 'hark-diag-'));
    const sock = join(hark.dir, 'hark.sock');
    const read = await cli(['token', 'create', '--scope', 'read', 'monitor'], dir, sock);
    const readToken = read.out.match(/[A-Za-z0-9_-]{20,}/)?.[0];
    expect(readToken).toBeTruthy();
    const r403 = await fetch(`${hark.url}/api/diag`, { headers: { authorization: `Bearer ${readToken}` } });
    expect(r403.status).toBe(403);
    expect((await r403.json()).error).toContain('needs the "admin" scope');
    const admin = (await cli(['token', 'create', '--scope', 'admin', 'helper'], dir, sock)).out.match(/[A-Za-z0-9_-]{20,}/)?.[0];
    const ok = await fetch(`${hark.url}/api/diag`, { headers: { authorization: `Bearer ${admin}` } });
    expect(ok.status).toBe(200);
    const text = await ok.text();
    // Tokens are listed by name and scope, never by value.
    expect(text).toContain('monitor (read');
    expect(text).not.toContain(readToken!);
    expect(text).not.toContain(admin!);
  }, 60_000);

  test('it holds what a helper needs, and no secret: not in the settings, not in the log', async () => {
    // A secret typed where it does not belong reaches the log (a mark's label is logged and listed).
    const sock = join(hark.dir, 'hark.sock');
    const r = await fetch('http://localhost/api/mark', { unix: sock, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ label: 'oops ice-pw-entry-88' }) });
    expect(r.status).toBe(200);
    // The Icecast entries fail (nothing listens on port 9): their errors are in the log.
    for (let i = 0; i < 100 && !/icecast.*(refused|ECONNREFUSED|connection)/i.test(hark.output()); i++) await Bun.sleep(100);
    const res = await fetch(`${hark.url}/api/diag`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const host = hostname().replace(/[^A-Za-z0-9-]/g, '_');
    expect(res.headers.get('content-disposition')).toMatch(new RegExp(`^attachment; filename="hark-diag-${host}-\\d{8}-\\d{4}\\.txt"$`));
    const text = await res.text();
    for (const s of ['== hark ==', '== the box ==', '== audio devices (PipeWire) ==', '== status (as GET /api/status) ==', '== settings (secrets removed) ==', '== log (the last ']) expect(text).toContain(s);
    expect(text).toMatch(/version: hark \S+, Bun \d/);
    expect(text).toMatch(/kernel \S+/);
    expect(text).toMatch(/memory: total \d+ MB/);
    expect(text).toContain('admin password: set');
    // The test's PipeWire sink is in the device list.
    expect(text).toContain(pw.sinkName);
    // Settings: hosts, ports, mounts and the TURN user stay; the secrets are gone.
    expect(text).toContain('"url": "http://source:(removed)@127.0.0.1:9/live.mp3"');
    expect(text).toContain('"mount": "/b.mp3"');
    expect(text).toContain('"url": "http://127.0.0.1:9/(removed)"');
    expect(text).toContain('"username": "turnuser"');
    expect(text).toContain('oops (removed)');
    expectNoSecret(text);
  }, 60_000);

  test('the log part carries up to 2,000 lines (more than the page shows)', async () => {
    const sock = join(hark.dir, 'hark.sock');
    // Each failed action is one log line; 2,100 of them fill the tail past its end.
    for (let i = 0; i < 21; i++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          fetch('http://localhost/api/input', { unix: sock, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ device: `no-such-device-${i * 100 + j}` }) }).then((r) => r.text()),
        ),
      );
    }
    const text = await (await fetch(`${hark.url}/api/diag`, { headers: { cookie } })).text();
    const m = text.match(/== log \(the last (\d+) lines\) ==\n([\s\S]*)$/);
    expect(m).toBeTruthy();
    const lines = m![2]!.trimEnd().split('\n');
    expect(Number(m![1])).toBe(lines.length);
    expect(lines.length).toBeGreaterThan(500);
    expect(lines.length).toBeLessThanOrEqual(2000);
    expectNoSecret(text);
  }, 120_000);

  test('hark diag saves it (0600) under the name the box gives, prints it with -, refuses extra arguments', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-diag-cli-'));
    const sock = join(hark.dir, 'hark.sock');
    const saved = await cli(['diag'], dir, sock);
    expect(saved.code).toBe(0);
    const file = saved.out.match(/saved the diagnostic report to (\S+) \(/)?.[1];
    expect(file).toMatch(/\/hark-diag-.+-\d{8}-\d{4}\.txt$/);
    expect(file!.startsWith(dir)).toBe(true);
    expect(statSync(file!).mode & 0o777).toBe(0o600);
    const text = readFileSync(file!, 'utf8');
    expect(text).toContain('== settings (secrets removed) ==');
    expectNoSecret(text);
    const printed = await cli(['diag', '-'], dir, sock);
    expect(printed.code).toBe(0);
    expect(printed.out).toStartWith('hark diagnostic report\n');
    expectNoSecret(printed.out);
    const named = await cli(['diag', 'mine.txt'], dir, sock);
    expect(named.code).toBe(0);
    expect(readFileSync(join(dir, 'mine.txt'), 'utf8')).toContain('== hark ==');
    const bad = await cli(['diag', 'a', 'b'], dir, sock);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('usage: hark diag [FILE | -]');
    const unwritable = await cli(['diag', '/proc/no-such-dir/x.txt'], dir, sock);
    expect(unwritable.code).toBe(1);
    expect(unwritable.err).toContain('cannot write /proc/no-such-dir/x.txt');
  }, 60_000);

  for (const [name, viewport] of [
    ['phone', { width: 390, height: 844 }],
    ['desktop', { width: 1366, height: 900 }],
  ] as const) {
    test(`the System page's download on a ${name}: one press, a .txt file without secrets`, async () => {
      const context = await chrome.browser.newContext({ viewport, acceptDownloads: true });
      const page = await context.newPage();
      await loginInPage(page, hark.url, PASSWORD, { next: '/system' });
      const link = page.locator('#diag-download');
      await link.scrollIntoViewIfNeeded();
      const box = (await link.boundingBox())!;
      expect(box.height).toBeGreaterThanOrEqual(44);
      await page.locator('#diag').screenshot({ path: join(shots, `system-diag-${name}.png`) });
      const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
      expect(download.suggestedFilename()).toMatch(/^hark-diag-.+-\d{8}-\d{4}\.txt$/);
      const path = await download.path();
      const text = readFileSync(path, 'utf8');
      expect(text).toContain('== status (as GET /api/status) ==');
      expectNoSecret(text);
      await context.close();
    }, 60_000);
  }
});

describe('with the default config', () => {
  test('hark diag works on a box with no password and no PipeWire, and says both', async () => {
    const plain = await startHark('');
    try {
      const dir = mkdtempSync(join(tmpdir(), 'hark-diag-default-'));
      const r = await cli(['diag', '-'], dir, join(plain.dir, 'hark.sock'));
      expect(r.code).toBe(0);
      expect(r.out).toContain('admin password: NOT SET (the box can be claimed with its setup code)');
      expect(r.out).toMatch(/== audio devices \(PipeWire\) ==\n(not available: .+|none found)\n/);
      expect(r.out).toContain('"listener_token": ""');
    } finally {
      await plain.stop();
    }
  }, 60_000);
});
