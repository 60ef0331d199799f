/**
 * FLAC as the tests check it: decoded by the real tools to integers, so a recording can be
 * compared bit for bit with what went in.
 */
import { spawnSync } from 'node:child_process';

/** Whether the `flac` command-line tool is installed (Debian package flac). */
export const HAVE_FLAC_TOOL = spawnSync('flac', ['--version']).status === 0;

/**
 * Decode a FLAC (or Ogg FLAC) file with ffmpeg to interleaved integers at the stream's own bit
 * depth (ffmpeg's s32 carries 24-bit samples shifted up by 8 bits: shifted back here).
 */
export function ffmpegInts(path: string, bits: 16 | 24, channels: number): Int32Array {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', path, '-f', bits === 16 ? 's16le' : 's32le', '-ac', String(channels), 'pipe:1'], { maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`ffmpeg could not decode ${path}: ${r.stderr}`);
  const b = r.stdout as Buffer;
  if (bits === 16) return Int32Array.from(new Int16Array(b.buffer, b.byteOffset, b.byteLength >> 1));
  const s = new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  for (let i = 0; i < s.length; i++) s[i] = s[i]! >> 8;
  return s;
}

/** Decode with the reference decoder (`flac -d`) to interleaved integers (raw, signed, little-endian). */
export function flacToolInts(path: string, bits: 16 | 24): Int32Array {
  const r = spawnSync('flac', ['-d', '-s', '-c', '--force-raw-format', '--endian=little', '--sign=signed', path], { maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`flac -d failed on ${path}: ${r.stderr}`);
  const b = r.stdout as Buffer;
  if (bits === 16) return Int32Array.from(new Int16Array(b.buffer, b.byteOffset, b.byteLength >> 1));
  const out = new Int32Array(Math.floor(b.byteLength / 3));
  for (let i = 0; i < out.length; i++) out[i] = ((b[3 * i]! | (b[3 * i + 1]! << 8) | (b[3 * i + 2]! << 16)) << 8) >> 8;
  return out;
}

/** `flac -t`: the exit code and what it said (it checks every frame's CRC). */
export function flacTest(path: string): { ok: boolean; output: string } {
  const r = spawnSync('flac', ['-t', path]);
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/**
 * The tone as ToneSource makes it (src/audio/tone.ts): the phase summed sample by sample in
 * doubles, each value stored as float32, then quantised as the FLAC encoder does (`quantise`).
 */
export function toneInts(frequency: number, dbfs: number, frames: number, quantise: (x: number) => number): Int32Array {
  const step = (2 * Math.PI * frequency) / 48000;
  const amplitude = 10 ** (dbfs / 20);
  const out = new Int32Array(frames);
  let phase = 0;
  for (let i = 0; i < frames; i++) {
    out[i] = quantise(Math.fround(amplitude * Math.sin(phase)));
    phase += step;
    if (phase > 2 * Math.PI) phase -= 2 * Math.PI;
  }
  return out;
}

/**
 * Where in `tone` the decoded interleaved `got` begins, and how many of its samples differ from
 * the tone from there (every channel carries the tone). A tone whose frequency and 48 000 are
 * coprime repeats every second, so the start matches once a second: the best match counts.
 */
export function matchTone(got: Int32Array, channels: number, tone: Int32Array): { start: number; wrong: number; firstWrong: number } {
  const frames = got.length / channels;
  const first = Array.from({ length: Math.min(64, frames) }, (_, i) => got[i * channels]!);
  let best = { start: -1, wrong: Infinity, firstWrong: -1 };
  const f0 = first[0];
  for (let n = 0; n + frames <= tone.length; n++) {
    if (tone[n] !== f0 || !first.every((v, i) => tone[n + i] === v)) continue;
    let w = 0;
    let fw = -1;
    for (let f = 0; f < frames; f++)
      for (let c = 0; c < channels; c++)
        if (got[f * channels + c] !== tone[n + f]) {
          w++;
          if (fw < 0) fw = f;
        }
    if (w < best.wrong) best = { start: n, wrong: w, firstWrong: fw };
  }
  return best;
}

/**
 * What the audio engine reports between two /api/status readings that would make a recording
 * differ from the source without any fault of the encoder: frames dropped or filled with
 * silence (a starved worker on a loaded machine), an encoder's reader falling off the bus.
 */
export function captureTrouble(before: any, after: any): number {
  const a = before?.audio ?? {};
  const b = after?.audio ?? {};
  const dropped = (x: any) => (x?.consumers ?? []).reduce((n: number, c: { dropped?: number; overruns?: number }) => n + (c.dropped ?? 0) + (c.overruns ?? 0), 0);
  return (b.discarded_frames ?? 0) - (a.discarded_frames ?? 0) + (b.stalls ?? 0) - (a.stalls ?? 0) + (b.silence_frames ?? 0) - (a.silence_frames ?? 0) + dropped(after) - dropped(before);
}
