import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlacDecoder, FlacEncoder } from '../../ffi/flac.ts';
import { ffmpegInts, flacTest, flacToolInts, HAVE_FLAC_TOOL } from '../../test/lib/flac.ts';
import type { EncodedPacket } from './encoder.ts';
import { FLAC_BLOCK_FRAMES, FlacFramer, FlacStreamEncoder, OggFlacMuxer, flacFileHeader, parseFrameHeader, quantise, renumberFrame, samplesFromTail, streamInfoTotal, STREAMINFO_AT, type FlacBitDepth } from './flac.ts';
import { parseOggPages } from './ogg.ts';

const dir = mkdtempSync(join(tmpdir(), 'hark-flac-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A signal that uses every bit: a sine plus pseudo-random 24-bit noise, as float32 made from 24-bit integers (exact). */
function signal(frames: number, channels: number): Float32Array {
  const out = new Float32Array(frames * channels);
  let seed = 12345;
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channels; c++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const noise = ((seed >>> 8) & 0xffff) - 0x8000;
      const v = Math.round(0.5 * 8_388_607 * Math.sin((2 * Math.PI * (440 + 220 * c) * f) / 48000)) + noise;
      out[f * channels + c] = v / 8_388_608;
    }
  }
  return out;
}

/** Encode `pcm` through FlacStreamEncoder in blocks of `block` frames (then flush). */
function encode(pcm: Float32Array, channels: number, bits: FlacBitDepth, block = 1000): EncodedPacket[] {
  const packets: EncodedPacket[] = [];
  const enc = new FlacStreamEncoder({ channels, bitsPerSample: bits }, (p) => packets.push(p));
  const frames = pcm.length / channels;
  for (let at = 0; at < frames; at += block) {
    const n = Math.min(block, frames - at);
    enc.write(pcm.subarray(at * channels, (at + n) * channels), n, 1000 + at);
  }
  enc.flush();
  enc.close();
  enc.close();
  expect(() => enc.write(pcm, 1, 0)).toThrow('closed');
  return packets;
}

function expected(pcm: Float32Array, bits: FlacBitDepth, fromFrame: number, channels: number): Int32Array {
  const out = new Int32Array(pcm.length - fromFrame * channels);
  for (let i = 0; i < out.length; i++) out[i] = quantise(pcm[fromFrame * channels + i]!, bits);
  return out;
}

function firstDifference(a: Int32Array, b: Int32Array): string {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `sample ${i}: ${a[i]} and ${b[i]}`;
  return 'none';
}

describe('FLAC bit-exact (native: header + renumbered frames, as the recorder writes a file)', () => {
  for (const [bits, channels] of [
    [16, 1],
    [16, 2],
    [24, 1],
    [24, 2],
  ] as const) {
    test(`${bits}-bit ${channels === 1 ? 'mono' : 'stereo'}: ffmpeg${HAVE_FLAC_TOOL ? ' and flac -d' : ''} give back the quantised input, from a frame in the middle on`, () => {
      const frames = 10 * FLAC_BLOCK_FRAMES + 1234;
      const pcm = signal(frames, channels);
      const packets = encode(pcm, channels, bits);
      // One frame per packet, tiling the input clock; the last one is the short remainder.
      expect(packets.length).toBe(11);
      packets.forEach((p, i) => expect(p.pts).toBe(1000 + i * FLAC_BLOCK_FRAMES));
      expect(packets.at(-1)!.frames).toBe(1234);
      // A file that begins at the third frame (a recording started, or rotated, mid-stream).
      const framer = new FlacFramer();
      const parts = [flacFileHeader({ channels, bitsPerSample: bits }, { ENCODER: 'hark test' }, 1024), ...packets.slice(2).map((p) => framer.frame(p.data, p.frames))];
      const path = join(dir, `t${bits}-${channels}.flac`);
      writeFileSync(path, Buffer.concat(parts));
      const want = expected(pcm, bits, 2 * FLAC_BLOCK_FRAMES, channels);
      const got = ffmpegInts(path, bits, channels);
      expect(firstDifference(got, want)).toBe('none');
      if (HAVE_FLAC_TOOL) {
        const t = flacTest(path);
        expect(t.output).toContain('ok');
        expect(t.ok).toBe(true);
        expect(firstDifference(flacToolInts(path, bits), want)).toBe('none');
      }
      // hark's own decoder (the fallback files) reads it too.
      const d = new FlacDecoder();
      let n = 0;
      d.decode(new Uint8Array(Buffer.concat(parts)), (b) => {
        expect(b.bitsPerSample).toBe(bits);
        n += b.frames;
        return true;
      });
      d.close();
      expect(n).toBe(want.length / channels);
      expect(framer.samples).toBe(want.length / channels);
    });
  }
});

test('quantise: rounds to the nearest, clips at full scale, NaN is 0; a 24-bit value comes back exactly', () => {
  expect(quantise(1, 16)).toBe(32767);
  expect(quantise(-1, 16)).toBe(-32768);
  expect(quantise(-2, 24)).toBe(-8_388_608);
  expect(quantise(Number.NaN, 24)).toBe(0);
  expect(quantise(0.4 / 32768, 16)).toBe(0);
  expect(quantise(0.6 / 32768, 16)).toBe(1);
  for (const v of [1, -1, 8_388_607, -8_388_608, 123_456]) expect(quantise(Math.fround(v / 8_388_608), 24)).toBe(v);
});

test('renumberFrame: the frame number changes, both CRCs check, the audio is untouched', () => {
  const packets = encode(signal(3 * FLAC_BLOCK_FRAMES, 2), 2, 16);
  for (const n of [0, 5, 127, 128, 4095, 70_000, 2 ** 31 - 1]) {
    const f = renumberFrame(packets[1]!.data, n);
    const h = parseFrameHeader(f)!;
    expect(h.number).toBe(n);
    expect(h.blockSize).toBe(FLAC_BLOCK_FRAMES);
  }
  expect(() => renumberFrame(new Uint8Array(20), 1)).toThrow('not a fixed-block-size FLAC frame');
});

test('samplesFromTail: the end of the last whole frame, also in a file cut mid-frame', () => {
  const packets = encode(signal(8 * FLAC_BLOCK_FRAMES, 2), 2, 24);
  const framer = new FlacFramer();
  const file = Buffer.concat([flacFileHeader({ channels: 2, bitsPerSample: 24 }), ...packets.map((p) => framer.frame(p.data, p.frames))]);
  expect(samplesFromTail(new Uint8Array(file))).toBe(8 * FLAC_BLOCK_FRAMES);
  // Cut in the middle of the sixth frame: five whole frames are there.
  const cut = new Uint8Array(file.subarray(0, file.length - packets[7]!.data.length - Math.floor(packets[6]!.data.length / 2)));
  expect(samplesFromTail(cut)).toBe(6 * FLAC_BLOCK_FRAMES);
  // From a tail that holds two whole frames and the cut one (what the recorder reads).
  expect(samplesFromTail(cut.subarray(cut.length - packets[4]!.data.length - packets[5]!.data.length - Math.floor(packets[6]!.data.length / 2) - 10))).toBe(6 * FLAC_BLOCK_FRAMES);
  expect(samplesFromTail(new Uint8Array(1000))).toBe(null);
  // STREAMINFO says 0 (unknown) until the file is finished.
  expect(streamInfoTotal(file.subarray(STREAMINFO_AT, STREAMINFO_AT + 34))).toBe(0);
});

test('Ogg FLAC: two chained links (a title change) decode bit-exact with ffmpeg; pages carry granules, headers per the mapping', () => {
  const channels = 2;
  const pcm = signal(12 * FLAC_BLOCK_FRAMES, channels);
  const packets = encode(pcm, channels, 16);
  const mux = new OggFlacMuxer({ channels, bitsPerSample: 16, tags: { TITLE: 'one' }, serial: 7, maxPageBytes: 65_025 });
  const pages: Uint8Array[] = [];
  packets.slice(1, 6).forEach((p) => pages.push(...mux.writePacket(p.data, p.frames)));
  pages.push(...mux.newChain({ TITLE: 'two' }, { serial: 8 }));
  packets.slice(6).forEach((p) => pages.push(...mux.writePacket(p.data, p.frames)));
  pages.push(...mux.end());
  const bytes = new Uint8Array(Buffer.concat(pages));
  const parsed = parseOggPages(bytes);
  expect(parsed.every((p) => p.crcOk)).toBe(true);
  const first = parsed[0]!.segments[0]!.data;
  expect(new TextDecoder().decode(first.subarray(1, 5))).toBe('FLAC');
  expect(first.length).toBe(51);
  expect(parsed.filter((p) => p.bos).map((p) => p.serial)).toEqual([7, 8]);
  expect(parsed.filter((p) => p.eos).map((p) => p.serial)).toEqual([7, 8]);
  expect(parsed.filter((p) => p.serial === 7).at(-1)!.granule).toBe(5 * FLAC_BLOCK_FRAMES);
  const path = join(dir, 'chain.oga');
  writeFileSync(path, bytes);
  const got = ffmpegInts(path, 16, channels);
  expect(firstDifference(got, expected(pcm, 16, FLAC_BLOCK_FRAMES, channels))).toBe('none');
  if (HAVE_FLAC_TOOL) {
    // The reference decoder reads the first link.
    const one = join(dir, 'one.oga');
    writeFileSync(one, Buffer.concat(pages.slice(0, parsed.findIndex((p) => p.serial === 8))));
    expect(flacTest(one).ok).toBe(true);
  }
});

test("FlacEncoder: libFLAC's own Ogg FLAC and native streams decode; close is idempotent; use after close throws", () => {
  for (const oggSerial of [undefined, 99]) {
    const e = new FlacEncoder({ channels: 1, bitsPerSample: 24, ...(oggSerial ? { oggSerial } : {}) });
    const pcm = new Int32Array(4800);
    for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(4_000_000 * Math.sin(i / 10));
    const parts = [e.header];
    for (let k = 0; k < 10; k++) parts.push(...e.encode(pcm, 4800).map((c) => c.data));
    parts.push(...e.finish().map((c) => c.data));
    e.close();
    e.close();
    expect(() => e.encode(pcm, 10)).toThrow('FlacEncoder is closed');
    const path = join(dir, `lib${oggSerial ?? ''}.${oggSerial ? 'oga' : 'flac'}`);
    writeFileSync(path, Buffer.concat(parts));
    const got = ffmpegInts(path, 24, 1);
    expect(got.length).toBe(48_000);
    expect(firstDifference(got.subarray(0, 4800), pcm)).toBe('none');
  }
  expect(() => new FlacEncoder({ channels: 9, bitsPerSample: 16 })).toThrow('channels');
  expect(() => new FlacEncoder({ channels: 2, bitsPerSample: 20 as 16 })).toThrow('bitsPerSample');
});
