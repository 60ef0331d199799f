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

/**
 * What a subscriber saw, grouped by worker wake: the packets of one wake come in one message and
 * are delivered in one task, so a microtask queued by the first of them runs after the last.
 * Every assertion below counts audio frames and packets per wake: behaviour, not wall-clock
 * speed (how promptly packets arrive is measured in bench/pipeline-wake.ts, against a bare
 * worker in the same run).
 */
interface Arrival {
  /** Index of the worker wake (delivery task) that carried it. */
  wake: number;
  pts: number;
  frames: number;
  bytes: number;
}

function collect(spec: EncoderSpec, opts: { maxDelayMs?: number }) {
  const got: Arrival[] = [];
  let wake = 0;
  let open = false;
  const stop = pipeline.subscribe(
    spec,
    (p) => {
      if (!open) {
        open = true;
        queueMicrotask(() => {
          open = false;
          wake++;
        });
      }
      got.push({ wake, pts: p.pts, frames: p.frames, bytes: p.data.byteLength });
    },
    opts,
  );
  /** Per wake after the first two (which may come early or be cut by the subscription): [packets, frames]. */
  const perWake = () => {
    const by = new Map<number, { packets: number; frames: number }>();
    for (const a of got) {
      const w = by.get(a.wake) ?? { packets: 0, frames: 0 };
      w.packets++;
      w.frames += a.frames;
      by.set(a.wake, w);
    }
    return [...by.values()].slice(2);
  };
  return { got, stop, perWake };
}

const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]!;
/** Input frames the worker waits for per wake at this max delay (48 kHz). */
const wakeFrames = (ms: number) => (48000 * ms) / 1000;
const MP3_FRAME = 1152;

/** Wait (bounded) until a subscriber has seen `n` wakes after its first two. */
async function wakes(c: ReturnType<typeof collect>, n: number, maxMs = 30_000): Promise<void> {
  for (const end = performance.now() + maxMs; c.perWake().length < n && performance.now() < end; ) await Bun.sleep(20);
  expect(c.perWake().length).toBeGreaterThanOrEqual(n);
}

test('relay subscribers only (Icecast, recording): MP3 comes one wake per 250 ms of audio, joined, tiling the clock without gaps', async () => {
  const mp3 = collect(MP3, { maxDelayMs: MAX_DELAY_MS.relay });
  await wakes(mp3, 8);
  mp3.stop();
  expect(pipeline.wakeMs()).toBe(250);
  // One message per wake, and every wake carries at least 250 ms of input (12000 frames:
  // whole 1152-frame MP3 frames, so at least 10 of them) — never a wake per source block.
  const w = mp3.perWake();
  for (const x of w) expect(x.packets).toBe(1);
  expect(Math.min(...w.map((x) => x.frames))).toBeGreaterThanOrEqual(Math.floor(wakeFrames(250) / MP3_FRAME) * MP3_FRAME);
  // …and not much more: the median wake is well short of two periods' worth (a wake that
  // waited for 100 ms or 500 ms of audio would show here).
  expect(median(w.map((x) => x.frames))).toBeLessThan(2 * wakeFrames(250));
  // Several 1152-frame MP3 frames per delivery, and the input spans tile the clock.
  expect(median(mp3.got.map((a) => a.frames))).toBeGreaterThanOrEqual(2 * 1152);
  for (let i = 1; i < mp3.got.length; i++) expect(mp3.got[i]!.pts).toBe(mp3.got[i - 1]!.pts + mp3.got[i - 1]!.frames);
  // 128 kbit/s is 16 kB/s (within 10 %: LAME's look-ahead shifts bytes against input frames).
  const bytes = mp3.got.reduce((s, a) => s + a.bytes, 0);
  const secs = mp3.got.reduce((s, a) => s + a.frames, 0) / 48000;
  expect(Math.abs(bytes / secs / 16000 - 1)).toBeLessThan(0.1);
});

test('a listener (/stream.mp3) makes the worker wake every 100 ms of audio; when it leaves, back to 250 ms', async () => {
  const relay = collect(MP3, { maxDelayMs: MAX_DELAY_MS.relay });
  const listener = collect(MP3, { maxDelayMs: MAX_DELAY_MS.listener });
  await wakes(relay, 8);
  expect(pipeline.wakeMs()).toBe(100);
  listener.stop();
  expect(pipeline.wakeMs()).toBe(250);
  // 100 ms is 4800 frames: at least 4 MP3 frames a wake, and far fewer than a 250 ms wake's 10.
  const w = relay.perWake().map((x) => x.frames);
  expect(Math.min(...w)).toBeGreaterThanOrEqual(Math.floor(wakeFrames(100) / MP3_FRAME) * MP3_FRAME);
  expect(median(w)).toBeLessThan(Math.floor(wakeFrames(250) / MP3_FRAME) * MP3_FRAME);
  // A meter someone watches holds the worker at 100 ms the same way.
  const release = pipeline.need(MAX_DELAY_MS.listener);
  expect(pipeline.wakeMs()).toBe(100);
  release();
  release();
  expect(pipeline.wakeMs()).toBe(250);
  relay.stop();
});

test('a prompt subscriber (WebRTC) gets every 10 ms Opus packet, the worker waking once per packet; MP3 then comes as often', async () => {
  const mp3 = collect(MP3, { maxDelayMs: MAX_DELAY_MS.relay });
  const opus = collect(OPUS, {});
  await wakes(opus, 40);
  opus.stop();
  mp3.stop();
  expect(opus.got.length).toBeGreaterThanOrEqual(40);
  for (const a of opus.got) expect(a.frames).toBe(480);
  for (let i = 1; i < opus.got.length; i++) expect(opus.got[i]!.pts).toBe(opus.got[i - 1]!.pts + 480);
  // The worker wakes when the next packet is complete (engine.framesToNextPacket): one packet
  // a wake, not a source block's worth nor 100 ms (ten packets a wake).
  expect(median(opus.perWake().map((x) => x.packets))).toBe(1);
  // MP3 rides the same wakes: its deliveries span less than 100 ms of input (4800 frames).
  expect(median(mp3.got.slice(2).map((a) => a.frames))).toBeLessThan(wakeFrames(100));
});

test('when the prompt subscriber leaves, the worker goes back to 250 ms batches', async () => {
  const opus = collect(OPUS, {});
  await wakes(opus, 5);
  expect(pipeline.wakeMs()).toBe(0);
  opus.stop();
  const mp3 = collect(MP3, { maxDelayMs: MAX_DELAY_MS.relay });
  await wakes(mp3, 6);
  mp3.stop();
  expect(median(mp3.perWake().map((x) => x.frames))).toBeGreaterThanOrEqual(Math.floor(wakeFrames(250) / MP3_FRAME) * MP3_FRAME);
});

test('a consumer that needs audio sooner does not wait out the worker\'s 250 ms sleep: its first packet is from before the next relay wake', async () => {
  // Subscribe right after a relay wake, when the worker has just gone to sleep for 250 ms of
  // audio (12000 frames). Woken at once (the urgent flag), it starts the Opus encoder at the
  // audio position of now; had it slept on, the encoder would start 12000 frames or more after
  // the relay's last delivery. Measured in the tone's frames, so a slow machine only narrows
  // the margin (how many ms it takes is bench/pipeline-wake.ts).
  const leads: number[] = [];
  for (let i = 0; i < 6; i++) {
    const { promise, resolve } = Promise.withResolvers<{ relayEnd: number; firstPts: number }>();
    let relayEnd = -1;
    let deliveries = 0;
    let stopOpus: (() => void) | undefined;
    const stopRelay = pipeline.subscribe(
      MP3,
      (p) => {
        // Skip the first delivery (whatever the worker was doing when the encoder started);
        // at the second, a scheduled wake has just happened: subscribe at once.
        if (++deliveries < 2 || stopOpus) return;
        relayEnd = p.pts + p.frames;
        stopOpus = pipeline.subscribe(OPUS, (o) => resolve({ relayEnd, firstPts: o.pts }), {});
      },
      { maxDelayMs: MAX_DELAY_MS.relay },
    );
    const got = await Promise.race([promise, Bun.sleep(30_000).then(() => undefined)]);
    stopOpus?.();
    stopRelay();
    expect(got).toBeDefined();
    leads.push(got!.firstPts - got!.relayEnd);
  }
  console.log(`[pipeline] first Opus packet's position after the relay's last delivery (frames): ${leads.join(' ')}`);
  for (const l of leads) expect(l).toBeLessThan(wakeFrames(MAX_DELAY_MS.relay));
});
