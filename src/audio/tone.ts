import { SAMPLE_RATE } from './format.ts';
import type { AudioSource, SourceState, SourceStatus } from './source.ts';

/**
 * A sine test tone, paced by the monotonic clock so it runs at exactly 48 kHz of wall time
 * (like a capture device would), or off by `clockPpm` parts per million as a real device's
 * crystal is. `wait()` sleeps the worker thread until a block is due.
 */
export class ToneSource implements AudioSource {
  readonly kind = 'tone' as const;
  readonly channels: number;
  private _state: SourceState = 'starting';
  private phase = 0;
  private readonly step: number;
  private readonly amplitude: number;
  private startNs = 0n;
  private produced = 0;
  /** Frames per second of wall time: 48 000, unless the clock is set off. */
  private readonly rate: number;
  /** Slept on; the urgent flag (setUrgentFlag) when there is one. */
  private sleeper: Int32Array = new Int32Array(new SharedArrayBuffer(4));

  constructor(
    readonly options: { channels: number; frequency: number; levelDbfs: number; blockFrames?: number; clockPpm?: number },
  ) {
    this.channels = options.channels;
    this.rate = SAMPLE_RATE * (1 + (options.clockPpm ?? 0) / 1e6);
    this.step = (2 * Math.PI * options.frequency) / SAMPLE_RATE;
    this.amplitude = 10 ** (options.levelDbfs / 20);
  }

  get state(): SourceState {
    return this._state;
  }

  start(): void {
    this.assertOpen();
    this.startNs = process.hrtime.bigint();
    this.produced = 0;
    this._state = 'running';
  }

  close(): void {
    this._state = 'closed';
  }

  /** Frames due by the clock and not yet read. */
  private due(): number {
    const elapsedNs = process.hrtime.bigint() - this.startNs;
    return Math.floor((Number(elapsedNs) * this.rate) / 1e9) - this.produced;
  }

  wait(timeoutMs: number, minFrames?: number): boolean {
    this.assertOpen();
    const block = minFrames ?? this.options.blockFrames ?? 960;
    const missing = block - this.due();
    if (missing > 0) {
      const ms = Math.min(timeoutMs, (missing * 1000) / this.rate);
      Atomics.wait(this.sleeper, 0, 0, ms); // returns at once, or when notified, while the flag is up
    }
    return this.due() > 0;
  }

  setUrgentFlag(flag: Int32Array): void {
    this.sleeper = flag;
  }

  read(dst: Float32Array, maxFrames: number): number {
    this.assertOpen();
    const ch = this.channels;
    const n = Math.min(this.due(), maxFrames, Math.floor(dst.length / ch));
    if (n <= 0) return 0;
    let i = 0;
    for (let f = 0; f < n; f++) {
      const v = this.amplitude * Math.sin(this.phase);
      this.phase += this.step;
      if (this.phase > 2 * Math.PI) this.phase -= 2 * Math.PI;
      for (let c = 0; c < ch; c++) dst[i++] = v;
    }
    this.produced += n;
    return n;
  }

  status(): SourceStatus {
    return {
      kind: 'tone',
      state: this._state,
      message: `test tone ${this.options.frequency} Hz at ${this.options.levelDbfs} dBFS`,
      device: '',
      format: { rate: SAMPLE_RATE, channels: this.channels, sampleFormat: 'f32' },
      stats: { frames: this.produced },
    };
  }

  private assertOpen(): void {
    if (this._state === 'closed') throw new Error('tone source is closed');
  }
}
