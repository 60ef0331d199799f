/**
 * Schedules and the time zone they run in: parsing "HH:MM", the wall clock of an instant in an
 * IANA zone (Intl, so DST follows the zone's rules), and the checks the schema cannot express
 * (end after start, overlapping entries, a zone the system knows). Pure code on the config.
 */
import { readlinkSync } from 'node:fs';
import type { Config } from './schema.ts';
import { WEEKDAYS } from './schema.ts';
import type { EntryProblem } from './check.ts';

export type Weekday = (typeof WEEKDAYS)[number];
type ScheduleEntry = Config['schedule'][number];

/** How the page and the refusals name the days. */
export const DAY_NAMES: Record<Weekday, string> = { mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday', sat: 'Saturday', sun: 'Sunday' };

/** Minutes after midnight for "HH:MM" (24-hour; "24:00" only where `end`), or null. */
export function parseClock(s: string, end = false): number | null {
  const m = /^(\d{2}):(\d{2})$/.exec(s);
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (min > 59 || h > 24 || (h === 24 && (!end || min !== 0))) return null;
  return h * 60 + min;
}

/** "HH:MM" for minutes after midnight. */
export const clockText = (minutes: number) => `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

/** Whether the system knows the zone (an IANA name). */
export function knownZone(zone: string): boolean {
  if (!zone || zone.length > 64 || /[\u0000-\u001f\s]/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

let system: { tz: string | undefined; zone: string } | undefined;

/**
 * The system's zone: TZ (hark sets it when the System page changes the zone), else the name
 * /etc/localtime links to, as ICU finds it, but without ICU: /api/status asks for the zone at
 * every poll, and a DateTimeFormat pages ICU's code and zone data back into a hark that had
 * dropped them (4–5 MB of its idle memory, bench/ab-rss.ts). ICU answers only when neither says.
 */
export function systemZone(): string {
  const tz = process.env.TZ;
  if (system && system.tz === tz) return system.zone;
  let zone = tz?.replace(/^:/, '') ?? '';
  if (zone.startsWith('/')) zone = zoneOfPath(zone);
  if (!tz) {
    try {
      zone = zoneOfPath(readlinkSync('/etc/localtime'));
    } catch {
      zone = '';
    }
  }
  if (!/^[A-Za-z][A-Za-z0-9_+\-]*(\/[A-Za-z0-9_+\-]+)*$/.test(zone)) zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  system = { tz, zone };
  return zone;
}

/** "Europe/London" of "/usr/share/zoneinfo/Europe/London" (or "../usr/share/zoneinfo/…"), else "". */
function zoneOfPath(path: string): string {
  return /(?:^|\/)zoneinfo\/(.+)$/.exec(path)?.[1]?.replace(/^(posix|right)\//, '') ?? '';
}

/** The zone schedules run in: [time] zone, else the system's. */
export function scheduleZone(c: Pick<Config, 'time'>): string {
  return c.time.zone || systemZone();
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAY_OF: Record<string, Weekday> = { Mon: 'mon', Tue: 'tue', Wed: 'wed', Thu: 'thu', Fri: 'fri', Sat: 'sat', Sun: 'sun' };

/** The wall clock at `ms` in `zone`: the day of the week, minutes after midnight, and the local date (YYYY-MM-DD). */
export function wallClock(ms: number, zone: string): { day: Weekday; minutes: number; date: string } {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(zone, f);
  }
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(ms)) p[part.type] = part.value;
  return { day: WEEKDAY_OF[p.weekday!]!, minutes: Number(p.hour) * 60 + Number(p.minute), date: `${p.year}-${p.month}-${p.day}` };
}

/** The entries of a schedule as minutes, for the scheduler and the page (only valid ones reach here). */
export function entrySpan(e: ScheduleEntry): { start: number; end: number } {
  return { start: parseClock(e.start) ?? 0, end: parseClock(e.end, true) ?? 0 };
}

/** The first problem with `[time]` and `[[schedule]]`, or null. */
export function checkScheduleConfig(c: Config): EntryProblem | null {
  if (c.time.zone && !knownZone(c.time.zone)) {
    return { path: 'time.zone', reason: `not a time zone this box knows: ${JSON.stringify(c.time.zone)} (an IANA name like "Europe/Amsterdam"; empty: the system's)` };
  }
  const spans: { i: number; start: number; end: number; days: readonly string[] }[] = [];
  for (const [i, e] of c.schedule.entries()) {
    if (e.days.length === 0) return { path: `schedule.${i}.days`, reason: 'pick at least one day' };
    const start = parseClock(e.start);
    if (start === null) return { path: `schedule.${i}.start`, reason: `a time like "10:00" (24-hour clock), got ${JSON.stringify(e.start)}` };
    const end = parseClock(e.end, true);
    if (end === null) return { path: `schedule.${i}.end`, reason: `a time like "11:30" (24-hour clock; "24:00" for midnight), got ${JSON.stringify(e.end)}` };
    if (end <= start) return { path: `schedule.${i}.end`, reason: `must be after the start (${e.start}), got ${JSON.stringify(e.end)}; an entry ends on the day it starts (use two entries to go past midnight)` };
    for (const o of spans) {
      const day = e.days.find((d) => o.days.includes(d));
      if (day && start < o.end && o.start < end) {
        return { path: `schedule.${i}`, reason: `overlaps schedule.${o.i} on ${DAY_NAMES[day as Weekday]} (${clockText(o.start)}–${clockText(o.end)}); entries may not overlap` };
      }
    }
    spans.push({ i, start, end, days: e.days });
  }
  return null;
}
