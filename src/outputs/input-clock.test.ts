import { expect, test } from 'bun:test';
import type { EngineStats } from '../audio/engine.ts';
import { Alerts } from './alerts.ts';
import { INPUT_CLOCK_ALERT, InputClockWatch } from './input-clock.ts';

test('input.clock: raised with the speed while frames are dropped, cleared 10 s after the last drop', () => {
  let stats = { frames: 0, discardedFrames: 0 } as EngineStats;
  let t = 0;
  const alerts = new Alerts();
  const w = new InputClockWatch(() => stats, alerts, { now: () => t });
  w.tick();
  // One second: 48 960 frames kept (1.02x) and 1 053 120 dropped: 22.5x as fast as it should be.
  stats = { frames: 48_960, discardedFrames: 1_053_120 } as EngineStats;
  t = 1000;
  w.tick();
  expect(alerts.list()).toHaveLength(1);
  expect(alerts.list()[0]).toMatchObject({ id: INPUT_CLOCK_ALERT, severity: 'warning' });
  expect(alerts.list()[0]!.message).toBe(
    'The input delivers audio 22.5x faster than real time: hark drops the excess (1053120 frames so far). Check the device and its driver.',
  );
  // Real time again: the alert stays for 10 s, then clears.
  for (let s = 2; s <= 10; s++) {
    stats = { frames: 48_960 + (s - 1) * 48_000, discardedFrames: 1_053_120 } as EngineStats;
    t = s * 1000;
    w.tick();
    expect(alerts.isActive(INPUT_CLOCK_ALERT)).toBe(true);
  }
  t = 11_000;
  w.tick();
  expect(alerts.isActive(INPUT_CLOCK_ALERT)).toBe(false);
});

test('input.clock is raised once per episode: the log is not repeated every second', () => {
  let stats = { frames: 0, discardedFrames: 0 } as EngineStats;
  let t = 0;
  const alerts = new Alerts();
  const events: string[] = [];
  alerts.on((e) => events.push(e.type));
  const w = new InputClockWatch(() => stats, alerts, { now: () => t });
  w.tick();
  for (let s = 1; s <= 5; s++) {
    stats = { frames: s * 48_960, discardedFrames: s * 100_000 + s * s } as EngineStats;
    t = s * 1000;
    w.tick();
  }
  expect(events).toEqual(['raised']);
});
