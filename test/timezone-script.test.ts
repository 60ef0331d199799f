/**
 * The image's hark-timezone script (image/rootfs/usr/lib/hark/timezone), run here against a
 * private /etc and zoneinfo: at boot it applies the zone the System page kept on the data
 * partition, and leaves /etc alone for a file that does not name a zone.
 */
import { expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = join(import.meta.dir, '..', 'image/rootfs/usr/lib/hark/timezone');

function box(kept: string | null) {
  const d = mkdtempSync(join(tmpdir(), 'hark-tz-'));
  const etc = join(d, 'etc');
  const zi = join(d, 'zoneinfo');
  mkdirSync(join(zi, 'Europe'), { recursive: true });
  mkdirSync(etc);
  writeFileSync(join(zi, 'Europe/Berlin'), 'TZif');
  writeFileSync(join(zi, 'Europe/London'), 'TZif');
  symlinkSync('../usr/share/zoneinfo/Europe/London', join(etc, 'localtime'));
  const file = join(d, 'timezone');
  if (kept !== null) writeFileSync(file, kept);
  const run = () => Bun.spawnSync(['sh', SCRIPT, file], { env: { PATH: process.env.PATH!, HARK_ETC: etc, HARK_ZONEINFO: zi } });
  return { etc, run };
}

test('a kept zone is applied: /etc/localtime and /etc/timezone name it', () => {
  const { etc, run } = box('Europe/Berlin\n');
  const r = run();
  expect(r.exitCode).toBe(0);
  expect(readlinkSync(join(etc, 'localtime'))).toBe('../usr/share/zoneinfo/Europe/Berlin');
  expect(readFileSync(join(etc, 'timezone'), 'utf8')).toBe('Europe/Berlin\n');
});

test('already right: nothing is written (no wear on a writable root)', () => {
  const { etc, run } = box('Europe/London\n');
  expect(run().exitCode).toBe(0);
  expect(existsSync(join(etc, 'timezone'))).toBe(false);
});

test.each([['../../etc/passwd'], ['/etc/shadow'], ['Mars/Olympus'], ['Europe/Berlin; rm -rf /'], ['']])('%p is not obeyed, and the boot goes on', (bad) => {
  const { etc, run } = box(`${bad}\n`);
  const r = run();
  expect(r.exitCode).toBe(0);
  expect(readlinkSync(join(etc, 'localtime'))).toBe('../usr/share/zoneinfo/Europe/London');
  expect(existsSync(join(etc, 'timezone'))).toBe(false);
});

test('no file: nothing to do', () => {
  const { run } = box(null);
  expect(run().exitCode).toBe(0);
});
