import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeShimStats } from './pipewire.ts';
import { abiDefines, abiHeader, DevState, PW_OPEN, PW_STATS } from './pw_abi.ts';

const SHIM = readFileSync(join(import.meta.dir, 'pw_shim.c'), 'utf8');

describe('the PipeWire shim ABI (pw_abi.ts ↔ pw_shim.c)', () => {
  test('the compiled shim writes exactly the declared stats: every slot of PW_STATS, nothing past it', () => {
    const { written, values } = probeShimStats();
    expect(written).toBe(PW_STATS.length);
    const unwritten = PW_STATS.filter((_, i) => Number.isNaN(values[i]!));
    expect(unwritten).toEqual([]);
    // The slots after the declared ones keep the NaN they were filled with.
    expect([...values.subarray(PW_STATS.length)].every(Number.isNaN)).toBe(true);
    // A zeroed handle: every counter 0.
    expect([...values.subarray(0, PW_STATS.length)]).toEqual(PW_STATS.map(() => 0));
  });

  test('each declared stat is written once by name in hk_stats (HK_STAT_<NAME>)', () => {
    const body = SHIM.slice(SHIM.indexOf('static int write_stats'), SHIM.indexOf('int hk_stats(struct hk'));
    const slots = [...body.matchAll(/STAT\((HK_STAT_\w+),/g)].map((m) => m[1]);
    const declared = Object.keys(abiDefines()).filter((k) => k.startsWith('HK_STAT_'));
    expect(slots.sort()).toEqual(declared.sort());
  });

  test('the C source repeats no ABI value: no hand-written stats index, state or limit', () => {
    // Slots by number (out[3] = …), the old enums and the old literal limits are gone.
    expect(SHIM).not.toMatch(/(out|info)\[\d+\]\s*=/);
    expect(SHIM).not.toMatch(/enum\s*\{\s*(DEV|MODE|CONN)_/);
    expect(SHIM).not.toMatch(/\*kind = \d/);
    expect(SHIM).not.toMatch(/frames < 16 \|\| frames > 8192/);
    // …and it refuses to compile without the defines.
    expect(SHIM).toContain('#ifndef HK_ABI');
  });

  test('the generated header names what C uses', () => {
    const h = abiHeader();
    expect(h).toContain(`#define HK_STATS_COUNT ${PW_STATS.length}`);
    expect(h).toContain('#define HK_STAT_CALLBACKS 0');
    expect(h).toContain(`#define HK_STAT_RECONCILE_PERIOD_MS ${PW_STATS.indexOf('reconcilePeriodMs')}`);
    expect(h).toContain(`#define HK_DEV_LOST ${DevState.Lost}`);
    expect(h).toContain(`#define HK_OPEN_LATENCY_MAX ${PW_OPEN.latencyMax}`);
    expect(h).toContain('#define HK_OPEN_ERR_UNAVAILABLE 2');
    // Every HK_ name the shim uses is declared (a typo would also fail to compile).
    const used = new Set([...SHIM.matchAll(/\bHK_[A-Z_]+\b/g)].map((m) => m[0]).filter((n) => n !== 'HK_ABI' && !n.endsWith('_')));
    const defined = new Set(Object.keys(abiDefines()));
    expect([...used].filter((n) => !defined.has(n))).toEqual([]);
  });
});
