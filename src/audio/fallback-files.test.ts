import { afterAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFallbackFiles, smoothJoins } from './fallback-files.ts';
import type { FallbackClip } from './fallback.ts';

const dir = mkdtempSync(join(tmpdir(), 'hark-fbfiles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('the decode thread reports each missing, unreadable or broken file by name with its reason; the good ones load', async () => {
  const good = join(dir, 'good.ogg');
  const r = Bun.spawnSync(['ffmpeg', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1.5', '-c:a', 'libopus', good]);
  expect(r.exitCode).toBe(0);
  const wav = join(dir, 'cut.wav');
  Bun.spawnSync(['ffmpeg', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', wav]);
  writeFileSync(wav, readFileSync(wav).subarray(0, 20_000));
  writeFileSync(join(dir, 'garbage.mp3'), new Uint8Array(30_000).map((_, i) => (i * 7919) & 0xff));
  writeFileSync(join(dir, 'text.flac'), 'not audio at all');
  mkdirSync(join(dir, 'folder.wav'));
  const names = ['missing.flac', 'folder.wav', 'garbage.mp3', 'text.flac', 'cut.wav', 'good.ogg'].map((n) => join(dir, n));
  const reports = await loadFallbackFiles(names, 2);
  expect(reports.map(({ clip: _c, ...x }) => x)).toEqual([
    { name: names[0]!, state: 'missing', message: 'no such file', seconds: 0 },
    { name: names[1]!, state: 'error', message: 'cannot read it: not a regular file', seconds: 0 },
    { name: names[2]!, state: 'error', message: 'cannot decode it: not a WAV, FLAC, Ogg/Opus or MP3 file', seconds: 0 },
    { name: names[3]!, state: 'error', message: 'cannot decode it: not a WAV, FLAC, Ogg/Opus or MP3 file', seconds: 0 },
    { name: names[4]!, state: 'error', message: expect.stringMatching(/^cannot decode it: cut short: the data chunk holds \d+ of \d+ bytes$/), seconds: 0 },
    { name: names[5]!, state: 'ok', message: '', seconds: 1.5, format: 'ogg-opus' },
  ]);
  const clip = reports[5]!.clip!;
  // 1.5 s, less the 50 ms the loop's cross-fade folds into its start (smoothJoins).
  expect(clip.name).toBe('good.ogg');
  expect(clip.frames).toBe(72_000 - 2400);
  expect(clip.pcm).toBeInstanceOf(SharedArrayBuffer);
}, 60_000);

describe('the loop plays without a click at its joins', () => {
  /** A clip of a 441 Hz sine (-6 dBFS) that ends mid-cycle: its end does not meet its start. */
  function sineClip(name: string, frames: number, hz: number, channels: number): FallbackClip {
    const pcm = new Int16Array(new SharedArrayBuffer(frames * channels * 2));
    for (let i = 0; i < frames; i++) for (let ch = 0; ch < channels; ch++) pcm[i * channels + ch] = Math.round(16384 * Math.sin((2 * Math.PI * hz * i) / 48000));
    return { name, pcm: pcm.buffer as SharedArrayBuffer, frames };
  }
  /** The largest step between two frames, on channel 0, over the loop played twice. */
  function largestStep(clips: FallbackClip[], channels: number): { step: number; at: number } {
    const seq: number[] = [];
    for (let k = 0; k < 2; k++) for (const c of clips) { const p = new Int16Array(c.pcm); for (let i = 0; i < c.frames; i++) seq.push(p[i * channels]!); }
    let step = 0;
    let at = 0;
    for (let i = 1; i < seq.length; i++) if (Math.abs(seq[i]! - seq[i - 1]!) > step) [step, at] = [Math.abs(seq[i]! - seq[i - 1]!), i];
    return { step, at };
  }
  // A 441 Hz sine at 16384 moves at most 2π·441/48000·16384 ≈ 946 a frame.
  const SINE_STEP = Math.ceil(2 * Math.PI * 441 / 48000 * 16384);

  test('one file: its last 50 ms cross-fade into its start; no step larger than the sine\'s own', () => {
    const c = sineClip('loop.flac', 48000 + 123, 441, 2);
    expect(largestStep([c], 2).step).toBeGreaterThan(4 * SINE_STEP); // the click there was
    smoothJoins([c], 2);
    expect(c.frames).toBe(48000 + 123 - 2400);
    // An equal-power fade of two unrelated phases sums to at most √2 of the level for a moment.
    expect(largestStep([c], 2).step).toBeLessThanOrEqual(Math.SQRT2 * SINE_STEP + 2);
  });
  test('several files: each fades in and out over 5 ms, so a join is a short dip, not a step', () => {
    const a = sineClip('a.wav', 4800 + 77, 441, 1);
    const b = sineClip('b.wav', 4800 + 31, 441, 1);
    smoothJoins([a, b], 1);
    for (const c of [a, b]) {
      const p = new Int16Array(c.pcm);
      expect(Math.abs(p[0]!)).toBeLessThan(200);
      expect(Math.abs(p[c.frames - 1]!)).toBeLessThan(200);
    }
    expect(largestStep([a, b], 1).step).toBeLessThanOrEqual(SINE_STEP + 2);
  });
});
