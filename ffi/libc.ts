/**
 * glibc (libc.so.6, Debian package libc6): the calls hark needs that Bun does not offer.
 * - malloc_trim(0) hands freed heap memory back to the kernel from every arena, which glibc
 *   otherwise keeps after a burst of allocations on other threads (libdatachannel's, here).
 * - madvise(MADV_PAGEOUT) drops clean pages of the Bun executable that only startup touched
 *   (the kernel reads back from the file any that are used again).
 */
import { dlopen, FFIType } from 'bun:ffi';
import { readFileSync, realpathSync } from 'node:fs';

const SONAME = 'libc.so.6';
/** Linux 5.4+: reclaim the pages of the range now (clean file pages are simply dropped). */
const MADV_PAGEOUT = 21;

interface Libc {
  symbols: {
    malloc_trim: (pad: number | bigint) => number;
    madvise: (addr: number | bigint, len: number | bigint, advice: number) => number;
  };
}

let lib: Libc | null | undefined;

function libc(): Libc | null {
  if (lib === undefined) {
    try {
      lib = dlopen(SONAME, {
        // int malloc_trim(size_t pad): no pointers, nothing to free.
        malloc_trim: { args: [FFIType.u64], returns: FFIType.i32 },
        // int madvise(void *addr, size_t len, int advice): the address is only a number here
        // (a range of this process's own mappings, read from /proc/self/maps); nothing is
        // dereferenced on this side.
        madvise: { args: [FFIType.u64, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
      }) as unknown as Libc; // dlopen's inferred symbol types are typed by hand in Libc (number | bigint for the u64 arguments).
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

export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  path: string;
}

/** The read-only (never dirty) file mappings of `path` in /proc/self/maps text. */
export function readOnlyMappingsOf(maps: string, path: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of maps.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s+(.+)$/.exec(line);
    if (!m || m[4] !== path || m[3]!.includes('w')) continue;
    out.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), perms: m[3]!, path: m[4]! });
  }
  return out;
}

/**
 * Ask the kernel to reclaim the resident pages of the running executable's read-only
 * mappings (its code and constant data): what startup alone used leaves memory, what is still
 * in use is read back from the file on its next touch. Returns the bytes of address space
 * advised, 0 when there is nothing to do (no glibc, a kernel before 5.4, no such mapping).
 * Writable mappings are never touched, so no data can be lost.
 */
export function pageOutExecutable(exe = process.execPath): number {
  const l = libc();
  if (!l) return 0;
  let path: string;
  let maps: string;
  try {
    path = realpathSync(exe);
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return 0;
  }
  let advised = 0;
  for (const m of readOnlyMappingsOf(maps, path)) {
    if (l.symbols.madvise(m.start, m.end - m.start, MADV_PAGEOUT) === 0) advised += Number(m.end - m.start);
  }
  return advised;
}
