import { describe, expect, test } from 'bun:test';
import { Control } from './control.ts';
import { EventBus } from './events.ts';
import { Scheduler } from './schedule.ts';
import { validateConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';

const MIN = 60_000;

/**
 * A box on an injected clock: the real Control (live/idle, and a recorder that is on or off),
 * the scheduler ticking once a simulated minute. What happened is what a person would see:
 * the state at each change, in UTC.
 */
function box(schedule: Config['schedule'], zone: string, startIso: string, opts: { synced?: () => boolean } = {}) {
  // A copy the test may change (the store's snapshots are frozen; this is the scheduler's view of one).
  const config = structuredClone(validateConfig({ schedule, time: { zone } }));
  let t = Date.parse(startIso);
  let recording = false;
  const control = new Control(new EventBus(), {
    setRecording: (on) => {
      recording = on;
      return on ? 'recording' : 'recording stopped';
    },
    isRecording: () => recording,
  });
  const log: string[] = [];
  const sched = new Scheduler({
    entries: () => config.schedule,
    zone: () => config.time.zone,
    clock: () => ({ synced: opts.synced?.() ?? true, by: 'test' }),
    now: () => t,
    run: async (action) => {
      log.push(`${new Date(t).toISOString().slice(0, 16)}Z ${action}`);
      return control.run(action, {}, 'schedule');
    },
    setTimer: () => 0,
    clearTimer: () => {},
  });
  sched.start();
  return {
    control,
    config,
    log,
    sched,
    get recording() {
      return recording;
    },
    /** Let the simulated clock run, a minute at a time, to `iso` (the actions settle after each tick). */
    async runTo(iso: string) {
      const end = Date.parse(iso);
      while (t < end) {
        t += MIN;
        sched.tick();
        await Bun.sleep(0);
      }
    },
    at: () => t,
  };
}

describe('schedules on an injected clock', () => {
  test('a week and more in Europe/Amsterdam across the end of summer time: Sunday 10:00 is 08:00 UTC before it and 09:00 UTC after; Wednesday records', async () => {
    const b = box(
      [
        { days: ['sun'], start: '10:00', end: '11:30', action: 'live' },
        { days: ['wed'], start: '19:00', end: '20:00', action: 'record' },
      ],
      'Europe/Amsterdam',
      // Saturday 17 October 2026; summer time ends on Sunday 25 October at 01:00 UTC.
      '2026-10-17T00:00:00Z',
    );
    await b.runTo('2026-10-26T00:00:00Z');
    expect(b.log).toEqual([
      '2026-10-18T08:00Z go_live',
      '2026-10-18T09:30Z stop',
      '2026-10-21T17:00Z record',
      '2026-10-21T18:00Z stop_recording',
      '2026-10-25T09:00Z go_live',
      '2026-10-25T10:30Z stop',
    ]);
    expect(b.control.state).toBe('idle');
  });

  test('the start of summer time (Amsterdam, 28 March 2027): an entry in the skipped hour starts when the clock jumps into it', async () => {
    const b = box([{ days: ['sun'], start: '02:30', end: '03:30', action: 'record' }], 'Europe/Amsterdam', '2027-03-27T22:00:00Z');
    await b.runTo('2027-03-28T06:00:00Z');
    // 01:00 UTC: 02:00 CET becomes 03:00 CEST (inside 02:30–03:30), and 03:30 CEST is 01:30 UTC.
    expect(b.log).toEqual(['2027-03-28T01:00Z record', '2027-03-28T01:30Z stop_recording']);
  });

  test('the repeated hour when summer time ends runs an entry once', async () => {
    const b = box([{ days: ['sun'], start: '02:15', end: '02:45', action: 'live' }], 'Europe/Amsterdam', '2026-10-24T22:00:00Z');
    await b.runTo('2026-10-25T04:00:00Z');
    // 02:15 CEST is 00:15 UTC; the second 02:15 (CET, 01:15 UTC) is the same occurrence.
    expect(b.log).toEqual(['2026-10-25T00:15Z go_live', '2026-10-25T00:45Z stop']);
  });

  test('a person wins until the next scheduled change: Stop during the service stays stopped; Go live after it stays live until the next end', async () => {
    const b = box([{ days: ['sun'], start: '10:00', end: '11:30', action: 'live' }], 'UTC', '2026-11-01T09:00:00Z');
    await b.runTo('2026-11-01T10:10:00Z');
    expect(b.control.state).toBe('live');
    await b.control.run('stop', {}, 'web');
    await b.runTo('2026-11-01T11:29:00Z');
    // Nothing scheduled changed: the scheduler did not go live again.
    expect(b.control.state).toBe('idle');
    expect(b.log).toEqual(['2026-11-01T10:00Z go_live']);
    await b.runTo('2026-11-01T12:00:00Z');
    await b.control.run('go_live', {}, 'web');
    await b.runTo('2026-11-08T09:59:00Z');
    expect(b.control.state).toBe('live');
    await b.runTo('2026-11-08T11:30:00Z');
    expect(b.control.state).toBe('idle');
    expect(b.log).toEqual(['2026-11-01T10:00Z go_live', '2026-11-01T11:30Z stop', '2026-11-08T10:00Z go_live', '2026-11-08T11:30Z stop']);
  });

  test('nothing runs before the clock is synchronised; then an entry in progress starts, and nothing is stopped', async () => {
    let synced = false;
    const b = box([{ days: ['sun'], start: '10:00', end: '11:30', action: 'record' }], 'UTC', '2026-11-01T09:00:00Z', { synced: () => synced });
    await b.runTo('2026-11-01T10:20:00Z');
    expect(b.log).toEqual([]);
    expect(b.sched.status()).toMatchObject({ synced: false });
    synced = true;
    await b.runTo('2026-11-01T10:21:00Z');
    expect(b.log).toEqual(['2026-11-01T10:21Z record']);
    expect(b.recording).toBe(true);
    await b.runTo('2026-11-01T12:00:00Z');
    expect(b.log).toEqual(['2026-11-01T10:21Z record', '2026-11-01T11:30Z stop_recording']);
    expect(b.recording).toBe(false);
  });

  test('status: the entries in force and the next change, in the zone', async () => {
    const b = box(
      [
        { days: ['sun'], start: '10:00', end: '11:30', action: 'live' },
        { days: ['mon', 'tue'], start: '22:00', end: '24:00', action: 'record' },
      ],
      'Europe/Amsterdam',
      // Sunday 1 November 2026 10:30 CET.
      '2026-11-01T09:30:00Z',
    );
    const s = b.sched.status();
    expect(s.now).toEqual([{ action: 'live', start: '10:00', end: '11:30' }]);
    expect(s.next).toEqual({ day: 'sun', time: '11:30', what: 'stop' });
    await b.runTo('2026-11-02T21:30:00Z');
    // Monday 22:30 CET: recording until midnight, that is Tuesday 00:00.
    expect(b.sched.status().next).toEqual({ day: 'tue', time: '00:00', what: 'stop recording' });
  });
});

test('removing the entry in force is a change: it stops', async () => {
  const b = box([{ days: ['sun'], start: '10:00', end: '11:30', action: 'live' }], 'UTC', '2026-11-01T09:59:00Z');
  await b.runTo('2026-11-01T10:05:00Z');
  expect(b.control.state).toBe('live');
  (b.config.schedule as unknown[]).length = 0;
  b.sched.changed();
  await Bun.sleep(0);
  expect(b.control.state).toBe('idle');
  expect(b.log).toEqual(['2026-11-01T10:00Z go_live', '2026-11-01T10:05Z stop']);
});
