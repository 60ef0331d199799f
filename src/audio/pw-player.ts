/**
 * Play what the box carries on a PipeWire sink (input.output_device): the receiving end of a
 * contribution link feeding the box's analogue out or a USB interface. Runs in the audio
 * worker, fed block by block from the engine's program bus (so the fallback plays here too);
 * the real-time part is the shim's playback stream (ffi/pw_shim.c, HK_MODE_PLAYBACK), which
 * takes frames from a lock-free ring this side fills (hk_write).
 *
 * The ring is kept as short as it can be without running dry: what matters is its low-water
 * mark, the least it held just before a write over half a second (the audio worker writes in
 * blocks, the sink takes a quantum a cycle; the low point is the real safety margin). That mark
 * is steered to `margin` (MARGIN_START_MS at first) by dropping or repeating single frames (at
 * most 0.4 %: the sink's clock and the link's are not the same crystal). What stands over the
 * margin when the sink starts, or after a stall and a burst, is cut at once in the first
 * seconds (nothing was on air yet) or when it is more than CUT_OVER_MS. An underrun (the sink
 * ran dry: played as silence, counted) of audio that came late by less than the widest margin
 * would cover (not a feed that stopped) raises the margin by MARGIN_STEP_MS, up to
 * MARGIN_MAX_MS, and a cushion of silence up to it goes first: a loaded box settles at the
 * margin it needs, a quiet one keeps a few ms.
 * PipeWire away or the sink absent: retried with backoff; never throws to the caller.
 */
import { DevState, PwConnection } from '../../ffi/pipewire.ts';
import { SAMPLE_RATE } from './format.ts';
import { traceOnset } from './trace.ts';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', prefix: string, msg: string) => void;

/** The low-water mark the ring is steered to at first, what an underrun adds, and the most. */
const MARGIN_START_MS = 4;
const MARGIN_STEP_MS = 8;
const MARGIN_MAX_MS = 80;
/** For this long after the sink starts, anything over the margin is cut at once. */
const SETTLE_MS = 3000;
/** Later, more than this over the margin (a stall, then a burst) is cut at once too. */
const CUT_OVER_MS = 60;
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
  /** Frames dropped at once: what stood over the margin at the start or after a burst. */
  droppedFrames: number;
  /** The low-water mark the ring is kept at now (ms): grows by a step with each underrun. */
  marginMs: number;
  playedFrames: number;
  /** Frames the sink took per cycle (its quantum). */
  framesPerCycle: number;
  /** Single frames dropped / repeated to hold the low-water mark at the margin (clock drift). */
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
  /** The shim's count of frames the sink found missing, at the last look. */
  private lastDryFrames = 0;
  /** The low-water mark steered to (frames). */
  private margin: number;
  private readonly silence: Float32Array;
  /** When the sink was seen running first since (re)opening (performance.now(); 0: not yet). */
  private runningSince = 0;
  private carried = { underruns: 0, underrunFrames: 0, played: 0 };
  private sinceSteer = 0;
  private sinceWindow = 0;
  private lowWater = Infinity;
  /** Frames still to drop (+) or repeat (−) to bring the low-water mark to the margin. */
  private pending = 0;
  /** Frames still to drop from the next blocks (a cut longer than one block). */
  private debt = 0;
  /** Frames dropped / repeated one at a time to hold the low-water mark at the margin. */
  private trimmed = 0;
  private padded = 0;

  constructor(
    readonly device: string,
    readonly channels: number,
    private readonly log: Log,
    private readonly latencyFrames = 256,
  ) {
    this.margin = msFrames(MARGIN_START_MS);
    this.silence = new Float32Array(msFrames(MARGIN_MAX_MS) * channels);
  }

  private open(): PwConnection | null {
    if (this.conn) return this.conn;
    if (this.closed || performance.now() < this.nextAttempt) return null;
    try {
      this.conn = PwConnection.open({ mode: 'playback', target: this.device, channels: this.channels, latencyFrames: this.latencyFrames, ringFrames: 16384 });
      this.backoff = BACKOFF_MIN_MS;
      this.lastError = '';
      this.lastUnderruns = 0;
      this.lastDryFrames = 0;
      this.runningSince = 0;
      this.lowWater = Infinity;
      this.sinceWindow = 0;
      this.pending = 0;
      this.debt = 0;
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
      const now = performance.now();
      if (!this.runningSince && st.dev === DevState.Running) this.runningSince = now;
      const settling = !this.runningSince || now - this.runningSince < SETTLE_MS;
      // The sink ran dry since the last write: a wider margin from now on, and a cushion up to
      // it first, so that it does not at once again. Only for audio that came late by less than
      // the widest margin would cover: a feed that stopped for longer (a link lost, a sender
      // restarted) is no reason to play later for good.
      if (s.ringOverruns > this.lastUnderruns) {
        const dry = s.droppedFrames - this.lastDryFrames;
        this.lastUnderruns = s.ringOverruns;
        this.lastDryFrames = s.droppedFrames;
        if (!settling && dry <= msFrames(MARGIN_MAX_MS) - this.margin) this.margin = Math.min(msFrames(MARGIN_MAX_MS), this.margin + msFrames(MARGIN_STEP_MS));
        if (fill < this.margin) c.write(this.silence, this.margin - fill);
        this.lowWater = Infinity;
        this.sinceWindow = 0;
        this.pending = 0;
        this.debt = 0;
      }
      // Steer by the low-water mark over WINDOW_FRAMES written (a burst after a stalled wake
      // raises the fill for a moment; the low point is what keeps the sink from running dry).
      if (fill < this.lowWater) this.lowWater = fill;
      this.sinceWindow += frames;
      let cut = 0;
      if (this.sinceWindow >= WINDOW_FRAMES || (settling && this.runningSince && this.sinceWindow >= WINDOW_FRAMES / 5)) {
        this.sinceWindow = 0;
        const lw = this.lowWater;
        this.lowWater = Infinity;
        const over = lw - this.margin;
        if (this.debt > 0) this.pending = 0; // a cut still being made: the mark was taken before it
        else if (over > 0 && (settling || over > msFrames(CUT_OVER_MS))) {
          // what piled up while the sink started, or after a stall: gone at once
          cut = over;
          this.pending = 0;
        } else this.pending = over > 0 ? Math.min(over, MAX_PER_WINDOW) : lw < this.margin / 2 ? -Math.min(this.margin / 2 - lw, MAX_PER_WINDOW) : 0;
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
      if (cut > 0) {
        // the oldest queued frames can't be taken back: drop as much of this block instead,
        // and the rest from the next blocks
        const now2 = Math.min(n, cut);
        from += now2;
        n -= now2;
        this.dropped += now2;
        this.debt = cut - now2;
      } else if (this.debt > 0) {
        const now2 = Math.min(n, this.debt);
        from += now2;
        n -= now2;
        this.dropped += now2;
        this.debt -= now2;
      }
      if (n > 0) {
        traceOnset('play', from ? src.subarray(from * this.channels) : src, n, this.channels);
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
    return { state, device: this.device, message, fillMs, underruns: t.underruns, underrunFrames: t.underrunFrames, droppedFrames: this.dropped, marginMs: Math.round((this.margin * 1000) / SAMPLE_RATE), playedFrames: t.played, framesPerCycle: perCycle, trimmedFrames: this.trimmed, paddedFrames: this.padded };
  }

  close(): void {
    if (this.closed) return;
    this.drop();
    this.closed = true;
  }
}

function msFrames(ms: number): number {
  return Math.round((ms * SAMPLE_RATE) / 1000);
}
