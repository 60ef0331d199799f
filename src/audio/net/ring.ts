/**
 * The jitter buffer between a network receiver (a thread of its own: net/receiver-worker.ts)
 * and the network source (the audio worker): a ring of decoded frames in shared memory,
 * addressed by the stream's own frame position, so a packet that arrives out of order lands
 * where it belongs as long as the reader has not passed it. The reader zeroes what it has
 * read: a slot no packet filled plays as silence (a lost packet).
 *
 * One writer, one reader. Positions are frames since the link started (they fit a double for
 * millennia). The writer's data stores happen before its Atomics.store of `hi`, the reader's
 * Atomics.load of `hi` before its reads (the JS memory model orders them).
 */

/** Control slots (Float64, read and written through the Int32 view's Atomics for ordering). */
const C_HI = 0; // highest end position written (frames)
const C_RD = 1; // reader position: slots before it may be reused by the writer
const C_RX_MS = 2; // performance.timeOrigin-relative ms of the last packet received
const C_SEQ = 3; // a counter bumped by the writer after each write (the reader's ordering point)
const C_BASE = 4; // bumped when the writer restarts the positions (a new stream): the reader resyncs
const C_PKT = 5; // the most frames that came in one burst (writes < BURST_MS apart) in this window
const C_LASTW = 6; // performance.now() of the last write (this thread's: bursts are measured by the writer)
const C_BURST = 7; // frames in the current burst
const C_PKT_PREV = 8; // the same, in the window before
const C_WIN = 9; // performance.now() when this window began
const C_NOTIFY = 10; // 1: the reader wants its wake cell notified after each write
/** Bursts are remembered for one to two windows: a hiccup long past no longer counts. */
const WINDOW_MS = 5000;
/** Writes closer than this belong to one burst: the link delivers them together. */
const BURST_MS = 2;
const CTRL = 12;

export interface NetRingShared {
  ctrl: SharedArrayBuffer;
  data: SharedArrayBuffer;
  frames: number;
  channels: number;
  /**
   * A reader's wake cell (Int32 index 0): while the reader asks for it (wakeOnWrite), the writer
   * notifies it after each write, so a reader that plays what arrives as it arrives
   * (network-source.ts, SRT into a PipeWire output) wakes for each packet rather than on its
   * next timer.
   */
  wake?: SharedArrayBuffer;
}

export class NetRing {
  readonly frames: number;
  readonly channels: number;
  private readonly ctrl: Float64Array;
  private readonly sync: Int32Array;
  private readonly data: Float32Array;
  private readonly wake: Int32Array | null;

  constructor(readonly shared: NetRingShared) {
    if (shared.frames & (shared.frames - 1)) throw new RangeError('ring frames must be a power of two');
    this.frames = shared.frames;
    this.channels = shared.channels;
    this.ctrl = new Float64Array(shared.ctrl, 0, CTRL);
    this.sync = new Int32Array(shared.ctrl, CTRL * 8, 4);
    this.data = new Float32Array(shared.data);
    this.wake = shared.wake ? new Int32Array(shared.wake, 0, 1) : null;
  }

  /** A ring holding at least `minFrames` (rounded up to a power of two). */
  static create(minFrames: number, channels: number): NetRing {
    let frames = 1024;
    while (frames < minFrames) frames *= 2;
    return new NetRing({
      ctrl: new SharedArrayBuffer(CTRL * 8 + 16),
      data: new SharedArrayBuffer(frames * channels * 4),
      frames,
      channels,
    });
  }

  /** The slot of stream position `p` (any integer, negative too). */
  private index(p: number): number {
    return p - Math.floor(p / this.frames) * this.frames;
  }

  // ---- both sides ----

  /** Highest end position written. */
  get hi(): number {
    Atomics.load(this.sync, 0);
    return this.ctrl[C_HI]!;
  }

  get rd(): number {
    Atomics.load(this.sync, 0);
    return this.ctrl[C_RD]!;
  }

  /** Wall-clock ms (performance.timeOrigin + performance.now(), the same in every thread) of the last packet. */
  get lastRxEpochMs(): number {
    Atomics.load(this.sync, 0);
    return this.ctrl[C_RX_MS]!;
  }

  get base(): number {
    Atomics.load(this.sync, 0);
    return this.ctrl[C_BASE]!;
  }

  /** The most frames that arrived in one burst over the last 5–10 s (0 before any): what a reader must hold at least. */
  get packetFrames(): number {
    Atomics.load(this.sync, 0);
    return Math.max(this.ctrl[C_PKT]!, this.ctrl[C_PKT_PREV]!);
  }

  // ---- writer (the receiver thread) ----

  /** A packet arrived now (whether or not it carried audio that was kept). */
  touch(epochMs: number): void {
    this.ctrl[C_RX_MS] = epochMs;
    Atomics.add(this.sync, 0, 1);
  }

  /** Start the positions again (a new stream): the reader resyncs to the new `hi`. */
  restart(pos: number): void {
    this.ctrl[C_HI] = pos;
    this.ctrl[C_PKT] = 0;
    this.ctrl[C_PKT_PREV] = 0;
    this.ctrl[C_BASE] = this.ctrl[C_BASE]! + 1;
    Atomics.add(this.sync, 0, 1);
  }

  /**
   * Write `frames` interleaved frames at stream position `pos`. The part before the reader is
   * late (returned as `late`); the part more than the ring ahead of the reader does not fit
   * (`over`). Returns the frames written.
   */
  write(pos: number, src: Float32Array, frames: number): { written: number; late: number; over: number } {
    const ch = this.channels;
    const rd = this.rd;
    let from = 0;
    let late = 0;
    if (pos < rd) {
      late = Math.min(frames, rd - pos);
      from = late;
    }
    const end = pos + frames;
    const limit = rd + this.frames;
    const over = Math.max(0, end - Math.max(limit, pos + from));
    const to = frames - over;
    for (let f = from; f < to; f++) {
      const slot = this.index(pos + f) * ch;
      const si = f * ch;
      for (let c = 0; c < ch; c++) this.data[slot + c] = src[si + c]!;
    }
    const written = Math.max(0, to - from);
    if (written > 0 && pos + to > this.ctrl[C_HI]!) this.ctrl[C_HI] = pos + to;
    const now = performance.now();
    const burst = (now - this.ctrl[C_LASTW]! < BURST_MS ? this.ctrl[C_BURST]! : 0) + frames;
    this.ctrl[C_LASTW] = now;
    this.ctrl[C_BURST] = burst;
    if (now - this.ctrl[C_WIN]! >= WINDOW_MS) {
      this.ctrl[C_PKT_PREV] = this.ctrl[C_PKT]!;
      this.ctrl[C_PKT] = 0;
      this.ctrl[C_WIN] = now;
    }
    if (burst > this.ctrl[C_PKT]!) this.ctrl[C_PKT] = burst;
    Atomics.add(this.sync, 0, 1);
    if (this.wake && this.ctrl[C_NOTIFY] === 1) Atomics.notify(this.wake, 0);
    return { written, late, over };
  }

  // ---- reader (the audio worker) ----

  /** Ask the writer to notify the wake cell after each write (or to stop). */
  wakeOnWrite(on: boolean): void {
    this.ctrl[C_NOTIFY] = on ? 1 : 0;
    Atomics.add(this.sync, 0, 1);
  }

  /**
   * Move the reader to `pos` (a resync). Forward: the slots skipped are zeroed (else they would
   * play a lap later as old audio); what lies ahead of `pos` stays. Back: those slots were read
   * (so zeroed) already and play as silence.
   */
  seek(pos: number): void {
    const rd = this.ctrl[C_RD]!;
    const ch = this.channels;
    const end = Math.min(pos, rd + this.frames);
    for (let p = rd; p < end; p++) this.data.fill(0, this.index(p) * ch, this.index(p) * ch + ch);
    this.ctrl[C_RD] = pos;
    Atomics.add(this.sync, 0, 1);
  }

  /**
   * Copy `frames` frames from the reader position into dst (zeros where nothing arrived),
   * zero those slots, and advance. Returns how many of them were beyond `hi` (not yet
   * received: an underrun).
   */
  read(dst: Float32Array, frames: number): number {
    const ch = this.channels;
    const rd = this.ctrl[C_RD]!;
    const hi = this.hi;
    for (let f = 0; f < frames; f++) {
      const slot = this.index(rd + f) * ch;
      const di = f * ch;
      for (let c = 0; c < ch; c++) {
        dst[di + c] = this.data[slot + c]!;
        this.data[slot + c] = 0;
      }
    }
    this.ctrl[C_RD] = rd + frames;
    Atomics.add(this.sync, 0, 1);
    return Math.max(0, Math.min(frames, rd + frames - hi));
  }

  /** Frames between the reader and the highest written position (may be negative). */
  fill(): number {
    return this.hi - this.ctrl[C_RD]!;
  }
}
