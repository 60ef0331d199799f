import { describe, expect, test } from 'bun:test';
import { createEncoder, type EncodedPacket, type EncoderSpec, encoderKey, Mp3StreamEncoder, OpusStreamEncoder } from './index.ts';

const opus: EncoderSpec = {
  codec: 'opus',
  channels: 2,
  bitrateKbps: 96,
  frameMs: 20,
  application: 'audio',
  fec: false,
  dtx: false,
  cbr: false,
  complexity: 8,
};
const mp3: EncoderSpec = { codec: 'mp3', channels: 2, bitrateKbps: 128, mode: 'cbr' };

describe('createEncoder', () => {
  test.each([
    ['opus', opus, OpusStreamEncoder, 960],
    ['mp3 cbr', mp3, Mp3StreamEncoder, 1152],
    ['mp3 vbr', { ...mp3, mode: 'vbr' } as EncoderSpec, Mp3StreamEncoder, 1152],
  ] as const)('%s: the right encoder, producing packets', (_name, spec, cls, frameSize) => {
    const packets: EncodedPacket[] = [];
    const enc = createEncoder(spec, (p) => packets.push(p));
    expect(enc).toBeInstanceOf(cls);
    expect(enc.codec).toBe(spec.codec);
    expect(enc.channels).toBe(2);
    expect(enc.frameSize).toBe(frameSize);
    enc.write(new Float32Array(2 * 48_000), 48_000, 0);
    enc.flush();
    expect(packets.length).toBeGreaterThan(0);
    enc.close();
  });

  test('hard CBR reaches libopus', () => {
    const sizes = new Set<number>();
    const enc = createEncoder({ ...opus, cbr: true, bitrateKbps: 64 }, (p) => sizes.add(p.data.length));
    const noise = Float32Array.from({ length: 2 * 9600 }, (_, i) => Math.sin(i * i * 0.001) * 0.3);
    enc.write(noise, 9600, 0);
    enc.close();
    expect([...sizes]).toEqual([160]); // 64 kbit/s × 20 ms / 8
  });

  test('an invalid spec is refused with the codec library’s error type', () => {
    expect(() => createEncoder({ ...opus, frameMs: 7 as 20 }, () => {})).toThrow(/frameMs/);
    expect(() => createEncoder({ ...opus, complexity: 12 }, () => {})).toThrow(/OPUS_SET_COMPLEXITY: invalid argument/);
    expect(() => createEncoder({ ...mp3, bitrateKbps: 100 }, () => {})).toThrow(/bitrateKbps/);
  });
});

describe('encoderKey', () => {
  test('stable: independent of property order and of extra properties', () => {
    const reordered = Object.fromEntries(Object.entries(opus).reverse()) as EncoderSpec;
    expect(encoderKey(reordered)).toBe(encoderKey(opus));
    expect(encoderKey({ ...mp3, label: 'x' } as EncoderSpec)).toBe(encoderKey(mp3));
    expect(encoderKey(opus)).toBe('opus/2ch/96k/20ms/audio/fec=0/dtx=0/vbr/c8');
    expect(encoderKey(mp3)).toBe('mp3/2ch/128k/cbr');
  });

  test('every field that changes the bytes changes the key', () => {
    const variants: EncoderSpec[] = [
      opus,
      { ...opus, channels: 1 },
      { ...opus, bitrateKbps: 64 },
      { ...opus, frameMs: 10 },
      { ...opus, application: 'voip' },
      { ...opus, fec: true },
      { ...opus, dtx: true },
      { ...opus, cbr: true },
      { ...opus, complexity: 10 },
      mp3,
      { ...mp3, channels: 1 },
      { ...mp3, bitrateKbps: 192 },
      { ...mp3, mode: 'vbr' },
    ];
    expect(new Set(variants.map(encoderKey)).size).toBe(variants.length);
  });
});
