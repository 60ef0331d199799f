/** hark's one sample rate: every source delivers, and every encoder takes, 48 kHz. */
export const SAMPLE_RATE = 48_000;

/** Most channels any source may deliver (input.channels). */
export const MAX_CHANNELS = 8;

/**
 * Copy `count` samples: blocks through `set` (a memmove: half the bus's CPU per second of
 * audio against an element loop, measured, for one small view object per call); short runs
 * through a plain loop, where the view would cost more than it saves.
 */
export function copySamples(src: Float32Array, from: number, dst: Float32Array, to: number, count: number): void {
  if (count > 64) dst.set(src.subarray(from, from + count), to);
  else for (let i = 0; i < count; i++) dst[to + i] = src[from + i]!;
}
