/**
 * test/ll-ring.test.ts's other thread: the page's end of the low-latency ring (web/static/ll-ring.js)
 * in a Worker, writing `count` frames as fast as it can into the ring it is given. Frame k: seq k,
 * pts k·240, capture time k·5, arrival k + 0.5, and every sample of both planes k (left) and −k
 * (right), so that a frame read half-written shows. When the ring is full it tries again.
 */
import { LlRingWriter } from '../../web/static/ll-ring.js';

declare const self: Worker;

self.onmessage = (ev: MessageEvent<{ sab: SharedArrayBuffer; count: number; frameSamples: number }>) => {
  const { sab, count, frameSamples } = ev.data;
  const ring = new LlRingWriter(sab);
  let full = 0;
  for (let k = 0; k < count; ) {
    const slot = ring.claim();
    if (slot < 0) {
      full++;
      continue;
    }
    const l = ring.plane(slot, 0);
    const r = ring.plane(slot, 1);
    // Written in halves with the header last: the reader must never see a frame before commit().
    for (let i = 0; i < frameSamples; i++) l[i] = k;
    for (let i = 0; i < frameSamples; i++) r[i] = -k;
    ring.commit(slot, k, k * frameSamples, k * 5, frameSamples, 2, k + 0.5);
    k++;
  }
  self.postMessage({ done: true, full });
};
