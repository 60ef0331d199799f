// The low-latency listener's playout (issue 19): an AudioWorkletProcessor holding hark's own
// jitter buffer and resampler (ll-buffer.js). The page (ll.js) decodes each Opus packet of the
// `opus-ll` channel with WebCodecs and hands its PCM here: through a shared ring (ll-ring.js,
// given once in processorOptions.ring) when the page is cross-origin isolated, read at the start
// of every render quantum, else one message per frame. This plays it, and about ten times a
// second posts the buffer's figures back (target, level, concealment, the capture time of what
// plays, and the clicks and gaps it saw in its own output).
//
// The arrival time the buffer's jitter statistics get is when a frame reaches this thread, on
// its clock (currentTime): through the ring, the quantum that reads it. The page stamps each
// frame too, when it was decoded (on this clock, ll.js workletNowMs); that stamp is earlier by
// the wait for this thread's next turn, which the browser runs in bursts (Chromium on PipeWire:
// four quanta back to back every 10.7 ms). The buffer must cover that wait, so it is not left
// out: with the page's stamps its target leaves it out, and a simulation of such bursts
// (5 ms packets, little jitter; 2.5 ms ones, 8 ms of jitter) starved the playout 2 to 5 times a
// second where the reading quantum's time did not once. The wait itself is measured and
// reported (`handoverMs`). processorOptions.stamp = 'page' gives the buffer the page's stamps
// instead (?ll_stamp=page on the listen page: for comparisons).
import { LlBuffer } from './ll-buffer.js';
import { LlRingReader } from './ll-ring.js';

/** Hand-over waits kept for `handoverMs` (2.5 s of 5 ms frames). */
const WAITS = 512;

class HarkLowLatency extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const sab = options?.processorOptions?.ring;
    this.ring = typeof SharedArrayBuffer === 'function' && sab instanceof SharedArrayBuffer ? new LlRingReader(sab) : null;
    // With the ring, the planes of a played frame go back to its pool (nothing allocated per frame).
    this.buf = new LlBuffer({ outRate: sampleRate, release: this.ring ? this.ring.release : null });
    this.pageStamps = options?.processorOptions?.stamp === 'page';
    this.waits = new Float64Array(WAITS);
    this.sorted = new Float64Array(WAITS);
    this.nWaits = 0;
    this.nowMs = 0;
    // Bound once: drain() calls it for each frame.
    this.push = (f, stampMs) => {
      // How long after the page's stamp this thread took it (plus a constant: the clocks' offset).
      if (Number.isFinite(stampMs)) this.waits[this.nWaits++ % WAITS] = this.nowMs - stampMs;
      return this.buf.push(f, this.pageStamps ? stampMs : this.nowMs);
    };
    this.quanta = 0;
    this.every = Math.max(1, Math.round(sampleRate / 128 / 10));
    this.port.onmessage = (ev) => this.onMessage(ev.data);
  }

  onMessage(m) {
    if (!m || typeof m !== 'object') return;
    // Arrival on this thread's clock: what the buffer's jitter statistics need.
    if (m.type === 'frame') this.buf.push(m, currentTime * 1000);
    else if (m.type === 'restart') this.buf.restart();
    else if (m.type === 'diag-reset') this.buf.resetDiagnostics();
  }

  /** The wait for this thread after the page's stamp, p95 over the last frames less the least (the clocks' offset), ms; null without the ring. */
  handoverMs() {
    const n = Math.min(this.nWaits, WAITS);
    if (n < 20) return null;
    const s = this.sorted.subarray(0, n);
    s.set(n === WAITS ? this.waits : this.waits.subarray(0, n));
    s.sort();
    return s[Math.ceil(0.95 * n) - 1] - s[0];
  }

  process(_inputs, outputs) {
    // What the page decoded since the last quantum, before this one is played.
    if (this.ring) {
      this.nowMs = currentTime * 1000;
      this.ring.drain(this.push);
    }
    const out = outputs[0];
    if (out && out.length) this.buf.pull(out, out[0].length);
    if (++this.quanta % this.every === 0) {
      // The capture time of the sample that ends this quantum, and when that is on this clock.
      this.port.postMessage({
        type: 'stats',
        contextTime: currentTime + (out?.[0]?.length ?? 128) / sampleRate,
        handoverMs: this.ring ? this.handoverMs() : null,
        ringAllocated: this.ring?.allocated ?? 0,
        ringCorrupt: this.ring?.corrupt ?? 0,
        ...this.buf.stats(),
      });
    }
    return true;
  }
}

registerProcessor('hark-ll', HarkLowLatency);
