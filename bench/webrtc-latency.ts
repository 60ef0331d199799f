/**
 * Capture-to-browser latency of hark's WebRTC output, end to end on this machine: clicks are
 * played into a private PipeWire's null sink; hark captures the sink's monitor
 * (input.source = "pipewire") and serves it over WHEP; headless Chromium plays /listen and an
 * AudioWorklet on the received stream timestamps each click at the moment the browser outputs
 * it (AudioContext.getOutputTimestamp). The click's entry is timestamped by a reference capture
 * of the same node in this process (the PipeWire callback of its quantum, CLOCK_MONOTONIC),
 * i.e. when hark's capture got it; both are converted to the wall clock Chromium uses.
 *
 * Frames of 10, 5 and 2.5 ms (webrtc.honour_minptime = false: Chromium asks for 10), the page's
 * low-latency switch on (jitterBufferTarget = 0), and 10 ms with it off. The peer in the same
 * run is the same clicks through /stream.mp3 in an <audio> element (the HTTP path players use),
 * measured the same way.
 *
 *   bun bench/webrtc-latency.ts [clicks per setting, default 20]
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium } from '../test/lib/browser.ts';
import { startHark, type HarkProcess } from '../test/lib/hark.ts';
import { startPipewire, wavBytes } from '../test/lib/pipewire.ts';
import { freeUdpPort, WhepClient } from '../test/lib/whep-client.ts';
import { OpusDecoder } from '../ffi/opus.ts';
import type { ClickCaptureInit } from './lib/click-capture-worker.ts';
import { appendResults } from './lib.ts';

const CLICKS = Number(process.argv[2] ?? 20);
const THRESHOLD = 0.1;

/** Silence, then clicks (20 ms of 1 kHz at -6 dBFS starting at its peak) 0.7–1.1 s apart. */
function clickTrain(count: number): Float32Array {
  const rate = 48_000;
  const gaps = Array.from({ length: count }, () => 0.7 + Math.random() * 0.4);
  const total = Math.ceil((1 + gaps.reduce((a, b) => a + b, 0) + 1) * rate);
  const out = new Float32Array(total * 2);
  let at = rate;
  for (const g of gaps) {
    for (let i = 0; i < 0.02 * rate; i++) {
      const v = 0.5 * Math.cos((2 * Math.PI * 1000 * i) / rate);
      out[2 * (at + i)] = v;
      out[2 * (at + i) + 1] = v;
    }
    at += Math.round(g * rate);
  }
  return out;
}

/** The detector: reports the context frame of each click onset after ≥ 300 ms of quiet. */
const WORKLET = `
class ClickDetector extends AudioWorkletProcessor {
  constructor() { super(); this.quiet = 0; }
  process(inputs) {
    const ch = inputs[0];
    if (!ch || ch.length === 0) return true;
    const n = ch[0].length;
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (const c of ch) v = Math.max(v, Math.abs(c[i]));
      if (v > ${THRESHOLD}) {
        if (this.quiet >= sampleRate * 0.3) this.port.postMessage(currentFrame + i);
        this.quiet = 0;
      } else if (v < ${THRESHOLD / 4}) this.quiet++;
    }
    return true;
  }
}
registerProcessor('click-detector', ClickDetector);
`;

/**
 * Attach the detector: to the listen page's received stream (webrtc), or to /stream.mp3 in an
 * <audio> element (the peer). Detections land in window.__clicks as wall-clock ms.
 */
async function installDetector(page: Page, mode: 'webrtc' | 'mp3'): Promise<void> {
  await page.evaluate(
    async ({ code, mode }) => {
      const w = window as unknown as { hark: { player: { ctx: AudioContext; meters: { source: AudioNode } } }; __clicks: number[]; __peer?: HTMLAudioElement };
      let ctx: AudioContext;
      let source: AudioNode;
      if (mode === 'webrtc') {
        ctx = w.hark.player.ctx;
        source = w.hark.player.meters.source;
      } else {
        ctx = new AudioContext({ latencyHint: 'interactive' });
        const audio = new Audio('/stream.mp3');
        w.__peer = audio;
        await audio.play();
        source = ctx.createMediaElementSource(audio);
        source.connect(ctx.destination);
      }
      await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })));
      const node = new AudioWorkletNode(ctx, 'click-detector', { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1] });
      const mute = ctx.createGain();
      mute.gain.value = 0;
      node.connect(mute).connect(ctx.destination);
      source.connect(node);
      w.__clicks = [];
      node.port.onmessage = (ev) => {
        // The frame's presentation time at the output, on the page's clock, then wall clock.
        const ts = ctx.getOutputTimestamp();
        const perf = ts.performanceTime! + (ev.data / ctx.sampleRate - ts.contextTime!) * 1000;
        w.__clicks.push(performance.timeOrigin + perf);
      };
    },
    { code: WORKLET, mode },
  );
}

interface Setting {
  label: string;
  frameMs: 10 | 5 | 2.5;
  lowLatency: boolean;
  /** webrtc: Chromium on /listen; mp3: Chromium, <audio src=/stream.mp3>; rtp: hark's part alone. */
  mode: 'webrtc' | 'mp3' | 'rtp';
}

/**
 * hark's part alone: a node-datachannel listener in this process decodes each RTP packet as it
 * arrives; a click counts when its packet has arrived (it cannot be played any sooner).
 */
async function rtpListener(url: string): Promise<{ clicks: number[]; close: () => Promise<unknown> }> {
  const dec = new OpusDecoder({ channels: 2 });
  const clicks: number[] = [];
  let quiet = 0;
  const c = new WhepClient({
    url,
    record: false,
    onRtp: (b) => {
      const at = performance.timeOrigin + performance.now();
      const cc = b[0]! & 0x0f;
      const pcm = dec.decode(b.subarray(12 + cc * 4), 960);
      for (let i = 0; i < pcm.length; i += 2) {
        const v = Math.max(Math.abs(pcm[i]!), Math.abs(pcm[i + 1]!));
        if (v > THRESHOLD) {
          if (quiet >= 48_000 * 0.3) clicks.push(at);
          quiet = 0;
        } else if (v < THRESHOLD / 4) quiet++;
      }
    },
  });
  await c.connect();
  await c.waitFor('connected');
  return { clicks, close: () => c.close() };
}

const SETTINGS: Setting[] = [
  { label: "hark's part: capture → RTP packet decoded by a listener (10 ms frames)", frameMs: 10, lowLatency: true, mode: 'rtp' },
  { label: 'WebRTC, 10 ms frames, low latency', frameMs: 10, lowLatency: true, mode: 'webrtc' },
  { label: 'WebRTC, 10 ms frames, default jitter buffer', frameMs: 10, lowLatency: false, mode: 'webrtc' },
  { label: 'WebRTC, 5 ms frames, low latency', frameMs: 5, lowLatency: true, mode: 'webrtc' },
  { label: 'WebRTC, 2.5 ms frames, low latency', frameMs: 2.5, lowLatency: true, mode: 'webrtc' },
  { label: 'peer: /stream.mp3 in <audio> (HTTP MP3)', frameMs: 10, lowLatency: false, mode: 'mp3' },
];

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]!;
}

const pw = await startPipewire();
const chrome = await launchChromium();
const stop = new SharedArrayBuffer(4);
const ref = new Worker(new URL('./lib/click-capture-worker.ts', import.meta.url).href);
const refClicks: number[] = [];
await new Promise<void>((resolve) => {
  ref.onmessage = (ev) => {
    if (ev.data.type === 'ready') resolve();
    if (ev.data.type === 'click') refClicks.push(ev.data.wallMs);
  };
  ref.postMessage({ device: pw.sinkName, remote: pw.remote, threshold: THRESHOLD, quietFrames: 48_000 * 0.3, stop } satisfies ClickCaptureInit);
});

const results: { s: Setting; lat: number[]; missed: number; jb?: number; estimate?: number }[] = [];
let hark: HarkProcess | undefined;
try {
  for (const s of SETTINGS) {
    const udp = await freeUdpPort();
    hark = await startHark(
      `[input]\nsource = "pipewire"\ndevice = "${pw.sinkName}"\nlatency_frames = 128\n[opus]\nframe_ms = ${s.frameMs}\n[silence]\nenabled = false\n[webrtc]\nudp_port = ${udp}\nhonour_minptime = false\n`,
      { env: { ...pw.env, HARK_LOG_LEVEL: 'info' }, timeoutMs: 60_000 },
    );
    if (s.mode === 'rtp') {
      const l = await rtpListener(`${hark.url}/whep`);
      await Bun.sleep(1500);
      refClicks.length = 0;
      const file = join(pw.dir, 'clicks-rtp.wav');
      writeFileSync(file, wavBytes(clickTrain(CLICKS), 2));
      await pw.play(file, { target: pw.sinkName, latency: '5ms' }).exited;
      await Bun.sleep(500);
      const lat: number[] = [];
      let missed = 0;
      for (const r of refClicks) {
        const b = l.clicks.find((x) => x > r - 5 && x < r + 1000);
        if (b === undefined) missed++;
        else lat.push(b - r);
      }
      results.push({ s, lat, missed });
      console.error(`${s.label}: ${refClicks.length} clicks in, ${l.clicks.length} detected; p50 ${quantile(lat, 0.5)?.toFixed(1)} ms`);
      await l.close();
      await hark.stop();
      hark = undefined;
      continue;
    }
    const page = await chrome.newPage();
    if (s.mode === 'webrtc') {
      await page.goto(`${hark.url}/listen`);
      await page.evaluate((low) => localStorage.setItem('hark.lowLatency', low ? '1' : '0'), s.lowLatency);
      await page.goto(`${hark.url}/listen?autoplay=1&mode=webrtc`);
      await page.waitForFunction(() => Number((window as unknown as { hark: { stats: { packets?: number } } }).hark.stats.packets) > 100, null, { timeout: 20_000 });
    } else {
      await page.goto(`${hark.url}/listen`);
    }
    await installDetector(page, s.mode);
    await page.waitForTimeout(s.mode === 'mp3' ? 4000 : 2000); // let the jitter buffer settle on the quiet input
    refClicks.length = 0;
    const file = join(pw.dir, `clicks-${s.frameMs}.wav`);
    writeFileSync(file, wavBytes(clickTrain(CLICKS), 2));
    const player = pw.play(file, { target: pw.sinkName, latency: '5ms' });
    await player.exited;
    await page.waitForTimeout(s.mode === 'mp3' ? 3000 : 1000);
    const got = await page.evaluate(() => (window as unknown as { __clicks: number[] }).__clicks);
    const pageStats = s.mode === 'webrtc' ? await page.evaluate(() => (window as unknown as { hark: { stats: Record<string, number> } }).hark.stats) : {};
    const lat: number[] = [];
    let missed = 0;
    for (const r of refClicks) {
      const b = got.find((x) => x > r - 5 && x < r + (s.mode === 'mp3' ? 5000 : 1000));
      if (b === undefined) missed++;
      else lat.push(b - r);
    }
    results.push({ s, lat, missed, jb: pageStats.jitterBufferMs, estimate: pageStats.latencyMs });
    console.error(`${s.label}: ${refClicks.length} clicks in, ${got.length} detected; jb ${pageStats.jitterBufferMs?.toFixed?.(1)} est ${pageStats.latencyMs?.toFixed?.(0)}; p50 ${quantile(lat, 0.5)?.toFixed(1)} ms, p95 ${quantile(lat, 0.95)?.toFixed(1)} ms`);
    await page.close();
    await hark.stop();
    hark = undefined;
  }
} finally {
  Atomics.store(new Int32Array(stop), 0, 1);
  await Bun.sleep(100);
  ref.terminate();
  await hark?.stop();
  await chrome.close();
  await pw.stop();
}

const peer = results.find((r) => r.s.mode === 'mp3');

const rows = results.map(({ s, lat, missed, jb, estimate }) => {
  const p50 = quantile(lat, 0.5);
  const p95 = quantile(lat, 0.95);
  const goal = s.frameMs === 10 && s.lowLatency ? 'p50 ≤ 40, p95 ≤ 60' : '';
  return [
    s.label,
    `${lat.length}${missed ? ` (${missed} missed)` : ''}`,
    p50.toFixed(1),
    p95.toFixed(1),
    Math.min(...lat).toFixed(1),
    Math.max(...lat).toFixed(1),
    peer && s.mode === 'webrtc' ? (p50 / quantile(peer.lat, 0.5)).toFixed(3) : '',
    jb === undefined ? '' : jb.toFixed(1),
    estimate === undefined ? '' : estimate.toFixed(0),
    goal,
  ];
});
const load = (await Bun.file('/proc/loadavg').text()).split(' ')[0];
appendResults(
  'WebRTC capture-to-browser latency (PipeWire → hark → WHEP → Chromium)',
  `bun bench/webrtc-latency.ts ${CLICKS}`,
  ['setting', 'clicks', 'p50 ms', 'p95 ms', 'min ms', 'max ms', 'p50 ÷ peer p50', "page's jitter buffer ms", "page's estimate ms", 'goal'],
  rows,
  `From the PipeWire quantum that delivered a click to hark's capture (a reference capture of the same sink monitor, CLOCK_MONOTONIC) to Chromium's output time for the click's first sample (AudioWorklet + getOutputTimestamp), both as wall clock. ` +
    `Opus 96 kbit/s stereo (the listen page asks for stereo), input.latency_frames = 128 (2.7 ms), loopback. Headless Chromium ${chrome.browser.version()} with no sound card (its fake output device). ` +
    `Peer: the same clicks through /stream.mp3 played by an <audio> element, same detector. Load average ${load} at the end.`,
);
process.exit(0);
