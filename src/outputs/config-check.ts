/**
 * Checks on the broadcast sections that the schema alone cannot express; the config loader
 * calls this so that a bad entry is refused like any other bad key, naming its path.
 */
import { MP3_BITRATES_KBPS } from '../../ffi/lame.ts';
import type { Config } from '../config/schema.ts';
import { checkIcecastEntries, type EntryProblem } from './icecast/index.ts';

export function checkBroadcastConfig(c: Config): EntryProblem | null {
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
  return null;
}
