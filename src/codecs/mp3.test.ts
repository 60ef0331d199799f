import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { channel, decodeWithFfmpeg, dominantFrequency, fitSinusoid, rmsDbfs, sine, snrDb, wav16 } from '../../test/lib/signal.ts';
import type { EncodedPacket } from './encoder.ts';
import { MP3_DECODER_DELAY, Mp3StreamEncoder } from './mp3.ts';

const dir = mkdtempSync(join(tmpdir(), 'hark-mp3-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RATE = 48_000;
const SECONDS = 2;
const LEVEL_DBFS = -6;

/**
 * Minimum SNR (tone vs. noise + distortion) through LAME 3.100 and ffmpeg's decoder, measured
 * over these cases: CBR 192 kbit/s 80.8–89.2 dB; VBR -V2 53.9–85.4 dB (VBR spends only what
 * the psychoacoustic model says is audible: a loud tone masks noise ~50 dB below it). The
 * thresholds sit ≥ 9 dB under the lowest measurement; one 1152-sample granule silenced in 2 s
 * would cost far more (SNR ≈ 19 dB; worse if the phase slips).
 */
const MIN_SNR_DB = { cbr: 70, vbr: 45 };

type Mode = { mode: 'cbr'; bitrateKbps: number } | { mode: 'vbr'; vbrQuality: number };

function encode(pcm: Float32Array, channels: 1 | 2, mode: Mode, block = 500): { mp3: Uint8Array; packets: EncodedPacket[] } {
  const packets: EncodedPacket[] = [];
  const enc = new Mp3StreamEncoder({ channels, ...mode }, (p) => packets.push(p));
  const frames = pcm.length / channels;
  for (let f = 0; f < frames; f += block) {
    const n = Math.min(block, frames - f);
    enc.write(pcm.subarray(f * channels, (f + n) * channels), n, f);
  }
  enc.flush();
  enc.close();
  return { mp3: Buffer.concat(packets.map((p) => p.data)), packets };
}

describe('tone → Mp3StreamEncoder → ffmpeg', () => {
  // 192 kbit/s: at 128–160 kbit/s LAME (the lame CLI identically) reproduces a pure tone
  // 0.45 dB low, too close to the 0.5 dB a listener-level check allows. See the CLI test below.
  const modes: [string, Mode][] = [
    ['CBR 192', { mode: 'cbr', bitrateKbps: 192 }],
    ['VBR -V2', { mode: 'vbr', vbrQuality: 2 }],
  ];
  const cases = [1, 2].flatMap((channels) =>
    modes.flatMap(([name, mode]) => [440, 1000].map((freq) => ({ channels: channels as 1 | 2, name, mode, freq }))),
  );

  test.each(cases)('$channels ch, $name, $freq Hz', async ({ channels, mode, freq }) => {
    const pcm = sine({ frequency: freq, dbfs: LEVEL_DBFS, seconds: SECONDS, channels });
    const { mp3 } = encode(pcm, channels, mode);
    const decoded = await decodeWithFfmpeg(mp3, { channels, format: 'mp3' });
    // No Xing/LAME tag, so nothing tells the decoder to drop LAME's delay; the tone just starts late.
    expect(decoded.length / channels).toBeGreaterThanOrEqual(pcm.length / channels);
    const results = [];
    for (let ch = 0; ch < channels; ch++) {
      const mono = channel(decoded, channels, ch).subarray(0, SECONDS * RATE);
      results.push({
        ch,
        frequency: dominantFrequency(mono),
        levelDbfs: rmsDbfs(mono.subarray(RATE / 10)),
        snrDb: snrDb(mono, RATE, freq),
      });
    }
    const bad = results.filter(
      (r) => !(Math.abs(r.frequency - freq) < 2 && Math.abs(r.levelDbfs - LEVEL_DBFS) < 0.5 && r.snrDb > MIN_SNR_DB[mode.mode]),
    );
    expect(bad).toEqual([]);
  });

  test('at 128 kbit/s the level matches the lame CLI encoding the same tone', async () => {
    const pcm = sine({ frequency: 440, dbfs: LEVEL_DBFS, seconds: SECONDS, channels: 2 });
    const ours = channel(await decodeWithFfmpeg(encode(pcm, 2, { mode: 'cbr', bitrateKbps: 128 }).mp3, { format: 'mp3', channels: 2 }), 2, 0);
    const wav = join(dir, 'tone.wav');
    const cliMp3 = join(dir, 'cli.mp3');
    await Bun.write(wav, wav16(pcm, 2));
    const proc = Bun.spawn(['lame', '--silent', '-b', '128', '-q', '5', wav, cliMp3]);
    expect(await proc.exited).toBe(0);
    const cli = channel(await decodeWithFfmpeg(cliMp3, { channels: 2 }), 2, 0);
    const level = (x: Float32Array) => 20 * Math.log10(fitSinusoid(x.subarray(RATE / 5, RATE * 1.8), RATE, 440).amplitude);
    expect(Math.abs(level(ours) - level(cli))).toBeLessThan(0.1);
    // LAME's own result at 128 kbit/s: 0.44 dB low on a pure tone.
    expect(Math.abs(rmsDbfs(ours.subarray(RATE / 5, RATE * 1.8)) - LEVEL_DBFS)).toBeLessThan(0.6);
  });
});

describe('Mp3StreamEncoder packets', () => {
  test('pts follows the input granules; frames add up to the input; data is an owned copy', () => {
    const pcm = sine({ frequency: 440, dbfs: -12, seconds: 1, channels: 2 });
    const start = 1_000_000;
    const packets: EncodedPacket[] = [];
    const enc = new Mp3StreamEncoder({ channels: 2, mode: 'cbr', bitrateKbps: 128 }, (p) => packets.push(p));
    for (let f = 0; f < 48_000; f += 333) {
      const n = Math.min(333, 48_000 - f);
      enc.write(pcm.subarray(f * 2, (f + n) * 2), n, start + f);
    }
    enc.flush();
    // Packets tile the input clock: each starts where the previous one's input ended.
    expect(packets[0]!.pts).toBe(start);
    for (let i = 1; i < packets.length; i++) expect(packets[i]!.pts).toBe(packets[i - 1]!.pts + packets[i - 1]!.frames);
    expect(packets.reduce((n, p) => n + p.frames, 0)).toBe(48_000);
    // LAME's look-ahead: the first granules release no whole frame, so the first packet spans three.
    expect(packets[0]!.frames).toBe(3 * 1152);
    expect(new Set(packets.map((p) => p.data.buffer)).size).toBe(packets.length);
    // Every packet but the flushed last is whole MP3 frames (384 bytes at 128 kb/s), and says
    // where its first frame's sound is: 1152 on per frame, LAME's and the decoder's delays behind
    // the input.
    let frame = 0;
    for (const p of packets.slice(0, -1)) {
      expect(p.data.length % 384).toBe(0);
      expect(p.data[0]).toBe(0xff);
      expect(p.framePts).toBe(start + frame * 1152 - enc.encoderDelay - MP3_DECODER_DELAY);
      frame += p.data.length / 384;
    }
  });

  test('close() twice is fine; write after close or flush throws', () => {
    const enc = new Mp3StreamEncoder({ channels: 1, mode: 'cbr', bitrateKbps: 64 }, () => {});
    enc.write(new Float32Array(2000), 2000, 0);
    enc.flush();
    expect(() => enc.write(new Float32Array(1152), 1152, 2000)).toThrow(/flushed/);
    enc.close();
    enc.close();
    expect(() => enc.write(new Float32Array(1152), 1152, 0)).toThrow(/closed/);
  });
});
