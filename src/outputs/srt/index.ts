/** `[[srt]]` entries → SrtOutputs. */
import type { EncoderSpec } from '../../codecs/index.ts';
import type { TsPayload } from '../../codecs/mpegts.ts';
import { programChannels } from '../../config/programs.ts';
import type { Config } from '../../config/schema.ts';
import { srtTarget } from '../../config/srt-url.ts';
import type { OutputKind } from '../kinds.ts';
import type { OutputStatus } from '../link.ts';
import type { PacketSource } from '../packet-source.ts';
import { SrtOutput } from './output.ts';

export { SrtOutput, SrtLink, SrtLinkError } from './output.ts';

type Entry = Config['srt'][number];

/** An entry's id: its `id`, else srtN. */
export function srtEntryId(e: Entry, i: number): string {
  return e.id || `srt${i + 1}`;
}

/** The encoder an entry asks for, and what the TS calls it. */
export function srtEncoding(e: Entry, channels: number): { spec: EncoderSpec; payload: TsPayload } {
  const ch = Math.min(2, channels) as 1 | 2;
  switch (e.payload) {
    case 'opus':
      // A contribution link is about delay: 10 ms frames of CELT alone (restricted-lowdelay: 2.5 ms
      // look-ahead, against 6.5 ms), as low-delay codecs and ffmpeg's `-application lowdelay` send;
      // no in-band FEC: SRT sends lost packets again within latency_ms.
      return {
        payload: 'opus',
        spec: { codec: 'opus', channels: ch, bitrateKbps: e.bitrate_kbps, frameMs: 10, application: 'restricted-lowdelay', fec: false, dtx: false, cbr: false, complexity: 8 },
      };
    case 'mp3':
      return { payload: 'mp3', spec: { codec: 'mp3', channels: ch, bitrateKbps: e.bitrate_kbps, mode: 'cbr' } };
    case 'mp2':
      return { payload: 'mp2', spec: { codec: 'mp2', channels: ch, bitrateKbps: e.bitrate_kbps } };
    case 'pcm':
      // 4 ms AES3 packets: 5 TS packets each in stereo; short enough for a 20 ms link.
      return { payload: 's302m', spec: { codec: 's302m', channels: ch, frameMs: 2 } };
  }
}

export function srtOutputs(config: Config, source: PacketSource, onChange?: (s: OutputStatus) => void): SrtOutput[] {
  return config.srt.map((e, i) => {
    const { spec, payload } = srtEncoding(e, programChannels(config, e.program));
    return new SrtOutput(source, {
      id: srtEntryId(e, i),
      enabled: e.enabled,
      url: e.url,
      target: srtTarget(e),
      payload,
      spec,
      program: e.program,
      onChange,
    });
  });
}

/** The `[[srt]]` kind, for the registry (kinds.ts). */
export const srtKind: OutputKind<SrtOutput> = { kind: 'srt', build: srtOutputs };
