/**
 * Decoded audio as the fallback loop keeps it: 48 kHz, the bus's channel count, 16-bit, in
 * shared memory. Decoders push interleaved float blocks at their own rate and channel count;
 * this resamples them (windowed-sinc, polyphase) and maps the channels as the engine does
 * (mono to both sides, extra channels dropped). Runs at load, never on the audio path.
 */

/** A decoder refused a file: `reason` says why, in words for the page. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

/** Where a decoder puts its audio. `write` returns false once no more is wanted (the cap). */
export interface PcmSink {
  format(rate: number, channels: number): void;
  write(interleaved: Float32Array, frames: number): boolean;
}

const OUT_RATE = 48_000;
/** Taps on each side of the interpolation point (input samples). */
const HALF_TAPS = 16;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export const MIN_RATE = 8000;
export const MAX_RATE = 384_000;

/** Collects decoded audio as 48 kHz 16-bit PCM with `channels` channels, up to `maxFrames`. */
export class Pcm48Writer implements PcmSink {
  private rate = 0;
  private inCh = 0;
  private out: Int16Array;
  private frames = 0;
  /** Resampler state: L/M, the kernel per phase, the pending input (per channel). */
  private up = 1;
  private down = 1;
  private kernel: Float32Array = new Float32Array(0);
  private hist: Float32Array[] = [];
  private histLen = 0;
  /** Absolute input index of hist[*][0]; the next output sample's index. */
  private histBase = 0;
  private nextOut = 0;
  private inTotal = 0;
  /** The cap was reached (more audio was offered than kept). */
  truncated = false;

  constructor(
    readonly channels: number,
    readonly maxFrames: number,
  ) {
    this.out = new Int16Array(Math.min(maxFrames, OUT_RATE * 10) * channels);
  }

  format(rate: number, channels: number): void {
    if (!Number.isInteger(rate) || rate < MIN_RATE || rate > MAX_RATE) throw new DecodeError(`sample rate ${rate} Hz is not supported (${MIN_RATE}–${MAX_RATE})`);
    if (!Number.isInteger(channels) || channels < 1 || channels > 8) throw new DecodeError(`${channels} channels is not supported (1–8)`);
    if (this.rate !== 0) {
      if (rate !== this.rate || channels !== this.inCh) throw new DecodeError(`the format changes in the middle (${this.rate} Hz → ${rate} Hz, ${this.inCh} → ${channels} channels)`);
      return;
    }
    this.rate = rate;
    this.inCh = channels;
    const g = gcd(OUT_RATE, rate);
    this.up = OUT_RATE / g;
    this.down = rate / g;
    if (rate !== OUT_RATE) {
      // Cut-off below the lower of the two Nyquist frequencies (a little margin for the window).
      const fc = Math.min(1, OUT_RATE / rate) * 0.95;
      const L = this.up;
      const taps = 2 * HALF_TAPS;
      this.kernel = new Float32Array(L * taps);
      for (let p = 0; p < L; p++) {
        const frac = p / L;
        for (let j = 0; j < taps; j++) {
          const x = j - HALF_TAPS + 1 - frac; // input offset from the interpolation point
          const w = 0.42 + 0.5 * Math.cos((Math.PI * x) / HALF_TAPS) + 0.08 * Math.cos((2 * Math.PI * x) / HALF_TAPS); // Blackman
          const sx = fc * x;
          const sinc = sx === 0 ? 1 : Math.sin(Math.PI * sx) / (Math.PI * sx);
          this.kernel[p * taps + j] = Math.abs(x) >= HALF_TAPS ? 0 : fc * sinc * w;
        }
      }
      this.hist = Array.from({ length: channels }, () => new Float32Array(8192));
      // Start with HALF_TAPS - 1 zeros of history, so output 0 lines up with input 0.
      this.histLen = HALF_TAPS - 1;
      this.histBase = -(HALF_TAPS - 1);
    }
  }

  write(src: Float32Array, frames: number): boolean {
    if (this.rate === 0) throw new DecodeError('audio before its format');
    if (this.full) {
      if (frames > 0) this.truncated = true;
      return false;
    }
    if (this.rate === OUT_RATE) {
      let f = 0;
      for (; f < frames && !this.full; f++) this.put(src, f * this.inCh);
      if (f < frames) this.truncated = true;
      return !this.full;
    }
    this.append(src, frames);
    this.produce(false);
    if (this.full) this.truncated = true;
    return !this.full;
  }

  private get full(): boolean {
    return this.frames >= this.maxFrames;
  }

  private append(src: Float32Array, frames: number): void {
    const need = this.histLen + frames;
    if (need > this.hist[0]!.length) {
      const size = Math.max(need, this.hist[0]!.length * 2);
      this.hist = this.hist.map((h) => {
        const n = new Float32Array(size);
        n.set(h.subarray(0, this.histLen));
        return n;
      });
    }
    for (let c = 0; c < this.inCh; c++) {
      const h = this.hist[c]!;
      for (let f = 0; f < frames; f++) h[this.histLen + f] = src[f * this.inCh + c]!;
    }
    this.histLen += frames;
    this.inTotal += frames;
  }

  /** Make every output sample whose taps are all in; `flush`: pad the end with zeros. */
  private produce(flush: boolean): void {
    const L = this.up;
    const M = this.down;
    const taps = 2 * HALF_TAPS;
    const frame = new Float32Array(this.inCh);
    const end = flush ? Math.ceil((this.inTotal * L) / M) : Infinity;
    for (;;) {
      if (this.full || this.nextOut >= end) break;
      const t = this.nextOut * M;
      const i = Math.floor(t / L);
      const p = t - i * L;
      const first = i - HALF_TAPS + 1 - this.histBase;
      if (!flush && first + taps > this.histLen) break;
      for (let c = 0; c < this.inCh; c++) {
        const h = this.hist[c]!;
        let acc = 0;
        for (let j = 0; j < taps; j++) {
          const k = first + j;
          if (k >= 0 && k < this.histLen) acc += h[k]! * this.kernel[p * taps + j]!;
        }
        frame[c] = acc;
      }
      this.put(frame, 0);
      this.nextOut++;
    }
    // Drop input no later output reaches.
    const i = Math.floor((this.nextOut * M) / L);
    const drop = Math.max(0, i - HALF_TAPS + 1 - this.histBase);
    if (drop > 0 && drop <= this.histLen) {
      for (const h of this.hist) h.copyWithin(0, drop, this.histLen);
      this.histLen -= drop;
      this.histBase += drop;
    }
  }

  private put(src: Float32Array, at: number): void {
    const ch = this.channels;
    if ((this.frames + 1) * ch > this.out.length) {
      const n = new Int16Array(Math.min(this.maxFrames, Math.max(this.frames + 1, this.frames * 2)) * ch);
      n.set(this.out.subarray(0, this.frames * ch));
      this.out = n;
    }
    const o = this.frames * ch;
    for (let c = 0; c < ch; c++) {
      const v = src[at + (c < this.inCh ? c : this.inCh - 1)]!;
      const s = Math.round((v > 1 ? 1 : v < -1 ? -1 : Number.isNaN(v) ? 0 : v) * 32767);
      this.out[o + c] = s;
    }
    this.frames++;
  }

  /** The PCM in shared memory (the worker reads it without a copy); flushes the resampler. */
  finish(): { pcm: SharedArrayBuffer; frames: number; sourceRate: number; sourceChannels: number } {
    if (this.rate !== 0 && this.rate !== OUT_RATE) this.produce(true);
    const bytes = this.frames * this.channels * 2;
    const pcm = new SharedArrayBuffer(bytes);
    new Int16Array(pcm).set(this.out.subarray(0, this.frames * this.channels));
    return { pcm, frames: this.frames, sourceRate: this.rate, sourceChannels: this.inCh };
  }
}
