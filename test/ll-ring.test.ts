/**
 * The low-latency path's shared ring (web/static/ll-ring.js): how the listen page hands decoded
 * audio to its AudioWorklet when the page is cross-origin isolated. Checked here without a
 * browser: frames come out in order with their header and samples, across the counters' wrap
 * and round the slots many times; a full ring refuses a frame and counts it; a frame being
 * written is never read (step by step, and with a real second thread writing 20 000 frames as
 * fast as it can); whatever a slot's header says, the reader neither reads outside the slot nor
 * lets the buffer (LlBuffer) take a bad frame; played frames' planes are used again, so a steady
 * stream allocates nothing per frame.
 */
import { describe, expect, test } from 'bun:test';
import { LlBuffer, type LlFrame } from '../web/static/ll-buffer.js';
import { LlRingReader, LlRingWriter, RING_READ, RING_SLOT_SAMPLES, RING_WRITE } from '../web/static/ll-ring.js';

/** Frame k of a 5 ms stream: samples k/1000 (left) and −k/1000 (right). */
function frame(k: number, len = 240) {
  return { seq: k, pts: k * len, captureMs: (k * len) / 48, frameSamples: len, planes: [new Float32Array(len).fill(k / 1000), new Float32Array(len).fill(-k / 1000)] };
}

/** What a drain handed on: copies (the planes go back to the pool afterwards). */
interface Seen {
  seq: number;
  pts: number;
  captureMs: number;
  frameSamples: number;
  channels: number;
  arrivalMs: number;
  left: number[];
  right: number[];
}
function collect(into: Seen[], answer = 'duplicate') {
  return (f: LlFrame, arrivalMs: number) => {
    into.push({ seq: f.seq, pts: f.pts, captureMs: f.captureMs, frameSamples: f.frameSamples, channels: f.channels, arrivalMs, left: [...new Set(f.planes[0] ?? [])], right: [...new Set(f.planes[1] ?? [])] });
    return answer;
  };
}

describe('low-latency ring', () => {
  test('frames come out in order, header and samples as written, with their arrival time', () => {
    const w = LlRingWriter.create(8);
    const r = new LlRingReader(w.sab);
    for (let k = 0; k < 5; k++) expect(w.write(frame(k), 1000 + k * 5.25)).toBe(true);
    expect(r.queued).toBe(5);
    const seen: Seen[] = [];
    expect(r.drain(collect(seen))).toBe(5);
    expect(r.queued).toBe(0);
    expect(seen.map((s) => s.seq)).toEqual([0, 1, 2, 3, 4]);
    for (const [k, s] of seen.entries()) {
      expect(s).toEqual({ seq: k, pts: k * 240, captureMs: k * 5, frameSamples: 240, channels: 2, arrivalMs: 1000 + k * 5.25, left: [Math.fround(k / 1000)], right: [Math.fround(-k / 1000) || 0] });
    }
    expect(r.drain(collect(seen))).toBe(0);
  });

  test('mono frames and every Opus frame length up to 60 ms fit a slot', () => {
    const w = LlRingWriter.create(8);
    const r = new LlRingReader(w.sab);
    for (const len of [120, 240, 480, 960, 1920, RING_SLOT_SAMPLES]) {
      const f = frame(7, len);
      expect(w.write({ ...f, planes: [f.planes[0]!] }, 1)).toBe(true);
      const seen: Seen[] = [];
      r.drain(collect(seen));
      expect(seen).toHaveLength(1);
      expect(seen[0]!.frameSamples).toBe(len);
      expect(seen[0]!.channels).toBe(1);
      expect(seen[0]!.left).toEqual([Math.fround(0.007)]);
      expect(seen[0]!.right).toEqual([]);
    }
  });

  test('wraparound: round the slots 250 times and across the counters’ wrap at 2^32, nothing lost or reordered', () => {
    const w = LlRingWriter.create(4);
    const r = new LlRingReader(w.sab);
    // Both counters just short of 2^32 (as Int32: −3): the ring is empty there.
    Atomics.store(w.ctl, RING_WRITE, -3);
    Atomics.store(w.ctl, RING_READ, -3);
    const seen: Seen[] = [];
    let k = 0;
    for (let round = 0; round < 250; round++) {
      // 1 to 4 frames a round: the slots in use move round unevenly.
      const n = 1 + (round % 4);
      for (let i = 0; i < n; i++) expect(w.write(frame(k++), k)).toBe(true);
      r.drain(collect(seen));
    }
    expect(seen.map((s) => s.seq)).toEqual([...Array(k).keys()]);
    for (const s of seen) expect(s.left).toEqual([Math.fround(s.seq / 1000)]);
    // The counters went past 2^32 (from −3 back through 0 and on).
    expect(Atomics.load(w.ctl, RING_WRITE)).toBe(k - 3);
    expect(w.dropped).toBe(0);
  });

  test('a full ring refuses the frame and counts it; the frames already in it are intact, and it takes more once read', () => {
    const w = LlRingWriter.create(4);
    const r = new LlRingReader(w.sab);
    for (let k = 0; k < 4; k++) expect(w.write(frame(k), k)).toBe(true);
    expect(w.write(frame(4), 4)).toBe(false);
    expect(w.claim()).toBe(-1);
    expect(w.dropped).toBe(2);
    const seen: Seen[] = [];
    expect(r.drain(collect(seen))).toBe(4);
    expect(seen.map((s) => [s.seq, s.left[0]])).toEqual([0, 1, 2, 3].map((k) => [k, Math.fround(k / 1000)]));
    expect(w.write(frame(5), 5)).toBe(true);
    r.drain(collect(seen));
    expect(seen.at(-1)!.seq).toBe(5);
    expect(w.dropped).toBe(2);
  });

  test('a frame being written is not read before it is committed, whatever has been written of it', () => {
    const w = LlRingWriter.create(4);
    const r = new LlRingReader(w.sab);
    const seen: Seen[] = [];
    const slot = w.claim();
    w.plane(slot, 0).fill(0.5, 0, 120);
    expect(r.drain(collect(seen))).toBe(0);
    w.plane(slot, 0).fill(0.5, 120, 240);
    w.plane(slot, 1).fill(-0.5, 0, 240);
    expect(r.drain(collect(seen))).toBe(0);
    expect(seen).toHaveLength(0);
    w.commit(slot, 9, 9 * 240, 45, 240, 2, 99);
    expect(r.drain(collect(seen))).toBe(1);
    expect(seen[0]).toMatchObject({ seq: 9, pts: 2160, left: [0.5], right: [-0.5], arrivalMs: 99 });
  });

  test('another thread writing 20 000 frames as fast as it can: every frame read whole, in order, none torn', async () => {
    const w = LlRingWriter.create(8);
    const r = new LlRingReader(w.sab);
    const count = 20_000;
    const len = 240;
    const worker = new Worker(new URL('./lib/ll-ring-producer.ts', import.meta.url).href);
    try {
      const done = new Promise<{ full: number }>((resolve, reject) => {
        worker.onmessage = (ev) => resolve(ev.data);
        worker.onerror = (e) => reject(new Error(e.message));
      });
      worker.postMessage({ sab: w.sab, count, frameSamples: len });
      let next = 0;
      let torn = 0;
      let outOfOrder = 0;
      const check = (f: LlFrame, arrivalMs: number) => {
        const k = next++;
        if (f.seq !== k) outOfOrder++;
        if (f.pts !== k * len || f.captureMs !== k * 5 || arrivalMs !== k + 0.5 || f.frameSamples !== len || f.channels !== 2) torn++;
        const [a, b] = f.planes as [Float32Array, Float32Array];
        for (let i = 0; i < len; i++) if (a[i] !== k || b[i] !== -k) {
          torn++;
          break;
        }
        return 'duplicate';
      };
      const until = Date.now() + 20_000;
      // Read in bursts with pauses between (an audio thread), so that the writer fills the ring too.
      while (next < count && Date.now() < until) {
        r.drain(check);
        if (next % 997 < 8) await Bun.sleep(0);
      }
      const { full } = await done;
      expect(next).toBe(count);
      expect(outOfOrder).toBe(0);
      expect(torn).toBe(0);
      expect(r.corrupt).toBe(0);
      console.log(`ring between two threads: ${count} frames read whole; the writer found the ring full ${full} times`);
    } finally {
      worker.terminate();
    }
  }, 30_000);

  test('hostile slot contents: nothing read outside the slot, the buffer refuses each frame (counted as bad), the ring goes on', () => {
    const w = LlRingWriter.create(16);
    const r = new LlRingReader(w.sab);
    const buf = new LlBuffer({ release: r.release });
    const push = (f: LlFrame, a: number) => buf.push(f, a);
    const hostile: [number, number, number, number, number, number][] = [
      // seq, pts, captureMs, frameSamples, channels, arrivalMs
      [1, 240, 5, 1e9, 2, 1],
      [1, 240, 5, RING_SLOT_SAMPLES + 1, 2, 1],
      [1, 240, 5, -240, 2, 1],
      [1, 240, 5, NaN, 2, 1],
      [1, 240, 5, 100, 2, 1],
      [1, 240, 5, 240, 3, 1],
      [1, 240, 5, 240, 0, 1],
      [1, 240, 5, 240, NaN, 1],
      [-1, 240, 5, 240, 2, 1],
      [2 ** 32, 240, 5, 240, 2, 1],
      [1.5, 240, 5, 240, 2, 1],
      [1, NaN, 5, 240, 2, 1],
      [1, -240, 5, 240, 2, 1],
      [1, 240, Infinity, 240, 2, 1],
      [1, 240, 5, 240, 2, NaN],
    ];
    for (const [seq, pts, cap, n, ch, at] of hostile) {
      const slot = w.claim();
      w.commit(slot, seq, pts, cap, n, ch, at);
    }
    expect(() => r.drain(push)).not.toThrow();
    const s = buf.stats();
    expect(s.bad).toBe(hostile.length);
    expect(s.packets).toBe(0);
    // The frames whose shape was a frame's took planes from the pool and gave them back.
    expect(r.allocated).toBe(1);
    // A good frame after them is taken.
    w.write(frame(1), 2);
    r.drain(push);
    expect(buf.stats().packets).toBe(1);
    expect(buf.stats().bad).toBe(hostile.length);
  });

  test('counters that no writer could leave (more queued than slots): the ring empties itself and goes on', () => {
    const w = LlRingWriter.create(4);
    const r = new LlRingReader(w.sab);
    Atomics.store(w.ctl, RING_WRITE, 1000);
    const seen: Seen[] = [];
    expect(r.drain(collect(seen))).toBe(0);
    expect(r.corrupt).toBe(1);
    expect(r.queued).toBe(0);
    w.write(frame(3), 3);
    expect(r.drain(collect(seen))).toBe(1);
    expect(seen[0]!.seq).toBe(3);
  });

  test('a steady stream through the ring into the buffer: planes are used again, a frame’s planes never handed out twice at once', () => {
    const w = LlRingWriter.create(16);
    const r = new LlRingReader(w.sab);
    const buf = new LlBuffer({ release: r.release });
    const inBuffer = new Set<Float32Array[]>();
    let shared = 0;
    let peak = 0;
    const push = (f: LlFrame, a: number) => {
      if (inBuffer.has(f.planes)) shared++;
      const res = buf.push(f, a);
      if (res === 'ok') inBuffer.add(f.planes);
      peak = Math.max(peak, inBuffer.size);
      return res;
    };
    const release = r.release;
    // Watch what the buffer gives back (then hand it to the pool, as the worklet does).
    (buf as unknown as { release: (p: Float32Array[]) => void }).release = (p) => {
      inBuffer.delete(p);
      release(p);
    };
    const o = [new Float32Array(128), new Float32Array(128)];
    // 20 s: 5 ms frames every 5 ms, a 128-sample quantum every 2.67 ms; a duplicate now and then,
    // a 300 ms stall at 10 s (the buffer conceals, then skips ahead), a restart at 15 s.
    let k = 0;
    for (let t = 0; t < 20_000; t += 128 / 48) {
      while ((k + 1) * 5 <= t) {
        if (!(t > 10_000 && t < 10_300)) {
          w.write(frame(k), t);
          if (k % 50 === 0) w.write(frame(k), t);
        }
        k++;
        if (k === 3000) buf.restart();
      }
      r.drain(push);
      buf.pull(o, 128);
    }
    const s = buf.stats();
    expect(s.packets).toBeGreaterThan(3800);
    expect(s.duplicates).toBeGreaterThan(70);
    expect(shared).toBe(0);
    // As many sets as the buffer held at once (a few; some 60 while it caught up after the
    // stall), not one per frame.
    expect(r.allocated).toBeLessThanOrEqual(peak + 1);
    expect(r.allocated).toBeLessThan(s.packets / 40);
    console.log(`ring into the buffer: ${s.packets} frames, ${r.allocated} plane sets made, the buffer held ${peak} at most`);
    expect(w.dropped).toBe(0);
    // The output is the stream's samples (the last frames played: k/1000 for frame k).
    expect(Math.max(...o[0]!)).toBeGreaterThan(3.9);
  });
});
