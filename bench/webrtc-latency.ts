/**
 * Capture-to-browser latency of hark's WebRTC output, end to end on this machine: clicks are
 * played into a private PipeWire's null sink; hark captures the sink's monitor
 * (input.source = "pipewire") and serves it over WHEP; headless Chromium plays /listen into a
 * real audio device — the same PipeWire, through its pulse server, into a second null sink
 * ("speakers") — and what it plays there is what a listener hears. Two reference captures in
 * this process timestamp each click where it enters (the input sink's monitor: when hark's
 * capture gets it) and where it comes out (the speakers' monitor), each at the PipeWire
 * callback of its quantum on CLOCK_MONOTONIC: one clock, no browser timestamps involved.
 *
 * Also, per setting: the same click seen by an AudioWorklet on the page's AudioContext copy of
 * the stream (AudioContext.getOutputTimestamp; the path the page's meters use, not what is
 * heard), and Chromium's getStats jitter buffer (delay per sample, NetEq's target) over the run.
 *
 * Frames of 10, 5 and 2.5 ms (webrtc.honour_minptime = false: Chromium asks for 10), with
 * jitterBufferTarget = 0 on the page's receiver, 10 ms with Chromium's default, and 10 ms with
 * opus.low_delay (CELT only: 2.5 ms of encoder look-ahead instead of 6.5). Peers in the same
 * run: the same clicks through /stream.mp3 in an <audio> element (the HTTP path players use),
 * and Chromium's own WebRTC (the clicks captured by getUserMedia from the same sink monitor,
 * sent over a loopback RTCPeerConnection pair in the page to an <audio> element): the floor
 * a browser-to-browser call on this machine has, with hark's part replaced by Chromium's.
 *
 * The listen page's low-latency mode (issue 19: the `opus-ll` data channel, WebCodecs, hark's
 * own buffer in an AudioWorklet), with 5 and 2.5 ms packets, and with 5 ms through a relay that
 * drops 1 % of hark's datagrams and holds the others 5 ± 3 ms (test/lib/udp-relay.ts), beside
 * the RTP path through the same relay: their concealment (the page's concealed packets; Chromium's
 * concealedSamples) side by side.
 *
 *   bun bench/webrtc-latency.ts [clicks per setting, default 20]
 *   HARK_BENCH_ONLY=webrtc,local bun bench/webrtc-latency.ts 10   # some modes, nothing appended
 *   HARK_BENCH_ROWS='low-latency mode,peer: Chromium' bun bench/webrtc-latency.ts   # some rows, appended
 *   HARK_BENCH_LOOK=1 HARK_BENCH_DEBUG=1 HARK_BENCH_ROWS='loss + jitter' …   # a look: nothing appended, the page's figures printed
 *   HARK_BENCH_CHROMIUM_ARGS=--audio-buffer-size=128 bun bench/webrtc-latency.ts   # Chromium flags
 *
 * Firefox (ESR, headless, through the test harness's reporting proxy: test/lib/firefox.ts) plays
 * the same page into the same speakers sink (PULSE_SINK) in the low-latency mode. (Its own WebRTC
 * track is not measured: a headless Firefox whose audio server froze — test/lib/firefox.ts — held
 * the PipeWire graph, and the clicks' pw-play with it, until killed.)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium } from '../test/lib/browser.ts';
import { startHark, type HarkProcess } from '../test/lib/hark.ts';
import { startPipewire, wavBytes } from '../test/lib/pipewire.ts';
import { freeUdpPort, WhepClient } from '../test/lib/whep-client.ts';
import { OpusDecoder } from '../ffi/opus.ts';
import { clickTrain, match, quantile, referenceCapture as captureNode } from './lib/clicks.ts';
import { appendResults } from './lib.ts';
import { startLossyRelay, type LossyRelay } from '../test/lib/udp-relay.ts';
import { firefoxAvailable, openInFirefox } from '../test/lib/firefox.ts';
import { describeStalls, startStallProbe, STALL_MS, type Stall } from './lib/stall-probe.ts';
import { monotonicMs } from '../ffi/libc.ts';

const CLICKS = Number(process.argv[2] ?? 20);
const THRESHOLD = 0.1;

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
 * Attach the detector: to the listen page's received stream (webrtc), to /stream.mp3 in an
 * <audio> element (mp3), or to the in-page Chromium peer's received stream (chrome).
 * Detections land in window.__clicks as wall-clock ms.
 */
async function installDetector(page: Page, mode: 'webrtc' | 'mp3' | 'chrome'): Promise<void> {
  await page.evaluate(
    async ({ code, mode }) => {
      const w = window;
      let ctx: AudioContext;
      let source: AudioNode;
      if (mode === 'webrtc') {
        ctx = w.hark.player.ctx;
        source = w.hark.player.meters.source;
      } else if (mode === 'chrome') {
        ctx = new AudioContext({ latencyHint: 'interactive' });
        source = ctx.createMediaStreamSource(w.__stream!);
      } else {
        ctx = new AudioContext({ latencyHint: 'interactive' });
        const audio = new Audio('/stream.mp3');
        w.__peer = audio;
        await audio.play();
        source = ctx.createMediaElementSource(audio);
        source.connect(ctx.destination);
      }
      w.__ctx = ctx;
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

/**
 * The Chromium-to-Chromium peer: getUserMedia captures the input sink's monitor (PULSE_SOURCE)
 * without any processing, an RTCPeerConnection sends it as Opus with 10 ms packets (a=ptime:10
 * in the answer) to a second one in the same page, which plays it in an <audio> element with
 * jitterBufferTarget = 0 — the listen page's path, with Chromium's capture and sender in
 * place of hark.
 */
async function startChromePeer(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const w = window;
    const mic = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 2 },
    });
    const a = new RTCPeerConnection();
    const b = new RTCPeerConnection();
    a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
    b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
    for (const t of mic.getTracks()) a.addTrack(t, mic);
    const track = new Promise<RTCTrackEvent>((r) => (b.ontrack = r));
    const offer = await a.createOffer();
    offer.sdp = offer.sdp!.replace(/a=fmtp:111 ([^\r\n]*)/, 'a=fmtp:111 $1;stereo=1;sprop-stereo=1');
    await a.setLocalDescription(offer);
    await b.setRemoteDescription(offer);
    const answer = await b.createAnswer();
    answer.sdp = answer.sdp!.replace(/a=fmtp:111 ([^\r\n]*)/, 'a=fmtp:111 $1;stereo=1;sprop-stereo=1');
    await b.setLocalDescription(answer);
    await a.setRemoteDescription({ type: 'answer', sdp: answer.sdp!.replace(/(a=rtpmap:111 [^\r\n]*\r\n)/, '$1a=ptime:10\r\n') });
    const ev = await track;
    (ev.receiver as RTCRtpReceiver & { jitterBufferTarget: number | null }).jitterBufferTarget = 0;
    const stream = ev.streams[0] ?? new MediaStream([ev.track]);
    const audio = new Audio();
    audio.srcObject = stream;
    await audio.play();
    Object.assign(w, { __a: a, __b: b, __stream: stream, __audio: audio });
  });
}

/** getStats of the receiving connection: cumulative jitter buffer counters and packets. */
async function receiverStats(page: Page, mode: 'webrtc' | 'chrome'): Promise<Record<string, number>> {
  return page.evaluate(async (mode) => {
    const w = window;
    const pc = mode === 'webrtc' ? w.hark.player.session.pc : w.__b;
    const out: Record<string, number> = {};
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        for (const k of ['jitterBufferDelay', 'jitterBufferTargetDelay', 'jitterBufferMinimumDelay', 'jitterBufferEmittedCount', 'packetsReceived', 'totalSamplesReceived', 'concealedSamples']) out[k] = r[k];
      }
      if (r.type === 'media-playout') {
        out.totalPlayoutDelay = r.totalPlayoutDelay;
        out.totalSamplesCount = r.totalSamplesCount;
      }
    });
    out.outputLatency = (w.__ctx?.outputLatency ?? 0) * 1000;
    out.baseLatency = (w.__ctx?.baseLatency ?? 0) * 1000;
    return out;
  }, mode);
}

interface Setting {
  label: string;
  frameMs: 10 | 5 | 2.5;
  lowLatency: boolean;
  /** opus.low_delay (RESTRICTED_LOWDELAY). */
  lowDelay?: boolean;
  /**
   * webrtc: Chromium on /listen; mp3: Chromium, <audio src=/stream.mp3>; rtp: hark's part
   * alone; chrome: Chromium's own WebRTC, capture to <audio> (peer).
   */
  mode: 'webrtc' | 'mp3' | 'rtp' | 'chrome' | 'local' | 'firefox';
  /** webrtc: the page's low-latency mode (opus-ll) with packets of this many ms. */
  ll?: 5 | 2.5;
  /** webrtc: through a relay with 1 % loss and 5 ± 3 ms jitter on hark's datagrams. */
  relay?: boolean;
  /** webrtc: the page's AudioContext made with this latencyHint whatever the page asks (an init script). */
  latencyHint?: number | 'interactive';
}

/**
 * Chromium's output stage alone: the page plays `count` clicks from an AudioBufferSourceNode
 * started at once (AudioContext latencyHint 'interactive'), noting the wall-clock time of each
 * start() call; the speakers capture hears them. Resolves with the start() times.
 */
async function localClicks(page: Page, count: number): Promise<number[]> {
  return page.evaluate(async (count) => {
    const ctx = new AudioContext({ latencyHint: 'interactive' });
    await ctx.resume();
    const buf = ctx.createBuffer(2, Math.round(0.02 * ctx.sampleRate), ctx.sampleRate);
    for (let c = 0; c < 2; c++) {
      const d = buf.getChannelData(c);
      for (let i = 0; i < d.length; i++) d[i] = 0.5 * Math.cos((2 * Math.PI * 1000 * i) / ctx.sampleRate);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const sent: number[] = [];
    for (let k = 0; k < count; k++) {
      const src = new AudioBufferSourceNode(ctx, { buffer: buf });
      src.connect(ctx.destination);
      sent.push(performance.timeOrigin + performance.now());
      src.start();
      await new Promise((r) => setTimeout(r, 700 + Math.random() * 400));
    }
    await new Promise((r) => setTimeout(r, 500));
    await ctx.close();
    return sent;
  }, count);
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
  return {
    clicks,
    close: async () => {
      await c.close();
      dec.close();
    },
  };
}

const ALL_SETTINGS: Setting[] = [
  { label: "hark's part: capture → RTP packet decoded by a listener (10 ms frames)", frameMs: 10, lowLatency: true, mode: 'rtp' },
  { label: 'WebRTC, 10 ms frames, low latency', frameMs: 10, lowLatency: true, mode: 'webrtc' },
  { label: 'WebRTC, 10 ms frames, default jitter buffer', frameMs: 10, lowLatency: false, mode: 'webrtc' },
  { label: 'WebRTC, 10 ms frames, low latency, opus.low_delay', frameMs: 10, lowLatency: true, lowDelay: true, mode: 'webrtc' },
  { label: 'WebRTC, 5 ms frames, low latency', frameMs: 5, lowLatency: true, mode: 'webrtc' },
  { label: 'WebRTC, 2.5 ms frames, low latency', frameMs: 2.5, lowLatency: true, mode: 'webrtc' },
  { label: 'low-latency mode, 5 ms frames', frameMs: 10, lowLatency: true, mode: 'webrtc', ll: 5 },
  { label: 'low-latency mode, 2.5 ms frames', frameMs: 10, lowLatency: true, mode: 'webrtc', ll: 2.5 },
  { label: 'low-latency mode, 5 ms frames, AudioContext latencyHint 0 (a look: the page asks for interactive)', frameMs: 10, lowLatency: true, mode: 'webrtc', ll: 5, latencyHint: 0 },
  { label: 'low-latency mode, 5 ms frames, 1 % loss + jitter', frameMs: 10, lowLatency: true, mode: 'webrtc', ll: 5, relay: true },
  { label: 'WebRTC, 10 ms frames, low latency, 1 % loss + jitter', frameMs: 10, lowLatency: true, mode: 'webrtc', relay: true },
  { label: 'Firefox: low-latency mode, 5 ms frames', frameMs: 10, lowLatency: true, mode: 'firefox', ll: 5 },
  { label: 'peer: Chromium → Chromium WebRTC (getUserMedia, 10 ms Opus, loopback, jitterBufferTarget 0)', frameMs: 10, lowLatency: true, mode: 'chrome' },
  { label: 'peer: /stream.mp3 in <audio> (HTTP MP3)', frameMs: 10, lowLatency: false, mode: 'mp3' },
  { label: "Chromium's output alone: AudioBufferSourceNode.start() → speakers (no network, no jitter buffer)", frameMs: 10, lowLatency: false, mode: 'local' },
];

/** HARK_BENCH_ONLY=webrtc,chrome runs only those modes and appends nothing (a quick look). */
const ONLY = process.env.HARK_BENCH_ONLY?.split(',');
/** HARK_BENCH_ROWS='low-latency mode,peer: Chromium' runs the rows whose label contains one of these, and appends them. */
const ROWS = process.env.HARK_BENCH_ROWS?.split(',').filter(Boolean);
const SETTINGS = (ONLY ? ALL_SETTINGS.filter((s) => ONLY.includes(s.mode)) : ROWS ? ALL_SETTINGS.filter((s) => ROWS.some((r) => s.label.includes(r))) : ALL_SETTINGS).filter(
  (s) => s.mode !== 'firefox' || firefoxAvailable(),
);

/** What the Firefox page reports every 250 ms (through the harness's proxy). */
interface FirefoxReport {
  state: string;
  packets: number;
  ll: { state: string; packets: number; concealed: number; latencyMs: number | null; targetMs: number | null; bufferedMs: number | null } | null;
  ua: string;
}
const FIREFOX_REPORTER = `setInterval(() => {
  const h = window.hark;
  if (!h) return;
  fetch('/report', { method: 'POST', body: JSON.stringify({ state: h.state, packets: Number(h.stats?.packets ?? 0), ll: h.ll ?? null, ua: navigator.userAgent }) });
}, 250);`;
let firefoxVersion = '';

const SPEAKERS = 'hark-bench-speakers';
/**
 * The Chromium peer's microphone: the input sink's monitor as an Audio/Source (pw-loopback, 3 ms),
 * since Chromium lists no monitor sources. Its own reference capture times the clicks' entry.
 */
const MIC = 'hark-bench-mic';
const pw = await startPipewire({ pulse: true, sinks: [{ name: SPEAKERS, channels: 2 }] });
const loopback = Bun.spawn(
  ['pw-loopback', '-l', '3', '-C', pw.sinkName, '--capture-props', '{ stream.capture.sink = true }', '--playback-props', `{ media.class = Audio/Source node.name = ${MIC} node.description = ${MIC} }`],
  { env: { ...(process.env as Record<string, string>), ...pw.env }, stdout: 'ignore', stderr: 'ignore' },
);
await pw.waitForNode(MIC);
// Chromium's audio device: PipeWire's pulse server, playing into the speakers sink (never into
// the input sink: that would feed every click back into hark).
const chrome = await launchChromium({
  // HARK_BENCH_CHROMIUM_ARGS: more flags for a look, e.g. --audio-buffer-size=256.
  args: ['--use-fake-ui-for-media-stream', ...(process.env.HARK_BENCH_CHROMIUM_ARGS ?? '').split(' ').filter(Boolean)],
  env: { ...(process.env as Record<string, string>), ...pw.env, PULSE_SINK: SPEAKERS, PULSE_SOURCE: MIC },
  sound: true,
});
const chromeVersion = chrome.browser.version();
const stop = new SharedArrayBuffer(4);

const referenceCapture = (device: string) => captureNode(device, pw.remote, stop, THRESHOLD);
const input = await referenceCapture(pw.sinkName);
const mic = await referenceCapture(MIC);
const output = await referenceCapture(SPEAKERS);
const heardClicks = output.clicks;

interface Result {
  s: Setting;
  lat: number[];
  missed: number;
  /** The page's AudioContext copy (AudioWorklet + getOutputTimestamp). */
  worklet?: number[];
  jb?: number;
  target?: number;
  playout?: number;
  outputLatency?: number;
  /** Concealed share of what was played over the clicks (%): the page's concealed packets, or Chromium's concealedSamples. */
  concealedPct?: number;
  /** The low-latency page's own figures at the end: its latency estimate, buffer target and level (ms). */
  page?: { latencyMs: number | null; targetMs: number | null; bufferedMs: number | null };
  load: string;
  /** The machine's stalls (bench/lib/stall-probe.ts) while this row's clicks played. */
  stalls?: Stall[];
}
const results: Result[] = [];
const probe = startStallProbe();
/** When this row's clicks began to play (CLOCK_MONOTONIC ms): its stalls are counted from here. */
let playFrom = 0;
const rowStalls = () => probe.between(playFrom, monotonicMs());
const loadavg = async () => (await Bun.file('/proc/loadavg').text()).split(' ').slice(0, 3).join(' ');
let hark: HarkProcess | undefined;
try {
  for (const s of SETTINGS) {
    const udp = await freeUdpPort();
    hark = await startHark(
      `[input]\nsource = "pipewire"\ndevice = "${pw.sinkName}"\nlatency_frames = 128\n[opus]\nframe_ms = ${s.frameMs}\nlow_delay = ${s.lowDelay === true}\n[silence]\nenabled = false\n[webrtc]\nudp_port = ${udp}\nhonour_minptime = false\n`,
      { env: { ...pw.env, HARK_LOG_LEVEL: 'info' }, timeoutMs: 60_000 },
    );
    const file = join(pw.dir, `clicks-${s.mode}-${s.frameMs}.wav`);
    const target = pw.sinkName;
    // Where the clicks enter: hark's capture of the input sink, or the Chromium peer's microphone.
    const refClicks = s.mode === 'chrome' ? mic.clicks : input.clicks;
    writeFileSync(file, wavBytes(clickTrain(CLICKS), 2));
    if (s.mode === 'rtp') {
      const l = await rtpListener(`${hark.url}/whep`);
      await Bun.sleep(1500);
      refClicks.length = 0;
      playFrom = monotonicMs();
      await pw.play(file, { target, latency: '5ms' }).exited;
      await Bun.sleep(500);
      const { lat, missed } = match(refClicks, l.clicks, 1000);
      results.push({ s, lat, missed, load: await loadavg(), stalls: rowStalls() });
      console.error(`${s.label}: ${refClicks.length} clicks in, ${l.clicks.length} detected; p50 ${quantile(lat, 0.5)?.toFixed(1)} ms`);
      await l.close();
      await hark.stop();
      hark = undefined;
      continue;
    }
    if (s.mode === 'firefox') {
      const ff = openInFirefox<FirefoxReport>(hark.url, `/listen?autoplay=1&mode=webrtc&ll=${s.ll ?? 0}`, FIREFOX_REPORTER, { ...pw.env, PULSE_SINK: SPEAKERS });
      try {
        const playing = (x: FirefoxReport) => (s.ll ? x.ll?.state === 'playing' : x.packets > 100);
        const up = await ff.waitFor(playing, 90_000);
        if (!up || !playing(up)) {
          console.error(`${s.label}: Firefox did not start playing (${JSON.stringify(up)})`);
          continue;
        }
        firefoxVersion = /Firefox\/([\d.]+)/.exec(up.ua)?.[1] ?? '';
        await Bun.sleep(5000);
        const llBefore = ff.last?.ll;
        refClicks.length = 0;
        heardClicks.length = 0;
        // Bounded: a frozen Firefox audio server can hold the graph (above).
        playFrom = monotonicMs();
        const player = pw.play(file, { target, latency: '5ms' });
        const timer = setTimeout(() => void player.stop(), CLICKS * 1500 + 10_000);
        await player.exited;
        clearTimeout(timer);
        await Bun.sleep(1000);
        const { lat, missed } = match(refClicks, heardClicks, 1000);
        const r: Result = { s, lat, missed, load: await loadavg(), stalls: rowStalls() };
        const ll = ff.last?.ll;
        if (llBefore && ll) {
          const played = ll.packets - llBefore.packets;
          if (played > 0) r.concealedPct = ((ll.concealed - llBefore.concealed) / played) * 100;
          r.page = { latencyMs: ll.latencyMs, targetMs: ll.targetMs, bufferedMs: ll.bufferedMs };
        }
        results.push(r);
        console.error(`${s.label}: ${refClicks.length} clicks in, ${heardClicks.length} heard; p50 ${quantile(lat, 0.5)?.toFixed(1)} p95 ${quantile(lat, 0.95)?.toFixed(1)}; load ${r.load}`);
      } finally {
        await ff.close();
        await hark.stop();
        hark = undefined;
      }
      continue;
    }
    const page = await chrome.newPage();
    if (s.latencyHint !== undefined) {
      await page.addInitScript((hint) => {
        const A = window.AudioContext;
        window.AudioContext = class extends A {
          constructor(o?: AudioContextOptions) {
            super({ ...o, latencyHint: hint });
          }
        };
      }, s.latencyHint);
    }
    let relay: LossyRelay | undefined;
    if (s.relay) {
      // The page knows hark only by the relay's port, and hark the page only from the relay's checks.
      const r = await startLossyRelay({ harkPort: udp, loss: 0.01, delayMs: 5, jitterMs: 3 });
      relay = r;
      await page.route(/\/whep(\/[^?]*)?(\?.*)?$/, async (route) => {
        const req = route.request();
        if (req.method() === 'PATCH') return route.fulfill({ status: 204 });
        if (req.method() !== 'POST') return route.continue();
        const res = await route.fetch({ postData: r.rewriteOffer(req.postData() ?? '') });
        return route.fulfill({ response: res, body: r.rewriteAnswer(await res.text()) });
      });
    }
    if (s.mode === 'local') {
      await page.goto(`${hark.url}/listen`);
      heardClicks.length = 0;
      playFrom = monotonicMs();
      const sent = await localClicks(page, CLICKS);
      await Bun.sleep(300);
      const { lat, missed } = match(sent, heardClicks, 1000);
      results.push({ s, lat, missed, load: await loadavg(), stalls: rowStalls() });
      console.error(`${s.label}: ${sent.length} clicks, ${heardClicks.length} heard; p50 ${quantile(lat, 0.5)?.toFixed(1)} p95 ${quantile(lat, 0.95)?.toFixed(1)}`);
      await page.close();
      await hark.stop();
      hark = undefined;
      continue;
    }
    if (s.mode === 'webrtc') {
      await page.goto(`${hark.url}/listen`);
      await page.evaluate(() => localStorage.setItem('hark.lowLatency', '0'));
      await page.goto(`${hark.url}/listen?autoplay=1&mode=webrtc&ll=${s.ll ?? 0}`);
      if (s.ll) {
        await page.waitForFunction(() => window.hark.ll?.state === 'playing', null, { timeout: 20_000 });
      } else {
        await page.waitForFunction(() => Number(window.hark.stats.packets) > 100, null, { timeout: 20_000 });
        // The RTP path with the smallest jitter buffer Chromium allows (the page's own switch
        // now means the low-latency mode).
        if (s.lowLatency) await page.evaluate(() => ((window.hark.player.session.receiver as RTCRtpReceiver & { jitterBufferTarget: number | null }).jitterBufferTarget = 0));
      }
    } else {
      await page.goto(`${hark.url}/listen`);
      if (s.mode === 'chrome') await startChromePeer(page);
    }
    // The listen page is cross-origin isolated (issue 19) and Chromium then loads no blob:
    // worklet module there: the AudioWorklet column stays empty for /listen rows since.
    await installDetector(page, s.mode).catch((e: Error) => console.error(`${s.label}: no AudioWorklet detector (${e.message.split('\n')[0]})`));
    // Let the jitter buffer settle on the quiet input (NetEq's delay histogram forgets slowly).
    await page.waitForTimeout(s.mode === 'mp3' ? 4000 : 5000);
    const before = s.mode === 'mp3' ? undefined : await receiverStats(page, s.mode);
    const llBefore = s.ll ? await page.evaluate(() => window.hark.ll!) : undefined;
    refClicks.length = 0;
    heardClicks.length = 0;
    playFrom = monotonicMs();
    await pw.play(file, { target, latency: '5ms' }).exited;
    await page.waitForTimeout(s.mode === 'mp3' ? 3000 : 1000);
    const after = s.mode === 'mp3' ? undefined : await receiverStats(page, s.mode);
    const got = (await page.evaluate(() => window.__clicks)) ?? [];
    const windowMs = s.mode === 'mp3' ? 5000 : 1000;
    const { lat, missed } = match(refClicks, heardClicks, windowMs);
    const worklet = match(refClicks, got, windowMs).lat;
    const r: Result = { s, lat, missed, worklet, load: await loadavg(), stalls: rowStalls() };
    if (llBefore) {
      const ll = await page.evaluate(() => window.hark.ll!);
      if (process.env.HARK_BENCH_DEBUG) console.error(`${s.label}: page before ${JSON.stringify(llBefore)}\n  after ${JSON.stringify(ll)}`);
      const played = ll.packets - llBefore.packets;
      if (played > 0) r.concealedPct = ((ll.concealed - llBefore.concealed) / played) * 100;
      r.page = { latencyMs: ll.latencyMs, targetMs: ll.targetMs, bufferedMs: ll.bufferedMs };
    }
    if (before && after) {
      const n = after.jitterBufferEmittedCount! - before.jitterBufferEmittedCount!;
      r.jb = ((after.jitterBufferDelay! - before.jitterBufferDelay!) / n) * 1000;
      r.target = ((after.jitterBufferTargetDelay! - before.jitterBufferTargetDelay!) / n) * 1000;
      const m = after.totalSamplesCount! - before.totalSamplesCount!;
      if (m > 0) r.playout = ((after.totalPlayoutDelay! - before.totalPlayoutDelay!) / m) * 1000;
      r.outputLatency = after.outputLatency;
      const samples = after.totalSamplesReceived! - before.totalSamplesReceived!;
      if (!s.ll && samples > 0) r.concealedPct = ((after.concealedSamples! - before.concealedSamples!) / samples) * 100;
    }
    results.push(r);
    console.error(
      `${s.label}: ${refClicks.length} clicks in, ${heardClicks.length} heard, ${got.length} in the worklet; heard p50 ${quantile(lat, 0.5)?.toFixed(1)} p95 ${quantile(lat, 0.95)?.toFixed(1)}; worklet p50 ${quantile(worklet, 0.5)?.toFixed(1)}; jb ${r.jb?.toFixed(1)} target ${r.target?.toFixed(1)} playout ${r.playout?.toFixed(1)} ctx out ${r.outputLatency?.toFixed(1)}; load ${r.load}; stalls ${describeStalls(r.stalls ?? [])}; concealed ${r.concealedPct?.toFixed(2)} %`,
    );
    if (relay) console.error(`relay: ${relay.counts.dropped} of ${relay.counts.dropped + relay.counts.relayed} datagrams dropped`);
    await page.close();
    relay?.close();
    await hark.stop();
    hark = undefined;
  }
} finally {
  Atomics.store(new Int32Array(stop), 0, 1);
  await Bun.sleep(100);
  for (const c of [input, mic, output]) c.worker.terminate();
  await hark?.stop();
  await chrome.close();
  loopback.kill();
  probe.stop();
  await pw.stop();
}

const peer = results.find((r) => r.s.mode === 'mp3');
const chromePeer = results.find((r) => r.s.mode === 'chrome');
const webrtcRow = results.find((r) => r.s.mode === 'webrtc' && !r.s.ll && !r.s.relay && r.s.frameMs === 10 && r.s.lowLatency && !r.s.lowDelay);
const fmt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '' : v.toFixed(1));

const rows = results.map(({ s, lat, missed, worklet, jb, target, playout, load, concealedPct, page, stalls }) => {
  const p50 = quantile(lat, 0.5);
  const goal = s.ll
    ? s.relay
      ? 'p50 ≤ 80; concealment ≤ the RTP path on the same relay'
      : s.ll === 5 && s.mode === 'webrtc' && s.latencyHint === undefined
        ? 'p50 ≤ 0.6× the Chromium peer and ≤ 65, p95 ≤ 90, concealed ≤ 0.5 %'
        : ''
    : s.frameMs === 10 && s.lowLatency && !s.lowDelay && !s.relay && (s.mode === 'webrtc' || s.mode === 'rtp')
      ? 'p50 ≤ 40, p95 ≤ 60'
      : '';
  return [
    s.label,
    `${lat.length}${missed ? ` (${missed} missed)` : ''}`,
    fmt(p50),
    fmt(quantile(lat, 0.95)),
    fmt(Math.min(...lat)),
    fmt(Math.max(...lat)),
    peer && (s.mode === 'webrtc' || s.mode === 'chrome') ? (p50 / quantile(peer.lat, 0.5)).toFixed(3) : '',
    chromePeer && (s.mode === 'webrtc' || s.mode === 'firefox') ? (p50 / quantile(chromePeer.lat, 0.5)).toFixed(3) : '',
    webrtcRow && (s.mode === 'webrtc' || s.mode === 'firefox') ? (p50 / quantile(webrtcRow.lat, 0.5)).toFixed(3) : '',
    worklet?.length ? fmt(quantile(worklet, 0.5)) : '',
    fmt(jb),
    fmt(target),
    fmt(playout),
    concealedPct === undefined ? '' : concealedPct.toFixed(2),
    page ? `${fmt(page.latencyMs ?? undefined)} / ${fmt(page.targetMs ?? undefined)} / ${fmt(page.bufferedMs ?? undefined)}` : '',
    load,
    stalls ? describeStalls(stalls) : '',
    goal,
  ];
});
if (ONLY || process.env.HARK_BENCH_LOOK) process.exit(0);
appendResults(
  'WebRTC capture-to-ear latency (PipeWire → hark → WHEP → Chromium → PipeWire)',
  `${process.env.HARK_BENCH_CHROMIUM_ARGS ? `HARK_BENCH_CHROMIUM_ARGS='${process.env.HARK_BENCH_CHROMIUM_ARGS}' ` : ''}${ROWS ? `HARK_BENCH_ROWS='${ROWS.join(',')}' ` : ''}bun bench/webrtc-latency.ts ${CLICKS}`,
  ['setting', 'clicks', 'p50 ms', 'p95 ms', 'min ms', 'max ms', 'p50 ÷ MP3 peer p50', 'p50 ÷ Chromium → Chromium peer p50', 'p50 ÷ WebRTC 10 ms low-latency row p50', 'AudioWorklet p50 ms', 'jitter buffer ms', 'NetEq target ms', 'playout delay ms', 'concealed %', 'low-latency page: latency / target / buffered ms', 'load average', `machine stalls ≥ ${STALL_MS} ms over the clicks: count, longest`, 'goal'],
  rows,
  `From the PipeWire quantum that delivered a click to hark's capture (a reference capture of the input sink's monitor) to the quantum in which Chromium's output reached its audio device (a reference capture of the "speakers" sink Chromium plays into through PipeWire's pulse server), both CLOCK_MONOTONIC at the PipeWire callback: what a listener would hear, minus the sound card's own buffer. ` +
    `"hark's part" is the click decoded from its RTP packet by a node-datachannel listener in this process. AudioWorklet: the same click on the page's AudioContext copy of the stream (getOutputTimestamp), for comparison with earlier rows. ` +
    `Jitter buffer, NetEq target and playout delay: Chromium's getStats over the clicks (jitterBufferDelay, jitterBufferTargetDelay per emitted sample; media-playout totalPlayoutDelay per sample). ` +
    `Low-latency mode: the listen page with ?ll=5 or ?ll=2.5 (the opus-ll data channel, WebCodecs AudioDecoder, hark's buffer in an AudioWorklet); its "concealed %" is the page's concealed packets over the packets played, the RTP rows' is Chromium's concealedSamples over totalSamplesReceived, both over the clicks. "1 % loss + jitter": a relay (test/lib/udp-relay.ts) between Chromium and hark drops 1 % of hark's datagrams and holds the others 5 ± 3 ms (uniform); the RTP row through it has jitterBufferTarget = 0 as well. ` +
    `Firefox row: headless Firefox ${firefoxVersion || '(not run)'} through the test harness's proxy (test/lib/firefox.ts), playing into the same speakers sink. The row marked latencyHint 0 makes the page's AudioContext ask for the device's smallest buffer (128 frames here) instead of 'interactive' (512). ` +
    `Machine stalls: a Python loop outside hark and the browser (bench/lib/stall-probe.ts) sleeping 1 ms and reporting every wake-up over ${STALL_MS} ms late, counted over the row's clicks; such a stall stops every process on this VM, and a jitter buffer shallower than it conceals through it. ` +
    `Opus 96 kbit/s stereo (the listen page asks for stereo), input.latency_frames = 128 (2.7 ms), loopback. Headless Chromium ${chromeVersion}${process.env.HARK_BENCH_CHROMIUM_ARGS ? ` with ${process.env.HARK_BENCH_CHROMIUM_ARGS}` : ''}.`,
);
process.exit(0);
