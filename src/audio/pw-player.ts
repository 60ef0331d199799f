/**
 * Play what the box carries on a PipeWire sink (input.output_device): the receiving end of a
 * contribution link feeding the box's analogue out or a USB interface. Runs in the audio
 * worker, fed block by block from the engine's program bus (so the fallback plays here too);
 * the real-time part is the shim's playback stream (ffi/pw_shim.c, HK_MODE_PLAYBACK), which
 * takes frames from a lock-free ring this side fills (hk_write).
 *
 * The ring is kept near TARGET_MS: the sink's clock and the link's are not the same crystal,
 * so the ring's low-water mark is steered to the target by dropping or repeating single frames
 * (at most 0.4 %); 150 ms above the target it is cut back
 * at once (a stall, then a burst), and after an
 * underrun (the sink ran dry: played as silence, counted) a cushion of silence goes first.
 * PipeWire away or the sink absent: retried with backoff; never throws to the caller.
 */
import { DevState, PwConnection } from '../../ffi/pipewire.ts';
import { SAMPLE_RATE } from './format.ts';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', prefix: string, msg: string) => void;

const TARGET_MS = 40;
/** The fill is looked at, and frames dropped or repeated, once per this many frames (10 ms). */
const STEER_FRAMES = 480;
/** Most frames dropped or repeated per STEER_FRAMES. */
const MAX_STEP = 2;
/** The low-water mark is taken over this many frames written (0.5 s). */
const WINDOW_FRAMES = 24_000;
/** Most frames corrected per window: 0.4 % (a clock that far off is a broken one). */
const MAX_PER_WINDOW = 96;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 5000;

export interface PlayerStatus {
  /** 'playing' | 'waiting' (the sink is absent) | 'unavailable' (no PipeWire) | 'starting' | 'closed'. */
  state: string;
  device: string;
  message: string;
  fillMs: number;
  /** Cycles the sink found the ring short (played silence) and those frames. */
  underruns: number;
  underrunFrames: number;
  /** Frames dropped because the ring ran over twice the target (the sink's clock is slower). */
  droppedFrames: number;
  playedFrames: number;
  /** Frames the sink took per cycle (its quantum). */
  framesPerCycle: number;
  /** Single frames dropped / repeated to hold the fill at the target (clock drift). */
  trimmedFrames: number;
  paddedFrames: number;
}

export class PipewirePlayer {
  private conn: PwConnection | null = null;
  private nextAttempt = 0;
  private backoff = BACKOFF_MIN_MS;
  private dropped = 0;
  private lastError = '';
  private closed = false;
  private lastUnderruns = 0;
  private readonly target: number;
  private readonly silence: Float32Array;
  private carried = { underruns: 0, underrunFrames: 0, played: 0 };
  private sinceSteer = 0;
  private sinceWindow = 0;
  private lowWater = Infinity;
  /** Frames still to drop (+) or repeat (−) to bring the low-water mark to the target. */
  private pending = 0;
  /** Frames dropped / repeated one at a time to hold the fill at the target. */
  private trimmed = 0;
  private padded = 0;
  /** Above this the ring is cut back to the target at once (a stall, then a burst). */
  private readonly ceiling = Math.round(((TARGET_MS + 150) * SAMPLE_RATE) / 1000);

  constructor(
    readonly device: string,
    readonly channels: number,
    private readonly log: Log,
    private readonly latencyFrames = 256,
  ) {
    this.target = Math.round((TARGET_MS * SAMPLE_RATE) / 1000);
    this.silence = new Float32Array(this.target * channels);
  }

  private open(): PwConnection | null {
    if (this.conn) return this.conn;
    if (this.closed || performance.now() < this.nextAttempt) return null;
    try {
      this.conn = PwConnection.open({ mode: 'playback', target: this.device, channels: this.channels, latencyFrames: this.latencyFrames, ringFrames: 16384 });
      this.backoff = BACKOFF_MIN_MS;
      this.lastError = '';
      this.lastUnderruns = 0;
      this.log('info', 'playback', `playing on ${this.device || "PipeWire's default sink"}`);
    } catch (e) {
      this.lastError = (e as Error).message;
      this.nextAttempt = performance.now() + this.backoff;
      this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
    }
    return this.conn;
  }

  private drop(): void {
    const c = this.conn;
    this.conn = null;
    if (!c) return;
    try {
      const s = c.stats();
      this.carried.underruns += s.ringOverruns;
      this.carried.underrunFrames += s.droppedFrames;
      this.carried.played += s.frames;
    } catch {
      /* gone */
    }
    c.close();
    this.nextAttempt = performance.now() + this.backoff;
  }

  /** Queue `frames` interleaved frames (never blocks, never throws). */
  write(src: Float32Array, frames: number): void {
    const c = this.open();
    if (!c) return;
    try {
      const st = c.state();
      if (st.connLost) {
        this.lastError = 'PipeWire went away';
        this.drop();
        return;
      }
      const s = c.stats();
      const fill = s.ringFill;
      // The sink ran dry since the last write: a cushion first, so it does not at once again.
      if (s.ringOverruns > this.lastUnderruns) {
        this.lastUnderruns = s.ringOverruns;
        if (fill < this.target / 2) c.write(this.silence, this.target - fill);
      }
      // Steer by the low-water mark: the least the ring held just before a write over the last
      // WINDOW_FRAMES (a burst after a stalled wake raises the fill for a moment; the low point
      // is what keeps the sink from running dry). Above the target, frames are dropped; below
      // half of it, repeated — single frames, at most MAX_STEP per STEER_FRAMES (the clocks
      // differ by parts per million, so this is rare).
      if (fill < this.lowWater) this.lowWater = fill;
      this.sinceWindow += frames;
      if (this.sinceWindow >= WINDOW_FRAMES) {
        this.sinceWindow = 0;
        const lw = this.lowWater;
        this.lowWater = Infinity;
        this.pending = lw > this.target ? Math.min(lw - this.target, MAX_PER_WINDOW) : lw < this.target / 2 ? -Math.min(this.target / 2 - lw, MAX_PER_WINDOW) : 0;
      }
      this.sinceSteer += frames;
      const steer = this.pending !== 0 && this.sinceSteer >= STEER_FRAMES;
      if (steer) this.sinceSteer = 0;
      let n = frames;
      let from = 0;
      let repeat = 0;
      if (steer && this.pending > 0 && n > 1) {
        from = Math.min(MAX_STEP, this.pending, n - 1);
        n -= from;
        this.pending -= from;
        this.trimmed += from;
      } else if (steer && this.pending < 0 && n > 0) {
        repeat = Math.min(MAX_STEP, -this.pending);
        this.pending += repeat;
        this.padded += repeat;
      }
      if (fill + n > this.ceiling) {
        // the sink is slower than the link (or started late): back to the target at once,
        // dropping the oldest of this block, so this happens seldom rather than every block
        from = Math.min(n, fill + n - this.target);
        this.pending = 0;
        this.dropped += from;
        n -= from;
      }
      if (n > 0) {
        const taken = c.write(from ? src.subarray(from * this.channels) : src, n);
        this.dropped += n - taken;
        const last = src.subarray((from + n - 1) * this.channels, (from + n) * this.channels);
        for (let i = 0; i < repeat; i++) c.write(last, 1);
      }
    } catch (e) {
      this.lastError = (e as Error).message;
      this.drop();
    }
  }

  status(): PlayerStatus {
    const c = this.conn;
    let state = this.closed ? 'closed' : 'unavailable';
    let message = this.lastError || 'starting';
    let fillMs = 0;
    let perCycle = 0;
    const t = { ...this.carried };
    if (c) {
      try {
        const s = c.stats();
        fillMs = Math.round((s.ringFill * 1000) / SAMPLE_RATE);
        perCycle = s.framesPerCallback;
        t.underruns += s.ringOverruns;
        t.underrunFrames += s.droppedFrames;
        t.played += s.frames;
        const dev = c.state().dev;
        state = dev === DevState.Running ? 'playing' : dev === DevState.Starting ? 'starting' : 'waiting';
        message =
          state === 'playing'
            ? `playing on ${this.device || "PipeWire's default sink"}`
            : state === 'waiting'
              ? `waiting for ${this.device || 'a sink'}`
              : 'starting';
      } catch (e) {
        message = (e as Error).message;
      }
    }
    return { state, device: this.device, message, fillMs, underruns: t.underruns, underrunFrames: t.underrunFrames, droppedFrames: this.dropped, playedFrames: t.played, framesPerCycle: perCycle, trimmedFrames: this.trimmed, paddedFrames: this.padded };
  }

  close(): void {
    if (this.closed) return;
    this.drop();
    this.closed = true;
  }
}
