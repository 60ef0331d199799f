import { describe, expect, test } from 'bun:test';
import { dominantFrequency, rmsDbfs, sine, snrDb } from '../../test/lib/signal.ts';
import type { EncodedPacket } from './encoder.ts';
import { alawToLinear, G711Encoder, linearToAlaw, linearToUlaw, ulawToLinear } from './g711.ts';
import { G722Encoder } from './g722.ts';

/** Raw payload bytes → float at 48 kHz through ffmpeg's own decoders. */
async function ffmpegDecode(format: 'mulaw' | 'alaw' | 'g722', bytes: Uint8Array): Promise<Float32Array> {
  const input = format === 'g722' ? ['-f', 'g722'] : ['-f', format, '-ar', '8000', '-ac', '1'];
  const proc = Bun.spawn(
    ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', ...input, '-i', 'pipe:0', '-f', 'f32le', '-ac', '1', '-ar', '48000', 'pipe:1'],
    { stdin: new Blob([bytes as BlobPart]), stdout: 'pipe', stderr: 'pipe' },
  );
  const [out, err, code] = await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`ffmpeg: ${err}`);
  return new Float32Array(out);
}

/** Encode interleaved 48 kHz audio in uneven blocks, as the engine would; returns the packets. */
function encodeAll(make: (sink: (p: EncodedPacket) => void) => G711Encoder | G722Encoder, pcm: Float32Array, channels: number) {
  const packets: EncodedPacket[] = [];
  const enc = make((p) => packets.push(p));
  const frames = pcm.length / channels;
  const blocks = [128, 1024, 7, 480, 333];
  let at = 0;
  for (let i = 0; at < frames; i++) {
    const n = Math.min(blocks[i % blocks.length]!, frames - at);
    enc.write(pcm.subarray(at * channels, (at + n) * channels), n, 1000 + at);
    at += n;
  }
  enc.close();
  return packets;
}

const concat = (ps: EncodedPacket[]) => {
  const out = new Uint8Array(ps.reduce((n, p) => n + p.data.length, 0));
  let o = 0;
  for (const p of ps) {
    out.set(p.data, o);
    o += p.data.length;
  }
  return out;
};

const CODECS = [
  { name: 'pcmu', ffmpeg: 'mulaw', make: (s: (p: EncodedPacket) => void) => new G711Encoder('pcmu', { channels: 2, frameMs: 10 }, s), minSnr: 35, alias: 5000 },
  { name: 'pcma', ffmpeg: 'alaw', make: (s: (p: EncodedPacket) => void) => new G711Encoder('pcma', { channels: 2, frameMs: 10 }, s), minSnr: 35, alias: 5000 },
  { name: 'g722', ffmpeg: 'g722', make: (s: (p: EncodedPacket) => void) => new G722Encoder({ channels: 2, frameMs: 10 }, s), minSnr: 40, alias: 10000 },
] as const;

describe.each(CODECS)('$name encoder', ({ name, ffmpeg, make, minSnr, alias }) => {
  test('a 1 kHz tone comes out of ffmpeg at 1 kHz, at its level, clean', async () => {
    const pcm = sine({ frequency: 1000, dbfs: -12, seconds: 1, channels: 2 });
    const packets = encodeAll(make, pcm, 2);
    expect(packets.length).toBe(100);
    for (let i = 0; i < packets.length; i++) {
      expect(packets[i]!.data.length).toBe(80); // 10 ms: 80 bytes for G.711 and for G.722 alike
      expect(packets[i]!.pts).toBe(1000 + i * 480);
      expect(packets[i]!.frames).toBe(480);
    }
    const out = await ffmpegDecode(ffmpeg, concat(packets));
    const steady = out.subarray(4800);
    expect(Math.abs(dominantFrequency(steady) - 1000)).toBeLessThan(1);
    expect(Math.abs(rmsDbfs(steady) - -12)).toBeLessThan(1);
    expect(snrDb(steady, 48000, 1000)).toBeGreaterThan(minSnr);
  });

  test(`a tone above the codec's band (${alias} Hz) is filtered out, not folded back`, async () => {
    const pcm = sine({ frequency: alias, dbfs: -6, seconds: 0.5, channels: 2 });
    const out = await ffmpegDecode(ffmpeg, concat(encodeAll(make, pcm, 2)));
    expect(rmsDbfs(out.subarray(4800))).toBeLessThan(-55);
  });

  test(`stereo is mixed to mono: opposite channels cancel (${name})`, async () => {
    const l = sine({ frequency: 1000, dbfs: -12, seconds: 0.5 });
    const pcm = new Float32Array(l.length * 2);
    for (let i = 0; i < l.length; i++) {
      pcm[2 * i] = l[i]!;
      pcm[2 * i + 1] = -l[i]!;
    }
    const out = await ffmpegDecode(ffmpeg, concat(encodeAll(make, pcm, 2)));
    expect(rmsDbfs(out.subarray(4800))).toBeLessThan(-55);
  });
});

describe('G.711 code tables', () => {
  test('known codes (G.711 tables 1a/2a)', () => {
    expect(linearToUlaw(0)).toBe(0xff);
    expect(linearToUlaw(-1)).toBe(0x7f);
    expect(linearToUlaw(32767)).toBe(0x80);
    expect(linearToUlaw(-32768)).toBe(0x00);
    expect(linearToAlaw(0)).toBe(0xd5);
    expect(linearToAlaw(32767)).toBe(0xaa);
    expect(linearToAlaw(-32768)).toBe(0x2a);
  });

  test('decode(encode(x)) is within half a quantization step, for every 16-bit value', () => {
    for (let x = -32768; x < 32768; x += 7) {
      const u = ulawToLinear(linearToUlaw(x));
      const a = alawToLinear(linearToAlaw(x));
      const clipped = Math.max(-32124, Math.min(32124, x));
      // Segment step sizes double per segment: the error bound grows with the magnitude.
      expect(Math.abs(u - clipped)).toBeLessThanOrEqual(Math.max(4, Math.abs(clipped) / 16 + 4));
      expect(Math.abs(a - Math.max(-32256, Math.min(32256, x)))).toBeLessThanOrEqual(Math.max(8, Math.abs(x) / 32 + 8));
    }
  });

  test('a closed encoder refuses writes', () => {
    const enc = new G711Encoder('pcmu', { channels: 1, frameMs: 10 }, () => {});
    enc.close();
    expect(() => enc.write(new Float32Array(480), 480, 0)).toThrow('closed');
  });
});
