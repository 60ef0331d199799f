/**
 * The clip of an alert's moment (issue 17, item 2): the 15 s before silence or input loss began
 * and the 15 s after, kept as Ogg/Opus in `<recording.dir>/clips/` and served at /api/clips/<name>.
 * The alert (webhook, e-mail, MQTT) links to it by this name before the clip is complete, so the
 * name depends only on the alert and the moment it began.
 */
export const CLIPS_DIR = 'clips';

/** e.g. clipName('silence', '2026-12-03T16:40:05.120Z') → "silence-20261203-164005.opus". */
export function clipName(alertId: string, since: string): string {
  const t = new Date(since);
  const stamp = Number.isFinite(t.getTime())
    ? t.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
    : 'unknown';
  return `${alertId.replace(/[^a-z0-9]+/gi, '-')}-${stamp}.opus`;
}

/** The path (to be joined to the box's address) that serves the clip. */
export function clipUrlPath(alertId: string, since: string): string {
  return `/api/clips/${clipName(alertId, since)}`;
}

/**
 * The clip's file. The clip ring writes the 15 s before at once (within a second of the alert)
 * and appends the 15 s after as they come, flushing whole Ogg pages, so the file is a playable
 * Ogg/Opus prefix at any moment and complete 15 s after the alert began.
 */
export function clipFile(recordingDir: string, alertId: string, since: string): string {
  return `${recordingDir.replace(/\/+$/, '')}/${CLIPS_DIR}/${clipName(alertId, since)}`;
}
