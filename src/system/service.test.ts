import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { HealthProbe, probeIntervalMs, probeTarget, SdNotify, type ProbeTarget } from './service.ts';

const procs: Subprocess[] = [];
afterAll(() => {
  for (const p of procs) p.kill();
});

describe('probeTarget: where the watchdog asks', () => {
  test("the config's socket and its http.host:port; --port overrides the port", () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-service-'));
    const config = join(dir, 'hark.toml');
    writeFileSync(config, '[http]\nhost = "192.0.2.7"\nport = 8123\n');
    const saved = process.env.RUNTIME_DIRECTORY;
    delete process.env.RUNTIME_DIRECTORY;
    try {
      expect(probeTarget(['--config', config])).toEqual({ port: 8123, socketPath: join(dir, 'hark.sock'), statusUrl: 'http://192.0.2.7:8123/api/status' });
      expect(probeTarget([`--config=${config}`, '--port', '9000']).statusUrl).toBe('http://192.0.2.7:9000/api/status');
    } finally {
      if (saved !== undefined) process.env.RUNTIME_DIRECTORY = saved;
    }
  });

  test('a wildcard host is probed on loopback; IPv6 in brackets', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-service-'));
    writeFileSync(join(dir, 'a.toml'), '[http]\nhost = "0.0.0.0"\nport = 8124\n');
    writeFileSync(join(dir, 'b.toml'), '[http]\nhost = "::1"\nport = 8125\n');
    expect(probeTarget(['--config', join(dir, 'a.toml')]).statusUrl).toBe('http://127.0.0.1:8124/api/status');
    expect(probeTarget(['--config', join(dir, 'b.toml')]).statusUrl).toBe('http://[::1]:8125/api/status');
  });

  test('a config hark refuses: no socket, the default port (the daemon reports the refusal itself)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-service-'));
    writeFileSync(join(dir, 'bad.toml'), '[http]\nport = "eighty"\n');
    expect(probeTarget(['--config', join(dir, 'bad.toml')])).toEqual({ port: 8080, socketPath: '', statusUrl: 'http://127.0.0.1:8080/api/status' });
  });

  test('the probe period is a third of WATCHDOG_USEC, at least 1 s; 10 s without a watchdog', () => {
    expect(probeIntervalMs(30_000_000)).toBe(10_000);
    expect(probeIntervalMs(3_000_000)).toBe(1000);
    expect(probeIntervalMs(1_000_000)).toBe(1000);
    expect(probeIntervalMs(0)).toBe(10_000);
  });
});

describe('HealthProbe: what systemd is told', () => {
  const target: ProbeTarget = { port: 8080, socketPath: '', statusUrl: 'http://127.0.0.1:8080/api/status' };
  function probeWith(answers: (() => Response)[]) {
    const notes: string[] = [];
    const said: string[] = [];
    let i = 0;
    const fake = async () => answers[Math.min(i++, answers.length - 1)]!();
    const p = new HealthProbe(target, (m) => notes.push(m), 1000, (_prio, m) => said.push(m), fake);
    return { p, notes, said };
  }
  const status = (frames: number) => () => Response.json({ audio: { frames }, input: { source: 'tone' } });

  test('READY=1 on the first healthy answer, then WATCHDOG=1 while the audio clock moves', async () => {
    const { p, notes } = probeWith([status(100), status(200), status(300)]);
    await p.probe();
    await p.probe();
    await p.probe();
    expect(notes).toEqual(['READY=1\nSTATUS=serving on port 8080, input tone', 'WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1']);
  });

  test('a stuck audio clock withholds WATCHDOG=1 and says why; a moving one again is healthy again', async () => {
    const { p, notes, said } = probeWith([status(100), status(100), status(150)]);
    await p.probe();
    await p.probe();
    expect(notes.at(-1)).toBe('STATUS=unhealthy: the audio clock is stuck at frame 100');
    expect(p.failures).toBe(1);
    await p.probe();
    expect(notes.at(-1)).toBe('WATCHDOG=1');
    expect(said).toContain('healthy again');
  });

  test('over HTTP a 401 shows a live server; a 500 does not', async () => {
    const a = probeWith([() => new Response('no', { status: 401 })]);
    await a.p.probe();
    expect(a.notes.at(-1)).toBe('WATCHDOG=1');
    const b = probeWith([() => new Response('broken', { status: 500 })]);
    await b.p.probe();
    expect(b.notes).toEqual(['STATUS=unhealthy: http://127.0.0.1:8080/api/status answered 500']);
  });

  test('no answer at all: unhealthy, with the reason', async () => {
    const { p, notes } = probeWith([
      () => {
        throw new Error('connection refused');
      },
    ]);
    await p.probe();
    expect(notes).toEqual(['STATUS=unhealthy: http://127.0.0.1:8080/api/status: connection refused']);
  });
});

describe('SdNotify (sd_notify(3) through ffi/libc.ts)', () => {
  test('messages arrive on the datagram socket named in NOTIFY_SOCKET; without one, nothing is sent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-sdnotify-'));
    const path = join(dir, 'notify.sock');
    const py = `import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('bound',flush=True)\nprint(s.recv(4096).decode().replace('\\n','|'),flush=True)\n`;
    const systemd = Bun.spawn(['python3', '-c', py, path], { stdout: 'pipe', stderr: 'pipe' });
    procs.push(systemd);
    const reader = systemd.stdout.getReader();
    let got = '';
    const dec = new TextDecoder();
    for (let n = 0; n < 50 && !got.includes('bound\n'); n++) {
      const { value, done } = await reader.read();
      if (done) break;
      got += dec.decode(value);
    }
    expect(got).toBe('bound\n');
    expect(new SdNotify(path).send('READY=1\nSTATUS=serving')).toBe(true);
    for (let n = 0; n < 50 && !got.includes('READY=1|STATUS=serving\n'); n++) {
      const { value, done } = await reader.read();
      if (done) break;
      got += dec.decode(value);
    }
    expect(got).toBe('bound\nREADY=1|STATUS=serving\n');
    expect(new SdNotify('').send('READY=1')).toBe(false);
    expect(() => new SdNotify(`/${'x'.repeat(120)}`)).toThrow('NOTIFY_SOCKET too long');
  }, 30_000);
});
