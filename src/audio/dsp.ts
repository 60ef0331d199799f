/**
 * Per-program processing in the audio worker: input gain → high-pass → parametric EQ →
 * look-ahead limiter → delay, on interleaved 48 kHz frames of 1 or 2 channels, each stage off
 * by default. Every buffer is allocated in the constructor; process() and what it calls
 * allocate nothing (no `new`, no literals, no views, no closures).
 *
 * Settings change while audio runs without a click: a gain change ramps; a change of the
 * filters or the limiter primes a second chain with the last PRIME_FRAMES of input, runs it
 * beside the old one and cross-fades; a delay change cross-fades from the old tap to the new.
 * A change that arrives during a fade waits for it to finish, then fades from there.
 */
import { SAMPLE_RATE } from './format.ts';

export type EqType = 'peak' | 'lowshelf' | 'highshelf' | 'highpass' | 'lowpass';

/** One EQ band. `gainDb` is unused by highpass and lowpass; `q` of a shelf sets its slope. */
export interface EqBand {
  type: EqType;
  hz: number;
  gainDb: number;
  q: number;
}

/**
 * A program's processing. Numbers out of range are clamped (0 means off for `highpassHz`,
 * `limiterDbfs` and `delayMs`); an unknown band type or more than MAX_EQ_BANDS bands throw.
 */
export interface DspSettings {
  /** Input gain, GAIN_DB_MIN..GAIN_DB_MAX. */
  gainDb: number;
  /** 0 = off, else HIGHPASS_MIN_HZ..HIGHPASS_MAX_HZ (12 dB/octave Butterworth). */
  highpassHz: number;
  eq: EqBand[];
  /** 0 = off, else the ceiling in dBFS, LIMITER_MIN_DBFS..LIMITER_MAX_DBFS (sample peak). */
  limiterDbfs: number;
  /** 0..DELAY_MAX_MS, rounded to whole frames. */
  delayMs: number;
}

/** The input gain's range, as the engine's input.gain_db. */
export const GAIN_DB_MIN = -24;
export const GAIN_DB_MAX = 24;
export const HIGHPASS_MIN_HZ = 20;
export const HIGHPASS_MAX_HZ = 300;
export const MAX_EQ_BANDS = 6;
export const EQ_MIN_HZ = 20;
export const EQ_MAX_HZ = 20_000;
/** A band's gain is clamped to ±EQ_GAIN_DB_MAX. */
export const EQ_GAIN_DB_MAX = 24;
export const EQ_MIN_Q = 0.1;
export const EQ_MAX_Q = 10;
export const LIMITER_MIN_DBFS = -24;
export const LIMITER_MAX_DBFS = -0.1;
export const DELAY_MAX_MS = 500;
/** Old and new chain (or delay tap) play together this long (20 ms), linearly cross-faded. */
export const CROSSFADE_FRAMES = 960;

/** Every stage off. */
export const DSP_OFF: DspSettings = { gainDb: 0, highpassHz: 0, eq: [], limiterDbfs: 0, delayMs: 0 };

/** True when the settings leave the audio untouched (process() is then a bit-exact copy). */
export function dspIsOff(s: DspSettings): boolean {
  const n = normalize(s);
  return n.gainDb === 0 && n.highpassHz === 0 && n.eq.length === 0 && n.limiterDbfs === 0 && delayFrames(n) === 0;
}

/** Largest block the stages work on at once; process() splits longer calls. */
const BLOCK = 1024;
/** A gain change glides over 15 ms, as the engine's input gain does. */
const GAIN_RAMP_FRAMES = 720;
/**
 * A new chain runs over the last 170 ms of input before it is heard, so its filters and
 * limiter start from the state they would have had: a 20 Hz high-pass's time constant is
 * ~11 ms, the limiter needs its look-ahead and two release time constants. Only very narrow
 * bands near 20 Hz ring longer, at frequencies too low to click.
 */
const PRIME_FRAMES = 8192;
/** 500 ms and headroom, a power of two so positions wrap with a mask. */
const DELAY_RING_FRAMES = 32_768;
/**
 * Look-ahead window L (1 ms): the limiter delays the signal by L − 1 frames. Every chain delays
 * by that much, limiter on or off, so turning the limiter on or off while a program plays
 * cross-fades two signals in step: with a jump in latency, a steady tone faded against itself
 * 71 frames later dipped towards silence (heard by test/programs-processing.test.ts). It also
 * keeps a program's latency one figure whatever its settings.
 */
const LOOKAHEAD = 48;
/** Release time constant: ~2.6 of them (210 ms) bring 12 dB of reduction back within 0.5 dB. */
const RELEASE_S = 0.08;
/** One high-pass and the EQ bands. */
const MAX_BIQUADS = 1 + MAX_EQ_BANDS;
const EQ_TYPES: readonly EqType[] = ['peak', 'lowshelf', 'highshelf', 'highpass', 'lowpass'];

function clamp(v: number, lo: number, hi: number, fallback: number): number {
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : fallback;
}

/** Peak and shelf bands at 0 dB are no-ops and are dropped, so they cost nothing. */
function normalize(s: DspSettings): DspSettings {
  if (s.eq.length > MAX_EQ_BANDS) throw new RangeError(`at most ${MAX_EQ_BANDS} EQ bands (got ${s.eq.length})`);
  const eq: EqBand[] = [];
  for (const b of s.eq) {
    if (!EQ_TYPES.includes(b.type)) throw new RangeError(`unknown EQ band type '${String(b.type)}'`);
    const band: EqBand = {
      type: b.type,
      hz: clamp(b.hz, EQ_MIN_HZ, EQ_MAX_HZ, 1000),
      gainDb: clamp(b.gainDb, -EQ_GAIN_DB_MAX, EQ_GAIN_DB_MAX, 0),
      q: clamp(b.q, EQ_MIN_Q, EQ_MAX_Q, Math.SQRT1_2),
    };
    if (band.gainDb !== 0 || band.type === 'highpass' || band.type === 'lowpass') eq.push(band);
  }
  return {
    gainDb: clamp(s.gainDb, GAIN_DB_MIN, GAIN_DB_MAX, 0),
    highpassHz: s.highpassHz > 0 ? clamp(s.highpassHz, HIGHPASS_MIN_HZ, HIGHPASS_MAX_HZ, 0) : 0,
    eq,
    limiterDbfs: s.limiterDbfs < 0 ? clamp(s.limiterDbfs, LIMITER_MIN_DBFS, LIMITER_MAX_DBFS, 0) : 0,
    delayMs: s.delayMs > 0 ? Math.min(DELAY_MAX_MS, s.delayMs) : 0,
  };
}

function delayFrames(s: DspSettings): number {
  return Math.round((s.delayMs * SAMPLE_RATE) / 1000);
}

/** Same filters and limiter (the parts a chain fade is for). */
function sameChain(a: DspSettings, b: DspSettings): boolean {
  if (a.highpassHz !== b.highpassHz || a.limiterDbfs !== b.limiterDbfs || a.eq.length !== b.eq.length) return false;
  return a.eq.every((x, i) => {
    const y = b.eq[i]!;
    return x.type === y.type && x.hz === y.hz && x.gainDb === y.gainDb && x.q === y.q;
  });
}

/**
 * Write b0 b1 b2 a1 a2 (divided by a0) at `at`. The formulas are Robert Bristow-Johnson's
 * "Cookbook formulae for audio EQ biquad filter coefficients" (W3C Note, Audio EQ Cookbook,
 * https://www.w3.org/TR/audio-eq-cookbook/), with Q given directly for the shelves too.
 */
function designBiquad(type: EqType, hz: number, gainDb: number, q: number, out: Float64Array, at: number): void {
  const w0 = (2 * Math.PI * hz) / SAMPLE_RATE;
  const cos = Math.cos(w0);
  const alpha = Math.sin(w0) / (2 * q);
  const A = Math.pow(10, gainDb / 40);
  const sq = 2 * Math.sqrt(A) * alpha;
  let b0: number, b1: number, b2: number, a0: number, a1: number, a2: number;
  switch (type) {
    case 'peak':
      b0 = 1 + alpha * A;
      b1 = -2 * cos;
      b2 = 1 - alpha * A;
      a0 = 1 + alpha / A;
      a1 = -2 * cos;
      a2 = 1 - alpha / A;
      break;
    case 'lowshelf':
      b0 = A * (A + 1 - (A - 1) * cos + sq);
      b1 = 2 * A * (A - 1 - (A + 1) * cos);
      b2 = A * (A + 1 - (A - 1) * cos - sq);
      a0 = A + 1 + (A - 1) * cos + sq;
      a1 = -2 * (A - 1 + (A + 1) * cos);
      a2 = A + 1 + (A - 1) * cos - sq;
      break;
    case 'highshelf':
      b0 = A * (A + 1 + (A - 1) * cos + sq);
      b1 = -2 * A * (A - 1 + (A + 1) * cos);
      b2 = A * (A + 1 + (A - 1) * cos - sq);
      a0 = A + 1 - (A - 1) * cos + sq;
      a1 = 2 * (A - 1 - (A + 1) * cos);
      a2 = A + 1 - (A - 1) * cos - sq;
      break;
    case 'highpass':
      b0 = (1 + cos) / 2;
      b1 = -(1 + cos);
      b2 = (1 + cos) / 2;
      a0 = 1 + alpha;
      a1 = -2 * cos;
      a2 = 1 - alpha;
      break;
    case 'lowpass':
      b0 = (1 - cos) / 2;
      b1 = 1 - cos;
      b2 = (1 - cos) / 2;
      a0 = 1 + alpha;
      a1 = -2 * cos;
      a2 = 1 - alpha;
      break;
  }
  out[at] = b0 / a0;
  out[at + 1] = b1 / a0;
  out[at + 2] = b2 / a0;
  out[at + 3] = a1 / a0;
  out[at + 4] = a2 / a0;
}

/** Filter state that has decayed below -600 dB (denormals are slow on x86) or gone non-finite restarts at 0. */
function flush(v: number): number {
  const a = v < 0 ? -v : v;
  return a > 1e-30 && a < 1e30 ? v : 0;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The largest float32 not above `v` (> 0): what a Float32Array may hold under the ceiling. */
function float32AtMost(v: number): number {
  f32[0] = v;
  if (f32[0]! > v) u32[0]!--;
  return f32[0]!;
}

/** High-pass, EQ and limiter with their state; a ProgramDsp owns two to cross-fade between. */
class Chain {
  settings: DspSettings = DSP_OFF;
  /** Times the limiter's final clamp acted. */
  clamps = 0;
  private biquads = 0;
  /** b0 b1 b2 a1 a2 per biquad. */
  private readonly coef = new Float64Array(MAX_BIQUADS * 5);
  /** Transposed direct form II state, two per biquad and channel. */
  private readonly z: Float64Array;
  private readonly work: Float64Array;
  private limiting = false;
  /** The clamp: the largest float32 at or under the ceiling. */
  private ceil = 1;
  /** What gains are computed for: a hair (2^-20) under `ceil`, so rounding never reaches it. */
  private aim = 1;
  private release = 0;
  /** The last L input frames and the gain each one needs: the look-ahead delay line. */
  private readonly xRing: Float64Array;
  private readonly needRing = new Float64Array(LOOKAHEAD);
  /** The last L released gains, and their sum (the box average's numerator). */
  private readonly rRing = new Float64Array(LOOKAHEAD);
  private rSum = LOOKAHEAD;
  private r = 1;
  private pos = 0;
  /** Monotonic deque of (frame, needed gain): its head is the minimum over the window. */
  private readonly dqGain = new Float64Array(LOOKAHEAD);
  private readonly dqFrame = new Float64Array(LOOKAHEAD);
  private dqHead = 0;
  private dqLen = 0;
  private frame = 0;

  constructor(private readonly ch: number) {
    this.z = new Float64Array(MAX_BIQUADS * ch * 2);
    this.work = new Float64Array(BLOCK * ch);
    this.xRing = new Float64Array(LOOKAHEAD * ch);
  }

  /** Frames every chain delays by (the look-ahead, also with the limiter off). */
  get latency(): number {
    return LOOKAHEAD - 1;
  }

  /** New settings (normalized) and a cleared state. Allocates nothing. */
  set(s: DspSettings): void {
    this.settings = s;
    let k = 0;
    if (s.highpassHz > 0) designBiquad('highpass', s.highpassHz, 0, Math.SQRT1_2, this.coef, 5 * k++);
    for (let i = 0; i < s.eq.length; i++) {
      const b = s.eq[i]!;
      designBiquad(b.type, b.hz, b.gainDb, b.q, this.coef, 5 * k++);
    }
    this.biquads = k;
    this.z.fill(0);
    this.limiting = s.limiterDbfs < 0;
    this.ceil = this.limiting ? float32AtMost(Math.pow(10, s.limiterDbfs / 20)) : 1;
    this.aim = this.ceil * (1 - 2 ** -20);
    this.release = 1 - Math.exp(-1 / (RELEASE_S * SAMPLE_RATE));
    this.xRing.fill(0);
    this.needRing.fill(1);
    this.rRing.fill(1);
    this.rSum = LOOKAHEAD;
    this.r = 1;
    this.pos = 0;
    this.dqHead = 0;
    this.dqLen = 0;
    this.frame = 0;
  }

  /** `frames` (≤ BLOCK) interleaved frames from src at `so` to dst at `dOff`; src may be dst. */
  process(src: Float32Array, so: number, dst: Float32Array, dOff: number, frames: number): void {
    const ch = this.ch;
    const n = frames * ch;
    const w = this.work;
    for (let i = 0; i < n; i++) w[i] = src[so + i]!;
    const coef = this.coef;
    const z = this.z;
    for (let k = 0; k < this.biquads; k++) {
      const b0 = coef[5 * k]!, b1 = coef[5 * k + 1]!, b2 = coef[5 * k + 2]!, a1 = coef[5 * k + 3]!, a2 = coef[5 * k + 4]!;
      for (let c = 0; c < ch; c++) {
        const zi = (k * ch + c) * 2;
        let z1 = z[zi]!;
        let z2 = z[zi + 1]!;
        for (let i = c; i < n; i += ch) {
          const x = w[i]!;
          const y = b0 * x + z1;
          z1 = b1 * x - a1 * y + z2;
          z2 = b2 * x - a2 * y;
          w[i] = y;
        }
        z[zi] = flush(z1);
        z[zi + 1] = flush(z2);
      }
    }
    if (this.limiting) this.limit(dst, dOff, frames);
    else this.lookaheadDelay(dst, dOff, frames);
  }

  /** Without the limiter: the same L − 1 frames of delay through the same ring. */
  private lookaheadDelay(dst: Float32Array, dOff: number, frames: number): void {
    const ch = this.ch;
    const w = this.work;
    const xRing = this.xRing;
    let pos = this.pos;
    for (let f = 0, i = 0; f < frames; f++, i += ch) {
      for (let c = 0; c < ch; c++) xRing[pos * ch + c] = w[i + c]!;
      if (++pos === LOOKAHEAD) pos = 0;
      // pos now holds the oldest frame, n-L+1, as in limit().
      for (let c = 0; c < ch; c++) dst[dOff + i + c] = xRing[pos * ch + c]!;
    }
    this.pos = pos;
  }

  /**
   * Stereo-linked look-ahead limiter. need[n] = min(1, aim / max_c |x_c[n]|); m[n] = the
   * minimum of need over the window n-L+1..n; r[n] = min(m[n], r[n-1] + (1 - r[n-1])·release)
   * (instant attack, exponential release); the output is x[n-L+1] times the mean of
   * r[n-L+1..n]. Every r in that mean is at most m of a window that holds n-L+1, so at most
   * need[n-L+1]: the output's peak cannot pass `aim`. The mean is also capped at that need
   * so the running sum's rounding cannot break this; the clamp after it should never act.
   */
  private limit(dst: Float32Array, dOff: number, frames: number): void {
    const ch = this.ch;
    const w = this.work;
    const xRing = this.xRing, needRing = this.needRing, rRing = this.rRing;
    const dqGain = this.dqGain, dqFrame = this.dqFrame;
    const aim = this.aim, ceil = this.ceil, release = this.release;
    let rSum = this.rSum, r = this.r, pos = this.pos, head = this.dqHead, len = this.dqLen, frame = this.frame;
    for (let f = 0, i = 0; f < frames; f++, i += ch, frame++) {
      let peak = 0;
      for (let c = 0; c < ch; c++) {
        const v = w[i + c]!;
        const a = v < 0 ? -v : v;
        if (a > peak) peak = a;
      }
      const need = peak > aim ? aim / peak : 1;
      if (len > 0 && dqFrame[head]! <= frame - LOOKAHEAD) {
        if (++head === LOOKAHEAD) head = 0;
        len--;
      }
      while (len > 0) {
        let back = head + len - 1;
        if (back >= LOOKAHEAD) back -= LOOKAHEAD;
        if (dqGain[back]! < need) break;
        len--;
      }
      let tail = head + len;
      if (tail >= LOOKAHEAD) tail -= LOOKAHEAD;
      dqGain[tail] = need;
      dqFrame[tail] = frame;
      len++;
      const windowMin = dqGain[head]!;
      r += (1 - r) * release;
      // The last 1e-6 of a release would take seconds to round its way to 1 (and might never).
      if (r > 0.999999) r = 1;
      if (r > windowMin) r = windowMin;
      rSum += r - rRing[pos]!;
      rRing[pos] = r;
      needRing[pos] = need;
      for (let c = 0; c < ch; c++) xRing[pos * ch + c] = w[i + c]!;
      if (++pos === LOOKAHEAD) {
        pos = 0;
        rSum = 0;
        for (let k = 0; k < LOOKAHEAD; k++) rSum += rRing[k]!;
      }
      // pos now holds the oldest frame, n-L+1.
      let gain = rSum / LOOKAHEAD;
      const cap = needRing[pos]!;
      if (gain > cap) gain = cap;
      for (let c = 0; c < ch; c++) {
        let v = xRing[pos * ch + c]! * gain;
        if (v > ceil) {
          v = ceil;
          this.clamps++;
        } else if (v < -ceil) {
          v = -ceil;
          this.clamps++;
        }
        dst[dOff + i + c] = v;
      }
    }
    this.rSum = rSum;
    this.r = r;
    this.pos = pos;
    this.dqHead = head;
    this.dqLen = len;
    this.frame = frame;
  }
}

/** One program's processing; owns every buffer it uses (allocated in the constructor, never in process). */
export class ProgramDsp {
  readonly channels: 1 | 2;
  /** Input gain (linear): the current value, the target, and the ramp between them. */
  private gain: number;
  private gainTarget: number;
  private gainStep = 0;
  private gainLeft = 0;
  /** The last PRIME_FRAMES frames after the gain, to prime a new chain with. */
  private readonly history: Float32Array;
  private historyPos = 0;
  private readonly chains: [Chain, Chain];
  /** The chain heard once a fade is done; the other one is fading out (or idle). */
  private cur = 0;
  /** Frames into the chain fade; CROSSFADE_FRAMES when none runs. */
  private fadeAt = CROSSFADE_FRAMES;
  private pendingChain: DspSettings | null = null;
  private readonly outOld: Float32Array;
  private readonly outNew: Float32Array;
  private readonly ring: Float32Array;
  private ringPos = 0;
  /** The delay in frames, the tap it fades from, frames into that fade, and one waiting. */
  private tap: number;
  private tapFrom = 0;
  private tapAt = CROSSFADE_FRAMES;
  private pendingTap = -1;

  constructor(channels: 1 | 2, settings: DspSettings) {
    if (channels !== 1 && channels !== 2) throw new RangeError(`ProgramDsp takes 1 or 2 channels (got ${channels})`);
    this.channels = channels;
    const s = normalize(settings);
    this.gain = this.gainTarget = linear(s.gainDb);
    this.history = new Float32Array(PRIME_FRAMES * channels);
    this.chains = [new Chain(channels), new Chain(channels)];
    this.chains[0].set(s);
    this.outOld = new Float32Array(BLOCK * channels);
    this.outNew = new Float32Array(BLOCK * channels);
    this.ring = new Float32Array(DELAY_RING_FRAMES * channels);
    this.tap = delayFrames(s);
  }

  /** Times the limiter's final safety clamp acted (should stay 0). */
  get clampCount(): number {
    return this.chains[0].clamps + this.chains[1].clamps;
  }

  /** Frames of latency the chain adds besides delayMs: the look-ahead, with the limiter on or off. */
  get lookaheadFrames(): number {
    return this.chains[this.cur].latency;
  }

  /** Change settings while audio runs: no click. May allocate (the normalized copy), never in process(). */
  configure(settings: DspSettings): void {
    const s = normalize(settings);
    const target = linear(s.gainDb);
    if (target !== this.gainTarget) {
      this.gainTarget = target;
      this.gainLeft = GAIN_RAMP_FRAMES;
      this.gainStep = (target - this.gain) / GAIN_RAMP_FRAMES;
    }
    const heard = this.chains[this.cur].settings;
    if (this.fadeAt < CROSSFADE_FRAMES) this.pendingChain = sameChain(s, heard) ? null : s;
    else if (!sameChain(s, heard)) this.startFade(s);
    const d = delayFrames(s);
    if (this.tapAt < CROSSFADE_FRAMES) this.pendingTap = d === this.tap ? -1 : d;
    else if (d !== this.tap) this.startTapFade(d);
  }

  /** In place, interleaved, any `frames` count. Allocates nothing. */
  process(buf: Float32Array, frames: number): void {
    const ch = this.channels;
    if (frames * ch > buf.length) throw new RangeError(`${frames} frames do not fit a buffer of ${buf.length} samples`);
    for (let f = 0; f < frames; f += BLOCK) this.block(buf, f * ch, Math.min(BLOCK, frames - f));
  }

  private block(buf: Float32Array, o: number, frames: number): void {
    const ch = this.channels;
    const n = frames * ch;
    if (this.gainLeft > 0 || this.gain !== 1) this.applyGain(buf, o, frames);
    const h = this.history;
    let hp = this.historyPos;
    for (let i = 0; i < n; i++) {
      h[hp] = buf[o + i]!;
      if (++hp === h.length) hp = 0;
    }
    this.historyPos = hp;
    if (this.fadeAt >= CROSSFADE_FRAMES && this.pendingChain) this.startFade(this.pendingChain);
    const next = this.chains[this.cur];
    if (this.fadeAt < CROSSFADE_FRAMES) {
      this.chains[1 - this.cur]!.process(buf, o, this.outOld, 0, frames);
      next.process(buf, o, this.outNew, 0, frames);
      const a = this.outOld, b = this.outNew;
      let at = this.fadeAt;
      for (let f = 0, i = 0; f < frames; f++) {
        const t = at < CROSSFADE_FRAMES ? ++at / CROSSFADE_FRAMES : 1;
        for (let c = 0; c < ch; c++, i++) buf[o + i] = a[i]! + (b[i]! - a[i]!) * t;
      }
      this.fadeAt = at;
    } else next.process(buf, o, buf, o, frames);
    this.delay(buf, o, frames);
  }

  private applyGain(buf: Float32Array, o: number, frames: number): void {
    const ch = this.channels;
    let i = o;
    for (let f = 0; f < frames; f++) {
      if (this.gainLeft > 0) {
        this.gain += this.gainStep;
        if (--this.gainLeft === 0) this.gain = this.gainTarget;
      }
      const g = this.gain;
      for (let c = 0; c < ch; c++, i++) buf[i] = buf[i]! * g;
    }
  }

  /** Prime a chain with the history (oldest first), then fade to it from the one now heard. */
  private startFade(s: DspSettings): void {
    const chain = this.chains[1 - this.cur]!;
    chain.set(s);
    {
      const ch = this.channels;
      let f = this.historyPos / ch;
      for (let left = PRIME_FRAMES; left > 0; ) {
        const k = Math.min(left, BLOCK, PRIME_FRAMES - f);
        chain.process(this.history, f * ch, this.outNew, 0, k);
        left -= k;
        f += k;
        if (f === PRIME_FRAMES) f = 0;
      }
    }
    this.cur = 1 - this.cur;
    this.fadeAt = 0;
    this.pendingChain = null;
  }

  private startTapFade(d: number): void {
    this.tapFrom = this.tap;
    this.tap = d;
    this.tapAt = 0;
    this.pendingTap = -1;
  }

  /** Write the block into the delay line, read it back at the tap (or between two taps). */
  private delay(buf: Float32Array, o: number, frames: number): void {
    if (this.tapAt >= CROSSFADE_FRAMES && this.pendingTap >= 0) this.startTapFade(this.pendingTap);
    const ch = this.channels;
    const ring = this.ring;
    const mask = DELAY_RING_FRAMES - 1;
    let w = this.ringPos;
    const tap = this.tap;
    if (this.tapAt >= CROSSFADE_FRAMES) {
      for (let f = 0, i = o; f < frames; f++, i += ch) {
        const wi = w * ch;
        const ri = ((w - tap) & mask) * ch;
        for (let c = 0; c < ch; c++) {
          ring[wi + c] = buf[i + c]!;
          buf[i + c] = ring[ri + c]!;
        }
        w = (w + 1) & mask;
      }
    } else {
      const from = this.tapFrom;
      let at = this.tapAt;
      for (let f = 0, i = o; f < frames; f++, i += ch) {
        const t = at < CROSSFADE_FRAMES ? ++at / CROSSFADE_FRAMES : 1;
        const wi = w * ch;
        const ai = ((w - from) & mask) * ch;
        const bi = ((w - tap) & mask) * ch;
        for (let c = 0; c < ch; c++) {
          ring[wi + c] = buf[i + c]!;
          const a = ring[ai + c]!;
          buf[i + c] = a + (ring[bi + c]! - a) * t;
        }
        w = (w + 1) & mask;
      }
      this.tapAt = at;
    }
    this.ringPos = w;
  }
}

function linear(db: number): number {
  return db === 0 ? 1 : Math.pow(10, db / 20);
}
