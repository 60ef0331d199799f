/**
 * G.711 (ITU-T G.711, 1988) μ-law and A-law in TypeScript, and the narrowband encoder frame
 * that G.722 shares: downmix to mono, decimate from 48 kHz, cut into packets.
 */
import { Decimator } from './decimate.ts';
import type { Encoder, PacketSink } from './encoder.ts';

const SAMPLE_RATE = 48_000;

/** Float in [-1, 1] to a 16-bit sample, clipped. */
export function toInt16(x: number): number {
  const v = Math.round(x * 32768);
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}

/** μ-law code of a 16-bit linear sample (G.711 §2: 14-bit magnitude, bias 33, 8 segments). */
export function linearToUlaw(pcm: number): number {
  // One's complement for negatives (as ITU-T G.191's reference does), so -1 is "-0".
  let v = pcm < 0 ? ~pcm >> 2 : pcm >> 2;
  const mask = pcm < 0 ? 0x7f : 0xff;
  // 8158 + 33 = 0x1fff, the top of segment 7 (code 0x80 / 0x00).
  if (v > 8158) v = 8158;
  v += 33;
  let seg = 0;
  for (let t = v >> 6; t > 0; t >>= 1) seg++;
  return ((seg << 4) | ((v >> (seg + 1)) & 0x0f)) ^ mask;
}

/** A-law code of a 16-bit linear sample (G.711 §3: 13-bit magnitude, even bits inverted). */
export function linearToAlaw(pcm: number): number {
  let v = pcm >> 3;
  let mask: number;
  if (v >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    v = -v - 1;
  }
  if (v > 0xfff) return 0x7f ^ mask;
  let seg = 0;
  for (let t = v >> 5; t > 0; t >>= 1) seg++;
  const mant = seg < 2 ? (v >> 1) & 0x0f : (v >> seg) & 0x0f;
  return ((seg << 4) | mant) ^ mask;
}

/** 16-bit linear value of a μ-law code (for tests and the loopback decoder). */
export function ulawToLinear(code: number): number {
  const u = ~code & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

/** 16-bit linear value of an A-law code. */
export function alawToLinear(code: number): number {
  const a = code ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

// Whole-range lookup tables, indexed by the 16-bit sample + 32768 (64 KiB each).
const ULAW = new Uint8Array(65536);
const ALAW = new Uint8Array(65536);
for (let i = 0; i < 65536; i++) {
  ULAW[i] = linearToUlaw(i - 32768);
  ALAW[i] = linearToAlaw(i - 32768);
}

export interface NarrowbandOptions {
  /** Input channels (1 or 2); stereo is mixed down to mono, as these codecs are mono. */
  channels: 1 | 2;
  /** Packet duration in ms (a whole number of output samples). */
  frameMs: number;
}

/**
 * Shared frame of the narrowband encoders: input at 48 kHz (any block size, 1–2 channels),
 * mono mix, decimation to `rate`, and one packet per `frameMs`. Subclasses turn one packet's
 * worth of 16-bit samples into payload bytes.
 */
export abstract class NarrowbandEncoder implements Encoder {
  abstract readonly codec: 'pcmu' | 'pcma' | 'g722';
  readonly channels: 1 | 2;
  /** Input frames (48 kHz) per packet. */
  readonly frameSize: number;
  /** Samples per packet at the codec's rate. */
  protected readonly samplesPerPacket: number;
  private readonly decimator: Decimator;
  private readonly mono: Float32Array;
  private readonly decimated: Float32Array;
  private readonly packet: Int16Array;
  private filled = 0;
  /** Sample index (48 kHz) that the next decimated sample stands for. */
  private nextPts = -1;
  private packetPts = 0;
  /** Sample index (48 kHz) the next write() should start at. */
  private inputPts = 0;
  private closed = false;

  protected constructor(
    rate: number,
    options: NarrowbandOptions,
    private readonly sink: PacketSink,
  ) {
    const factor = SAMPLE_RATE / rate;
    this.channels = options.channels;
    this.samplesPerPacket = Math.round((options.frameMs * rate) / 1000);
    if (this.samplesPerPacket < 1 || (this.samplesPerPacket * 1000) / rate !== options.frameMs) {
      throw new RangeError(`${options.frameMs} ms is not a whole number of samples at ${rate} Hz`);
    }
    this.frameSize = this.samplesPerPacket * factor;
    this.decimator = new Decimator(factor);
    this.mono = new Float32Array(1024);
    this.decimated = new Float32Array(1024 / factor + 2);
    this.packet = new Int16Array(this.samplesPerPacket);
  }

  /** Payload bytes for one packet of 16-bit samples at the codec's rate. */
  protected abstract encodePacket(samples: Int16Array): Uint8Array;

  write(pcm: Float32Array, frames: number, pts: number): void {
    if (this.closed) throw new Error(`${this.codec} encoder is closed`);
    const ch = this.channels;
    if (frames * ch > pcm.length) throw new RangeError(`write: ${frames} frames × ${ch} channels > ${pcm.length} samples`);
    const factor = this.decimator.factor;
    // A jump in the input clock restarts packet timing there (the engine's clock never jumps).
    if (this.nextPts < 0 || pts !== this.inputPts) {
      this.nextPts = pts;
      this.inputPts = pts;
    }
    let done = 0;
    while (done < frames) {
      const n = Math.min(frames - done, this.mono.length);
      if (ch === 1) this.mono.set(pcm.subarray(done, done + n));
      else for (let i = 0, j = done * 2; i < n; i++, j += 2) this.mono[i] = (pcm[j]! + pcm[j + 1]!) * 0.5;
      const m = this.decimator.process(this.mono, n, this.decimated);
      for (let k = 0; k < m; k++) {
        if (this.filled === 0) this.packetPts = this.nextPts;
        this.packet[this.filled++] = toInt16(this.decimated[k]!);
        this.nextPts += factor;
        if (this.filled === this.samplesPerPacket) this.emit();
      }
      done += n;
    }
    this.inputPts = pts + frames;
  }

  flush(): void {
    if (this.closed) throw new Error(`${this.codec} encoder is closed`);
    if (this.filled === 0) return;
    this.packet.fill(0, this.filled);
    this.filled = this.samplesPerPacket;
    this.emit();
  }

  private emit(): void {
    const data = this.encodePacket(this.packet);
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

/** G.711 at 8 kHz: one byte per sample, μ-law (PCMU, RTP payload type 0) or A-law (PCMA, 8). */
export class G711Encoder extends NarrowbandEncoder {
  readonly codec: 'pcmu' | 'pcma';
  private readonly table: Uint8Array;

  constructor(law: 'pcmu' | 'pcma', options: NarrowbandOptions, sink: PacketSink) {
    super(8000, options, sink);
    this.codec = law;
    this.table = law === 'pcmu' ? ULAW : ALAW;
  }

  protected encodePacket(samples: Int16Array): Uint8Array {
    const out = new Uint8Array(samples.length);
    for (let i = 0; i < samples.length; i++) out[i] = this.table[samples[i]! + 32768]!;
    return out;
  }
}
