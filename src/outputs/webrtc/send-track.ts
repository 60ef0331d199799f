/**
 * The one way hark adds an RTP audio track that it sends on (the WHEP sessions and the WHIP
 * publisher): a SendOnly m= section with our SSRC, and the packetizer chain — RTP
 * packetizing, RTCP sender reports and NACK answers from a history of sent packets.
 */
import nd from 'node-datachannel';
import type * as ND from 'node-datachannel';

export interface SendTrackPlan {
  mid: string;
  ssrc: number;
  payloadType: number;
  clockRate: number;
  /** Sent packets kept to answer NACKs. */
  nackHistory: number;
  /** Puts the codec (and any a= lines) on the m= section. */
  codec(media: ND.Audio): void;
}

export interface SendTrack {
  media: ND.Audio;
  track: ND.Track;
  rtpConfig: ND.RtpPacketizationConfig;
  /** Kept referenced while the track lives (the C++ side points at them). */
  handlers: ND.MediaHandler[];
}

export function addSendTrack(pc: ND.PeerConnection, p: SendTrackPlan): SendTrack {
  const media = new nd.Audio(p.mid, 'SendOnly');
  p.codec(media);
  media.addSSRC(p.ssrc, 'hark', 'hark', 'hark-audio');
  const track = pc.addTrack(media);
  const rtpConfig = new nd.RtpPacketizationConfig(p.ssrc, 'hark', p.payloadType, p.clockRate);
  const packetizer = new nd.RtpPacketizer(rtpConfig);
  const sr = new nd.RtcpSrReporter(rtpConfig);
  const nack = new nd.RtcpNackResponder(p.nackHistory);
  packetizer.addToChain(sr);
  packetizer.addToChain(nack);
  track.setMediaHandler(packetizer);
  return { media, track, rtpConfig, handlers: [packetizer, sr, nack] };
}

/**
 * Send one encoded packet stamped with `timestamp` (RFC 3550 §5.1: the sampling instant of its
 * first sample, from the sample clock; libdatachannel's packetizer does not advance it by
 * itself). True when the track took it; a send error is passed to `onError`.
 */
export function sendAt(t: SendTrack, timestamp: number, buf: Buffer, onError: (e: Error) => void): boolean {
  t.rtpConfig.timestamp = timestamp >>> 0;
  try {
    return t.track.sendMessageBinary(buf);
  } catch (e) {
    onError(e as Error);
    return false;
  }
}
