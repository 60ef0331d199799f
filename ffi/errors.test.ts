import { describe, expect, test } from 'bun:test';
import { LibraryCallError, LibraryLoadError } from './errors.ts';
import { GpiodError, GpiodLoadError, gpiod } from './gpiod.ts';
import { LameError } from './lame.ts';
import { OpusError } from './opus.ts';
import { PipewireClosedError, PipewireError, PipewireLibraryMissingError, PipewireUnavailableError } from './pipewire.ts';

describe("every C library's errors are ffi/errors.ts's shared classes", () => {
  test('a refused call: LibraryCallError, whichever library refused', () => {
    for (const e of [new OpusError('opus_encode', -1, 'bad arg'), new LameError('lame_init_params', -1, 'bad'), new PipewireError('open', 'no'), new PipewireUnavailableError('connect', 'no socket'), new PipewireClosedError('PwConnection'), new GpiodError('gpiod_chip_open /dev/x', 2, 'No such file or directory (ENOENT): no such chip')]) {
      expect(e).toBeInstanceOf(LibraryCallError);
    }
    const g = new GpiodError('gpiod_chip_open /dev/x', 2, 'No such file or directory (ENOENT): no such chip');
    expect(g.code).toBe('ENOENT');
    expect(g.errno).toBe(2);
    expect(g.message).toBe('gpiod_chip_open /dev/x: No such file or directory (ENOENT): no such chip');
    expect(new PipewireClosedError('PwConnection(capture)').message).toBe('PwConnection(capture): already closed');
  });

  test('a library that cannot be loaded: LibraryLoadError naming the .so and the Debian package', () => {
    // (What loadPipewire throws for a missing .so: pipewire.test.ts loads one in a fresh process.)
    const pw = new PipewireLibraryMissingError('libpipewire-0.3.so.999: cannot open shared object file', 'libpipewire-0.3.so.999');
    expect(pw).toBeInstanceOf(PipewireLibraryMissingError);
    expect(pw).toBeInstanceOf(LibraryLoadError);
    expect((pw as Error).message).toStartWith('cannot load libpipewire-0.3.so.999 (libpipewire-0.3.so.0): install the Debian package libpipewire-0.3-0 (apt install libpipewire-0.3-0);');
    let gp: unknown;
    try {
      gpiod('/nonexistent/libgpiod.so.3');
    } catch (e) {
      gp = e;
    }
    expect(gp).toBeInstanceOf(GpiodLoadError);
    expect(gp).toBeInstanceOf(LibraryLoadError);
  });
});
