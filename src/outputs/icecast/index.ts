/**
 * `[[icecast]]` entries → IcecastOutputs (the checks on an entry are src/config/check.ts).
 */
import type { EncoderSpec } from '../../codecs/index.ts';
import type { Config } from '../../config/schema.ts';
import type { OutputStatus } from '../link.ts';
import type { OutputKind } from '../kinds.ts';
import type { PacketSource } from '../packet-source.ts';
import { IcecastOutput } from './output.ts';
import { programChannels } from '../../config/programs.ts';
import { entryId, resolveTarget, type IcecastTarget } from '../../config/icecast-target.ts';

export { IcecastOutput, type IcecastState, type IcecastStatus } from './output.ts';

/** The Opus settings hark broadcasts with (Icecast Ogg/Opus, recordings): 20 ms frames, VBR. */
export function broadcastOpusSpec(channels: number, bitrateKbps: number): EncoderSpec {
  return {
    codec: 'opus',
    channels: Math.min(2, channels) as 1 | 2,
    bitrateKbps,
    frameMs: 20,
    application: 'audio',
    fec: false,
    dtx: false,
    cbr: false,
    complexity: 8,
  };
}

/** The MP3 settings for a bitrate: CBR, so that /stream.mp3 at the same rate shares the encoder. */
export function broadcastMp3Spec(channels: number, bitrateKbps: number): EncoderSpec {
  return { codec: 'mp3', channels: Math.min(2, channels) as 1 | 2, bitrateKbps, mode: 'cbr' };
}

/** The FLAC settings hark streams with (Icecast Ogg FLAC): 16 bits (a recording may keep 24). */
export function broadcastFlacSpec(channels: number): EncoderSpec {
  return { codec: 'flac', channels, bitsPerSample: 16 };
}

/** One output per entry (disabled ones too: they show as stopped). Call checkIcecastEntries first. */
export function icecastOutputs(config: Config, source: PacketSource, onChange?: (s: OutputStatus) => void): IcecastOutput[] {
  return config.icecast.map((e, i) => {
    const channels = programChannels(config, e.program);
    const target: IcecastTarget = resolveTarget(e);
    return new IcecastOutput(source, {
      id: entryId(e, i),
      enabled: e.enabled,
      onChange,
      target,
      program: e.program,
      spec: e.format === 'mp3' ? broadcastMp3Spec(channels, e.bitrate_kbps) : e.format === 'ogg-flac' ? broadcastFlacSpec(channels) : broadcastOpusSpec(channels, e.bitrate_kbps),
      title: config.metadata.title,
      info: {
        name: e.name,
        description: e.description,
        genre: e.genre,
        url: e.website,
        public: e.public,
        format: e.format,
        // Ogg FLAC has no set bitrate: the uncompressed one, for the directories.
        bitrateKbps: e.format === 'ogg-flac' ? channels * 16 * 48 : e.bitrate_kbps,
        channels,
        sampleRate: 48_000,
      },
    });
  });
}

/** The `[[icecast]]` kind, for the registry (kinds.ts). */
export const icecastKind: OutputKind<IcecastOutput> = {
  kind: 'icecast',
  build: icecastOutputs,
  // The stream's channel count is fixed in the Icecast handshake.
  restartWhen: (prev, next) => prev.input.channels !== next.input.channels,
};
