/**
 * The RTP depacketizer and the jitter ring, fed packets directly: in order, reordered, lost,
 * late, another sender, and hostile bytes (garbage, truncated headers, a flood) — counted
 * and dropped, never a throw, the memory the ring's alone.
 */
import { describe, expect, test } from 'bun:test';
import { NetRing } from './ring.ts';
import { parseRtp, RtpDepacketizer } from './rtp.ts';

const CH = 2;
const FRAMES = 48; // 1 ms packets

/** An L24 packet: frame i of the stream holds the value (i % 1000) / 1000 on both channels. */
function l24(seq: number, ts: number, ssrc = 0x1234, frames = FRAMES): Uint8Array {
  const b = new Uint8Array(12 + frames * CH * 3);
  const dv = new DataView(b.buffer);
  b[0] = 0x80;
  b[1] = 97;
  dv.setUint16(2, seq & 0xffff);
  dv.setUint32(4, ts >>> 0);
  dv.setUint32(8, ssrc);
  for (let f = 0; f < frames; f++) {
    const v = Math.round((((ts + f) % 1000) / 1000) * 8388607);
    for (let c = 0; c < CH; c++) {
      const o = 12 + (f * CH + c) * 3;
      b[o] = (v >> 16) & 0xff;
      b[o + 1] = (v >> 8) & 0xff;
      b[o + 2] = v & 0xff;
    }
  }
  return b;
}

function setup() {
  const ring = NetRing.create(48_000, CH);
  const dep = new RtpDepacketizer(ring, { payload: 'l24', channels: CH });
  return { ring, dep };
}

/** Read `n` frames from the reader position; the left channel. */
function take(ring: NetRing, n: number): Float32Array {
  const buf = new Float32Array(n * CH);
  ring.read(buf, n);
  return buf.filter((_, i) => i % CH === 0);
}

describe('RTP receive', () => {
  test('parseRtp refuses what is not RTP, naming why', () => {
    expect(parseRtp(new Uint8Array(5))).toBe('shorter than an RTP header');
    expect(parseRtp(new Uint8Array(12))).toBe('RTP version 0');
    const cc = l24(1, 0);
    cc[0] = 0x8f; // 15 CSRCs in a packet that has none
    expect(parseRtp(cc.subarray(0, 20))).toBe('CSRC list past the end');
    const ext = l24(1, 0).subarray(0, 14);
    ext[0] = 0x90;
    expect(parseRtp(ext)).toBe('extension header past the end');
    const pad = l24(1, 0);
    pad[0] = 0xa0;
    pad[pad.length - 1] = 0;
    expect(parseRtp(pad)).toBe('bad padding');
  });

  test('packets in order fill the ring frame for frame', () => {
    const { ring, dep } = setup();
    for (let i = 0; i < 10; i++) dep.push(l24(i, 1000 + i * FRAMES), 0);
    expect(ring.hi).toBe(10 * FRAMES);
    const x = take(ring, 10 * FRAMES);
    for (let f = 0; f < x.length; f += 37) expect(x[f]!).toBeCloseTo(((1000 + f) % 1000) / 1000, 5);
    expect(dep.stats).toMatchObject({ packets: 10, lost: 0, late: 0, malformed: 0 });
  });

  test('reordered packets land where they belong; a missing one is silence and counted lost', () => {
    const { ring, dep } = setup();
    const order = [0, 2, 1, 3, 5, 4, 7, 8, 9]; // 6 never comes
    for (const i of order) dep.push(l24(i, i * FRAMES), 0);
    const x = take(ring, 10 * FRAMES);
    for (let f = 0; f < 10 * FRAMES; f++) {
      const want = f >= 6 * FRAMES && f < 7 * FRAMES ? 0 : (f % 1000) / 1000;
      expect(x[f]!).toBeCloseTo(want, 5);
    }
    expect(dep.stats.lost).toBe(1);
  });

  test('a packet whose time has been played is late: counted, not written', () => {
    const { ring, dep } = setup();
    dep.push(l24(0, 0), 0);
    dep.push(l24(2, 2 * FRAMES), 0);
    take(ring, 3 * FRAMES); // the reader is past packet 1
    dep.push(l24(1, FRAMES), 0);
    expect(dep.stats.late).toBe(1);
  });

  test('another sender is ignored while the first plays, and takes over once it has been silent 500 ms', () => {
    const { ring, dep } = setup();
    dep.push(l24(0, 0, 1), 0);
    dep.push(l24(0, 0, 2), 100);
    expect(dep.stats.foreign).toBe(1);
    expect(dep.stats.ssrc).toBe(1);
    const base = ring.base;
    dep.push(l24(0, 5000, 2), 700);
    expect(dep.stats.ssrc).toBe(2);
    expect(dep.stats.restarts).toBe(1);
    expect(ring.base).toBe(base + 1); // the reader re-centres on the new stream
  });

  test('the payload is found from the packets when not given: L24, L16, Opus-like', () => {
    const ring = NetRing.create(48_000, CH);
    const dep = new RtpDepacketizer(ring, { channels: CH });
    dep.push(l24(0, 0), 0);
    dep.push(l24(1, FRAMES), 0);
    expect(dep.stats.payload).toBe('l24');
  });

  test('hostile: garbage, truncated and absurd packets and a flood are counted and dropped; nothing throws, memory stays the ring', () => {
    const { ring, dep } = setup();
    let seed = 1;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < 50_000; i++) {
      const n = Math.floor(rnd() * 1500);
      const b = new Uint8Array(n);
      for (let k = 0; k < n; k++) b[k] = Math.floor(rnd() * 256);
      if (i % 3 === 0 && n >= 12) b[0] = 0x80 | (b[0]! & 0x3f); // version 2, the rest random
      expect(() => dep.push(b, i)).not.toThrow();
    }
    // a flood of valid packets with wild timestamps and sequence numbers
    for (let i = 0; i < 20_000; i++) {
      expect(() => dep.push(l24(Math.floor(rnd() * 65536), Math.floor(rnd() * 2 ** 32), 0x1234), 1e6 + i)).not.toThrow();
    }
    const s = dep.stats;
    expect(s.malformed + s.foreign + s.packets).toBeGreaterThan(0);
    expect(s.malformed).toBeGreaterThan(10_000);
    expect(ring.frames).toBe(65536); // fixed at creation
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
  });
});
