/**
 * The libgpiod binding's loading and errors. Requests, values and edges need a GPIO chip,
 * which a build machine has not: test/gpio-qemu.ts checks them in the image's QEMU boot.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chipPaths, GpioChip, GpiodError, GpiodLoadError, gpiod, gpiodVersion } from './gpiod.ts';
import { GpiodLineSource } from '../src/gpio/gpiod-source.ts';
import { GpioUnavailableError } from '../src/gpio/lines.ts';

const ROOT = resolve(import.meta.dir, '..');
const TRIPLET = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
/** Debian trixie's libgpiod3, unpacked by script/bootstrap --test. */
const BUNDLED = join(ROOT, `.tools/libgpiod3/usr/lib/${TRIPLET}/libgpiod.so.3`);
const SYSTEM = [`/usr/lib/${TRIPLET}/libgpiod.so.3`, `/lib/${TRIPLET}/libgpiod.so.3`].find(existsSync);
const LIB = process.env.HARK_LIBGPIOD || SYSTEM || (existsSync(BUNDLED) ? BUNDLED : undefined);
if (LIB) process.env.HARK_LIBGPIOD = LIB;

describe('loading libgpiod.so.3', () => {
  test('a missing library is one clear error naming libgpiod.so.3 and the Debian package libgpiod3', () => {
    let err: unknown;
    try {
      gpiod('/nonexistent/libgpiod.so.3');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GpiodLoadError);
    expect((err as Error).message).toStartWith('cannot load /nonexistent/libgpiod.so.3 (libgpiod.so.3): install the Debian package libgpiod3 (apt install libgpiod3);');
  });

  test.skipIf(!!SYSTEM)('without HARK_LIBGPIOD on a system without libgpiod3, the soname is what the error names', async () => {
    const env = { ...process.env };
    delete env.HARK_LIBGPIOD;
    const p = Bun.spawnSync([process.execPath, '-e', `import { gpiodVersion } from ${JSON.stringify(join(ROOT, 'ffi/gpiod.ts'))}; gpiodVersion();`], { env });
    expect(p.exitCode).not.toBe(0);
    expect(p.stderr.toString()).toContain('GpiodLoadError: cannot load libgpiod.so.3: install the Debian package libgpiod3 (apt install libgpiod3)');
  });

  test.skipIf(!LIB)('every symbol of the dlopen table resolves in libgpiod 2.x', () => {
    // dlopen() fails on the first symbol it cannot find, so loading at all proves the names.
    expect(typeof gpiod().gpiod_line_request_wait_edge_events).toBe('function');
    expect(gpiodVersion()).toMatch(/^2\.\d+/);
  });
});

describe.skipIf(!LIB)('errors carry errno', () => {
  test.each([
    ['/dev/gpiochip-none', 'ENOENT', 'gpiod_chip_open /dev/gpiochip-none: No such file or directory (ENOENT): no such chip'],
    ['/dev/null', 'ENODEV', 'gpiod_chip_open /dev/null: No such device (ENODEV): not a GPIO chip'],
  ])('GpioChip.open(%s): %s', (path, code, message) => {
    let err: unknown;
    try {
      GpioChip.open(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GpiodError);
    expect((err as GpiodError).code).toBe(code);
    expect((err as Error).message).toBe(message);
  });

  test('a directory without gpiochip devices: no chips, and the line source says so', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-gpio-'));
    expect(chipPaths(dir)).toEqual([]);
    expect(() => new GpiodLineSource('auto', dir)).toThrow(GpioUnavailableError);
    expect(() => new GpiodLineSource('auto', dir)).toThrow('no usable GPIO chip (no /dev/gpiochip* device)');
  });
});
