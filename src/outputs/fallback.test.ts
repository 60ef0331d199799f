import { describe, expect, test } from 'bun:test';
import { Alerts, INPUT_LOST_ALERT, type AlertEvent } from './alerts.ts';
import { FALLBACK_ALERT, FallbackSwitch } from './fallback.ts';
import { Value } from '@sinclair/typebox/value';
import { FallbackSchema } from '../config/schema.ts';
import type { FallbackSettings } from '../audio/fallback.ts';
import type { FallbackFileReport } from '../audio/fallback-files.ts';

function setup(over: Partial<ReturnType<typeof cfg>> = {}, files?: FallbackFileReport[]) {
  let t = 1_000_000;
  let live = true;
  let level = -20;
  const alerts = new Alerts();
  const events: AlertEvent[] = [];
  alerts.on((e) => events.push(e));
  const sent: (FallbackSettings | null)[] = [];
  const engaged: boolean[] = [];
  const config = { ...cfg(), ...over };
  const load = async (paths: string[]) =>
    files ?? paths.map((name) => ({ name, state: 'ok' as const, message: '', seconds: 1, format: 'flac', clip: { name: name.split('/').pop()!, pcm: new SharedArrayBuffer(4), frames: 1 } }));
  const sw = new FallbackSwitch(
    { currentLevels: () => ({ peak_dbfs: [level, level], rms_dbfs: [level, level], clips: [0, 0] }) },
    alerts,
    { setFallback: (s) => sent.push(s), engageFallback: (on) => engaged.push(on), stats: () => undefined },
    { config, thresholdDbfs: -50, channels: 2, now: () => t, pollMs: 1e9, load, onAir: () => live },
  );
  return {
    sw,
    alerts,
    events,
    sent,
    engaged,
    advance(ms: number, step = 250) {
      for (let d = 0; d < ms; d += step) {
        t += step;
        sw.tick();
      }
    },
    set level(v: number) {
      level = v;
    },
    set live(v: boolean) {
      live = v;
    },
  };
}

function cfg() {
  return { ...Value.Default(FallbackSchema, {}) as ReturnType<typeof Value.Default> & object, enabled: true, after_s: 10, return_s: 5, devices: [] as string[], files: ['/etc/hark/fallback/loop.flac'], crossfade_ms: 100 };
}

describe('FallbackSwitch', () => {
  test('off by default', () => {
    expect(Value.Default(FallbackSchema, {})).toMatchObject({ enabled: false, after_s: 10, return_s: 5, devices: [], files: [], crossfade_ms: 100 });
  });

  test('silence for after_s engages (alert raised, in plain words); signal for return_s releases (alert cleared)', async () => {
    const h = setup();
    await h.sw.start();
    expect(h.sent.at(-1)?.clips.map((c) => c.name)).toEqual(['loop.flac']);
    h.level = -90;
    h.advance(9_750);
    expect(h.engaged).toEqual([]);
    h.advance(500);
    expect(h.engaged).toEqual([true]);
    expect(h.alerts.list()).toEqual([expect.objectContaining({ id: FALLBACK_ALERT, severity: 'warning', message: 'Playing the fallback: loop.flac — the input has been silent for 10 s.' })]);
    expect(h.sw.status()).toMatchObject({ active: true, reason: 'silence', source: 'loop.flac' });
    // A short return of signal does not switch back; return_s of it does.
    h.level = -20;
    h.advance(2_000);
    h.level = -90;
    h.advance(1_000);
    h.level = -20;
    h.advance(4_750);
    expect(h.engaged).toEqual([true]);
    expect(h.sw.status().returns_in_s).toBeGreaterThan(0);
    h.advance(500);
    expect(h.engaged).toEqual([true, false]);
    expect(h.alerts.isActive(FALLBACK_ALERT)).toBe(false);
    expect(h.events.map((e) => `${e.type} ${e.alert.id}`)).toEqual(['raised fallback', 'cleared fallback']);
    h.sw.close();
    expect(h.sent.at(-1)).toBeNull();
  });

  test('input lost for after_s engages with that reason, even before the levels say silence', async () => {
    const h = setup({ after_s: 2 });
    await h.sw.start();
    h.alerts.raise(INPUT_LOST_ALERT, 'critical', 'Input lost: device lost.');
    h.advance(2_000);
    expect(h.engaged).toEqual([true]);
    expect(h.sw.status()).toMatchObject({ reason: 'input lost' });
    expect(h.alerts.list().find((a) => a.id === FALLBACK_ALERT)?.message).toBe('Playing the fallback: loop.flac — the input is lost.');
    // Signal while the input is still flagged lost does not release.
    h.advance(10_000);
    expect(h.engaged).toEqual([true]);
    h.alerts.clear(INPUT_LOST_ALERT, 'back');
    h.advance(5_000);
    expect(h.engaged).toEqual([true, false]);
  });

  test('nothing to play (every file missing or broken, no device): never engages, and says why by name', async () => {
    const h = setup({ files: ['/x/missing.flac', '/x/broken.mp3'] }, [
      { name: '/x/missing.flac', state: 'missing', message: 'no such file', seconds: 0 },
      { name: '/x/broken.mp3', state: 'error', message: 'cannot decode it: no MPEG audio found', seconds: 0 },
    ]);
    await h.sw.start();
    h.level = -90;
    h.advance(20_000);
    expect(h.engaged).toEqual([]);
    const st = h.sw.status();
    expect(st.message).toBe('The fallback has nothing to play: no backup device, and no file that plays.');
    expect(st.files).toEqual([
      { name: '/x/missing.flac', state: 'missing', message: 'no such file', seconds: 0 },
      { name: '/x/broken.mp3', state: 'error', message: 'cannot decode it: no MPEG audio found', seconds: 0 },
    ]);
  });

  test('only while live: off air a silent room engages nothing; going off air while engaged releases', async () => {
    const h = setup();
    await h.sw.start();
    h.live = false;
    h.level = -90;
    h.advance(30_000);
    expect(h.engaged).toEqual([]);
    expect(h.alerts.isActive(FALLBACK_ALERT)).toBe(false);
    expect(h.sw.status().message).toBe('Ready: while live, after 10 s of silence the outputs play the fallback.');
    // Going live into the quiet room: after_s counts from going live.
    h.live = true;
    h.advance(9_750);
    expect(h.engaged).toEqual([]);
    h.advance(500);
    expect(h.engaged).toEqual([true]);
    h.live = false;
    h.advance(250);
    expect(h.engaged).toEqual([true, false]);
    expect(h.events.map((e) => `${e.type} ${e.alert.id}`)).toEqual(['raised fallback', 'cleared fallback']);
  });

  test('disabled: start does nothing', async () => {
    const h = setup({ enabled: false });
    await h.sw.start();
    h.level = -90;
    h.advance(20_000);
    expect(h.sent).toEqual([]);
    expect(h.sw.status()).toMatchObject({ enabled: false, active: false, message: 'The fallback is off.' });
  });
});
