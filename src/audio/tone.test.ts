import { expect, test } from 'bun:test';
import { ToneSource } from './tone.ts';

test('the tone runs at 48 kHz of wall time and closes idempotently', () => {
  const t = new ToneSource({ channels: 2, frequency: 440, levelDbfs: -12 });
  const s0 = performance.now();
  t.start();
  const s1 = performance.now();
  const buf = new Float32Array(2 * 4096);
  let frames = 0;
  while (performance.now() - s1 < 300) {
    t.wait(20);
    frames += t.read(buf, 4096);
  }
  // Drain what is due, bracketed by the clock: the frames read are the wall time between start
  // and the last read (±1 ms of rounding), however long this thread was preempted anywhere.
  const b = performance.now();
  for (let n; (n = t.read(buf, 4096)) > 0; ) frames += n;
  const a = performance.now();
  expect(frames).toBeGreaterThanOrEqual(((b - s1) / 1000) * 48000 - 48);
  expect(frames).toBeLessThanOrEqual(((a - s0) / 1000) * 48000 + 48);
  expect(t.status().state).toBe('running');
  t.close();
  t.close();
  expect(() => t.read(buf, 10)).toThrow('closed');
});

test('clock_ppm: a tone whose clock runs 0.3 % fast delivers 0.3 % more frames than wall time', () => {
  const t = new ToneSource({ channels: 1, frequency: 440, levelDbfs: -12, clockPpm: 3000 });
  const s0 = performance.now();
  t.start();
  const s1 = performance.now();
  const buf = new Float32Array(8192);
  Bun.sleepSync(1000);
  const b = performance.now();
  let frames = 0;
  for (let n; (n = t.read(buf, 8192)) > 0; ) frames += n;
  const a = performance.now();
  // 1 s of wall time at 48 144 Hz: 144 frames more than a true clock, far beyond the bracket.
  expect(frames).toBeGreaterThanOrEqual(((b - s1) / 1000) * 48_144 - 2);
  expect(frames).toBeLessThanOrEqual(((a - s0) / 1000) * 48_144 + 2);
  t.close();
});
