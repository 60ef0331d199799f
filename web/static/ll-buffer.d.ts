/** Types of web/static/ll-buffer.js (plain JavaScript: it runs in the listen page's AudioWorklet). */

export const LL_RATE: 48000;
export const LL_HEADER_BYTES: 24;
/** Frame lengths (samples at 48 kHz) a packet may have: 2.5 … 60 ms. */
export const LL_FRAME_SAMPLES: ReadonlySet<number>;

/** One packet as it came on `opus-ll`: the header's fields and the Opus packet, and the one before it carried again (version 2). */
export interface LlPacket {
  channels: number;
  frameSamples: number;
  seq: number;
  pts: number;
  captureMs: number;
  data: Uint8Array;
  red: { seq: number; pts: number; captureMs: number; data: Uint8Array } | null;
}

/** A decoded packet, as the buffer takes it: one plane per channel, `frameSamples` long. */
export interface LlFrame {
  seq: number;
  pts: number;
  captureMs: number;
  channels: number;
  frameSamples: number;
  planes: Float32Array[];
}

export interface LlStats {
  started: boolean;
  targetMs: number;
  /** The buffer as the controller sees it (smoothed), ms. */
  bufferedMs: number;
  /** The buffer right now (it rises by a packet at each arrival), ms. */
  instantMs: number;
  p95Ms: number;
  frameMs: number;
  ratio: number;
  packets: number;
  bad: number;
  duplicates: number;
  reordered: number;
  lost: number;
  late: number;
  underruns: number;
  concealed: number;
  /** Concealments whose cover ran out (the output fell below half level), each counted once: heard as a gap. */
  dropouts: number;
  skipped: number;
  /** Packets dropped (faded) because the listener's clock ran slower than ±0.5 % absorbs. */
  dropped: number;
  restarts: number;
  /** Times the earliest-arrival line moved to a delay that stayed (an offset, not jitter). */
  rebases: number;
  captureMs: number;
  maxStep: number;
  jumps: number;
  /** The longest concealed run (samples): an expansion or a dropout. */
  longestGap: number;
  /** The longest dropout (samples): concealment below half level, heard as a gap. */
  longestDropout: number;
  minRatio: number;
  maxRatio: number;
  minLevelMs: number;
  maxLevelMs: number;
}

export function parseLlPacket(buf: unknown): LlPacket | null;

export class LlBuffer {
  /** `release(planes)`: a kept frame's planes, once the buffer is done with them. */
  constructor(opts?: { outRate?: number; windowMs?: number; fadeSamples?: number; jumpThreshold?: number; release?: ((planes: Float32Array[]) => void) | null });
  readonly bufferedMs: number;
  readonly playingCaptureMs: number;
  targetMs: number;
  ratio: number;
  push(f: LlFrame | Record<string, unknown>, arrivalMs: number): 'ok' | 'late' | 'duplicate' | 'bad';
  pull(out: Float32Array[], n: number): void;
  restart(): void;
  resetDiagnostics(): void;
  stats(): LlStats;
}
