/**
 * glibc (libc.so.6, Debian package libc6): hark's one binding of the C library, for the calls
 * Bun does not offer. Every other module (ffi/gpiod.ts, src/system/) uses it from here.
 * - malloc_trim(0) hands freed heap memory back to the kernel from every arena, which glibc
 *   otherwise keeps after a burst of allocations on other threads (libdatachannel's, here).
 * - madvise(MADV_PAGEOUT) drops clean pages of the Bun executable that only startup touched
 *   (the kernel reads back from the file any that are used again).
 * - errno and strerror: the reason a C library (libgpiod) left behind.
 * - adjtimex (read only): whether an NTP client has set the clock, as systemd's timedatectl
 *   answers it, without starting a process or asking D-Bus.
 * - socket, sendto: sd_notify(3)'s datagram to systemd; setenv: the C environment that
 *   libpipewire's getenv() reads (Bun's process.env is a JS object that C never sees).
 * - clock_gettime(CLOCK_MONOTONIC): the machine's monotonic clock (Bun's hrtime counts from
 *   the process's start), which listeners and benchmarks compare across processes.
 */
import { dlopen, FFIType, read, type Pointer } from 'bun:ffi';
import { readFileSync, realpathSync } from 'node:fs';
import { LibraryLoadError } from './errors.ts';

const SONAME = 'libc.so.6';
const DEBIAN_PACKAGE = 'libc6';
/** Linux 5.4+: reclaim the pages of the range now (clean file pages are simply dropped). */
const MADV_PAGEOUT = 21;
/**
 * No read-around when a page of the range faults: the kernel reads that page alone, not the
 * 128 KB around it (nor maps the neighbours that read-around brought in). Pages the trim dropped
 * and the running code touches again then come back one by one, instead of 16-32 at a time.
 */
const MADV_RANDOM = 1;

function openLibc() {
  return dlopen(SONAME, {
    // int malloc_trim(size_t pad): no pointers, nothing to free.
    malloc_trim: { args: [FFIType.u64], returns: FFIType.i32 },
    // int madvise(void *addr, size_t len, int advice): the address is only a number here
    // (a range of this process's own mappings, read from /proc/self/maps); nothing is
    // dereferenced on this side.
    madvise: { args: [FFIType.u64, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
    // Returns this thread's errno slot (libc's memory; never freed).
    __errno_location: { args: [], returns: FFIType.ptr },
    // Returns a static (per-locale) string: copy it at once.
    strerror: { args: [FFIType.i32], returns: FFIType.cstring },
    // int socket(int domain, int type, int protocol): no pointers; the fd is the caller's to close.
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    // ssize_t sendto(fd, buf, len, flags, addr, addrlen): buf and addr are caller memory, read
    // during the call only.
    sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
    // int setenv(name, value, overwrite): both strings are copied by libc.
    setenv: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    // int adjtimex(struct timex *buf): with buf->modes = 0 it only reads the kernel's clock
    // discipline into caller memory (TIMEX_BYTES here), during the call only. No privilege needed.
    adjtimex: { args: [FFIType.ptr], returns: FFIType.i32 },
    // int clock_gettime(clockid_t, struct timespec *): writes two longs into caller memory,
    // during the call only.
    clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  });
}

type LibcSymbols = ReturnType<typeof openLibc>['symbols'];

let lib: { symbols: LibcSymbols } | { error: unknown } | undefined;

/** The libc symbols, or null when there is no glibc (musl): callers that can do without it check. */
function libc(): LibcSymbols | null {
  if (lib === undefined) {
    try {
      lib = { symbols: openLibc().symbols };
    } catch (error) {
      lib = { error }; // not glibc (musl)
    }
  }
  return 'symbols' in lib ? lib.symbols : null;
}

/** The libc symbols, or LibraryLoadError naming libc6, for callers that cannot do without. */
function requireLibc(): LibcSymbols {
  const l = libc();
  if (l) return l;
  throw new LibraryLoadError(SONAME, DEBIAN_PACKAGE, lib && 'error' in lib ? lib.error : 'not loaded');
}

/** Return free heap memory to the OS; true if some was released. No-op without glibc. */
export function mallocTrim(): boolean {
  const l = libc();
  return l ? l.malloc_trim(0) === 1 : false;
}

/** The calling thread's errno. Read it right after the failed call, before any other C call. */
export function errno(): number {
  return read.i32(requireLibc().__errno_location() as Pointer, 0);
}

/** strerror(3): the C library's text for an errno, e.g. "No such file or directory". */
export function strerror(n: number): string {
  return String(requireLibc().strerror(n));
}

/** setenv(3) in the C environment (what C libraries' getenv() read); false when it failed. */
export function setenv(name: string, value: string): boolean {
  return requireLibc().setenv(Buffer.from(`${name}\0`), Buffer.from(`${value}\0`), 1) === 0;
}

/** sizeof(struct timex) on LP64 Linux is 208; the buffer is larger than that. */
const TIMEX_BYTES = 256;
/** Offset of `long maxerror` in struct timex on LP64 (unsigned modes, padding, offset, freq). */
const TIMEX_MAXERROR = 24;
/** The kernel's NTP_PHASE_LIMIT in µs: a maximum error this large means no one has set the clock. */
const MAXERROR_UNSYNCED_US = 16_000_000;

/**
 * Whether an NTP client (systemd-timesyncd, chrony, ntpd) has synchronised the system clock: the
 * kernel's maximum error is below 16 s, the test systemd's ntp_synced() makes for timedatectl's
 * NTPSynchronized. null when it cannot be read (no glibc, or adjtimex failed).
 */
export function clockSynchronised(): boolean | null {
  const l = libc();
  if (!l) return null;
  const buf = new BigInt64Array(TIMEX_BYTES / 8); // modes = 0: read only
  if (l.adjtimex(buf) < 0) return null;
  return buf[TIMEX_MAXERROR / 8]! < BigInt(MAXERROR_UNSYNCED_US);
}

const CLOCK_MONOTONIC = 1;
/** CLOCK_MONOTONIC − Bun's hrtime, in ms, for this thread (measured once: both run at one rate). */
let monotonicOffsetMs: number | undefined;

/**
 * The machine's CLOCK_MONOTONIC in ms (the clock of PipeWire's timestamps, and of every other
 * process on the box), at the cost of process.hrtime: clock_gettime is read once per thread.
 * Without glibc, Bun's own (process-relative) clock.
 */
export function monotonicMs(): number {
  if (monotonicOffsetMs === undefined) {
    const l = libc(); // loaded first: the reading below must not include dlopen's time
    const ts = new BigInt64Array(2);
    let best = Infinity;
    monotonicOffsetMs = 0;
    // The offset from the tightest of a few hrtime / clock_gettime / hrtime brackets.
    for (let i = 0; l && i < 5; i++) {
      const a = Number(process.hrtime.bigint()) / 1e6;
      if (l.clock_gettime(CLOCK_MONOTONIC, ts) !== 0) break;
      const b = Number(process.hrtime.bigint()) / 1e6;
      if (b - a < best) {
        best = b - a;
        monotonicOffsetMs = Number(ts[0]!) * 1e3 + Number(ts[1]!) / 1e6 - (a + b) / 2;
      }
    }
  }
  return Number(process.hrtime.bigint()) / 1e6 + monotonicOffsetMs;
}

/** socket(2); returns the fd or -1. */
export function socket(domain: number, type: number, protocol: number): number {
  return requireLibc().socket(domain, type, protocol);
}

/** sendto(2) of `buf` to the socket address `addr` (a struct sockaddr's bytes); returns bytes sent or -1. */
export function sendto(fd: number, buf: Uint8Array, flags: number, addr: Uint8Array): number {
  return Number(requireLibc().sendto(fd, buf, buf.length, flags, addr, addr.length));
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
    l.madvise(m.start, m.end - m.start, MADV_RANDOM);
    if (l.madvise(m.start, m.end - m.start, MADV_PAGEOUT) === 0) advised += Number(m.end - m.start);
  }
  return advised;
}
