/**
 * A source of interleaved float32 frames at 48 kHz. Sources run inside the audio worker:
 * `wait()` may block that thread (never the main thread), `read()` never blocks.
 */
export interface AudioSource {
  readonly kind: SourceKind;
  /** Channels per frame of what `read()` delivers. */
  readonly channels: number;
  readonly state: SourceState;
  start(): void;
  /** Idempotent. After close every other method throws. */
  close(): void;
  /**
   * Block the calling (worker) thread until frames are available or `timeoutMs` passes.
   * Returns true when frames are available. `minFrames` asks to be woken only once that many
   * are buffered (fewer wake-ups when the consumers work in large blocks); the source's own
   * default (one quantum, one block) when absent.
   */
  wait(timeoutMs: number, minFrames?: number): boolean;
  /** Copy up to `maxFrames` interleaved frames into `dst`; returns the frames copied. */
  read(dst: Float32Array, maxFrames: number): number;
  /** A JSON-safe snapshot for /api/status. */
  status(): SourceStatus;
  /**
   * Ask the backend for another capture latency (frames at 48 kHz) without re-opening; kept
   * across re-opens. Sources without a backend latency (the tone) leave it out.
   */
  setLatency?(frames: number): void;
  /**
   * A flag in shared memory (index 0) that ends `wait()` early while it is non-zero: the main
   * thread raises it when a consumer needs audio sooner than the current wait would deliver.
   */
  setUrgentFlag?(flag: Int32Array): void;
  /**
   * CLOCK_MONOTONIC ns of when the last frame of the last read() was captured (the PipeWire
   * callback that delivered it); 0n when not known. Sources without a capture clock leave it out.
   */
  captureNs?(): bigint;
  /**
   * Whether what this source delivers also plays on a PipeWire output of this box (a network
   * input's input.output_device): an SRT input then hands each packet on as it arrives.
   */
  setPlayback?(on: boolean): void;
}

export type SourceKind = 'tone' | 'pipewire' | 'pipewire-sink' | 'rtp' | 'srt';

/**
 * - `starting`: opening.
 * - `running`: frames flowing.
 * - `waiting`: the named device is absent ("waiting for <name>").
 * - `lost`: the device went away while live ("device lost"); the engine fills silence.
 * - `unavailable`: the backend (PipeWire) is absent or restarting; retried with backoff.
 * - `closed`.
 */
export type SourceState = 'starting' | 'running' | 'waiting' | 'lost' | 'unavailable' | 'closed';

export interface SourceStatus {
  kind: SourceKind;
  state: SourceState;
  /** Human text for the state, e.g. "waiting for alsa_input.usb-…", "device lost". */
  message: string;
  /** node.name of what is captured, when known. */
  device: string;
  format: { rate: number; channels: number; sampleFormat: 'f32' };
  /** Source-specific counters (PipeWire: callbacks, frames, overruns, xruns, quantum, lastError…). */
  stats: Record<string, number | string | null>;
}
