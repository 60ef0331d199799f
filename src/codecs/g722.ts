/**
 * G.722 (ITU-T G.722, 09/2012): 7 kHz wideband sub-band ADPCM at 64 kbit/s (mode 1), in
 * TypeScript. A 24-tap QMF splits 16 kHz input into a low band (6-bit ADPCM) and a high band
 * (2-bit ADPCM), each 8 kHz; one output byte per input sample pair, high band in the top two
 * bits. Integer arithmetic follows the recommendation's block diagrams (blocks 1L–4L, 1H–4H)
 * so the bit stream matches other implementations.
 *
 * RTP note (RFC 3551 §4.5.2): G.722's RTP clock rate is 8000 although it samples at 16 kHz.
 */
import type { PacketSink } from './encoder.ts';
import { NarrowbandEncoder, type NarrowbandOptions } from './g711.ts';

// Tables of G.722 §6 (names as in the recommendation).
/** QMF coefficients h0 … h11 (the 24-tap filter is symmetric). */
const QMF = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];
/** Low-band quantizer decision levels Q6 (× det / 4096). */
const Q6 = [0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0];
/** Low-band 6-bit codes for negative (ILN) and positive (ILP) differences. */
const ILN = [0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 0];
const ILP = [0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 0];
/** Low-band log-scale factor increments WL and the 4-bit code map RIL → IL4. */
const WL = [-60, -30, 58, 172, 334, 538, 1198, 3042];
const RL42 = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
/** Inverse-log table ILB for the scale factor. */
const ILB = [2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834, 2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008];
/** Low-band 4-bit inverse quantizer QM4 (the predictor uses the 4 most significant bits). */
const QM4 = [0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584, 1200, 0];
/** High-band 2-bit inverse quantizer, codes and scale factor increments. */
const QM2 = [-7408, -1616, 7408, 1616];
const IHN = [0, 1, 0];
const IHP = [0, 3, 2];
const WH = [0, -214, 798];
const RH2 = [2, 1, 2, 1];

function sat(x: number): number {
  return x > 32767 ? 32767 : x < -32768 ? -32768 : x;
}

/** The adaptive predictor state of one sub-band (G.722 block 4). */
class Band {
  /** Signal estimate. */
  s = 0;
  sp = 0;
  sz = 0;
  /** Reconstructed signal r(n), r(n-1), r(n-2). */
  readonly r = [0, 0, 0];
  /** Pole coefficients a1, a2 (index 1, 2) and their update. */
  readonly a = [0, 0, 0];
  readonly ap = [0, 0, 0];
  /** Partially reconstructed signal p(n) … p(n-2). */
  readonly p = [0, 0, 0];
  /** Quantized differences d(n) … d(n-6) and zero coefficients b1 … b6. */
  readonly d = [0, 0, 0, 0, 0, 0, 0];
  readonly b = [0, 0, 0, 0, 0, 0, 0];
  readonly bp = [0, 0, 0, 0, 0, 0, 0];
  readonly sg = [0, 0, 0, 0, 0, 0, 0];
  /** Log scale factor and the scale factor. */
  nb = 0;
  det: number;

  constructor(det: number) {
    this.det = det;
  }

  /** Block 4: reconstruct, adapt the pole and zero sections, predict the next sample. */
  update(dq: number): void {
    const { r, a, ap, p, d, b, bp, sg } = this;
    // RECONS, PARREC
    d[0] = dq;
    r[0] = sat(this.s + dq);
    p[0] = sat(this.sz + dq);
    // UPPOL2
    for (let i = 0; i < 3; i++) sg[i] = p[i]! >> 15;
    let wd1 = sat(a[1]! << 2);
    let wd2 = sg[0] === sg[1] ? -wd1 : wd1;
    if (wd2 > 32767) wd2 = 32767;
    let wd3 = (sg[0] === sg[2] ? 128 : -128) + (wd2 >> 7) + ((a[2]! * 32512) >> 15);
    if (wd3 > 12288) wd3 = 12288;
    else if (wd3 < -12288) wd3 = -12288;
    ap[2] = wd3;
    // UPPOL1
    wd1 = sg[0] === sg[1] ? 192 : -192;
    wd2 = (a[1]! * 32640) >> 15;
    ap[1] = sat(wd1 + wd2);
    wd3 = sat(15360 - ap[2]!);
    if (ap[1]! > wd3) ap[1] = wd3;
    else if (ap[1]! < -wd3) ap[1] = -wd3;
    // UPZERO
    wd1 = dq === 0 ? 0 : 128;
    sg[0] = dq >> 15;
    for (let i = 1; i < 7; i++) {
      sg[i] = d[i]! >> 15;
      wd2 = sg[i] === sg[0] ? wd1 : -wd1;
      wd3 = (b[i]! * 32640) >> 15;
      bp[i] = sat(wd2 + wd3);
    }
    // DELAYZ, DELAYA
    for (let i = 6; i > 0; i--) {
      d[i] = d[i - 1]!;
      b[i] = bp[i]!;
    }
    for (let i = 2; i > 0; i--) {
      r[i] = r[i - 1]!;
      p[i] = p[i - 1]!;
      a[i] = ap[i]!;
    }
    // FILTEP
    wd1 = (a[1]! * sat(r[1]! + r[1]!)) >> 15;
    wd2 = (a[2]! * sat(r[2]! + r[2]!)) >> 15;
    this.sp = sat(wd1 + wd2);
    // FILTEZ
    let sz = 0;
    for (let i = 6; i > 0; i--) sz += (b[i]! * sat(d[i]! + d[i]!)) >> 15;
    this.sz = sat(sz);
    // PREDIC
    this.s = sat(this.sp + this.sz);
  }
}

/** The bare G.722 64 kbit/s encoder: 16 kHz 16-bit samples in, one code byte per pair out. */
export class G722Core {
  private readonly x = new Int32Array(24);
  private readonly low = new Band(32);
  private readonly high = new Band(8);

  /** Encode `samples.length` (even) samples into `out` (half as many bytes). */
  encode(samples: Int16Array, out: Uint8Array): void {
    const x = this.x;
    for (let j = 0, o = 0; j + 1 < samples.length; j += 2, o++) {
      // Block 1: transmit QMF, keeping every other output.
      x.copyWithin(0, 2);
      x[22] = samples[j]!;
      x[23] = samples[j + 1]!;
      let sumOdd = 0;
      let sumEven = 0;
      for (let i = 0; i < 12; i++) {
        sumOdd += x[2 * i]! * QMF[i]!;
        sumEven += x[2 * i + 1]! * QMF[11 - i]!;
      }
      const xlow = (sumEven + sumOdd) >> 14;
      const xhigh = (sumEven - sumOdd) >> 14;

      // Low band. Block 1L: SUBTRA, QUANTL.
      const lo = this.low;
      const el = sat(xlow - lo.s);
      let wd = el >= 0 ? el : -(el + 1);
      let i = 1;
      for (; i < 30; i++) if (wd < (Q6[i]! * lo.det) >> 12) break;
      const ilow = el < 0 ? ILN[i]! : ILP[i]!;
      // Block 2L: INVQAL.
      const ril = ilow >> 2;
      const dlow = (lo.det * QM4[ril]!) >> 15;
      // Block 3L: LOGSCL, SCALEL.
      wd = (lo.nb * 127) >> 7;
      lo.nb = wd + WL[RL42[ril]!]!;
      if (lo.nb < 0) lo.nb = 0;
      else if (lo.nb > 18432) lo.nb = 18432;
      let wd1 = (lo.nb >> 6) & 31;
      let wd2 = 8 - (lo.nb >> 11);
      lo.det = (wd2 < 0 ? ILB[wd1]! << -wd2 : ILB[wd1]! >> wd2) << 2;
      lo.update(dlow);

      // High band. Block 1H: SUBTRA, QUANTH.
      const hi = this.high;
      const eh = sat(xhigh - hi.s);
      wd = eh >= 0 ? eh : -(eh + 1);
      const mih = wd >= (564 * hi.det) >> 12 ? 2 : 1;
      const ihigh = eh < 0 ? IHN[mih]! : IHP[mih]!;
      // Block 2H: INVQAH.
      const dhigh = (hi.det * QM2[ihigh]!) >> 15;
      // Block 3H: LOGSCH, SCALEH.
      wd = (hi.nb * 127) >> 7;
      hi.nb = wd + WH[RH2[ihigh]!]!;
      if (hi.nb < 0) hi.nb = 0;
      else if (hi.nb > 22528) hi.nb = 22528;
      wd1 = (hi.nb >> 6) & 31;
      wd2 = 10 - (hi.nb >> 11);
      hi.det = (wd2 < 0 ? ILB[wd1]! << -wd2 : ILB[wd1]! >> wd2) << 2;
      hi.update(dhigh);

      out[o] = (ihigh << 6) | ilow;
    }
  }
}

/** G.722 at 64 kbit/s for RTP (payload type 9): 48 kHz in, decimated to 16 kHz, mono. */
export class G722Encoder extends NarrowbandEncoder {
  readonly codec = 'g722' as const;
  private readonly core = new G722Core();

  constructor(options: NarrowbandOptions, sink: PacketSink) {
    super(16_000, options, sink);
    if (this.samplesPerPacket % 2 !== 0) throw new RangeError(`G.722 needs an even number of samples per packet`);
  }

  protected encodePacket(samples: Int16Array): Uint8Array {
    const out = new Uint8Array(samples.length / 2);
    this.core.encode(samples, out);
    return out;
  }
}
