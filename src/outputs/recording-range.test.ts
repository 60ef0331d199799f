/**
 * Range planning and stitching on synthetic recordings (MP3 frames that carry their file's
 * number; Ogg/Opus from the muxer): rotations join with nothing lost or doubled (a frame split
 * by the rotation included once), a real pause is skipped and counted, edges are clamped, and
 * the refusals.
 */
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OggOpusMuxer, parseOggPages } from '../codecs/ogg.ts';
import { FLAC_BLOCK_FRAMES, FlacFramer, FlacStreamEncoder, STREAMINFO_AT, flacFileHeader, quantise, streamInfo, streamInfoTotal } from '../codecs/flac.ts';
import { ffmpegInts, flacTest, HAVE_FLAC_TOOL } from '../../test/lib/flac.ts';
import type { RecordingInfo } from './recorder.ts';
import { opusPacketSamples, planRange, rangeStream, RangeRefusal } from './recording-range.ts';

/** One 64 kbit/s 48 kHz MPEG-1 Layer III frame (192 bytes) whose body is `fill`. */
function frame(fill: number): Uint8Array {
  const f = new Uint8Array(192).fill(fill);
  f.set([0xff, 0xfb, 0x54, 0x44]);
  return f;
}

function info(name: string, bytes: number, duration_s: number | null = null): RecordingInfo {
  const m = name.match(/^hark-(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})Z/)!;
  return { name, bytes, started_at: `${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`, modified_at: '', content_type: '', active: false, duration_s, marks: [], cue: null };
}

async function body(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** The fills of the whole frames in an MP3 byte stream. */
function frameFills(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let o = 0; o + 192 <= b.length; o += 192) {
    expect([b[o], b[o + 1], b[o + 2]]).toEqual([0xff, 0xfb, 0x54]);
    out.push(b[o + 10]!);
  }
  expect(b.length % 192).toBe(0);
  return out;
}

describe('planRange and rangeStream (MP3)', () => {
  // 10 s = 416.67 frames of 24 ms: file 1 is 417 frames less 100 bytes (a rotation cuts inside a
  // frame), file 2 starts with those 100 bytes; file 3 comes after a 60 s pause.
  const dir = mkdtempSync(join(tmpdir(), 'hark-range-unit-'));
  const f1 = new Uint8Array(417 * 192);
  for (let i = 0; i < 417; i++) f1.set(frame(1), i * 192);
  const cut = f1.length - 100;
  const f2 = new Uint8Array(100 + 416 * 192);
  f2.set(f1.subarray(cut), 0);
  for (let i = 0; i < 416; i++) f2.set(frame(2), 100 + i * 192);
  const f3 = new Uint8Array(100 * 192);
  for (let i = 0; i < 100; i++) f3.set(frame(3), i * 192);
  const files: [string, Uint8Array][] = [
    ['hark-2026-11-29T10-00-00Z.mp3', f1.subarray(0, cut)],
    ['hark-2026-11-29T10-00-10Z.mp3', f2],
    ['hark-2026-11-29T10-01-20Z.mp3', f3],
  ];
  for (const [n, b] of files) writeFileSync(join(dir, n), b);
  const list = files.map(([n, b]) => info(n, b.length)).reverse();
  const t = (s: string) => Date.parse(`2026-11-29T${s}Z`);

  test('across a rotation: every frame once, the split one included, and the count is the range to the frame', async () => {
    const plan = planRange(dir, list, t('10:00:05'), t('10:00:15'));
    expect(plan.parts.map((p) => p.piece.name)).toEqual(['hark-2026-11-29T10-00-00Z.mp3', 'hark-2026-11-29T10-00-10Z.mp3']);
    expect(plan.gaps).toBe(0);
    const fills = frameFills(await body(rangeStream(plan)));
    expect(Math.abs(fills.length - 10 / 0.024)).toBeLessThanOrEqual(1);
    // The frame split by the rotation (fill 1) is there once, then file 2's.
    const ones = fills.filter((f) => f === 1).length;
    expect(ones + fills.filter((f) => f === 2).length).toBe(fills.length);
    expect(Math.abs(ones - 5 / 0.024)).toBeLessThanOrEqual(1);
  });

  test('a pause in the archive is skipped and counted; the edges are clamped to what was recorded', async () => {
    const plan = planRange(dir, list, t('09:59:00'), t('10:02:00'));
    expect(plan.gaps).toBe(1);
    const fills = frameFills(await body(rangeStream(plan)));
    expect(fills.filter((f) => f === 3)).toHaveLength(100);
    expect(fills.length).toBe(417 + 416 + 100);
  });

  test('refusals: outside the archive (with what it covers), reversed, too long, mixed formats', () => {
    const refusal = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return [(e as RangeRefusal).status, (e as RangeRefusal).message];
      }
      return null;
    };
    expect(refusal(() => planRange(dir, list, t('11:00:00'), t('12:00:00')))).toEqual([
      404,
      'nothing was recorded between 2026-11-29T11:00:00.000Z and 2026-11-29T12:00:00.000Z (the recordings cover 2026-11-29T10:00:00.000Z to 2026-11-29T10:01:22.400Z)',
    ]);
    expect(refusal(() => planRange(dir, [], t('11:00:00'), t('12:00:00')))).toEqual([404, 'nothing was recorded between 2026-11-29T11:00:00.000Z and 2026-11-29T12:00:00.000Z (there are no recordings)']);
    expect(refusal(() => planRange(dir, list, t('10:00:10'), t('10:00:10')))).toEqual([400, 'from must be before to']);
    expect(refusal(() => planRange(dir, list, t('10:00:00'), t('10:00:00') + 86_400_001))).toEqual([400, 'the range is 24.0 hours long; at most 24 hours at a time']);
    // An Ogg/Opus recording after the MP3 ones (the format was changed).
    const m = new OggOpusMuxer({ channels: 2, preSkip: 312 });
    const pages = [...m.flush()];
    for (let i = 0; i < 100; i++) pages.push(...m.writePacket(new Uint8Array([0xfc, 9]), 960));
    pages.push(...m.end());
    const ogg = new Uint8Array(pages.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of pages) ogg.set(p, (at += p.length) - p.length);
    writeFileSync(join(dir, 'hark-2026-11-29T10-01-25Z.opus'), ogg);
    const mixed = [info('hark-2026-11-29T10-01-25Z.opus', ogg.length, 2), ...list];
    expect(refusal(() => planRange(dir, mixed, t('10:01:00'), t('10:02:00')))).toEqual([409, 'the range holds both MP3 and Ogg/Opus recordings (the format was changed); download it in two parts']);  });
});

describe('Ogg/Opus', () => {
  test('sample-exact: the pre-skip and the end trimming cut the range to the sample', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-range-ogg-'));
    const m = new OggOpusMuxer({ channels: 2, preSkip: 312 });
    const pages = [...m.flush()];
    for (let i = 0; i < 500; i++) pages.push(...m.writePacket(new Uint8Array([0xfc, i & 0xff]), 960));
    pages.push(...m.end());
    const ogg = Buffer.concat(pages);
    writeFileSync(join(dir, 'hark-2026-11-29T10-00-00Z.opus'), ogg);
    const from = Date.parse('2026-11-29T10:00:02.0101Z');
    const to = Date.parse('2026-11-29T10:00:07.3333Z');
    const plan = planRange(dir, [info('hark-2026-11-29T10-00-00Z.opus', ogg.length, 10)], from, to);
    const out = await body(rangeStream(plan));
    const parsed = parseOggPages(out);
    const head = parsed[0]!.segments[0]!.data;
    const preSkip = head[10]! | (head[11]! << 8);
    const audio = parsed.flatMap((p) => p.segments.filter((s) => s.complete && s.data[0] === 0xfc).map((s) => s.data));
    const last = parsed.at(-1)!;
    expect(last.eos).toBe(true);
    // Samples a player gives: the final granule less the pre-skip = the range, to the sample.
    expect(last.granule - preSkip).toBe(Math.round((to - from) * 48));
    // The first packet sent is at least the 80 ms of pre-roll before `from`.
    const firstIndex = audio[0]![1]!;
    expect(firstIndex * 960 + preSkip).toBe(Math.round((from - Date.parse('2026-11-29T10:00:00Z')) * 48));
    expect(preSkip).toBeGreaterThanOrEqual(3840);
    // RFC 6716 §3.1: CELT 20 ms, one frame; two frames; SILK 20 ms, code 3 with three frames; code 3 without its count byte.
    expect([[0xfc], [0xfd], [0x0b, 0x03], [0xfb]].map((b) => opusPacketSamples(new Uint8Array(b)))).toEqual([960, 1920, 2880, 0]);
  });
});

describe('long recordings are read a chunk at a time', () => {
  test('an MP3 of 3 MB and an Ogg of 4 MB (1 MB chunks): the parts across chunk boundaries come out whole and exact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-range-long-'));
    const mp3 = new Uint8Array(16_384 * 192);
    for (let i = 0; i < 16_384; i++) mp3.set(frame(i % 200), i * 192);
    writeFileSync(join(dir, 'hark-2026-11-29T10-00-00Z.mp3'), mp3);
    const from = Date.parse('2026-11-29T10:00:30Z');
    const plan = planRange(dir, [info('hark-2026-11-29T10-00-00Z.mp3', mp3.length)], from, from + 300_000);
    const fills = frameFills(await body(rangeStream(plan)));
    expect(Math.abs(fills.length - 300 / 0.024)).toBeLessThanOrEqual(1);
    // In order, none lost or doubled at the 1 MB boundaries.
    for (let i = 1; i < fills.length; i++) expect(fills[i]).toBe((fills[i - 1]! + 1) % 200);

    const m = new OggOpusMuxer({ channels: 2, preSkip: 312 });
    const pages = [...m.flush()];
    for (let i = 0; i < 20_000; i++) pages.push(...m.writePacket(new Uint8Array(200).fill(i & 0xff).fill(0xfc, 0, 1), 960));
    pages.push(...m.end());
    const ogg = Buffer.concat(pages);
    expect(ogg.length).toBeGreaterThan(3 << 20);
    writeFileSync(join(dir, 'hark-2026-11-29T11-00-00Z.opus'), ogg);
    const oFrom = Date.parse('2026-11-29T11:00:10.005Z');
    const oTo = oFrom + 333_333;
    const oPlan = planRange(dir, [info('hark-2026-11-29T11-00-00Z.opus', ogg.length, 400)], oFrom, oTo);
    const parsed = parseOggPages(await body(rangeStream(oPlan)));
    const head = parsed[0]!.segments[0]!.data;
    expect(parsed.at(-1)!.granule - (head[10]! | (head[11]! << 8))).toBe(Math.round((oTo - oFrom) * 48));
    const audio = parsed.flatMap((p) => p.segments.filter((x) => x.complete && x.data[0] === 0xfc).map((x) => x.data[1]!));
    for (let i = 1; i < audio.length; i++) expect(audio[i]).toBe((audio[i - 1]! + 1) & 0xff);
  });
});

describe('FLAC', () => {
  test('across a rotation and a file cut by a crash: whole frames, bit-exact, numbered from 0, STREAMINFO the exact count', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-range-flac-'));
    // 30 s of a 24-bit signal in one encoder, split into two files at frame 200 (a rotation at 10:00:17.066…).
    const packets: { data: Uint8Array; frames: number }[] = [];
    const enc = new FlacStreamEncoder({ channels: 2, bitsPerSample: 24 }, (p) => packets.push(p));
    const total = 30 * 48000;
    const pcm = new Float32Array(total * 2);
    for (let i = 0; i < total; i++) pcm[2 * i] = pcm[2 * i + 1] = Math.round(0.3 * 8_388_607 * Math.sin(i * 0.031) + ((i * 7919) % 2001) - 1000) / 8_388_608;
    for (let at = 0; at < total; at += 960) enc.write(pcm.subarray(at * 2, (at + 960) * 2), 960, at);
    enc.close();
    const write = (name: string, from: number, to: number, finished: boolean) => {
      const framer = new FlacFramer();
      const frames = packets.slice(from, to).map((p) => framer.frame(p.data, p.frames));
      const head = flacFileHeader({ channels: 2, bitsPerSample: 24 }, {}, 4096);
      if (finished) head.set(streamInfo({ channels: 2, bitsPerSample: 24, totalSamples: framer.samples }), STREAMINFO_AT);
      let bytes = Buffer.concat([head, ...frames]);
      // The second file was cut by a crash in the middle of its last frame.
      if (!finished) bytes = bytes.subarray(0, bytes.length - Math.floor(frames.at(-1)!.length / 2));
      writeFileSync(join(dir, name), bytes);
      return { ...info(name, bytes.length), content_type: 'audio/flac' };
    };
    const a = write('hark-2026-11-29T10-00-00Z.flac', 0, 200, true);
    const startB = (200 * FLAC_BLOCK_FRAMES) / 48; // ms into the hour
    const b = write(`hark-2026-11-29T10-00-${String(Math.floor(startB / 1000)).padStart(2, '0')}Z.flac`, 200, packets.length, false);
    const list = [b, a];
    const t = (s: string) => Date.parse(`2026-11-29T10:00:${s}Z`);
    const plan = planRange(dir, list, t('10.000'), t('25.000'));
    expect(plan.format).toBe('flac');
    expect(plan.parts.length).toBe(2);
    expect(plan.parts[1]!.piece.continues).toBe(true);
    expect(plan.gaps).toBe(0);
    expect(plan.filename).toBe('hark-2026-11-29T10-00-10Z--2026-11-29T10-00-25Z.flac');
    const out = await body(rangeStream(plan));
    const path = join(dir, 'range.flac');
    writeFileSync(path, out);
    expect(streamInfoTotal(out.subarray(STREAMINFO_AT, STREAMINFO_AT + 34))).toBe(plan.samples);
    const got = ffmpegInts(path, 24, 2);
    expect(got.length / 2).toBe(plan.samples);
    // From the frame whose middle is the first after 10 s: the signal, sample for sample, across the join.
    const k0 = Math.ceil((10 * 48000 - FLAC_BLOCK_FRAMES / 2) / FLAC_BLOCK_FRAMES);
    let wrong = 0;
    for (let i = 0; i < got.length; i++) if (got[i] !== quantise(pcm[k0 * FLAC_BLOCK_FRAMES * 2 + i]!, 24)) wrong++;
    expect(wrong).toBe(0);
    expect(Math.abs(plan.samples - 15 * 48000)).toBeLessThanOrEqual(FLAC_BLOCK_FRAMES);
    if (HAVE_FLAC_TOOL) expect(flacTest(path).ok).toBe(true);
    // To the end of the archive: the cut frame is left out, the whole ones before it are all there.
    const toEnd = planRange(dir, list, t('20.000'), t('40.000'));
    const tail = await body(rangeStream(toEnd));
    writeFileSync(path, tail);
    expect(ffmpegInts(path, 24, 2).length / 2).toBe(toEnd.samples);
    expect(toEnd.samples % FLAC_BLOCK_FRAMES).toBe(0);
  });
});
