/** Types of web/static/ll-ring.js (plain JavaScript: the listen page and its AudioWorklet run it). */
import type { LlFrame } from './ll-buffer.js';

export const RING_SLOT_SAMPLES: 2880;
export const RING_CHANNELS: 2;
export const RING_SLOTS: 128;
/** Indices of the write and read counters in the control block (Int32Array at offset 0). */
export const RING_WRITE: 0;
export const RING_READ: 1;
export function ringBytes(slots?: number): number;

declare class RingViews {
  constructor(sab: SharedArrayBuffer);
  readonly sab: SharedArrayBuffer;
  readonly slots: number;
  readonly ctl: Int32Array;
  readonly queued: number;
}

export class LlRingWriter extends RingViews {
  static create(slots?: number): LlRingWriter;
  /** Frames refused because the ring was full. */
  dropped: number;
  claim(): number;
  plane(slot: number, c: number): Float32Array;
  commit(slot: number, seq: number, pts: number, captureMs: number, frameSamples: number, channels: number, arrivalMs: number): void;
  write(f: { seq: number; pts: number; captureMs: number; frameSamples: number; planes: Float32Array[] }, arrivalMs: number): boolean;
}

export class LlRingReader extends RingViews {
  allocated: number;
  corrupt: number;
  drain(push: (f: LlFrame, arrivalMs: number) => string): number;
  release(planes: Float32Array[]): void;
}
