/**
 * Signal helpers shared by hark's tests: make test tones, measure what came out (frequency,
 * level, SNR), and decode files with reference decoders (ffmpeg, opusdec).
 *
 * Conventions: samples are float in [-1, 1], multichannel buffers are interleaved, the rate
 * defaults to 48 kHz, and levels follow AES17: a full-scale sine reads 0 dBFS, so
 * `rmsDbfs(sine({ dbfs: -6 }))` ≈ -6.
 */
import { SAMPLE_RATE } from '../../src/audio/format.ts';

export interface SineOptions {
  frequency: number;
  /** Peak level; 0 dBFS = amplitude 1.0. */
  dbfs: number;
  seconds: number;
  channels?: number;
  rate?: number;
  /** Start phase, radians. */
  phase?: number;
}

/** A sine, the same on every channel, as interleaved float samples. */
export function sine({ frequency, dbfs, seconds, channels = 1, rate = SAMPLE_RATE, phase = 0 }: SineOptions): Float32Array {
  const frames = Math.round(seconds * rate);
  const out = new Float32Array(frames * channels);
  const amp = 10 ** (dbfs / 20);
  const w = (2 * Math.PI * frequency) / rate;
  for (let n = 0; n < frames; n++) {
    const v = amp * Math.sin(w * n + phase);
    for (let c = 0; c < channels; c++) out[n * channels + c] = v;
  }
  return out;
}

/** One channel of an interleaved buffer, as a new array. */
export function channel(samples: Float32Array, channels: number, index: number): Float32Array {
  const frames = Math.floor(samples.length / channels);
  const out = new Float32Array(frames);
  for (let n = 0; n < frames; n++) out[n] = samples[n * channels + index]!;
  return out;
}

/** Frames `[from, to)` in seconds of an interleaved buffer (a view, no copy). */
export function window(samples: Float32Array, channels: number, fromSeconds: number, toSeconds?: number, rate = SAMPLE_RATE): Float32Array {
  const frames = samples.length / channels;
  const a = Math.min(frames, Math.max(0, Math.round(fromSeconds * rate)));
  const b = toSeconds === undefined ? frames : Math.min(frames, Math.max(a, Math.round(toSeconds * rate)));
  return samples.subarray(a * channels, b * channels);
}

/** RMS level in dBFS per AES17 (RMS + 3.01 dB, so a full-scale sine is 0 dBFS); -Infinity for silence. */
export function rmsDbfs(samples: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  return 10 * Math.log10((2 * sum) / samples.length);
}

/** Sample peak in dBFS (no inter-sample peaks); -Infinity for silence. */
export function peakDbfs(samples: Float32Array): number {
  let peak = 0;
  for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i]!));
  return 20 * Math.log10(peak);
}

/** In-place radix-2 complex FFT; re/im lengths a power of two. */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
        const ncr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = ncr;
      }
    }
  }
}

function hann(samples: Float32Array): Float64Array {
  const n = samples.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = samples[i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)));
  return out;
}

/** Power of the DTFT of x at `freq` (Goertzel, which is exact at any frequency, not just bins). */
function dtftPower(x: Float64Array, freq: number, rate: number): number {
  const w = (2 * Math.PI * freq) / rate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < x.length; i++) {
    const s0 = x[i]! + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}

/** Golden-section search for the peak of the Hann-windowed spectrum within [lo, hi] Hz. */
function refinePeak(windowed: Float64Array, rate: number, lo: number, hi: number): number {
  const g = (Math.sqrt(5) - 1) / 2;
  let a = lo;
  let b = hi;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = dtftPower(windowed, c, rate);
  let fd = dtftPower(windowed, d, rate);
  while (b - a > 1e-6) {
    if (fc > fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = dtftPower(windowed, c, rate);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = dtftPower(windowed, d, rate);
    }
  }
  return (a + b) / 2;
}

/**
 * The frequency of the strongest spectral peak of a mono signal, in Hz. A zero-padded FFT
 * finds the peak bin; a golden-section search of the Hann-windowed DTFT inside that peak's
 * main lobe refines it. For a clean tone of ≥ 0.5 s the error is far below 0.01 Hz.
 */
export function dominantFrequency(samples: Float32Array, rate = SAMPLE_RATE): number {
  const n = samples.length;
  if (n < 16) throw new RangeError(`dominantFrequency: ${n} samples is too short`);
  const windowed = hann(samples);
  let size = 1;
  while (size < n) size <<= 1;
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  re.set(windowed);
  fft(re, im);
  let best = 1;
  let bestPower = -1;
  for (let k = 1; k < size / 2; k++) {
    const p = re[k]! * re[k]! + im[k]! * im[k]!;
    if (p > bestPower) {
      bestPower = p;
      best = k;
    }
  }
  // The Hann main lobe is ±2 bins of n samples wide, so ±1 padded bin around the peak bin
  // holds the true peak and nothing but the lobe: the search is unimodal there.
  const bin = rate / size;
  return refinePeak(windowed, rate, Math.max(0, (best - 1) * bin), (best + 1) * bin);
}

/** A least-squares fit of A·sin(2πft + φ) + dc. */
export interface SinusoidFit {
  /** The frequency fitted, Hz (refined from the one asked for unless `refine: false`). */
  frequency: number;
  amplitude: number;
  phase: number;
  dc: number;
  /** RMS of what the sinusoid does not explain: noise plus distortion. */
  residualRms: number;
}

/**
 * Fit a sinusoid near `frequency` to a mono signal by least squares. With `refine` (default),
 * the frequency is first refined within ±1 Hann bin, so a source on a slightly different
 * clock (a real sound card) still fits.
 */
export function fitSinusoid(samples: Float32Array, rate: number, frequency: number, refine = true): SinusoidFit {
  const n = samples.length;
  let f = frequency;
  if (refine) {
    const lobe = rate / n;
    f = refinePeak(hann(samples), rate, Math.max(0, frequency - 2 * lobe), frequency + 2 * lobe);
  }
  const w = (2 * Math.PI * f) / rate;
  // Normal equations for x ≈ a·cos + b·sin + d.
  let cc = 0, ss = 0, cs = 0, c1 = 0, s1 = 0, xc = 0, xs = 0, x1 = 0;
  for (let i = 0; i < n; i++) {
    const c = Math.cos(w * i);
    const s = Math.sin(w * i);
    const x = samples[i]!;
    cc += c * c; ss += s * s; cs += c * s; c1 += c; s1 += s;
    xc += x * c; xs += x * s; x1 += x;
  }
  const m = [
    [cc, cs, c1, xc],
    [cs, ss, s1, xs],
    [c1, s1, n, x1],
  ];
  for (let col = 0; col < 3; col++) {
    let pivot = col;
    for (let r = col + 1; r < 3; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    for (let r = 0; r < 3; r++) {
      if (r === col) continue;
      const k = m[r]![col]! / m[col]![col]!;
      for (let j = col; j < 4; j++) m[r]![j]! -= k * m[col]![j]!;
    }
  }
  const a = m[0]![3]! / m[0]![0]!;
  const b = m[1]![3]! / m[1]![1]!;
  const d = m[2]![3]! / m[2]![2]!;
  let res = 0;
  for (let i = 0; i < n; i++) {
    const e = samples[i]! - (a * Math.cos(w * i) + b * Math.sin(w * i) + d);
    res += e * e;
  }
  return { frequency: f, amplitude: Math.hypot(a, b), phase: Math.atan2(a, b), dc: d, residualRms: Math.sqrt(res / n) };
}

/**
 * Signal-to-noise-and-distortion ratio of a tone near `frequency`, in dB: the fitted sinusoid's
 * power over the residual's (so it counts noise, distortion and codec artefacts alike).
 * `skipSeconds` (default 0.1) drops the start, where encoders and decoders settle.
 */
export function snrDb(samples: Float32Array, rate: number, frequency: number, options: { skipSeconds?: number; refine?: boolean } = {}): number {
  const skip = Math.round((options.skipSeconds ?? 0.1) * rate);
  const fit = fitSinusoid(samples.subarray(skip), rate, frequency, options.refine ?? true);
  return 20 * Math.log10(fit.amplitude / Math.SQRT2 / fit.residualRms);
}

async function run(cmd: string[], stdin?: Uint8Array): Promise<Uint8Array> {
  const proc = Bun.spawn(cmd, { stdin: stdin ? new Blob([stdin as BlobPart]) : 'ignore', stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).arrayBuffer(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`${cmd[0]} exited with ${code}: ${err.trim()}`);
  return new Uint8Array(out);
}

function toFloat32(bytes: Uint8Array): Float32Array {
  // A fresh ArrayBuffer from Response is aligned; copy only if a caller's view is not.
  return bytes.byteOffset % 4 === 0
    ? new Float32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 4))
    : new Float32Array(bytes.slice().buffer, 0, Math.floor(bytes.byteLength / 4));
}

/**
 * Decode a file or in-memory bytes with ffmpeg to interleaved float at 48 kHz. `channels`
 * (default 1) makes ffmpeg down- or upmix; `format` forces the demuxer (e.g. 'mp3', 'ogg').
 */
export async function decodeWithFfmpeg(
  input: Uint8Array | string,
  options: { channels?: 1 | 2; format?: string; rate?: number } = {},
): Promise<Float32Array> {
  const cmd = ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error'];
  if (options.format) cmd.push('-f', options.format);
  cmd.push('-i', typeof input === 'string' ? input : 'pipe:0');
  cmd.push('-f', 'f32le', '-ac', String(options.channels ?? 1), '-ar', String(options.rate ?? SAMPLE_RATE), 'pipe:1');
  return toFloat32(await run(cmd, typeof input === 'string' ? undefined : input));
}

/**
 * Decode an Ogg Opus file with opusdec (libopusfile: honours pre-skip and end trimming) to
 * interleaved float at 48 kHz, with the stream's channel count (2 with `forceStereo`).
 */
export async function decodeWithOpusdec(path: string, options: { forceStereo?: boolean } = {}): Promise<Float32Array> {
  const cmd = ['opusdec', '--quiet', '--float', '--rate', String(SAMPLE_RATE)];
  if (options.forceStereo) cmd.push('--force-stereo');
  cmd.push(path, '-');
  return toFloat32(await run(cmd));
}

/** A 16-bit PCM WAV file of interleaved float samples (clipped to ±1). */
export function wav16(samples: Float32Array, channels: number, rate = SAMPLE_RATE): Uint8Array {
  const data = samples.length * 2;
  const b = new Uint8Array(44 + data);
  const v = new DataView(b.buffer);
  const ascii = (o: number, s: string) => {
    for (let i = 0; i < s.length; i++) b[o + i] = s.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  v.setUint32(4, 36 + data, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true); // PCM
  v.setUint16(22, channels, true);
  v.setUint32(24, rate, true);
  v.setUint32(28, rate * channels * 2, true);
  v.setUint16(32, channels * 2, true);
  v.setUint16(34, 16, true);
  ascii(36, 'data');
  v.setUint32(40, data, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]!));
    v.setInt16(44 + 2 * i, Math.round(s * 32767), true);
  }
  return b;
}

/**
 * The level of the sinusoid at `frequency` in `samples` (Goertzel), as its peak amplitude in
 * dBFS: a sine played at −12 dBFS peak reads −12; a signal without that component reads far
 * below. For "is the test tone on air?" over short windows.
 */
export function toneDbfs(samples: Float32Array, frequency: number, rate = SAMPLE_RATE): number {
  const n = samples.length;
  if (n === 0) return -Infinity;
  const w = (2 * Math.PI * frequency) / rate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    // A Hann window, so a strong neighbour (another device's tone) does not leak in.
    const s0 = samples[i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1))) + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  // |X(f)| of a Hann-windowed sine of amplitude A is A·n/4.
  const amplitude = (Math.sqrt(Math.max(0, power)) * 4) / n;
  return 20 * Math.log10(amplitude || 1e-12);
}
