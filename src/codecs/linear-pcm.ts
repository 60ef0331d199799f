/**
 * Linear PCM for RTP: L16 (RFC 3551 §4.5.11) and L24 (RFC 3190 §4), big-endian (network byte
 * order), channels interleaved, two's complement. At 48 kHz these are AES67's formats (L24
 * and L16, 1 ms and 4 ms packets). Input at 48 kHz in any block size; one packet per `frameMs`.
 */
import type { Encoder, PacketSink } from './encoder.ts';

const SAMPLE_RATE = 48_000;

export interface LinearPcmOptions {
  /** 16 or 24 bits a sample. */
  bits: 16 | 24;
  channels: 1 | 2;
  /** Packet duration in ms (whole samples at 48 kHz). */
  frameMs: number;
}

/** Float in [-1, 1] to a signed integer of `bits`, rounded and clipped. */
export function toLinear(x: number, bits: 16 | 24): number {
  const full = bits === 16 ? 32768 : 8388608;
  const v = Math.round(x * full);
  return v >= full ? full - 1 : v < -full ? -full : v;
}

export class LinearPcmEncoder implements Encoder {
  readonly codec: 'l16' | 'l24';
  readonly channels: 1 | 2;
  readonly frameSize: number;
  private readonly bytesPerSample: 2 | 3;
  private readonly bits: 16 | 24;
  private packet: Uint8Array;
  /** Frames in the packet being filled. */
  private filled = 0;
  private packetPts = 0;
  private nextPts = -1;
  private closed = false;

  constructor(
    options: LinearPcmOptions,
    private readonly sink: PacketSink,
  ) {
    this.bits = options.bits;
    this.codec = options.bits === 16 ? 'l16' : 'l24';
    this.channels = options.channels;
    this.frameSize = Math.round((options.frameMs * SAMPLE_RATE) / 1000);
    if (this.frameSize < 1 || (this.frameSize * 1000) / SAMPLE_RATE !== options.frameMs) {
      throw new RangeError(`${options.frameMs} ms is not a whole number of samples at ${SAMPLE_RATE} Hz`);
    }
    this.bytesPerSample = options.bits === 16 ? 2 : 3;
    this.packet = new Uint8Array(this.frameSize * this.channels * this.bytesPerSample);
  }

  write(pcm: Float32Array, frames: number, pts: number): void {
    if (this.closed) throw new Error(`${this.codec} encoder is closed`);
    const ch = this.channels;
    if (frames * ch > pcm.length) throw new RangeError(`write: ${frames} frames × ${ch} channels > ${pcm.length} samples`);
    // A jump in the input clock (never in the engine's) restarts the packet there.
    if (this.nextPts >= 0 && pts !== this.nextPts && this.filled > 0) this.filled = 0;
    this.nextPts = pts;
    const bps = this.bytesPerSample;
    for (let f = 0; f < frames; f++) {
      if (this.filled === 0) this.packetPts = this.nextPts + f;
      let at = this.filled * ch * bps;
      for (let c = 0; c < ch; c++) {
        const v = toLinear(pcm[f * ch + c]!, this.bits);
        if (bps === 2) {
          this.packet[at] = (v >> 8) & 0xff;
          this.packet[at + 1] = v & 0xff;
        } else {
          this.packet[at] = (v >> 16) & 0xff;
          this.packet[at + 1] = (v >> 8) & 0xff;
          this.packet[at + 2] = v & 0xff;
        }
        at += bps;
      }
      if (++this.filled === this.frameSize) this.emit();
    }
    this.nextPts = pts + frames;
  }

  flush(): void {
    if (this.closed) throw new Error(`${this.codec} encoder is closed`);
    if (this.filled === 0) return;
    this.packet.fill(0, this.filled * this.channels * this.bytesPerSample);
    this.emit();
  }

  private emit(): void {
    const data = this.packet;
    // The packet goes to the main thread (its buffer transferred): a fresh one for the next.
    this.packet = new Uint8Array(data.length);
    this.filled = 0;
    this.sink({ data, pts: this.packetPts, frames: this.frameSize });
  }

  close(): void {
    this.closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
