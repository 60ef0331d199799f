/** `[[whip]]` entries → WhipOutputs. */
import type { EncoderSpec } from '../../codecs/index.ts';
import type { Config } from '../../config/schema.ts';
import type { OutputStatus } from '../link.ts';
import type { OutputKind } from '../kinds.ts';
import type { PacketSource } from '../packet-source.ts';
import { WhipOutput } from './output.ts';
import { programChannels } from '../../config/programs.ts';

export { WhipOutput, type WhipState } from './output.ts';

/** What hark publishes over WHIP: 20 ms Opus with in-band FEC (a WebRTC path may lose packets). */
export function whipOpusSpec(channels: number, bitrateKbps: number): EncoderSpec & { codec: 'opus' } {
  return {
    codec: 'opus',
    channels: Math.min(2, channels) as 1 | 2,
    bitrateKbps,
    frameMs: 20,
    application: 'audio',
    fec: true,
    dtx: false,
    cbr: false,
    complexity: 8,
  };
}

/** An entry's id: its `id`, else whipN (the label in logs, status and pages). */
export function whipEntryId(w: Config['whip'][number], i: number): string {
  return w.id || `whip${i + 1}`;
}

export function whipOutputs(config: Config, source: PacketSource, onChange?: (s: OutputStatus) => void): WhipOutput[] {
  return config.whip.map(
    (w, i) =>
      new WhipOutput(source, {
        id: whipEntryId(w, i),
        enabled: w.enabled,
        onChange,
        endpoint: w.url,
        token: w.token,
        bindAddress: w.bind_address,
        program: w.program,
        spec: whipOpusSpec(programChannels(config, w.program), w.bitrate_kbps),
      }),
  );
}

/** The `[[whip]]` kind, for the registry (kinds.ts). */
export const whipKind: OutputKind<WhipOutput> = { kind: 'whip', build: whipOutputs };
