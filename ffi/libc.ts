/**
 * glibc (libc.so.6, Debian package libc6): the one call hark needs that Bun does not offer.
 * malloc_trim(0) hands freed heap memory back to the kernel from every arena, which glibc
 * otherwise keeps after a burst of allocations on other threads (libdatachannel's, here).
 */
import { dlopen, FFIType } from 'bun:ffi';

const SONAME = 'libc.so.6';

let lib: { symbols: { malloc_trim: (pad: number | bigint) => number } } | null | undefined;

function libc() {
  if (lib === undefined) {
    try {
      // int malloc_trim(size_t pad): no pointers, nothing to free.
      lib = dlopen(SONAME, { malloc_trim: { args: [FFIType.u64], returns: FFIType.i32 } });
    } catch {
      lib = null; // not glibc (musl): nothing to trim, nothing to do
    }
  }
  return lib;
}

/** Return free heap memory to the OS; true if some was released. No-op without glibc. */
export function mallocTrim(): boolean {
  const l = libc();
  return l ? l.symbols.malloc_trim(0) === 1 : false;
}
