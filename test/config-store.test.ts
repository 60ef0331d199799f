/**
 * The config file under a real daemon: concurrent writes from the admin page (HTTP with a
 * session) and the CLI (its socket, and real `hark config set` processes) while the daemon is
 * killed with SIGKILL — the file, and its .bak, always parse; hand edits on SIGHUP and on file
 * change, an invalid one refused naming the key; and a power cut while live comes back live.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseConfig } from '../src/config/load.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { session } from './lib/session.ts';

const CLI = resolve(import.meta.dir, '../src/cli/main.ts');
const PASSWORD = 'kill dash nine';
const procs: Daemon['proc'][] = [];

afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
});

const BASE = (udp: number) => `# kill -9 test: this comment must survive every write
[input]
source = "tone"

[control]
on_boot = "last"

[webrtc]
udp_port = ${udp}
`;

type Daemon = HarkProcess;

/** Run the daemon on `dir/hark.toml` (again and again: a restart after a crash keeps the dir). */
async function daemon(dir: string): Promise<Daemon> {
  const h = await startHark('', { dir, env: { HARK_LOG_LEVEL: 'info' } });
  procs.push(h.proc);
  return h;
}

const sock = (h: Daemon) => join(h.dir, 'hark.sock');

async function unixJson(h: Daemon, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`http://localhost${path}`, {
    method,
    unix: sock(h),
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  } as RequestInit);
}

/** Set the password over the socket and log in over HTTP, as a browser would. */
async function browserSession(h: Daemon): Promise<{ cookie: string; csrf: string }> {
  await unixJson(h, 'POST', '/api/password', { password: PASSWORD });
  return session(h.url, PASSWORD);
}

describe('config writes under SIGKILL', () => {
  test('500 concurrent writes from the admin page and the CLI, SIGKILL mid-way (twice): the file always parses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-kill-'));
    const path = join(dir, 'hark.toml');
    writeFileSync(path, BASE(20000 + Math.floor(Math.random() * 20000)));
    let h = await daemon(dir);
    let reads = 0;
    let readerStop = false;
    const badReads: string[] = [];
    // A reader that never stops looking: every version of the file it sees must parse.
    const reader = (async () => {
      while (!readerStop) {
        const text = readFileSync(path, 'utf8');
        try {
          parseConfig(text);
        } catch (e) {
          badReads.push(`${(e as Error).message}\n${text}`);
        }
        reads++;
        await Bun.sleep(1);
      }
    })();

    let done = 0;
    let refused = 0;
    for (const round of [0, 1]) {
      const s = await browserSession(h);
      const total = 250;
      const killAt = 120 + Math.floor(Math.random() * 60);
      let issued = 0;
      let killed = false;
      const one = async (i: number) => {
        try {
          let ok: boolean;
          if (i % 25 === 0) {
            // A real CLI process now and then (`hark config set` over the socket).
            const p = Bun.spawn([process.execPath, CLI, '--socket', sock(h), 'config', 'set', 'silence.after_s', String(10 + (i % 50))], { stdout: 'ignore', stderr: 'ignore' });
            ok = (await p.exited) === 0;
          } else if (i % 2 === 0) {
            // The CLI's own request: PATCH over the Unix socket.
            ok = (await unixJson(h, 'PATCH', '/api/config', { 'tone.frequency': String(200 + i), 'input.latency_frames': 128 + (i % 4) * 64 })).ok;
          } else {
            // The admin page's form post (session cookie + CSRF header).
            const res = await fetch(`${h.url}/ui/config/metadata`, {
              method: 'POST',
              headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/x-www-form-urlencoded' },
              body: new URLSearchParams({ title: `round ${round} write ${i} ${'é'.repeat(i % 7)}`, icy_metaint: String(8000 + i) }),
            });
            ok = res.ok;
          }
          if (ok) done++;
          else refused++;
        } catch {
          // The daemon died under us: expected after the kill.
        }
      };
      const inflight = new Set<Promise<void>>();
      while (issued < total) {
        if (!killed && issued >= killAt) {
          killed = true;
          h.proc.kill('SIGKILL');
        }
        const p = one(issued++).finally(() => inflight.delete(p));
        inflight.add(p);
        if (inflight.size >= 12) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      await h.proc.exited;
      // After the crash: the file and its backup are whole configs, comments and all.
      expect(parseConfig(readFileSync(path, 'utf8')).control.on_boot).toBe('last');
      expect(parseConfig(readFileSync(`${path}.bak`, 'utf8'))).toBeTruthy();
      expect(readFileSync(path, 'utf8')).toContain('# kill -9 test: this comment must survive every write');
      // The next start takes the file as it is.
      h = await daemon(dir);
    }
    readerStop = true;
    await reader;
    h.proc.kill('SIGTERM');
    await h.proc.exited;
    console.log(`${done} writes accepted, ${refused} refused, ${reads} reads of the file, ${badReads.length} unparsable`);
    expect(badReads).toEqual([]);
    expect(done).toBeGreaterThan(200);
  }, 240_000);

  test('a power cut while live comes back live (control.on_boot = "last")', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-powercut-'));
    writeFileSync(join(dir, 'hark.toml'), BASE(20000 + Math.floor(Math.random() * 20000)));
    let h = await daemon(dir);
    expect((await unixJson(h, 'POST', '/api/stop')).ok).toBe(true);
    expect((await unixJson(h, 'POST', '/api/live')).ok).toBe(true);
    expect((await unixJson(h, 'POST', '/api/mute')).ok).toBe(true);
    h.proc.kill('SIGKILL');
    await h.proc.exited;
    h = await daemon(dir);
    expect((await (await unixJson(h, 'GET', '/api/state')).json()).state).toBe('muted');
    expect(h.output()).toContain('boot state muted (control.on_boot = last)');
    await unixJson(h, 'POST', '/api/stop');
    h.proc.kill('SIGKILL');
    await h.proc.exited;
    h = await daemon(dir);
    expect((await (await unixJson(h, 'GET', '/api/state')).json()).state).toBe('idle');
    h.proc.kill('SIGTERM');
    await h.proc.exited;
  }, 120_000);
});

describe('hand edits', () => {
  test('SIGHUP and file changes reload; an invalid edit is refused naming the key, the running config stays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-hand-'));
    const path = join(dir, 'hark.toml');
    writeFileSync(path, BASE(20000 + Math.floor(Math.random() * 20000)));
    const h = await daemon(dir);
    const cfg = async () => (await unixJson(h, 'GET', '/api/config')).json();
    // An editor saving over the file: picked up by the watcher.
    writeFileSync(path, `${BASE(1)}[tone]\nfrequency = 523\n`.replace('udp_port = 1', `udp_port = ${(await cfg()).webrtc.udp_port}`));
    const until = performance.now() + 5000;
    while ((await cfg()).tone.frequency !== 523 && performance.now() < until) await Bun.sleep(100);
    expect((await cfg()).tone.frequency).toBe(523);
    // Invalid: refused with the key path, on SIGHUP too; the running config stays.
    writeFileSync(path, readFileSync(path, 'utf8').replace('frequency = 523', 'frequency = 5'));
    h.proc.kill('SIGHUP');
    const t2 = performance.now() + 5000;
    while (!h.output().includes('the edited file is refused') && performance.now() < t2) await Bun.sleep(100);
    expect(h.output()).toMatch(/the edited file is refused, the running config stays: .*tone\.frequency: must be between 20 and 20000, got 5/);
    expect((await cfg()).tone.frequency).toBe(523);
    const status = await (await fetch(`${h.url}/api/status`)).json();
    expect(status.control.state).toBeDefined();
    h.proc.kill('SIGTERM');
    await h.proc.exited;
    expect(existsSync(path)).toBe(true);
  }, 60_000);
});
