// The low-latency path's hand-over of decoded audio from the listen page to its AudioWorklet
// (issue 19) when the page is cross-origin isolated: a lock-free single-producer /
// single-consumer ring in one SharedArrayBuffer. The page (ll.js) writes each decoded frame into
// the next free slot and publishes it by moving the write index (Atomics); the worklet
// (ll-worklet.js) reads the slots up to that index at the start of each render quantum and moves
// the read index past them. Plain JavaScript with no browser API: `bun test` runs it
// (test/ll-ring.test.ts), a Worker on the other side.
//
// Layout: a control block of Int32 (the write index, the read index: counters that wrap at
// 2^32), then `slots` fixed-size slots, each a header of float64 (seq, pts, capture time, arrival
// time on the worklet's clock, frame length in samples, channels) and two planes of the largest
// frame (60 ms at 48 kHz). The producer writes a slot's contents before the Atomics.store of the
// write index that publishes it; the consumer reads them after the Atomics.load that sees it, and
// gives the slot back with the Atomics.store of the read index after copying it out: a slot is
// never read while it is being written, nor written while it is being read.
//
// A full ring (the worklet did not run for a while) refuses the frame: the page counts it
// (`ringDropped`) and the buffer conceals it like a lost packet.

import { LL_FRAME_SAMPLES } from './ll-buffer.js';

/** The largest frame a slot holds (samples per channel): 60 ms at 48 kHz, the longest Opus frame. */
export const RING_SLOT_SAMPLES = 2880;
/** Planes per slot (stereo). */
export const RING_CHANNELS = 2;
/** Slots by default: 128 (0.32 s of 2.5 ms frames, 0.64 s of 5 ms ones; 2.9 MB). A power of two. */
export const RING_SLOTS = 128;
/** The control block (Int32 indices): where the write index and the read index are. */
export const RING_WRITE = 0;
export const RING_READ = 1;
/** The control block's size in bytes (padded, so the slots start 8-byte aligned). */
const CONTROL_BYTES = 64;
/** A slot's header (float64 fields). */
const H_SEQ = 0;
const H_PTS = 1;
const H_CAPTURE = 2;
const H_ARRIVAL = 3;
const H_SAMPLES = 4;
const H_CHANNELS = 5;
const HEADER_BYTES = 64;
const SLOT_BYTES = HEADER_BYTES + RING_CHANNELS * RING_SLOT_SAMPLES * 4;

/** A frame that cannot be read (its header is out of range): no planes, so LlBuffer refuses it. */
const NO_PLANES = Object.freeze([]);

/** The SharedArrayBuffer's size for `slots` slots. */
export function ringBytes(slots = RING_SLOTS) {
  return CONTROL_BYTES + slots * SLOT_BYTES;
}

/** Both ends' views of one ring (the producer's and the consumer's methods are in the subclasses). */
class RingViews {
  constructor(sab) {
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < CONTROL_BYTES + SLOT_BYTES) throw new TypeError('not a low-latency ring');
    const slots = Math.floor((sab.byteLength - CONTROL_BYTES) / SLOT_BYTES);
    // A power of two: the slot of a counter is `counter & mask` across the counters' wrap at 2^32.
    if (slots & (slots - 1)) throw new TypeError('the ring has no power-of-two number of slots');
    this.sab = sab;
    this.slots = slots;
    this.mask = slots - 1;
    this.ctl = new Int32Array(sab, 0, 2);
    this.headers = [];
    this.planes = [];
    for (let i = 0; i < slots; i++) {
      const at = CONTROL_BYTES + i * SLOT_BYTES;
      this.headers.push(new Float64Array(sab, at, HEADER_BYTES / 8));
      const ps = [];
      for (let c = 0; c < RING_CHANNELS; c++) ps.push(new Float32Array(sab, at + HEADER_BYTES + c * RING_SLOT_SAMPLES * 4, RING_SLOT_SAMPLES));
      this.planes.push(ps);
    }
  }

  /** Frames written and not yet read (0 … slots; more only if the indices were tampered with). */
  get queued() {
    return (Atomics.load(this.ctl, RING_WRITE) - Atomics.load(this.ctl, RING_READ)) >>> 0;
  }
}

/** The page's end: it writes decoded frames. */
export class LlRingWriter extends RingViews {
  /** A new ring of `slots` slots (a power of two), empty. */
  static create(slots = RING_SLOTS) {
    return new LlRingWriter(new SharedArrayBuffer(ringBytes(slots)));
  }

  constructor(sab) {
    super(sab);
    /** Frames refused because the ring was full. */
    this.dropped = 0;
  }

  /**
   * The next free slot to write into (its index), or -1 when the ring is full (counted). Fill
   * its planes (`plane(slot, c)`, RING_SLOT_SAMPLES long: the frame at the start), then
   * `commit()`; nothing is visible to the reader before that.
   */
  claim() {
    const w = Atomics.load(this.ctl, RING_WRITE);
    const r = Atomics.load(this.ctl, RING_READ);
    if ((w - r) >>> 0 >= this.slots) {
      this.dropped++;
      return -1;
    }
    return w & this.mask;
  }

  /** Channel `c`'s plane of a claimed slot. */
  plane(slot, c) {
    return this.planes[slot][c];
  }

  /** Write the claimed slot's header and publish it (the release: after its planes are written). */
  commit(slot, seq, pts, captureMs, frameSamples, channels, arrivalMs) {
    const h = this.headers[slot];
    h[H_SEQ] = seq;
    h[H_PTS] = pts;
    h[H_CAPTURE] = captureMs;
    h[H_ARRIVAL] = arrivalMs;
    h[H_SAMPLES] = frameSamples;
    h[H_CHANNELS] = channels;
    Atomics.store(this.ctl, RING_WRITE, (Atomics.load(this.ctl, RING_WRITE) + 1) | 0);
  }

  /**
   * One frame at once: { seq, pts, captureMs, frameSamples, planes } (Float32Array planes, one
   * or two) with its arrival time on the worklet's clock. False when the ring is full.
   */
  write(f, arrivalMs) {
    const slot = this.claim();
    if (slot < 0) return false;
    const n = Math.min(f.frameSamples, RING_SLOT_SAMPLES);
    const channels = Math.min(f.planes.length, RING_CHANNELS);
    for (let c = 0; c < channels; c++) this.planes[slot][c].set(f.planes[c].subarray(0, n));
    this.commit(slot, f.seq, f.pts, f.captureMs, f.frameSamples, channels, arrivalMs);
    return true;
  }
}

/**
 * The worklet's end: `drain(push)` hands each published frame to `push(frame, arrivalMs)`
 * (LlBuffer.push), copied into planes of its own that it recycles: nothing is allocated per
 * frame once the pool holds as many frames as the buffer keeps at once. The planes handed out
 * belong to the buffer while it keeps them (push said 'ok'); it gives them back with `release()`.
 */
export class LlRingReader extends RingViews {
  constructor(sab) {
    super(sab);
    /** The frame handed to push (one object, filled afresh for each slot). */
    this.frame = { seq: 0, pts: 0, captureMs: 0, frameSamples: 0, channels: 0, planes: NO_PLANES };
    /** Free planes of the current shape (`poolSamples` × `poolChannels`). */
    this.pool = [];
    this.poolSamples = 0;
    this.poolChannels = 0;
    /** Plane sets made (the pool's growth; stays put in a steady stream). */
    this.allocated = 0;
    /** Times the indices were found inconsistent (more queued than slots): the ring was emptied. */
    this.corrupt = 0;
    this.release = this.release.bind(this);
  }

  /**
   * Every frame published since the last call, oldest first, into `push(frame, arrivalMs)`.
   * Returns how many were read. At most `slots` per call.
   */
  drain(push) {
    const w = Atomics.load(this.ctl, RING_WRITE);
    let r = Atomics.load(this.ctl, RING_READ);
    let n = (w - r) >>> 0;
    if (n > this.slots) {
      // Not a state the writer can make: start from what is there now.
      this.corrupt++;
      Atomics.store(this.ctl, RING_READ, w);
      return 0;
    }
    const f = this.frame;
    for (let k = 0; k < n; k++) {
      const slot = r & this.mask;
      const h = this.headers[slot];
      f.seq = h[H_SEQ];
      f.pts = h[H_PTS];
      f.captureMs = h[H_CAPTURE];
      f.frameSamples = h[H_SAMPLES];
      f.channels = h[H_CHANNELS];
      const arrivalMs = h[H_ARRIVAL];
      f.planes = this.copyOut(slot, f.frameSamples, f.channels);
      // The slot is free again: everything needed is copied.
      r = (r + 1) | 0;
      Atomics.store(this.ctl, RING_READ, r);
      // Whatever the header says, the buffer's own checks decide (a bad frame is counted there).
      const kept = push(f, arrivalMs);
      if (kept !== 'ok') this.release(f.planes);
      f.planes = NO_PLANES;
    }
    return n;
  }

  /** The slot's planes in a set from the pool; none (so the frame is refused) if its shape is not one a frame can have. */
  copyOut(slot, samples, channels) {
    if (!LL_FRAME_SAMPLES.has(samples) || (channels !== 1 && channels !== 2)) return NO_PLANES;
    if (samples !== this.poolSamples || channels !== this.poolChannels) {
      this.pool.length = 0;
      this.poolSamples = samples;
      this.poolChannels = channels;
    }
    let set = this.pool.pop();
    if (!set) {
      set = [];
      for (let c = 0; c < channels; c++) set.push(new Float32Array(samples));
      this.allocated++;
    }
    set.pooled = false;
    const src = this.planes[slot];
    for (let c = 0; c < channels; c++) {
      const s = src[c];
      const d = set[c];
      for (let i = 0; i < samples; i++) d[i] = s[i];
    }
    return set;
  }

  /** Planes the buffer is done with (played or dropped): back to the pool if they are of its shape. */
  release(set) {
    if (!set || set === NO_PLANES || set.pooled !== false || set.length !== this.poolChannels || set[0].length !== this.poolSamples) return;
    set.pooled = true;
    this.pool.push(set);
  }
}
