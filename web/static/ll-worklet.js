// The low-latency listener's playout (issue 19): an AudioWorkletProcessor holding hark's own
// jitter buffer and resampler (ll-buffer.js). The page (ll.js) decodes each Opus packet of the
// `opus-ll` channel with WebCodecs and posts its PCM here; this plays it, and about ten times a
// second posts the buffer's figures back (target, level, concealment, the capture time of what
// plays, and the clicks and gaps it saw in its own output).
import { LlBuffer } from './ll-buffer.js';

class HarkLowLatency extends AudioWorkletProcessor {
  constructor() {
    super();
    this.buf = new LlBuffer({ outRate: sampleRate });
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

  process(_inputs, outputs) {
    const out = outputs[0];
    if (out && out.length) this.buf.pull(out, out[0].length);
    if (++this.quanta % this.every === 0) {
      // The capture time of the sample that ends this quantum, and when that is on this clock.
      this.port.postMessage({ type: 'stats', contextTime: currentTime + (out?.[0]?.length ?? 128) / sampleRate, ...this.buf.stats() });
    }
    return true;
  }
}

registerProcessor('hark-ll', HarkLowLatency);
