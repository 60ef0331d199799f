import { expect, test } from 'bun:test';
import { LevelMeter, readLevels, SILENCE_DBFS } from './meter.ts';

test('peak and RMS of a -12 dBFS sine are -12 and -15.0 dBFS; silence is the floor', () => {
  const out = new Float32Array(6);
  const m = new LevelMeter(2, out, 4800);
  const a = 10 ** (-12 / 20);
  const pcm = new Float32Array(4800 * 2);
  for (let f = 0; f < 4800; f++) {
    pcm[f * 2] = a * Math.sin((2 * Math.PI * 1000 * f) / 48000);
    pcm[f * 2 + 1] = 0;
  }
  m.write(pcm, 4800);
  const l = readLevels(out, 2);
  expect(l.peak_dbfs[0]).toBeCloseTo(-12, 1);
  expect(l.rms_dbfs[0]).toBeCloseTo(-12 - 3.01, 1);
  expect(l.peak_dbfs[1]).toBe(SILENCE_DBFS);
  expect(l.clips).toEqual([0, 0]);
  pcm.fill(1);
  m.write(pcm, 4800);
  expect(readLevels(out, 2).clips).toEqual([1, 1]);
});
