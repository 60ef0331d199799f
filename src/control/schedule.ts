/**
 * The scheduler: `[[schedule]]` entries run the control actions at their start and end, in the
 * time zone `[time] zone`. It acts only on a *change*: when an entry's time comes it goes live
 * (or records), when it ends it stops. Between changes it does nothing, so a person's action
 * (Stop during a scheduled service, Go live outside one) wins until the next scheduled change.
 *
 * The wall clock is read through Intl in the zone, so a DST change moves the instants with the
 * zone's rules: "Sunday 10:00" is 08:00 UTC in summer and 09:00 UTC in winter in Amsterdam. An
 * occurrence (entry × local date) starts at most once: the hour repeated when the clocks go back
 * does not start it twice. On the hour skipped in spring it starts when the clock reaches a
 * minute inside it, if any.
 *
 * Nothing runs before the clock is synchronised (clock.ts): at the first synchronised tick an
 * entry in progress starts (a box that booted during the service joins it); nothing is stopped.
 */
import type { Config } from '../config/schema.ts';
import { DAY_NAMES, clockText, entrySpan, wallClock, type Weekday } from '../config/schedule.ts';
import type { ClockProbe } from './clock.ts';
import type { ActionName } from './control.ts';
import { logger } from '../log.ts';

type Entry = Config['schedule'][number];
type Kind = Entry['action'];

const START: Record<Kind, ActionName> = { live: 'go_live', record: 'record' };
const STOP: Record<Kind, ActionName> = { live: 'stop', record: 'stop_recording' };

export interface SchedulerDeps {
  entries(): readonly Entry[];
  zone(): string;
  clock: ClockProbe;
  run(action: ActionName): Promise<unknown>;
  /** Injectable clock (ms since the epoch). */
  now?: () => number;
  /** Timers (tests drive tick() themselves and pass no-ops). */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

/** What the page shows: the zone, the clock, and what comes next. */
export interface ScheduleStatus {
  zone: string;
  synced: boolean;
  clockBy: string;
  /** Entries in force now, by action (a person may have overridden them). */
  now: { action: Kind; start: string; end: string }[];
  /** The next start or end, in the zone's words: "Sunday 10:00: go live". */
  next: { day: Weekday; time: string; what: string } | null;
}

/** While the clock is not synchronised, look this often. */
const UNSYNCED_POLL_MS = 5_000;

const log = logger('schedule');

/** An occurrence's identity: the entry's times and days, and the local date. */
const occurrence = (e: Entry, date: string) => `${e.action} ${e.days.join(',')} ${e.start}-${e.end} @${date}`;

export class Scheduler {
  /** The occurrence in force per action at the last tick (undefined: no tick since the clock was synchronised). */
  private readonly active = new Map<Kind, string | null>();
  /** Occurrences already started (kept a couple of days: the repeated hour in autumn). */
  private readonly started = new Map<string, number>();
  private timer: unknown;
  private closed = true;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (t: unknown) => void;

  constructor(private readonly deps: SchedulerDeps) {
    this.now = deps.now ?? Date.now;
    this.setTimer = deps.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = deps.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>));
  }

  /** Start ticking (once a minute, on the minute, while there are entries). Idempotent. */
  start(): void {
    this.closed = false;
    this.tick();
  }

  close(): void {
    this.closed = true;
    this.clearTimer(this.timer);
    this.timer = undefined;
  }

  /** The entries or the zone changed: look again now. */
  changed(): void {
    if (!this.closed) this.tick();
  }

  /** Look at the clock and run what changed since the last look; then wait for the next minute. */
  tick(): void {
    this.clearTimer(this.timer);
    this.timer = undefined;
    const entries = this.deps.entries();
    const t = this.now();
    let wait: number | null = null;
    // Nothing scheduled and nothing in force: nothing to look at (no timer).
    if (entries.length > 0 || [...this.active.values()].some((v) => v)) {
      if (!this.deps.clock().synced) wait = UNSYNCED_POLL_MS;
      else {
        // An entry removed while in force is a change too: it stops.
        this.step(entries, t);
        // The next minute, whatever the zone (offsets are whole minutes), and a little after.
        if (entries.length > 0) wait = 60_000 - (t % 60_000) + 50;
      }
    }
    if (wait !== null && !this.closed) this.timer = this.setTimer(() => this.tick(), wait);
  }

  private step(entries: readonly Entry[], t: number): void {
    const wc = wallClock(t, this.deps.zone());
    for (const [k, at] of this.started) if (t - at > 3 * 86_400_000) this.started.delete(k);
    for (const kind of ['live', 'record'] as const) {
      const e = entries.find((e) => {
        if (e.action !== kind || !e.days.includes(wc.day)) return false;
        const s = entrySpan(e);
        return s.start <= wc.minutes && wc.minutes < s.end;
      });
      const id = e ? occurrence(e, wc.date) : null;
      const prev = this.active.get(kind);
      if (id === prev) continue;
      this.active.set(kind, id);
      if (id && e) {
        // The hour repeated when the clocks go back: this occurrence ran already; it is not in force again.
        if (this.started.has(id)) {
          this.active.set(kind, null);
          continue;
        }
        this.started.set(id, t);
        log.info(`${DAY_NAMES[wc.day]} ${e.start}–${e.end}: ${kind === 'live' ? 'going live' : 'recording'}`);
        void this.deps.run(START[kind]).catch((err: Error) => log.warn(`${START[kind]} refused: ${err.message}`));
      } else if (prev) {
        log.info(`${DAY_NAMES[wc.day]} ${clockText(wc.minutes)}: the scheduled ${kind === 'live' ? 'broadcast' : 'recording'} ends`);
        void this.deps.run(STOP[kind]).catch((err: Error) => log.warn(`${STOP[kind]} refused: ${err.message}`));
      }
    }
  }

  status(): ScheduleStatus {
    const entries = this.deps.entries();
    const zone = this.deps.zone();
    const c = this.deps.clock();
    // No entries (the default): no wall clock to read. /api/status comes here at every poll, and
    // formatting a time in a zone runs ICU, whose pages an idle hark has dropped.
    if (entries.length === 0) return { zone, synced: c.synced, clockBy: c.by, now: [], next: null };
    const wc = wallClock(this.now(), zone);
    const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
    const inForce = entries.filter((e) => {
      const s = entrySpan(e);
      return e.days.includes(wc.day) && s.start <= wc.minutes && wc.minutes < s.end;
    });
    // The next boundary in the week ahead, by the wall clock (a DST change can shift it by an hour).
    let next: ScheduleStatus['next'] = null;
    let best = Infinity;
    const today = days.indexOf(wc.day);
    for (const e of entries) {
      const s = entrySpan(e);
      for (const d of e.days) {
        for (const [m, what] of [
          [s.start, e.action === 'live' ? 'go live' : 'start recording'],
          [s.end, e.action === 'live' ? 'stop' : 'stop recording'],
        ] as const) {
          let ahead = ((days.indexOf(d) - today + 7) % 7) * 1440 + m - wc.minutes;
          if (ahead <= 0) ahead += 7 * 1440;
          if (ahead < best) {
            best = ahead;
            next = { day: m === 1440 ? days[(days.indexOf(d) + 1) % 7]! : d, time: clockText(m % 1440), what };
          }
        }
      }
    }
    return { zone, synced: c.synced, clockBy: c.by, now: inForce.map((e) => ({ action: e.action, start: e.start, end: e.end })), next };
  }
}
