/**
 * Every `hark` command against a running daemon (real PipeWire for the device list), over
 * its Unix socket, plus the ones that need no daemon: the output a person reads, and the
 * exit codes scripts rely on.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { startPipewire, type PipewireHarness } from './lib/pipewire.ts';

const CLI = resolve(import.meta.dir, '../src/cli/main.ts');
/** Per test: each CLI call is a Bun start (~0.1 s idle, seconds on a loaded 2-core box). */
const T = 60_000;
let hark: HarkProcess;
let pw: PipewireHarness;
let sock: string;

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[], opts: { env?: Record<string, string>; stdin?: string; socket?: string | null; timeoutMs?: number } = {}): Promise<Run> {
  const sockArgs = opts.socket === null ? [] : ['--socket', opts.socket ?? sock];
  const p = Bun.spawn([process.execPath, CLI, ...sockArgs, ...args], {
    env: { ...process.env, ...opts.env },
    stdin: opts.stdin === undefined ? 'ignore' : new Blob([opts.stdin]),
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const timer = opts.timeoutMs ? setTimeout(() => p.kill(), opts.timeoutMs) : undefined;
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, out, err };
}

beforeAll(async () => {
  pw = await startPipewire();
  hark = await startHark(
    `# written by hand
[input]
source = "tone"  # the CLI test's tone

[control]
on_boot = "idle"

[webrtc]
udp_port = ${20000 + Math.floor(Math.random() * 20000)}
`,
    { env: pw.env },
  );
  sock = join(hark.dir, 'hark.sock');
}, 60_000);

afterAll(async () => {
  expect(await hark.stop()).toBe(0);
  await pw.stop();
});

describe('hark CLI against a running daemon', () => {
  test('the socket is mode 0660', () => {
    expect(statSync(sock).mode & 0o777).toBe(0o660);
  }, T);

  test('status, and status --json', async () => {
    // The meters' first reading comes with the audio worker's first wake (up to 100 ms of
    // audio after start when only batch outputs listen): ask again until it is there.
    let r = await cli(['status']);
    for (let i = 0; i < 30 && r.out.includes('-inf'); i++) {
      await Bun.sleep(100);
      r = await cli(['status']);
    }
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^hark \d+\.\d+\.\d+: IDLE/);
    expect(r.out).toContain('input     tone running');
    expect(r.out).toMatch(/levels    L -12\.0  R -12\.0 dBFS peak/);
    expect(r.out).toContain('stream.mp3');
    const j = await cli(['status', '--json']);
    expect(JSON.parse(j.out).control.state).toBe('idle');
  }, T);

  test('live, mute, unmute, stop: the one state machine, seen by the API', async () => {
    const state = async () => (await (await fetch(`${hark.url}/api/status`)).json()).control.state;
    expect(await cli(['live'])).toMatchObject({ code: 0, out: 'live (now live)\n' });
    expect(await state()).toBe('live');
    expect((await cli(['mute'])).out).toBe('muted (now muted)\n');
    expect(await state()).toBe('muted');
    expect((await cli(['unmute'])).out).toBe('unmuted (now live)\n');
    expect((await cli(['stop'])).out).toBe('stopped (now idle)\n');
    expect((await cli(['stop'])).out).toBe('already idle (now idle)\n');
    expect(await state()).toBe('idle');
    expect(hark.output()).toContain('go_live by cli: live');
    // The last state is on disk for the next boot.
    expect(JSON.parse(readFileSync(join(hark.dir, 'state.json'), 'utf8'))).toMatchObject({ live: false, muted: false });
  }, T);

  test('mark and metadata', async () => {
    const m = await cli(['mark', 'first', 'hymn']);
    expect(m.code).toBe(0);
    expect(m.out).toMatch(/^marked \S+Z "first hymn"/);
    const t = await cli(['metadata', 'Evensong — Magnificat']);
    expect(t).toMatchObject({ code: 0, out: 'title "Evensong — Magnificat"\n' });
    expect((await (await fetch(`${hark.url}/api/metadata`)).json()).title).toBe('Evensong — Magnificat');
    expect((await cli(['metadata'])).code).toBe(2);
  }, T);

  test('devices lists PipeWire sources and monitors; input switches to one', async () => {
    const d = await cli(['devices']);
    expect(d.code).toBe(0);
    expect(d.out).toMatch(/NODE\s+CH\s+DESCRIPTION/);
    expect(d.out).toContain(pw.sinkName);
    const j = JSON.parse((await cli(['devices', '--json'])).out);
    expect(j.devices.some((x: { name: string; kind: string }) => x.name === pw.sinkName && x.kind === 'monitor')).toBe(true);
    const i = await cli(['input', pw.sinkName]);
    expect(i).toMatchObject({ code: 0, out: `input ${pw.sinkName}\n` });
    expect(readFileSync(hark.configPath, 'utf8')).toContain(`device = "${pw.sinkName}"`);
    expect((await cli(['devices'])).out).toMatch(new RegExp(`^>.\\s*${pw.sinkName}`, 'm'));
    expect((await cli(['input', ''])).out).toBe('input default source\n');
    const bad = await cli(['input', 'a\u0001b']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('device');
  }, T);

  test('listeners', async () => {
    expect((await cli(['listeners'])).out).toBe('nobody is listening\n');
    const ac = new AbortController();
    const res = await fetch(`${hark.url}/stream.mp3`, { signal: ac.signal, headers: { 'user-agent': 'cli-test-player' } });
    const reader = res.body!.getReader();
    await reader.read();
    const r = await cli(['listeners']);
    // Held until here: a response nothing refers to any more may be collected, and its connection closed, while the CLI runs.
    await reader.cancel().catch(() => {});
    ac.abort();
    expect(r.out).toMatch(/^mp3\s+127\.0\.0\.1\s+\d+ kB\s+cli-test-player$/m);
    expect(JSON.parse((await cli(['listeners', '--json'])).out)).toHaveProperty('stream_mp3');
  }, T);

  test('config get, set (applied, comments kept), and refusals naming the key', async () => {
    expect((await cli(['config', 'get', 'input.source'])).out).toBe('tone\n');
    const table = await cli(['config', 'get', 'tone']);
    expect(table.out).toContain('[tone]\nfrequency = 440');
    expect(JSON.parse((await cli(['config', 'get', 'control', '--json'])).out)).toMatchObject({ on_boot: 'idle' });
    const set = await cli(['config', 'set', 'tone.frequency', '660', 'silence.after_s', '20']);
    expect(set.code).toBe(0);
    expect(set.out).toBe('saved: tone.frequency, silence.after_s; takes effect after `hark restart`: silence\n');
    const text = readFileSync(hark.configPath, 'utf8');
    expect(text).toContain('source = "tone"  # the CLI test\'s tone');
    expect(text).toContain('# written by hand');
    expect((await cli(['config', 'get', 'tone.frequency'])).out).toBe('660\n');
    const bad = await cli(['config', 'set', 'input.channels', 'nine']);
    expect(bad.code).toBe(1);
    expect(bad.err).toBe('hark: input.channels: must be an integer, got "nine"\n');
    expect((await cli(['config', 'set', 'input.colour', 'blue'])).err).toContain('input.colour: unknown key');
    expect((await cli(['config', 'get', 'nope'])).code).toBe(1);
    expect((await cli(['config', 'set', 'tone.frequency'])).code).toBe(2);
  }, T);

  test('config edit: the edited file is saved as written; a refused edit changes nothing', async () => {
    const good = await cli(['config', 'edit'], { env: { EDITOR: `sed -i 's/^frequency = 660/frequency = 770 # edited/'` } });
    expect(good).toMatchObject({ code: 0 });
    expect(good.out).toContain('saved: tone.frequency');
    expect(readFileSync(hark.configPath, 'utf8')).toContain('frequency = 770 # edited');
    const before = readFileSync(hark.configPath, 'utf8');
    const bad = await cli(['config', 'edit'], { env: { EDITOR: `sed -i 's/^frequency = 770/frequency = 5/'` } });
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('refused: tone.frequency: must be between 20 and 20000, got 5');
    expect(bad.err).toContain('your edit is kept in');
    expect(readFileSync(hark.configPath, 'utf8')).toBe(before);
    expect((await cli(['config', 'edit'], { env: { EDITOR: 'true' } })).out).toBe('no change\n');
  }, T);

  test('config check FILE validates without a daemon (exit 0, or 2 naming the key)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-check-'));
    writeFileSync(join(dir, 'ok.toml'), '[input]\nsource = "tone"\n[[icecast]]\nhost = "example.org"\nmount = "/live.mp3"\n');
    writeFileSync(join(dir, 'bad.toml'), '[[icecast]]\nhost = "example.org"\nmount = "/live.mp3"\nport = 99999\n');
    writeFileSync(join(dir, 'broken.toml'), '[input\n');
    expect(await cli(['config', 'check', join(dir, 'ok.toml')], { socket: '/nonexistent.sock' })).toMatchObject({ code: 0, out: `${join(dir, 'ok.toml')}: ok\n` });
    const bad = await cli(['config', 'check', join(dir, 'bad.toml')], { socket: null });
    expect(bad.code).toBe(2);
    expect(bad.err).toBe(`hark: ${join(dir, 'bad.toml')}: icecast.0.port: must be between 1 and 65535, got 99999\n`);
    const broken = await cli(['config', 'check', join(dir, 'broken.toml')], { socket: null });
    expect(broken.code).toBe(2);
    expect(broken.err).toContain('not valid TOML: line 1');
    expect((await cli(['config', 'check', join(dir, 'missing.toml')], { socket: null })).code).toBe(2);
  }, T);

  test('logs, and logs -f following new lines', async () => {
    const l = await cli(['logs', '-n', '3']);
    expect(l.code).toBe(0);
    expect(l.out.trim().split('\n')).toHaveLength(3);
    const p = Bun.spawn([process.execPath, CLI, '--socket', sock, 'logs', '-f', '-n', '1'], { stdout: 'pipe' });
    await Bun.sleep(500);
    await cli(['mark', 'follow-me']);
    const reader = p.stdout.getReader();
    let text = '';
    const until = performance.now() + 3000;
    while (!text.includes('follow-me') && performance.now() < until) text += new TextDecoder().decode((await reader.read()).value);
    p.kill();
    expect(text).toContain('mark by cli: marked');
  }, T);

  test('token create, list, revoke; --scope read makes a token that reads but may not act', async () => {
    const c = await cli(['token', 'create', 'backup', 'script']);
    expect(c.code).toBe(0);
    const token = c.out.trim();
    expect(token).toStartWith('hark_');
    const r = await cli(['token', 'create', '--scope', 'read', 'wall display']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^token [0-9a-f]{8} \(read\) created/);
    const readToken = r.out.trim();
    expect((await cli(['token', 'create', '--scope=root', 'x'])).code).toBe(2);
    const list = await cli(['token', 'list']);
    expect(list.out).toMatch(/^ID\s+SCOPE\s+NAME\s+CREATED\n/);
    expect(list.out).toMatch(/^[0-9a-f]{8}\s+admin\s+backup script\s+\S+$/m);
    expect(list.out).toMatch(/^[0-9a-f]{8}\s+read\s+wall display\s+\S+$/m);
    const id = /^([0-9a-f]{8})\s+admin\s+backup script/m.exec(list.out)![1]!;
    expect((await fetch(`${hark.url}/api/state`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(`${hark.url}/api/state`, { headers: { authorization: `Bearer ${readToken}` } })).status).toBe(200);
    const refused = await fetch(`${hark.url}/api/mark`, { method: 'POST', headers: { authorization: `Bearer ${readToken}` } });
    expect(refused.status).toBe(403);
    expect((await refused.json()).scope_needed).toBe('control');
    expect((await cli(['token', 'revoke', id])).out).toBe(`token ${id} revoked\n`);
    expect((await fetch(`${hark.url}/api/state`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  }, T);

  test('passwd --revoke-tokens also revokes every API token', async () => {
    const readToken = (await cli(['token', 'create', '--scope', 'read', 'to be revoked'])).out.trim();
    expect((await fetch(`${hark.url}/api/state`, { headers: { authorization: `Bearer ${readToken}` } })).status).toBe(200);
    const r = await cli(['passwd', '--stdin', '--revoke-tokens'], { stdin: 'through the socket again\n' });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^admin password set; every browser session has ended; [1-9]\d* API tokens? revoked\n$/);
    expect((await fetch(`${hark.url}/api/state`, { headers: { authorization: `Bearer ${readToken}` } })).status).toBe(401);
    expect((await cli(['token', 'list'])).out).toBe('no API tokens\n');
  }, T);

  test('passwd --stdin sets the admin password through the daemon; the web login then needs it', async () => {
    expect((await cli(['passwd', '--stdin'], { stdin: 'short\n' })).code).toBe(1);
    const r = await cli(['passwd', '--stdin'], { stdin: 'through the socket\n' });
    expect(r).toMatchObject({ code: 0, out: 'admin password set; every browser session has ended\n' });
    expect((await fetch(`${hark.url}/api/live`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${hark.url}/setup`)).status).toBe(404);
  }, T);

  test('restart: in place, same port; with control.on_boot = "last" a live box comes back live', async () => {
    expect((await cli(['config', 'set', 'control.on_boot', 'last'])).code).toBe(0);
    await cli(['live']);
    const r = await cli(['restart']);
    expect(r).toMatchObject({ code: 0, out: 'restarting\n' });
    await hark.waitFor(/\[hark\] restarted/, 15_000);
    const s = await cli(['status', '--json']);
    expect(JSON.parse(s.out).control.state).toBe('live');
    expect((await fetch(`${hark.url}/api/status`)).status).toBe(200);
    await cli(['stop']);
  }, T);

  test('system readonly hands over to the image script; without it, exit 69', async () => {
    const hook = join(hark.dir, 'readonly-hook');
    writeFileSync(hook, '#!/bin/sh\necho "readonly $1"\nexit 7\n');
    chmodSync(hook, 0o755);
    expect(await cli(['system', 'readonly', 'on'], { env: { HARK_READONLY_HOOK: hook } })).toMatchObject({ code: 7, out: 'readonly on\n' });
    const missing = await cli(['system', 'readonly', 'status'], { env: { HARK_READONLY_HOOK: join(hark.dir, 'none') } });
    expect(missing.code).toBe(69);
  }, T);

  test('usage, version, unknown commands', async () => {
    expect((await cli(['version'])).out).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect((await cli(['help'])).out).toContain('config check FILE');
    expect((await cli([])).code).toBe(2);
    const u = await cli(['explode']);
    expect(u.code).toBe(2);
    expect(u.err).toContain('unknown command "explode"');
  }, T);
});

describe('hark CLI without a daemon', () => {
  test('a command that needs the daemon says it is not running (exit 3)', async () => {
    const r = await cli(['status'], { socket: join(tmpdir(), 'no-hark-here.sock') });
    expect(r.code).toBe(3);
    expect(r.err).toContain('hark is not running');
  }, T);

  test('a user outside group hark gets permission denied (exit 4)', async () => {
    if (process.getuid?.() !== 0) return; // needs root to run the CLI as another user
    const r = Bun.spawnSync(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, '--socket', sock, 'status'], {
      env: { ...process.env, HOME: '/tmp', BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' },
      cwd: '/', // a directory every user may read (the checkout's may not be)
      stdout: 'pipe',
      stderr: 'pipe',
    });
    expect(r.stderr.toString()).toContain('permission denied');
    expect(r.exitCode).toBe(4);
  }, T);

  test('passwd --stdin --config FILE writes the hash beside the config (the first boot)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-firstboot-'));
    writeFileSync(join(dir, 'hark.toml'), '[input]\nsource = "tone"\n');
    const r = await cli(['passwd', '--stdin', '--config', join(dir, 'hark.toml')], { stdin: 'from the boot partition\n', socket: null });
    expect(r.code).toBe(0);
    const auth = readFileSync(join(dir, 'auth.json'), 'utf8');
    expect(JSON.parse(auth).password_hash).toStartWith('$argon2id$');
    expect(auth).not.toContain('from the boot partition');
    expect(statSync(join(dir, 'auth.json')).mode & 0o777).toBe(0o600);
    expect(await Bun.password.verify('from the boot partition', JSON.parse(auth).password_hash)).toBe(true);
    expect(existsSync(join(dir, 'hark.toml'))).toBe(true);
  }, T);
});
