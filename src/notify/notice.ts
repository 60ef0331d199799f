/**
 * What a notifier sends: one Notice per thing a person should hear about (an alert began,
 * ended, is still there; an output is down; hark restarted), and how each entry's filters
 * (events, min_severity) decide who hears it.
 */
import { NOTIFY_EVENTS, type Config } from '../config/schema.ts';

export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];
export type Severity = 'info' | 'warning' | 'critical';
type Entry = Config['notify'][number];

export interface Notice {
  /** The group people choose in `events` ('test' for the page's "Send a test"). */
  event: NotifyEvent | 'test';
  /** What it is about: the alert id ("silence", "input.lost"), "output:icecast:main", "restart" or "test". */
  id: string;
  /** began, ended, still (repeat_minutes), or info (something that happened once). */
  state: 'began' | 'ended' | 'still' | 'info';
  severity: Severity;
  message: string;
  /** When the condition began (ISO 8601). */
  since: string;
  /** When this notice was made. */
  at: string;
  /** The clip's absolute URL (silence, input lost), or null. */
  clip: string | null;
  /** The clip's file on this box (never sent; an e-mail attaches it). */
  clipFile?: string;
}

/** The box as a notice names it. */
export interface BoxInfo {
  /** Host name ("studio"). */
  name: string;
  /** Its first LAN address ("192.168.1.20"). */
  address: string;
  /** The admin page ("http://192.168.1.20:8080/"). */
  url: string;
}

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** Which `events` group an alert id belongs to. */
export function eventOf(alertId: string): NotifyEvent {
  if (alertId === 'silence' || alertId.startsWith('silence.')) return 'silence';
  if (alertId.startsWith('input.') || alertId === 'input') return 'input';
  if (alertId === 'recording.disk') return 'disk';
  if (alertId.startsWith('recording.')) return 'recording';
  if (alertId === 'fallback' || alertId.startsWith('fallback.')) return 'fallback';
  return 'other';
}

/** Whether an entry wants this notice (a test always passes). */
export function wants(entry: Pick<Entry, 'events' | 'min_severity'>, n: Pick<Notice, 'event' | 'severity'>): boolean {
  if (n.event === 'test') return true;
  return (entry.events as readonly string[]).includes(n.event) && RANK[n.severity] >= RANK[entry.min_severity];
}

const STATE_WORDS: Record<Notice['state'], string> = { began: '', ended: 'Over: ', still: 'Still: ', info: '' };

/** One line for a subject, a push title or a chat message: "studio: Over: The input has been silent …". */
export function headline(n: Notice, box: BoxInfo): string {
  return `${box.name}: ${STATE_WORDS[n.state]}${n.message}`.slice(0, 300);
}

/** The JSON document a webhook gets (and MQTT's `<topic>/event`). */
export function noticeDocument(n: Notice, box: BoxInfo) {
  return {
    event: n.event,
    id: n.id,
    state: n.state,
    severity: n.severity,
    message: n.message,
    since: n.since,
    at: n.at,
    box,
    clip: n.clip,
    // Slack-compatible endpoints (and ntfy's JSON) show `text`.
    text: headline(n, box),
  };
}

/** The e-mail's plain text. */
export function noticeText(n: Notice, box: BoxInfo, attached: boolean): string {
  const lines = [
    headline(n, box),
    '',
    `What: ${n.message}`,
    `Since: ${n.since}`,
    `Box: ${box.name} (${box.address}), ${box.url}`,
  ];
  if (n.clip) lines.push(`Listen to what happened: ${n.clip}${attached ? ' (also attached)' : ''}`);
  lines.push('', `Sent by hark (${n.event}, ${n.severity}).`);
  return lines.join('\n');
}
