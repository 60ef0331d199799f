import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpusDecoder, type OpusFrameMs } from '../../ffi/opus.ts';
import {
  channel,
  decodeWithFfmpeg,
  decodeWithOpusdec,
  dominantFrequency,
  fitSinusoid,
  rmsDbfs,
  sine,
  snrDb,
} from '../../test/lib/signal.ts';
import type { EncodedPacket } from './encoder.ts';
import { OggOpusMuxer, parseOggPages } from './ogg.ts';
import { OpusStreamEncoder } from './opus.ts';

const dir = mkdtempSync(join(tmpdir(), 'hark-opus-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RATE = 48_000;
const SECONDS = 2;
const LEVEL_DBFS = -6;
const KBPS_PER_CHANNEL = 128;

/**
 * Minimum SNR (tone vs. noise + distortion) per frame size at 128 kbit/s per channel, 'audio'
 * application, complexity 10. Measured with libopus 1.3.1 over 440/1000 Hz, mono and stereo,
 * identical through opusdec, ffmpeg and OpusDecoder: 20 ms 50.4–50.8 dB, 10 ms 46.9–53.0 dB,
 * 5 ms 51.0–59.7 dB, 2.5 ms 37.0–47.1 dB (a 2.5 ms CELT frame is a 120-sample MDCT: its side
 * information eats much of the budget and its coarse bands quantise a tone's energy roughly).
 * Thresholds sit ~6 dB below the lowest measurement. A single silenced 2.5 ms block in 2 s
 * caps the SNR at ≈ 29 dB (worse if the phase slips), so these still catch plumbing bugs.
 */
const MIN_SNR_DB: Record<number, number> = { 2.5: 31, 5: 45, 10: 41, 20: 44 };

interface Encoded {
  path: string;
  packets: EncodedPacket[];
  preSkip: number;
  inputFrames: number;
}

/** Encode `pcm` in blocks of `block` frames through OpusStreamEncoder and OggOpusMuxer to a file. */
async function encodeToOgg(pcm: Float32Array, channels: 1 | 2, frameMs: OpusFrameMs, name: string, block = 441): Promise<Encoded> {
  const pages: Uint8Array[] = [];
  const packets: EncodedPacket[] = [];
  const enc = new OpusStreamEncoder(
    { channels, application: 'audio', frameMs, bitrateKbps: KBPS_PER_CHANNEL * channels, complexity: 10 },
    (p) => {
      packets.push(p);
      pages.push(...mux.writePacket(p.data, p.frames));
    },
  );
  const preSkip = enc.lookahead;
  const mux = new OggOpusMuxer({ channels, preSkip, tags: { TITLE: name } });
  const frames = pcm.length / channels;
  // An odd block size so that blocks straddle Opus frames.
  for (let f = 0; f < frames; f += block) {
    const n = Math.min(block, frames - f);
    enc.write(pcm.subarray(f * channels, (f + n) * channels), n, f);
  }
  enc.flush();
  enc.close();
  pages.push(...mux.end(mux.granule - preSkip - frames));
  const path = join(dir, `${name}.opus`);
  await Bun.write(path, new Blob(pages as BlobPart[]));
  return { path, packets, preSkip, inputFrames: frames };
}

/** Decode our Ogg file with OpusDecoder, honouring pre-skip and the end-trimmed granule. */
async function decodeOurselves(path: string, channels: 1 | 2): Promise<Float32Array> {
  const pages = parseOggPages(new Uint8Array(await Bun.file(path).arrayBuffer()));
  const preSkip = new DataView(pages[0]!.segments[0]!.data.buffer, pages[0]!.segments[0]!.data.byteOffset).getUint16(10, true);
  const dec = new OpusDecoder({ channels });
  const out: number[] = [];
  for (const page of pages.slice(2)) for (const s of page.segments) out.push(...dec.decode(s.data));
  dec.close();
  const last = pages.at(-1)!.granule;
  return Float32Array.from(out.slice(preSkip * channels, last * channels));
}

/** What a listener would notice about one channel: pitch, loudness, cleanliness. */
function measure(decoded: Float32Array, channels: number, ch: number, freq: number) {
  const mono = channel(decoded, channels, ch);
  return {
    frequency: dominantFrequency(mono, RATE),
    levelDbfs: rmsDbfs(mono.subarray(RATE / 10)),
    snrDb: snrDb(mono, RATE, freq),
  };
}

describe('tone → OpusStreamEncoder → Ogg → decoders', () => {
  const cases = [1, 2].flatMap((channels) =>
    ([2.5, 5, 10, 20] as const).flatMap((frameMs) => [440, 1000].map((freq) => ({ channels: channels as 1 | 2, frameMs, freq }))),
  );

  test.each(cases)('$channels ch, $frameMs ms, $freq Hz', async ({ channels, frameMs, freq }) => {
    const pcm = sine({ frequency: freq, dbfs: LEVEL_DBFS, seconds: SECONDS, channels });
    const { path, inputFrames } = await encodeToOgg(pcm, channels, frameMs, `tone-${channels}-${frameMs}-${freq}`);
    const decoders = {
      opusdec: await decodeWithOpusdec(path),
      ffmpeg: await decodeWithFfmpeg(path, { channels }),
      OpusDecoder: await decodeOurselves(path, channels),
    };
    const results = [];
    for (const [name, decoded] of Object.entries(decoders)) {
      // opusdec and OpusDecoder honour pre-skip and end trimming exactly; ffmpeg applies pre-skip.
      if (name !== 'ffmpeg') expect({ name, frames: decoded.length / channels }).toEqual({ name, frames: inputFrames });
      for (let ch = 0; ch < channels; ch++) {
        results.push({ name, ch, ...measure(decoded.subarray(0, inputFrames * channels), channels, ch, freq) });
      }
    }
    // One assertion over all decoders and channels, so a failure shows every measurement.
    const bad = results.filter(
      (r) => !(Math.abs(r.frequency - freq) < 2 && Math.abs(r.levelDbfs - LEVEL_DBFS) < 0.5 && r.snrDb > MIN_SNR_DB[frameMs]!),
    );
    expect(bad).toEqual([]);
    // The decoded signal is in phase with the input: the pre-skip is exactly the lookahead.
    const fit = fitSinusoid(channel(decoders.opusdec, channels, 0).subarray(RATE / 10), RATE, freq, false);
    const ref = fitSinusoid(channel(pcm, channels, 0).subarray(RATE / 10), RATE, freq, false);
    expect(Math.abs(Math.atan2(Math.sin(fit.phase - ref.phase), Math.cos(fit.phase - ref.phase)))).toBeLessThan(0.1);
  });
});

describe('OpusStreamEncoder packets', () => {
  test('pts and frames follow the input clock for any block size; data is an owned copy', () => {
    const packets: EncodedPacket[] = [];
    const enc = new OpusStreamEncoder({ channels: 2, application: 'audio', frameMs: 10, bitrateKbps: 96 }, (p) => packets.push(p));
    const pcm = sine({ frequency: 440, dbfs: -12, seconds: 1, channels: 2 });
    const start = 123_456;
    let f = 0;
    for (const block of [1, 7, 480, 479, 1000, 3, 5000]) {
      for (let n = 0; f + block <= 48_000 && n < 3; n++, f += block) enc.write(pcm.subarray(f * 2, (f + block) * 2), block, start + f);
    }
    expect(packets.length).toBe(Math.floor(f / 480));
    packets.forEach((p, i) => {
      expect(p.pts).toBe(start + i * 480);
      expect(p.frames).toBe(480);
    });
    const buffers = new Set(packets.map((p) => p.data.buffer));
    expect(buffers.size).toBe(packets.length);
    expect(packets[0]!.data.byteOffset).toBe(0);
    const firstCopy = packets[0]!.data.slice();
    enc.write(pcm.subarray(0, 960 * 2), 960, start + f);
    expect(packets[0]!.data).toEqual(firstCopy);
    enc.close();
  });

  test('flush pads the partial frame and drains the lookahead', () => {
    const packets: EncodedPacket[] = [];
    const enc = new OpusStreamEncoder({ channels: 1, application: 'audio', frameMs: 2.5, bitrateKbps: 64 }, (p) => packets.push(p));
    enc.write(new Float32Array(100), 100, 0);
    expect(packets.length).toBe(0);
    enc.flush();
    // 100 real + padding ≥ lookahead (312) ⇒ ceil(412 / 120) = 4 packets of 120.
    expect(packets.map((p) => p.pts)).toEqual([0, 120, 240, 360]);
    enc.close();
  });

  test('close() twice is fine; write after close throws', () => {
    const enc = new OpusStreamEncoder({ channels: 1, application: 'voip', frameMs: 20, bitrateKbps: 24 }, () => {});
    enc.close();
    enc.close();
    expect(() => enc.write(new Float32Array(960), 960, 0)).toThrow(/closed/);
    expect(() => enc.flush()).toThrow(/closed/);
  });
});
