import { describe, expect, test } from 'bun:test';
import { sine } from '../test/lib/signal.ts';
import { LameConfigError, LameError, lameVersion, MP3_FRAME_SIZE, Mp3Encoder, type Mp3EncoderOptions, vbrQualityForBitrate } from './lame.ts';
import { MP3_BITRATES_KBPS } from '../src/config/mp3-bitrates.ts';

const base: Mp3EncoderOptions = { channels: 2, mode: 'cbr', bitrateKbps: 128 };

/** Encode one second of a tone, block by block, and flush. */
function encodeTone(options: Mp3EncoderOptions): Uint8Array {
  const enc = new Mp3Encoder(options);
  const pcm = sine({ frequency: 440, dbfs: -6, seconds: 1, channels: options.channels });
  const parts: Uint8Array[] = [];
  for (let f = 0; f < 48_000; f += MP3_FRAME_SIZE) {
    const n = Math.min(MP3_FRAME_SIZE, 48_000 - f);
    parts.push(enc.encode(pcm.subarray(f * options.channels), n).slice());
  }
  parts.push(enc.flush().slice());
  enc.close();
  return Buffer.concat(parts);
}

/** Byte offsets of MPEG-1 Layer III frame headers, following each header's frame length. */
function frameOffsets(mp3: Uint8Array): { offset: number; kbps: number }[] {
  const kbpsTable = [0, ...MP3_BITRATES_KBPS];
  const out = [];
  let o = 0;
  while (o + 4 <= mp3.length) {
    // ISO/IEC 11172-3 §2.4.2.3: sync 0xFFF, ID 1, layer '01' (III); 48 kHz is sampling index 1.
    if (mp3[o] !== 0xff || (mp3[o + 1]! & 0xfe) !== 0xfa) throw new Error(`no frame header at ${o}`);
    const kbps = kbpsTable[mp3[o + 2]! >> 4]!;
    const padding = (mp3[o + 2]! >> 1) & 1;
    out.push({ offset: o, kbps });
    o += Math.floor((144 * kbps * 1000) / 48_000) + padding;
  }
  return out;
}

describe('Mp3Encoder', () => {
  test('LAME is loaded', () => {
    expect(lameVersion()).toMatch(/^3\.\d+/);
  });

  test.each([1, 2] as const)('CBR %i ch: a clean stream of 128 kbit/s frames, no Xing/LAME or ID3 tag', (channels) => {
    const mp3 = encodeTone({ ...base, channels });
    const frames = frameOffsets(mp3);
    // 1 s of input + encoder delay, in 1152-sample frames.
    expect(frames.length).toBeGreaterThanOrEqual(Math.ceil(48_000 / 1152));
    expect(new Set(frames.map((f) => f.kbps))).toEqual(new Set([128]));
    // The lame CLI's first frame is a Xing/Info header frame ("Info" for CBR); ours is audio.
    const firstFrame = new TextDecoder('latin1').decode(mp3.subarray(0, frames[1]!.offset));
    expect(/Xing|Info/.test(firstFrame)).toBe(false);
    expect(new TextDecoder('latin1').decode(mp3.subarray(0, 3))).not.toBe('ID3');
    expect(new TextDecoder('latin1').decode(mp3.subarray(-128, -125))).not.toBe('TAG');
  });

  test('VBR varies the frame bitrate', () => {
    const frames = frameOffsets(encodeTone({ channels: 2, mode: 'vbr', vbrQuality: 2 }));
    expect(new Set(frames.map((f) => f.kbps)).size).toBeGreaterThan(1);
  });

  test('VBR with a ceiling stays under it', () => {
    const frames = frameOffsets(encodeTone({ channels: 2, mode: 'vbr', vbrQuality: 0, bitrateKbps: 160 }));
    expect(Math.max(...frames.map((f) => f.kbps))).toBeLessThanOrEqual(160);
  });

  test('encode() returns a view of the preallocated buffer, often empty', () => {
    using enc = new Mp3Encoder(base);
    const first = enc.encode(new Float32Array(2 * 100), 100);
    expect(first.length).toBe(0); // LAME holds input until it has whole frames plus look-ahead
    const bytes = enc.encode(new Float32Array(2 * 1152), 1152);
    expect(bytes.buffer).toBe(enc.output.buffer);
    // Worst case per lame.h: 1.25 × samples + 7200.
    expect(enc.output.length).toBe(Math.ceil(1.25 * 1152) + 7200);
  });

  test('vbrQualityForBitrate picks the nearest -V preset', () => {
    expect(vbrQualityForBitrate(245)).toBe(0);
    expect(vbrQualityForBitrate(192)).toBe(2);
    expect(vbrQualityForBitrate(128)).toBe(5);
    expect(vbrQualityForBitrate(32)).toBe(9);
  });
});

describe('Mp3Encoder settings', () => {
  test('channels 3 → LameError from lame_set_num_channels', () => {
    try {
      new Mp3Encoder({ ...base, channels: 3 as 2 });
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(LameError);
      expect((e as LameError).operation).toBe('lame_set_num_channels');
      expect((e as LameError).code).toBe(-1);
    }
  });

  test.each([
    ['bitrate 100', { bitrateKbps: 100 }, 'bitrateKbps'],
    ['no CBR bitrate', { bitrateKbps: undefined }, 'bitrateKbps'],
    ['quality 10', { quality: 10 }, 'quality'],
    ['vbrQuality -1', { mode: 'vbr', vbrQuality: -1 }, 'vbrQuality'],
    ['sampleRate 44100', { sampleRate: 44100 }, 'sampleRate'],
    ['mode abr', { mode: 'abr' }, 'mode'],
  ])('%s → LameConfigError', (_name, bad, setting) => {
    try {
      new Mp3Encoder({ ...base, ...bad } as Mp3EncoderOptions);
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(LameConfigError);
      expect((e as LameConfigError).setting).toBe(setting);
    }
  });

  test('frames beyond maxFrames or the buffer → LameConfigError', () => {
    using enc = new Mp3Encoder(base);
    expect(() => enc.encode(new Float32Array(2 * 2000), 2000)).toThrow(LameConfigError);
    expect(() => enc.encode(new Float32Array(10), 100)).toThrow(LameConfigError);
  });
});

describe('Mp3Encoder lifecycle', () => {
  test('close() twice is fine; use after close throws LameError', () => {
    const enc = new Mp3Encoder(base);
    enc.close();
    enc[Symbol.dispose]();
    expect(enc.closed).toBe(true);
    expect(() => enc.encode(new Float32Array(2304), 1152)).toThrow(/closed/);
    expect(() => enc.flush()).toThrow(LameError);
    expect(() => enc.encoderDelay).toThrow(LameError);
  });

  test('flush() ends the stream: encode after it throws', () => {
    using enc = new Mp3Encoder(base);
    enc.encode(new Float32Array(2304), 1152);
    expect(enc.flush().length).toBeGreaterThan(0);
    expect(() => enc.encode(new Float32Array(2304), 1152)).toThrow(/flushed/);
  });
});
