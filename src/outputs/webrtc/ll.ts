/**
 * The low-latency listening channel, `opus-ll` (issue 19): what crosses it, without the
 * WebRTC stack (session.ts and node-datachannel load at the first listener; this does not).
 *
 * hark → page, one binary message per Opus packet: a 24-byte big-endian header —
 * version (2), channels, frame length in samples (u16), sequence number (u32), pts (the
 * packet's first sample on the 48 kHz sample clock, float64), its capture time (hark's clock,
 * CLOCK_MONOTONIC ms, float64) — then the packet's length (u16) and the packet, then the
 * packet before it again (its pts and capture time, float64 each, then its bytes) when there is
 * one. The channel is unordered with no retransmissions: the page reorders, buffers and
 * conceals, and a packet lost on the way comes with the next one (a copy, as RFC 2198's
 * redundancy does for RTP): one loss costs nothing, where Opus's own FEC is coarser and
 * WebCodecs cannot use it.
 * page → hark: only the keep-alive `{"type":"ping","t":<the page's ms>}`, answered with
 * `{"type":"pong","t":<echoed>,"now":<hark's clock>}` so the page can map hark's clock to its own.
 */
/** The low-latency channel's label, and the frame lengths (ms) a listener may ask for. */
export const LL_LABEL = 'opus-ll';
export const LL_FRAME_MS = [5, 2.5] as const;
export type LlFrameMs = (typeof LL_FRAME_MS)[number];
/** The header before each Opus packet on `opus-ll`, and the version it says. */
export const LL_HEADER_BYTES = 24;
export const LL_VERSION = 2;
/** Messages from the listener on `opus-ll` that are not a keep-alive, before hark ends the session. */
export const LL_BAD_LIMIT = 20;
/** The longest keep-alive hark reads (bytes); longer messages are bad ones. */
export const LL_MAX_MESSAGE = 128;
/** Keep-alives answered per second at most; more are bad ones (a page sends one a second). */
export const LL_PINGS_PER_S = 5;
/** Unsent bytes on `opus-ll` past which packets are dropped (and counted), not queued. */
export const LL_QUEUE_BYTES = 64 * 1024;

/** hark's clock for listeners: CLOCK_MONOTONIC in ms (the audio worker stamps packets with it). */
export { monotonicMs } from '../../../ffi/libc.ts';
import { monotonicMs } from '../../../ffi/libc.ts';

/**
 * The `t` of a keep-alive (`{"type":"ping","t":<finite number>}`, at most LL_MAX_MESSAGE
 * bytes, nothing else in it), or undefined for anything else.
 */
export function llPingTime(msg: string): number | undefined {
  if (msg.length > LL_MAX_MESSAGE) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(msg);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length !== 2 || o.type !== 'ping' || typeof o.t !== 'number' || !Number.isFinite(o.t)) return undefined;
  return o.t;
}

type LlPacket = { data: Uint8Array; pts: number; frames: number; at?: number };

/** When the packet's first sample was captured: its length before the encoder finished it. */
const captureMs = (p: LlPacket) => (p.at ?? monotonicMs()) - p.frames / 48;

/**
 * One message on `opus-ll` (big-endian; see the module comment): the 24-byte header, the
 * packet's length and the packet, then `prev` (the packet before it) with its pts and capture
 * time, if given.
 */
export function llMessage(seq: number, channels: number, p: LlPacket, prev?: LlPacket): Buffer {
  const redundant = prev ? 16 + prev.data.byteLength : 0;
  const buf = Buffer.allocUnsafe(LL_HEADER_BYTES + 2 + p.data.byteLength + redundant);
  buf[0] = LL_VERSION;
  buf[1] = channels;
  buf.writeUInt16BE(p.frames, 2);
  buf.writeUInt32BE(seq >>> 0, 4);
  buf.writeDoubleBE(p.pts, 8);
  buf.writeDoubleBE(captureMs(p), 16);
  buf.writeUInt16BE(p.data.byteLength, LL_HEADER_BYTES);
  buf.set(p.data, LL_HEADER_BYTES + 2);
  if (prev) {
    const at = LL_HEADER_BYTES + 2 + p.data.byteLength;
    buf.writeDoubleBE(prev.pts, at);
    buf.writeDoubleBE(captureMs(prev), at + 8);
    buf.set(prev.data, at + 16);
  }
  return buf;
}
