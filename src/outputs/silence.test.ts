import { describe, expect, test } from 'bun:test';
import { Alerts, type AlertEvent } from './alerts.ts';
import { SilenceDetector } from './silence.ts';

function setup(afterS = 10) {
  let now = 0;
  let rms = [-20, -22];
  const alerts = new Alerts();
  const events: AlertEvent[] = [];
  alerts.on((e) => events.push(e));
  const d = new SilenceDetector({ currentLevels: () => ({ peak_dbfs: rms, rms_dbfs: rms, clips: [0, 0] }) }, alerts, {
    thresholdDbfs: -50,
    afterS,
    pollMs: 1e9,
    now: () => now,
  });
  d.start();
  const at = (t: number, levels: number[]) => {
    now = t;
    rms = levels;
    d.tick();
  };
  return { d, alerts, events, at };
}

describe('SilenceDetector', () => {
  test('raises after after_s below the threshold on every channel, clears when the signal returns', () => {
    const { d, alerts, events, at } = setup(10);
    at(0, [-20, -22]);
    at(1000, [-70, -65]);
    at(10_900, [-70, -65]);
    expect(d.state).toBe('signal');
    expect(alerts.list()).toHaveLength(0);
    at(11_000, [-70, -65]);
    expect(d.state).toBe('silent');
    expect(alerts.list()).toEqual([expect.objectContaining({ id: 'silence', severity: 'warning' })]);
    expect(alerts.list()[0]!.message).toBe('The input has been silent for 10 s (below -50 dBFS).');
    expect(d.status()).toMatchObject({ state: 'silent', silent_for_s: 10, level_dbfs: -65 });
    at(12_000, [-70, -65]);
    expect(events).toHaveLength(1);
    at(13_000, [-70, -30]); // one channel with signal is signal
    expect(d.state).toBe('signal');
    expect(alerts.list()).toHaveLength(0);
    expect(events.map((e) => e.type)).toEqual(['raised', 'cleared']);
  });

  test('a short dip resets the count', () => {
    const { d, at } = setup(2);
    at(0, [-80, -80]);
    at(1900, [-80, -80]);
    at(1950, [-10, -10]);
    at(2100, [-80, -80]);
    at(4000, [-80, -80]);
    expect(d.state).toBe('signal');
    at(4100, [-80, -80]);
    expect(d.state).toBe('silent');
  });

  test('close() clears an active alert', () => {
    const { d, alerts, at } = setup(1);
    at(0, [-90, -90]);
    at(1000, [-90, -90]);
    expect(alerts.isActive('silence')).toBe(true);
    d.close();
    expect(alerts.isActive('silence')).toBe(false);
    expect(d.state).toBe('stopped');
  });
});
