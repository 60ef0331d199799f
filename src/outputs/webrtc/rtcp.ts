/**
 * The RTCP a listener sends back (RFC 3550 §6.4, RFC 4585 §6.2.1), read for what the listener
 * list shows: receiver reports (loss, jitter, and the round-trip time from LSR/DLSR), BYE, and
 * how many NACKs libdatachannel's responder answered. Also the liveness signal: a browser
 * sends a receiver report every few seconds while it plays.
 */

export interface ReceiverReport {
  /** SSRC the report is about (ours). */
  ssrc: number;
  /** Fraction of packets lost since the previous report, 0–1. */
  fractionLost: number;
  cumulativeLost: number;
  /** Interarrival jitter in RTP timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of our last SR, 0 if none yet. */
  lsr: number;
  /** Delay since that SR, in 1/65536 s. */
  dlsr: number;
}

export interface RtcpSummary {
  reports: ReceiverReport[];
  bye: boolean;
  /** Sequence numbers asked for in generic NACKs (RFC 4585 §6.2.1). */
  nacked: number;
}

/** Parse one (compound) RTCP packet; malformed tails are ignored, as RFC 3550 §A.2 suggests. */
export function parseRtcp(buf: Uint8Array): RtcpSummary {
  const out: RtcpSummary = { reports: [], bye: false, nacked: 0 };
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  while (at + 4 <= buf.length) {
    const b0 = buf[at]!;
    if (b0 >> 6 !== 2) break;
    const count = b0 & 0x1f;
    const pt = buf[at + 1]!;
    const len = (v.getUint16(at + 2) + 1) * 4;
    if (at + len > buf.length) break;
    if (pt === 200 || pt === 201) {
      // SR carries 20 bytes of sender info before its report blocks.
      let rb = at + 8 + (pt === 200 ? 20 : 0);
      for (let i = 0; i < count && rb + 24 <= at + len; i++, rb += 24) {
        out.reports.push({
          ssrc: v.getUint32(rb),
          fractionLost: buf[rb + 4]! / 256,
          cumulativeLost: v.getUint32(rb + 4) & 0xffffff,
          jitter: v.getUint32(rb + 12),
          lsr: v.getUint32(rb + 16),
          dlsr: v.getUint32(rb + 20),
        });
      }
    } else if (pt === 203) {
      out.bye = true;
    } else if (pt === 205 && count === 1) {
      for (let f = at + 12; f + 4 <= at + len; f += 4) {
        const blp = v.getUint16(f + 2);
        out.nacked += 1 + popcount16(blp);
      }
    }
    at += len;
  }
  return out;
}

function popcount16(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

/** The middle 32 bits of the current NTP time (RFC 3550 §4), the unit of LSR. */
export function ntpMiddle32(nowMs = performance.timeOrigin + performance.now()): number {
  const seconds = nowMs / 1000 + 2_208_988_800;
  return Math.floor(seconds * 65536) % 2 ** 32;
}

/**
 * Round-trip time from a receiver report (RFC 3550 §6.4.1): arrival − LSR − DLSR. Undefined
 * before the listener has seen a sender report, or when clock steps make it negative.
 */
export function rttFromReport(r: ReceiverReport, arrival = ntpMiddle32()): number | undefined {
  if (r.lsr === 0) return undefined;
  const units = (arrival - r.lsr - r.dlsr + 2 ** 32) % 2 ** 32;
  const ms = (units / 65536) * 1000;
  return ms < 60_000 ? ms : undefined;
}
