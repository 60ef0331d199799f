/**
 * Where a click's time goes inside hark, for bench/contribution.ts. With HARK_TRACE_FILE set,
 * a stage appends "<stage> <CLOCK_MONOTONIC ms>" to that file when a sample over 0.1 follows
 * 300 ms without one (a click's onset in the bench's click train). Stages: `read` (the engine
 * took it from the source), `rx` (the SRT receiver decoded it), `play` (the PipeWire output
 * queued it). Unset (always, outside the bench): one check per call, nothing written.
 */
import { appendFileSync } from 'node:fs';
import { monotonicMs } from '../../ffi/libc.ts';

const FILE = process.env.HARK_TRACE_FILE || '';
const THRESHOLD = 0.1;
const QUIET_MS = 300;
const last = new Map<string, number>();

export function traceOnset(stage: string, buf: Float32Array, frames: number, channels: number): void {
  if (!FILE) return;
  const n = frames * channels;
  for (let i = 0; i < n; i++) {
    if (Math.abs(buf[i]!) <= THRESHOLD) continue;
    const t = monotonicMs();
    if (t - (last.get(stage) ?? -Infinity) > QUIET_MS) {
      try {
        appendFileSync(FILE, `${stage} ${t.toFixed(2)}\n`);
      } catch {
        /* a bench aid: never in the way */
      }
    }
    last.set(stage, t);
    return;
  }
}
