/**
 * RTP's mechanics for the `[[rtp]]` output, apart from the output that owns the socket:
 * the packet header (RFC 3550 §5.1), the session description (SDP, RFC 8866) with the
 * payload formats (L16: RFC 3551 §4.5.11, L24: RFC 3190 §4, Opus: RFC 7587 §7), the
 * AES67-2018 attributes that apply without PTP (RFC 7273 clock signalling), and the Session
 * Announcement Protocol (SAP, RFC 2974) packet, built and parsed.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** RTP version 2 (RFC 3550 §5.1). */
const RTP_VERSION = 2;
/** RTP's clock for every payload hark sends: 48 kHz (Opus's is always 48000, RFC 7587 §4.1). */
export const RTP_CLOCK_HZ = 48_000;
export const RTP_HEADER_BYTES = 12;

export type RtpPayload = 'opus' | 'l16' | 'l24';

/** Sequence numbers and timestamps of one RTP stream (one SSRC). */
export class RtpPacketizer {
  private seq: number;
  private first = true;

  constructor(
    readonly payloadType: number,
    readonly ssrc: number,
    /** Added to the sample clock (mod 2^32): RFC 3550 §5.1 wants a random start. */
    readonly timestampBase: number,
    firstSeq: number,
  ) {
    this.seq = firstSeq & 0xffff;
  }

  /** The RTP timestamp of a sample index of the 48 kHz clock. */
  timestamp(pts: number): number {
    return (this.timestampBase + pts) % 0x1_0000_0000;
  }

  /** The next packet: header + payload. The marker is set on the first one (a talkspurt's start, RFC 3551 §4.1). */
  packet(payload: Uint8Array, pts: number): Uint8Array {
    const out = new Uint8Array(RTP_HEADER_BYTES + payload.length);
    const v = new DataView(out.buffer);
    out[0] = RTP_VERSION << 6; // no padding, no extension, no CSRC
    out[1] = (this.first ? 0x80 : 0) | (this.payloadType & 0x7f);
    v.setUint16(2, this.seq);
    v.setUint32(4, this.timestamp(pts));
    v.setUint32(8, this.ssrc >>> 0);
    out.set(payload, RTP_HEADER_BYTES);
    this.seq = (this.seq + 1) & 0xffff;
    this.first = false;
    return out;
  }

  /** The next packet starts a new run (after a reconnect): marker set again. */
  restart(): void {
    this.first = true;
  }
}

/** A parsed RTP header (tests and the hostile corpus read packets back with it). */
export interface RtpHeader {
  marker: boolean;
  payloadType: number;
  seq: number;
  timestamp: number;
  ssrc: number;
  payload: Uint8Array;
}

/** Parse an RTP packet; null for anything that is not RTP version 2 with a whole header. */
export function parseRtp(b: Uint8Array): RtpHeader | null {
  if (b.length < RTP_HEADER_BYTES || b[0]! >> 6 !== RTP_VERSION) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const cc = b[0]! & 0x0f;
  let at = RTP_HEADER_BYTES + cc * 4;
  if (b[0]! & 0x10) {
    if (b.length < at + 4) return null;
    at += 4 + v.getUint16(at + 2) * 4;
  }
  let end = b.length;
  if (b[0]! & 0x20) end -= b[b.length - 1]!;
  if (at > end) return null;
  return { marker: (b[1]! & 0x80) !== 0, payloadType: b[1]! & 0x7f, seq: v.getUint16(2), timestamp: v.getUint32(4), ssrc: v.getUint32(8), payload: b.subarray(at, end) };
}

export function isMulticast(address: string): boolean {
  if (isIPv4(address)) {
    const first = Number(address.split('.')[0]);
    return first >= 224 && first <= 239;
  }
  return isIPv6(address) && /^ff/i.test(address);
}

export interface SdpOptions {
  /** The output's id: the session name. */
  id: string;
  /** The o= session id and version (NTP-format seconds, RFC 8866 §5.2). */
  sessionId: number;
  sessionVersion: number;
  /** The sender's own address (o=, and SAP's originating source). */
  origin: string;
  /** Where the stream goes (c=). */
  address: string;
  port: number;
  ttl: number;
  payload: RtpPayload;
  payloadType: number;
  channels: 1 | 2;
  /** ms a packet (a=ptime). */
  packetMs: number;
  /** The RTP timestamp of sample 0 of hark's clock (a=mediaclk:direct=). */
  timestampBase: number;
  /** For i=: the program it carries. */
  program: string;
}

const ipVersion = (a: string) => (isIPv6(a) ? 'IP6' : 'IP4');

/**
 * The session description a receiver opens (ffmpeg, GStreamer, VLC, AES67 devices). Lines
 * end in CRLF (RFC 8866 §5). Multicast IPv4 carries the TTL in c= (RFC 8866 §5.7); IPv6 has
 * none there. The stream is send-only from hark's side, so a receiver reading this is
 * `recvonly`, as AES67 senders (and RAVENNA/Dante) announce it.
 */
export function buildSdp(o: SdpOptions): string {
  const multicast = isMulticast(o.address);
  const conn = `${o.address}${multicast && !isIPv6(o.address) ? `/${o.ttl}` : ''}`;
  const encoding = o.payload === 'opus' ? 'opus/48000/2' : `${o.payload === 'l16' ? 'L16' : 'L24'}/${RTP_CLOCK_HZ}/${o.channels}`;
  const lines = [
    'v=0',
    `o=- ${o.sessionId} ${o.sessionVersion} IN ${ipVersion(o.origin)} ${o.origin}`,
    `s=hark ${o.id}`,
    `i=${o.channels === 2 ? 'stereo' : 'mono'} ${o.payload === 'opus' ? 'Opus' : o.payload.toUpperCase()}, program ${o.program}`,
    `c=IN ${ipVersion(o.address)} ${conn}`,
    't=0 0',
    'a=recvonly',
    `m=audio ${o.port} RTP/AVP ${o.payloadType}`,
    `a=rtpmap:${o.payloadType} ${encoding}`,
  ];
  // RFC 7587 §7: stereo=1 tells the receiver it may send stereo; sprop-stereo=1 that we do.
  if (o.payload === 'opus') lines.push(`a=fmtp:${o.payloadType} ${o.channels === 2 ? 'stereo=1; sprop-stereo=1' : 'stereo=0; sprop-stereo=0'}`);
  lines.push(`a=ptime:${o.packetMs}`);
  if (o.payload !== 'opus') {
    lines.push(`a=maxptime:${o.packetMs}`);
    // RFC 7273: hark's media clock is its own sample clock, not PTP: `local`. Timestamps are
    // the sample count plus this offset.
    lines.push('a=ts-refclk:local', `a=mediaclk:direct=${o.timestampBase >>> 0}`);
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** SAP's port (RFC 2974 §3). */
export const SAP_PORT = 9875;

/**
 * Where SAP announces a session (RFC 2974 §3): in IPv4, the highest address of the relevant
 * administrative scope — 239.255.255.255 for the organisation-local 239.x groups that AES67
 * and Dante use — else the global 224.2.127.254; in IPv6 FF0X::2:7FFE with the group's scope X
 * (a unicast IPv6 destination: site-local, 5).
 */
export function sapAddress(address: string): string {
  if (isIPv6(address)) {
    const scope = /^ff[0-9a-f]([0-9a-f])/i.exec(address)?.[1] ?? '5';
    return `ff0${scope.toLowerCase()}::2:7ffe`;
  }
  return address.startsWith('239.') || !isMulticast(address) ? '239.255.255.255' : '224.2.127.254';
}

const SAP_MIME = 'application/sdp';

/** The 16-bit message id hash of a payload (RFC 2974 §5: changes when the payload does; never 0 here). */
export function sapHash(payload: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < payload.length; i++) h = Math.imul(h ^ payload.charCodeAt(i), 0x01000193);
  return (h >>> 16 ^ h) & 0xffff || 1;
}

/** Bytes of an IPv4 or IPv6 address (as node:net's isIP accepts it), network order. */
function addressBytes(a: string): Uint8Array {
  if (isIPv4(a)) return Uint8Array.from(a.split('.').map(Number));
  // Groups of each side of "::"; an IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const groups = (part: string | undefined): number[] =>
    (part ? part.split(':') : []).flatMap((g) => {
      if (!isIPv4(g)) return [parseInt(g, 16)];
      const b = g.split('.').map(Number);
      return [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
    });
  const [head, tail] = a.split('::');
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = new Uint8Array(16);
  all.forEach((n, i) => {
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

/**
 * One SAP packet (RFC 2974 §5): version 1, no authentication, no encryption, no compression,
 * the originating source, the payload type `application/sdp` and the SDP. A deletion (T=1)
 * carries the announcement's o= line alone, which names the session to remove.
 */
export function buildSap(sdp: string, origin: string, deletion: boolean): Uint8Array {
  const v6 = isIPv6(origin);
  const src = addressBytes(origin);
  const payload = deletion ? `${sdp.split('\r\n').find((l) => l.startsWith('o=')) ?? ''}\r\n` : sdp;
  const body = new TextEncoder().encode(`${SAP_MIME}\0${payload}`);
  const out = new Uint8Array(4 + src.length + body.length);
  out[0] = (1 << 5) | (v6 ? 0x10 : 0) | (deletion ? 0x04 : 0);
  out[1] = 0; // no authentication data
  const hash = sapHash(sdp);
  out[2] = hash >> 8;
  out[3] = hash & 0xff;
  out.set(src, 4);
  out.set(body, 4 + src.length);
  return out;
}

export interface SapMessage {
  deletion: boolean;
  hash: number;
  origin: string;
  type: string;
  payload: string;
}

/** Parse a SAP packet; null for anything that is not a clear-text SAPv1 packet of SDP. */
export function parseSap(b: Uint8Array): SapMessage | null {
  if (b.length < 8 || b[0]! >> 5 !== 1) return null;
  if (b[0]! & 0x03) return null; // encrypted or compressed: not read here
  const v6 = (b[0]! & 0x10) !== 0;
  const at = 4 + (v6 ? 16 : 4) + b[1]! * 4;
  if (b.length < at) return null;
  const s = b.subarray(4, v6 ? 20 : 8);
  const origin = v6 ? Array.from({ length: 8 }, (_, i) => ((s[2 * i]! << 8) | s[2 * i + 1]!).toString(16)).join(':') : Array.from(s).join('.');
  const rest = new TextDecoder('utf-8', { fatal: false }).decode(b.subarray(at));
  // The payload type is optional (RFC 2974 §5): absent when the payload starts with "v=0".
  const nul = rest.startsWith('v=0') ? -1 : rest.indexOf('\0');
  const type = nul < 0 ? SAP_MIME : rest.slice(0, nul);
  return { deletion: (b[0]! & 0x04) !== 0, hash: (b[2]! << 8) | b[3]!, origin, type, payload: nul < 0 ? rest : rest.slice(nul + 1) };
}
