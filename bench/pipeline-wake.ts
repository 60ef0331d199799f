/**
 * How promptly the audio worker delivers: the wake intervals for each kind of consumer
 * (src/audio/pipeline.ts MAX_DELAY_MS: relay 250 ms, listener 100 ms, prompt per source block)
 * and how soon a consumer that needs audio sooner gets its first packet while the worker
 * sleeps (the urgent flag). These were wall-clock checks in src/audio/pipeline.test.ts, which
 * failed whenever the machine was loaded; the test now asserts the behaviour (audio frames per
 * wake, first packet before the next scheduled wake) and the time is measured here.
 *
 * Peer, in the same run: a bare worker (bench/lib/bare-wake-worker.ts) that only sleeps on a
 * shared cell for the same period, or until notified (then one source block more), and posts one message — the floor the
 * runtime and the kernel give on this machine at this load. "hark ÷ bare" near 1 means the
 * pipeline adds nothing to the wake itself.
 *
 *   bun bench/pipeline-wake.ts [seconds per phase]
 */
import { loadavg } from 'node:os';
import { AudioPipeline, MAX_DELAY_MS } from '../src/audio/pipeline.ts';
import type { EncoderSpec } from '../src/codecs/index.ts';
import { forceLogLevel } from '../src/log.ts';
import { appendResults } from './lib.ts';
import type { BareWakeInit } from './lib/bare-wake-worker.ts';

const secs = Number(process.argv[2] ?? 4);
forceLogLevel('warn');

const MP3: EncoderSpec = { codec: 'mp3', channels: 2, bitrateKbps: 128, mode: 'cbr' };
const OPUS: EncoderSpec = { codec: 'opus', channels: 2, bitrateKbps: 96, frameMs: 10, application: 'audio', fec: false, dtx: false, cbr: false, complexity: 5 };

const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)] ?? NaN;
const p95 = (v: number[]) => [...v].sort((x, y) => x - y)[Math.min(v.length - 1, Math.floor(v.length * 0.95))] ?? NaN;
const max = (v: number[]) => Math.max(...v);
/** Gaps between deliveries (ms), after the first two (which may come early). */
const gaps = (t: number[]) => t.slice(2).map((x, i) => x - t[i + 1]!);

// ---- hark's pipeline, on its test tone (20 ms blocks)
const pipeline = new AudioPipeline({ source: 'tone', device: '', channels: 2, latencyFrames: 128, relaxedLatencyFrames: 1024, tone: { frequency: 440, levelDbfs: -12 } });
await pipeline.start();

/** Times of each worker wake's delivery to this consumer (one message per wake). */
async function harkIntervals(spec: EncoderSpec, maxDelayMs: number): Promise<number[]> {
  const at: number[] = [];
  let open = false;
  const stop = pipeline.subscribe(
    spec,
    () => {
      if (open) return; // the same wake's next packet
      open = true;
      at.push(performance.now());
      queueMicrotask(() => (open = false));
    },
    { maxDelayMs },
  );
  await Bun.sleep(secs * 1000);
  stop();
  await Bun.sleep(300);
  return gaps(at);
}

/** ms from subscribing a prompt consumer (mid-way through a relay sleep) to its first packet. */
async function harkFirstPacket(n: number): Promise<number[]> {
  const relay = pipeline.subscribe(MP3, () => {}, { maxDelayMs: MAX_DELAY_MS.relay });
  await Bun.sleep(600);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    await Bun.sleep(90 + 37 * (i % 6)); // a different point of the 250 ms sleep each time
    const t0 = performance.now();
    const { promise, resolve } = Promise.withResolvers<number>();
    const stop = pipeline.subscribe(OPUS, () => resolve(performance.now()), {});
    out.push((await promise) - t0);
    stop();
  }
  relay();
  return out;
}

// ---- the peer: a bare worker sleeping on a shared cell
const cell = new Int32Array(new SharedArrayBuffer(16));
const bare = new Worker(new URL('./lib/bare-wake-worker.ts', import.meta.url).href);
let onBare: (m: { urgent: boolean; at: number }) => void = () => {};
bare.onmessage = (ev) => onBare(ev.data);

async function bareIntervals(periodMs: number): Promise<number[]> {
  const at: number[] = [];
  Atomics.store(cell, 1, periodMs);
  onBare = () => at.push(performance.now());
  await Bun.sleep(secs * 1000);
  onBare = () => {};
  return gaps(at);
}

async function bareFirstMessage(n: number): Promise<number[]> {
  Atomics.store(cell, 1, MAX_DELAY_MS.relay);
  Atomics.store(cell, 3, 20); // hark's first packet waits for the tone's next 20 ms block
  await Bun.sleep(600);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    await Bun.sleep(90 + 37 * (i % 6));
    const { promise, resolve } = Promise.withResolvers<number>();
    onBare = (m) => m.urgent && resolve(performance.now());
    const t0 = performance.now();
    Atomics.store(cell, 0, 1);
    Atomics.notify(cell, 0);
    out.push((await promise) - t0);
  }
  Atomics.store(cell, 3, 0);
  onBare = () => {};
  return out;
}

const harkRelay = await harkIntervals(MP3, MAX_DELAY_MS.relay);
const harkListener = await harkIntervals(MP3, MAX_DELAY_MS.listener);
const harkPrompt = await harkIntervals(OPUS, MAX_DELAY_MS.prompt);
const harkFirst = await harkFirstPacket(12);
await pipeline.close();

bare.postMessage({ cell: cell.buffer as SharedArrayBuffer } satisfies BareWakeInit);
const bareRelay = await bareIntervals(MAX_DELAY_MS.relay);
const bareListener = await bareIntervals(MAX_DELAY_MS.listener);
const barePrompt = await bareIntervals(20); // the tone's block
const bareFirst = await bareFirstMessage(12);
Atomics.store(cell, 2, 1);
Atomics.notify(cell, 0);
bare.terminate();

const f = (x: number) => x.toFixed(1);
const row = (what: string, h: number[], b: number[], goal: string, stat: (v: number[]) => number) => [
  what,
  `${f(median(h))} / ${f(p95(h))} / ${f(max(h))}`,
  `${f(median(b))} / ${f(p95(b))} / ${f(max(b))}`,
  (stat(h) / stat(b)).toFixed(2),
  goal,
];
appendResults(
  'Audio worker wakes: intervals and first packet, hark vs a bare worker',
  `bun bench/pipeline-wake.ts ${secs}`,
  ['what', 'hark ms (median / p95 / max)', 'bare worker ms (median / p95 / max)', 'hark ÷ bare', 'goal'],
  [
    row('relay only (Icecast, recording): wake interval', harkRelay, bareRelay, '≈ 250 ms', median),
    row('a listener (/stream.mp3): wake interval', harkListener, bareListener, '≈ 100 ms', median),
    row('a prompt subscriber (WebRTC): wake interval (tone block 20 ms)', harkPrompt, barePrompt, 'max < 60 ms', median),
    row('first packet after subscribing mid-sleep (bare: notify, one 20 ms block, message)', harkFirst, bareFirst, 'max < 100 ms', median),
  ],
  `${secs} s per phase; the ratio is of medians (a maximum on a shared machine is mostly the scheduler's). Load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')}.`,
);
process.exit(0);
