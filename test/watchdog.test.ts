/**
 * The systemd watchdog (image/deb/usr/lib/hark/service.ts) in the configuration that used to
 * loop: http.host a LAN address and access.public_status = false. The probe then got 401 from
 * /api/status, never sent READY=1 or WATCHDOG=1, and systemd restarted hark every WatchdogSec
 * for ever. It now asks over the CLI's Unix socket (and, without the socket, takes any HTTP
 * answer as a live server). Run as systemd would: NOTIFY_SOCKET and WATCHDOG_USEC set, the
 * notifications read from a real datagram socket.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Subprocess } from 'bun';
import { freePort } from './lib/icecast.ts';

const ROOT = resolve(import.meta.dir, '..');
const lan = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

const procs: Subprocess[] = [];
afterAll(async () => {
  for (const p of procs) {
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await p.exited;
    clearTimeout(t);
  }
});

/** Collect a process's stdout lines. */
function lines(p: Subprocess<'ignore', 'pipe', 'pipe'>): { all: string[]; text: () => string } {
  const all: string[] = [];
  let buf = '';
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const c of s) {
      buf += dec.decode(c, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        all.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
  };
  void pump(p.stdout);
  void pump(p.stderr);
  return { all, text: () => all.join('\n') };
}

async function until(check: () => boolean, ms: number, what: string, log: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await Bun.sleep(100);
  }
  throw new Error(`timed out after ${ms} ms: ${what}\n${log()}`);
}

describe('watchdog with http.host on the LAN and a private status', () => {
  test.skipIf(!lan)(`READY=1 and WATCHDOG=1 keep coming (host ${lan}); without the CLI socket a 401 still counts as alive`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-watchdog-'));
    const port = await freePort();
    const config = join(dir, 'hark.toml');
    writeFileSync(config, `[input]\nsource = "tone"\n[http]\nhost = "${lan}"\nport = ${port}\n[access]\npublic_status = false\n[webrtc]\nenabled = false\n`);

    // systemd's end of sd_notify: a datagram socket; each message printed on one line.
    const notifyPath = join(dir, 'notify.sock');
    const py = `import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('bound',flush=True)\nwhile True:\n  print(s.recv(4096).decode().replace('\\n','|'),flush=True)\n`;
    const systemd = Bun.spawn(['python3', '-c', py, notifyPath], { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
    procs.push(systemd);
    const notes = lines(systemd);
    await until(() => notes.all.includes('bound'), 10_000, 'the notify socket', notes.text);

    const service = Bun.spawn([process.execPath, join(ROOT, 'image/deb/usr/lib/hark/service.ts'), '--config', config], {
      cwd: dir,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      env: { ...process.env, HARK_ROOT: ROOT, HARK_PIPEWIRE_WAIT_MS: '0', NOTIFY_SOCKET: notifyPath, WATCHDOG_USEC: '3000000', MIMALLOC_SCAVENGER: '0' },
    });
    procs.push(service);
    const out = lines(service);
    const log = () => `--- service:\n${out.text()}\n--- notifications:\n${notes.text()}`;

    // What the old probe was refused with: /api/status from the LAN address is 401.
    await until(() => out.text().includes(`listening on http://${lan}:${port}`), 60_000, 'hark listening', log);
    expect((await fetch(`http://${lan}:${port}/api/status`)).status).toBe(401);

    await until(() => notes.all.some((l) => l.startsWith('READY=1')), 30_000, 'READY=1', log);
    const watchdogs = () => notes.all.filter((l) => l === 'WATCHDOG=1').length;
    await until(() => watchdogs() >= 3, 15_000, 'three WATCHDOG=1 (one a second)', log);
    expect(out.text()).toContain(`ready: http://${lan}:${port} answers (probed through ${join(dir, 'hark.sock')})`);
    expect(out.text()).not.toContain('health probe failed');

    // Without the socket (it could not be made): HTTP answers 401, which shows a live server.
    rmSync(join(dir, 'hark.sock'));
    const before = watchdogs();
    await until(() => watchdogs() >= before + 3, 15_000, 'three more WATCHDOG=1 over HTTP', log);
    expect(out.text()).not.toContain('health probe failed');
    expect(service.exitCode).toBeNull();
  }, 120_000);
});
