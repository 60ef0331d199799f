/**
 * Per-channel peak and RMS in dBFS over fixed windows. Results are written into a
 * Float32Array laid out as [peak0..peakN-1, rms0..rmsN-1, clips0..clipsN-1], which may sit
 * in a SharedArrayBuffer so the main thread reads levels without a message per window.
 */
export const SILENCE_DBFS = -120;

export class LevelMeter {
  readonly channels: number;
  private readonly windowFrames: number;
  private readonly peak: Float64Array;
  private readonly sumSq: Float64Array;
  private frames = 0;
  /** Windows completed; the main thread compares it to see fresh values. */
  windows = 0;

  constructor(
    channels: number,
    readonly out: Float32Array,
    windowFrames = 2400,
  ) {
    if (out.length < channels * 3) throw new RangeError(`level buffer needs ${channels * 3} slots`);
    this.channels = channels;
    this.windowFrames = windowFrames;
    this.peak = new Float64Array(channels);
    this.sumSq = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      out[c] = SILENCE_DBFS;
      out[channels + c] = SILENCE_DBFS;
      out[2 * channels + c] = 0;
    }
  }

  /** Feed interleaved frames. */
  write(pcm: Float32Array, frames: number): void {
    const ch = this.channels;
    let i = 0;
    for (let f = 0; f < frames; f++) {
      for (let c = 0; c < ch; c++) {
        const v = pcm[i++]!;
        const a = v < 0 ? -v : v;
        if (a > this.peak[c]!) this.peak[c] = a;
        this.sumSq[c]! += v * v;
      }
      if (++this.frames === this.windowFrames) this.publish();
    }
  }

  private publish(): void {
    const ch = this.channels;
    for (let c = 0; c < ch; c++) {
      const p = this.peak[c]!;
      this.out[c] = toDb(p);
      this.out[ch + c] = toDb(Math.sqrt(this.sumSq[c]! / this.frames));
      // A sample at or past full scale counts as a clip (the admin page shows the clip light).
      if (p >= 0.999) this.out[2 * ch + c]!++;
      this.peak[c] = 0;
      this.sumSq[c] = 0;
    }
    this.frames = 0;
    this.windows++;
  }
}

export function toDb(linear: number): number {
  return linear > 1e-6 ? 20 * Math.log10(linear) : SILENCE_DBFS;
}

/** Levels as the API shows them. */
export interface Levels {
  peak_dbfs: number[];
  rms_dbfs: number[];
  clips: number[];
}

export function readLevels(buf: Float32Array, channels: number): Levels {
  const round = (v: number) => Math.round(v * 10) / 10;
  return {
    peak_dbfs: Array.from(buf.subarray(0, channels), round),
    rms_dbfs: Array.from(buf.subarray(channels, 2 * channels), round),
    clips: Array.from(buf.subarray(2 * channels, 3 * channels)),
  };
}

/** What the page's meters show per channel: dBFS values and whether the clip light is on. */
export interface MeterView {
  peak: number[];
  rms: number[];
  hold: number[];
  clip: boolean[];
}

/** Peak hold: the highest peak stays 1.5 s, then falls 20 dB/s. Clip light: 2 s after a clip. */
export class MeterState {
  private hold: number[] = [];
  private holdAt: number[] = [];
  private clips: number[] = [];
  private clipUntil: number[] = [];
  seq = 0;
  view: MeterView = { peak: [], rms: [], hold: [], clip: [] };

  update(l: Levels, now = performance.now()): MeterView {
    const n = l.peak_dbfs.length;
    const v: MeterView = { peak: l.peak_dbfs, rms: l.rms_dbfs, hold: [], clip: [] };
    for (let c = 0; c < n; c++) {
      const p = l.peak_dbfs[c]!;
      let h = this.hold[c] ?? -120;
      const age = now - (this.holdAt[c] ?? 0);
      if (age > 1500) h -= ((age - 1500) / 1000) * 20;
      if (p >= h) {
        h = p;
        this.holdAt[c] = now;
      }
      this.hold[c] = h;
      v.hold.push(Math.max(h, p));
      if ((l.clips[c] ?? 0) > (this.clips[c] ?? 0)) this.clipUntil[c] = now + 2000;
      this.clips[c] = l.clips[c] ?? 0;
      v.clip.push((this.clipUntil[c] ?? 0) > now);
    }
    this.seq++;
    this.view = v;
    return v;
  }
}
