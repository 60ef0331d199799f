import { afterAll, describe, expect, test } from 'bun:test';
import { ConfigError, parseConfig, validateConfig } from './load.ts';
import { knownZone, parseClock, systemZone, wallClock } from './schedule.ts';

/** The refusal of a config: its key path and reason, as the API and the log give them. */
function refusal(raw: object): { path: string; reason: string } {
  try {
    validateConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return { path: (e as ConfigError).path, reason: (e as ConfigError).reason };
  }
  throw new Error('accepted');
}

const sun = (start: string, end: string, action = 'live') => ({ days: ['sun'], start, end, action });

describe('[[schedule]] and [time]: bad input is refused with its key path and the reason', () => {
  const cases: [string, object, string, RegExp][] = [
    ['end before start', { schedule: [sun('11:00', '10:00')] }, 'schedule.0.end', /^must be after the start \(11:00\), got "10:00"; an entry ends on the day it starts/],
    ['end equal to start', { schedule: [sun('10:00', '10:00')] }, 'schedule.0.end', /^must be after the start/],
    ['an unknown day', { schedule: [{ days: ['sun', 'funday'], start: '10:00', end: '11:00' }] }, 'schedule.0.days.1', /^must be one of "mon", "tue", "wed", "thu", "fri", "sat", "sun", got "funday"$/],
    ['no day', { schedule: [{ days: [], start: '10:00', end: '11:00' }] }, 'schedule.0.days', /^pick at least one day$/],
    ['a time that is not one', { schedule: [sun('25:00', '26:00')] }, 'schedule.0.start', /^a time like "10:00" \(24-hour clock\), got "25:00"$/],
    ['a time without its zero', { schedule: [sun('9:00', '10:00')] }, 'schedule.0.start', /got "9:00"$/],
    ['24:30', { schedule: [sun('10:00', '24:30')] }, 'schedule.0.end', /^a time like "11:30"/],
    ['an unknown action', { schedule: [sun('10:00', '11:00', 'explode')] }, 'schedule.0.action', /^must be one of "live", "record", got "explode"$/],
    ['an unknown key', { schedule: [{ ...sun('10:00', '11:00'), zone: 'UTC' }] }, 'schedule.0.zone', /^unknown key$/],
    [
      'overlapping entries',
      { schedule: [{ days: ['sat', 'sun'], start: '10:00', end: '11:30' }, { days: ['sun'], start: '11:00', end: '12:00', action: 'record' }] },
      'schedule.1',
      /^overlaps schedule\.0 on Sunday \(10:00–11:30\); entries may not overlap$/,
    ],
    ['a zone that does not exist', { time: { zone: 'Mars/Olympus_Mons' } }, 'time.zone', /^not a time zone this box knows: "Mars\/Olympus_Mons" \(an IANA name like "Europe\/Amsterdam"; empty: the system's\)$/],
    ['a zone with a line break', { time: { zone: 'UTC\nx' } }, 'time.zone', /^not a time zone this box knows/],
    ['a VOX threshold above 0 dBFS', { vox: { threshold_dbfs: 3 } }, 'vox.threshold_dbfs', /^must be between -90 and 0, got 3$/],
    ['a VOX action that is not one', { vox: { action: 'mute' } }, 'vox.action', /^must be one of "record", "live", got "mute"$/],
    ['a pre-roll longer than the ring keeps', { vox: { preroll_s: 31 } }, 'vox.preroll_s', /^must be between 0 and 30, got 31$/],
    ['a negative max_minutes', { recording: { max_minutes: -1 } }, 'recording.max_minutes', /^must be between 0 and 10080, got -1$/],
  ];
  for (const [name, raw, path, reason] of cases) {
    test(name, () => {
      const r = refusal(raw);
      expect(r.path).toBe(path);
      expect(r.reason).toMatch(reason);
    });
  }

  test('good ones load: back to back, midnight, a zone, VOX, a fraction of a minute', () => {
    const c = parseConfig(`[time]\nzone = "Europe/Amsterdam"\n[[schedule]]\ndays = ["sun"]\nstart = "10:00"\nend = "11:30"\n[[schedule]]\ndays = ["sun"]\nstart = "11:30"\nend = "24:00"\naction = "record"\n[vox]\nenabled = true\n[recording]\nmax_minutes = 0.5\n`);
    expect(c.schedule).toHaveLength(2);
    expect(c.schedule[0]!.action).toBe('live');
    expect(c.vox).toEqual({ enabled: true, threshold_dbfs: -40, attack_s: 2, release_s: 30, preroll_s: 5, action: 'record' });
    expect(c.recording.max_minutes).toBe(0.5);
  });
});

describe('the wall clock in a zone', () => {
  test('HH:MM', () => {
    expect(parseClock('00:00')).toBe(0);
    expect(parseClock('23:59')).toBe(1439);
    expect(parseClock('24:00')).toBeNull();
    expect(parseClock('24:00', true)).toBe(1440);
    expect(parseClock('12:60')).toBeNull();
  });
  test('Amsterdam in summer and winter time', () => {
    expect(wallClock(Date.parse('2026-10-25T00:30:00Z'), 'Europe/Amsterdam')).toEqual({ day: 'sun', minutes: 150, date: '2026-10-25' });
    expect(wallClock(Date.parse('2026-10-25T01:30:00Z'), 'Europe/Amsterdam')).toEqual({ day: 'sun', minutes: 150, date: '2026-10-25' });
    expect(wallClock(Date.parse('2026-10-25T23:30:00Z'), 'Europe/Amsterdam')).toEqual({ day: 'mon', minutes: 30, date: '2026-10-26' });
  });
});

describe('the system zone without ICU', () => {
  const saved = process.env.TZ;
  afterAll(() => {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  });
  test('TZ first (as the System page sets it), in each of its spellings', () => {
    for (const [tz, zone] of [
      ['Europe/Berlin', 'Europe/Berlin'],
      [':America/New_York', 'America/New_York'],
      ['/usr/share/zoneinfo/Asia/Tokyo', 'Asia/Tokyo'],
      ['/usr/share/zoneinfo/posix/Europe/Paris', 'Europe/Paris'],
      ['UTC', 'UTC'],
    ] as const) {
      process.env.TZ = tz;
      expect(systemZone()).toBe(zone);
    }
  });
  test('without TZ: the zone /etc/localtime names, as ICU reads it', () => {
    delete process.env.TZ;
    const z = systemZone();
    expect(z).toMatch(/^[A-Za-z]/);
    expect(knownZone(z)).toBe(true);
  });
});
