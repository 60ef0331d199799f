/**
 * GPIO in the real daemon: with GPIO set up in the config, but without libgpiod or without a
 * chip, hark warns once, naming what is missing and which lines go unused, and serves on. With
 * the default config on a machine that has no GPIO chip (not a Pi) it only says so at debug
 * level. (The lines themselves are exercised against a real chip by test/gpio-qemu.ts in the
 * image boot test.)
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type HarkProcess, readStreamFor, startHark } from './lib/hark.ts';

const ROOT = resolve(import.meta.dir, '..');
const TRIPLET = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
const BUNDLED = join(ROOT, `.tools/libgpiod3/usr/lib/${TRIPLET}/libgpiod.so.3`);
const SYSTEM = [`/usr/lib/${TRIPLET}/libgpiod.so.3`].find(existsSync);
const LIB = process.env.HARK_LIBGPIOD || SYSTEM || (existsSync(BUNDLED) ? BUNDLED : undefined);
const HAS_CHIP = readdirSync('/dev').some((n) => /^gpiochip\d+$/.test(n));

const TOML = `
[input]
source = "tone"
[control]
on_boot = "idle"
`;
const LINES = '(GPIO17, GPIO27, GPIO23, GPIO24, GPIO25)';
/** GPIO set up on purpose: the default lines, with a [gpio] value of one's own. */
const CONFIGURED = `${TOML}\n[gpio]\ndebounce_ms = 25\n`;

let hark: HarkProcess | undefined;
afterEach(async () => {
  if (hark) expect(await hark.stop()).toBe(0);
  hark = undefined;
});

/** The daemon serves: the status API answers and the MP3 stream carries bytes. */
async function serves(h: HarkProcess): Promise<void> {
  const status = await fetch(`${h.url}/api/status`);
  expect(status.status).toBe(200);
  const { bytes, status: code } = await readStreamFor(`${h.url}/stream.mp3`, 1500);
  expect(code).toBe(200);
  expect(bytes.length).toBeGreaterThan(4000);
}

describe('GPIO in the daemon', () => {
  test.skipIf(HAS_CHIP)('the default config on a machine with no GPIO chip: no GPIO warning or error, one debug line; hark serves', async () => {
    // The default config (input.source = "auto"), with and without libgpiod.
    for (const env of [{ HARK_LIBGPIOD: '/nonexistent/libgpiod.so.3' }, ...(LIB ? [{ HARK_LIBGPIOD: LIB }] : [])]) {
      hark = await startHark('[webrtc]\nudp_port = 29340\n', { env });
      await hark.waitFor(/debug\s+\[gpio\] no GPIO chip: buttons and LEDs off/);
      expect(hark.output()).not.toMatch(/(warn|error)\s+\[gpio\]/);
      expect(hark.output().split('\n').filter((l) => /\b(warn|error)\b/.test(l) && /gpio/i.test(l))).toEqual([]);
      expect(hark.output().match(/\[gpio\]/g)).toHaveLength(1);
      await serves(hark);
      expect(await hark.stop()).toBe(0);
      hark = undefined;
    }
  }, 60_000);

  test('GPIO set up, without libgpiod.so.3: one warning naming the library, its Debian package and the unused lines; hark serves', async () => {
    hark = await startHark(CONFIGURED, { env: { HARK_LIBGPIOD: '/nonexistent/libgpiod.so.3' } });
    const line = await hark.waitFor(/warn\s+\[gpio\] .*/);
    expect(line).toContain('cannot load /nonexistent/libgpiod.so.3 (libgpiod.so.3): install the Debian package libgpiod3 (apt install libgpiod3)');
    expect(line).toContain(`hark runs on without buttons and LEDs ${LINES}`);
    expect(hark.output().match(/\[gpio\]/g)).toHaveLength(1);
    await serves(hark);
  }, 30_000);

  test.skipIf(!LIB || HAS_CHIP)('GPIO set up, with libgpiod but no GPIO chip: a warning that says so; hark serves', async () => {
    hark = await startHark(CONFIGURED, { env: { HARK_LIBGPIOD: LIB! } });
    const line = await hark.waitFor(/warn\s+\[gpio\] .*/);
    expect(line).toContain(`no usable GPIO chip (no /dev/gpiochip* device); hark runs on without buttons and LEDs ${LINES}`);
    await serves(hark);
  }, 30_000);

  test.skipIf(!LIB || !HAS_CHIP)('with a chip: gpio.chip naming no chip is a warning listing the chips; hark serves', async () => {
    hark = await startHark(`${TOML}\n[gpio]\nchip = "no-such-chip"\n`, { env: { HARK_LIBGPIOD: LIB! } });
    const line = await hark.waitFor(/warn\s+\[gpio\] .*/);
    expect(line).toContain('gpio.chip "no-such-chip": no such GPIO chip (chips: gpiochip');
    await serves(hark);
  }, 30_000);

  test('[gpio] enabled = false: no GPIO warning, and the log says GPIO is off', async () => {
    hark = await startHark(`${TOML}\n[gpio]\nenabled = false\n`, { env: { HARK_LIBGPIOD: '/nonexistent/libgpiod.so.3' } });
    await hark.waitFor(/\[gpio\] disabled \(\[gpio\] enabled = false\)/);
    expect(hark.output()).not.toMatch(/warn\s+\[gpio\]/);
    await serves(hark);
  }, 30_000);
});
