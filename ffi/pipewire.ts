/**
 * libpipewire-0.3 (libpipewire-0.3.so.0, Debian package libpipewire-0.3-0) for hark.
 *
 * PipeWire calls back from its own threads, and a bun:ffi JSCallback must never run on a
 * foreign thread (oven-sh/bun#33840, #28113). So the binding is a C shim (pw_shim.c,
 * compiled by Bun's TinyCC at load time, no headers needed) that dlopen()s libpipewire,
 * keeps every callback in C, and hands audio to JS through a lock-free ring:
 *
 *   PipeWire data thread ── process() ─▶ SPSC ring + sem_post ─▶ hk_wait/hk_read (audio worker)
 *   PipeWire loop thread ── registry/metadata/node info ─▶ node table ─▶ hk_snapshot (any thread)
 *
 * The table below is the shim's symbol table (its C names kept); the shim's own dlsym table
 * of libpipewire functions sits at the top of pw_shim.c.
 */
import { cc, CString, type Pointer } from 'bun:ffi';
import { join } from 'node:path';
import { LibraryCallError, LibraryLoadError } from './errors.ts';
import { abiDefines, ConnState, DevState, OpenError, PW_OPEN, PW_STATS, PwModeCode, READ_INFO, STATE_BITS, type PwStatName } from './pw_abi.ts';

export { DevState } from './pw_abi.ts';

const SONAME = 'libpipewire-0.3.so.0';
const DEBIAN_PACKAGE = 'libpipewire-0.3-0';

/** A PipeWire problem; `reason` is libpipewire's (or the shim's) own text. */
export class PipewireError extends LibraryCallError {
  override name = 'PipewireError';
  constructor(operation: string, reason: string) {
    super(operation, null, reason);
  }
}

/** libpipewire-0.3.so.0 could not be loaded (`path`: what was asked for, when not the soname). */
export class PipewireLibraryMissingError extends LibraryLoadError {
  override name = 'PipewireLibraryMissingError';
  constructor(reason: string, path = SONAME) {
    super(SONAME, DEBIAN_PACKAGE, reason, path);
  }
}

/** No PipeWire daemon answered (not running, restarting, or a wrong runtime dir). */
export class PipewireUnavailableError extends PipewireError {
  override name = 'PipewireUnavailableError';
}

/** A method was called on a closed owner object. */
export class PipewireClosedError extends PipewireError {
  override name = 'PipewireClosedError';
  constructor(what: string) {
    super(what, 'already closed');
  }
}

let compiled: ReturnType<typeof compile> | undefined;

function compile() {
  // Who frees what: a `struct hk *` comes from hk_open and is freed by hk_close only (its
  // threads, ring and PipeWire objects with it); every other pointer argument is JS memory
  // that C only reads or writes during the call.
  return cc({
    source: join(import.meta.dir, 'pw_shim.c'),
    // The shared ABI (stats slots, states, open parameters) as -D defines: see pw_abi.ts.
    define: abiDefines(),
    symbols: {
      /** soname, err: JS buffers (err written on failure). */
      hk_load: { args: ['ptr', 'ptr', 'i32'], returns: 'i32' },
      /** Returns libpipewire's static version string: never freed. */
      hk_version: { args: [], returns: 'ptr' },
      hk_now_ns: { args: [], returns: 'u64' },
      /** target, remote, err, kind: JS buffers, copied. Returns a handle: free with hk_close. */
      hk_open: { args: ['i32', 'ptr', 'i32', 'i32', 'ptr', 'u32', 'ptr', 'i32', 'ptr'], returns: 'ptr' },
      /** Frees the handle; it is invalid afterwards. */
      hk_close: { args: ['ptr'], returns: 'void' },
      /** h: borrowed handle. */
      hk_wait: { args: ['ptr', 'i32', 'i32'], returns: 'i32' },
      /** h: borrowed; dst (f32[max*channels]) and info (u64[READ_INFO.length]): JS memory written during the call. */
      hk_read: { args: ['ptr', 'ptr', 'i32', 'ptr'], returns: 'i32' },
      /** Playback mode: src is a JS buffer, copied into the ring during the call. */
      hk_write: { args: ['ptr', 'ptr', 'i32'], returns: 'i32' },
      /** h: borrowed; out: JS f64[PW_STATS.length]. Returns the slots written. */
      hk_stats: { args: ['ptr', 'ptr'], returns: 'i32' },
      /** out: JS f64[PW_STATS.length] or more; a zeroed handle is allocated and freed inside. */
      hk_stats_probe: { args: ['ptr'], returns: 'i32' },
      /** h: borrowed. */
      hk_state: { args: ['ptr'], returns: 'i32' },
      /** h: borrowed. */
      hk_reg_version: { args: ['ptr'], returns: 'u32' },
      /** h: borrowed. */
      hk_last_callback_ns: { args: ['ptr'], returns: 'u64' },
      /** h: borrowed; buf: JS memory, NUL-terminated text copied in. */
      hk_last_error: { args: ['ptr', 'ptr', 'i32'], returns: 'i32' },
      /** h: borrowed; buf: JS memory, text copied in (negated size needed if too small). */
      hk_snapshot: { args: ['ptr', 'ptr', 'i32'], returns: 'i32' },
      /** h: borrowed. */
      hk_set_latency: { args: ['ptr', 'i32'], returns: 'i32' },
      /** h: borrowed; flag: SharedArrayBuffer memory that outlives h (kept by the caller). */
      hk_set_urgent: { args: ['ptr', 'ptr'], returns: 'void' },
    },
  });
}

/** The compiled shim (compiled on first use, per JS thread; TinyCC takes a few ms). */
function shim() {
  if (!compiled) {
    try {
      compiled = compile();
    } catch (e) {
      throw new PipewireError('compile pw_shim.c', (e as Error).message);
    }
  }
  return compiled.symbols;
}

const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');
const textOf = (b: Uint8Array) => {
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
};

/**
 * Load libpipewire (idempotent). Throws PipewireLibraryMissingError naming the .so and the
 * Debian package when it is absent. Returns libpipewire's version string. (`soname` exists
 * for the test of that error.)
 */
export function loadPipewire(soname = SONAME): string {
  const s = shim();
  const err = new Uint8Array(PW_OPEN.errorBytes);
  if (s.hk_load(cstr(soname), err, err.length) !== 0) throw new PipewireLibraryMissingError(textOf(err), soname);
  const v = s.hk_version();
  return v ? new CString(v).toString() : 'unknown';
}

/** CLOCK_MONOTONIC in ns — the clock of quantum timestamps (Bun's hrtime is process-relative). */
export function monotonicNs(): bigint {
  return shim().hk_now_ns() as bigint;
}

export type PwMode = keyof typeof PwModeCode;

export interface PwOpenOptions {
  mode: PwMode;
  /** node.name to capture ('' = default source); in 'sink' mode, the sink to create. */
  target?: string;
  channels?: number;
  /** node.latency numerator over 48000. */
  latencyFrames?: number;
  /** Socket path of the PipeWire to use (default: libpipewire's own lookup from the env). */
  remote?: string;
  /** Ring size in frames (power of two, default 32768 ≈ 0.68 s). */
  ringFrames?: number;
}

export type PwStats = Record<PwStatName, number>;

/**
 * The slots the compiled shim's hk_stats writes, read from a zeroed handle (no PipeWire
 * needed): `written` must equal PW_STATS.length, and `values` past it stay untouched (NaN).
 */
export function probeShimStats(): { written: number; values: Float64Array } {
  const values = new Float64Array(PW_STATS.length + 8).fill(Number.NaN);
  const written = shim().hk_stats_probe(values);
  return { written, values };
}

/** One PipeWire connection (thread loop, context, core, registry) and, per mode, its stream. */
export class PwConnection implements Disposable {
  readonly mode: PwMode;
  readonly channels: number;
  readonly target: string;
  private handle: Pointer | null;
  private readonly s = shim();
  private readonly statsBuf = new Float64Array(PW_STATS.length);
  private readonly info = new BigUint64Array(READ_INFO.length);
  private readonly errBuf = new Uint8Array(PW_OPEN.errorBytes);
  private snapBuf = new Uint8Array(16384);

  private constructor(handle: Pointer, mode: PwMode, channels: number, target: string) {
    this.handle = handle;
    this.mode = mode;
    this.channels = channels;
    this.target = target;
    leakWatch.register(this, `${mode} ${target}`, this);
  }

  /**
   * Connect. Throws PipewireLibraryMissingError, PipewireUnavailableError (no daemon) or
   * PipewireError. Capture starts by itself once the target exists (see devState).
   */
  static open(o: PwOpenOptions): PwConnection {
    const s = shim();
    loadPipewire();
    const channels = o.channels ?? 2;
    const target = o.target ?? '';
    const ring = o.ringFrames ?? PW_OPEN.ringDefaultFrames;
    checkChannels(channels);
    const lat = o.latencyFrames ?? 128;
    checkLatency(lat);
    const err = new Uint8Array(PW_OPEN.errorBytes);
    const kind = new Int32Array(1);
    const h = s.hk_open(
      PwModeCode[o.mode],
      cstr(target),
      channels,
      lat,
      o.remote ? cstr(o.remote) : null,
      ring,
      err,
      err.length,
      kind,
    );
    if (!h) {
      const reason = textOf(err);
      if (kind[0] === OpenError.noLibrary) throw new PipewireLibraryMissingError(reason);
      if (kind[0] === OpenError.unavailable) throw new PipewireUnavailableError('connect', reason);
      throw new PipewireError('open', reason);
    }
    return new PwConnection(h as Pointer, o.mode, channels, target);
  }

  get closed(): boolean {
    return this.handle === null;
  }

  private h(): Pointer {
    if (this.handle === null) throw new PipewireClosedError(`PwConnection(${this.mode})`);
    return this.handle;
  }

  /**
   * Block this thread (worker threads only) until `minFrames` are readable or timeoutMs
   * passes; on timeout, true if any frame is. The data thread wakes us only once minFrames
   * are there, so a larger minFrames means fewer wake-ups (less CPU) for a little latency.
   */
  wait(timeoutMs: number, minFrames = 1): boolean {
    return this.s.hk_wait(this.h(), Math.max(0, Math.floor(timeoutMs)), Math.max(1, Math.floor(minFrames))) === 1;
  }

  /**
   * Ask for another node.latency (frames at 48 kHz, 16..8192) without re-opening: PipeWire
   * re-times the graph to the smallest latency any node asks for. Kept for re-opened streams.
   */
  setLatency(frames: number): void {
    checkLatency(frames);
    this.s.hk_set_latency(this.h(), frames);
  }

  /**
   * While flag[0] is non-zero, wait() returns at the next quantum with what there is. The flag
   * must be SharedArrayBuffer memory kept alive as long as this connection (the C side keeps a
   * pointer to it).
   */
  setUrgentFlag(flag: Int32Array): void {
    if (!(flag.buffer instanceof SharedArrayBuffer)) throw new TypeError('the urgent flag must live in a SharedArrayBuffer');
    this.urgent = flag; // held here too, so it outlives the handle
    this.s.hk_set_urgent(this.h(), flag);
  }
  private urgent?: Int32Array;

  /**
   * Playback mode: queue up to `frames` interleaved frames of `src` for the sink (PipeWire's
   * data thread plays them; what is missing when it needs audio plays as silence, counted in
   * ringOverruns/droppedFrames). Never blocks; returns the frames taken (fewer when full).
   */
  write(src: Float32Array, frames: number): number {
    if (this.mode !== 'playback') throw new PipewireError('write', `a ${this.mode} connection does not play`);
    const n = Math.max(0, Math.min(frames, Math.floor(src.length / this.channels)));
    // `| 0`: an int32, not a double that happens to be whole — once the call is hot (JIT), a
    // double in an i32 slot reached the C side as 0 (seen: every write refused after ~1000).
    return n === 0 ? 0 : this.s.hk_write(this.h(), src, n | 0);
  }

  /** Copy up to maxFrames interleaved frames into dst; never blocks. */
  read(dst: Float32Array, maxFrames: number): number {
    const max = Math.min(maxFrames, Math.floor(dst.length / this.channels));
    return this.s.hk_read(this.h(), dst, max, this.info);
  }

  /** CLOCK_MONOTONIC ns of the callback that delivered the last frame of the last read() (no allocation). */
  get lastReadLastQuantumNs(): bigint {
    return this.info[1]!;
  }

  /**
   * Timestamps of the last read(): CLOCK_MONOTONIC ns of the callbacks that delivered its first
   * and last frame, the time of the read, and the ring index of its first frame.
   */
  get lastRead(): { firstQuantumNs: bigint; lastQuantumNs: bigint; readNs: bigint; frameIndex: bigint } {
    const r = {} as Record<(typeof READ_INFO)[number], bigint>;
    READ_INFO.forEach((k, i) => (r[k] = this.info[i]!));
    return r;
  }

  /** CLOCK_MONOTONIC ns of the newest quantum's callback (0n before any). */
  get lastQuantumTimestampNs(): bigint {
    return this.s.hk_last_callback_ns(this.h()) as bigint;
  }

  /** Cheap state poll: the shim's DevState, whether the connection died, and initial sync. */
  state(): { dev: DevState; connLost: boolean; synced: boolean } {
    const v = this.s.hk_state(this.h());
    return {
      dev: (v & STATE_BITS.mask) as DevState,
      connLost: ((v >> STATE_BITS.connShift) & STATE_BITS.mask) !== ConnState.Ok,
      synced: ((v >> STATE_BITS.syncedShift) & 1) === 1,
    };
  }

  stats(): PwStats {
    const written = this.s.hk_stats(this.h(), this.statsBuf);
    if (written !== PW_STATS.length) throw new PipewireError('hk_stats', `the shim wrote ${written} values, the ABI declares ${PW_STATS.length} (ffi/pw_abi.ts)`);
    const out = {} as PwStats;
    PW_STATS.forEach((k, i) => (out[k] = this.statsBuf[i]!));
    return out;
  }

  /** Bumps on every registry/default change. */
  get registryVersion(): number {
    return this.s.hk_reg_version(this.h());
  }

  lastError(): string {
    this.s.hk_last_error(this.h(), this.errBuf, this.errBuf.length);
    return textOf(this.errBuf);
  }

  /** The shim's node table as text (see hk_snapshot in pw_shim.c). */
  snapshotText(): string {
    for (;;) {
      const n = this.s.hk_snapshot(this.h(), this.snapBuf, this.snapBuf.length);
      if (n >= 0) return new TextDecoder().decode(this.snapBuf.subarray(0, n));
      this.snapBuf = new Uint8Array(-n + 1024);
    }
  }

  /** Stop PipeWire's threads for this connection and free everything. Idempotent. */
  close(): void {
    if (this.handle === null) return;
    const h = this.handle;
    this.handle = null;
    leakWatch.unregister(this);
    this.s.hk_close(h);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Throws a RangeError unless `n` is a channel count hk_open takes. */
export function checkChannels(n: number): void {
  if (!Number.isInteger(n) || n < PW_OPEN.channelsMin || n > PW_OPEN.channelsMax) throw new RangeError(`channels must be ${PW_OPEN.channelsMin}..${PW_OPEN.channelsMax}, got ${n}`);
}

/** Throws a RangeError unless `frames` is a node.latency hk_open and hk_set_latency take. */
export function checkLatency(frames: number): void {
  if (!Number.isInteger(frames) || frames < PW_OPEN.latencyMin || frames > PW_OPEN.latencyMax)
    throw new RangeError(`latencyFrames must be ${PW_OPEN.latencyMin}..${PW_OPEN.latencyMax}, got ${frames}`);
}

// Only a warning: memory is freed by close(), never by the collector.
const leakWatch = new FinalizationRegistry<string>((what) => {
  console.warn(`[pipewire] a PwConnection (${what}) was garbage-collected without close(): its threads leak`);
});
