import { expect, test } from 'bun:test';
import { AudioEngine } from './engine.ts';
import { ToneSource } from './tone.ts';
import type { AudioSource, SourceState, SourceStatus } from './source.ts';
import type { EncodedPacket, Encoder } from '../codecs/encoder.ts';

/** A packetizer standing in for a codec: emits one packet per `frameSize` frames. */
function framer(spec: { frameSize: number; channels: number }, sink: (p: EncodedPacket) => void): Encoder {
  let filled = 0;
  let start = 0;
  return {
    codec: 'opus',
    channels: spec.channels,
    frameSize: spec.frameSize,
    write(_pcm, frames, pts) {
      if (filled === 0) start = pts;
      filled += frames;
      while (filled >= spec.frameSize) {
        sink({ data: new Uint8Array(1), pts: start, frames: spec.frameSize });
        start += spec.frameSize;
        filled -= spec.frameSize;
      }
    },
    flush() {},
    close() {},
  };
}

test('encoders get contiguous packets; mono input is mapped to a stereo encoder', () => {
  const tone = new ToneSource({ channels: 1, frequency: 440, levelDbfs: -12 });
  const packets: EncodedPacket[] = [];
  const engine = new AudioEngine(tone, new Float32Array(24), framer, (_k, p) => packets.push(p));
  engine.addEncoder('a', { frameSize: 480, channels: 2 });
  engine.start();
  const t0 = performance.now();
  while (performance.now() - t0 < 250) engine.pump(20);
  expect(packets.length).toBeGreaterThan(15);
  for (let i = 1; i < packets.length; i++) expect(packets[i]!.pts).toBe(packets[i - 1]!.pts + 480);
  const stats = engine.stats();
  expect(stats.consumers.find((c) => c.name === 'encoder a')).toMatchObject({ dropped: 0, packets: packets.length });
  engine.close();
  engine.close();
});

/** A source that delivers nothing while "lost". */
class LostSource implements AudioSource {
  readonly kind = 'pipewire' as const;
  readonly channels = 2;
  state: SourceState = 'lost';
  start() {}
  close() {
    this.state = 'closed';
  }
  wait(ms: number) {
    Bun.sleepSync(ms);
    return false;
  }
  read(_dst?: Float32Array, _max?: number): number {
    return 0;
  }
  status(): SourceStatus {
    return { kind: 'pipewire', state: this.state, message: 'device lost', device: 'x', format: { rate: 48000, channels: 2, sampleFormat: 'f32' }, stats: {} };
  }
}

test('while the source is lost the clock keeps running with silence, so outputs stay fed', () => {
  const engine = new AudioEngine(new LostSource(), new Float32Array(24), framer, () => {});
  engine.start();
  const t0 = performance.now();
  while (performance.now() - t0 < 300) engine.pump(20);
  const elapsed = (performance.now() - t0) / 1000;
  const { frames, silenceFrames } = engine.stats();
  expect(silenceFrames).toBe(frames);
  expect(Math.abs(frames - elapsed * 48000)).toBeLessThan(48 * 30);
  engine.close();
});

/** A source that says it is running and delivers for a while, then nothing (a stalled device). */
class StallingSource extends LostSource {
  override state: SourceState = 'running';
  deliverUntil = performance.now() + 200;
  private ready = false;
  override wait(ms: number) {
    Bun.sleepSync(Math.min(ms, 10));
    this.ready = performance.now() <= this.deliverUntil;
    return this.ready;
  }
  /** 10 ms of audio per wait while delivering. */
  override read(dst: Float32Array, max: number) {
    if (!this.ready) return 0;
    this.ready = false;
    const n = Math.min(max, 480);
    dst.fill(0.25, 0, n * 2);
    return n;
  }
}

test('a "running" source that stops delivering: after 0.5 s the clock goes on with silence, and data takes over again', () => {
  const src = new StallingSource();
  const engine = new AudioEngine(src, new Float32Array(24), framer, () => {});
  engine.start();
  const t0 = performance.now();
  while (performance.now() - t0 < 1500) engine.pump(20);
  let st = engine.stats();
  expect(st.stalls).toBe(1);
  // The clock did not stop: 0.2 s of data, then (0.5 s later, once the stall is clear) silence
  // at the real-time rate to the end.
  expect(st.silenceFrames).toBeGreaterThan(48000 * 0.6);
  expect(st.frames).toBeGreaterThan(48000 * 0.8);
  // Data again: it takes over (no more silence while it flows).
  src.deliverUntil = performance.now() + 1000;
  const silenceBefore = st.silenceFrames;
  const t1 = performance.now();
  while (performance.now() - t1 < 200) engine.pump(20);
  st = engine.stats();
  expect(st.silenceFrames).toBe(silenceBefore);
  expect(st.stalls).toBe(1);
  engine.close();
});

test('muted: encoders get silence while the meter still shows the input', () => {
  const tone = new ToneSource({ channels: 2, frequency: 440, levelDbfs: -6 });
  let maxAbs = 0;
  const levels = new Float32Array(6);
  const engine = new AudioEngine(
    tone,
    levels,
    (spec: { channels: number }) => ({
      codec: 'opus',
      channels: spec.channels,
      frameSize: 480,
      write(pcm, frames) {
        for (let i = 0; i < frames * 2; i++) maxAbs = Math.max(maxAbs, Math.abs(pcm[i]!));
      },
      flush() {},
      close() {},
    }),
    () => {},
  );
  engine.addEncoder('a', { channels: 2 });
  engine.muted = true;
  engine.start();
  const t0 = performance.now();
  while (performance.now() - t0 < 200) engine.pump(20);
  expect(maxAbs).toBe(0);
  expect(levels[0]).toBeCloseTo(-6, 0);
  engine.close();
});

/** A source whose clock has run away: it always has audio, as fast as it is read. */
class RunawaySource extends LostSource {
  override state: SourceState = 'running';
  reads = 0;
  override wait() {
    return true;
  }
  override read(dst: Float32Array, max: number) {
    this.reads++;
    dst.fill(0.25, 0, max * 2);
    return max;
  }
}

test('a source far faster than real time: pump() still returns, the bus runs at real time, the excess is counted as discarded', () => {
  const src = new RunawaySource();
  // A slow encoder (1 ms a block) as on a small Pi, so reading alone could never catch up.
  const slow = (spec: { frameSize: number; channels: number }, sink: (p: EncodedPacket) => void): Encoder => {
    const inner = framer(spec, sink);
    return { ...inner, write: (pcm, n, pts) => (Bun.sleepSync(1), inner.write(pcm, n, pts)) };
  };
  const engine = new AudioEngine(src, new Float32Array(24), slow, () => {});
  engine.addEncoder('mp3', { frameSize: 1152, channels: 2 });
  engine.start();
  const t0 = performance.now();
  let pumps = 0;
  while (performance.now() - t0 < 1500 && pumps < 10_000) {
    engine.pump(20);
    pumps++;
  }
  const elapsed = (performance.now() - t0) / 1000;
  const st = engine.stats();
  expect(pumps).toBeGreaterThan(10);
  // At most 2 % over the wall clock, plus the one-second allowance for a burst.
  expect(st.frames).toBeLessThanOrEqual(48000 * (elapsed * 1.02 + 1) + 1024);
  expect(st.frames).toBeGreaterThan(48000 * elapsed * 0.9);
  expect(st.discardedFrames).toBeGreaterThan(0);
  expect(st.silenceFrames).toBe(0);
  expect(st.consumers.find((c) => c.name === 'encoder mp3')!.dropped).toBe(0);
  engine.close();
});

test('a source at real time loses nothing to the speed limit', () => {
  const tone = new ToneSource({ channels: 2, frequency: 440, levelDbfs: -12 });
  const engine = new AudioEngine(tone, new Float32Array(24), framer, () => {});
  engine.start();
  const t0 = performance.now();
  while (performance.now() - t0 < 1000) engine.pump(20);
  expect(engine.stats().discardedFrames).toBe(0);
  engine.close();
});

/** An encoder stand-in that keeps every sample it is given (channel 0), for level and waveform checks. */
function recorder(store: { samples: number[] }) {
  return (spec: { channels: number }, _sink: (p: EncodedPacket) => void): Encoder => ({
    codec: 'opus',
    channels: spec.channels,
    frameSize: 480,
    write(pcm, frames) {
      for (let f = 0; f < frames; f++) store.samples.push(pcm[f * spec.channels]!);
    },
    flush() {},
    close() {},
  });
}

const peak = (xs: number[]) => xs.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
const db = (x: number) => 20 * Math.log10(x);

function pumpFor<S>(engine: AudioEngine<S>, ms: number): void {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) engine.pump(20);
}

test('input gain: a −20 dBFS tone with +6 dB reaches encoders and meters at −14 dBFS', () => {
  const store = { samples: [] as number[] };
  const levels = new Float32Array(24);
  const tone = new ToneSource({ channels: 2, frequency: 1000, levelDbfs: -20 });
  const engine = new AudioEngine(tone, levels, recorder(store), () => {});
  engine.setGainDb(6, false);
  engine.addEncoder('a', { channels: 2 });
  engine.start();
  pumpFor(engine, 300);
  expect(Math.abs(db(peak(store.samples)) - -14)).toBeLessThan(0.1);
  expect(Math.abs(levels[0]! - -14)).toBeLessThan(0.2);
  expect(engine.gainDb).toBeCloseTo(6, 5);
  engine.close();
});

test('a gain change while streaming is ramped: no step in the waveform', () => {
  const store = { samples: [] as number[] };
  const f = 1000;
  const tone = new ToneSource({ channels: 1, frequency: f, levelDbfs: -20 });
  const engine = new AudioEngine(tone, new Float32Array(24), recorder(store), () => {});
  engine.addEncoder('a', { channels: 1 });
  engine.start();
  pumpFor(engine, 150);
  const before = store.samples.length;
  engine.setGainDb(12);
  pumpFor(engine, 150);
  engine.setGainDb(-12);
  pumpFor(engine, 150);
  expect(store.samples.length).toBeGreaterThan(before + 4800);
  // The largest sample-to-sample difference a sine of amplitude A can have is 2πfA/rate; the
  // loudest part (+12 dB) bounds it. A switch without a ramp jumps by up to (4 − 1)·A at once.
  const amp = 10 ** (-20 / 20) * 10 ** (12 / 20);
  const bound = ((2 * Math.PI * f) / 48000) * amp * 1.05;
  let maxStep = 0;
  for (let i = 1; i < store.samples.length; i++) maxStep = Math.max(maxStep, Math.abs(store.samples[i]! - store.samples[i - 1]!));
  expect(maxStep).toBeLessThan(bound);
  // It got there: the last 100 ms are at −20 − 12 dBFS.
  expect(Math.abs(db(peak(store.samples.slice(-4800))) - -32)).toBeLessThan(0.1);
  engine.close();
});

test('off air silences the output encoders; the meters and the input tap keep the input', () => {
  const out = { samples: [] as number[] };
  const tap = { samples: [] as number[] };
  const levels = new Float32Array(24);
  const tone = new ToneSource({ channels: 2, frequency: 440, levelDbfs: -12 });
  const engine = new AudioEngine<{ channels: number; tap?: boolean }>(tone, levels, (spec, sink) => recorder(spec.tap ? tap : out)(spec, sink), () => {});
  engine.addEncoder('out', { channels: 2 });
  engine.addEncoder('input out', { channels: 2, tap: true }, { input: true });
  engine.offAir = true;
  engine.start();
  pumpFor(engine, 200);
  expect(out.samples.length).toBeGreaterThan(4800);
  expect(peak(out.samples)).toBe(0);
  expect(Math.abs(db(peak(tap.samples)) - -12)).toBeLessThan(0.1);
  expect(Math.abs(levels[0]! - -12)).toBeLessThan(0.2);
  // Live again: the outputs carry the input.
  engine.offAir = false;
  out.samples.length = 0;
  pumpFor(engine, 200);
  expect(Math.abs(db(peak(out.samples)) - -12)).toBeLessThan(0.1);
  engine.close();
});

/** A running source delivering 128-frame quanta, each "captured" at a known CLOCK_MONOTONIC time. */
class TimedSource extends LostSource {
  override state: SourceState = 'running';
  quanta = 0;
  lastNs = 0n;
  override wait() {
    return true;
  }
  override read(dst: Float32Array, max: number): number {
    if (this.quanta >= 40 || max < 128) return 0;
    dst.fill(0, 0, 256);
    this.quanta++;
    // quantum q's last frame was captured at 1 s + q × 128 frames
    this.lastNs = 1_000_000_000n + BigInt(Math.round((this.quanta * 128 * 1e9) / 48_000));
    return 128;
  }
  captureNs() {
    return this.lastNs;
  }
}

test("each packet's `at` is when its last frame was captured (the source's capture clock), not when it was encoded", () => {
  const src = new TimedSource();
  const packets: { p: EncodedPacket; at: number | undefined }[] = [];
  let engine!: AudioEngine<{ frameSize: number; channels: number }>;
  // as the audio worker stamps them: at the moment the encoder emits the packet
  engine = new AudioEngine(src, new Float32Array(24), framer, (_k, p) => packets.push({ p, at: engine.captureMs(p.pts + p.frames) }));
  engine.addEncoder('a', { frameSize: 96, channels: 2 });
  engine.start();
  engine.pump(10);
  engine.close();
  expect(packets.length).toBe(Math.floor((40 * 128) / 96));
  for (const { p, at } of packets) {
    // frame k (counted from 1) of the stream was captured at 1 s + k / 48 kHz
    const want = 1000 + ((p.pts + p.frames) * 1000) / 48_000;
    expect(at).toBeCloseTo(want, 6);
  }
});
