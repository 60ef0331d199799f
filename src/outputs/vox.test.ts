import { describe, expect, test } from 'bun:test';
import { VoxDetector } from './vox.ts';
import { PacketRing, splitMp3 } from './preroll.ts';
import { Mp3StreamEncoder } from '../codecs/mp3.ts';
import type { EncodedPacket } from '../codecs/encoder.ts';

/** 10 ms blocks at 8 kHz (80 samples, 6 bus frames each) of a 1 kHz tone at `dbfs`, or silence. */
function blocks(n: number, dbfs: number | null, from: number, startAt = 0) {
  const amp = dbfs === null ? 0 : 10 ** (dbfs / 20) * Math.SQRT2;
  return Array.from({ length: n }, (_, b) => {
    const s = new Float32Array(80);
    for (let i = 0; i < 80; i++) if (b > 0 || i >= startAt) s[i] = amp * Math.sin((2 * Math.PI * 1000 * (b * 80 + i)) / 8000 + 0.3);
    return { s, pts: from + b * 480 };
  });
}

describe('VOX decides', () => {
  test('start after attack_s above the threshold, with the sample where the sound began; stop after release_s below', () => {
    const d = new VoxDetector({ thresholdDbfs: -40, attackS: 0.5, releaseS: 1 });
    const events: unknown[] = [];
    let pts = 0;
    const feed = (bs: ReturnType<typeof blocks>) => {
      for (const b of bs) {
        const e = d.feed(b.s, b.pts, 6);
        if (e) events.push({ ...e, at: b.pts });
      }
      pts = bs[bs.length - 1]!.pts + 480;
    };
    feed(blocks(100, null, pts));
    // A short burst (0.2 s) does not start it.
    feed(blocks(20, -20, pts));
    feed(blocks(50, null, pts));
    expect(events).toEqual([]);
    // The sound begins 30 samples (8 kHz) into a block: 180 bus frames.
    const onset = pts + 180;
    feed(blocks(1, -20, pts, 30));
    feed(blocks(200, -20, pts));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'start', onsetPts: onset });
    // The start came once the sound had lasted attack_s (0.5 s = 24000 frames), within a block.
    expect((events[0] as { at: number }).at + 480 - onset).toBeGreaterThanOrEqual(24000);
    expect((events[0] as { at: number }).at - onset).toBeLessThan(24000);
    // Quiet for 0.8 s, loud again: still open. Quiet for 1 s: stop.
    feed(blocks(80, -60, pts));
    feed(blocks(10, -20, pts));
    expect(events).toHaveLength(1);
    feed(blocks(150, -60, pts));
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ type: 'stop' });
    expect(d.open).toBe(false);
  });
});

describe('the pre-roll ring', () => {
  test('keeps what it was asked to, and gives the packets from the nearest one to a position on', () => {
    const r = new PacketRing(48000);
    for (let i = 0; i < 200; i++) r.push({ data: new Uint8Array([i]), pts: i * 960, frames: 960 });
    expect(r.seconds).toBeCloseTo(1, 1);
    const got = r.since(199 * 960 - 10_000);
    // 10,000 frames before the last packet's start: the packet whose middle is after it.
    expect(got[0]!.pts).toBe(Math.ceil((199 * 960 - 10_000 - 480) / 960) * 960);
    expect(got[got.length - 1]!.pts).toBe(199 * 960);
  });

  test('MP3 packets joined by the worker are split at their frames', () => {
    // Two 128 kbit/s, 48 kHz frames (384 bytes each): header FF FB 94 00.
    const frame = () => {
      const f = new Uint8Array(384);
      f.set([0xff, 0xfb, 0x94, 0x00]);
      return f;
    };
    const joined = new Uint8Array(768);
    joined.set(frame(), 0);
    joined.set(frame(), 384);
    const parts = splitMp3({ data: joined, pts: 1000, frames: 2304 })!;
    expect(parts.map((p) => [p.pts, p.frames, p.data.length])).toEqual([
      [1000, 1152, 384],
      [2152, 1152, 384],
    ]);
    expect(splitMp3({ data: new Uint8Array([1, 2, 3, 4]), pts: 0, frames: 1 })).toBeNull();
  });

  // What a listener hears: the real encoder, packets joined in batches as the worker sends them
  // (a batch of LAME's output cut anywhere once made the pre-roll up to 190 ms long), decoded by
  // ffmpeg: the sound begins preroll_s into it, within half a frame.
  for (const mode of [{ mode: 'cbr', bitrateKbps: 128 } as const, { mode: 'vbr', vbrQuality: 4 } as const]) {
    test(`an MP3 pre-roll (${mode.mode}) decodes with the sound preroll_s in, to half a frame`, () => {
      for (const onsetOffset of [0, 123, 777]) {
        const packets: EncodedPacket[] = [];
        const enc = new Mp3StreamEncoder({ channels: 2, ...mode }, (p) => packets.push(p));
        const start = 100_000;
        const onset = 3 * 48000 + onsetOffset;
        const block = new Float32Array(480 * 2);
        for (let t = 0; t < 6 * 48000; t += 480) {
          for (let i = 0; i < 480; i++) block[2 * i] = block[2 * i + 1] = t + i >= onset ? 0.25 * Math.sin((2 * Math.PI * 1000 * (t + i)) / 48000) : 0;
          enc.write(block, 480, start + t);
        }
        enc.close();
        const ring = new PacketRing(10 * 48000, true);
        for (let i = 0; i < packets.length; i += 7) {
          const list = packets.slice(i, i + 7);
          const data = new Uint8Array(list.reduce((n, p) => n + p.data.length, 0));
          list.reduce((off, p) => (data.set(p.data, off), off + p.data.length), 0);
          ring.push({ data, pts: list[0]!.pts, frames: list.reduce((n, p) => n + p.frames, 0), framePts: list[0]!.framePts });
        }
        const chosen = ring.since(start + onset - 48000);
        const mp3 = new Uint8Array(chosen.reduce((n, p) => n + p.data.length, 0));
        chosen.reduce((off, p) => (mp3.set(p.data, off), off + p.data.length), 0);
        const r = Bun.spawnSync(['ffmpeg', '-v', 'error', '-f', 'mp3', '-i', 'pipe:0', '-ac', '1', '-f', 'f32le', 'pipe:1'], { stdin: mp3 });
        const pcm = new Float32Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength / 4);
        const at = pcm.findIndex((x) => Math.abs(x) > 0.05) / 48000;
        expect(Math.abs(at - 1), `onset +${onsetOffset}: the sound begins ${at.toFixed(4)} s in`).toBeLessThanOrEqual(0.0125);
      }
    });
  }
});
