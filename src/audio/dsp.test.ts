import { expect, test } from 'bun:test';
import { heapStats } from 'bun:jsc';
import { DSP_OFF, dspIsOff, ProgramDsp, type DspSettings, type EqBand } from './dsp.ts';

/** Every chain's look-ahead (1 ms − 1 frame), with the limiter on or off. */
const LA = 47;

const FS = 48_000;
const dbOf = (v: number) => 20 * Math.log10(v);
const off = (s: Partial<DspSettings>): DspSettings => ({ ...DSP_OFF, ...s });

/** A deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Interleaved sines, one frequency per channel, `amp` linear. */
function sines(hz: number[], amp: number, frames: number): Float32Array {
  const ch = hz.length;
  const x = new Float32Array(frames * ch);
  for (let f = 0; f < frames; f++) for (let c = 0; c < ch; c++) x[f * ch + c] = amp * Math.sin((2 * Math.PI * hz[c]! * f) / FS);
  return x;
}

/** Run a copy of `x` through `dsp` in blocks of `block` frames; `at` is called before each block. */
function run(dsp: ProgramDsp, x: Float32Array, block = 1024, at?: (frame: number) => void): Float32Array {
  const ch = dsp.channels;
  const y = x.slice();
  const frames = y.length / ch;
  for (let f = 0; f < frames; f += block) {
    at?.(f);
    const n = Math.min(block, frames - f);
    dsp.process(y.subarray(f * ch, (f + n) * ch), n);
  }
  return y;
}

function rms(x: Float32Array, ch: number, c: number, from: number, to: number): number {
  let s = 0;
  for (let f = from; f < to; f++) s += x[f * ch + c]! ** 2;
  return Math.sqrt(s / (to - from));
}

function peak(x: Float32Array, from = 0, to = x.length): number {
  let p = 0;
  for (let i = from; i < to; i++) p = Math.max(p, Math.abs(x[i]!));
  return p;
}

/** The largest sample-to-sample step of any channel over frames from..to: what a click is. */
function maxStep(x: Float32Array, ch: number, from: number, to: number): number {
  let m = 0;
  for (let f = Math.max(1, from); f < to; f++)
    for (let c = 0; c < ch; c++) m = Math.max(m, Math.abs(x[f * ch + c]! - x[(f - 1) * ch + c]!));
  return m;
}

/** Gain in dB a mono chain applies to a steady sine at `hz` (RMS over the last 0.5 s of 1 s: whole cycles for even hz). */
function gainAt(s: DspSettings, hz: number): number {
  const x = sines([hz], 0.25, FS);
  const y = run(new ProgramDsp(1, s), x);
  return dbOf(rms(y, 1, 0, FS / 2, FS) / rms(x, 1, 0, FS / 2, FS));
}

test('all off: a bit-exact copy, the look-ahead later (also after a chain was on and switched off again)', () => {
  expect(dspIsOff(DSP_OFF)).toBe(true);
  expect(dspIsOff(off({ eq: [{ type: 'peak', hz: 1000, gainDb: 0, q: 1 }] }))).toBe(true);
  expect(dspIsOff(off({ gainDb: 0.5 }))).toBe(false);
  expect(dspIsOff(off({ delayMs: 1 }))).toBe(false);
  expect(dspIsOff(off({ eq: [{ type: 'lowpass', hz: 8000, gainDb: 0, q: 0.7 }] }))).toBe(false);
  const r = rng(1);
  const x = new Float32Array(3 * FS * 2).map(() => (r() - 0.5) * 8);
  for (const block of [1, 333, 1024, 5000]) {
    const d = new ProgramDsp(2, DSP_OFF);
    expect(d.lookaheadFrames).toBe(LA);
    const y = run(d, x, block);
    expect(y.subarray(0, LA * 2).every((v) => v === 0)).toBe(true);
    expect(y.subarray(LA * 2)).toEqual(x.subarray(0, x.length - LA * 2));
  }
  const d = new ProgramDsp(2, off({ gainDb: 4, highpassHz: 90, limiterDbfs: -3, delayMs: 40, eq: [{ type: 'peak', hz: 2000, gainDb: 5, q: 1 }] }));
  run(d, x.subarray(0, FS * 2));
  d.configure(DSP_OFF);
  run(d, x.subarray(0, (FS / 2) * 2)); // the fades and the ramp are done after 20 ms
  const y = run(d, x);
  // The look-ahead holds the last LA frames of what went in before.
  expect(y.subarray(LA * 2)).toEqual(x.subarray(0, x.length - LA * 2));
});

test('gain +6 dB raises the level by 6.0 dB; a live change ramps there', () => {
  const g = gainAt(off({ gainDb: 6 }), 1000);
  console.log(`gain +6 dB: ${g.toFixed(4)} dB`);
  expect(Math.abs(g - 6)).toBeLessThanOrEqual(0.05);
  const d = new ProgramDsp(1, DSP_OFF);
  const x = sines([440], 0.1, FS);
  const y = run(d, x, 480, (f) => f === FS / 2 && d.configure(off({ gainDb: -6 })));
  expect(dbOf(rms(y, 1, 0, FS - 4800, FS) / rms(x, 1, 0, FS - 4800, FS))).toBeCloseTo(-6, 2);
  expect(maxStep(y, 1, FS / 2, FS)).toBeLessThanOrEqual(maxStep(y, 1, 0, FS / 2) * 1.01);
});

test('high-pass at 100 Hz: 30 Hz down by 12 dB or more, 1 kHz within 0.5 dB, DC removed', () => {
  const hp = off({ highpassHz: 100 });
  const at30 = gainAt(hp, 30);
  const at1k = gainAt(hp, 1000);
  const at100 = gainAt(hp, 100);
  console.log(`high-pass 100 Hz: 30 Hz ${at30.toFixed(2)} dB, 100 Hz ${at100.toFixed(2)} dB, 1 kHz ${at1k.toFixed(3)} dB`);
  expect(at30).toBeLessThanOrEqual(-12);
  expect(Math.abs(at1k)).toBeLessThanOrEqual(0.5);
  expect(at100).toBeCloseTo(-3.01, 1); // Butterworth: -3 dB at the corner
  const dc = run(new ProgramDsp(1, hp), new Float32Array(FS).fill(0.5));
  expect(peak(dc, FS - 4800)).toBeLessThan(1e-4);
});

test('EQ: a 1 kHz peak of +6 dB (q 1) is +6 dB at 1 kHz and about 0 dB at 100 Hz and 10 kHz', () => {
  const s = off({ eq: [{ type: 'peak', hz: 1000, gainDb: 6, q: 1 }] });
  const [g100, g1k, g10k] = [gainAt(s, 100), gainAt(s, 1000), gainAt(s, 10_000)];
  console.log(`peak +6 dB at 1 kHz: 100 Hz ${g100.toFixed(3)}, 1 kHz ${g1k.toFixed(3)}, 10 kHz ${g10k.toFixed(3)} dB`);
  expect(Math.abs(g1k - 6)).toBeLessThanOrEqual(0.5);
  expect(Math.abs(g100)).toBeLessThanOrEqual(0.5);
  expect(Math.abs(g10k)).toBeLessThanOrEqual(0.5);
  // A cut is the boost's mirror image.
  expect(gainAt(off({ eq: [{ type: 'peak', hz: 1000, gainDb: -6, q: 1 }] }), 1000)).toBeCloseTo(-6, 1);
});

test.each<[string, EqBand, [number, number, number][]]>([
  // [hz measured, lowest dB, highest dB]
  ['low shelf +6 dB at 200 Hz', { type: 'lowshelf', hz: 200, gainDb: 6, q: 0.707 }, [[30, 5.5, 6.5], [200, 2.7, 3.3], [5000, -0.3, 0.3]]],
  ['high shelf -6 dB at 4 kHz', { type: 'highshelf', hz: 4000, gainDb: -6, q: 0.707 }, [[20_000, -6.5, -5.5], [4000, -3.3, -2.7], [200, -0.3, 0.3]]],
  ['low cut at 200 Hz', { type: 'highpass', hz: 200, gainDb: 0, q: 0.707 }, [[50, -30, -22], [200, -3.2, -2.8], [4000, -0.3, 0.3]]],
  ['high cut at 2 kHz', { type: 'lowpass', hz: 2000, gainDb: 0, q: 0.707 }, [[8000, -30, -22], [2000, -3.2, -2.8], [100, -0.3, 0.3]]],
])('EQ: %s', (_name, band, points) => {
  for (const [hz, lo, hi] of points) {
    const g = gainAt(off({ eq: [band] }), hz);
    expect(g).toBeGreaterThanOrEqual(lo);
    expect(g).toBeLessThanOrEqual(hi);
  }
});

/** A 1 kHz sine at -13 dBFS for 1 s, at +11 dBFS (12 dB over a -1 dBFS ceiling) for 1 s, at -13 dBFS for 2 s. */
function burst(channels: 1 | 2): Float32Array {
  const x = new Float32Array(4 * FS * channels);
  for (let f = 0; f < 4 * FS; f++) {
    const a = 10 ** ((f >= FS && f < 2 * FS ? 11 : -13) / 20);
    for (let c = 0; c < channels; c++) x[f * channels + c] = a * Math.sin((2 * Math.PI * 1000 * f) / FS + 0.3);
  }
  return x;
}

test('limiter at -1 dBFS: a +12 dB burst never passes the ceiling and the level is back within 1 s', () => {
  const ceiling = 10 ** (-1 / 20);
  const x = burst(2);
  expect(peak(x)).toBeGreaterThan(3.5); // +11 dBFS
  const d = new ProgramDsp(2, off({ limiterDbfs: -1 }));
  const y = run(d, x);
  const la = d.lookaheadFrames;
  expect(la).toBe(LA);
  const max = peak(y);
  expect(max).toBeLessThanOrEqual(ceiling);
  expect(d.clampCount).toBe(0);
  // It limits, it does not mute: the burst comes out at the ceiling.
  expect(dbOf(peak(y, (FS + 4800 + la) * 2, (2 * FS + la) * 2))).toBeGreaterThan(-1.2);
  // Recovery: from the burst's end, each 10 ms window's level against the input's.
  const inLevel = rms(x, 2, 0, 3 * FS, 4 * FS);
  let back = -1;
  for (let f = 2 * FS; f + 480 <= 4 * FS - la; f += 480) {
    const ok = Math.abs(dbOf(rms(y, 2, 0, f + la, f + la + 480) / inLevel)) <= 0.5;
    if (!ok) back = -1;
    else if (back < 0) back = f - 2 * FS;
  }
  console.log(`limiter -1 dBFS, +12 dB burst: max peak ${dbOf(max).toFixed(4)} dBFS (${max}), clamps ${d.clampCount}, level back within 0.5 dB after ${((back / FS) * 1000).toFixed(0)} ms`);
  expect(back).toBeGreaterThanOrEqual(0);
  expect(back).toBeLessThanOrEqual(FS);
  // Before the burst it leaves the signal alone (delayed by the look-ahead).
  for (let i = 0; i < (FS - 100) * 2; i++) expect(y[i + la * 2]).toBe(x[i]!);
  // Without the limiter the same burst goes far over full scale.
  expect(peak(run(new ProgramDsp(2, DSP_OFF), x))).toBeGreaterThan(1);
});

test('limiter: white-noise bursts and single-sample spikes never pass the ceiling, at any ceiling', () => {
  const r = rng(7);
  let worst = -Infinity;
  for (const dbfs of [-0.1, -1, -6, -24]) {
    const ceiling = 10 ** (dbfs / 20);
    const ch = dbfs === -6 ? 1 : 2;
    const frames = 3 * FS;
    const x = new Float32Array(frames * ch);
    for (let f = 0; f < frames; f++) {
      // Quiet noise, with 100 ms bursts 12 to 24 dB over the ceiling every 300 ms.
      const loud = f % 14_400 < 4800 ? ceiling * 10 ** ((12 + (f % 3) * 6) / 20) : ceiling * 0.1;
      for (let c = 0; c < ch; c++) {
        const gauss = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
        x[f * ch + c] = (loud / 3) * gauss;
      }
    }
    // Single-sample spikes (some adjacent, some on block edges, one per channel) over the quiet parts.
    for (const f of [5000, 5001, 9000, 9002, 1023, 1024, 2047, 20_000, 20_071, 20_072, 40_000]) {
      x[f * ch + (f % ch)] = (f % 2 ? -1 : 1) * ceiling * (1 + r() * 15);
    }
    const d = new ProgramDsp(ch, off({ limiterDbfs: dbfs }));
    // Blocks of random length, 1..1500 frames.
    const y = x.slice();
    for (let f = 0; f < frames; ) {
      const n = Math.min(frames - f, 1 + Math.floor(r() * 1500));
      d.process(y.subarray(f * ch, (f + n) * ch), n);
      f += n;
    }
    const max = peak(y);
    worst = Math.max(worst, dbOf(max) - dbfs);
    expect(max).toBeLessThanOrEqual(ceiling);
    expect(d.clampCount).toBe(0);
    expect(peak(x)).toBeGreaterThan(ceiling * 3.9); // the input did go 12 dB over
    // Each spike comes out at the ceiling (limited, not lost).
    expect(Math.abs(y[(5000 + d.lookaheadFrames) * ch + (5000 % ch)]!)).toBeGreaterThan(ceiling * 0.99);
  }
  console.log(`limiter, noise bursts and spikes at -0.1/-1/-6/-24 dBFS: highest peak ${worst.toExponential(2)} dB from the ceiling, clamps 0`);
});

test.each<[string, Partial<DspSettings>, number]>([
  ['12.5 ms', { delayMs: 12.5 }, 600 + 47],
  ['500 ms', { delayMs: 500 }, 24_000 + 47],
  ['12.5 ms with the limiter', { delayMs: 12.5, limiterDbfs: -1 }, 600 + 47],
  ['the limiter alone', { limiterDbfs: -1 }, 47],
  ['nothing', {}, 47],
])('delay %s: an impulse comes out exactly that many frames later', (_name, s, frames) => {
  const d = new ProgramDsp(2, off(s));
  // The look-ahead, limiter on or off: turning it on or off never moves the program in time.
  expect(d.lookaheadFrames).toBe(LA);
  const x = new Float32Array(FS * 2);
  x[1000 * 2] = 0.5;
  x[1000 * 2 + 1] = -0.25;
  const y = run(d, x, 700);
  const at = 1000 + frames;
  expect(Math.round((s.delayMs ?? 0) * 48) + d.lookaheadFrames).toBe(frames);
  expect([y[at * 2], y[at * 2 + 1]]).toEqual([0.5, -0.25]);
  y[at * 2] = y[at * 2 + 1] = 0;
  expect(peak(y)).toBe(0);
});

const eq6: EqBand[] = [
  { type: 'peak', hz: 250, gainDb: 6, q: 1 },
  { type: 'lowshelf', hz: 120, gainDb: -4, q: 0.7 },
  { type: 'highshelf', hz: 6000, gainDb: 3, q: 0.7 },
  { type: 'peak', hz: 2500, gainDb: -5, q: 2 },
  { type: 'lowpass', hz: 16_000, gainDb: 0, q: 0.7 },
  { type: 'peak', hz: 600, gainDb: 2, q: 0.5 },
];

const clickTest = sines([250, 330], 0.5, 2 * FS);

/** The largest step in the steady state (0.5 s to 2 s) of a chain set up with `s` from the start. */
function steadyStep(s: DspSettings): number {
  return maxStep(run(new ProgramDsp(2, s), clickTest, 240), 2, FS / 2, 2 * FS);
}

/**
 * A 250 Hz / 330 Hz stereo sine at -6 dBFS, in 5 ms blocks; the settings change at 1 s (and
 * again 5 ms later when two are given). Returns the largest step during the change (1 s to
 * 1.2 s) over the largest steady-state step of any of the settings involved.
 */
function changeRatio(from: DspSettings, to: DspSettings[]): { ratio: number; y: Float32Array } {
  const d = new ProgramDsp(2, from);
  const y = run(d, clickTest, 240, (f) => {
    if (f === FS) d.configure(to[0]!);
    if (f === FS + 240 && to[1]) d.configure(to[1]);
  });
  expect(d.clampCount).toBe(0);
  const steady = Math.max(...[from, ...to].map(steadyStep));
  return { ratio: maxStep(y, 2, FS, 1.2 * FS) / steady, y };
}

test.each<[string, DspSettings, DspSettings[]]>([
  ['EQ on', DSP_OFF, [off({ eq: eq6 })]],
  ['EQ band moved', off({ eq: eq6 }), [off({ eq: [{ type: 'peak', hz: 330, gainDb: -9, q: 3 }, ...eq6.slice(1)] })]],
  ['high-pass on', DSP_OFF, [off({ highpassHz: 300 })]],
  ['high-pass moved', off({ highpassHz: 300 }), [off({ highpassHz: 20 })]],
  ['limiter on (limiting 6 dB at once)', DSP_OFF, [off({ limiterDbfs: -12 })]],
  ['limiter ceiling changed', off({ limiterDbfs: -12 }), [off({ limiterDbfs: -3 })]],
  ['limiter off', off({ limiterDbfs: -12 }), [DSP_OFF]],
  ['delay on', DSP_OFF, [off({ delayMs: 7.3 })]],
  ['delay changed', off({ delayMs: 120 }), [off({ delayMs: 2 })]],
  ['gain +12 dB', DSP_OFF, [off({ gainDb: 12 })]],
  ['all on at once', DSP_OFF, [off({ gainDb: -3, highpassHz: 80, eq: eq6, limiterDbfs: -6, delayMs: 30 })]],
  ['two EQ changes 5 ms apart', DSP_OFF, [off({ eq: eq6 }), off({ eq: eq6.slice(2) })]],
  ['EQ then delay and limiter 5 ms apart', DSP_OFF, [off({ eq: eq6 }), off({ eq: eq6, delayMs: 11, limiterDbfs: -9 })]],
  ['two delay changes 5 ms apart', off({ delayMs: 50 }), [off({ delayMs: 1 }), off({ delayMs: 333 })]],
  ['a change and its undo 5 ms apart', off({ highpassHz: 150 }), [off({ highpassHz: 300, limiterDbfs: -10 }), off({ highpassHz: 150 })]],
])('no click when the %s while a sine plays', (name, from, to) => {
  const { ratio, y } = changeRatio(from, to);
  console.log(`no click, ${name}: largest step ${ratio.toFixed(3)}x the steady one`);
  // A limiter that starts limiting a −6 dBFS sine under a −10 dBFS ceiling takes its 4 dB in
  // the 1 ms look-ahead: that attack (not a switch) steps up to 1.57x the steady sine. A switch
  // without a cross-fade measures 46x (below).
  expect(ratio).toBeLessThanOrEqual(name === 'a change and its undo 5 ms apart' ? 1.65 : 1.5);
  // The change took full effect: from 1.5 s on the output is what a chain set up that way from the start gives.
  const ref = run(new ProgramDsp(2, to.at(-1)!), clickTest, 240);
  let diff = 0;
  for (let i = 1.5 * FS * 2; i < y.length; i++) diff = Math.max(diff, Math.abs(y[i]! - ref[i]!));
  expect(diff).toBeLessThan(1e-4);
});

test('the click measure catches a switch without a cross-fade', () => {
  // Both chains run all along; the output jumps from one to the other where the 250 Hz sine peaks.
  const [from, to] = [DSP_OFF, off({ delayMs: 2 })];
  const a = run(new ProgramDsp(2, from), clickTest);
  const b = run(new ProgramDsp(2, to), clickTest);
  const at = FS + 48;
  const y = new Float32Array(clickTest.length);
  y.set(a.subarray(0, at * 2));
  y.set(b.subarray(at * 2), at * 2);
  const ratio = maxStep(y, 2, FS, 1.2 * FS) / Math.max(steadyStep(from), steadyStep(to));
  const faded = changeRatio(from, [to]).ratio;
  console.log(`click measure, delay 0 -> 2 ms: hard switch ${ratio.toFixed(1)}x the steady step, cross-faded ${faded.toFixed(2)}x`);
  expect(ratio).toBeGreaterThan(3);
});

test('stereo: the filters act on each channel alone, the limiter on both at once', () => {
  // Left 30 Hz, right 1 kHz through a 100 Hz high-pass: only the left is cut.
  const x = sines([30, 1000], 0.25, FS);
  const y = run(new ProgramDsp(2, off({ highpassHz: 100, eq: eq6 })), x);
  expect(dbOf(rms(y, 2, 0, FS / 2, FS) / rms(x, 2, 0, FS / 2, FS))).toBeLessThan(-12);
  // A silent channel stays exactly silent beside a filtered one.
  const z = sines([1000, 0], 0.5, FS);
  const yz = run(new ProgramDsp(2, off({ highpassHz: 100, eq: eq6, limiterDbfs: -1 })), z);
  for (let f = 0; f < FS; f++) expect(yz[f * 2 + 1]).toBe(0);
  // Left steady at -20 dBFS, right a +6 dBFS burst (1 s to 2 s): both come down by the same gain.
  const l = new Float32Array(3 * FS * 2);
  for (let f = 0; f < 3 * FS; f++) {
    l[f * 2] = 0.1 * Math.sin((2 * Math.PI * 1000 * f) / FS);
    l[f * 2 + 1] = f >= FS && f < 2 * FS ? 2 * Math.sin((2 * Math.PI * 440 * f) / FS) : 0;
  }
  const d = new ProgramDsp(2, off({ limiterDbfs: -1 }));
  const yl = run(d, l);
  const la = d.lookaheadFrames;
  const leftDrop = dbOf(rms(yl, 2, 0, 1.5 * FS + la, 2 * FS + la) / rms(l, 2, 0, 1.5 * FS, 2 * FS));
  const rightDrop = dbOf(rms(yl, 2, 1, 1.5 * FS + la, 2 * FS + la) / rms(l, 2, 1, 1.5 * FS, 2 * FS));
  console.log(`linked limiter: the burst's channel down ${rightDrop.toFixed(2)} dB, the other ${leftDrop.toFixed(2)} dB`);
  expect(leftDrop).toBeLessThan(-6);
  expect(Math.abs(leftDrop - rightDrop)).toBeLessThan(0.5);
  expect(peak(yl)).toBeLessThanOrEqual(10 ** (-1 / 20));
  expect(dbOf(rms(yl, 2, 0, 2.9 * FS, 3 * FS) / rms(l, 2, 0, 2.9 * FS, 3 * FS))).toBeGreaterThan(-0.1);
});

const full: DspSettings = { gainDb: 3, highpassHz: 80, eq: eq6, limiterDbfs: -1, delayMs: 120 };

test('process() allocates nothing: 20 s through a fully-on chain leave the heap as it was, and no GC runs', async () => {
  const x = sines([250, 330], 1.5, 1024);
  /**
   * Heap growth over 10 s in blocks of 1024 and 10 s in blocks of 64, and whether a collection
   * ran meanwhile (then garbage may have hidden the growth). A weak sentinel that outlives this
   * job dies with the next collection; a second one, read before the run, tells whether one
   * came between the sleep and the run (then the run is measured again).
   */
  async function measure(step: (d: ProgramDsp, buf: Float32Array, n: number) => void) {
    const d = new ProgramDsp(2, full);
    const buf = x.slice();
    for (let i = 0; i < 200; i++) step(d, buf, 1024);
    for (let i = 0; i < 1000; i++) step(d, buf, 64);
    for (let attempt = 1; ; attempt++) {
      d.configure({ ...full, eq: eq6.slice(1) });
      d.configure({ ...full, delayMs: 60 + attempt }); // waits for the first fade: primed inside process()
      Bun.gc(true);
      const early = new WeakRef({});
      const sentinel = new WeakRef({});
      await Bun.sleep(0);
      if (!early.deref() && attempt < 3) continue;
      const before = heapStats().heapCapacity;
      for (let i = 0; i < 469; i++) step(d, buf, 1024);
      for (let i = 0; i < 7500; i++) step(d, buf, 64);
      const gc = sentinel.deref() === undefined;
      const growth = heapStats().heapCapacity - before;
      if ((gc || growth >= 128 * 1024) && attempt < 3) continue;
      return { growth, gc, attempt };
    }
  }
  const real = await measure((d, buf, n) => d.process(buf, n));
  // The same measure on a caller that makes one small view per block.
  const leaky = await measure((d, buf, n) => d.process(buf.subarray(0, n * 2), n));
  console.log(`heap growth over 20 s: process() ${real.growth} B (GC ran: ${real.gc}, attempt ${real.attempt}); one subarray per block ${leaky.growth} B (GC ran: ${leaky.gc})`);
  expect(leaky.gc || leaky.growth > 128 * 1024).toBe(true);
  expect(real.gc).toBe(false);
  expect(real.growth).toBeLessThan(128 * 1024);
});

test('CPU: 60 s of stereo through 6 EQ bands, high-pass, limiter and delay (printed)', () => {
  const d = new ProgramDsp(2, full);
  const block = sines([250, 3300], 1.2, 1024);
  const buf = new Float32Array(block.length);
  for (let i = 0; i < 100; i++) {
    buf.set(block);
    d.process(buf, 1024);
  }
  const blocks = Math.ceil((60 * FS) / 1024);
  let ns = 0;
  for (let i = 0; i < blocks; i++) {
    buf.set(block);
    const t0 = Bun.nanoseconds();
    d.process(buf, 1024);
    ns += Bun.nanoseconds() - t0;
  }
  console.log(`CPU: ${(ns / 1e6).toFixed(1)} ms per 60 s of stereo (${((ns / 1e9 / 60) * 100).toFixed(3)} % of real time), clamps ${d.clampCount}`);
  expect(d.clampCount).toBe(0);
});
