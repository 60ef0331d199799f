// hark's playout buffer for the low-latency listening channel `opus-ll` (issue 19): plain
// JavaScript with no browser API, so the same code runs in the listen page's AudioWorklet
// (web/static/ll-worklet.js) and under `bun test` (src/http/ll-buffer.test.ts).
//
// What it does with the decoded packets it is given:
//  - puts them in order by their sequence number, whatever order they came in; drops
//    duplicates and packets that come after their turn (counted);
//  - measures how late each packet is against the earliest arrivals of the last moments
//    (`lateness`) and keeps its target at the p95 of that over the last few seconds plus one
//    packet, never below one packet;
//  - plays at the listener's rate through a windowed-sinc resampler whose ratio a PI
//    controller moves, slowly (a slew limit) and within ±0.5 %, to hold the buffer at the
//    target: the box's clock and the listener's never agree exactly, and this absorbs the
//    difference without a pitch jump or a periodic click;
//  - conceals a packet that is missing when its turn comes (WebCodecs has no Opus PLC) as
//    NetEq's "expand" does: the sound goes on by repeating its last pitch period (found by
//    autocorrelation), at full level for 10 ms, then fading out over 30 ms into silence; the
//    packet that comes next is cross-faded in. Lost (later ones are there) the packet's length
//    is concealed so; starved (nothing newer yet) the playout goes on concealing until a packet
//    comes, which raises the latency until the controller brings it back down. Where there is
//    nothing to repeat (silence before, the start) the concealment is a short fade out and in;
//  - watches its own output: sample-to-sample steps (a click), the longest concealed run and
//    the longest dropout (concealment below half level: what a listener hears as a gap).

/** The sample clock of `opus-ll` (Hz). */
export const LL_RATE = 48000;
/** The header before each Opus packet (the contract: /work/notes/opus-ll-protocol.md, README). */
export const LL_HEADER_BYTES = 24;
/** Frame lengths (samples at 48 kHz) an Opus packet may have: 2.5 … 60 ms. */
export const LL_FRAME_SAMPLES = new Set([120, 240, 480, 960, 1920, 2880]);
const FRAME_SAMPLES = LL_FRAME_SAMPLES;
/** The largest message accepted: a 60 ms stereo Opus packet at 510 kbit/s is under 4 kB. */
const MAX_MESSAGE = 8192;

/**
 * One hark → page message on `opus-ll`: a 24-byte big-endian header (version, channels, frame
 * length in samples, sequence number, pts on the 48 kHz sample clock, capture time in hark's
 * clock, ms), then in version 2 the packet's length (u16) and the Opus packet, then the packet
 * before it again (its pts and capture time, float64 each, then its bytes) if there is one:
 * `red`, with sequence number seq − 1. Version 1 is the header and the packet alone. Returns
 * null for anything else (the caller counts it).
 */
export function parseLlPacket(buf) {
  if (!(buf instanceof ArrayBuffer) || buf.byteLength <= LL_HEADER_BYTES || buf.byteLength > MAX_MESSAGE) return null;
  const v = new DataView(buf);
  const version = v.getUint8(0);
  const channels = v.getUint8(1);
  const frameSamples = v.getUint16(2);
  const seq = v.getUint32(4);
  const pts = v.getFloat64(8);
  const captureMs = v.getFloat64(16);
  if ((version !== 1 && version !== 2) || (channels !== 1 && channels !== 2) || !FRAME_SAMPLES.has(frameSamples)) return null;
  if (!Number.isSafeInteger(pts) || pts < 0 || !Number.isFinite(captureMs)) return null;
  if (version === 1) return { channels, frameSamples, seq, pts, captureMs, data: new Uint8Array(buf, LL_HEADER_BYTES), red: null };
  if (buf.byteLength < LL_HEADER_BYTES + 3) return null;
  const len = v.getUint16(LL_HEADER_BYTES);
  const end = LL_HEADER_BYTES + 2 + len;
  if (len === 0 || end > buf.byteLength) return null;
  const data = new Uint8Array(buf, LL_HEADER_BYTES + 2, len);
  if (end === buf.byteLength) return { channels, frameSamples, seq, pts, captureMs, data, red: null };
  // The copy of the packet before: its times, then at least one byte of it.
  if (buf.byteLength < end + 17) return null;
  const redPts = v.getFloat64(end);
  const redCapture = v.getFloat64(end + 8);
  if (!Number.isSafeInteger(redPts) || redPts < 0 || redPts >= pts || !Number.isFinite(redCapture)) return null;
  return { channels, frameSamples, seq, pts, captureMs, data, red: { seq: (seq - 1) >>> 0, pts: redPts, captureMs: redCapture, data: new Uint8Array(buf, end + 16) } };
}

/**
 * What the playout itself needs on top of the jitter (ms): the staging's lookahead (the fade and
 * half the resampler, 1.5 ms) and as much again while the controller settles (simulated:
 * test/ll-buffer.test.ts; with less, a 0.3 % slow box starved the start now and then).
 */
const ALLOWANCE_MS = 3;
/** Resampler taps each side of the read position (16 in all), and kernel phases per sample. */
const HALF = 8;
const PHASES = 128;
/** The staging ring (samples per channel): a power of two over the largest frame plus lookahead. */
const RING = 8192;
const MASK = RING - 1;
/** The resampling correction never leaves ±0.5 %; it moves at most this much per second. */
const MAX_CORRECTION = 0.005;
const SLEW_PER_S = 0.01;
/**
 * PI controller on the buffer's error (ms): ωn = √(1000·KI) ≈ 1 rad/s, ζ = 1000·KP/(2ωn) ≈ 1 (a
 * plant that integrates the rate error: 1 % too slow drains 10 ms a second). A 0.3 % drift
 * settles in a few seconds, within 1.5 ms of the target meanwhile.
 */
const KP = 0.002;
const KI = 0.001;
/** How fast the buffer level the controller sees follows the sawtooth of arrivals (s). */
const LEVEL_TAU_S = 0.4;
/**
 * The earliest-arrival line moves this much faster than the sample clock, so that an early
 * packet is forgotten after a while (1 %: 5 ms in half a second) and a box whose clock runs
 * up to 1 % slow never looks late.
 */
const LEAK = 0.01;
/**
 * Every arrival this long (ms) later than the earliest-arrival line (by at least REBASE_MIN_MS):
 * the line moves to them, and the lateness already counted shrinks by as much. A delay that
 * stays is an offset, not jitter: the listener's audio clock ran ahead while its device filled
 * its buffer (Chromium on PipeWire: 50–150 ms at the start), or the network's path changed. The
 * leak alone would take 10 s and more to forget 100 ms, with the target that high meanwhile.
 */
const REBASE_MS = 500;
const REBASE_MIN_MS = 0.5;
/** Packets of a stream (2 s of 2.5 ms ones) held at most before the buffer starts again. */
const MAX_FRAMES = 800;
/** A packet this far (samples, by its sequence number) from the playout: a new stream, start again. */
const JUMP_SAMPLES = 2 * LL_RATE;
/**
 * Buffered this far over the target (ms; at least two packets) with the resampling at its limit,
 * single packets are left out (cross-faded): after a stall the buffer is back within about a
 * packet of its target in a second or two, not the 3 s that ±0.5 % takes for 15 ms.
 */
const DROP_OVER_MS = 8;
/** Buffered this far over the target (ms), the playout skips ahead (a fade) rather than resample for seconds. */
const SKIP_OVER_MS = 120;
/** Expansion: pitch periods searched (samples at 48 kHz: 1.5 kHz down to 75 Hz) over a window this long. */
const EXP_MIN_P = 32;
const EXP_MAX_P = 640;
const EXP_WIN = 192;
/**
 * Expansion at full level this long (samples: 10 ms), then a raised-cosine fade this long into
 * silence (30 ms): above half level for 25 ms, which the stalls seen on a quiet machine (the
 * page's thread late by 5–25 ms once or twice a minute) stay within.
 */
const EXP_HOLD = 480;
const EXP_DECAY = 1440;
/** Below this mean square (about −80 dBFS) there is nothing to repeat. */
const EXP_QUIET = 1e-8;
/** Staging-ring flags: a concealed sample, and one below half level (a dropout). */
const F_CONCEALED = 1;
const F_DROPOUT = 2;

/** A raised-cosine fade in over `n` samples: the gain of sample `i` (0 … n−1), from near 0 to near 1. */
const rise = (i, n) => 0.5 - 0.5 * Math.cos((Math.PI * (i + 0.5)) / n);

/** The expansion's level after `k` of its samples: 1, then a raised-cosine fade to 0. */
function expGain(k) {
  if (k < EXP_HOLD) return 1;
  if (k >= EXP_HOLD + EXP_DECAY) return 0;
  return 0.5 + 0.5 * Math.cos((Math.PI * (k - EXP_HOLD)) / EXP_DECAY);
}

/** The resampler's kernel: a Kaiser-windowed sinc, `PHASES + 1` rows of 2·HALF taps. */
function makeKernel(cutoff) {
  const beta = 7;
  const i0 = (x) => {
    let s = 1;
    let t = 1;
    for (let k = 1; k < 30; k++) {
      t *= (x / (2 * k)) ** 2;
      s += t;
    }
    return s;
  };
  const k = new Float32Array((PHASES + 1) * 2 * HALF);
  for (let p = 0; p <= PHASES; p++) {
    const frac = p / PHASES;
    let sum = 0;
    for (let j = 0; j < 2 * HALF; j++) {
      // Tap j reads sample ip − HALF + 1 + j; its distance from the read position ip + frac:
      const x = j - HALF + 1 - frac;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * cutoff * x) / (Math.PI * cutoff * x);
      const w = Math.abs(x) >= HALF ? 0 : i0(beta * Math.sqrt(1 - (x / HALF) ** 2)) / i0(beta);
      k[p * 2 * HALF + j] = cutoff * sinc * w;
      sum += cutoff * sinc * w;
    }
    // Unity gain at DC for every phase (no ripple in level as the phase moves).
    for (let j = 0; j < 2 * HALF; j++) k[p * 2 * HALF + j] /= sum;
  }
  return k;
}

/**
 * The jitter buffer, clock-drift resampler and concealment for one listener. `push()` a
 * decoded packet as it comes, with its arrival time in the playout's own clock (ms);
 * `pull()` fills the output, one render quantum at a time.
 */
export class LlBuffer {
  /**
   * `outRate`: the output's sample rate (the AudioContext's). `windowMs`: how far back the
   * jitter statistics look. `fadeSamples`: the concealment's fade (out and in). `jumpThreshold`:
   * a sample-to-sample step larger than this (full scale 1) counts as a jump. `release(planes)`:
   * called with a pushed frame's planes once the buffer is done with them (played, dropped or
   * forgotten), so that their owner may use them again (the worklet's ring reader recycles them);
   * planes of a push that did not return 'ok' stay with the caller.
   */
  constructor({ outRate = LL_RATE, windowMs = 3000, fadeSamples = 64, jumpThreshold = 0.1, release = null } = {}) {
    this.outRate = outRate;
    this.release = release;
    this.baseStep = LL_RATE / outRate;
    this.windowMs = windowMs;
    this.fade = fadeSamples;
    this.jumpThreshold = jumpThreshold;
    this.kernel = makeKernel(0.97 * Math.min(1, outRate / LL_RATE));
    this.ring = [new Float32Array(RING), new Float32Array(RING)];
    this.flags = new Uint8Array(RING);
    // The expansion's one period (per channel), taken from the audio before the concealment.
    this.expSrc = [new Float32Array(EXP_MAX_P), new Float32Array(EXP_MAX_P)];
    this.coef = new Float32Array(2 * HALF);
    this.late = new Float64Array(4096);
    this.lateAt = new Float64Array(4096);
    this.latePts = new Float64Array(4096);
    this.sorted = new Float64Array(4096);
    // Counters for the life of the buffer (a restart keeps them).
    this.packets = 0;
    this.bad = 0;
    this.duplicates = 0;
    this.reordered = 0;
    this.lost = 0;
    this.lateCount = 0;
    this.underruns = 0;
    this.concealed = 0;
    /** Concealments whose cover ran out (the output fell below half level): what a listener hears as a gap. */
    this.dropouts = 0;
    this.skipped = 0;
    this.dropped = 0;
    this.restarts = 0;
    this.rebases = 0;
    this.resetDiagnostics();
    this.restart();
    this.restarts = 0;
    // The period search once now, on the silent ring: its first run (compiling, the slow tiers)
    // costs a few ms, which should not land in the render quantum of the first concealment.
    for (let i = 0; i < 3; i++) this.bestPeriod(RING / 2, EXP_MIN_P, EXP_MAX_P, 2, 2);
  }

  /** Forget the stream (a new one starts: another encoder, a jump in its clock); the counters stay. */
  restart() {
    this.restarts++;
    if (this.release && this.frames) for (const f of this.frames.values()) this.release(f.planes);
    this.frames = new Map();
    this.frameLen = 0;
    this.seqLast = undefined;
    this.seqExt = 0;
    this.started = false;
    this.nextPts = 0;
    this.maxEnd = -Infinity;
    this.pos = HALF + 1;
    this.stagedEnd = HALF + 1;
    this.ring[0].fill(0);
    this.ring[1].fill(0);
    this.flags.fill(0);
    /** Staged blocks, for the capture time of what plays: { s, len, captureMs, advance }. */
    this.blocks = [];
    this.prevConcealed = true;
    this.prevDropped = false;
    /** The running expansion's period (0: none) and the samples it has made. */
    this.expP = 0;
    this.expK = 0;
    this.stalled = false;
    this.stallSamples = 0;
    this.concealedPts = [];
    this.envA = NaN;
    this.envPts = 0;
    this.lateHead = 0;
    this.lateN = 0;
    this.blockAt = NaN;
    this.blockMin = Infinity;
    this.blockMinA = NaN;
    this.blockMinPts = 0;
    this.p95At = -Infinity;
    this.targetMs = 0;
    this.p95Ms = 0;
    this.levelMs = 0;
    this.levelInit = false;
    this.integ = 0;
    this.ratio = 1;
    this.overSince = -1;
    this.clockMs = 0;
  }

  /** Start counting jumps and gaps afresh (a test after its warm-up). */
  resetDiagnostics() {
    this.maxStep = 0;
    this.jumps = 0;
    this.gapRun = 0;
    this.longestGap = 0;
    this.dropRun = 0;
    this.longestDropout = 0;
    this.last = [NaN, NaN];
    this.minRatio = Infinity;
    this.maxRatio = -Infinity;
    this.minLevelMs = Infinity;
    this.maxLevelMs = -Infinity;
  }

  /** Audio received and not yet played (ms): from the sample playing to the newest received. */
  get bufferedMs() {
    if (!this.started) return this.maxEnd > -Infinity && this.frames.size ? (this.maxEnd - this.earliest()) / 48 : 0;
    return (Math.max(0, this.maxEnd - this.nextPts) + (this.stagedEnd - this.pos)) / 48;
  }

  earliest() {
    let m = Infinity;
    for (const k of this.frames.keys()) if (k < m) m = k;
    return m;
  }

  /**
   * One decoded packet: { seq, pts, captureMs, channels, frameSamples, planes: Float32Array[] }
   * (one plane per channel, `frameSamples` long). `arrivalMs`: when it came, in the playout's
   * clock. Returns 'ok', 'late', 'duplicate' or 'bad'.
   */
  push(f, arrivalMs) {
    if (!this.valid(f) || !Number.isFinite(arrivalMs)) {
      this.bad++;
      return 'bad';
    }
    const len = f.frameSamples;
    // Packets are placed by sequence number: consecutive packets are consecutive audio, even
    // where hark's sample clock jumped (its capture skipped ahead): no silence for that.
    let at = this.unwrap(f.seq) * len;
    if ((this.frameLen && len !== this.frameLen) || (this.started && Math.abs(at - this.nextPts) > JUMP_SAMPLES)) {
      this.restart();
      at = this.unwrap(f.seq) * len;
    }
    this.frameLen = len;
    this.packets++;
    if (this.started && at < this.nextPts) {
      if (this.concealedPts.includes(at)) {
        this.lateCount++;
        return 'late';
      }
      this.duplicates++;
      return 'duplicate';
    }
    if (this.frames.has(at)) {
      this.duplicates++;
      return 'duplicate';
    }
    if (at + len <= this.maxEnd) this.reordered++;
    this.frames.set(at, { pts: at, len, planes: f.planes, captureMs: f.captureMs });
    if (at + len > this.maxEnd) this.maxEnd = at + len;
    this.observe(at, arrivalMs);
    if (this.frames.size > MAX_FRAMES) this.restart();
    return 'ok';
  }

  /** A u32 sequence number, extended past its wrap (relative to the newest seen). */
  unwrap(seq) {
    if (this.seqLast === undefined) {
      this.seqLast = seq;
      this.seqExt = seq;
      return seq;
    }
    const ext = this.seqExt + ((seq - this.seqLast) | 0);
    if (ext > this.seqExt) {
      this.seqExt = ext;
      this.seqLast = seq;
    }
    return ext;
  }

  valid(f) {
    if (!f || typeof f !== 'object' || !Number.isSafeInteger(f.pts) || f.pts < 0 || !FRAME_SAMPLES.has(f.frameSamples)) return false;
    if (!Number.isInteger(f.seq) || f.seq < 0 || f.seq > 0xffffffff) return false;
    if (!Number.isFinite(f.captureMs) || !Array.isArray(f.planes) || (f.planes.length !== 1 && f.planes.length !== 2)) return false;
    return f.planes.every((p) => p instanceof Float32Array && p.length === f.frameSamples);
  }

  /**
   * Lateness of one arrival: how much later than the earliest-arrival line it came (0 when it
   * is on or before it: the line moves to it). Kept with its time for the window's p95.
   */
  observe(pts, a) {
    let late = 0;
    const pred = this.envA + ((pts - this.envPts) / 48) * (1 + LEAK);
    if (!(a > pred)) {
      this.envA = a;
      this.envPts = pts;
    } else late = a - pred;
    const n = this.late.length;
    const i = (this.lateHead + this.lateN) % n;
    this.late[i] = late;
    this.lateAt[i] = a;
    this.latePts[i] = pts;
    if (this.lateN < n) this.lateN++;
    else this.lateHead = (this.lateHead + 1) % n;
    while (this.lateN > 0 && this.lateAt[this.lateHead] < a - this.windowMs) {
      this.lateHead = (this.lateHead + 1) % n;
      this.lateN--;
    }
    // All of the last REBASE_MS late: the line was early, not the packets.
    if (late < this.blockMin) {
      this.blockMin = late;
      this.blockMinA = a;
      this.blockMinPts = pts;
    }
    if (!(a - this.blockAt < REBASE_MS)) {
      if (this.blockMin >= REBASE_MIN_MS && this.blockMin < Infinity) this.rebase(a, this.blockAt);
      this.blockAt = a;
      this.blockMin = Infinity;
    }
    // A target that grows does so at once; the p95 is sorted afresh at most ten times a second.
    if (late > this.p95Ms || a - this.p95At >= 100) this.updateTarget(a);
    this.clockMs = a;
  }

  /**
   * Move the earliest-arrival line to the least late arrival of the block that began at `since`
   * (every arrival of it late): the lateness since then is measured again against it; what came
   * before is forgotten (measured against a line that was early for longer than the block shows).
   */
  rebase(now, since) {
    this.envA = this.blockMinA;
    this.envPts = this.blockMinPts;
    const n = this.late.length;
    while (this.lateN > 0 && this.lateAt[this.lateHead] < since) {
      this.lateHead = (this.lateHead + 1) % n;
      this.lateN--;
    }
    for (let k = 0; k < this.lateN; k++) {
      const i = (this.lateHead + k) % n;
      const pred = this.envA + ((this.latePts[i] - this.envPts) / 48) * (1 + LEAK);
      this.late[i] = Math.max(0, this.lateAt[i] - pred);
    }
    this.rebases++;
    this.updateTarget(now);
  }

  updateTarget(now) {
    this.p95At = now;
    const n = this.lateN;
    const s = this.sorted.subarray(0, n);
    for (let k = 0; k < n; k++) s[k] = this.late[(this.lateHead + k) % this.late.length];
    s.sort();
    this.p95Ms = n ? s[Math.min(n - 1, Math.ceil(0.95 * n) - 1)] : 0;
    const frameMs = this.frameLen / 48;
    // The rule (p95 of the jitter plus one packet, never below one packet), plus the playout's own need.
    this.targetMs = Math.max(frameMs, this.p95Ms + frameMs) + ALLOWANCE_MS;
  }

  /** Fill `out` (one or two Float32Array channels) with `n` samples of playout. */
  pull(out, n) {
    const o0 = out[0];
    const o1 = out.length > 1 ? out[1] : null;
    if (!this.started && !this.tryStart()) {
      o0.fill(0, 0, n);
      o1?.fill(0, 0, n);
      return;
    }
    this.control(n);
    const step = this.baseStep * this.ratio;
    const k = this.kernel;
    const c = this.coef;
    const r0 = this.ring[0];
    const r1 = this.ring[1];
    const need = HALF + this.fade + 2;
    for (let i = 0; i < n; i++) {
      const ip = Math.floor(this.pos);
      for (let guard = 0; this.stagedEnd < ip + need && guard < 64; guard++) this.stage();
      // The kernel for this fraction: two neighbouring phases, interpolated.
      const fp = (this.pos - ip) * PHASES;
      const p = Math.floor(fp);
      const w = fp - p;
      const a = p * 2 * HALF;
      const b = a + 2 * HALF;
      for (let j = 0; j < 2 * HALF; j++) c[j] = k[a + j] + w * (k[b + j] - k[a + j]);
      let s0 = 0;
      let s1 = 0;
      const base = ip - HALF + 1;
      for (let j = 0; j < 2 * HALF; j++) {
        const at = (base + j) & MASK;
        s0 += c[j] * r0[at];
        s1 += c[j] * r1[at];
      }
      o0[i] = s0;
      if (o1) o1[i] = s1;
      const fl = this.flags[ip & MASK];
      if (fl) {
        if (++this.gapRun > this.longestGap) this.longestGap = this.gapRun;
        if (fl === F_DROPOUT) {
          if (++this.dropRun === 1) this.dropouts++;
          if (this.dropRun > this.longestDropout) this.longestDropout = this.dropRun;
        } else this.dropRun = 0;
      } else {
        this.gapRun = 0;
        this.dropRun = 0;
      }
      this.pos += step;
    }
    this.watch(o0, 0, n);
    if (o1) this.watch(o1, 1, n);
    const keepFrom = Math.floor(this.pos) - HALF;
    while (this.blocks.length > 1 && this.blocks[1].s <= keepFrom) this.blocks.shift();
    this.clockMs += (n / this.outRate) * 1000;
  }

  /** Steps between consecutive output samples (a click shows as one far above the signal's own). */
  watch(o, ch, n) {
    let prev = this.last[ch];
    let max = this.maxStep;
    for (let i = 0; i < n; i++) {
      const d = Math.abs(o[i] - prev);
      if (d > max) max = d;
      if (d > this.jumpThreshold) this.jumps++;
      prev = o[i];
    }
    this.maxStep = max;
    this.last[ch] = prev;
  }

  /** Drop the packet at `pts` (if there), giving its planes back. */
  forget(pts) {
    const f = this.frames.get(pts);
    if (!f) return;
    this.frames.delete(pts);
    this.release?.(f.planes);
  }

  /** Start once the target's worth is in (from the earliest packet, faded in from silence). */
  tryStart() {
    // Some arrivals first, so that the target knows the jitter (80 ms of 5 ms packets).
    if (!this.frames.size || !this.targetMs || this.lateN < 16) return false;
    let first = this.earliest();
    if ((this.maxEnd - first) / 48 < this.targetMs) return false;
    // Start a target's worth behind the newest (what came earlier is dropped, not played late).
    while (this.frames.size > 1 && (this.maxEnd - first - this.frameLen) / 48 >= this.targetMs) {
      this.forget(first);
      first = this.earliest();
    }
    this.started = true;
    this.nextPts = first;
    this.prevConcealed = true;
    this.blocks = [{ s: this.stagedEnd, len: 0, captureMs: this.frames.get(first).captureMs, advance: 1 }];
    return true;
  }

  /** The controller: the resampling ratio that brings the (smoothed) buffer to its target. */
  control(n) {
    const dt = n / this.outRate;
    const level = this.bufferedMs;
    if (!this.levelInit) {
      this.levelMs = level;
      this.levelInit = true;
    } else this.levelMs += (level - this.levelMs) * (1 - Math.exp(-dt / LEVEL_TAU_S));
    if (this.levelMs < this.minLevelMs) this.minLevelMs = this.levelMs;
    if (this.levelMs > this.maxLevelMs) this.maxLevelMs = this.levelMs;
    const err = this.levelMs - this.targetMs;
    this.integ = Math.max(-MAX_CORRECTION, Math.min(MAX_CORRECTION, this.integ + KI * err * dt));
    const want = Math.max(1 - MAX_CORRECTION, Math.min(1 + MAX_CORRECTION, 1 + KP * err + this.integ));
    const slew = SLEW_PER_S * dt;
    this.ratio += Math.max(-slew, Math.min(slew, want - this.ratio));
    if (this.ratio < this.minRatio) this.minRatio = this.ratio;
    if (this.ratio > this.maxRatio) this.maxRatio = this.ratio;
    // Far too much buffered (a long stall behind us): skip ahead now, not over many seconds.
    if (err > SKIP_OVER_MS) {
      if (this.overSince < 0) this.overSince = this.clockMs;
      else if (this.clockMs - this.overSince > 500) this.skipAhead();
    } else this.overSince = -1;
  }

  skipAhead() {
    this.overSince = -1;
    const keep = (this.targetMs * 48) | 0;
    let skipped = false;
    for (let guard = 0; guard < MAX_FRAMES && this.maxEnd - this.nextPts > keep; guard++) {
      // The last one skipped, if here and followed: the audio cross-fades into its end.
      const last = !(this.maxEnd - this.nextPts - this.frameLen > keep);
      const f = last && !this.prevConcealed ? this.frames.get(this.nextPts) : undefined;
      if (f && this.frames.has(this.nextPts + f.len)) {
        this.cutInto(f);
        this.skipped++;
        this.levelMs = this.bufferedMs;
        return;
      }
      this.forget(this.nextPts);
      this.nextPts += this.frameLen;
      this.skipped++;
      skipped = true;
    }
    if (skipped && !this.prevConcealed) {
      this.fadeTail();
      this.prevConcealed = true;
    }
    this.levelMs = this.bufferedMs;
  }

  /** Put the next block in the staging ring: the next packet, or a concealment. */
  stage() {
    const f = this.frames.get(this.nextPts);
    // The listener's audio clock far slower than the box's (an overloaded machine: its audio
    // device misses deadlines), beyond what ±0.5 % absorbs: drop single packets, cross-faded,
    // never two in a row, so the delay does not grow without end.
    if (f && this.ratio >= 1 + MAX_CORRECTION - 1e-9 && this.levelMs - this.targetMs > Math.max((2 * f.len) / 48, DROP_OVER_MS) && !this.prevConcealed && !this.prevDropped && this.frames.has(this.nextPts + f.len)) {
      this.cutInto(f);
      this.dropped++;
      this.levelMs -= f.len / 48;
      this.prevDropped = true;
      return;
    }
    this.prevDropped = false;
    if (f) {
      this.frames.delete(f.pts);
      const s = this.stagedEnd;
      const p0 = f.planes[0];
      const p1 = f.planes.length > 1 ? f.planes[1] : p0;
      const r0 = this.ring[0];
      const r1 = this.ring[1];
      for (let i = 0; i < f.len; i++) {
        const at = (s + i) & MASK;
        r0[at] = p0[i];
        r1[at] = p1[i];
        this.flags[at] = 0;
      }
      if (this.prevConcealed) {
        // Fade in (raised cosine) after silence or a concealment; after an expansion, cross-fade
        // from it (its period goes on under the fade).
        const nf = Math.min(this.fade, f.len);
        const P = this.expP;
        for (let i = 0; i < nf; i++) {
          const g = rise(i, nf);
          const at = (s + i) & MASK;
          if (P) {
            const k = this.expK + i;
            const e = (1 - g) * expGain(k);
            r0[at] = r0[at] * g + e * this.expSrc[0][k % P];
            r1[at] = r1[at] * g + e * this.expSrc[1][k % P];
          } else {
            r0[at] *= g;
            r1[at] *= g;
          }
        }
        this.expP = 0;
      }
      this.release?.(f.planes);
      this.blocks.push({ s, len: f.len, captureMs: f.captureMs, advance: 1 });
      this.stagedEnd += f.len;
      this.nextPts += f.len;
      this.prevConcealed = false;
      this.stalled = false;
      this.stallSamples = 0;
      return;
    }
    const len = this.frameLen;
    const prev = this.blocks[this.blocks.length - 1];
    const prevCapture = prev ? prev.captureMs + (prev.advance * prev.len) / 48 : NaN;
    if (this.maxEnd > this.nextPts) {
      // Later packets are here: this one is lost (or so late it is as good as lost). A wait in
      // silence just before (the packet after it was not here yet either) was the start of
      // this concealment: it is counted as this loss, and only the rest of the packet's length
      // is concealed now (the gap stays one packet long, the latency does not grow).
      this.lost++;
      this.concealedPts.push(this.nextPts);
      if (this.concealedPts.length > 64) this.concealedPts.shift();
      if (this.stalled) this.underruns--;
      else this.concealed++;
      const rest = len - Math.min(len, this.stallSamples);
      if (rest > 0) this.conceal(rest, prevCapture, 1);
      this.nextPts += len;
      this.stalled = false;
      this.stallSamples = 0;
    } else {
      // Nothing newer yet: wait in silence, a short block at a time (the latency grows by it).
      if (!this.stalled) {
        this.underruns++;
        this.concealed++;
        this.stalled = true;
        this.stallSamples = 0;
      }
      const n = Math.min(len, 120);
      this.stallSamples += n;
      this.conceal(n, prevCapture, 0);
    }
  }

  /**
   * `len` samples of concealment: the expansion of the audio before (its last period again and
   * again, fading after EXP_HOLD), or where there is none to repeat, a fade out and silence.
   */
  conceal(len, captureMs, advance) {
    if (!this.prevConcealed && !this.startExpansion()) this.fadeTail();
    const s = this.stagedEnd;
    const r0 = this.ring[0];
    const r1 = this.ring[1];
    const P = this.expP;
    for (let i = 0; i < len; i++) {
      const at = (s + i) & MASK;
      if (P) {
        const k = this.expK++;
        const g = expGain(k);
        r0[at] = g * this.expSrc[0][k % P];
        r1[at] = g * this.expSrc[1][k % P];
        this.flags[at] = g >= 0.5 ? F_CONCEALED : F_DROPOUT;
      } else {
        r0[at] = 0;
        r1[at] = 0;
        this.flags[at] = F_DROPOUT;
      }
    }
    this.blocks.push({ s, len, captureMs, advance });
    this.stagedEnd += len;
    this.prevConcealed = true;
  }

  /**
   * Begin an expansion at the end of what is staged (real audio): find the pitch period P that
   * best predicts the last EXP_WIN samples from those P before (normalised cross-correlation,
   * both channels), cross-fade the unread tail towards the audio one period earlier so that
   * repeating the last period joins on smoothly, and keep that period. False (nothing begun)
   * when the audio before is silence.
   */
  startExpansion() {
    const r0 = this.ring[0];
    const r1 = this.ring[1];
    const end = this.stagedEnd;
    const w0 = end - EXP_WIN;
    if (this.energy(w0, 1) < EXP_QUIET * 2 * EXP_WIN) return false;
    // Coarse (every other lag, every other sample of the window), then the best's neighbours in full.
    let bestP = this.bestPeriod(w0, EXP_MIN_P, EXP_MAX_P, 2, 2);
    if (bestP) bestP = this.bestPeriod(w0, Math.max(EXP_MIN_P, bestP - 2), Math.min(EXP_MAX_P, bestP + 2), 1, 1);
    if (!bestP) return false;
    const P = bestP;
    // The period to repeat: the last P samples. The tail (and with it the period's last `fade`
    // samples) then moves over to the audio one period earlier, which the period's first
    // sample follows on from: the join into the repeat and every turn of it are smooth, even
    // where the audio does not repeat exactly every P samples.
    for (let j = 0; j < P; j++) {
      const at = (end - P + j) & MASK;
      this.expSrc[0][j] = r0[at];
      this.expSrc[1][j] = r1[at];
    }
    // The unread tail (the staging runs `fade` samples and more ahead of the read position),
    // and the end of the kept period likewise: music is never exactly periodic, and the period
    // played again and again would otherwise step at every turn from its last sample back to its first.
    const nf = Math.min(this.fade, P);
    for (let i = 0; i < nf; i++) {
      const g = rise(i, nf);
      const at = (end - nf + i) & MASK;
      const bt = (end - nf + i - P) & MASK;
      r0[at] = r0[at] * (1 - g) + r0[bt] * g;
      r1[at] = r1[at] * (1 - g) + r1[bt] * g;
      this.expSrc[0][P - nf + i] = r0[at];
      this.expSrc[1][P - nf + i] = r1[at];
    }
    this.expP = P;
    this.expK = 0;
    return true;
  }

  /** Of the lags `lo`…`hi` (by `step`), the one whose audio best predicts the window from `w0` on (every `stride`-th sample); 0 for none. */
  bestPeriod(w0, lo, hi, step, stride) {
    const r0 = this.ring[0];
    const r1 = this.ring[1];
    const xx = this.energy(w0, stride);
    let best = -Infinity;
    let bestP = 0;
    for (let P = lo; P <= hi; P += step) {
      let xy = 0;
      let yy = 0;
      for (let i = 0; i < EXP_WIN; i += stride) {
        const a = (w0 + i) & MASK;
        const b = (w0 + i - P) & MASK;
        xy += r0[a] * r0[b] + r1[a] * r1[b];
        yy += r0[b] * r0[b] + r1[b] * r1[b];
      }
      if (yy <= 0 || xx <= 0) continue;
      const c = xy / Math.sqrt(xx * yy);
      if (c > best + 1e-6) {
        best = c;
        bestP = P;
      }
    }
    return bestP;
  }

  /** The window's energy from `w0` on (every `stride`-th sample, both channels). */
  energy(w0, stride) {
    const r0 = this.ring[0];
    const r1 = this.ring[1];
    let e = 0;
    for (let i = 0; i < EXP_WIN; i += stride) {
      const a = (w0 + i) & MASK;
      e += r0[a] * r0[a] + r1[a] * r1[a];
    }
    return e;
  }

  /**
   * Leave out packet `f` (the next to play; the one after it is here): the unread tail of what
   * is staged cross-fades into the end of `f`, which the next packet continues, so the cut is a
   * short overlap rather than a dip to silence.
   */
  cutInto(f) {
    const nf = Math.min(this.fade, f.len);
    const end = this.stagedEnd;
    const p0 = f.planes[0];
    const p1 = f.planes.length > 1 ? f.planes[1] : p0;
    const r0 = this.ring[0];
    const r1 = this.ring[1];
    for (let i = 0; i < nf; i++) {
      const g = rise(i, nf);
      const at = (end - nf + i) & MASK;
      r0[at] = r0[at] * (1 - g) + p0[f.len - nf + i] * g;
      r1[at] = r1[at] * (1 - g) + p1[f.len - nf + i] * g;
    }
    this.forget(f.pts);
    this.nextPts += f.len;
  }

  /** Fade out the last `fade` staged samples (not yet read: the staging runs that far ahead). */
  fadeTail() {
    const nf = this.fade;
    const end = this.stagedEnd;
    for (let i = 0; i < nf; i++) {
      const g = 1 - rise(i, nf);
      const at = (end - nf + i) & MASK;
      this.ring[0][at] *= g;
      this.ring[1][at] *= g;
    }
  }

  /** hark's capture time (its clock, ms) of the sample playing now; NaN before the start. */
  get playingCaptureMs() {
    if (!this.started) return NaN;
    const ip = Math.floor(this.pos);
    let b = this.blocks[0];
    for (const x of this.blocks) if (x.s <= ip) b = x;
    return b ? b.captureMs + (b.advance * (this.pos - b.s)) / 48 : NaN;
  }

  /** What the page shows and the tests read. */
  stats() {
    return {
      started: this.started,
      targetMs: this.targetMs,
      bufferedMs: this.levelMs,
      instantMs: this.bufferedMs,
      p95Ms: this.p95Ms,
      frameMs: this.frameLen / 48,
      ratio: this.ratio,
      packets: this.packets,
      bad: this.bad,
      duplicates: this.duplicates,
      reordered: this.reordered,
      lost: this.lost,
      late: this.lateCount,
      underruns: this.underruns,
      concealed: this.concealed,
      dropouts: this.dropouts,
      skipped: this.skipped,
      dropped: this.dropped,
      restarts: this.restarts,
      rebases: this.rebases,
      captureMs: this.playingCaptureMs,
      maxStep: this.maxStep,
      jumps: this.jumps,
      longestGap: this.longestGap,
      longestDropout: this.longestDropout,
      minRatio: this.minRatio,
      maxRatio: this.maxRatio,
      minLevelMs: this.minLevelMs,
      maxLevelMs: this.maxLevelMs,
    };
  }
}
