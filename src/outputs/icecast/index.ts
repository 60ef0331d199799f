/**
 * `[[icecast]]` entries → IcecastOutputs, and the checks on an entry that the schema alone
 * cannot express (url or host+mount; an MP3 bitrate MPEG-1 Layer III can carry).
 */
import { MP3_BITRATES_KBPS } from '../../../ffi/lame.ts';
import type { EncoderSpec } from '../../codecs/index.ts';
import type { Config } from '../../config/schema.ts';
import type { OutputStatus } from '../link.ts';
import type { OutputKind } from '../kinds.ts';
import type { PacketSource } from '../packet-source.ts';
import { IcecastOutput } from './output.ts';
import { resolveTarget, type IcecastTarget } from './protocol.ts';

export { IcecastOutput, type IcecastState, type IcecastStatus } from './output.ts';

type IcecastEntry = Config['icecast'][number];

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

/** A problem with one entry: the dotted key path and the reason. */
export interface EntryProblem {
  path: string;
  reason: string;
}

/** Check what the schema cannot; returns the first problem, or null. */
export function checkIcecastEntries(entries: readonly IcecastEntry[]): EntryProblem | null {
  const ids = new Set<string>();
  for (const [i, e] of entries.entries()) {
    try {
      resolveTarget(e);
    } catch (err) {
      const msg = (err as Error).message;
      const key = msg.slice(0, msg.indexOf(':'));
      return { path: `icecast.${i}.${key}`, reason: msg.slice(msg.indexOf(':') + 2) };
    }
    if (e.format === 'mp3' && !(MP3_BITRATES_KBPS as readonly number[]).includes(e.bitrate_kbps)) {
      return { path: `icecast.${i}.bitrate_kbps`, reason: `an MP3 stream needs one of ${MP3_BITRATES_KBPS.join(', ')}, got ${e.bitrate_kbps}` };
    }
    // eslint-disable-next-line no-control-regex
    if (/[\0-\x1f\x7f]/.test(e.id)) return { path: `icecast.${i}.id`, reason: 'a short name without control characters' };
    const id = entryId(e, i);
    if (ids.has(id)) return { path: `icecast.${i}.id`, reason: `"${id}" is used by another entry; give each a distinct id` };
    ids.add(id);
  }
  return null;
}

/** An entry's id: its `id`, else its mount without "/" (the label in logs, status and pages). */
export function entryId(e: IcecastEntry, i: number): string {
  if (e.id) return e.id;
  try {
    return resolveTarget(e).mount.replace(/^\/+/, '') || `icecast${i + 1}`;
  } catch {
    return `icecast${i + 1}`;
  }
}

/** One output per entry (disabled ones too: they show as stopped). Call checkIcecastEntries first. */
export function icecastOutputs(config: Config, source: PacketSource, onChange?: (s: OutputStatus) => void): IcecastOutput[] {
  const channels = Math.min(2, config.input.channels);
  return config.icecast.map((e, i) => {
    const target: IcecastTarget = resolveTarget(e);
    return new IcecastOutput(source, {
      id: entryId(e, i),
      enabled: e.enabled,
      onChange,
      target,
      spec: e.format === 'mp3' ? broadcastMp3Spec(channels, e.bitrate_kbps) : broadcastOpusSpec(channels, e.bitrate_kbps),
      title: config.metadata.title,
      info: {
        name: e.name,
        description: e.description,
        genre: e.genre,
        url: e.website,
        public: e.public,
        format: e.format,
        bitrateKbps: e.bitrate_kbps,
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
