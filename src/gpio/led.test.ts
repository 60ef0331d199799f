import { afterEach, beforeEach, describe, expect, jest, test } from 'bun:test';
import { EventBus } from '../control/events.ts';
import { Indicators, type Led, LedBank, type LedPattern, patternLevel } from './led.ts';

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

/** An LED that records every level written, with the fake clock's time. */
function led(shows: Led['shows'], pattern: LedPattern) {
  const writes: { t: number; on: boolean }[] = [];
  const t0 = performance.now();
  const l: Led = { label: `${shows}-${pattern}`, shows, pattern, write: (on) => writes.push({ t: Math.round(performance.now() - t0), on }) };
  return { l, writes };
}

const state = (bus: EventBus, live: boolean, muted: boolean) =>
  bus.emit({ type: 'state', state: !live ? 'idle' : muted ? 'muted' : 'live', live, muted });

describe('patterns', () => {
  test.each([
    ['on', [0, 100, 250, 999, 1000, 5000], [true, true, true, true, true, true]],
    ['blink', [0, 249, 250, 499, 500, 750], [true, true, false, false, true, false]],
    ['pulse', [0, 999, 1000, 1999, 2000, 3000], [true, true, false, false, true, false]],
  ] as const)('%s at %p ms', (pattern, times, levels) => {
    expect(times.map((t) => patternLevel(pattern, t))).toEqual([...levels]);
  });
});

describe('LedBank', () => {
  test('a steady LED follows live: one write on, one write off, nothing in between', () => {
    const bus = new EventBus();
    const ind = new Indicators(bus, { signalDbfs: -40 });
    const { l, writes } = led('live', 'on');
    const bank = new LedBank([l], ind);
    expect(writes).toEqual([{ t: 0, on: false }]);
    state(bus, true, false);
    jest.advanceTimersByTime(10_000);
    state(bus, false, false);
    expect(writes.map((w) => w.on)).toEqual([false, true, false]);
    bank.close();
  });

  test('blink: lit at once when muted, then toggles every 250 ms; off as soon as unmuted', () => {
    const bus = new EventBus();
    const ind = new Indicators(bus, { signalDbfs: -40 });
    const { l, writes } = led('muted', 'blink');
    const bank = new LedBank([l], ind);
    jest.advanceTimersByTime(100);
    state(bus, true, true);
    jest.advanceTimersByTime(1100);
    state(bus, true, false);
    jest.advanceTimersByTime(1000);
    expect(writes).toEqual([
      { t: 0, on: false },
      { t: 100, on: true },
      { t: 350, on: false },
      { t: 600, on: true },
      { t: 850, on: false },
      { t: 1100, on: true },
      { t: 1200, on: false },
    ]);
    bank.close();
  });

  test('pulse is a slow blink: 1 s on, 1 s off', () => {
    const bus = new EventBus();
    const ind = new Indicators(bus, { signalDbfs: -40 });
    const { l, writes } = led('listeners', 'pulse');
    const bank = new LedBank([l], ind);
    bus.emit({ type: 'listeners', count: 3 });
    jest.advanceTimersByTime(4500);
    expect(writes.map((w) => `${w.t}:${w.on ? 1 : 0}`)).toEqual(['0:0', '0:1', '1000:0', '2000:1', '3000:0', '4000:1']);
    bus.emit({ type: 'listeners', count: 0 });
    expect(writes.at(-1)).toEqual({ t: 4500, on: false });
    bank.close();
  });

  test('error: lit while any alert is active, off when the last one clears', () => {
    const bus = new EventBus();
    const ind = new Indicators(bus, { signalDbfs: -40 });
    const { l } = led('error', 'on');
    const bank = new LedBank([l], ind);
    const alert = (id: string, active: boolean) => bus.emit({ type: 'alert', id, level: 'warn', message: id, active });
    alert('silence', true);
    alert('recording.disk', true);
    expect(bank.lit(l.label)).toBe(true);
    alert('silence', false);
    expect(bank.lit(l.label)).toBe(true);
    alert('recording.disk', false);
    expect(bank.lit(l.label)).toBe(false);
    bank.close();
  });

  test('signal: lit while the input peaks above the threshold, held 300 ms after', () => {
    const bus = new EventBus();
    let peak = -90;
    const ind = new Indicators(bus, { signalDbfs: -40, levels: () => ({ peak_dbfs: [-90, peak] }) });
    const { l } = led('signal', 'on');
    const bank = new LedBank([l], ind);
    jest.advanceTimersByTime(500);
    expect(bank.lit(l.label)).toBe(false);
    peak = -20;
    jest.advanceTimersByTime(100);
    expect(bank.lit(l.label)).toBe(true);
    peak = -60;
    jest.advanceTimersByTime(200);
    expect(bank.lit(l.label)).toBe(true);
    jest.advanceTimersByTime(200);
    expect(bank.lit(l.label)).toBe(false);
    bank.close();
  });

  test('live and muted LEDs: muted while live lights both; live starts as control is', () => {
    const bus = new EventBus();
    const ind = new Indicators(bus, { signalDbfs: -40, status: () => ({ live: true, muted: false }) });
    const live = led('live', 'on');
    const muted = led('muted', 'on');
    const bank = new LedBank([live.l, muted.l], ind);
    expect([bank.lit(live.l.label), bank.lit(muted.l.label)]).toEqual([true, false]);
    state(bus, true, true);
    expect([bank.lit(live.l.label), bank.lit(muted.l.label)]).toEqual([true, true]);
    bank.close();
  });

  test('flash: every LED blinks together at 4 Hz for the time asked, then shows its indicator again (a factory reset at the start)', () => {
    const bus = new EventBus();
    const ind = new Indicators(bus, { signalDbfs: -40 });
    const live = led('live', 'on');
    const muted = led('muted', 'blink');
    const bank = new LedBank([live.l, muted.l], ind);
    state(bus, true, false);
    bank.flash(1000);
    jest.advanceTimersByTime(2000);
    // Live was lit; the flash starts lit, toggles every 125 ms for 1 s, then live is lit again (muted off).
    expect(live.writes.map((w) => [w.t, w.on])).toEqual([[0, false], [0, true], [125, false], [250, true], [375, false], [500, true], [625, false], [750, true], [875, false], [1000, true]]);
    expect(muted.writes.map((w) => [w.t, w.on])).toEqual([[0, false], [0, true], [125, false], [250, true], [375, false], [500, true], [625, false], [750, true], [875, false], [1000, false]].filter((w, i, a) => i === 0 || w[1] !== a[i - 1]![1]));
    expect(bank.lit('live-on')).toBe(true);
    expect(bank.lit('muted-blink')).toBe(false);
    bank.close();
    bank.flash(1000);
    expect(bank.lit('live-on')).toBe(false);
  });

  test('close() turns lit LEDs off and stops the clock; twice is fine', () => {
    const bus = new EventBus();
    const ind = new Indicators(bus, { signalDbfs: -40 });
    const { l, writes } = led('muted', 'blink');
    const bank = new LedBank([l], ind);
    state(bus, false, true);
    bank.close();
    bank.close();
    const n = writes.length;
    jest.advanceTimersByTime(2000);
    state(bus, false, false);
    expect(writes.length).toBe(n);
    expect(writes.at(-1)!.on).toBe(false);
  });

  test('a failing write is reported, and the others still follow', () => {
    const bus = new EventBus();
    const ind = new Indicators(bus, { signalDbfs: -40 });
    const good = led('live', 'on');
    const bad: Led = { label: 'bad', shows: 'live', pattern: 'on', write: () => { throw new Error('EIO'); } };
    const errors: string[] = [];
    const bank = new LedBank([bad, good.l], ind, (l, e) => errors.push(`${l.label}: ${e.message}`));
    state(bus, true, false);
    expect(errors).toEqual(['bad: EIO', 'bad: EIO']);
    expect(bank.lit(good.l.label)).toBe(true);
    bank.close();
  });
});
