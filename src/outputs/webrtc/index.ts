/**
 * The WebRTC (WHEP) output from hark's configuration. Mechanics live apart from lifecycles:
 * sdp.ts, negotiate.ts and rtcp.ts are protocol; session.ts and server.ts own listeners.
 */
import type { AudioPipeline } from '../../audio/pipeline.ts';
import type { EncoderSpec } from '../../codecs/index.ts';
import type { Config } from '../../config/schema.ts';
import type { NegotiationPolicy } from './negotiate.ts';
import { isIP } from 'node:net';
import { WebRtcOutput } from './server.ts';

export { WebRtcOutput } from './server.ts';
export type { ListenerInfo } from './session.ts';

/** Opus complexity for listeners: encoded once for all of them, so the best is affordable. */
const OPUS_COMPLEXITY = 10;

export function negotiationPolicy(config: Config): NegotiationPolicy {
  const w = config.webrtc;
  return {
    codecs: w.codecs,
    inputChannels: config.input.channels,
    opus: {
      stereo: w.stereo,
      bitrateKbps: config.opus.bitrate_kbps,
      frameMs: config.opus.frame_ms,
      lowDelay: config.opus.low_delay,
      useinbandfec: w.useinbandfec,
      usedtx: w.usedtx,
      cbr: w.cbr,
      honourMinptime: w.honour_minptime,
      maxplaybackrate: w.maxplaybackrate,
      complexity: OPUS_COMPLEXITY,
    },
  };
}

/**
 * The address the WebRTC UDP port binds: http.host when that is one specific address (a box
 * serving only loopback, or one LAN address, keeps its media there too), else every interface.
 */
export function udpBindAddress(host: string): string | undefined {
  if (!isIP(host) || host === '0.0.0.0' || host === '::') return undefined;
  return host;
}

/** The WebRTC output for `config`; its `mp3` data channel shares /stream.mp3's encoder. */
export function createWebRtcOutput(config: Config, pipeline: AudioPipeline): WebRtcOutput {
  const mp3Spec: EncoderSpec = { codec: 'mp3', channels: Math.min(2, config.input.channels) as 1 | 2, bitrateKbps: config.mp3.bitrate_kbps, mode: 'cbr' };
  return new WebRtcOutput(pipeline, {
    maxListeners: config.webrtc.max_listeners,
    maxPerAddress: config.webrtc.max_listeners_per_address,
    bindAddress: udpBindAddress(config.http.host),
    udpPort: config.webrtc.udp_port,
    iceServers: config.webrtc.ice_servers,
    additionalHosts: config.webrtc.additional_hosts,
    policy: negotiationPolicy(config),
    mp3Spec,
    mp3QueueBytes: config.stream.queue_kb * 1024,
  });
}
