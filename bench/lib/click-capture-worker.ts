/// <reference lib="webworker" />
/**
 * A reference capture for latency benchmarks, in a worker of its own (capture blocks its
 * thread): it captures a PipeWire node exactly as hark's capture does and reports when each
 * click (a jump from near silence above `threshold`) arrived, as wall-clock ms. The time is
 * that of the PipeWire callback that delivered the click's quantum (CLOCK_MONOTONIC) plus the
 * click's offset in the read — the moment hark's own capture receives the same quantum.
 */
import { monotonicNs } from '../../ffi/pipewire.ts';
import { PipewireSource } from '../../src/audio/pipewire-source.ts';

declare const self: Worker;

export interface ClickCaptureInit {
  device: string;
  remote: string;
  threshold: number;
  /** Quiet needed before a new click counts, in frames. */
  quietFrames: number;
  /** Int32Array(1) on a SharedArrayBuffer: set [0] = 1 to stop. */
  stop: SharedArrayBuffer;
}

self.onmessage = (ev: MessageEvent<ClickCaptureInit>) => {
  const o = ev.data;
  const stop = new Int32Array(o.stop);
  const src = new PipewireSource({ device: o.device, channels: 2, latencyFrames: 128, mode: 'pipewire', remote: o.remote });
  src.start();
  // CLOCK_MONOTONIC → wall clock (what Chromium's performance.timeOrigin + now() is on).
  const wallOffsetMs = performance.timeOrigin + performance.now() - Number(monotonicNs()) / 1e6;
  const block = new Float32Array(1024 * 2);
  let quiet = 0;
  let frames = 0;
  self.postMessage({ type: 'ready' });
  while (Atomics.load(stop, 0) === 0) {
    src.wait(20);
    let n: number;
    while ((n = src.read(block, 1024)) > 0) {
      const t = src.lastReadTimestamps;
      frames += n;
      for (let k = 0; k < n; k++) {
        const v = Math.max(Math.abs(block[2 * k]!), Math.abs(block[2 * k + 1]!));
        if (v > o.threshold) {
          if (quiet >= o.quietFrames) {
            const mono = Number(t.firstQuantumNs) / 1e6 + (k / 48_000) * 1000;
            self.postMessage({ type: 'click', wallMs: mono + wallOffsetMs });
          }
          quiet = 0;
        } else if (v < o.threshold / 4) quiet++;
      }
    }
  }
  src.close();
  self.postMessage({ type: 'stopped', frames });
};
