// The listen page's low-latency path (issue 19): the `opus-ll` data channel of the WHEP
// session carries each Opus packet with a 24-byte header (the contract: README, "opus-ll");
// WebCodecs' AudioDecoder decodes it here, and an AudioWorklet (ll-worklet.js, with hark's own
// jitter buffer, ll-buffer.js) plays it. Keep-alive pings give hark's clock, so the page can
// say how far behind the microphone it plays:
//   latency = now + (hark's clock − the page's) − capture time of the sample playing
//             + AudioContext.outputLatency
// The RTP track of the same session stays as the fallback (listen.js mutes it while this plays).
//
// The decoded frames go to the worklet through a shared ring (ll-ring.js) when the page is
// cross-origin isolated (hark serves it so: COOP/COEP), each stamped with its arrival on the
// worklet's clock; else (a page served without those headers) one message each.

import { parseLlPacket } from './ll-buffer.js';
import { LlRingWriter, RING_CHANNELS, RING_SLOT_SAMPLES } from './ll-ring.js';

/** The channel's label and options (unordered, never retransmitted: a late packet is worth nothing). */
export const LL_LABEL = 'opus-ll';
export const LL_CHANNEL_OPTIONS = { ordered: false, maxRetransmits: 0, protocol: 'hark-opus-ll/1' };
/** The low-latency sound must start this long (ms) after the connection is up, else the normal track plays. */
export const LL_START_WITHIN_MS = 3000;
/** No packet for this long (ms) while playing: the path has stopped; the normal track takes over. */
const LL_STALL_MS = 1500;
/** Keep-alive pings (the contract: about once a second; the first few quicker, for the clock). */
const PING_EVERY_MS = 1000;
/** How many ping/pong pairs the clock estimate looks at (the one with the shortest round trip wins). */
const PINGS_KEPT = 10;
/** Sequence numbers remembered as decoded (a second of 2.5 ms packets and more). */
const SEEN_KEPT = 512;

let support = null;

/**
 * Whether this browser can play the low-latency path: { ok, why } (why: in words, for the page).
 * WebCodecs' AudioDecoder with Opus at 48 kHz stereo, and AudioWorklet.
 */
export function llSupport() {
  support ??= (async () => {
    if (!window.AudioDecoder || !window.EncodedAudioChunk) return { ok: false, why: 'this browser cannot decode the sound itself (it has no WebCodecs audio decoder)' };
    if (!window.AudioWorkletNode) return { ok: false, why: 'this browser has no AudioWorklet' };
    try {
      const r = await AudioDecoder.isConfigSupported({ codec: 'opus', sampleRate: 48000, numberOfChannels: 2 });
      if (!r.supported) return { ok: false, why: 'this browser cannot decode Opus itself' };
    } catch (e) {
      return { ok: false, why: `this browser cannot decode Opus itself (${e.message})` };
    }
    return { ok: true, why: '' };
  })();
  return support;
}

const worklets = new WeakMap();
/** The worklet module, loaded once per AudioContext. */
function loadWorklet(ctx) {
  let p = worklets.get(ctx);
  if (!p) {
    p = ctx.audioWorklet.addModule('/static/ll-worklet.js');
    worklets.set(ctx, p);
  }
  return p;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : null;
};

/**
 * One session's low-latency path. `state`: 'waiting' (the channel is not open or the sound has
 * not started), 'playing', or 'failed' (`why` says why, in words). `onChange()` is called at
 * each change of state; `node` is the worklet's output once it exists.
 */
export class LowLatencyPath {
  constructor(ctx, dc, onChange) {
    this.ctx = ctx;
    this.dc = dc;
    this.onChange = onChange;
    this.state = 'waiting';
    this.why = '';
    this.node = null;
    this.decoder = null;
    this.channels = 0;
    this.meta = new Map();
    this.pings = [];
    this.offset = null;
    this.rtt = null;
    this.latencies = [];
    this.history = [];
    this.stats = null;
    this.received = 0;
    this.missing = 0;
    /** Packets whose own message was missing when the next one brought their copy. */
    this.recovered = 0;
    /** The sequence numbers handed to the decoder lately (a copy of one of them is not decoded again). */
    this.seen = new Set();
    this.clockJumps = 0;
    this.chunks = 0;
    this.bad = 0;
    this.lastPacketAt = 0;
    this.openedAt = 0;
    this.timers = [];
    /** The shared ring to the worklet (null: messages), and the mapping of this thread's clock to the worklet's. */
    this.ring = null;
    this.clockOffsetToWorklet = null;
    this.lastStampAt = 0;
    this.ready = loadWorklet(ctx)
      .then(() => {
        if (this.state === 'failed') return;
        const opts = { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [2] };
        // For comparisons: ?ll_ring=0 hands frames over by messages even when isolated;
        // ?ll_stamp=page gives the buffer the page's arrival stamps (ll-worklet.js says why not by default).
        const q = new URLSearchParams(location.search);
        if (globalThis.crossOriginIsolated && typeof SharedArrayBuffer === 'function' && q.get('ll_ring') !== '0') {
          try {
            const ring = LlRingWriter.create();
            this.node = new AudioWorkletNode(ctx, 'hark-ll', { ...opts, processorOptions: { ring: ring.sab, stamp: q.get('ll_stamp') === 'page' ? 'page' : 'worklet' } });
            this.ring = ring;
          } catch (e) {
            console.info(`[ll] no shared ring (${e.message}): messages`);
          }
        }
        this.node ??= new AudioWorkletNode(ctx, 'hark-ll', opts);
        this.node.port.onmessage = (ev) => this.onStats(ev.data);
      })
      .catch((e) => this.fail(`the player did not start (${e.message})`));
    dc.binaryType = 'arraybuffer';
    dc.onopen = () => this.opened();
    dc.onclose = () => this.fail('the low-latency connection closed');
    dc.onmessage = (ev) => this.message(ev.data);
    if (dc.readyState === 'open') this.opened();
  }

  /** The connection is up: the low-latency sound must start within LL_START_WITHIN_MS. */
  armDeadline() {
    if (this.deadline || this.state !== 'waiting') return;
    this.deadline = setTimeout(() => {
      if (this.state === 'waiting') this.fail(this.openedAt ? 'no low-latency sound came' : 'the low-latency connection did not open');
    }, LL_START_WITHIN_MS);
  }

  opened() {
    if (this.openedAt || this.state === 'failed') return;
    this.openedAt = performance.now();
    // A few quick pings for the clock, then one a second.
    for (const at of [0, 150, 400]) this.timers.push(setTimeout(() => this.ping(), at));
    this.pingTimer = setInterval(() => this.ping(), PING_EVERY_MS);
    this.stallTimer = setInterval(() => {
      if (this.state === 'playing' && performance.now() - this.lastPacketAt > LL_STALL_MS) this.fail('the low-latency sound stopped');
    }, 500);
  }

  ping() {
    if (this.dc.readyState !== 'open') return;
    try {
      this.dc.send(JSON.stringify({ type: 'ping', t: performance.now() }));
    } catch {}
  }

  /** hark's clock from a pong: offset = now − (sent + received)/2, from the pair with the shortest round trip. */
  pong(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (m?.type !== 'pong' || !Number.isFinite(m.t) || !Number.isFinite(m.now)) return;
    const back = performance.now();
    const rtt = back - m.t;
    if (rtt < 0 || rtt > 10_000) return;
    this.pings.push({ rtt, offset: m.now - (m.t + back) / 2 });
    if (this.pings.length > PINGS_KEPT) this.pings.shift();
    const best = this.pings.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.offset = best.offset;
    this.rtt = best.rtt;
  }

  message(data) {
    if (this.state === 'failed') return;
    if (typeof data === 'string') return this.pong(data);
    const p = parseLlPacket(data);
    if (!p) {
      this.bad++;
      return;
    }
    this.received++;
    this.lastPacketAt = performance.now();
    // Sequence numbers skipped on the way (the channel loses and reorders; the buffer conceals).
    if (this.lastSeq !== undefined) {
      const step = (p.seq - this.lastSeq) >>> 0;
      if (step > 1 && step < 0x80000000) this.missing += step - 1;
      // hark's sample clock moving otherwise than by the packets (its capture skipped): counted.
      if (step === 1 && p.pts - this.lastPts !== p.frameSamples) this.clockJumps++;
    }
    this.lastSeq = p.seq;
    this.lastPts = p.pts;
    if (!this.decoder || this.channels !== p.channels) this.configure(p.channels);
    if (!this.decoder) return;
    // The packet before, carried again: decoded first (the decoder's state runs on in order)
    // when its own message was lost or is still on its way; the buffer drops it if it comes
    // after its turn, and a copy that comes after all counts as a duplicate there.
    if (p.red && !this.seen.has(p.red.seq)) {
      this.recovered++;
      this.decode(p.red.seq, p.red.pts, p.red.captureMs, p.frameSamples, p.red.data);
    }
    this.decode(p.seq, p.pts, p.captureMs, p.frameSamples, p.data);
  }

  /** Hand one packet to the decoder, remembering its header for its decoded frame. */
  decode(seq, pts, captureMs, frameSamples, data) {
    if (this.state === 'failed' || !this.decoder) return;
    this.seen.add(seq);
    if (this.seen.size > SEEN_KEPT) this.seen.delete(this.seen.values().next().value);
    // The decoder hands back each frame with its chunk's timestamp (µs): the packet's header by
    // it. A timestamp of our own, continuous (a decoder may count output timestamps on from the
    // first one by the frames' durations, which hark's sample clock does not always follow).
    const ts = this.chunks++ * Math.round((frameSamples * 1e6) / 48000);
    this.meta.set(ts, { seq, pts, captureMs, frameSamples });
    if (this.meta.size > 400) this.meta.delete(this.meta.keys().next().value);
    try {
      this.decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp: ts, data }));
    } catch (e) {
      this.fail(`the sound could not be decoded (${e.message})`);
    }
  }

  configure(channels) {
    try {
      this.decoder?.close();
    } catch {}
    this.channels = channels;
    this.decoder = new AudioDecoder({ output: (d) => this.decoded(d), error: (e) => this.fail(`the sound could not be decoded (${e.message})`) });
    this.decoder.configure({ codec: 'opus', sampleRate: 48000, numberOfChannels: channels });
  }

  decoded(d) {
    // By timestamp; else the oldest waiting (outputs come in the order of the decode calls).
    let key = d.timestamp;
    if (!this.meta.has(key)) key = this.meta.keys().next().value;
    const m = this.meta.get(key);
    this.meta.delete(key);
    if (!m || !this.node || this.state === 'failed') return d.close();
    const n = d.numberOfFrames;
    if (this.ring) return this.toRing(d, m, n);
    const planes = [];
    try {
      for (let c = 0; c < Math.min(2, d.numberOfChannels); c++) {
        const plane = new Float32Array(n);
        d.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
        planes.push(plane);
      }
    } catch (e) {
      d.close();
      return this.fail(`the sound could not be read (${e.message})`);
    }
    d.close();
    this.node.port.postMessage({ type: 'frame', ...m, channels: planes.length, frameSamples: n, planes }, planes.map((p) => p.buffer));
  }

  /** One decoded frame into the shared ring: its planes straight into a free slot, stamped on the worklet's clock. */
  toRing(d, m, n) {
    const ring = this.ring;
    const channels = Math.min(RING_CHANNELS, d.numberOfChannels);
    // Longer than a slot (not an Opus frame): the buffer would refuse it anyway.
    if (n > RING_SLOT_SAMPLES) {
      d.close();
      this.bad++;
      return;
    }
    const slot = ring.claim();
    if (slot < 0) {
      // Full: the worklet has not run for a while. Dropped here (counted), concealed there as a lost packet.
      return d.close();
    }
    try {
      for (let c = 0; c < channels; c++) this.copyPlane(d, c, ring.plane(slot, c), n);
    } catch (e) {
      d.close();
      return this.fail(`the sound could not be read (${e.message})`);
    }
    d.close();
    ring.commit(slot, m.seq, m.pts, m.captureMs, n, channels, this.workletNowMs());
  }

  /**
   * Channel `c` of a decoded frame into a slot's plane. Straight in where the browser's
   * AudioData.copyTo takes shared memory (WebCodecs: [AllowShared]); else through a scratch
   * plane of this page's own (allocated once).
   */
  copyPlane(d, c, dest, n) {
    if (!this.copyScratch) {
      try {
        d.copyTo(dest, { planeIndex: c, format: 'f32-planar' });
        return;
      } catch (e) {
        if (!(e instanceof TypeError)) throw e;
        this.copyScratch = new Float32Array(RING_SLOT_SAMPLES);
      }
    }
    const s = this.copyScratch;
    d.copyTo(s, { planeIndex: c, format: 'f32-planar', frameCount: n });
    dest.set(n === s.length ? s : s.subarray(0, n));
  }

  /**
   * Now on the worklet's clock (its currentTime × 1000, within a near-constant offset), the
   * stamp of a frame written to the ring: the worklet measures from it how long frames wait for
   * its next turn (`handoverMs`), and with ?ll_stamp=page its buffer takes it as the arrival.
   * This thread cannot read the worklet's clock; getOutputTimestamp() ties the context's clock
   * to performance.now(): the context time at the speaker now is contextTime + (performance.now()
   * − performanceTime) / 1000. That runs behind the worklet's currentTime by the output's
   * latency, near constant. An offset does not matter to either use: the buffer takes arrival
   * times only against one another (the lateness against its earliest-arrival line, its 3 s
   * window, the 0.1 s between updates of its target, a 0.5 s wait), never against currentTime,
   * and `handoverMs` is a spread (p95 less the least).
   * The raw mapping is a sawtooth (Chromium on PipeWire, measured: it updates every device
   * callback, 10.7 ms, drifts up to 4 ms/s and is put right by 2–8 ms steps every 1.5 s), so
   * the offset is followed through a 2 s low-pass: the stamps keep performance.now()'s exact
   * spacing, follow the audio clock's rate (a few 0.1 % off the wall clock is common), and the
   * estimate's own steps do not show as jitter. Far off (50 ms: the first timestamp, a stall of
   * the audio device, a suspended context) it is taken at once.
   */
  workletNowMs() {
    const now = performance.now();
    let ts = null;
    try {
      ts = this.ctx.getOutputTimestamp?.();
    } catch {}
    if (ts && ts.performanceTime > 0 && Number.isFinite(ts.contextTime) && Number.isFinite(ts.performanceTime)) {
      const raw = ts.contextTime * 1000 - ts.performanceTime;
      const o = this.clockOffsetToWorklet;
      if (o === null || Math.abs(raw - o) > 50) this.clockOffsetToWorklet = raw;
      else this.clockOffsetToWorklet = o + (raw - o) * (1 - Math.exp(-Math.max(0, now - this.lastStampAt) / 2000));
    }
    this.lastStampAt = now;
    // Before the context plays (no timestamp yet): its current time, as the messages' stamps.
    if (this.clockOffsetToWorklet === null) return this.ctx.currentTime * 1000;
    return now + this.clockOffsetToWorklet;
  }

  onStats(s) {
    if (s?.type !== 'stats' || this.state === 'failed') return;
    this.stats = s;
    const now = performance.now();
    if (this.offset !== null && Number.isFinite(s.captureMs)) {
      const out = (this.ctx.outputLatency || 0) * 1000;
      this.latencies.push(now + this.offset - s.captureMs + out);
      if (this.latencies.length > 10) this.latencies.shift();
    }
    this.history.push([now, s.concealed]);
    while (this.history.length > 2 && now - this.history[0][0] > 60_000) this.history.shift();
    if (s.started && this.state === 'waiting') {
      this.state = 'playing';
      clearTimeout(this.deadline);
      this.onChange();
    }
  }

  /** Concealed packets per minute over the last minute (or since the start, after 5 s). */
  get concealedPerMin() {
    const h = this.history;
    if (h.length < 2) return null;
    const [t0, c0] = h[0];
    const [t1, c1] = h[h.length - 1];
    return t1 - t0 >= 5000 ? ((c1 - c0) / (t1 - t0)) * 60_000 : null;
  }

  /** The figures for the page, `window.hark.ll` and the benches. */
  get info() {
    const s = this.stats;
    return {
      state: this.state,
      why: this.why,
      latencyMs: median(this.latencies),
      targetMs: s?.targetMs ?? null,
      bufferedMs: s?.bufferedMs ?? null,
      frameMs: s?.frameMs ?? null,
      concealed: s?.concealed ?? 0,
      /** Of those, the ones heard as a gap (the repeated sound faded out before audio came back). */
      dropouts: s?.dropouts ?? 0,
      concealedPerMin: this.concealedPerMin,
      packets: this.received,
      missing: this.missing,
      recovered: this.recovered,
      clockJumps: this.clockJumps,
      lost: s?.lost ?? 0,
      late: s?.late ?? 0,
      underruns: s?.underruns ?? 0,
      dropped: s?.dropped ?? 0,
      skipped: s?.skipped ?? 0,
      rebases: s?.rebases ?? 0,
      duplicates: s?.duplicates ?? 0,
      reordered: s?.reordered ?? 0,
      bad: this.bad + (s?.bad ?? 0),
      resampleRatio: s?.ratio ?? null,
      maxStep: s?.maxStep ?? 0,
      jumps: s?.jumps ?? 0,
      longestGapSamples: s?.longestGap ?? 0,
      longestDropoutSamples: s?.longestDropout ?? 0,
      clockOffsetMs: this.offset,
      rttMs: this.rtt,
      outputLatencyMs: (this.ctx.outputLatency || 0) * 1000,
      /** How decoded audio reaches the worklet: a shared ring (cross-origin isolated) or messages. */
      transport: this.node ? (this.ring ? 'shared-ring' : 'messages') : null,
      /** Frames the full ring refused (concealed as lost), and plane sets the worklet made for it. */
      ringDropped: this.ring?.dropped ?? 0,
      ringAllocated: s?.ringAllocated ?? 0,
      /** Through the ring: how long a decoded frame waits for the worklet's next turn (p95, ms). */
      handoverMs: s?.handoverMs ?? null,
    };
  }

  /** Count clicks and gaps afresh (a test, after its warm-up). */
  resetDiagnostics() {
    this.node?.port.postMessage({ type: 'diag-reset' });
  }

  fail(why) {
    if (this.state === 'failed') return;
    this.state = 'failed';
    this.why = why;
    this.close();
    this.onChange();
  }

  close() {
    clearTimeout(this.deadline);
    clearInterval(this.pingTimer);
    clearInterval(this.stallTimer);
    for (const t of this.timers) clearTimeout(t);
    this.dc.onmessage = this.dc.onopen = this.dc.onclose = null;
    try {
      if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    } catch {}
    this.decoder = null;
    try {
      this.node?.disconnect();
      this.node?.port.close();
    } catch {}
  }
}
