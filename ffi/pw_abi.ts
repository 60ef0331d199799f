/**
 * The ABI between ffi/pipewire.ts and its C shim (pw_shim.c), declared once. TypeScript reads
 * these tables; the shim is compiled with them as `-D` defines (abiDefines(), handed to
 * bun:ffi `cc`), so a value added or moved here changes both sides at once, and a name the C
 * uses that is not declared here is a compile error. pw_abi.test.ts checks that the compiled
 * shim writes exactly the declared stats.
 */

/** The order of hk_stats()'s output (a double each): index i is PW_STATS[i]. */
export const PW_STATS = [
  'callbacks',
  'frames',
  'ringOverruns',
  'droppedFrames',
  'xruns',
  'quantum',
  'graphRate',
  'negotiatedRate',
  'negotiatedChannels',
  'devState',
  'connLost',
  'registryVersion',
  'ringFill',
  'streamNodeId',
  'targetNodeId',
  'initialSyncDone',
  'streamsCreated',
  'framesPerCallback',
  'captureSinkMonitor',
  'ringFrames',
  'quantumChanges',
  'quantumChangeXruns',
  /** Times the loop thread's reconcile timer fired, and its period now (100 ms pending, 1 s steady). */
  'reconcileTicks',
  'reconcilePeriodMs',
  /** Frames of the graph's clock in the cycles counted as xruns: time the graph skipped (the machine stopped), not frames hark dropped. */
  'xrunFrames',
] as const;
export type PwStatName = (typeof PW_STATS)[number];

/** The shim's view of the capture target (hk_state() bits 0–7, stats.devState). */
export const DevState = { Starting: 0, Running: 1, Waiting: 2, Lost: 3 } as const;
export type DevState = (typeof DevState)[keyof typeof DevState];

/** The connection to the daemon (hk_state() bits 8–15, stats.connLost). */
export const ConnState = { Ok: 0, Lost: 1 } as const;

/** hk_state() packs dev | conn << CONN_SHIFT | initial_done << SYNCED_SHIFT into one int. */
export const STATE_BITS = { connShift: 8, syncedShift: 16, mask: 0xff } as const;

/** hk_open()'s `mode`. */
export const PwModeCode = { capture: 0, sink: 1, registry: 2, playback: 3 } as const;

/** What hk_open() sets `*kind` to when it returns NULL. */
export const OpenError = { noLibrary: 1, unavailable: 2, other: 3 } as const;

/** hk_open()'s parameters: checked in TypeScript first, and again by the shim. */
export const PW_OPEN = {
  /** Channels per frame (the ring is interleaved f32). */
  channelsMin: 1,
  channelsMax: 8,
  /** node.latency in frames at 48 kHz (also hk_set_latency's range). */
  latencyMin: 16,
  latencyMax: 8192,
  /** Ring size in frames: a power of two, at least this (default ≈ 0.68 s). */
  ringMinFrames: 1024,
  ringDefaultFrames: 32768,
  /** Bytes of the caller's error text buffer. */
  errorBytes: 512,
} as const;

/** hk_read()'s `info` (u64 each): first and last quantum timestamps, read time, ring index. */
export const READ_INFO = ['firstQuantumNs', 'lastQuantumNs', 'readNs', 'frameIndex'] as const;

/** camelCase → UPPER_SNAKE for C names. */
const cName = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

/**
 * The `#define`s pw_shim.c is compiled with: HK_STAT_<NAME> (its index) and HK_STATS_COUNT,
 * HK_DEV_*, HK_CONN_*, HK_MODE_*, HK_OPEN_ERR_*, HK_STATE_*, HK_OPEN_*, HK_READ_* (hk_read's info
 * slots) and HK_READ_INFO_LEN.
 */
export function abiDefines(): Record<string, string> {
  const d: Record<string, string> = { HK_ABI: '1' };
  PW_STATS.forEach((name, i) => (d[`HK_STAT_${cName(name)}`] = String(i)));
  d.HK_STATS_COUNT = String(PW_STATS.length);
  for (const [k, v] of Object.entries(DevState)) d[`HK_DEV_${cName(k).replace(/^_/, '')}`] = String(v);
  for (const [k, v] of Object.entries(ConnState)) d[`HK_CONN_${cName(k).replace(/^_/, '')}`] = String(v);
  for (const [k, v] of Object.entries(PwModeCode)) d[`HK_MODE_${cName(k)}`] = String(v);
  for (const [k, v] of Object.entries(OpenError)) d[`HK_OPEN_ERR_${cName(k)}`] = String(v);
  d.HK_STATE_CONN_SHIFT = String(STATE_BITS.connShift);
  d.HK_STATE_SYNCED_SHIFT = String(STATE_BITS.syncedShift);
  for (const [k, v] of Object.entries(PW_OPEN)) d[`HK_OPEN_${cName(k)}`] = String(v);
  READ_INFO.forEach((name, i) => (d[`HK_READ_${cName(name)}`] = String(i)));
  d.HK_READ_INFO_LEN = String(READ_INFO.length);
  return d;
}

/** The same defines as C text (for reading, and for the test that compares it with the shim). */
export function abiHeader(): string {
  return Object.entries(abiDefines())
    .map(([k, v]) => `#define ${k} ${v}`)
    .join('\n');
}
