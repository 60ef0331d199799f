/**
 * The edge-event reader behind GpioRequest.watch(): blocks in
 * gpiod_line_request_wait_edge_events (a poll() on the request's fd) so the main thread
 * never does, and posts each batch it reads. It borrows the request; the owner frees it only
 * after this loop has stored WORKER_STOPPED (or cancelled it before it began).
 */
import type { Pointer } from 'bun:ffi';
import {
  copyEdgeEvents,
  gpiod,
  lastError,
  W_STATE,
  W_STOP,
  WORKER_CANCELLED,
  WORKER_RUNNING,
  WORKER_STARTING,
  WORKER_STOPPED,
  type WorkerMessage,
} from './gpiod.ts';

declare const self: Worker;

const BATCH = 16;

self.onmessage = (e: MessageEvent<{ library: string; request: Pointer; shared: SharedArrayBuffer; waitMs: number }>) => {
  const { library, request, waitMs } = e.data;
  const shared = new Int32Array(e.data.shared);
  if (Atomics.compareExchange(shared, W_STATE, WORKER_STARTING, WORKER_RUNNING) === WORKER_CANCELLED) return;
  const post = (m: WorkerMessage) => self.postMessage(m);
  let buffer: Pointer | null = null;
  try {
    const lib = gpiod(library);
    // Ours: freed below with gpiod_edge_event_buffer_free.
    buffer = lib.gpiod_edge_event_buffer_new(BATCH) as Pointer | null;
    if (!buffer) throw lastError('gpiod_edge_event_buffer_new');
    const timeoutNs = BigInt(waitMs) * 1_000_000n;
    while (Atomics.load(shared, W_STOP) === 0) {
      const rc = lib.gpiod_line_request_wait_edge_events(request, timeoutNs);
      if (rc < 0) throw lastError('gpiod_line_request_wait_edge_events');
      if (rc === 0 || Atomics.load(shared, W_STOP) !== 0) continue;
      const n = lib.gpiod_line_request_read_edge_events(request, buffer, BATCH);
      if (n < 0) throw lastError('gpiod_line_request_read_edge_events');
      if (n > 0) post({ events: copyEdgeEvents(lib, buffer, n) });
    }
    lib.gpiod_edge_event_buffer_free(buffer);
    buffer = null;
  } catch (err) {
    if (buffer) gpiod(library).gpiod_edge_event_buffer_free(buffer);
    post({ error: (err as Error).message });
  } finally {
    Atomics.store(shared, W_STATE, WORKER_STOPPED);
    Atomics.notify(shared, W_STATE);
  }
};
