/**
 * The daemon refuses to start on a bad config file or unknown arguments (exit code 2, the reason
 * on stderr). Moved from src/config/load.test.ts: these start a hark process, and tests under
 * src/ start none (script/test src stays fast).
 */
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MAIN = resolve(import.meta.dir, '../src/main.ts');

describe('config', () => {
  test('the daemon refuses a bad file with exit code 2 and the key path on stderr', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-config-'));
    const file = join(dir, 'hark.toml');
    writeFileSync(file, '[input]\nchannels = 12\n');
    const p = Bun.spawn([process.execPath, MAIN, '--config', file], { stderr: 'pipe', stdout: 'pipe' });
    const code = await p.exited;
    const stderr = await new Response(p.stderr).text();
    expect(code).toBe(2);
    expect(stderr).toContain(`hark: configuration refused: ${file}: input.channels: must be between 1 and 8, got 12`);
  });

  test('the daemon refuses unknown arguments with exit code 2', async () => {
    const p = Bun.spawn([process.execPath, MAIN, '--frobnicate'], { stderr: 'pipe', stdout: 'pipe' });
    expect(await p.exited).toBe(2);
    expect(await new Response(p.stderr).text()).toContain('unknown argument "--frobnicate"');
  });
});
