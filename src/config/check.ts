import { checkSrtEntries } from './srt-url.ts';
/**
 * The cross-field checks on a config that the schema alone cannot express (an Icecast entry's
 * url or host+mount, distinct ids, an MP3 bitrate MPEG-1 Layer III can carry, a WHIP URL).
 * Pure code on the config; the loader calls it so that a bad entry is refused like any other
 * bad key, naming its path.
 */
import type { Config } from './schema.ts';
import { entryId, resolveTarget } from './icecast-target.ts';
import { MP3_BITRATES_KBPS } from './mp3-bitrates.ts';
import { checkNotifyEntries } from './notify-check.ts';
import { checkPrograms } from './programs.ts';
import { checkRtpEntries } from './rtp-check.ts';
import { checkPassphrase, InputUrlError, parseInputUrl } from './input-url.ts';

type IcecastEntry = Config['icecast'][number];

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

/** The first cross-field problem (Icecast entries, the recording's bitrate, WHIP URLs), or null. */
export function checkBroadcastConfig(c: Config): EntryProblem | null {
  const programs = checkPrograms(c);
  if (programs) return programs;
  const input = checkNetworkInput(c);
  if (input) return input;
  const ice = checkIcecastEntries(c.icecast);
  if (ice) return ice;
  if (c.recording.format === 'mp3' && !(MP3_BITRATES_KBPS as readonly number[]).includes(c.recording.bitrate_kbps)) {
    return { path: 'recording.bitrate_kbps', reason: `an MP3 recording needs one of ${MP3_BITRATES_KBPS.join(', ')}, got ${c.recording.bitrate_kbps}` };
  }
  for (const [i, w] of c.whip.entries()) {
    let u: URL;
    try {
      u = new URL(w.url);
    } catch {
      return { path: `whip.${i}.url`, reason: `not a URL: ${JSON.stringify(w.url)}` };
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return { path: `whip.${i}.url`, reason: `must start with http:// or https://, got ${u.protocol}//` };
  }
  const srt = checkSrtEntries(c);
  if (srt) return srt;
  const rtp = checkRtpEntries(c);
  if (rtp) return rtp;
  return checkNotifyEntries(c.notify);
}

/** A network input (input.source = "srt" or "rtp"): its URL and passphrase. */
export function checkNetworkInput(c: Config): EntryProblem | null {
  const src = c.input.source;
  if (src !== 'srt' && src !== 'rtp') return null;
  try {
    const u = parseInputUrl(src, c.input.url);
    if (u.kind === 'srt') {
      const p = checkPassphrase(c.input.passphrase || u.passphrase);
      if (p) return { path: c.input.passphrase ? 'input.passphrase' : 'input.url', reason: p };
    }
  } catch (e) {
    if (e instanceof InputUrlError) return { path: 'input.url', reason: e.message };
    throw e;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\0-\x1f\x7f]/.test(c.input.output_device)) return { path: 'input.output_device', reason: 'a PipeWire node name without control characters' };
  return null;
}
