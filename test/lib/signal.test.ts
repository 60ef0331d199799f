import { expect, test } from 'bun:test';
import { channel, decodeWithFfmpeg, dominantFrequency, fitSinusoid, peakDbfs, rmsDbfs, sine, snrDb, wav16 } from './signal.ts';

test('dominantFrequency is accurate far below 1 Hz on 0.5 s, also between FFT bins', () => {
  for (const f of [50, 440, 440.37, 997.3, 1000, 15_000]) {
    expect(Math.abs(dominantFrequency(sine({ frequency: f, dbfs: -20, seconds: 0.5 })) - f)).toBeLessThan(0.01);
  }
});

test('dominantFrequency picks the strongest of two tones', () => {
  const a = sine({ frequency: 300, dbfs: -20, seconds: 1 });
  const b = sine({ frequency: 2000, dbfs: -6, seconds: 1 });
  expect(Math.abs(dominantFrequency(a.map((x, i) => x + b[i]!)) - 2000)).toBeLessThan(0.01);
});

test('levels follow AES17: a sine at -6 dBFS peak reads -6 dBFS RMS', () => {
  const x = sine({ frequency: 1000, dbfs: -6, seconds: 1, channels: 2 });
  expect(rmsDbfs(x)).toBeCloseTo(-6, 2);
  expect(peakDbfs(x)).toBeCloseTo(-6, 2);
  expect(rmsDbfs(new Float32Array(10))).toBe(-Infinity);
});

test('snrDb measures added noise, and refines a slightly-off frequency', () => {
  const x = sine({ frequency: 440.2, dbfs: -6, seconds: 1 });
  let seed = 7;
  const noise = 0.01; // uniform ±0.005: RMS 0.01/√12
  const noisy = x.map((v) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return v + noise * (seed / 2 ** 32 - 0.5);
  });
  const expected = 20 * Math.log10(0.5 / Math.SQRT2 / (noise / Math.sqrt(12)));
  expect(snrDb(noisy, 48_000, 440)).toBeCloseTo(expected, 0);
  expect(fitSinusoid(noisy, 48_000, 440).frequency).toBeCloseTo(440.2, 2);
  // Without refinement a 0.2 Hz error over 1 s wrecks the fit: the reason refine is the default.
  expect(snrDb(noisy, 48_000, 440, { refine: false })).toBeLessThan(20);
});

test('decodeWithFfmpeg round-trips a 16-bit WAV (≈ 92 dB SNR, the 16-bit limit at -6 dBFS)', async () => {
  const x = sine({ frequency: 1000, dbfs: -6, seconds: 0.5, channels: 2 });
  const y = await decodeWithFfmpeg(wav16(x, 2), { channels: 2 });
  expect(y.length).toBe(x.length);
  expect(snrDb(channel(y, 2, 1), 48_000, 1000)).toBeGreaterThan(88);
});
