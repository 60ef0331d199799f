import { expect, test } from 'bun:test';
import { ToneSource } from './tone.ts';

test('the tone runs at 48 kHz of wall time and closes idempotently', () => {
  const t = new ToneSource({ channels: 2, frequency: 440, levelDbfs: -12 });
  t.start();
  const buf = new Float32Array(2 * 4096);
  let frames = 0;
  const start = performance.now();
  while (performance.now() - start < 300) {
    t.wait(20);
    frames += t.read(buf, 4096);
  }
  const expected = ((performance.now() - start) / 1000) * 48000;
  expect(Math.abs(frames - expected)).toBeLessThan(48 * 30); // within 30 ms of the clock
  expect(t.status().state).toBe('running');
  t.close();
  t.close();
  expect(() => t.read(buf, 10)).toThrow('closed');
});
