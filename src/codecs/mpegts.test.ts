import { describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpusDecoder } from '../../ffi/opus.ts';
import { channel, decodeWithFfmpeg, dominantFrequency, sine, toneDbfs, window } from '../../test/lib/signal.ts';
import { createEncoder, type EncodedPacket, type EncoderSpec } from './index.ts';
import { S302mPacker, TS_PACKET, TsDemuxer, TsMuxer, crc32mpeg, decodeS302m, srtMessages, type TsAccessUnit, type TsPayload } from './mpegts.ts';

const dir = mkdtempSync(join(tmpdir(), 'mpegts-'));
const TONE = 1000;

function encodePackets(spec: EncoderSpec, pcm: Float32Array, channels: number): EncodedPacket[] {
  const out: EncodedPacket[] = [];
  const enc = createEncoder(spec, (p) => out.push({ ...p, data: p.data.slice() }));
  const block = 480;
  for (let i = 0; i + block <= pcm.length / channels; i += block) enc.write(pcm.subarray(i * channels, (i + block) * channels), block, i);
  enc.flush();
  enc.close();
  return out;
}

/** MPEG-1 Layer II frames (ffmpeg's mp2 encoder), split at their headers. */
function mp2Frames(seconds: number): Uint8Array[] {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `sine=frequency=${TONE}:sample_rate=48000:duration=${seconds}`, '-ac', '2', '-c:a', 'mp2', '-b:a', '256k', '-f', 'mp2', 'pipe:1'], { maxBuffer: 1 << 26 });
  const b = new Uint8Array(r.stdout);
  const frames: Uint8Array[] = [];
  // Layer II, 48 kHz, no padding: 144 × bitrate / 48000 bytes.
  const size = (144 * 256_000) / 48_000;
  for (let i = 0; i + size <= b.length; i += size) {
    expect(b[i]).toBe(0xff);
    frames.push(b.subarray(i, i + size));
  }
  return frames;
}

/** Access units for a payload, each with its 48 kHz pts: 2 s of a 1 kHz tone at −12 dBFS, stereo. */
function accessUnits(payload: TsPayload, seconds = 2): { data: Uint8Array; pts: number }[] {
  const pcm = sine({ frequency: TONE, dbfs: -12, seconds, channels: 2 });
  switch (payload) {
    case 'opus':
      return encodePackets({ codec: 'opus', channels: 2, bitrateKbps: 256, frameMs: 20, application: 'audio', fec: false, dtx: false, cbr: false, complexity: 5 }, pcm, 2);
    case 'mp3':
      return encodePackets({ codec: 'mp3', channels: 2, bitrateKbps: 256, mode: 'cbr' }, pcm, 2).filter((p) => p.data.length > 0);
    case 'mp2':
      return mp2Frames(seconds).map((data, i) => ({ data, pts: i * 1152 }));
    case 's302m': {
      const packer = new S302mPacker(2);
      const out: { data: Uint8Array; pts: number }[] = [];
      for (let i = 0; i + 240 <= pcm.length / 2; i += 240) out.push({ data: packer.pack(pcm.subarray(i * 2, (i + 240) * 2), 240), pts: i });
      return out;
    }
  }
}

function muxAll(payload: TsPayload, aus: { data: Uint8Array; pts: number }[], channels = 2): Uint8Array {
  const mux = new TsMuxer({ payload, channels });
  const parts = aus.map((a) => mux.mux(a.data, a.pts));
  return Buffer.concat(parts);
}

function ffprobe(path: string): { codec_name: string; channels: number; sample_rate: string } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', path], { encoding: 'utf8' });
  return JSON.parse(r.stdout).streams[0];
}

describe('MPEG-TS muxer', () => {
  test('CRC32/MPEG-2 check value (Annex A)', () => {
    expect(crc32mpeg(new TextEncoder().encode('123456789'))).toBe(0x0376e6e7);
  });

  const cases: [TsPayload, string][] = [
    ['opus', 'opus'],
    ['mp3', 'mp3'],
    ['mp2', 'mp2'],
    ['s302m', 's302m'],
  ];
  for (const [payload, codecName] of cases) {
    test(`${payload}: ffprobe names the codec and ffmpeg decodes the 1 kHz tone at its level`, async () => {
      const ts = muxAll(payload, accessUnits(payload));
      expect(ts.length % TS_PACKET).toBe(0);
      for (let i = 0; i < ts.length; i += TS_PACKET) expect(ts[i]).toBe(0x47);
      const path = join(dir, `${payload}.ts`);
      writeFileSync(path, ts);
      const s = ffprobe(path);
      expect(s.codec_name).toBe(codecName);
      expect(s.channels).toBe(2);
      expect(s.sample_rate).toBe('48000');
      const pcm = channel(await decodeWithFfmpeg(path, { channels: 2 }), 2, 0);
      const mid = window(pcm, 1, 0.5, 1.5);
      expect(Math.abs(dominantFrequency(mid) - TONE)).toBeLessThan(5);
      // The MP2 frames come from ffmpeg's own sine source: its level is what ffmpeg decodes from them raw.
      const level = payload === 'mp2' ? toneDbfs(window(channel(await decodeWithFfmpeg(Buffer.concat(mp2Frames(2)), { channels: 2, format: 'mp3' }), 2, 0), 1, 0.5, 1.5), TONE) : -12;
      expect(Math.abs(toneDbfs(mid, TONE) - level)).toBeLessThan(1);
      // Continuity: ffmpeg reads every second of it.
      expect(pcm.length / 48_000).toBeGreaterThan(1.8);
    });
  }

  test('PAT/PMT come first and again within 100 ms; the PCR within 40 ms; SRT messages are ≤ 7 packets', () => {
    const ts = muxAll('opus', accessUnits('opus', 1));
    const pids: number[] = [];
    const pcrAt: number[] = [];
    for (let i = 0; i < ts.length; i += TS_PACKET) {
      const pid = ((ts[i + 1]! & 0x1f) << 8) | ts[i + 2]!;
      pids.push(pid);
      if (ts[i + 3]! & 0x20 && ts[i + 4]! > 0 && ts[i + 5]! & 0x10) pcrAt.push(i / TS_PACKET);
    }
    expect(pids.slice(0, 2)).toEqual([0, 0x1000]);
    expect(pids.filter((p) => p === 0).length).toBeGreaterThanOrEqual(10); // 1 s / 100 ms
    expect(pcrAt.length).toBeGreaterThanOrEqual(25); // every other 20 ms packet
    const msgs = srtMessages(ts);
    expect(msgs.every((m) => m.length <= 1316 && m.length % 188 === 0)).toBe(true);
    expect(msgs.slice(0, -1).every((m) => m.length === 1316)).toBe(true);
  });

  test('S302M packs and unpacks 24-bit samples exactly; mono goes out as a pair', () => {
    const pcm = new Float32Array([0.5, -0.5, 1, -1, 0.25, 0.125, 1 / 8388607, -3 / 8388607]);
    const a = decodeS302m(new S302mPacker(2).pack(pcm, 4))!;
    expect(a.channels).toBe(2);
    expect(a.bits).toBe(24);
    expect(a.frames).toBe(4);
    for (let i = 0; i < pcm.length; i++) expect(Math.abs(a.pcm[i]! - pcm[i]!)).toBeLessThan(1.5 / 8388608);
    const m = decodeS302m(new S302mPacker(1).pack(new Float32Array([0.5, 0.25]), 2))!;
    expect(m.channels).toBe(2);
    expect(Array.from(m.pcm).map((x) => Math.round(x * 1000) / 1000)).toEqual([0.5, 0.5, 0.25, 0.25]);
  });
});

function ffmpegTs(codecArgs: string[], seconds = 2): Uint8Array {
  const r = spawnSync(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `sine=frequency=${TONE}:sample_rate=48000:duration=${seconds}`, '-ac', '2', ...codecArgs, '-f', 'mpegts', 'pipe:1'],
    { maxBuffer: 1 << 26 },
  );
  expect(r.status).toBe(0);
  return new Uint8Array(r.stdout);
}

function demuxAll(ts: Uint8Array, chunk = 1316): { aus: TsAccessUnit[]; d: TsDemuxer } {
  const aus: TsAccessUnit[] = [];
  const d = new TsDemuxer((au) => aus.push(au));
  for (let i = 0; i < ts.length; i += chunk) d.push(ts.subarray(i, i + chunk));
  return { aus, d };
}

describe('MPEG-TS demuxer reads what ffmpeg writes', () => {
  test('after reset() (a new link), another codec on the same PID with the same PMT version is read as what its PMT says', () => {
    const aus: TsAccessUnit[] = [];
    const d = new TsDemuxer((au) => aus.push(au));
    const pcm = ffmpegTs(['-c:a', 's302m', '-strict', '-2']);
    for (let i = 0; i < pcm.length; i += 1316) d.push(pcm.subarray(i, i + 1316));
    expect(d.stream?.codec).toBe('s302m');
    d.reset();
    aus.length = 0;
    const mp2 = ffmpegTs(['-c:a', 'mp2', '-b:a', '256k']);
    for (let i = 0; i < mp2.length; i += 1316) d.push(mp2.subarray(i, i + 1316));
    expect(d.stream?.codec).toBe('mpeg-audio');
    expect(aus.length).toBeGreaterThan(5);
    expect(aus.every((a) => a.stream.codec === 'mpeg-audio')).toBe(true);
  });

  test('Opus (libopus, 20 ms): packets decode to the tone', () => {
    const { aus, d } = demuxAll(ffmpegTs(['-c:a', 'libopus', '-b:a', '128k']), 1000);
    expect(d.stream).toMatchObject({ codec: 'opus', channels: 2 });
    expect(aus.length).toBeGreaterThanOrEqual(95);
    expect(d.stats.ccErrors + d.stats.crcErrors + d.stats.pesErrors + d.stats.auErrors).toBe(0);
    const dec = new OpusDecoder({ channels: 2 });
    const out: number[] = [];
    for (const au of aus) for (const [i, x] of dec.decode(au.data).entries()) if (i % 2 === 0) out.push(x);
    dec.close();
    const pcm = new Float32Array(out);
    expect(Math.abs(dominantFrequency(window(pcm, 1, 0.5, 1.5)) - TONE)).toBeLessThan(5);
    // PTS advance by 20 ms (1800 ticks) per packet.
    expect(aus[5]!.pts! - aus[4]!.pts!).toBe(1800);
  });

  for (const [name, args] of [
    ['MP3', ['-c:a', 'libmp3lame', '-b:a', '192k']],
    ['MP2', ['-c:a', 'mp2', '-b:a', '256k']],
  ] as const) {
    test(`${name}: the stream is MPEG audio and its payload is whole frames`, () => {
      const { aus, d } = demuxAll(ffmpegTs([...args]), 777);
      expect(d.stream?.codec).toBe('mpeg-audio');
      expect(aus.length).toBeGreaterThan(5);
      const bytes = Buffer.concat(aus.map((a) => a.data));
      expect(bytes[0]).toBe(0xff);
      const layer = (bytes[1]! >> 1) & 3;
      expect(layer).toBe(name === 'MP3' ? 1 : 2);
      expect(d.stats.ccErrors + d.stats.pesErrors).toBe(0);
    });
  }

  test('S302M: decoded samples carry the tone', () => {
    const { aus, d } = demuxAll(ffmpegTs(['-c:a', 's302m', '-strict', '-2']));
    expect(d.stream?.codec).toBe('s302m');
    const parts = aus.map((a) => decodeS302m(a.data)!);
    expect(parts.every((p) => p && p.channels === 2)).toBe(true);
    const pcm = new Float32Array(parts.flatMap((p) => Array.from(p.pcm).filter((_, i) => i % 2 === 0)));
    expect(pcm.length).toBeGreaterThan(48_000 * 1.8);
    expect(Math.abs(dominantFrequency(window(pcm, 1, 0.5, 1.5)) - TONE)).toBeLessThan(5);
  });

  test('our muxer round-trips through our demuxer, byte for byte, across odd chunk sizes', () => {
    const units = accessUnits('opus', 1);
    const ts = muxAll('opus', units);
    const { aus, d } = demuxAll(ts, 333);
    expect(aus.map((a) => Buffer.from(a.data).toString('hex'))).toEqual(units.map((u) => Buffer.from(u.data).toString('hex')));
    expect(d.stats.syncLossBytes).toBe(0);
  });
});

describe('MPEG-TS demuxer: hostile input is counted and dropped', () => {
  const good = () => muxAll('s302m', accessUnits('s302m', 0.5));

  test('garbage: no throw, sync loss counted, nothing emitted, memory bounded', () => {
    const { aus, d } = demuxAll(new Uint8Array(200_000).map(() => (Math.random() * 256) | 0));
    expect(aus.length).toBe(0);
    expect(d.stats.syncLossBytes).toBeGreaterThan(150_000);
    // All sync bytes at every 188: packets of nonsense.
    const fake = new Uint8Array(188 * 2000).map((_, i) => (i % 188 === 0 ? 0x47 : (Math.random() * 256) | 0));
    expect(() => demuxAll(fake)).not.toThrow();
  });

  test('a bad CRC in the PAT/PMT is counted and the stream is not taken', () => {
    const ts = good();
    ts[188 + 20] ^= 0xff; // inside the PMT section
    for (let i = 0; i < ts.length; i += 188) {
      const pid = ((ts[i + 1]! & 0x1f) << 8) | ts[i + 2]!;
      if (pid === 0x1000) ts[i + 20] ^= 0x55;
    }
    const { aus, d } = demuxAll(ts);
    expect(d.stats.crcErrors).toBeGreaterThan(0);
    expect(aus.length).toBe(0);
    expect(d.stream).toBeNull();
  });

  test('a lost packet (wrong CC) drops that PES only', () => {
    const ts = good();
    const units = demuxAll(ts).aus.length;
    // Remove one audio packet in the middle of a PES (not the first of one).
    let cut = -1;
    for (let i = 188 * 20; i < ts.length; i += 188) {
      const pid = ((ts[i + 1]! & 0x1f) << 8) | ts[i + 2]!;
      if (pid === 0x100 && !(ts[i + 1]! & 0x40)) {
        cut = i;
        break;
      }
    }
    const lossy = Buffer.concat([ts.subarray(0, cut), ts.subarray(cut + 188)]);
    const { aus, d } = demuxAll(lossy);
    expect(d.stats.ccErrors).toBe(1);
    expect(aus.length).toBe(units - 1);
    expect(aus.every((a) => decodeS302m(a.data) !== null)).toBe(true);
  });

  test('truncated stream and PES: no throw; a cut-off tail is kept for the next push only', () => {
    const ts = good();
    for (const n of [1, 100, 187, 189, 1000, ts.length - 50]) expect(() => demuxAll(ts.subarray(0, n))).not.toThrow();
    // A PES whose declared length runs past its packets, then a new PES: counted as an error.
    const mux = new TsMuxer({ payload: 's302m', channels: 2 });
    const au = new S302mPacker(2).pack(new Float32Array(2 * 960), 960);
    const one = mux.mux(au, 0);
    const two = mux.mux(au, 960);
    const lossyPes = Buffer.concat([one.subarray(0, one.length - 188), two]);
    const { d } = demuxAll(lossyPes);
    expect(d.stats.ccErrors + d.stats.pesErrors).toBeGreaterThan(0);
  });

  test('oversized PES (no length, never ending) is dropped at the cap', () => {
    const ts = good();
    const { d } = demuxAll(ts.subarray(0, 188 * 5));
    expect(d.stream?.codec).toBe('s302m');
    const pkt = new Uint8Array(188).fill(0);
    pkt.set([0x47, 0x41, 0x00, 0x10, 0, 0, 1, 0xbd, 0, 0, 0x80, 0, 0]);
    d.push(pkt);
    let cc = 0;
    for (let i = 0; i < 3000; i++) {
      const p = new Uint8Array(188);
      p.set([0x47, 0x01, 0x00, 0x10 | (++cc & 0xf)]);
      d.push(p);
    }
    expect(d.stats.pesErrors).toBeGreaterThanOrEqual(1);
  });
});
