import { describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SRT_REJ_BADSECRET, SRT_REJ_UNSECURE, SrtConfigError, SrtPoller, SrtSocket, TRACEBSTATS_OFFSETS, TRACEBSTATS_SIZE, sockaddr, srtTimeNowUs, srtVersion } from './srt.ts';
import { monotonicMs } from './libc.ts';

async function until<T>(fn: () => T | null | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v as T;
    if (Date.now() > end) throw new Error('timed out');
    await Bun.sleep(10);
  }
}

function listener(opts: Parameters<typeof SrtSocket.create>[0] = {}) {
  const l = SrtSocket.create(opts);
  l.bind('127.0.0.1', 0);
  l.listen(1);
  return { l, port: l.localAddress().port };
}

describe('libsrt binding', () => {
  test('version is 1.5', () => {
    expect(srtVersion()).toMatch(/^1\.5\./);
  });

  test('caller and listener exchange 1316-byte messages; stats count them', async () => {
    const { l, port } = listener();
    expect(port).toBeGreaterThan(0);
    expect(l.state).toBe('listening');
    const c = SrtSocket.create({ latencyMs: 200, streamId: '#!::r=hark' });
    c.connect('127.0.0.1', port);
    const a = await until(() => l.accept());
    await until(() => c.state === 'connected');
    expect(a.getString(46)).toBe('#!::r=hark');
    const msg = new Uint8Array(1316).map((_, i) => i & 0xff);
    for (let i = 0; i < 20; i++) {
      msg[0] = i;
      expect(c.send(msg)).toBe(1316);
    }
    const buf = new Uint8Array(1500);
    const got: number[] = [];
    await until(() => {
      const n = a.recv(buf);
      if (n) {
        expect(n).toBe(1316);
        got.push(buf[0]!);
      }
      return got.length === 20;
    });
    expect(got).toEqual([...Array(20).keys()]);
    const s = c.stats();
    expect(s.pktSent).toBe(20);
    expect(s.byteSent).toBeGreaterThanOrEqual(20 * 1316);
    // The larger of the two sides' latencies wins the handshake.
    expect(s.msSndTsbPdDelay).toBe(200);
    expect(a.stats().pktRecv).toBe(20);
    c.close();
    await until(() => a.state === 'broken' || a.state === 'closed' || a.state === 'nonexist');
    expect(() => a.recv(buf)).toThrow();
    a.close();
    a.close();
    l.close();
    expect(() => l.accept()).toThrow(/closed/);
  });

  test("a message's source time decides when the receiver gets it: latency after the source time, not after the send", async () => {
    // libsrt's clock is CLOCK_MONOTONIC, hark's too (outputs/srt stamps each message with its capture time)
    expect(Math.abs(srtTimeNowUs() / 1000 - monotonicMs())).toBeLessThan(5);
    const { l, port } = listener({ latencyMs: 200 });
    const c = SrtSocket.create({ latencyMs: 200 });
    c.connect('127.0.0.1', port);
    const a = await until(() => l.accept());
    await until(() => c.state === 'connected');
    await Bun.sleep(300); // the stamps below must not be older than the link
    const buf = new Uint8Array(1500);
    const delay = async (srctimeUs: number) => {
      const sent = monotonicMs();
      expect(c.send(new Uint8Array(188), srctimeUs)).toBe(188);
      await until(() => a.recv(buf) > 0, 2000);
      return monotonicMs() - sent;
    };
    // captured 150 ms before it was sent: SRT plays it 50 ms after the send
    const stamped = await delay(srtTimeNowUs() - 150_000);
    // no stamp: the send is the source time, 200 ms
    const now = await delay(0);
    console.log(`[srt] stamped 150 ms back: received ${stamped.toFixed(1)} ms after the send; unstamped: ${now.toFixed(1)} ms`);
    expect(stamped).toBeLessThan(130);
    expect(now).toBeGreaterThan(170);
    for (const s of [a, c, l]) s.close();
  });

  test('stats follow a paced sender (the stats block is read fresh each call)', async () => {
    const { l, port } = listener();
    const c = SrtSocket.create();
    c.connect('127.0.0.1', port);
    const a = await until(() => l.accept());
    await until(() => c.state === 'connected');
    const buf = new Uint8Array(1500);
    let got = 0;
    for (let i = 0; i < 40; i++) {
      expect(c.send(new Uint8Array(1316))).toBe(1316);
      await Bun.sleep(5);
      while (a.recv(buf)) got++;
    }
    // (A stats block read through a pointer taken once stayed at the first packet.)
    await until(() => c.stats().pktSent === 40);
    expect(c.stats().byteSent).toBeGreaterThanOrEqual(40 * 1316);
    await until(() => {
      while (a.recv(buf)) got++;
      return got === 40;
    });
    for (const s of [c, a, l]) s.close();
  });

  test('a wrong passphrase is refused with SRT_REJ_BADSECRET; a missing one with UNSECURE', async () => {
    const { l, port } = listener({ passphrase: 'correct horse battery', pbkeylen: 32 });
    const bad = SrtSocket.create({ passphrase: 'wrong password!!', pbkeylen: 32, connectTimeoutMs: 1500 });
    bad.connect('127.0.0.1', port);
    await until(() => bad.state === 'broken' || bad.state === 'closed' || bad.state === 'nonexist');
    expect(bad.rejectReason).toBe(SRT_REJ_BADSECRET);
    bad.close();
    const none = SrtSocket.create({ connectTimeoutMs: 1500 });
    none.connect('127.0.0.1', port);
    await until(() => none.state !== 'connecting' && none.state !== 'opened' && none.state !== 'init');
    expect(none.rejectReason).toBe(SRT_REJ_UNSECURE);
    none.close();
    const good = SrtSocket.create({ passphrase: 'correct horse battery', pbkeylen: 32 });
    good.connect('127.0.0.1', port);
    await until(() => good.state === 'connected');
    const a = await until(() => l.accept());
    const buf = new Uint8Array(1500);
    good.send(new Uint8Array(1316).fill(7));
    const n = await until(() => a.recv(buf));
    expect(n).toBe(1316);
    expect(buf[100]).toBe(7);
    for (const s of [good, a, l]) s.close();
  });

  test('a caller with nobody listening breaks (timeout), never blocks', async () => {
    const { l, port } = listener();
    l.close();
    const c = SrtSocket.create({ connectTimeoutMs: 500 });
    const t0 = performance.now();
    c.connect('127.0.0.1', port);
    expect(performance.now() - t0).toBeLessThan(100);
    await until(() => c.state === 'broken' || c.state === 'closed' || c.state === 'nonexist', 5000);
    c.close();
  });

  test('poller reports the accept and readable data', async () => {
    const { l, port } = listener();
    using p = new SrtPoller();
    p.add(l);
    expect(p.wait(0)).toEqual([]);
    const c = SrtSocket.create();
    c.connect('127.0.0.1', port);
    await until(() => p.wait(0).some((e) => e.sock === l.id));
    const a = l.accept()!;
    p.add(a);
    await until(() => c.state === 'connected');
    c.send(new Uint8Array(188));
    await until(() => p.wait(0).some((e) => e.sock === a.id));
    // poll() says the same without building an array: the count, then each one's id and events.
    const n = p.poll(0);
    expect(n).toBeGreaterThanOrEqual(1);
    const ready = Array.from({ length: n }, (_, i) => p.readySock(i));
    expect(ready).toContain(a.id);
    expect(p.readyEvents(ready.indexOf(a.id)) & 1).toBe(1); // SRT_EPOLL_IN
    for (const s of [c, a, l]) s.close();
  });

  test('settings libsrt would refuse are refused by name', () => {
    expect(() => SrtSocket.create({ passphrase: 'short' })).toThrow(SrtConfigError);
    expect(() => SrtSocket.create({ passphrase: 'x'.repeat(80) })).toThrow(/passphrase/);
    expect(() => SrtSocket.create({ latencyMs: -1 })).toThrow(/latencyMs/);
    expect(() => SrtSocket.create({ passphrase: 'long enough pass', pbkeylen: 20 as 16 })).toThrow(/pbkeylen/);
    expect(() => sockaddr('example.org', 1)).toThrow(/resolve/);
    expect(Array.from(sockaddr('::1', 9000).subarray(0, 4))).toEqual([10, 0, 0x23, 0x28]);
    expect(sockaddr('::1', 1)[23]).toBe(1);
  });

  test.skipIf(!existsSync('/usr/include/srt/srt.h') || spawnSync('which', ['gcc']).status !== 0)(
    'SRT_TRACEBSTATS offsets match srt.h (gcc)',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'srt-abi-'));
      const fields = Object.keys(TRACEBSTATS_OFFSETS);
      writeFileSync(
        join(dir, 'o.c'),
        `#include <stdio.h>\n#include <stddef.h>\n#include <srt/srt.h>\nint main(){printf("%zu", sizeof(SRT_TRACEBSTATS));${fields
          .map((f) => `printf(" %zu", offsetof(SRT_TRACEBSTATS, ${f}));`)
          .join('')}return 0;}\n`,
      );
      const cc = spawnSync('gcc', ['-o', join(dir, 'o'), join(dir, 'o.c')], { encoding: 'utf8' });
      expect(cc.stderr).toBe('');
      const out = spawnSync(join(dir, 'o'), { encoding: 'utf8' }).stdout.trim().split(' ').map(Number);
      expect(out[0]).toBe(TRACEBSTATS_SIZE);
      expect(out.slice(1)).toEqual(fields.map((f) => TRACEBSTATS_OFFSETS[f as keyof typeof TRACEBSTATS_OFFSETS]));
    },
  );
});
