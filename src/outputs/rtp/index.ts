/** `[[rtp]]` entries → RtpOutputs. */
import type { EncoderSpec } from '../../codecs/index.ts';
import type { OpusFrameMs } from '../../../ffi/opus.ts';
import type { Config } from '../../config/schema.ts';
import { rtpEntryId, rtpPacketMs } from '../../config/rtp-check.ts';
import type { OutputStatus } from '../link.ts';
import type { OutputKind } from '../kinds.ts';
import type { PacketSource } from '../packet-source.ts';
import { RtpOutput } from './output.ts';

export { RtpOutput, type RtpState } from './output.ts';

type RtpEntry = Config['rtp'][number];

/** What an entry asks the encoders for: PCM packets of packet_ms, or Opus frames of that size (no FEC: a LAN). */
export function rtpSpec(e: RtpEntry): EncoderSpec {
  const frameMs = rtpPacketMs(e);
  if (e.payload !== 'opus') return { codec: e.payload, channels: e.channels, frameMs };
  return { codec: 'opus', channels: e.channels, bitrateKbps: e.bitrate_kbps, frameMs: frameMs as OpusFrameMs, application: 'audio', fec: false, dtx: false, cbr: false, complexity: 8 };
}

export function rtpOutputs(config: Config, source: PacketSource, onChange?: (s: OutputStatus) => void): RtpOutput[] {
  return config.rtp.map(
    (e, i) =>
      new RtpOutput(source, {
        id: rtpEntryId(e, i),
        enabled: e.enabled,
        program: e.program,
        address: e.address,
        port: e.port,
        payload: e.payload,
        payloadType: e.payload_type,
        packetMs: rtpPacketMs(e),
        channels: e.channels,
        ttl: e.ttl,
        sap: e.sap,
        sourceAddress: e.source_address,
        spec: rtpSpec(e),
        ...(onChange ? { onChange } : {}),
      }),
  );
}

/** The `[[rtp]]` kind, for the registry (kinds.ts). */
export const rtpKind: OutputKind<RtpOutput> = { kind: 'rtp', build: rtpOutputs };
