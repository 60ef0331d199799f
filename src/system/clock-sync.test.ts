import { describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clockSynchronised } from '../../ffi/libc.ts';
import { clockState, systemClockSynced } from './clock-sync.ts';

describe('whether the clock is synchronised', () => {
  test('HARK_TIMESYNC_FILE: known exactly while the file exists, whatever the kernel says', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-timesync-'));
    const flag = join(dir, 'synchronized');
    const synced = systemClockSynced({ HARK_TIMESYNC_FILE: flag });
    expect(synced()).toBe(false);
    expect(clockState({ HARK_TIMESYNC_FILE: flag }, () => true)).toEqual({ synced: false, by: `waiting for ${flag}` });
    writeFileSync(flag, '');
    expect(synced()).toBe(true);
    rmSync(dir, { recursive: true });
  });
  test("under systemd without timesyncd's flag the kernel's answer (adjtimex) counts, and a yes stays", () => {
    const sd = () => true;
    expect(clockState({}, () => false, sd).synced).toBe(false);
    expect(clockState({}, () => null, sd).synced).toBe(false);
    expect(clockState({}, () => true, sd)).toEqual({ synced: true, by: "the kernel's clock discipline (an NTP client set it)" });
    expect(clockState({}, () => false, sd).synced).toBe(true);
  });
  test('a host not booted with systemd (a container, a laptop): its clock is taken as right', () => {
    expect(clockState({}, () => false, () => false)).toEqual({ synced: true, by: 'not a systemd host: its clock is taken as right' });
  });
  test('adjtimex answers on this machine (read only, no privilege): a yes or a no, not an error', () => {
    expect(typeof clockSynchronised()).toBe('boolean');
  });
});
