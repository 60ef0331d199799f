import { expect, test } from 'bun:test';
import { LevelMeter, MeterState, readLevels, SILENCE_DBFS } from './meter.ts';

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

test('the admin meters: peak hold stays 1.5 s then falls 20 dB/s; the clip light stays 2 s after a clip', () => {
  const m = new MeterState();
  const at = (peak: number, clips: number, now: number) => m.update({ peak_dbfs: [peak], rms_dbfs: [peak - 3], clips: [clips] }, now);
  expect(at(-6, 0, 1000)).toEqual({ peak: [-6], rms: [-9], hold: [-6], clip: [false] });
  expect(at(-30, 0, 2400).hold).toEqual([-6]); // held
  expect(at(-30, 0, 3000).hold[0]).toBeCloseTo(-6 - 10, 5); // 0.5 s past the hold: 10 dB lower
  expect(at(-30, 1, 3100).clip).toEqual([true]);
  expect(at(-30, 1, 5000).clip).toEqual([true]);
  expect(at(-30, 1, 5200).clip).toEqual([false]);
  expect(m.seq).toBe(6);
  expect(m.view.peak).toEqual([-30]);
});
