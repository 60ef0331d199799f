import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { METER_SCALE, meterPct, meters } from '../../../web/templates/components.ts';
import { PAGES, WIDGETS, widgetsOf, type Widget } from './widgets.ts';
import { PAGE_EVENTS } from '../sse.ts';

describe('the widget registry', () => {
  test('every slot id is unique, and every page takes the events of the widgets it shows', () => {
    const ids = Object.values(WIDGETS as Record<string, Widget>).flatMap((w) => (w.slot ? [w.slot.id] : []));
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of PAGES) {
      expect(widgetsOf(p)).toContain('state-badge');
      for (const n of widgetsOf(p)) expect(PAGE_EVENTS[p]).toContain(n);
    }
    expect(PAGE_EVENTS.dashboard).toContain('levels');
    expect(PAGE_EVENTS.system).not.toContain('levels');
  });

  test('state reaches widgets by bus events; a timer only where a clock changes what they show, with the reason', () => {
    const all = WIDGETS as Record<string, Widget>;
    const timed = Object.keys(all).filter((n) => all[n]!.everyMs);
    expect(timed.sort()).toEqual(['clock', 'devices', 'fallback', 'icecast-entries', 'input-status', 'listener-table', 'log', 'meters', 'on-air', 'outputs', 'program-levels', 'recorder', 'recordings', 'rtp-entries', 'srt-entries', 'sysinfo', 'whip-entries']);
    for (const n of timed) expect((all[n]!.clock ?? '').length).toBeGreaterThan(20);
    // Everything else shows state, and has the events that change it.
    for (const [n, w] of Object.entries(all)) if (!w.everyMs) expect({ n, on: (w.on ?? []).length > 0 }).toEqual({ n, on: true });
    expect(all.listeners!.on).toContain('listeners');
    expect(all['input-status']!.on).toContain('input');
    expect(all.recordings!.on).toContain('mark');
    expect(all.alerts!.on).toContain('config');
    for (const w of Object.values(all)) for (const n of w.also ?? []) expect(Object.keys(all)).toContain(n);
  });
});

describe('the meter scale', () => {
  test('admin.js places the live bars with the same table as the server', () => {
    const js = readFileSync(resolve(import.meta.dir, '../../../web/static/admin.js'), 'utf8');
    const table = JSON.parse(js.match(/const METER_SCALE = (\[.*\]);/)![1]!);
    expect(table).toEqual(METER_SCALE.map((r) => [...r]));
  });

  test('the zones and the labels sit where the bars of those levels end', () => {
    expect(meterPct(-60)).toBe(0);
    expect(meterPct(0)).toBe(100);
    expect(meterPct(-12)).toBe(70);
    const h = meters({ peak: [-12], rms: [-15], hold: [-12], clip: [false] }).value;
    expect(h).toContain('data-w="70.0"');
    expect(h).toContain('<span data-x="70.0" data-db="-12">−12</span>');
    expect(h).toContain('data-z-amber="55.0" data-z-red="85.0"');
    // No style attributes: the Content-Security-Policy would refuse them.
    expect(h).not.toContain('style=');
    expect(h).toContain('role="meter"');
    expect(h).toContain('aria-valuenow="-12.0"');
    expect(h).toContain('<span class="clip" aria-hidden="true">CLIP</span>');
    expect(meters({ peak: [0], rms: [-3], hold: [0], clip: [true] }).value).toContain('<span class="clip on" role="img" aria-label="Mono channel clipping">CLIP</span>');
  });
});
