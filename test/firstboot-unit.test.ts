/**
 * hark-firstboot.service starts only when one of its files is on the boot partition. Every file
 * the first-boot step acts on (BOOT_TRIGGER_FILES) must be one of the unit's conditions, or a
 * volunteer's file is ignored on the box though the step itself handles it: hark-factory-reset
 * alone did nothing on the image until the boot test's third boot showed it.
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOOT_TRIGGER_FILES, FACTORY_RESET_FILE } from '../src/system/firstboot.ts';

const unit = readFileSync(join(import.meta.dir, '../image/deb/usr/lib/systemd/system/hark-firstboot.service'), 'utf8');
const conditions = [...unit.matchAll(/^ConditionPathExists=\|(\S+)$/gm)].map((m) => m[1]!);

describe('hark-firstboot.service starts for every file the first-boot step handles', () => {
  test('one "any of" condition per file, on /boot/firmware, and no other', () => {
    expect(conditions.sort()).toEqual(BOOT_TRIGGER_FILES.map((f) => `/boot/firmware/${f}`).sort());
  });
  test('a factory reset file alone (no hark.toml beside it) starts the step', () => {
    expect(conditions).toContain(`/boot/firmware/${FACTORY_RESET_FILE}`);
    expect(conditions).toContain(`/boot/firmware/${FACTORY_RESET_FILE}.txt`);
  });
  test('it runs before hark and its arguments are the boot file and /etc/hark', () => {
    expect(unit).toMatch(/^Before=hark\.service$/m);
    expect(unit).toMatch(/^ExecStart=\S+ \/usr\/lib\/hark\/firstboot\.ts \/boot\/firmware\/hark\.toml \/etc\/hark$/m);
  });
});
