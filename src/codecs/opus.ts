import { OpusEncoder, type OpusEncoderOptions } from '../../ffi/opus.ts';
import type { Encoder, PacketSink } from './encoder.ts';
import { copySamples } from '../audio/format.ts';

/**
 * The Opus Encoder: accumulates blocks of any size into one preallocated frame and hands the
 * sink one packet per Opus frame. `pts` is the sample index of the packet's first input frame;
 * the decoded audio is delayed by `lookahead` samples (the Ogg pre-skip, RFC 7845 §4.2).
 * With DTX, silent frames come out as packets of ≤ 2 bytes; RTP may drop them, Ogg must keep them.
 */
export class OpusStreamEncoder implements Encoder {
  readonly codec = 'opus' as const;
  readonly channels: 1 | 2;
  readonly frameSize: number;
  readonly #encoder: OpusEncoder;
  readonly #sink: PacketSink;
  readonly #frame: Float32Array;
  #filled = 0;
  #framePts = 0;
  #closed = false;

  constructor(options: OpusEncoderOptions, sink: PacketSink) {
    this.#encoder = new OpusEncoder(options);
    this.channels = options.channels;
    this.frameSize = this.#encoder.frameSize;
    this.#frame = new Float32Array(this.frameSize * this.channels);
    this.#sink = sink;
  }

  /** The encoder's delay in 48 kHz samples: the Ogg Opus pre-skip. */
  get lookahead(): number {
    return this.#encoder.lookahead;
  }

  /** The underlying owner object, for bitrate changes and the like. */
  get opus(): OpusEncoder {
    this.#assertOpen();
    return this.#encoder;
  }

  write(pcm: Float32Array, frames: number, pts: number): void {
    this.#assertOpen();
    const ch = this.channels;
    const frame = this.#frame;
    if (frames * ch > pcm.length) throw new RangeError(`write: ${frames} frames × ${ch} channels > ${pcm.length} samples`);
    let i = 0;
    const end = frames * ch;
    while (i < end) {
      if (this.#filled === 0) this.#framePts = pts + i / ch;
      let j = this.#filled * ch;
      const n = Math.min(end - i, frame.length - j);
      copySamples(pcm, i, frame, j, n);
      i += n;
      j += n;
      this.#filled = j / ch;
      if (this.#filled === this.frameSize) this.#encodeFrame();
    }
  }

  /**
   * Pad the partial frame with silence and encode it, then enough silent frames to push the
   * encoder's lookahead out, so that every written sample is decodable. Use at end of stream.
   */
  flush(): void {
    this.#assertOpen();
    let pending = this.#encoder.lookahead;
    if (this.#filled > 0) {
      pending -= this.frameSize - this.#filled;
      this.#frame.fill(0, this.#filled * this.channels);
      this.#filled = this.frameSize;
      this.#encodeFrame();
    }
    while (pending > 0) {
      this.#frame.fill(0);
      this.#filled = this.frameSize;
      this.#encodeFrame();
      pending -= this.frameSize;
    }
  }

  #encodeFrame(): void {
    const n = this.#encoder.encodeInto(this.#frame);
    const pts = this.#framePts;
    this.#filled = 0;
    this.#framePts = pts + this.frameSize;
    this.#sink({ data: this.#encoder.output.slice(0, n), pts, frames: this.frameSize });
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('OpusStreamEncoder is closed');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#encoder.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
