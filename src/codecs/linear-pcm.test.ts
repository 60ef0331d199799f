import { describe, expect, test } from 'bun:test';
import { LinearPcmEncoder, toLinear } from './linear-pcm.ts';
import type { EncodedPacket } from './encoder.ts';

describe('L16/L24 (RFC 3551, RFC 3190): big-endian, interleaved', () => {
  test('full scale, zero, clipping', () => {
    expect(toLinear(1, 24)).toBe(8388607);
    expect(toLinear(-1, 24)).toBe(-8388608);
    expect(toLinear(2, 16)).toBe(32767);
    expect(toLinear(-2, 16)).toBe(-32768);
    expect(toLinear(0.5, 16)).toBe(16384);
  });

  test('L24 stereo 1 ms: 48 frames a packet, 288 bytes, the bytes of each sample in network order', () => {
    const out: EncodedPacket[] = [];
    const enc = new LinearPcmEncoder({ bits: 24, channels: 2, frameMs: 1 }, (p) => out.push(p));
    const pcm = new Float32Array(100 * 2);
    pcm[0] = 0.5; // left, frame 0: 0x400000
    pcm[1] = -1 / 8388608; // right, frame 0: -1 = 0xffffff
    enc.write(pcm, 100, 1000);
    expect(out.length).toBe(2);
    expect(out[0]!.data.length).toBe(288);
    expect(out.map((p) => p.pts)).toEqual([1000, 1048]);
    expect(Array.from(out[0]!.data.subarray(0, 6))).toEqual([0x40, 0, 0, 0xff, 0xff, 0xff]);
    expect(out[0]!.data).not.toBe(out[1]!.data); // each packet owns its bytes
    enc.flush(); // 4 frames left, padded with silence
    expect(out.length).toBe(3);
    expect(out[2]!.pts).toBe(1096);
  });

  test('L16 mono 4 ms: 192 samples, 384 bytes', () => {
    const out: EncodedPacket[] = [];
    const enc = new LinearPcmEncoder({ bits: 16, channels: 1, frameMs: 4 }, (p) => out.push(p));
    const pcm = new Float32Array(192).fill(-0.5);
    enc.write(pcm.subarray(0, 100), 100, 0);
    enc.write(pcm.subarray(100), 92, 100);
    expect(out.length).toBe(1);
    expect(out[0]!.data.length).toBe(384);
    expect(Array.from(out[0]!.data.subarray(0, 2))).toEqual([0xc0, 0x00]);
    expect(() => new LinearPcmEncoder({ bits: 16, channels: 1, frameMs: 0.01 }, () => {})).toThrow('not a whole number');
    enc.close();
    expect(() => enc.write(pcm, 1, 192)).toThrow('closed');
  });
});
