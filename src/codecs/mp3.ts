import { MP3_FRAME_SIZE, Mp3Encoder, type Mp3EncoderOptions } from '../../ffi/lame.ts';
import type { Encoder, PacketSink } from './encoder.ts';
import { copySamples } from '../audio/format.ts';

/**
 * The MP3 Encoder: feeds LAME one 1152-frame granule at a time and hands the sink whatever
 * bytes LAME completed for it (nothing, one or two MP3 frames).
 *
 * MP3 frames do not line up with input blocks: LAME keeps a look-ahead and a bit reservoir,
 * so a packet's bytes encode audio from earlier granules, and some granules release no bytes.
 * A packet's `pts` and `frames` therefore describe the input consumed since the previous
 * packet (so they tile the input clock without gaps), not the audio inside the bytes.
 * Concatenating the packets' data gives a valid MP3 stream, delayed by `encoderDelay` plus
 * the decoder's 528 samples.
 */
export class Mp3StreamEncoder implements Encoder {
  readonly codec = 'mp3' as const;
  readonly channels: 1 | 2;
  readonly frameSize = MP3_FRAME_SIZE;
  readonly #encoder: Mp3Encoder;
  readonly #sink: PacketSink;
  readonly #frame: Float32Array;
  #filled = 0;
  #framePts = 0;
  /** Input consumed but not yet reported in a packet: [#unreportedPts, + #unreportedFrames). */
  #unreportedPts = 0;
  #unreportedFrames = 0;
  #closed = false;
  #flushed = false;

  constructor(options: Omit<Mp3EncoderOptions, 'maxFrames'>, sink: PacketSink) {
    this.#encoder = new Mp3Encoder({ ...options, maxFrames: MP3_FRAME_SIZE });
    this.channels = options.channels;
    this.#frame = new Float32Array(MP3_FRAME_SIZE * this.channels);
    this.#sink = sink;
  }

  /** Samples of silence LAME puts before the input (typically 576). */
  get encoderDelay(): number {
    return this.#encoder.encoderDelay;
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
      if (this.#filled === MP3_FRAME_SIZE) {
        this.#emit(this.#encoder.encodeInto(frame, MP3_FRAME_SIZE), MP3_FRAME_SIZE);
        this.#filled = 0;
        this.#framePts += MP3_FRAME_SIZE;
      }
    }
  }

  /**
   * Encode the partial granule and everything LAME still holds (lame_encode_flush pads the
   * last MP3 frame with silence). This ends the stream: write() afterwards throws.
   */
  flush(): void {
    this.#assertOpen();
    this.#flushed = true;
    const partial = this.#filled;
    if (partial > 0) this.#emit(this.#encoder.encodeInto(this.#frame, partial), partial);
    this.#filled = 0;
    this.#framePts += partial;
    this.#emit(this.#encoder.flushInto(), 0);
  }

  #emit(bytes: number, frames: number): void {
    if (this.#unreportedFrames === 0) this.#unreportedPts = this.#framePts;
    this.#unreportedFrames += frames;
    if (bytes === 0) return;
    const packet = { data: this.#encoder.output.slice(0, bytes), pts: this.#unreportedPts, frames: this.#unreportedFrames };
    this.#unreportedFrames = 0;
    this.#sink(packet);
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('Mp3StreamEncoder is closed');
    if (this.#flushed) throw new Error('Mp3StreamEncoder was flushed; the MP3 stream has ended');
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
