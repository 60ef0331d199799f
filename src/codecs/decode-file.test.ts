import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeFile, sniff } from './decode-file.ts';
import { Pcm48Writer } from './pcm48.ts';
import { dominantFrequency, rmsDbfs } from '../../test/lib/signal.ts';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hark-decode-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A 2 s sine made by ffmpeg at `rate` Hz with `channels`, encoded as `ext` (fixtures made at test time). */
function make(ext: string, rate: number, channels: number, frequency: number, extra: string[] = []): string {
  const path = join(dir, `tone-${rate}-${channels}-${frequency}.${ext}`);
  const r = Bun.spawnSync(
    ['ffmpeg', '-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=${frequency}:sample_rate=${rate}:duration=2`, '-ac', String(channels), ...extra, path],
    { stderr: 'pipe' },
  );
  if (r.exitCode !== 0) throw new Error(`ffmpeg: ${r.stderr.toString()}`);
  return path;
}

function decode(path: string, channels = 2) {
  const w = new Pcm48Writer(channels, 48_000 * 60);
  const format = decodeFile(new Uint8Array(readFileSync(path)), w);
  const r = w.finish();
  const pcm = new Int16Array(r.pcm);
  const left = new Float32Array(r.frames);
  for (let f = 0; f < r.frames; f++) left[f] = pcm[f * channels]! / 32768;
  return { format, frames: r.frames, left, r };
}

// Each format at a rate that needs resampling and one that does not; mono and stereo.
const CASES: { ext: string; rate: number; channels: number; extra?: string[]; format: string; tolFrames: number }[] = [
  { ext: 'wav', rate: 48000, channels: 2, format: 'wav', tolFrames: 2 },
  { ext: 'wav', rate: 44100, channels: 1, extra: ['-c:a', 'pcm_s24le'], format: 'wav', tolFrames: 2 },
  { ext: 'wav', rate: 22050, channels: 2, extra: ['-c:a', 'pcm_f32le'], format: 'wav', tolFrames: 3 },
  { ext: 'flac', rate: 44100, channels: 2, format: 'flac', tolFrames: 2 },
  { ext: 'flac', rate: 48000, channels: 1, extra: ['-sample_fmt', 's32'], format: 'flac', tolFrames: 2 },
  { ext: 'opus', rate: 48000, channels: 2, extra: ['-c:a', 'libopus', '-b:a', '96k'], format: 'ogg-opus', tolFrames: 2 },
  { ext: 'opus', rate: 48000, channels: 1, extra: ['-c:a', 'libopus', '-b:a', '64k'], format: 'ogg-opus', tolFrames: 2 },
  { ext: 'mp3', rate: 44100, channels: 2, extra: ['-c:a', 'libmp3lame', '-b:a', '128k'], format: 'mp3', tolFrames: 2000 },
  { ext: 'mp3', rate: 48000, channels: 1, extra: ['-c:a', 'libmp3lame', '-b:a', '64k'], format: 'mp3', tolFrames: 2000 },
];

describe('decodeFile: each format to 48 kHz', () => {
  for (const c of CASES) {
    test(`${c.ext} ${c.rate} Hz ${c.channels} ch${c.extra ? ' ' + c.extra.join(' ') : ''}: 2 s of the 997 Hz tone`, () => {
      const path = make(c.ext, c.rate, c.channels, 997, c.extra);
      const d = decode(path);
      expect(d.format as string).toBe(c.format);
      expect(Math.abs(d.frames - 96_000)).toBeLessThanOrEqual(c.tolFrames);
      const mid = d.left.subarray(24_000, 72_000);
      expect(Math.abs(dominantFrequency(mid) - 997)).toBeLessThan(0.5);
      // ffmpeg's sine is at 1/8 full scale (-18.1 dBFS as rmsDbfs counts a sine); its upmix to stereo takes 3 dB.
      expect(Math.abs(rmsDbfs(mid) - (c.channels === 1 ? -18.06 : -21.07))).toBeLessThan(0.5);
    });
  }

  test('a mono file fills both channels of a stereo bus; a stereo file keeps its first channel on a mono bus', () => {
    const mono = decode(make('wav', 48000, 1, 500));
    const p = new Int16Array(mono.r.pcm);
    expect(p[2000]).toBe(p[2001]!);
    const stereo = decode(make('flac', 48000, 2, 500), 1);
    expect(stereo.frames).toBe(96_000);
  });

  test('the cap: decoding stops at maxFrames and says it was truncated', () => {
    const w = new Pcm48Writer(2, 48_000);
    decodeFile(new Uint8Array(readFileSync(make('flac', 44100, 2, 700))), w);
    expect(w.finish().frames).toBe(48_000);
    expect(w.truncated).toBe(true);
  });

  test('sniff tells the four formats apart by their first bytes, nothing else', () => {
    expect(sniff(new TextEncoder().encode('RIFF\0\0\0\0WAVE'))).toBe('wav');
    expect(sniff(new TextEncoder().encode('fLaC'))).toBe('flac');
    expect(sniff(new TextEncoder().encode('OggS'))).toBe('ogg-opus');
    expect(sniff(new TextEncoder().encode('ID3\x04'))).toBe('mp3');
    expect(sniff(new Uint8Array([0xff, 0xfb, 0x90, 0x00]))).toBe('mp3');
    expect(sniff(new TextEncoder().encode('<html>'))).toBeUndefined();
  });
});
