import { describe, expect, test } from 'bun:test';
import { FrameBus } from './bus.ts';

function ramp(start: number, frames: number, ch: number): Float32Array {
  const a = new Float32Array(frames * ch);
  for (let f = 0; f < frames; f++) for (let c = 0; c < ch; c++) a[f * ch + c] = start + f + c * 0.5;
  return a;
}

describe('FrameBus', () => {
  test('every reader gets every frame, in order, across the wrap', () => {
    const bus = new FrameBus(2, 1000);
    const got: number[][] = [[], []];
    const scratch = new Float32Array(2 * 512);
    bus.reader('a', (r) => {
      let n;
      while ((n = r.read(scratch, 512)) > 0) for (let f = 0; f < n; f++) got[0]!.push(scratch[f * 2]!);
    });
    bus.reader('b', (r) => {
      let n;
      while ((n = r.read(scratch, 100)) > 0) for (let f = 0; f < n; f++) got[1]!.push(scratch[f * 2 + 1]!);
    });
    let t = 0;
    for (let i = 0; i < 50; i++) {
      const n = 37 + (i % 5) * 61;
      bus.write(ramp(t, n, 2), n);
      t += n;
    }
    expect(bus.position).toBe(t);
    expect(got[0]!.length).toBe(t);
    expect(got[1]!.length).toBe(t);
    for (let i = 0; i < t; i++) {
      expect(got[0]![i]).toBe(i);
      expect(got[1]![i]).toBe(i + 0.5);
    }
  });

  test('a slow consumer loses only its own frames, counted; the writer and others never wait', () => {
    const bus = new FrameBus(1, 4800);
    const fast = new Float32Array(4800);
    let fastFrames = 0;
    bus.reader('fast', (r) => {
      let n;
      while ((n = r.read(fast, 4800)) > 0) fastFrames += n;
    });
    const slow = bus.reader('slow'); // never reads until the end
    const block = new Float32Array(480);
    for (let i = 0; i < 100; i++) bus.write(block, 480); // 48 000 frames: 10× the ring
    expect(fastFrames).toBe(48_000);
    expect(slow.available).toBe(4800); // the newest ring-full is still there
    expect(slow.dropped).toBe(48_000 - 4800);
    expect(slow.overruns).toBe(1);
    const out = new Float32Array(4800);
    expect(slow.read(out, 4800)).toBe(4800);
    expect(slow.position).toBe(48_000);
  });

  test('a closed reader is detached and throws on read', () => {
    const bus = new FrameBus(1, 10);
    const r = bus.reader('x');
    expect(bus.readerCount).toBe(1);
    r.close();
    r.close();
    expect(bus.readerCount).toBe(0);
    expect(() => r.read(new Float32Array(4), 4)).toThrow('closed');
  });

  test('a block larger than the ring keeps its newest frames', () => {
    const bus = new FrameBus(1, 10);
    const r = bus.reader('x');
    bus.write(ramp(0, 25, 1), 25);
    const out = new Float32Array(10);
    expect(r.read(out, 10)).toBe(10);
    expect(Array.from(out)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    expect(r.dropped).toBe(15);
  });
});
