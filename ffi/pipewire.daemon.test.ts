import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadPipewire,
  monotonicNs,
  PipewireClosedError,
  PipewireLibraryMissingError,
  PipewireUnavailableError,
  PwConnection,
} from './pipewire.ts';
import { startPipewire, type PipewireHarness } from '../test/lib/pipewire.ts';

let pw: PipewireHarness;
beforeAll(async () => {
  pw = await startPipewire();
}, 30_000);
afterAll(async () => {
  await pw?.stop();
}, 15_000);

describe('pw_shim.c', () => {
  test('includes no header at all (no PipeWire -dev, no libc6-dev on the device)', () => {
    const src = readFileSync(join(import.meta.dir, 'pw_shim.c'), 'utf8');
    expect(src).not.toMatch(/^\s*#\s*include/m);
  });

  test.skipIf(process.getuid?.() !== 0)('compiles and loads with /usr/include hidden', async () => {
    // A private mount namespace with an empty /usr/include stands in for the device.
    const code = `import { loadPipewire } from ${JSON.stringify(join(import.meta.dir, 'pipewire.ts'))}; console.log(loadPipewire());`;
    const p = Bun.spawn(['unshare', '-m', 'sh', '-c', 'mount -t tmpfs none /usr/include && exec "$0" -e "$1"', process.execPath, code], {
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [out, err, rc] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (rc !== 0 && /unshare|mount/.test(err) && /permitted|denied/i.test(err)) return; // no namespaces here
    expect({ rc, err: rc ? err : '' }).toEqual({ rc: 0, err: '' });
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('loadPipewire', () => {
  test('returns the library version', () => {
    expect(loadPipewire()).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('a missing library is one clear error naming the .so and the Debian package; not sticky', async () => {
    // A fresh process: in this one the library is already loaded.
    const code = `
      import { loadPipewire, PipewireLibraryMissingError } from ${JSON.stringify(join(import.meta.dir, 'pipewire.ts'))};
      let first = null;
      try { loadPipewire('libpipewire-0.3.so.999'); } catch (e) { first = { missing: e instanceof PipewireLibraryMissingError, message: e.message }; }
      console.log(JSON.stringify({ first, then: loadPipewire() }));`;
    const p = Bun.spawn([process.execPath, '-e', code], { stdout: 'pipe', stderr: 'pipe' });
    const [out, err, rc] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect({ rc, err: rc ? err : '' }).toEqual({ rc: 0, err: '' });
    const r = JSON.parse(out) as { first: { missing: boolean; message: string } | null; then: string };
    expect(r.first?.missing).toBe(true);
    expect(r.first?.message).toContain('libpipewire-0.3.so.0');
    expect(r.first?.message).toContain('libpipewire-0.3-0');
    expect(r.then).toMatch(/^\d/);
  });
});

describe('PwConnection', () => {
  test('no daemon at the socket: PipewireUnavailableError with the path', () => {
    const remote = join(pw.dir, 'nothing-here');
    expect(() => PwConnection.open({ mode: 'capture', remote })).toThrow(PipewireUnavailableError);
    expect(() => PwConnection.open({ mode: 'capture', remote })).toThrow(remote);
  });

  test('rejects channel counts outside 1..8 before touching C', () => {
    expect(() => PwConnection.open({ mode: 'capture', channels: 9, remote: pw.remote })).toThrow(RangeError);
    expect(() => PwConnection.open({ mode: 'capture', channels: 0, remote: pw.remote })).toThrow(RangeError);
  });

  test('close() twice is fine; any use after close throws PipewireClosedError', () => {
    const c = PwConnection.open({ mode: 'registry', remote: pw.remote });
    c.close();
    c.close();
    expect(c.closed).toBe(true);
    expect(() => c.wait(1)).toThrow(PipewireClosedError);
    expect(() => c.read(new Float32Array(2), 1)).toThrow(PipewireClosedError);
    expect(() => c.stats()).toThrow(PipewireClosedError);
    expect(() => c.snapshotText()).toThrow(PipewireClosedError);
    using d = PwConnection.open({ mode: 'registry', remote: pw.remote });
    expect(d.closed).toBe(false);
  });

  test('capture: quantum timestamps are CLOCK_MONOTONIC, fresh, and ordered', async () => {
    using c = PwConnection.open({ mode: 'capture', target: pw.sinkName, channels: 2, latencyFrames: 128, remote: pw.remote });
    const buf = new Float32Array(4096 * 2);
    const end = performance.now() + 3000;
    let frames = 0;
    while (frames < 24_000 && performance.now() < end) {
      c.wait(20);
      frames += c.read(buf, 4096);
      await Bun.sleep(0);
    }
    expect(frames).toBeGreaterThanOrEqual(24_000);
    const now = monotonicNs();
    const last = c.lastQuantumTimestampNs;
    expect(last).toBeGreaterThan(0n);
    expect(now - last).toBeLessThan(100_000_000n);
    const r = c.lastRead;
    expect(r.firstQuantumNs <= r.lastQuantumNs && r.lastQuantumNs <= r.readNs).toBe(true);
    const s = c.stats();
    expect(s.frames).toBeGreaterThanOrEqual(frames);
    expect(s.ringOverruns).toBe(0);
    expect(s.captureSinkMonitor).toBe(1);
  });

  test('steady capture: the loop thread reconciles once a second, not ten times', async () => {
    using c = PwConnection.open({ mode: 'capture', target: pw.sinkName, channels: 2, latencyFrames: 1024, remote: pw.remote });
    const buf = new Float32Array(4096 * 2);
    const drain = async (ms: number) => {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        c.wait(50);
        c.read(buf, 4096);
        await Bun.sleep(10);
      }
    };
    // Starting (stream created, not yet delivering): the 100 ms period.
    expect(c.stats().reconcilePeriodMs).toBe(100);
    for (let i = 0; i < 50 && c.stats().devState !== 1; i++) await drain(100);
    await drain(300);
    const a = c.stats();
    expect(a.reconcilePeriodMs).toBe(1000);
    await drain(3000);
    const b = c.stats();
    console.log(`[reconcile] ${b.reconcileTicks - a.reconcileTicks} ticks in 3 s of steady capture, period ${b.reconcilePeriodMs} ms`);
    expect(b.reconcileTicks - a.reconcileTicks).toBeLessThanOrEqual(4);
    expect(b.reconcileTicks - a.reconcileTicks).toBeGreaterThanOrEqual(2);
    expect(b.frames - a.frames).toBeGreaterThan(3 * 48_000 * 0.9);
  });

  test('a reader that stops reading overruns the ring: whole quanta dropped and counted', async () => {
    using c = PwConnection.open({ mode: 'capture', target: pw.sinkName, channels: 2, latencyFrames: 256, remote: pw.remote, ringFrames: 2048 });
    await Bun.sleep(400); // 2048 frames is 43 ms
    const s = c.stats();
    expect(s.ringOverruns).toBeGreaterThan(0);
    expect(s.droppedFrames).toBe(s.ringOverruns * 256);
    expect(s.ringFill).toBeLessThanOrEqual(2048);
    // What is in the ring is still readable, newest data after it.
    const buf = new Float32Array(4096 * 2);
    expect(c.read(buf, 4096)).toBeGreaterThan(0);
  });
});
