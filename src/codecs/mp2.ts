/**
 * The MP2 Encoder (MPEG-1 Layer II through libtwolame): feeds whole 1152-frame granules and
 * hands the sink every Layer II frame libtwolame completes, whose pts is the sample index of
 * the granule that completed it. SRT's payload "mp2", the classic codec of broadcast links.
 */
import { MP2_FRAME_SIZE, Mp2Encoder } from '../../ffi/twolame.ts';
import type { Encoder, PacketSink } from './encoder.ts';

export class Mp2StreamEncoder implements Encoder {
  readonly codec = 'mp2' as const;
  readonly channels: 1 | 2;
  readonly frameSize = MP2_FRAME_SIZE;
  readonly #encoder: Mp2Encoder;
  readonly #sink: PacketSink;
  readonly #frame: Float32Array;
  #filled = 0;
  #pts = 0;
  #closed = false;

  constructor(options: { channels: 1 | 2; bitrateKbps: number }, sink: PacketSink) {
    this.#encoder = new Mp2Encoder({ ...options, maxFrames: MP2_FRAME_SIZE });
    this.channels = options.channels;
    this.#frame = new Float32Array(MP2_FRAME_SIZE * this.channels);
    this.#sink = sink;
  }

  write(pcm: Float32Array, frames: number, pts: number): void {
    if (this.#closed) throw new Error('Mp2StreamEncoder is closed');
    const ch = this.channels;
    if (frames * ch > pcm.length) throw new RangeError(`write: ${frames} frames × ${ch} channels > ${pcm.length} samples`);
    let i = 0;
    while (i < frames) {
      if (this.#filled === 0) this.#pts = pts + i;
      const n = Math.min(frames - i, MP2_FRAME_SIZE - this.#filled);
      this.#frame.set(pcm.subarray(i * ch, (i + n) * ch), this.#filled * ch);
      this.#filled += n;
      i += n;
      if (this.#filled === MP2_FRAME_SIZE) {
        this.#emit(this.#encoder.encode(this.#frame, MP2_FRAME_SIZE), MP2_FRAME_SIZE);
        this.#filled = 0;
      }
    }
  }

  #emit(bytes: Uint8Array, frames: number): void {
    if (bytes.length > 0) this.#sink({ data: bytes.slice(), pts: this.#pts, frames });
  }

  flush(): void {
    if (this.#closed) return;
    if (this.#filled > 0) this.#emit(this.#encoder.encode(this.#frame, this.#filled), this.#filled);
    this.#filled = 0;
    this.#emit(this.#encoder.flush(), 0);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#encoder.close();
  }
}
