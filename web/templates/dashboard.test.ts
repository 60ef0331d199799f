import { describe, expect, test } from 'bun:test';
import { clock, megabytes, onAirAlert, onAirSummary, type OnAirView } from './dashboard.ts';

const view = (over: Partial<OnAirView> = {}): OnAirView => ({
  state: 'live',
  lines: [
    { name: 'Icecast server (radio.example.org:8000/live)', tone: 'on', text: 'on air for', since: '2026-12-03T10:00:00.000Z', amount: '38 MB sent' },
    { name: 'Recording', tone: 'on', text: 'recording for', since: '2026-12-03T10:00:01.000Z', amount: '180 MB' },
    { name: 'Listen page', tone: 'on', text: '3 people' },
  ],
  problems: [],
  nothingSending: false,
  onAirSince: '2026-12-03T10:00:00.000Z',
  ...over,
});

describe('the on-air summary', () => {
  test('plain words, one line per destination', () => {
    const text = onAirSummary(view(), Date.parse('2026-12-03T10:42:10Z')).value.replace(/<[^>]+>/g, '');
    expect(text).toContain('On air for 00:42:10');
    expect(text).toContain('Icecast server (radio.example.org:8000/live): on air for 00:42:10, 38 MB sent');
    expect(text).toContain('Recording: recording for 00:42:09, 180 MB');
    expect(text).toContain('Listen page: 3 people');
  });

  test('the SSE fragment holds start times, not clock readings: it is the same a second later', () => {
    const a = onAirSummary(view()).value;
    expect(a).toContain('data-since="2026-12-03T10:00:00.000Z"');
    expect(onAirSummary(view()).value).toBe(a);
  });

  test('a problem: the alert, and no "On air" headline', () => {
    const v = view({ problems: ['Icecast server (x:8000/live): the server refused the password'] });
    expect(onAirSummary(v).value).not.toContain('On air');
    const alert = onAirAlert(v).value;
    expect(alert).toContain('role="alert"');
    expect(alert.replace(/<[^>]+>/g, '')).toContain('Live — 1 problem');
    expect(onAirAlert(view()).value).toBe('');
  });

  test('off air and nothing sending say so', () => {
    expect(onAirSummary(view({ state: 'idle' })).value).toContain('Off air.');
    const nothing = onAirSummary(view({ nothingSending: true, lines: [] })).value;
    expect(nothing).toContain('Live, but nothing is sending yet.');
    expect(nothing).toContain('href="/outputs"');
  });

  test('clock and megabytes', () => {
    expect(clock(2530)).toBe('00:42:10');
    expect(clock(360000)).toBe('100:00:00');
    expect(megabytes(400_000)).toBe('0.4 MB');
    expect(megabytes(38_200_000)).toBe('38 MB');
    expect(megabytes(1_234_000_000)).toBe('1.2 GB');
  });
});
