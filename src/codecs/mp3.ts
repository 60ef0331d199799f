import { MP3_FRAME_SIZE, Mp3Encoder, type Mp3EncoderOptions } from '../../ffi/lame.ts';
import type { EncodedPacket, Encoder, PacketSink } from './encoder.ts';
import { copySamples } from '../audio/format.ts';
import { MP3_BITRATES_KBPS } from '../config/mp3-bitrates.ts';

const MP3_KBPS = [0, ...MP3_BITRATES_KBPS];
/** The MPEG-1 Layer III decoder's own delay (the synthesis overlap), in samples. */
export const MP3_DECODER_DELAY = 529;

/**
 * The length in bytes of the MPEG-1 Layer III, 48 kHz frame whose header starts at `at`
 * (ISO/IEC 11172-3 2.4.1.3, 2.4.2.3), or 0 when `d` holds no such header there.
 */
export function mp3FrameLength(d: Uint8Array, at: number): number {
  if (at + 4 > d.length || d[at] !== 0xff || (d[at + 1]! & 0xfe) !== 0xfa) return 0;
  const kbps = MP3_KBPS[d[at + 2]! >> 4];
  if (!kbps || ((d[at + 2]! >> 2) & 3) !== 1) return 0; // 48 kHz only: the bus's rate
  return Math.floor((144 * kbps * 1000) / 48000) + ((d[at + 2]! >> 1) & 1);
}

/**
 * The MP3 Encoder: feeds LAME one 1152-frame granule at a time and hands the sink whatever
 * bytes LAME completed for it (nothing, one or two MP3 frames).
 *
 * MP3 frames do not line up with input blocks: LAME keeps a look-ahead and a bit reservoir,
 * so a packet's bytes encode audio from earlier granules, and some granules release no bytes.
 * A packet's `pts` and `frames` therefore describe the input consumed since the previous
 * packet (so they tile the input clock without gaps), not the audio inside the bytes.
 * Concatenating the packets' data gives a valid MP3 stream, delayed by `encoderDelay` plus
 * the decoder's 529 samples.
 *
 * LAME hands out bytes as its bit stream fills, not frame by frame; packets are cut at MP3
 * frames here (the tail of a frame waits for the next packet), so each packet is whole frames
 * and carries `framePts`, the exact bus position of its first frame's sound (a pre-roll cut
 * from them starts where it should, preroll.ts).
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
  /** Bytes LAME gave that do not yet complete a frame. */
  #carry = new Uint8Array(0);
  /** MP3 frames handed out so far, and the bus position of the first input sample. */
  #framesOut = 0;
  #startPts: number | undefined;
  /** Whether LAME's output parsed as frames so far (else bytes go out as they come, without framePts). */
  #framed = true;

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
    if (this.#startPts === undefined && frames > 0) this.#startPts = pts;
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
    this.#emit(this.#encoder.flushInto(), 0, true);
  }

  #emit(bytes: number, frames: number, last = false): void {
    if (this.#unreportedFrames === 0) this.#unreportedPts = this.#framePts;
    this.#unreportedFrames += frames;
    if (bytes === 0 && !(last && this.#carry.length > 0)) return;
    let data = this.#encoder.output.subarray(0, bytes);
    if (this.#carry.length > 0) {
      const joined = new Uint8Array(this.#carry.length + bytes);
      joined.set(this.#carry);
      joined.set(data, this.#carry.length);
      data = joined;
    }
    let whole = data.length;
    let count = 0;
    if (this.#framed) {
      let at = 0;
      for (;;) {
        const len = mp3FrameLength(data, at);
        if (len === 0 || at + len > data.length) break;
        at += len;
        count++;
      }
      // A header that does not parse where one must start: hand the bytes on as they are.
      if (at < data.length && data.length - at >= 4 && mp3FrameLength(data, at) === 0) this.#framed = false;
      else if (!last) whole = at;
    }
    this.#carry = data.slice(whole);
    if (whole === 0) return;
    const packet: EncodedPacket = { data: data.slice(0, whole), pts: this.#unreportedPts, frames: this.#unreportedFrames };
    if (this.#framed && count > 0) {
      packet.framePts = (this.#startPts ?? 0) + this.#framesOut * MP3_FRAME_SIZE - this.encoderDelay - MP3_DECODER_DELAY;
      this.#framesOut += count;
    }
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
