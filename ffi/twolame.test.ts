import { describe, expect, test } from 'bun:test';
import { channel, decodeWithFfmpeg, dominantFrequency, sine, toneDbfs, window } from '../test/lib/signal.ts';
import { MP2_FRAME_SIZE, Mp2Encoder, TwolameConfigError } from './twolame.ts';

describe('libtwolame binding', () => {
  test('a 1 kHz tone at −12 dBFS comes back from ffmpeg at its frequency and level; frames are 3 × kbit/s bytes', async () => {
    const enc = new Mp2Encoder({ channels: 2, bitrateKbps: 256 });
    const pcm = sine({ frequency: 1000, dbfs: -12, seconds: 2, channels: 2 });
    const parts: Uint8Array[] = [];
    for (let i = 0; i + MP2_FRAME_SIZE <= pcm.length / 2; i += MP2_FRAME_SIZE) {
      const out = enc.encode(pcm.subarray(i * 2, (i + MP2_FRAME_SIZE) * 2), MP2_FRAME_SIZE);
      expect(out.length % 768).toBe(0); // 144 × 256000 / 48000
      parts.push(out.slice());
    }
    parts.push(enc.flush().slice());
    enc.close();
    enc.close();
    expect(() => enc.encode(pcm, 1)).toThrow(/closed/);
    const mp2 = Buffer.concat(parts);
    expect(mp2[0]).toBe(0xff);
    expect((mp2[1]! >> 1) & 3).toBe(2); // Layer II
    const out = channel(await decodeWithFfmpeg(mp2, { channels: 2, format: 'mp3' }), 2, 0);
    const mid = window(out, 1, 0.5, 1.5);
    expect(Math.abs(dominantFrequency(mid) - 1000)).toBeLessThan(3);
    expect(Math.abs(toneDbfs(mid, 1000) - -12)).toBeLessThan(1);
  });

  test('settings Layer II does not have are refused by name', () => {
    expect(() => new Mp2Encoder({ channels: 2, bitrateKbps: 200 })).toThrow(TwolameConfigError);
    expect(() => new Mp2Encoder({ channels: 1, bitrateKbps: 256 })).toThrow(/mono/);
    expect(() => new Mp2Encoder({ channels: 3 as 2, bitrateKbps: 256 })).toThrow(/channels/);
    using m = new Mp2Encoder({ channels: 1, bitrateKbps: 128 });
    expect(() => m.encode(new Float32Array(10), 11)).toThrow(/frames/);
  });
});
