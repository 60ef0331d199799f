/**
 * RTP receive: the header (RFC 3550 §5.1), the payloads hark takes — L16 and L24 (RFC 3551
 * §4.5.11, RFC 3190 §4: big-endian two's complement, interleaved, the timestamp counting
 * frames) and Opus (RFC 7587: one Opus packet per RTP packet, a 48 kHz timestamp) — and the
 * placing of each packet's frames in the jitter ring by its timestamp. Pure code apart from
 * the Opus decoder; the socket lives in net/receiver-worker.ts.
 */
import { OpusDecoder } from '../../../ffi/opus.ts';
import type { NetRing } from './ring.ts';
import type { RtpPayloadName } from '../../config/input-url.ts';

export interface RtpHeader {
  marker: boolean;
  pt: number;
  seq: number;
  ts: number;
  ssrc: number;
  /** Byte offset and length of the payload in the packet. */
  offset: number;
  length: number;
}

/** The header of one packet, or the reason it is not RTP. */
export function parseRtp(b: Uint8Array): RtpHeader | string {
  if (b.length < 12) return 'shorter than an RTP header';
  const v = b[0]! >> 6;
  if (v !== 2) return `RTP version ${v}`;
  const padding = (b[0]! & 0x20) !== 0;
  const ext = (b[0]! & 0x10) !== 0;
  const cc = b[0]! & 0x0f;
  let off = 12 + cc * 4;
  if (off > b.length) return 'CSRC list past the end';
  if (ext) {
    if (off + 4 > b.length) return 'extension header past the end';
    const words = (b[off + 2]! << 8) | b[off + 3]!;
    off += 4 + words * 4;
    if (off > b.length) return 'extension past the end';
  }
  let end = b.length;
  if (padding) {
    const pad = b[b.length - 1]!;
    if (pad === 0 || end - pad < off) return 'bad padding';
    end -= pad;
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    marker: (b[1]! & 0x80) !== 0,
    pt: b[1]! & 0x7f,
    seq: dv.getUint16(2),
    ts: dv.getUint32(4),
    ssrc: dv.getUint32(8),
    offset: off,
    length: end - off,
  };
}

/** Counters of one receiver (reset only with it). */
export interface RtpStats {
  packets: number;
  bytes: number;
  /** Packets that were not RTP, or not the payload/type/stream taken: dropped. */
  malformed: number;
  /** Packets of another SSRC while one stream plays, or another payload type. */
  foreign: number;
  /** Packets expected by sequence number and never received (RFC 3550 A.3). */
  lost: number;
  /** Packets that arrived after their time had been played. */
  late: number;
  /** Packets too far ahead of the reader to fit the ring. */
  overflow: number;
  /** Frames of Opus loss concealment. */
  concealedFrames: number;
  /** Times the stream started again (a new SSRC, a timestamp jump). */
  restarts: number;
  /** What the payload is ('' until known). */
  payload: string;
  ssrc: number;
  pt: number;
}

/** A timestamp jump beyond this restarts the positions (a new stream, a sender restart). */
const MAX_JUMP_FRAMES = 48_000 * 2;
/** Another SSRC takes over once the current one has been silent this long. */
const SSRC_HOLD_MS = 500;
/** Opus: concealment for a gap up to this many frames; a longer one resets the decoder. */
const MAX_PLC_FRAMES = 48_000 / 5;

/** RFC 3551 static types hark can take (both are 44.1 kHz L16: refused, hark runs at 48 kHz). */
const STATIC_44K = new Set([10, 11]);

/**
 * Takes RTP packets (as received), places their frames in the ring by timestamp, and counts.
 * The payload is `payload` when given, else found from the first packets: a packet whose
 * length is the timestamp step × 3 × channels is L24, × 2 × channels L16, else Opus.
 */
export class RtpDepacketizer {
  readonly stats: RtpStats = { packets: 0, bytes: 0, malformed: 0, foreign: 0, lost: 0, late: 0, overflow: 0, concealedFrames: 0, restarts: 0, payload: '', ssrc: 0, pt: -1 };
  private kind: RtpPayloadName | undefined;
  private readonly streamChannels: number;
  private ssrc = -1;
  private lastRxMs = -Infinity;
  private extTs = 0;
  private lastTs = 0;
  /** ring position = extended timestamp + offset. */
  private offset = 0;
  private nextExt = 0;
  private started = false;
  // sequence accounting (RFC 3550 A.3, simplified)
  private extSeq = 0;
  private lastSeq = 0;
  private firstSeq = 0;
  private received = 0;
  // payload detection
  private probe: { ts: number; len: number } | null = null;
  private opus: OpusDecoder | null = null;
  private scratch = new Float32Array(0);
  /** Last message worth showing (a refused stream), '' when all is well. */
  problem = '';

  constructor(
    private readonly ring: NetRing,
    private readonly opts: { payload?: RtpPayloadName; channels?: number; pt?: number },
  ) {
    this.kind = opts.payload;
    this.stats.payload = this.kind ?? '';
    this.streamChannels = opts.channels ?? ring.channels;
  }

  close(): void {
    this.opus?.close();
    this.opus = null;
  }

  /** One datagram as received at `nowMs` (wall-clock ms). Never throws on bad input. */
  push(b: Uint8Array, nowMs: number): void {
    const h = parseRtp(b);
    if (typeof h === 'string') {
      this.stats.malformed++;
      return;
    }
    if ((this.opts.pt !== undefined && h.pt !== this.opts.pt) || h.pt >= 72 && h.pt <= 76) {
      // a payload type not asked for, or RTCP on the RTP port (RFC 5761 §4: 200–204 & 0x7f)
      this.stats.foreign++;
      return;
    }
    if (STATIC_44K.has(h.pt) && !this.opts.payload) {
      this.stats.foreign++;
      this.problem = `payload type ${h.pt} is L16 at 44.1 kHz: hark takes 48 kHz streams`;
      return;
    }
    if (h.ssrc !== this.ssrc) {
      if (this.ssrc !== -1 && nowMs - this.lastRxMs < SSRC_HOLD_MS) {
        this.stats.foreign++;
        return;
      }
      this.begin(h);
    }
    this.lastRxMs = nowMs;
    this.stats.packets++;
    this.stats.bytes += b.length;
    this.countSeq(h.seq);
    // extend the timestamp
    const d = (h.ts - this.lastTs) | 0;
    if (Math.abs(d) > MAX_JUMP_FRAMES) {
      this.restart(h);
    } else {
      this.extTs += d;
      this.lastTs = h.ts;
    }
    const payload = b.subarray(h.offset, h.offset + h.length);
    if (!this.kind) {
      this.detect(h.ts, payload.length);
      if (!this.kind) return;
    }
    const pos = this.extTs + this.offset;
    if (this.kind === 'opus') this.opusPacket(pos, payload);
    else this.pcmPacket(pos, payload, this.kind === 'l24' ? 3 : 2);
    // The link counts as alive while its packets carry audio we take (not merely RTP headers).
    this.ring.touch(nowMs);
  }

  private begin(h: RtpHeader): void {
    if (this.ssrc !== -1) this.stats.restarts++;
    this.ssrc = h.ssrc;
    this.stats.ssrc = h.ssrc >>> 0;
    this.stats.pt = h.pt;
    this.firstSeq = h.seq;
    this.lastSeq = h.seq;
    this.extSeq = h.seq;
    this.received = 0;
    this.lastTs = h.ts;
    this.extTs = 0;
    this.probe = null;
    if (!this.opts.payload) this.kind = undefined;
    this.offset = this.started ? this.ring.hi : 0;
    if (this.started) this.ring.restart(this.offset);
    this.started = true;
    this.nextExt = 0;
    this.opus?.reset();
  }

  private restart(h: RtpHeader): void {
    this.stats.restarts++;
    this.lastTs = h.ts;
    this.offset = this.ring.hi - this.extTs;
    this.nextExt = this.extTs;
    this.ring.restart(this.ring.hi);
    this.opus?.reset();
  }

  private countSeq(seq: number): void {
    const d = ((seq - this.lastSeq) << 16) >> 16; // signed 16-bit step
    if (d > 0) {
      this.extSeq += d;
      this.lastSeq = seq;
    }
    this.received++;
    const expected = this.extSeq - this.firstSeq + 1;
    this.stats.lost = Math.max(0, expected - this.received);
  }

  private detect(ts: number, len: number): void {
    const p = this.probe;
    this.probe = { ts, len };
    if (!p) return;
    const step = (ts - p.ts) | 0;
    if (step <= 0) return;
    const ch = this.streamChannels;
    if (len === step * 3 * ch && p.len === len) this.kind = 'l24';
    else if (len === step * 2 * ch && p.len === len) this.kind = 'l16';
    else if (step % 120 === 0) this.kind = 'opus';
    else {
      this.problem = `cannot tell the payload (${len} bytes per ${step} frames): set ?payload=l24|l16|opus in input.url`;
      return;
    }
    this.stats.payload = this.kind;
    this.problem = '';
  }

  private need(frames: number, ch: number): Float32Array {
    if (this.scratch.length < frames * ch) this.scratch = new Float32Array(frames * ch);
    return this.scratch;
  }

  private put(pos: number, src: Float32Array, frames: number, srcCh: number): void {
    const ch = this.ring.channels;
    let buf = src;
    if (srcCh !== ch) {
      buf = this.need(frames, ch);
      for (let f = 0; f < frames; f++) for (let c = 0; c < ch; c++) buf[f * ch + c] = src[f * srcCh + Math.min(c, srcCh - 1)]!;
    }
    const r = this.ring.write(pos, buf, frames);
    if (r.late > 0) this.stats.late++;
    if (r.over > 0) this.stats.overflow++;
  }

  private pcmPacket(pos: number, p: Uint8Array, bytes: 2 | 3): void {
    const sch = this.streamChannels;
    const frames = Math.floor(p.length / (bytes * sch));
    if (frames <= 0 || frames > 48_000) {
      this.stats.malformed++;
      return;
    }
    // convert into a buffer of the stream's channels, then map
    const tmp = new Float32Array(frames * sch);
    let i = 0;
    if (bytes === 2) {
      for (let k = 0; k < frames * sch; k++, i += 2) tmp[k] = (((p[i]! << 24) | (p[i + 1]! << 16)) >> 16) / 32768;
    } else {
      for (let k = 0; k < frames * sch; k++, i += 3) tmp[k] = (((p[i]! << 24) | (p[i + 1]! << 16) | (p[i + 2]! << 8)) >> 8) / 8388608;
    }
    this.put(pos, tmp, frames, sch);
  }

  private opusPacket(pos: number, p: Uint8Array): void {
    const rel = pos - this.offset;
    if (!this.opus) {
      try {
        this.opus = new OpusDecoder({ channels: 2 });
      } catch (e) {
        this.problem = `no Opus decoder: ${(e as Error).message}`;
        return;
      }
    }
    if (rel < this.nextExt) {
      this.stats.late++;
      return; // the decoder runs in order: a packet behind it is of no use
    }
    const gap = rel - this.nextExt;
    if (gap > 0 && this.nextExt > 0) {
      if (gap <= MAX_PLC_FRAMES) {
        let at = this.nextExt;
        let left = gap;
        while (left > 0) {
          const m = Math.min(left, 5760);
          const k = Math.max(120, m - (m % 120)); // a multiple of 2.5 ms, as libopus asks
          try {
            const pcm = this.opus.decode(null, k);
            this.put(at + this.offset, pcm, pcm.length / 2, 2);
            this.stats.concealedFrames += pcm.length / 2;
          } catch {
            break;
          }
          at += k;
          left -= k;
        }
      } else this.opus.reset();
    }
    let pcm: Float32Array;
    try {
      pcm = this.opus.decode(p);
    } catch {
      this.stats.malformed++;
      return;
    }
    const frames = pcm.length / 2;
    this.put(pos, pcm, frames, 2);
    this.nextExt = rel + frames;
  }
}
