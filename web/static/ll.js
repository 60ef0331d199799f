// The listen page's low-latency path (issue 19): the `opus-ll` data channel of the WHEP
// session carries each Opus packet with a 24-byte header (the contract: README, "opus-ll");
// WebCodecs' AudioDecoder decodes it here, and an AudioWorklet (ll-worklet.js, with hark's own
// jitter buffer, ll-buffer.js) plays it. Keep-alive pings give hark's clock, so the page can
// say how far behind the microphone it plays:
//   latency = now + (hark's clock − the page's) − capture time of the sample playing
//             + AudioContext.outputLatency
// The RTP track of the same session stays as the fallback (listen.js mutes it while this plays).

import { parseLlPacket } from './ll-buffer.js';

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
    this.ready = loadWorklet(ctx)
      .then(() => {
        if (this.state === 'failed') return;
        this.node = new AudioWorkletNode(ctx, 'hark-ll', { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [2] });
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
      duplicates: s?.duplicates ?? 0,
      reordered: s?.reordered ?? 0,
      bad: this.bad + (s?.bad ?? 0),
      resampleRatio: s?.ratio ?? null,
      maxStep: s?.maxStep ?? 0,
      jumps: s?.jumps ?? 0,
      longestGapSamples: s?.longestGap ?? 0,
      clockOffsetMs: this.offset,
      rttMs: this.rtt,
      outputLatencyMs: (this.ctx.outputLatency || 0) * 1000,
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
