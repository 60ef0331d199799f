import { describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClockSynced } from './clock-sync.ts';

describe('systemClockSynced', () => {
  test('HARK_TIMESYNC_FLAG: known exactly while the flag file exists', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-timesync-'));
    const flag = join(dir, 'synchronized');
    const synced = systemClockSynced({ HARK_TIMESYNC_FLAG: flag });
    expect(synced()).toBe(false);
    writeFileSync(flag, '');
    expect(synced()).toBe(true);
    rmSync(dir, { recursive: true });
  });
});
