import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWithOpusdec, sine } from '../../test/lib/signal.ts';
import { OggOpusMuxer, oggCrc, opusHead, opusTags, parseOggPages } from './ogg.ts';
import { OpusStreamEncoder } from './opus.ts';

const dir = mkdtempSync(join(tmpdir(), 'hark-ogg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(cmd: string[]): Promise<{ code: number; out: string }> {
  const p = Bun.spawn(cmd, { stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out: out + err };
}

/** One second per link of a 440 Hz tone, encoded with `frameMs` frames, muxed with `options`. */
function mux(frameMs: 2.5 | 20, options: { maxPageMs?: number; maxPageBytes?: number } = {}, links = 1, seconds = 1) {
  const pages: Uint8Array[] = [];
  const enc = new OpusStreamEncoder({ channels: 2, application: 'audio', frameMs, bitrateKbps: 128 }, (p) => {
    pages.push(...muxer.writePacket(p.data, p.frames));
  });
  const muxer = new OggOpusMuxer({ channels: 2, preSkip: enc.lookahead, tags: { TITLE: 'link 0' }, serial: 0x1234, ...options });
  const frames = seconds * 48_000;
  const pcm = sine({ frequency: 440, dbfs: -6, seconds, channels: 2 });
  for (let link = 0; link < links; link++) {
    if (link > 0) {
      enc.opus.reset();
      pages.push(...muxer.newChain({ TITLE: `link ${link}` }));
    }
    for (let f = 0; f < frames; f += 480) enc.write(pcm.subarray(f * 2, (f + 480) * 2), 480, link * frames + f);
    enc.flush();
    pages.push(...muxer.end(muxer.granule - enc.lookahead - frames));
  }
  const preSkip = enc.lookahead;
  enc.close();
  return { bytes: Buffer.concat(pages), pages, preSkip, frames };
}

describe('Ogg pages', () => {
  test('CRC: the Ogg polynomial, checked against a page libogg would accept', async () => {
    // Reference value from the polynomial by hand: CRC of a single 0x01 byte is the generator.
    expect(oggCrc(new Uint8Array([1]))).toBe(0x04c11db7);
    const { bytes } = mux(20);
    const pages = parseOggPages(bytes);
    expect(pages.every((p) => p.crcOk)).toBe(true);
    // Corrupt one byte of audio: our parser notices, and so does opusinfo (libogg).
    const bad = Uint8Array.from(bytes);
    bad[pages[0]!.length + pages[1]!.length + 100]! ^= 0xff;
    expect(parseOggPages(bad).filter((p) => !p.crcOk).length).toBe(1);
    const path = join(dir, 'corrupt.opus');
    await Bun.write(path, bad);
    expect((await run(['opusinfo', path])).out).toMatch(/hole in data|corrupt|WARNING/i);
  });

  test('opusinfo accepts the stream without warnings and reads the tags', async () => {
    const path = join(dir, 'clean.opus');
    await Bun.write(path, mux(20).bytes);
    const { code, out } = await run(['opusinfo', path]);
    expect(code).toBe(0);
    expect(out).not.toMatch(/WARNING|ERROR/i);
    expect(out).toContain('Encoded with hark');
    expect(out).toContain('TITLE=link 0');
    expect(out).toContain('Pre-skip: 312');
    expect(out).toContain('Playback length: 0m:01.000s');
  });

  test.each([20, 2.5] as const)('%d ms frames: headers, flags, sequence and granule positions (RFC 7845 §3, §4)', (frameMs) => {
    const { bytes, preSkip, frames } = mux(frameMs);
    const pages = parseOggPages(bytes);
    const [head, tags, ...audio] = pages;
    expect(head!.bos).toBe(true);
    expect(head!.granule).toBe(0);
    expect(head!.segments.map((s) => s.data.length)).toEqual([19]); // OpusHead alone on its page
    expect(tags!.bos).toBe(false);
    expect(tags!.granule).toBe(0);
    expect(new TextDecoder().decode(tags!.segments[0]!.data.subarray(0, 8))).toBe('OpusTags');
    expect(pages.map((p) => p.sequence)).toEqual(pages.map((_, i) => i));
    expect(new Set(pages.map((p) => p.serial))).toEqual(new Set([0x1234]));
    expect(pages.filter((p) => p.eos)).toEqual([pages.at(-1)!]);
    expect(pages.slice(1).some((p) => p.bos || p.continued)).toBe(false);
    // Each audio page's granule = 48 kHz samples of all packets completed so far.
    const frameSize = frameMs * 48;
    let total = 0;
    for (const page of audio.slice(0, -1)) {
      total += page.segments.length * frameSize;
      expect(page.granule).toBe(total);
    }
    // The last page is end-trimmed (RFC 7845 §4.4): exactly pre-skip + the input.
    expect(audio.at(-1)!.granule).toBe(preSkip + frames);
    expect(audio.at(-1)!.granule).toBeLessThan(total + audio.at(-1)!.segments.length * frameSize);
  });

  test('a page at least every 100 ms, and at most 4 KiB, by default; both configurable', () => {
    for (const [frameMs, options, maxMs, maxBytes] of [
      [20, {}, 100, 4096],
      [2.5, {}, 100, 4096],
      [20, { maxPageMs: 40 }, 40, 4096],
      [20, { maxPageBytes: 700 }, 100, 700],
    ] as const) {
      const audio = parseOggPages(mux(frameMs, options).bytes).slice(2);
      let previous = 0;
      for (const page of audio) {
        const dataBytes = page.segments.reduce((n, s) => n + s.data.length, 0);
        expect(dataBytes).toBeLessThanOrEqual(maxBytes);
        if (!page.eos) expect((page.granule - previous) / 48).toBeLessThanOrEqual(maxMs);
        previous = page.granule;
      }
      // And the limit is reached, not undershot by a wide margin.
      const longest = Math.max(...audio.slice(0, -1).map((p, i) => p.granule - (i ? audio[i - 1]!.granule : 0))) / 48;
      const biggest = Math.max(...audio.map((p) => p.length));
      expect(longest >= maxMs - 20 || biggest >= maxBytes - 800).toBe(true);
    }
  });

  test('opusdec decodes exactly the input length (pre-skip and end trimming honoured)', async () => {
    const { bytes, frames } = mux(20, {}, 1, 1.5);
    const path = join(dir, 'length.opus');
    await Bun.write(path, bytes);
    expect((await decodeWithOpusdec(path)).length / 2).toBe(frames);
  });

  test('newChain(): a chained stream with a new serial and new tags, decodable end to end', async () => {
    const { bytes, frames } = mux(20, {}, 3);
    const pages = parseOggPages(bytes);
    const serials = [...new Set(pages.map((p) => p.serial))];
    expect(serials.length).toBe(3);
    for (const serial of serials) {
      const link = pages.filter((p) => p.serial === serial);
      expect(link[0]!.bos).toBe(true);
      expect(link.at(-1)!.eos).toBe(true);
      expect(link.map((p) => p.sequence)).toEqual(link.map((_, i) => i));
    }
    const path = join(dir, 'chain.opus');
    await Bun.write(path, bytes);
    const info = (await run(['opusinfo', path])).out;
    expect(info).not.toMatch(/WARNING|ERROR/i);
    for (const title of ['link 0', 'link 1', 'link 2']) expect(info).toContain(`TITLE=${title}`);
    expect((await decodeWithOpusdec(path)).length / 2).toBe(3 * frames);
  });

  test('headerPages are there for late joiners; writes after end() throw', () => {
    const m = new OggOpusMuxer({ channels: 1, preSkip: 312, tags: { TITLE: 'x' } });
    expect(m.headerPages.length).toBe(2);
    const first = m.writePacket(new Uint8Array(10), 960);
    expect(first.slice(0, 2)).toEqual([...m.headerPages]);
    expect(m.writePacket(new Uint8Array(10), 960)).toEqual([]);
    const last = m.end();
    expect(parseOggPages(Buffer.concat(last)).at(-1)!.eos).toBe(true);
    expect(() => m.writePacket(new Uint8Array(10), 960)).toThrow(/ended/);
  });

  test('a packet larger than one page spans pages with the continued flag and granule -1', () => {
    const m = new OggOpusMuxer({ channels: 2, preSkip: 0, tags: { COMMENT: 'x'.repeat(70_000) } });
    const pages = parseOggPages(Buffer.concat([...m.flush()]));
    // OpusTags of ~70 kB: 255 × 255 = 65025 bytes fit a page, the rest continues.
    expect(pages.length).toBe(3);
    expect(pages[1]!.granule).toBe(-1);
    expect(pages[1]!.segments[0]!.complete).toBe(false);
    expect(pages[2]!.continued).toBe(true);
    expect(pages[2]!.granule).toBe(0);
    const tags = Buffer.concat([pages[1]!.segments[0]!.data, pages[2]!.segments[0]!.data]);
    expect(tags.equals(Buffer.from(opusTags({ COMMENT: 'x'.repeat(70_000) })))).toBe(true);
  });
});

describe('Opus headers (RFC 7845 §5)', () => {
  test('OpusHead fields', () => {
    const h = opusHead(2, 312, 44_100, -3);
    const v = new DataView(h.buffer);
    expect(new TextDecoder().decode(h.subarray(0, 8))).toBe('OpusHead');
    expect([h[8], h[9], v.getUint16(10, true), v.getUint32(12, true), v.getInt16(16, true), h[18]]).toEqual([
      1,
      2,
      312,
      44_100,
      -3 * 256,
      0,
    ]);
    expect(() => opusHead(3, 0)).toThrow(RangeError);
  });

  test('OpusTags: vendor, comment count, UTF-8 comments; bad field names refused', () => {
    const t = opusTags({ TITLE: 'Grüße', ARTIST: ['a', 'b'] });
    const v = new DataView(t.buffer);
    const vendorLen = v.getUint32(8, true);
    expect(new TextDecoder().decode(t.subarray(12, 12 + vendorLen))).toBe('hark');
    let o = 12 + vendorLen;
    const count = v.getUint32(o, true);
    o += 4;
    const comments = [];
    for (let i = 0; i < count; i++) {
      const len = v.getUint32(o, true);
      comments.push(new TextDecoder().decode(t.subarray(o + 4, o + 4 + len)));
      o += 4 + len;
    }
    expect(comments).toEqual(['TITLE=Grüße', 'ARTIST=a', 'ARTIST=b']);
    expect(o).toBe(t.length);
    expect(() => opusTags({ 'A=B': 'x' })).toThrow(RangeError);
  });
});
