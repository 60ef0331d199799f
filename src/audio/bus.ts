/**
 * The frame bus: one ring of interleaved float32 frames that a source writes and any number
 * of consumers read, each at its own cursor. The writer never waits for a reader. A reader
 * that falls more than the ring's capacity behind skips ahead and counts the frames it lost:
 * a slow consumer loses only its own frames. The ring is allocated once; a write or read
 * allocates only the view a block copy takes (copySamples).
 */
import { copySamples } from './format.ts';

export class FrameBus {
  readonly channels: number;
  /** Ring capacity in frames. */
  readonly capacity: number;
  private readonly ring: Float32Array;
  private written = 0;
  private readonly readers = new Set<BusReader>();

  /** `startPosition`: the sample clock of the first frame (a bus fed from another keeps its clock). */
  constructor(channels: number, capacityFrames: number, startPosition = 0) {
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels must be ≥ 1, got ${channels}`);
    if (!Number.isInteger(capacityFrames) || capacityFrames < 1) {
      throw new RangeError(`capacity must be ≥ 1 frame, got ${capacityFrames}`);
    }
    this.channels = channels;
    this.capacity = capacityFrames;
    this.ring = new Float32Array(channels * capacityFrames);
    this.written = startPosition;
    this.first = startPosition;
  }
  /** The sample clock of the first frame ever written (frames before it never existed). */
  private readonly first: number;

  /** Total frames ever written: the sample clock (48 kHz) of the next frame. */
  get position(): number {
    return this.written;
  }

  /**
   * Append `frames` interleaved frames from `src`, then tell every reader with an `onData`
   * callback. Blocks larger than the ring keep only their newest `capacity` frames.
   */
  write(src: Float32Array, frames: number): void {
    const ch = this.channels;
    let from = 0;
    if (frames > this.capacity) {
      from = frames - this.capacity;
      this.written += from;
      frames = this.capacity;
    }
    let at = this.written % this.capacity;
    let left = frames;
    while (left > 0) {
      const n = Math.min(left, this.capacity - at);
      copySamples(src, from * ch, this.ring, at * ch, n * ch);
      from += n;
      left -= n;
      at = 0;
    }
    this.written += frames;
    for (const r of this.readers) r.notify();
  }

  /**
   * A new reader starting at the current write position, or `back` frames before it (frames
   * the ring still holds; at most its capacity, and never before the first frame). `onData`
   * runs synchronously after each write; it may read at once, or later, or not at all.
   */
  reader(name: string, onData?: (reader: BusReader) => void, back = 0): BusReader {
    const b = Math.max(0, Math.min(Math.floor(back), this.capacity, this.written - this.first));
    const r = new BusReader(this, name, this.written - b, onData);
    this.readers.add(r);
    return r;
  }

  /** @internal */
  detach(r: BusReader): void {
    this.readers.delete(r);
  }

  /** @internal Copy `frames` frames starting at absolute frame `pos` into dst. */
  copyOut(pos: number, dst: Float32Array, frames: number): void {
    const ch = this.channels;
    let at = pos % this.capacity;
    let to = 0;
    let left = frames;
    while (left > 0) {
      const n = Math.min(left, this.capacity - at);
      copySamples(this.ring, at * ch, dst, to * ch, n * ch);
      to += n;
      left -= n;
      at = 0;
    }
  }

  get readerCount(): number {
    return this.readers.size;
  }
}

/** One consumer's cursor into a FrameBus. */
export class BusReader {
  /** Frames this reader lost by falling behind. */
  dropped = 0;
  /** Times it fell behind. */
  overruns = 0;
  private pos: number;
  private closed = false;

  constructor(
    private readonly bus: FrameBus,
    readonly name: string,
    start: number,
    private readonly onData?: (reader: BusReader) => void,
  ) {
    this.pos = start;
  }

  /** Sample index of the next frame `read` returns. */
  get position(): number {
    return this.pos;
  }

  /** Frames waiting to be read (after any skip for falling behind). */
  get available(): number {
    this.catchUp();
    return this.bus.position - this.pos;
  }

  /** Copy up to `maxFrames` frames into dst; returns how many. */
  read(dst: Float32Array, maxFrames: number): number {
    if (this.closed) throw new Error(`bus reader ${this.name} is closed`);
    this.catchUp();
    const n = Math.min(maxFrames, this.bus.position - this.pos, Math.floor(dst.length / this.bus.channels));
    if (n <= 0) return 0;
    this.bus.copyOut(this.pos, dst, n);
    this.pos += n;
    return n;
  }

  /** Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bus.detach(this);
  }

  /** @internal */
  notify(): void {
    this.onData?.(this);
  }

  private catchUp(): void {
    const oldest = this.bus.position - this.bus.capacity;
    if (this.pos < oldest) {
      this.dropped += oldest - this.pos;
      this.overruns++;
      this.pos = oldest;
    }
  }
}
