/**
 * libgpiod v2 (libgpiod.so.3, Debian package libgpiod3) bound with bun:ffi: the dlopen table,
 * chip discovery and line lookup, and the owner classes GpioChip and GpioRequest.
 *
 * Edge events are read by a Worker (gpiod_worker.ts) that blocks in
 * gpiod_line_request_wait_edge_events with a timeout and posts what it read; the main thread
 * never blocks and no JSCallback is ever called from a foreign thread.
 */
import { CString, dlopen, ptr, type Pointer } from 'bun:ffi';
import { readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { LibraryCallError, LibraryLoadError } from './errors.ts';
import { errno, strerror } from './libc.ts';

const SONAME = 'libgpiod.so.3';
const DEBIAN_PACKAGE = 'libgpiod3';

// gpiod.h enums (libgpiod 2.x).
const LINE_VALUE_ERROR = -1;
const DIRECTION = { input: 2, output: 3 } as const;
const EDGE = { none: 1, rising: 2, falling: 3, both: 4 } as const;
const BIAS = { 'as-is': 1, disabled: 3, 'pull-up': 4, 'pull-down': 5 } as const;
const EDGE_EVENT_RISING = 1;

/** libgpiod.so.3 could not be loaded (`path`: what was asked for). */
export class GpiodLoadError extends LibraryLoadError {
  override readonly name = 'GpiodLoadError';
  constructor(path: string, cause: unknown) {
    super(SONAME, DEBIAN_PACKAGE, cause, path);
  }
}

/**
 * A libgpiod call failed; `errno` is the C errno it left and `code` its symbolic name, e.g.
 * "EBUSY" (both null when hark refused before calling). The reason already names the code.
 */
export class GpiodError extends LibraryCallError {
  override readonly name = 'GpiodError';
  constructor(
    /** The C function (and its object) that failed. */
    operation: string,
    readonly errno: number | null,
    reason: string,
  ) {
    super(operation, errno === null ? null : errnoName(errno), reason, `${operation}: ${reason}`);
  }
}

function openLibrary(path: string) {
  return dlopen(path, {
    // Returns a static string; nothing to free.
    gpiod_api_version: { args: [], returns: 'cstring' },
    // Reads path (ours, borrowed for the call).
    gpiod_is_gpiochip_device: { args: ['ptr'], returns: 'bool' },
    // Reads path (ours); returns a chip the caller frees with gpiod_chip_close.
    gpiod_chip_open: { args: ['ptr'], returns: 'ptr' },
    // Frees the chip (requests made from it stay valid: they hold their own fd).
    gpiod_chip_close: { args: ['ptr'], returns: 'void' },
    // Returns chip info the caller frees with gpiod_chip_info_free.
    gpiod_chip_get_info: { args: ['ptr'], returns: 'ptr' },
    gpiod_chip_info_free: { args: ['ptr'], returns: 'void' },
    // The three getters return strings owned by the info object: copy before freeing it.
    gpiod_chip_info_get_name: { args: ['ptr'], returns: 'cstring' },
    gpiod_chip_info_get_label: { args: ['ptr'], returns: 'cstring' },
    gpiod_chip_info_get_num_lines: { args: ['ptr'], returns: 'usize' },
    // Reads name (ours); -1 with errno ENOENT when no line has that name.
    gpiod_chip_get_line_offset_from_name: { args: ['ptr', 'ptr'], returns: 'i32' },
    // Returns line info the caller frees with gpiod_line_info_free.
    gpiod_chip_get_line_info: { args: ['ptr', 'u32'], returns: 'ptr' },
    gpiod_line_info_free: { args: ['ptr'], returns: 'void' },
    // Strings below are owned by the line info (NULL when unset): copy before freeing it.
    gpiod_line_info_get_name: { args: ['ptr'], returns: 'ptr' },
    gpiod_line_info_get_consumer: { args: ['ptr'], returns: 'ptr' },
    gpiod_line_info_is_used: { args: ['ptr'], returns: 'bool' },
    gpiod_line_info_get_direction: { args: ['ptr'], returns: 'i32' },
    gpiod_line_info_is_active_low: { args: ['ptr'], returns: 'bool' },
    gpiod_line_info_get_edge_detection: { args: ['ptr'], returns: 'i32' },
    gpiod_line_info_get_bias: { args: ['ptr'], returns: 'i32' },
    gpiod_line_info_get_debounce_period_us: { args: ['ptr'], returns: 'u64' },
    // Returns settings the caller frees with gpiod_line_settings_free.
    gpiod_line_settings_new: { args: [], returns: 'ptr' },
    gpiod_line_settings_free: { args: ['ptr'], returns: 'void' },
    gpiod_line_settings_set_direction: { args: ['ptr', 'i32'], returns: 'i32' },
    gpiod_line_settings_set_edge_detection: { args: ['ptr', 'i32'], returns: 'i32' },
    gpiod_line_settings_set_bias: { args: ['ptr', 'i32'], returns: 'i32' },
    gpiod_line_settings_set_active_low: { args: ['ptr', 'bool'], returns: 'void' },
    // unsigned long: 64-bit on LP64 (x86-64, arm64).
    gpiod_line_settings_set_debounce_period_us: { args: ['ptr', 'u64'], returns: 'void' },
    gpiod_line_settings_set_output_value: { args: ['ptr', 'i32'], returns: 'i32' },
    // Returns a line config the caller frees with gpiod_line_config_free.
    gpiod_line_config_new: { args: [], returns: 'ptr' },
    gpiod_line_config_free: { args: ['ptr'], returns: 'void' },
    // Reads offsets (ours) and copies settings: the caller still frees its settings.
    gpiod_line_config_add_line_settings: { args: ['ptr', 'ptr', 'usize', 'ptr'], returns: 'i32' },
    // Returns a request config the caller frees with gpiod_request_config_free.
    gpiod_request_config_new: { args: [], returns: 'ptr' },
    gpiod_request_config_free: { args: ['ptr'], returns: 'void' },
    // Copies consumer (ours).
    gpiod_request_config_set_consumer: { args: ['ptr', 'ptr'], returns: 'void' },
    // Borrows both configs; returns a request the caller frees with gpiod_line_request_release.
    gpiod_chip_request_lines: { args: ['ptr', 'ptr', 'ptr'], returns: 'ptr' },
    // Frees the request and closes its fd.
    gpiod_line_request_release: { args: ['ptr'], returns: 'void' },
    gpiod_line_request_get_fd: { args: ['ptr'], returns: 'i32' },
    gpiod_line_request_get_value: { args: ['ptr', 'u32'], returns: 'i32' },
    gpiod_line_request_set_value: { args: ['ptr', 'u32', 'i32'], returns: 'i32' },
    // Borrows the line config.
    gpiod_line_request_reconfigure_lines: { args: ['ptr', 'ptr'], returns: 'i32' },
    // Blocks up to timeout_ns (<0: forever): 1 events pending, 0 timeout, -1 error.
    gpiod_line_request_wait_edge_events: { args: ['ptr', 'i64'], returns: 'i32' },
    // Fills buffer (the caller's); returns the number of events read or -1.
    gpiod_line_request_read_edge_events: { args: ['ptr', 'ptr', 'usize'], returns: 'i32' },
    // Returns a buffer the caller frees with gpiod_edge_event_buffer_free.
    gpiod_edge_event_buffer_new: { args: ['usize'], returns: 'ptr' },
    gpiod_edge_event_buffer_free: { args: ['ptr'], returns: 'void' },
    // Returns an event owned by the buffer (valid until the next read into it): never freed.
    gpiod_edge_event_buffer_get_event: { args: ['ptr', 'u64'], returns: 'ptr' },
    gpiod_edge_event_get_event_type: { args: ['ptr'], returns: 'i32' },
    gpiod_edge_event_get_timestamp_ns: { args: ['ptr'], returns: 'u64' },
    gpiod_edge_event_get_line_offset: { args: ['ptr'], returns: 'u32' },
    gpiod_edge_event_get_line_seqno: { args: ['ptr'], returns: 'u64' },
  });
}

export type GpiodSymbols = ReturnType<typeof openLibrary>['symbols'];

let loaded: { path: string; symbols: GpiodSymbols } | undefined;

/**
 * Where libgpiod is loaded from: HARK_LIBGPIOD (a path, for a checkout that carries Debian
 * trixie's libgpiod3 in .tools/), otherwise the soname from the system's library path.
 */
export function gpiodLibraryPath(): string {
  return process.env.HARK_LIBGPIOD || SONAME;
}

/** The libgpiod symbols, loaded on first use so that importing this module never fails. */
export function gpiod(path = gpiodLibraryPath()): GpiodSymbols {
  if (loaded && loaded.path === path) return loaded.symbols;
  let symbols: GpiodSymbols;
  try {
    symbols = openLibrary(path).symbols;
  } catch (e) {
    throw new GpiodLoadError(path, e);
  }
  // libgpiod 1.x (libgpiod.so.2) has no gpiod_api_version; a .so.3 without it is not v2.
  loaded = { path, symbols };
  return symbols;
}

/** The libgpiod version, e.g. "2.2.1". */
export function gpiodVersion(): string {
  return String(gpiod().gpiod_api_version());
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([k, v]) => [v, k]));
function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `errno ${n}`;
}

const HINTS: Record<string, string> = {
  EACCES: 'no permission: is the user in group gpio (or root)?',
  EPERM: 'no permission: is the user in group gpio (or root)?',
  EBUSY: 'the line is in use by another program or driver',
  ENOENT: 'no such chip',
  ENODEV: 'not a GPIO chip',
};

/** Build a GpiodError from the errno the failed call left behind. Call right after the failure. */
export function lastError(operation: string): GpiodError {
  const n = errno();
  const name = errnoName(n);
  const text = strerror(n);
  const hint = HINTS[name];
  return new GpiodError(operation, n, `${text} (${name})${hint ? `: ${hint}` : ''}`);
}

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

function optString(p: unknown): string | null {
  return p ? new CString(p as Pointer).toString() : null;
}

/** bun-types widens a 'ptr' return to include bigint; at run time it is a number or null. */
function asPointer(p: unknown): Pointer | null {
  return (p as Pointer | null) || null;
}

// Only a warning: chips and requests are freed by close(), never by the collector.
const leakWatch = new FinalizationRegistry<string>((what) => {
  console.warn(`[gpiod] ${what} was garbage-collected without close(): its fd and lines stay held`);
});

// ---- chips -------------------------------------------------------------------------------

export interface ChipInfo {
  /** /dev/gpiochipN */
  path: string;
  /** The kernel's name, e.g. "gpiochip0". */
  name: string;
  /** The driver's label, e.g. "pinctrl-bcm2711", "pinctrl-rp1", "9030000.pl061". */
  label: string;
  numLines: number;
}

export interface LineInfo {
  offset: number;
  /** The line's name from the device tree ("GPIO17"), or null when the chip names none. */
  name: string | null;
  used: boolean;
  consumer: string | null;
  direction: 'input' | 'output' | 'as-is';
  activeLow: boolean;
  edge: keyof typeof EDGE;
  bias: keyof typeof BIAS | 'unknown';
  debounceUs: number;
}

const nameOf = <K extends string>(table: Record<K, number>, v: number): K | undefined =>
  (Object.keys(table) as K[]).find((k) => table[k] === v);

/** The GPIO chips under /dev, in name order (gpiochip0, gpiochip1, … gpiochip10). */
export function chipPaths(dir = '/dev'): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^gpiochip\d+$/.test(n));
  } catch {
    return [];
  }
  const lib = gpiod();
  return names
    .sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)))
    .map((n) => `${dir}/${n}`)
    .filter((p) => lib.gpiod_is_gpiochip_device(cstr(p)));
}

/** Every chip's info; chips that cannot be opened are reported in `errors`. */
export function listChips(dir = '/dev'): { chips: ChipInfo[]; errors: GpiodError[] } {
  const chips: ChipInfo[] = [];
  const errors: GpiodError[] = [];
  for (const p of chipPaths(dir)) {
    try {
      using chip = GpioChip.open(p);
      chips.push(chip.info);
    } catch (e) {
      if (e instanceof GpiodError) errors.push(e);
      else throw e;
    }
  }
  return { chips, errors };
}

/** One open GPIO chip (struct gpiod_chip *). */
export class GpioChip {
  #handle: Pointer | null;
  readonly #lib: GpiodSymbols;
  readonly info: ChipInfo;

  private constructor(handle: Pointer, lib: GpiodSymbols, path: string) {
    this.#handle = handle;
    this.#lib = lib;
    leakWatch.register(this, `GpioChip ${path}`, this);
    try {
      const info = asPointer(lib.gpiod_chip_get_info(handle));
      if (!info) throw lastError(`gpiod_chip_get_info ${path}`);
      try {
        this.info = {
          path,
          name: String(lib.gpiod_chip_info_get_name(info)),
          label: String(lib.gpiod_chip_info_get_label(info)),
          numLines: Number(lib.gpiod_chip_info_get_num_lines(info)),
        };
      } finally {
        lib.gpiod_chip_info_free(info);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Open /dev/gpiochipN. Throws GpiodError (EACCES, ENOENT …) naming the path. */
  static open(path: string): GpioChip {
    const lib = gpiod();
    const handle = asPointer(lib.gpiod_chip_open(cstr(path)));
    if (!handle) throw lastError(`gpiod_chip_open ${path}`);
    return new GpioChip(handle, lib, path);
  }

  #h(operation: string): Pointer {
    if (this.#handle === null) throw new GpiodError(operation, null, `GpioChip ${this.info?.path ?? ''} is closed`);
    return this.#handle;
  }

  /** The offset of the line called `name` on this chip, or null when it has none by that name. */
  lineOffset(name: string): number | null {
    const h = this.#h('gpiod_chip_get_line_offset_from_name');
    const off = this.#lib.gpiod_chip_get_line_offset_from_name(h, cstr(name));
    if (off >= 0) return off;
    const err = lastError(`gpiod_chip_get_line_offset_from_name ${this.info.name} "${name}"`);
    if (err.code === 'ENOENT') return null;
    throw err;
  }

  lineInfo(offset: number): LineInfo {
    const h = this.#h('gpiod_chip_get_line_info');
    const info = asPointer(this.#lib.gpiod_chip_get_line_info(h, offset));
    if (!info) throw lastError(`gpiod_chip_get_line_info ${this.info.name}:${offset}`);
    try {
      const dir = this.#lib.gpiod_line_info_get_direction(info);
      return {
        offset,
        name: optString(this.#lib.gpiod_line_info_get_name(info)),
        used: this.#lib.gpiod_line_info_is_used(info),
        consumer: optString(this.#lib.gpiod_line_info_get_consumer(info)),
        direction: dir === DIRECTION.input ? 'input' : dir === DIRECTION.output ? 'output' : 'as-is',
        activeLow: this.#lib.gpiod_line_info_is_active_low(info),
        edge: nameOf(EDGE, this.#lib.gpiod_line_info_get_edge_detection(info)) ?? 'none',
        bias: nameOf(BIAS, this.#lib.gpiod_line_info_get_bias(info)) ?? 'unknown',
        debounceUs: Number(this.#lib.gpiod_line_info_get_debounce_period_us(info)),
      };
    } finally {
      this.#lib.gpiod_line_info_free(info);
    }
  }

  /** Request lines for exclusive use. The request outlives this chip object. */
  request(consumer: string, lines: LineRequest[]): GpioRequest {
    const h = this.#h('gpiod_chip_request_lines');
    const lib = this.#lib;
    const where = `${this.info.name}:${lines.map((l) => l.offset).join(',')}`;
    const lineCfg = buildLineConfig(lib, lines, where);
    const reqCfg = asPointer(lib.gpiod_request_config_new());
    try {
      if (!reqCfg) throw lastError('gpiod_request_config_new');
      lib.gpiod_request_config_set_consumer(reqCfg, cstr(consumer));
      const req = asPointer(lib.gpiod_chip_request_lines(h, reqCfg, lineCfg));
      if (!req) throw lastError(`gpiod_chip_request_lines ${where}`);
      return new GpioRequest(req, lib, this.info, lines);
    } finally {
      if (reqCfg) lib.gpiod_request_config_free(reqCfg);
      lib.gpiod_line_config_free(lineCfg);
    }
  }

  get closed(): boolean {
    return this.#handle === null;
  }

  /** Idempotent. */
  close(): void {
    if (this.#handle === null) return;
    this.#lib.gpiod_chip_close(this.#handle);
    this.#handle = null;
    leakWatch.unregister(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

// ---- requests ----------------------------------------------------------------------------

/** How one line is requested. Values are logical: with activeLow the kernel inverts them. */
export interface LineRequest {
  offset: number;
  direction: 'input' | 'output';
  edge?: keyof typeof EDGE;
  bias?: keyof typeof BIAS;
  activeLow?: boolean;
  /** Kernel debounce (inputs), microseconds. */
  debounceUs?: number;
  /** Initial value of an output. */
  value?: boolean;
}

export interface EdgeEvent {
  offset: number;
  rising: boolean;
  /** CLOCK_MONOTONIC timestamp of the edge, microseconds. */
  timestampUs: number;
  /** This line's event sequence number (gaps mean the kernel's buffer overflowed). */
  lineSeqno: number;
}

/** Settings and line config are transient: built here, freed by the caller (line config) or here (settings). */
function buildLineConfig(lib: GpiodSymbols, lines: LineRequest[], where: string): Pointer {
  const cfg = asPointer(lib.gpiod_line_config_new());
  if (!cfg) throw lastError('gpiod_line_config_new');
  try {
    for (const l of lines) {
      const s = asPointer(lib.gpiod_line_settings_new());
      if (!s) throw lastError('gpiod_line_settings_new');
      try {
        const check = (op: string, rc: number) => {
          if (rc < 0) throw lastError(`${op} ${where}`);
        };
        check('gpiod_line_settings_set_direction', lib.gpiod_line_settings_set_direction(s, DIRECTION[l.direction]));
        if (l.edge) check('gpiod_line_settings_set_edge_detection', lib.gpiod_line_settings_set_edge_detection(s, EDGE[l.edge]));
        if (l.bias) check('gpiod_line_settings_set_bias', lib.gpiod_line_settings_set_bias(s, BIAS[l.bias]));
        lib.gpiod_line_settings_set_active_low(s, !!l.activeLow);
        if (l.debounceUs) lib.gpiod_line_settings_set_debounce_period_us(s, Math.round(l.debounceUs));
        if (l.direction === 'output') check('gpiod_line_settings_set_output_value', lib.gpiod_line_settings_set_output_value(s, l.value ? 1 : 0));
        const offsets = new Uint32Array([l.offset]);
        check('gpiod_line_config_add_line_settings', lib.gpiod_line_config_add_line_settings(cfg, ptr(offsets), 1, s));
      } finally {
        lib.gpiod_line_settings_free(s);
      }
    }
    return cfg;
  } catch (e) {
    lib.gpiod_line_config_free(cfg);
    throw e;
  }
}

// Shared state between a GpioRequest and its edge worker (Int32 slots).
const W_STATE = 0; // STARTING → RUNNING → STOPPED, or STARTING → CANCELLED
const W_STOP = 1; // set to 1 by the owner to ask the worker to leave its loop
export const WORKER_STARTING = 0;
export const WORKER_RUNNING = 1;
export const WORKER_STOPPED = 2;
export const WORKER_CANCELLED = 3;
/** How long the worker blocks in one wait: the longest close() waits for it to let go. */
export const WORKER_WAIT_MS = 100;

/** Messages from gpiod_worker.ts. */
export type WorkerMessage = { events: EdgeEvent[] } | { error: string };

/** One line request (struct gpiod_line_request *): its lines' values and, optionally, their edges. */
export class GpioRequest {
  #handle: Pointer | null;
  readonly #lib: GpiodSymbols;
  readonly offsets: readonly number[];
  #worker?: Worker;
  #shared?: Int32Array;

  /** @internal Made by GpioChip.request(). */
  constructor(
    handle: Pointer,
    lib: GpiodSymbols,
    readonly chip: ChipInfo,
    lines: LineRequest[],
  ) {
    this.#handle = handle;
    this.#lib = lib;
    this.offsets = lines.map((l) => l.offset);
    leakWatch.register(this, `GpioRequest ${chip.name}:${this.offsets.join(',')}`, this);
  }

  #h(operation: string): Pointer {
    if (this.#handle === null) throw new GpiodError(operation, null, `GpioRequest ${this.chip.name}:${this.offsets.join(',')} is closed`);
    return this.#handle;
  }

  /** The request's file descriptor (readable when edge events are pending). */
  get fd(): number {
    return this.#lib.gpiod_line_request_get_fd(this.#h('gpiod_line_request_get_fd'));
  }

  /** The line's logical value. */
  get(offset: number): boolean {
    const v = this.#lib.gpiod_line_request_get_value(this.#h('gpiod_line_request_get_value'), offset);
    if (v === LINE_VALUE_ERROR) throw lastError(`gpiod_line_request_get_value ${this.chip.name}:${offset}`);
    return v === 1;
  }

  /** Set an output's logical value. */
  set(offset: number, value: boolean): void {
    const rc = this.#lib.gpiod_line_request_set_value(this.#h('gpiod_line_request_set_value'), offset, value ? 1 : 0);
    if (rc < 0) throw lastError(`gpiod_line_request_set_value ${this.chip.name}:${offset}`);
  }

  /** Change the requested lines' settings (e.g. output → input) without releasing them. */
  reconfigure(lines: LineRequest[]): void {
    const h = this.#h('gpiod_line_request_reconfigure_lines');
    const where = `${this.chip.name}:${lines.map((l) => l.offset).join(',')}`;
    const cfg = buildLineConfig(this.#lib, lines, where);
    try {
      if (this.#lib.gpiod_line_request_reconfigure_lines(h, cfg) < 0) throw lastError(`gpiod_line_request_reconfigure_lines ${where}`);
    } finally {
      this.#lib.gpiod_line_config_free(cfg);
    }
  }

  /**
   * Deliver edge events to `onEvents` on this thread. A Worker blocks in
   * gpiod_line_request_wait_edge_events (WORKER_WAIT_MS at a time) and posts what it reads;
   * `onError` hears if the worker's wait or read fails (it then stops). Once per request.
   */
  watch(onEvents: (events: EdgeEvent[]) => void, onError: (message: string) => void = () => {}): void {
    const h = this.#h('watch');
    if (this.#worker) throw new GpiodError('watch', null, 'edge events are already being watched');
    const shared = new Int32Array(new SharedArrayBuffer(8));
    const worker = new Worker(new URL('./gpiod_worker.ts', import.meta.url));
    worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
      if (this.#handle === null) return;
      if ('events' in e.data) onEvents(e.data.events);
      else onError(e.data.error);
    };
    worker.onerror = (e) => onError(e.message);
    // Bun's Worker has unref() (as Node's); the DOM lib's type does not.
    (worker as Worker & { unref(): void }).unref();
    // The request pointer is an address in this process: the worker borrows it until
    // close() has seen it leave its loop.
    worker.postMessage({ library: loaded!.path, request: h, shared: shared.buffer, waitMs: WORKER_WAIT_MS });
    this.#worker = worker;
    this.#shared = shared;
  }

  /**
   * Stop the edge worker. Returns true once it no longer touches the request (normally within
   * WORKER_WAIT_MS; gives up after 20 × that on a starved machine), false if it did not let go.
   */
  #stopWorker(): boolean {
    const shared = this.#shared;
    const worker = this.#worker;
    if (!shared || !worker) return true;
    this.#shared = undefined;
    this.#worker = undefined;
    Atomics.store(shared, W_STOP, 1);
    // A worker that has not started yet is cancelled and never touches the request.
    if (Atomics.compareExchange(shared, W_STATE, WORKER_STARTING, WORKER_CANCELLED) === WORKER_RUNNING) {
      const deadline = performance.now() + 20 * WORKER_WAIT_MS;
      while (Atomics.load(shared, W_STATE) === WORKER_RUNNING && performance.now() < deadline) {
        Atomics.wait(shared, W_STATE, WORKER_RUNNING, WORKER_WAIT_MS);
      }
    }
    worker.terminate();
    return Atomics.load(shared, W_STATE) !== WORKER_RUNNING;
  }

  get closed(): boolean {
    return this.#handle === null;
  }

  /** Idempotent. Stops the edge worker, then releases the lines. */
  close(): void {
    if (this.#handle === null) return;
    // If the worker is wedged past the deadline, leaking the request beats freeing it under it.
    if (this.#stopWorker()) this.#lib.gpiod_line_request_release(this.#handle);
    this.#handle = null;
    leakWatch.unregister(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Read the events in `buffer` (filled by gpiod_line_request_read_edge_events) into plain objects. */
export function copyEdgeEvents(lib: GpiodSymbols, buffer: Pointer, n: number): EdgeEvent[] {
  const out: EdgeEvent[] = [];
  for (let i = 0; i < n; i++) {
    const ev = asPointer(lib.gpiod_edge_event_buffer_get_event(buffer, i));
    if (!ev) break;
    out.push({
      offset: lib.gpiod_edge_event_get_line_offset(ev),
      rising: lib.gpiod_edge_event_get_event_type(ev) === EDGE_EVENT_RISING,
      timestampUs: Number(BigInt(lib.gpiod_edge_event_get_timestamp_ns(ev)) / 1000n),
      lineSeqno: Number(lib.gpiod_edge_event_get_line_seqno(ev)),
    });
  }
  return out;
}

export { W_STATE, W_STOP };
