import { describe, expect, test } from 'bun:test';
import { FallbackMixer, type FallbackClip } from './fallback.ts';
import type { AudioSource, SourceState, SourceStatus } from './source.ts';

const RATE = 48_000;
const BLOCK = 1024;

function clip(name: string, frequency: number, amplitude: number, seconds: number, channels = 2): FallbackClip {
  const frames = Math.round(seconds * RATE);
  const pcm = new SharedArrayBuffer(frames * channels * 2);
  const v = new Int16Array(pcm);
  for (let f = 0; f < frames; f++) for (let c = 0; c < channels; c++) v[f * channels + c] = Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * frequency * f) / RATE));
  return { name, pcm, frames };
}

/** The input: a sine, block by block; `silent` zeroes it. */
class Input {
  phase = 0;
  silent = false;
  readonly buf = new Float32Array(BLOCK * 2);
  next(frequency = 1000, amplitude = 0.5): Float32Array {
    for (let f = 0; f < BLOCK; f++) {
      const v = this.silent ? 0 : amplitude * Math.sin(this.phase);
      this.phase += (2 * Math.PI * frequency) / RATE;
      this.buf[2 * f] = v;
      this.buf[2 * f + 1] = v;
    }
    return this.buf;
  }
}

const noDevice = (): AudioSource => {
  throw new Error('no devices in this test');
};

/** Run `blocks` blocks through the mixer; the left channel of what came out. */
function run(m: FallbackMixer, input: Input, blocks: number, out: number[]): void {
  for (let b = 0; b < blocks; b++) {
    const r = m.process(input.next(), BLOCK);
    for (let f = 0; f < BLOCK; f++) out.push(r[2 * f]!);
  }
}

function maxJump(x: number[]): number {
  let j = 0;
  for (let i = 1; i < x.length; i++) j = Math.max(j, Math.abs(x[i]! - x[i - 1]!));
  return j;
}

describe('FallbackMixer', () => {
  test('not engaged: the input block itself goes out (nothing mixed, nothing copied)', () => {
    const m = new FallbackMixer(2, { devices: [], clips: [clip('a.wav', 500, 0.5, 1)], crossfadeMs: 100 }, noDevice, BLOCK);
    const input = new Input();
    const b = input.next();
    expect(m.process(b, BLOCK)).toBe(b);
    expect(m.status()).toMatchObject({ active: false, kind: '', source: '' });
  });

  test('engage and release are cross-faded: no sample-to-sample jump above what the two tones themselves make', () => {
    const m = new FallbackMixer(2, { devices: [], clips: [clip('loop.flac', 500, 0.5, 0.3)], crossfadeMs: 100 }, noDevice, BLOCK);
    const input = new Input();
    const out: number[] = [];
    run(m, input, 20, out);
    m.engage(true);
    expect(m.status()).toMatchObject({ active: true, kind: 'file', source: 'loop.flac' });
    run(m, input, 40, out); // past the fade and across two loop points (0.3 s clip)
    m.engage(false);
    run(m, input, 20, out);
    // A 1 kHz sine at 0.5 moves at most 0.5·2π·1000/48000 = 0.065 per sample; a hard switch
    // between the tones would jump up to 1.0.
    expect(maxJump(out)).toBeLessThan(0.08);
    // Mid-way the fallback alone (the 500 Hz clip), at the end the input alone (1 kHz).
    const fb = out.slice(30 * BLOCK, 31 * BLOCK);
    const inp = out.slice(out.length - BLOCK);
    const zc = (x: number[]) => x.filter((v, i) => i > 0 && v >= 0 !== x[i - 1]! >= 0).length;
    expect(Math.abs(zc(fb) - (2 * 500 * BLOCK) / RATE)).toBeLessThanOrEqual(2);
    expect(Math.abs(zc(inp) - (2 * 1000 * BLOCK) / RATE)).toBeLessThanOrEqual(2);
    expect(m.status()).toMatchObject({ active: false, mix: 0, switches: 2 });
  });

  test('the fade takes crossfade_ms and is equal-power at its middle', () => {
    const m = new FallbackMixer(2, { devices: [], clips: [clip('c.wav', 500, 0.5, 1)], crossfadeMs: 50 }, noDevice, BLOCK);
    const input = new Input();
    m.engage(true);
    m.process(input.next(), 1200); // 25 ms of 50
    expect(m.status().mix).toBeCloseTo(0.5, 2);
    m.process(input.next(), 1200);
    expect(m.status().mix).toBe(1);
  });

  test('a silent input with the fallback fading in never dips: the level rises steadily', () => {
    const m = new FallbackMixer(2, { devices: [], clips: [clip('c.wav', 500, 0.5, 1)], crossfadeMs: 200 }, noDevice, BLOCK);
    const input = new Input();
    input.silent = true;
    m.engage(true);
    const out: number[] = [];
    run(m, input, 12, out);
    expect(maxJump(out)).toBeLessThan(0.04);
    const peak = (a: number, b: number) => Math.max(...out.slice(a, b).map(Math.abs));
    expect(peak(10 * BLOCK, 12 * BLOCK)).toBeGreaterThan(0.49);
  });

  test('a backup device that runs is preferred to the files; one that is absent is skipped', () => {
    class FakeDevice implements AudioSource {
      readonly kind = 'pipewire' as const;
      readonly channels = 2;
      state: SourceState = 'running';
      start() {}
      close() {
        this.state = 'closed';
      }
      wait() {
        return true;
      }
      /** Always has a block of 0.25 (DC), as a device would deliver in real time. */
      read(dst: Float32Array, max: number) {
        if (this.state !== 'running') return 0;
        const n = Math.min(max, 256);
        dst.fill(0.25, 0, n * 2);
        return n;
      }
      status(): SourceStatus {
        return { kind: 'pipewire', state: this.state, message: '', device: '', format: { rate: RATE, channels: 2, sampleFormat: 'f32' }, stats: {} };
      }
    }
    const devs = new Map<string, FakeDevice>();
    const open = (name: string) => {
      const d = new FakeDevice();
      if (name === 'absent') d.state = 'waiting';
      devs.set(name, d);
      return d;
    };
    const m = new FallbackMixer(2, { devices: ['absent', 'backup'], clips: [clip('c.wav', 500, 0.5, 1)], crossfadeMs: 10 }, open, BLOCK);
    const input = new Input();
    input.silent = true;
    m.poll();
    m.engage(true);
    const out: number[] = [];
    run(m, input, 5, out);
    expect(m.status()).toMatchObject({ kind: 'device', source: 'backup' });
    expect(out[out.length - 1]).toBeCloseTo(0.25, 5);
    // The device goes away while it plays: the files take over.
    devs.get('backup')!.state = 'lost';
    run(m, input, 2, out);
    expect(m.status()).toMatchObject({ kind: 'file', source: 'c.wav' });
    m.close();
    expect(devs.get('backup')!.state).toBe('closed');
  });
});
