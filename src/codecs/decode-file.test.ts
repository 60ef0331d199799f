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

describe('hostile files: decodeFile refuses with a reason or decodes, never crashes', () => {
  /** Deterministic "random" bytes. */
  function noise(n: number, seed: number): Uint8Array {
    const b = new Uint8Array(n);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b[i] = x & 0xff;
    }
    return b;
  }
  const FORMATS: [string, string[]][] = [
    ['wav', []],
    ['flac', []],
    ['opus', ['-c:a', 'libopus']],
    ['mp3', ['-c:a', 'libmp3lame']],
  ];
  for (const [ext, extra] of FORMATS) {
    test(`${ext}: cut short, header only, garbage after the magic, bytes flipped`, () => {
      const good = new Uint8Array(readFileSync(make(ext, 44100, 2, 440, extra)));
      const flipped = good.slice();
      const rnd = noise(200, 7);
      for (let i = 0; i < 100; i++) flipped[200 + ((rnd[i]! * 977 + i * 131) % (good.length - 400))] ^= rnd[100 + i]! | 1;
      const cases: Record<string, Uint8Array> = {
        cut: good.subarray(0, Math.floor(good.length * 0.4)),
        header: good.subarray(0, 64),
        garbage: new Uint8Array([...good.subarray(0, 4), ...noise(20_000, 3)]),
        flipped,
        empty: new Uint8Array(0),
      };
      for (const [what, bytes] of Object.entries(cases)) {
        const w = new Pcm48Writer(2, 48_000 * 10);
        let err: Error | undefined;
        try {
          decodeFile(bytes, w);
        } catch (e) {
          err = e as Error;
        }
        // Either a reason or audio; an MP3 cut short has no length to compare, so it plays what it has.
        if (err) expect(err.message.length, `${ext} ${what}`).toBeGreaterThan(5);
        else expect(w.finish().frames, `${ext} ${what}`).toBeGreaterThan(0);
        // What must be refused (the brief: reported by name, not played): these never decode silently.
        if (what === 'header' || what === 'garbage' || what === 'empty') expect(err, `${ext} ${what}`).toBeDefined();
        if (what === 'cut' && ext !== 'mp3') expect(err?.message, `${ext} ${what}`).toMatch(/cut short|damaged|CRC/);
      }
    });
  }
});
