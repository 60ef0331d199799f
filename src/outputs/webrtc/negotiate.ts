/**
 * What hark sends a listener, decided from its offer and the [webrtc] settings: which audio
 * m= section, which codec and payload type, and — for Opus — the encoder settings the offer's
 * fmtp asks for (RFC 7587 §6.1). Listeners whose offers agree share one encoder.
 */
import type { OpusApplication, OpusBandwidth, OpusFrameMs } from '../../../ffi/opus.ts';
import type { EncoderSpec } from '../../codecs/index.ts';
import { NotAcceptableError } from './errors.ts';
import { rtpMapOf, type SdpMedia, type SdpOffer } from './sdp.ts';

export type WebrtcCodec = 'opus' | 'pcmu' | 'pcma' | 'g722';
export const WEBRTC_CODECS: readonly WebrtcCodec[] = ['opus', 'pcmu', 'pcma', 'g722'];

/** The server's side of the Opus negotiation (from [opus] and [webrtc]). */
export interface OpusPolicy {
  /** Send stereo when the offer says stereo=1 and the input has two channels. */
  stereo: boolean;
  bitrateKbps: number;
  frameMs: OpusFrameMs;
  /** RESTRICTED_LOWDELAY (CELT only, ~2.5 ms less algorithmic delay, no inband FEC). */
  lowDelay: boolean;
  useinbandfec: boolean;
  usedtx: boolean;
  cbr: boolean;
  /** Send no shorter packets than the offer's minptime. */
  honourMinptime: boolean;
  /** Highest audio bandwidth hark encodes, Hz (further capped by the offer's maxplaybackrate). */
  maxplaybackrate: number;
  complexity: number;
}

export interface NegotiationPolicy {
  /** Codecs hark may send, most preferred first. */
  codecs: readonly WebrtcCodec[];
  opus: OpusPolicy;
  /** Channels the pipeline delivers. */
  inputChannels: number;
}

/** The audio half of an answer. */
export interface AudioPlan {
  mid: string;
  codec: WebrtcCodec;
  payloadType: number;
  /** RTP clock rate: 48000 for Opus, 8000 for G.711 and (RFC 3551 §4.5.2) G.722. */
  clockRate: number;
  /** For a=rtpmap: "opus/48000/2", "PCMU/8000" … */
  rtpmap: string;
  /** a=fmtp for the answer, if any. */
  fmtp?: string;
  /** The offer asked for generic NACK on this payload type (RFC 4585). */
  nack: boolean;
  spec: EncoderSpec;
  /** One line for logs and the listener list, e.g. "opus/111 96 kbit/s stereo 10 ms fec". */
  summary: string;
}

const RTPMAP_NAMES: Record<WebrtcCodec, string> = { opus: 'opus/48000/2', pcmu: 'PCMU/8000', pcma: 'PCMA/8000', g722: 'G722/8000' };
const FRAMES: OpusFrameMs[] = [2.5, 5, 10, 20, 40, 60];

function findPayloadType(m: SdpMedia, codec: WebrtcCodec): number | undefined {
  for (const f of m.formats) {
    const pt = Number(f);
    const map = rtpMapOf(m, pt);
    if (!map || map.encoding !== codec) continue;
    if (codec === 'opus' && (map.clockRate !== 48000 || map.channels !== 2)) continue; // RFC 7587 §7
    if (codec !== 'opus' && map.clockRate !== 8000) continue;
    return pt;
  }
  return undefined;
}

function numberParam(p: Map<string, string> | undefined, key: string): number | undefined {
  const v = p?.get(key);
  if (v === undefined || !/^\d+(\.\d+)?$/.test(v)) return undefined;
  return Number(v);
}

/** RFC 7587 §6.1 maxplaybackrate → the widest Opus bandwidth worth encoding. */
export function bandwidthFor(rateHz: number): OpusBandwidth {
  if (rateHz <= 8000) return 'narrowband';
  if (rateHz <= 12000) return 'mediumband';
  if (rateHz <= 16000) return 'wideband';
  if (rateHz <= 24000) return 'superwideband';
  return 'fullband';
}

function planOpus(m: SdpMedia, pt: number, policy: NegotiationPolicy): AudioPlan {
  const o = policy.opus;
  const p = m.fmtp.get(pt);
  const channels: 1 | 2 = o.stereo && p?.get('stereo') === '1' && policy.inputChannels >= 2 ? 2 : 1;
  let bitrate = o.bitrateKbps;
  const maxAvg = numberParam(p, 'maxaveragebitrate');
  if (maxAvg !== undefined && maxAvg >= 6000) bitrate = Math.min(bitrate, Math.floor(maxAvg / 1000));
  bitrate = Math.max(6, Math.min(510, bitrate));
  let frameMs = o.frameMs;
  const minptime = numberParam(p, 'minptime');
  if (o.honourMinptime && minptime !== undefined && minptime > frameMs) {
    frameMs = FRAMES.find((f) => f >= minptime) ?? 60;
  }
  // Inband FEC lives in SILK frames; RESTRICTED_LOWDELAY is CELT only, so it cannot carry any.
  const fec = o.useinbandfec && !o.lowDelay && p?.get('useinbandfec') === '1';
  const dtx = o.usedtx && p?.get('usedtx') === '1';
  const cbr = o.cbr || p?.get('cbr') === '1';
  const playback = Math.min(o.maxplaybackrate, numberParam(p, 'maxplaybackrate') ?? 48000);
  const maxBandwidth = bandwidthFor(playback);
  const application: OpusApplication = o.lowDelay ? 'restricted-lowdelay' : 'audio';
  const spec: EncoderSpec = {
    codec: 'opus',
    channels,
    bitrateKbps: bitrate,
    frameMs,
    application,
    fec,
    dtx,
    cbr,
    complexity: o.complexity,
    ...(maxBandwidth === 'fullband' ? {} : { maxBandwidth }),
  };
  const fmtp = [
    ...(Number.isInteger(frameMs) ? [`minptime=${frameMs}`] : []),
    `useinbandfec=${fec ? 1 : 0}`,
    `stereo=${channels === 2 ? 1 : 0}`,
    `sprop-stereo=${channels === 2 ? 1 : 0}`,
    `maxaveragebitrate=${bitrate * 1000}`,
    `maxplaybackrate=${playback}`,
    `sprop-maxcapturerate=${playback}`,
    `cbr=${cbr ? 1 : 0}`,
    `usedtx=${dtx ? 1 : 0}`,
  ].join(';');
  const flags = [channels === 2 ? 'stereo' : 'mono', `${frameMs} ms`, fec && 'fec', dtx && 'dtx', cbr && 'cbr', o.lowDelay && 'lowdelay', maxBandwidth !== 'fullband' && maxBandwidth];
  return {
    mid: m.mid,
    codec: 'opus',
    payloadType: pt,
    clockRate: 48000,
    rtpmap: RTPMAP_NAMES.opus,
    fmtp,
    nack: hasNack(m, pt),
    spec,
    summary: `opus/${pt} ${bitrate} kbit/s ${flags.filter(Boolean).join(' ')}`,
  };
}

function planNarrowband(m: SdpMedia, codec: 'pcmu' | 'pcma' | 'g722', pt: number, policy: NegotiationPolicy): AudioPlan {
  let frameMs = Math.max(10, Math.min(60, policy.opus.frameMs));
  const minptime = numberParam(m.fmtp.get(pt), 'minptime');
  if (policy.opus.honourMinptime && minptime !== undefined && minptime > frameMs) frameMs = Math.min(60, Math.ceil(minptime / 10) * 10);
  return {
    mid: m.mid,
    codec,
    payloadType: pt,
    clockRate: 8000,
    rtpmap: RTPMAP_NAMES[codec],
    nack: hasNack(m, pt),
    spec: { codec, channels: policy.inputChannels >= 2 ? 2 : 1, frameMs },
    summary: `${RTPMAP_NAMES[codec].split('/')[0]}/${pt} ${frameMs} ms`,
  };
}

function hasNack(m: SdpMedia, pt: number): boolean {
  return [...(m.rtcpFb.get(pt) ?? []), ...(m.rtcpFb.get('*') ?? [])].includes('nack');
}

/**
 * The audio plan for an offer, or undefined when it has no audio m= section but a data
 * channel (an MP3-only listener). Throws NotAcceptableError when nothing can be sent.
 */
export function planAudio(offer: SdpOffer, policy: NegotiationPolicy): AudioPlan | undefined {
  const audio = offer.media.filter((m) => m.kind === 'audio' && m.port !== 0);
  const hasData = offer.media.some((m) => m.kind === 'application' && m.port !== 0);
  if (audio.length === 0) {
    if (hasData) return undefined;
    const kinds = [...new Set(offer.media.map((m) => m.kind))].join(', ');
    throw new NotAcceptableError(`the offer has no audio m= section (only ${kinds}) and no data channel: hark sends audio`);
  }
  const receiving = audio.filter((m) => m.direction === 'recvonly' || m.direction === 'sendrecv');
  if (receiving.length === 0) {
    if (hasData) return undefined;
    throw new NotAcceptableError(`the audio m= section is ${audio[0]!.direction}: a WHEP offer must be recvonly (or sendrecv)`);
  }
  const m = receiving[0]!;
  for (const codec of policy.codecs) {
    const pt = findPayloadType(m, codec);
    if (pt === undefined) continue;
    return codec === 'opus' ? planOpus(m, pt, policy) : planNarrowband(m, codec, pt, policy);
  }
  if (hasData) return undefined;
  const offered = m.formats.map((f) => rtpMapOf(m, Number(f))?.encoding ?? `pt ${f}`).join(', ');
  throw new NotAcceptableError(
    `no acceptable audio codec: the offer has ${offered || 'none'}; hark sends ${policy.codecs.map((c) => RTPMAP_NAMES[c].split('/')[0]).join(', ')}`,
  );
}
