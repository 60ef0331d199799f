/// <reference lib="webworker" />
/**
 * The peer for bench/pipeline-wake.ts: a bare worker that does what hark's audio worker does
 * to wake — Atomics.wait on a shared cell for a period (or until notified), then one message
 * to the main thread (after an urgent wake, one source block later) — and nothing else (no source, no encoder). Its intervals and its
 * notify-to-message time are the runtime's and the kernel's floor on this machine, now.
 */
declare const self: Worker;

export interface BareWakeInit {
  /**
   * Int32Array(4): [0] urgent flag (notify to wake at once), [1] period in ms, [2] stop,
   * [3] ms to wait after an urgent wake before posting (hark's first packet needs the
   * source's next block: the tone's 20 ms).
   */
  cell: SharedArrayBuffer;
}

self.onmessage = (ev: MessageEvent<BareWakeInit>) => {
  const cell = new Int32Array(ev.data.cell);
  const loop = () => {
    if (Atomics.load(cell, 2)) return;
    const urgent = Atomics.wait(cell, 0, 0, Atomics.load(cell, 1)) !== 'timed-out';
    Atomics.store(cell, 0, 0);
    if (urgent && Atomics.load(cell, 3) > 0) Atomics.wait(cell, 2, 0, Atomics.load(cell, 3));
    self.postMessage({ urgent, at: performance.timeOrigin + performance.now() });
    setImmediate(loop);
  };
  loop();
};
