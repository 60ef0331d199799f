/**
 * The PCM "encoder" for SRT's `payload = "pcm"`: cuts 48 kHz float input into packets of
 * `frameMs` and packs each as one SMPTE 302M AES3 data packet, 24 bits per sample (mpegts.ts
 * S302mPacker). Lossless and without codec delay: what the shortest contribution link sends.
 */
import type { Encoder, PacketSink } from './encoder.ts';
import { S302mPacker } from './mpegts.ts';

export interface S302mEncoderOptions {
  channels: 1 | 2;
  /** Packet duration in ms: 1, 2, 4, 5 or 10 (a whole number of 48 kHz samples). */
  frameMs: number;
}

export class S302mEncoder implements Encoder {
  readonly codec = 's302m' as const;
  readonly channels: 1 | 2;
  readonly frameSize: number;
  readonly #packer: S302mPacker;
  readonly #buf: Float32Array;
  readonly #sink: PacketSink;
  #filled = 0;
  #pts = 0;
  #closed = false;

  constructor(options: S302mEncoderOptions, sink: PacketSink) {
    if (![1, 2, 4, 5, 10].includes(options.frameMs)) throw new RangeError(`s302m: ${options.frameMs} ms packets (1, 2, 4, 5 or 10)`);
    this.channels = options.channels;
    this.frameSize = options.frameMs * 48;
    this.#packer = new S302mPacker(options.channels);
    this.#buf = new Float32Array(this.frameSize * this.channels);
    this.#sink = sink;
  }

  write(pcm: Float32Array, frames: number, pts: number): void {
    if (this.#closed) throw new Error('S302mEncoder is closed');
    const ch = this.channels;
    if (frames * ch > pcm.length) throw new RangeError(`write: ${frames} frames × ${ch} channels > ${pcm.length} samples`);
    let i = 0;
    while (i < frames) {
      if (this.#filled === 0) this.#pts = pts + i;
      const n = Math.min(frames - i, this.frameSize - this.#filled);
      this.#buf.set(pcm.subarray(i * ch, (i + n) * ch), this.#filled * ch);
      this.#filled += n;
      i += n;
      if (this.#filled === this.frameSize) this.#emit();
    }
  }

  #emit(): void {
    const data = this.#packer.pack(this.#buf, this.frameSize);
    this.#sink({ data, pts: this.#pts, frames: this.frameSize });
    this.#filled = 0;
  }

  flush(): void {
    if (this.#closed || this.#filled === 0) return;
    this.#buf.fill(0, this.#filled * this.channels);
    this.#emit();
  }

  close(): void {
    this.#closed = true;
  }
}
