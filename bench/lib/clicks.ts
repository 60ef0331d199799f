/**
 * Click-latency helpers shared by the latency benchmarks (webrtc-latency.ts, contribution.ts):
 * the click train, reference captures of PipeWire nodes (lib/click-capture-worker.ts, one
 * worker each, CLOCK_MONOTONIC at the callback as wall-clock ms), matching clicks in → out,
 * and quantiles.
 */
import type { ClickCaptureInit } from './click-capture-worker.ts';

/** Silence, then clicks (20 ms of 1 kHz at -6 dBFS starting at its peak) 0.7–1.1 s apart. */
export function clickTrain(count: number): Float32Array {
  const rate = 48_000;
  const gaps = Array.from({ length: count }, () => 0.7 + Math.random() * 0.4);
  const total = Math.ceil((1 + gaps.reduce((a, b) => a + b, 0) + 1) * rate);
  const out = new Float32Array(total * 2);
  let at = rate;
  for (const g of gaps) {
    for (let i = 0; i < 0.02 * rate; i++) {
      const v = 0.5 * Math.cos((2 * Math.PI * 1000 * i) / rate);
      out[2 * (at + i)] = v;
      out[2 * (at + i) + 1] = v;
    }
    at += Math.round(g * rate);
  }
  return out;
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]!;
}

/** Each click entering (`ins`) matched with the first detection after it within `windowMs`. */
export function match(ins: number[], outs: number[], windowMs: number): { lat: number[]; missed: number } {
  const lat: number[] = [];
  let missed = 0;
  for (const r of ins) {
    const b = outs.find((x) => x > r - 5 && x < r + windowMs);
    if (b === undefined) missed++;
    else lat.push(b - r);
  }
  return { lat, missed };
}

export interface ReferenceCapture {
  worker: Worker;
  /** Wall-clock ms of each click onset seen; clear it (length = 0) before a run. */
  clicks: number[];
}

/**
 * A reference capture of PipeWire node `device` (a sink: its monitor) in a worker of its own;
 * its clicks land in the array. Set `stop`'s Int32 [0] = 1 to end every capture sharing it.
 */
export async function referenceCapture(device: string, remote: string, stop: SharedArrayBuffer, threshold: number): Promise<ReferenceCapture> {
  const worker = new Worker(new URL('./click-capture-worker.ts', import.meta.url).href);
  const clicks: number[] = [];
  await new Promise<void>((resolve) => {
    worker.onmessage = (ev) => {
      if (ev.data.type === 'ready') resolve();
      if (ev.data.type === 'click') clicks.push(ev.data.wallMs);
    };
    worker.postMessage({ device, remote, threshold, quietFrames: 48_000 * 0.3, stop } satisfies ClickCaptureInit);
  });
  return { worker, clicks };
}
