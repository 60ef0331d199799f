import { afterAll, beforeAll, expect, test } from 'bun:test';
import { AudioPipeline, MAX_DELAY_MS } from './pipeline.ts';
import type { EncoderSpec } from '../codecs/index.ts';

// The real worker with the test tone: how packets reach the main thread.
const MP3: EncoderSpec = { codec: 'mp3', channels: 2, bitrateKbps: 128, mode: 'cbr' };
const OPUS: EncoderSpec = { codec: 'opus', channels: 2, bitrateKbps: 96, frameMs: 10, application: 'audio', fec: false, dtx: false, cbr: false, complexity: 5 };

let pipeline: AudioPipeline;
beforeAll(async () => {
  pipeline = new AudioPipeline({ source: 'tone', device: '', channels: 2, latencyFrames: 128, relaxedLatencyFrames: 1024, tone: { frequency: 440, levelDbfs: -12 } });
  await pipeline.start();
});
afterAll(() => pipeline.close());

interface Arrival {
  at: number;
  pts: number;
  frames: number;
  bytes: number;
}

function collect(spec: EncoderSpec, opts: { maxDelayMs?: number }) {
  const got: Arrival[] = [];
  const stop = pipeline.subscribe(spec, (p) => got.push({ at: performance.now(), pts: p.pts, frames: p.frames, bytes: p.data.byteLength }), opts);
  return { got, stop };
}

/** Deliveries after the first (which may come early), as gaps between them in ms. */
const gaps = (a: Arrival[]) => a.slice(2).map((x, i) => x.at - a[i + 1]!.at);
const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]!;

test('relay subscribers only (Icecast, recording): MP3 arrives about every 250 ms, joined, tiling the clock without gaps', async () => {
  const mp3 = collect(MP3, { maxDelayMs: MAX_DELAY_MS.relay });
  await Bun.sleep(3000);
  mp3.stop();
  expect(pipeline.wakeMs()).toBe(250);
  const g = gaps(mp3.got);
  // 12 deliveries in 3 s, less the first two (which may come early) and one of slack.
  expect(g.length).toBeGreaterThanOrEqual(7);
  expect(median(g)).toBeGreaterThan(200);
  expect(median(g)).toBeLessThan(300);
  // Several 1152-frame MP3 frames per delivery, and the input spans tile the clock.
  expect(median(mp3.got.map((a) => a.frames))).toBeGreaterThanOrEqual(2 * 1152);
  for (let i = 1; i < mp3.got.length; i++) expect(mp3.got[i]!.pts).toBe(mp3.got[i - 1]!.pts + mp3.got[i - 1]!.frames);
  // 128 kbit/s is 16 kB/s (within 10 %: LAME's look-ahead shifts bytes against input frames).
  const bytes = mp3.got.reduce((s, a) => s + a.bytes, 0);
  const secs = mp3.got.reduce((s, a) => s + a.frames, 0) / 48000;
  expect(Math.abs(bytes / secs / 16000 - 1)).toBeLessThan(0.1);
});

test('a listener (/stream.mp3) makes the worker wake every 100 ms; when it leaves, back to 250 ms', async () => {
  const relay = collect(MP3, { maxDelayMs: MAX_DELAY_MS.relay });
  const listener = collect(MP3, { maxDelayMs: MAX_DELAY_MS.listener });
  await Bun.sleep(1500);
  expect(pipeline.wakeMs()).toBe(100);
  listener.stop();
  expect(pipeline.wakeMs()).toBe(250);
  const g = gaps(relay.got);
  expect(median(g)).toBeGreaterThan(70);
  expect(median(g)).toBeLessThan(130);
  // A meter someone watches holds the worker at 100 ms the same way.
  const release = pipeline.need(MAX_DELAY_MS.listener);
  expect(pipeline.wakeMs()).toBe(100);
  release();
  release();
  expect(pipeline.wakeMs()).toBe(250);
  relay.stop();
});

test('a prompt subscriber (WebRTC) gets every 10 ms Opus packet on its own, promptly; MP3 then comes as often', async () => {
  const mp3 = collect(MP3, { maxDelayMs: MAX_DELAY_MS.relay });
  const opus = collect(OPUS, {});
  await Bun.sleep(1500);
  opus.stop();
  mp3.stop();
  expect(opus.got.length).toBeGreaterThan(100);
  for (const a of opus.got) expect(a.frames).toBe(480);
  for (let i = 1; i < opus.got.length; i++) expect(opus.got[i]!.pts).toBe(opus.got[i - 1]!.pts + 480);
  // The worker wakes per block of the source (the tone's 20 ms), not per 100 ms.
  expect(Math.max(...gaps(opus.got))).toBeLessThan(60);
  expect(median(gaps(mp3.got))).toBeLessThan(60);
});

test('when the prompt subscriber leaves, the worker goes back to 250 ms batches', async () => {
  const opus = collect(OPUS, {});
  await Bun.sleep(300);
  expect(pipeline.wakeMs()).toBe(0);
  opus.stop();
  const mp3 = collect(MP3, { maxDelayMs: MAX_DELAY_MS.relay });
  await Bun.sleep(2500);
  mp3.stop();
  expect(median(gaps(mp3.got))).toBeGreaterThan(200);
});

test('a consumer that needs audio sooner does not wait out the worker\'s 250 ms sleep: first packet within 100 ms', async () => {
  const relay = collect(MP3, { maxDelayMs: MAX_DELAY_MS.relay });
  await Bun.sleep(600);
  const firsts: number[] = [];
  for (let i = 0; i < 6; i++) {
    // At a different point of the worker's 250 ms sleep each time.
    await Bun.sleep(90 + 37 * i);
    const t0 = performance.now();
    let first = 0;
    const stop = pipeline.subscribe(OPUS, () => (first ||= performance.now()), {});
    for (let k = 0; k < 100 && !first; k++) await Bun.sleep(5);
    stop();
    firsts.push(first - t0);
  }
  relay.stop();
  console.log(`[pipeline] first Opus packet after subscribing (ms): ${firsts.map((x) => x.toFixed(0)).join(' ')}`);
  // The encoder starts on a message the worker reads once awake; the tone's blocks are 20 ms.
  expect(Math.max(...firsts)).toBeLessThan(100);
});
