/**
 * Integer-factor decimation of 48 kHz audio for the narrowband codecs (G.711 at 8 kHz, G.722
 * at 16 kHz): a linear-phase windowed-sinc low-pass, evaluated only at the output instants.
 * Dropping samples without it would fold everything above the new Nyquist frequency back into
 * the band (a 5 kHz tone would come out of G.711 at 3 kHz).
 */

/** Modified Bessel function of the first kind, order 0 (for the Kaiser window). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 64; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

/**
 * A Kaiser-windowed sinc low-pass: `taps` coefficients, cutoff `cutoffHz` at `rate`, unity gain
 * at DC. β = 8 gives about 80 dB of stopband rejection.
 */
export function lowpassTaps(taps: number, cutoffHz: number, rate: number, beta = 8): Float32Array {
  const h = new Float64Array(taps);
  const fc = cutoffHz / rate;
  const mid = (taps - 1) / 2;
  const i0b = besselI0(beta);
  let sum = 0;
  for (let n = 0; n < taps; n++) {
    const t = n - mid;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const r = (2 * n) / (taps - 1) - 1;
    const w = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0b;
    h[n] = sinc * w;
    sum += h[n]!;
  }
  const out = new Float32Array(taps);
  for (let n = 0; n < taps; n++) out[n] = h[n]! / sum;
  return out;
}

/** The filter hark uses for each decimation factor from 48 kHz. */
const DESIGNS: Record<number, { taps: number; cutoffHz: number }> = {
  // 48 → 8 kHz (G.711): pass 0–3.4 kHz (the telephone band), reject from 4.3 kHz.
  6: { taps: 240, cutoffHz: 3800 },
  // 48 → 16 kHz (G.722): pass 0–7 kHz, reject from 8.6 kHz.
  3: { taps: 144, cutoffHz: 7650 },
};

/**
 * Mono decimator by an integer factor. Feed it samples one block at a time; it returns how
 * many output samples it wrote. Delay: (taps − 1) / 2 input samples (2.5 ms for 48 → 8 kHz).
 */
export class Decimator {
  readonly factor: number;
  readonly taps: Float32Array;
  /** Twice the filter length: each sample is written at i and i + N so a window is contiguous. */
  private readonly hist: Float32Array;
  private pos = 0;
  private phase = 0;

  constructor(factor: number, taps?: Float32Array) {
    const design = DESIGNS[factor];
    if (!taps && !design) throw new RangeError(`no decimation filter for factor ${factor}`);
    this.factor = factor;
    this.taps = taps ?? lowpassTaps(design!.taps, design!.cutoffHz, 48_000);
    this.hist = new Float32Array(this.taps.length * 2);
  }

  /** Decimate `n` samples of `input` into `output` (room for ⌈n / factor⌉ + 1); returns the count written. */
  process(input: Float32Array, n: number, output: Float32Array, outOffset = 0): number {
    const h = this.taps;
    const len = h.length;
    const hist = this.hist;
    let out = outOffset;
    for (let i = 0; i < n; i++) {
      const x = input[i]!;
      hist[this.pos] = x;
      hist[this.pos + len] = x;
      this.pos = this.pos + 1 === len ? 0 : this.pos + 1;
      if (++this.phase === this.factor) {
        this.phase = 0;
        // hist[pos … pos+len) is the window, oldest first; h is symmetric so direction is moot.
        let acc = 0;
        const base = this.pos;
        for (let k = 0; k < len; k++) acc += h[k]! * hist[base + k]!;
        output[out++] = acc;
      }
    }
    return out - outOffset;
  }

  reset(): void {
    this.hist.fill(0);
    this.pos = 0;
    this.phase = 0;
  }
}
