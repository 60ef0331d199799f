/**
 * Bad FLAC settings (issue 20, bad input): an unknown recording or stream format, a bit depth
 * FLAC recordings do not offer, the right word in the wrong place — refused from the config
 * file and from the API, naming the key path and what it takes; the running config and its file
 * stay as they were. And damaged FLAC bytes given to hark's own FLAC parsing: no crash.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, ConfigError } from '../src/config/load.ts';
import { FlacFrameReader, parseFrameHeader, readStreamInfo, renumberFrame, samplesFromTail } from '../src/codecs/flac.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';

const ICE = '[[icecast]]\nurl = "http://source:pw@127.0.0.1:8000/live.oga"\n';

/** [what, TOML, key path, reason]. */
const CASES: [string, string, string, string][] = [
  ['a recording format hark does not write', '[recording]\nformat = "wav"\n', 'recording.format', 'must be one of "mp3", "ogg-opus", "flac", got "wav"'],
  ['FLAC in capitals', '[recording]\nformat = "FLAC"\n', 'recording.format', 'must be one of "mp3", "ogg-opus", "flac", got "FLAC"'],
  ['the stream format for a recording', '[recording]\nformat = "ogg-flac"\n', 'recording.format', 'must be one of "mp3", "ogg-opus", "flac", got "ogg-flac"'],
  ['a 20-bit recording', '[recording]\nformat = "flac"\nbit_depth = 20\n', 'recording.bit_depth', 'must be one of 16, 24, got 20'],
  ['a 32-bit recording', '[recording]\nformat = "flac"\nbit_depth = 32\n', 'recording.bit_depth', 'must be one of 16, 24, got 32'],
  ['a bit depth as a string', '[recording]\nformat = "flac"\nbit_depth = "24"\n', 'recording.bit_depth', 'must be one of 16, 24, got "24"'],
  ['a fractional bit depth', '[recording]\nformat = "flac"\nbit_depth = 24.5\n', 'recording.bit_depth', 'must be one of 16, 24, got 24.5'],
  ['the recording format for a stream', `${ICE}format = "flac"\n`, 'icecast.0.format', 'must be one of "mp3", "ogg-opus", "ogg-flac", got "flac"'],
  ['a stream format hark does not send', `${ICE}format = "ogg-vorbis"\n`, 'icecast.0.format', 'must be one of "mp3", "ogg-opus", "ogg-flac", got "ogg-vorbis"'],
  ['a bit depth on a stream', `${ICE}format = "ogg-flac"\nbit_depth = 24\n`, 'icecast.0.bit_depth', ''],
];

describe('the config file refuses bad FLAC settings, naming the key', () => {
  for (const [what, toml, path, reason] of CASES) {
    test(what, () => {
      let err: unknown;
      try {
        parseConfig(toml);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.path).toBe(path);
      if (reason) expect(e.reason).toBe(reason);
    });
  }
  test('the good ones pass: a 16-bit FLAC recording, an ogg-flac stream; bit_depth defaults to 24', () => {
    expect(parseConfig('[recording]\nformat = "flac"\nbit_depth = 16\n').recording).toMatchObject({ format: 'flac', bit_depth: 16 });
    expect(parseConfig('[recording]\nformat = "flac"\n').recording.bit_depth).toBe(24);
    expect(parseConfig(`${ICE}format = "ogg-flac"\n`).icecast[0]!.format).toBe('ogg-flac');
  });
});

describe("hark's FLAC parsing takes any bytes", () => {
  test('random, truncated and crafted frames: null or a clean refusal, never a crash or a hang', () => {
    let seed = 7;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) & 0xff;
    for (let k = 0; k < 300; k++) {
      const b = Uint8Array.from({ length: 1 + (k % 97) * 13 }, rnd);
      // Sync codes sprinkled in, so the header parser gets past its first check.
      for (let i = 0; i + 1 < b.length; i += 17) {
        b[i] = 0xff;
        b[i + 1] = 0xf8;
      }
      expect(() => parseFrameHeader(b)).not.toThrow();
      const n = samplesFromTail(b);
      expect(n === null || (Number.isInteger(n) && n >= 0)).toBe(true);
      try {
        renumberFrame(b, 3);
      } catch (e) {
        expect(e).toBeInstanceOf(RangeError);
      }
    }
    // The range download's frame reader: any bytes, in any chunks; what it keeps stays bounded.
    for (let k = 0; k < 20; k++) {
      const r = new FlacFrameReader();
      let frames = 0;
      for (let c = 0; c < 40; c++) {
        const chunk = Uint8Array.from({ length: 8 + ((k * 7919 + c * 104_729) % 65_536) }, rnd);
        for (let i = 0; i + 1 < chunk.length; i += 31) {
          chunk[i] = 0xff;
          chunk[i + 1] = 0xf8;
        }
        if (k % 2 === 0 && c === 0) chunk.set([0x66, 0x4c, 0x61, 0x43, 0x80, 0, 0, 34]);
        frames += r.feed(chunk).length;
      }
      frames += r.end().length;
      expect(frames).toBeGreaterThanOrEqual(0);
      expect(readStreamInfo(Uint8Array.from({ length: 64 }, rnd))).toBeNull();
    }
    // A coded number claiming 7 bytes, cut short; a header cut after its sync.
    expect(parseFrameHeader(Uint8Array.of(0xff, 0xf8, 0xc9, 0x18, 0xfe, 0x80))).toBeNull();
    expect(parseFrameHeader(Uint8Array.of(0xff, 0xf8))).toBeNull();
  });
});

let hark: HarkProcess;
beforeAll(async () => {
  hark = await startHark('[input]\nsource = "tone"\n');
});
afterAll(async () => {
  await hark?.stop();
});

describe('the API refuses the same, and nothing changes', () => {
  test('PUT /api/config (TOML) and PATCH /api/config: 422 with the key path; the file stays', async () => {
    const file = join(hark.dir, 'hark.toml');
    const before = readFileSync(file, 'utf8');
    for (const [what, toml, path] of CASES) {
      const put = await fetch(`${hark.url}/api/config`, { method: 'PUT', headers: { 'content-type': 'application/toml' }, body: `[input]\nsource = "tone"\n${toml}` });
      const body = (await put.json()) as { error: string; field?: string };
      if (put.status !== 422) throw new Error(`${what}: ${put.status} ${JSON.stringify(body)}`);
      expect(body.field ?? body.error).toContain(path);
    }
    for (const [key, value, message] of [
      ['recording.bit_depth', 20, 'recording.bit_depth: must be one of 16, 24, got 20'],
      ['recording.format', 'wav', 'recording.format: must be one of "mp3", "ogg-opus", "flac", got "wav"'],
    ] as const) {
      const patch = await fetch(`${hark.url}/api/config`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ [key]: value }) });
      expect(patch.status).toBe(422);
      expect((await patch.json()).error).toContain(message);
    }
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect((await fetch(`${hark.url}/api/status`)).status).toBe(200);
  }, 60_000);
});
