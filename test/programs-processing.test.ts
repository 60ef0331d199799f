/**
 * Per-program processing (issue 18) measured on what comes out, with real parts: a 4-channel
 * PipeWire source fed a test signal by pw-play, programs with and without each stage, decoded
 * by ffmpeg (MP3) and libopus (WHEP RTP):
 * - the limiter: a +12 dB burst through a ceiling of −1 dBFS never decodes above −1 dBFS
 *   (+0.3 dB for the codec); the same program without it clips;
 * - the EQ: a 1 kHz peak of +6 dB measures +6 dB (±0.5) against the same channel unprocessed;
 * - the high-pass at 100 Hz takes 30 Hz down by at least 12 dB;
 * - the delay: a click in program A and in program B (delay 120 ms) reaches two WHEP
 *   listeners 120 ± 2 ms apart;
 * - changes of processing and routing while three listeners listen: nobody is disconnected,
 *   the audio has no gap.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPipewire, wavBytes, type PipewireHarness, type Player } from './lib/pipewire.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { freeUdpPort, WhepClient } from './lib/whep-client.ts';
import { channel, toneDbfs } from './lib/signal.ts';
import { OpusDecoder } from '../ffi/opus.ts';

const RATE = 48_000;
const SECONDS = 120;
/** Channel 1: 400 Hz at −25 dBFS, with a burst 12 dB louder for 0.5 s in every 2 s. */
const LIM_HZ = 400;
const LIM_BASE_DBFS = -25;
/** Channel 2: 1 kHz at −18 dBFS (the EQ). Channel 3: 30 Hz at −12 dBFS (the high-pass). */
const EQ_DBFS = -18;
/** Channel 4: a 2 ms pulse at 0.5 every second, on silence (the delay). */
const CLICK_EVERY_S = 1;

function signal(): Float32Array {
  const n = SECONDS * RATE;
  const out = new Float32Array(n * 4);
  const base = Math.pow(10, LIM_BASE_DBFS / 20);
  const eq = Math.pow(10, EQ_DBFS / 20);
  const low = Math.pow(10, -12 / 20);
  for (let i = 0; i < n; i++) {
    const t = i / RATE;
    const burst = t % 2 >= 1.5 ? 4 : 1; // +12 dB, switched on abruptly: the limiter's worst case
    out[i * 4] = base * burst * Math.sin(2 * Math.PI * LIM_HZ * t);
    out[i * 4 + 1] = eq * Math.sin(2 * Math.PI * 1000 * t);
    out[i * 4 + 2] = low * Math.sin(2 * Math.PI * 30 * t);
    out[i * 4 + 3] = i % (CLICK_EVERY_S * RATE) < 96 ? 0.5 : 0;
  }
  return out;
}

const PROGRAMS = `
[[program]]
id = "lim"
channels = [1]
gain_db = 24
limiter_dbfs = -1.0

[[program]]
id = "raw"
channels = [1]
gain_db = 24

[[program]]
id = "eq"
channels = [2]
[[program.eq]]
type = "peak"
hz = 1000
gain_db = 6
q = 1.0

[[program]]
id = "flat2"
channels = [2]

[[program]]
id = "hp"
channels = [3]
highpass_hz = 100

[[program]]
id = "flat3"
channels = [3]

[[program]]
id = "a"
channels = [4]

[[program]]
id = "b"
channels = [4]
delay_ms = 120
`;

let pw: PipewireHarness;
let hark: HarkProcess;
let player: Player;

beforeAll(async () => {
  pw = await startPipewire({ sinkChannels: 4 });
  const file = join(pw.dir, 'programs-signal.wav');
  writeFileSync(file, wavBytes(signal(), 4));
  // One quantum all along, 1024 frames: pw-play and hark (latency_frames =
  // relaxed_latency_frames) ask for the same, so PipeWire's quantum stays put as listeners
  // come and go. A quantum going down makes pw-play (PipeWire 0.3.65) stop feeding the sink for
  // a while (test/programs.test.ts), and the listeners were compared against an input with
  // such holes; a 128-frame quantum (2.7 ms) made pw-play miss deadlines when the machine was
  // loaded (clicks: the limiter's ceiling read −0.41 dBFS, a 311 ms gap).
  player = pw.play(file, { channels: 4, latency: '1024' });
  const udp = await freeUdpPort();
  // MP3 at 320 kbit/s: the limiter's ceiling is measured on the decoded stream, and less
  // quantisation noise leaves less codec overshoot on top of it (seen: +0.35 dB at 128).
  hark = await startHark(`[input]\nsource = "pipewire"\ndevice = "${pw.sinkName}"\nchannels = 4\nlatency_frames = 1024\nrelaxed_latency_frames = 1024\n[mp3]\nbitrate_kbps = 320\n[webrtc]\nudp_port = ${udp}\n[opus]\nbitrate_kbps = 256\n${PROGRAMS}`, {
    env: pw.env,
    timeoutMs: 60_000,
  });
}, 90_000);

afterAll(async () => {
  if (process.env.HARK_TEST_VERBOSE) console.log(hark?.output());
  await hark?.stop();
  await player?.stop();
  await pw?.stop();
}, 60_000);

/** ffmpeg pulls `seconds` of an MP3 URL and decodes it (mono streams as mono). */
async function pull(url: string, seconds: number): Promise<Float32Array> {
  const p = Bun.spawn(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'mp3', '-t', String(seconds), '-i', url, '-f', 'f32le', '-ac', '1', '-ar', '48000', 'pipe:1'], {
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const timer = setTimeout(() => p.kill(), (seconds + 15) * 1000);
  const [out, err] = await Promise.all([new Response(p.stdout).arrayBuffer(), new Response(p.stderr).text()]);
  clearTimeout(timer);
  if ((await p.exited) !== 0) throw new Error(`ffmpeg failed on ${url}: ${err}`);
  return new Float32Array(out);
}

const peakDb = (x: Float32Array) => {
  let p = 0;
  for (const v of x) p = Math.max(p, Math.abs(v));
  return 20 * Math.log10(p || 1e-12);
};

/** Runs of at least `min` samples of silence (|x| < 1e-4) after sound: [start, end) sample indexes. */
function silentRuns(x: Float32Array, min: number): [number, number][] {
  const out: [number, number][] = [];
  let from = -1;
  let heard = false;
  for (let i = 0; i <= x.length; i++) {
    const quiet = i < x.length && Math.abs(x[i]!) < 1e-4;
    if (quiet && from < 0) from = i;
    if (!quiet) {
      if (from >= 0 && heard && i - from >= min && i < x.length) out.push([from, i]);
      from = -1;
      if (i < x.length) heard = true;
    }
  }
  return out;
}

/** The median over 0.25 s windows of a tone's level. */
function toneLevel(x: Float32Array, hz: number): number {
  const w: number[] = [];
  for (let i = RATE / 2; i + RATE / 4 <= x.length; i += RATE / 4) w.push(toneDbfs(x.subarray(i, i + RATE / 4), hz));
  return [...w].sort((a, b) => a - b)[Math.floor(w.length / 2)]!;
}

describe('per-program processing, measured on the decoded output', () => {
  test('limiter at −1 dBFS: a +12 dB burst never decodes above −1 dBFS (+0.3 for MP3); without it the program clips', async () => {
    // 6 s: three bursts each.
    const [lim, raw] = await Promise.all([pull(`${hark.url}/stream/lim.mp3`, 6), pull(`${hark.url}/stream/raw.mp3`, 6)]);
    const rawPeak = peakDb(raw.subarray(RATE / 2));
    // The tone between bursts sits at the ceiling itself, so a hole in what pw-play feeds (it
    // stalls now and then on a loaded machine) becomes a step from silence to −1 dBFS, which MP3
    // rings over by more than 0.3 dB (the CI run at 21:47 read −0.61 dBFS). That is the feed,
    // not the limiter: the samples within 50 ms of a hole in the limited program are left out,
    // and logged. The program's own meter (below) checks the limiter on every sample.
    const holes = silentRuns(lim, 48).filter(([, b]) => b > RATE / 2);
    const kept = lim.slice(RATE / 2);
    for (const [a, b] of holes) kept.fill(0, Math.max(0, a - RATE / 2 - 2400), Math.max(0, b - RATE / 2 + 2400));
    const limPeak = peakDb(kept);
    console.log(`[limiter] decoded peak with the limiter ${limPeak.toFixed(2)} dBFS (${holes.length} hole(s) in the feed left out${holes.length ? `: at ${holes.map(([a, b]) => `${(a / RATE).toFixed(2)}–${(b / RATE).toFixed(2)} s`).join(', ')}` : ''}), without ${rawPeak.toFixed(2)} dBFS`);
    expect(kept.length - holes.reduce((n, [a, b]) => n + (b - a) + 4800, 0)).toBeGreaterThan(RATE * 4);
    expect(limPeak).toBeLessThanOrEqual(-1 + 0.3);
    // Between bursts the limited program is the input +24 dB: −1 dBFS, untouched.
    expect(toneLevel(lim, LIM_HZ)).toBeGreaterThan(-2);
    expect(rawPeak).toBeGreaterThan(-0.1);
    const status = await (await fetch(`${hark.url}/api/status`)).json();
    const post = status.programs.find((p: { id: string }) => p.id === 'raw').levels.post;
    expect(post.clips[0]).toBeGreaterThan(0);
    // Before the encoder: the limited program's own meter never shows a clip.
    expect(status.programs.find((p: { id: string }) => p.id === 'lim').levels.post.clips[0]).toBe(0);
  }, 40_000);

  test('EQ: a 1 kHz peak of +6 dB measures +6 dB (±0.5) against the same channel unprocessed', async () => {
    const [eq, flat] = await Promise.all([pull(`${hark.url}/stream/eq.mp3`, 4), pull(`${hark.url}/stream/flat2.mp3`, 4)]);
    const gain = toneLevel(eq, 1000) - toneLevel(flat, 1000);
    expect(Math.abs(toneLevel(flat, 1000) - EQ_DBFS)).toBeLessThan(0.5);
    expect(Math.abs(gain - 6)).toBeLessThanOrEqual(0.5);
  }, 30_000);

  test('high-pass at 100 Hz: 30 Hz comes out at least 12 dB down', async () => {
    const [hp, flat] = await Promise.all([pull(`${hark.url}/stream/hp.mp3`, 4), pull(`${hark.url}/stream/flat3.mp3`, 4)]);
    const flat30 = toneLevel(flat, 30);
    expect(flat30).toBeGreaterThan(-13.5);
    expect(flat30 - toneLevel(hp, 30)).toBeGreaterThanOrEqual(12);
  }, 30_000);

  test('delay 120 ms: the same click reaches two WHEP listeners (programs a and b) 120 ± 2 ms apart', async () => {
    const [a, b] = await Promise.all([clickTimes(`${hark.url}/whep/a`, 6), clickTimes(`${hark.url}/whep/b`, 6)]);
    // Pair each click of A with the first of B after it.
    const gaps: number[] = [];
    for (const t of a) {
      const u = b.find((x) => x > t);
      if (u !== undefined && u - t < 500) gaps.push(u - t);
    }
    expect(gaps.length).toBeGreaterThanOrEqual(3);
    const median = [...gaps].sort((x, y) => x - y)[Math.floor(gaps.length / 2)]!;
    if (Math.abs(median - 120) > 2) throw new Error(`clicks apart by ${gaps.map((g) => g.toFixed(1)).join(', ')} ms`);
    expect(Math.abs(median - 120)).toBeLessThanOrEqual(2);
  }, 40_000);
});

describe('changes while listeners listen', () => {
  test('EQ, limiter, delay and routing changed live under three listeners: none disconnected, no gap in the audio', async () => {
    const base = (await (await fetch(`${hark.url}/api/config`)).json()).program as Record<string, unknown>[];
    const set = async (change: (p: Record<string, unknown>) => void) => {
      const next = structuredClone(base).map((p) => {
        if (p.id === 'eq') change(p);
        return p;
      });
      base.splice(0, base.length, ...next);
      changes.push((performance.now() - t0) / 1000);
      const r = await fetch(`${hark.url}/api/config`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ program: next }) });
      expect(r.status).toBe(200);
      expect((await r.json()).restart ?? []).toEqual([]);
    };
    // Three listeners of program "eq": two over WebRTC, one on /stream/eq.mp3.
    const w1 = whepRecorder(`${hark.url}/whep/eq`);
    const w2 = whepRecorder(`${hark.url}/whep/eq`);
    const mp3 = pull(`${hark.url}/stream/eq.mp3`, 9);
    // The same channel through a program nobody changes: what the input itself carried. On a
    // loaded machine pw-play (the test's own source) misses some of its deadlines, and that
    // silence is in every program alike (seen: 224 quiet 10 ms windows with a busy loop on one
    // core, before the first change). A gap the changes made is one the reference lacks.
    const reference = pull(`${hark.url}/stream/flat2.mp3`, 9);
    const t0 = performance.now();
    const changes: number[] = [];
    const [r1, r2] = await Promise.all([w1, w2]);
    await Bun.sleep(1500);
    await set((p) => ((p.eq as Record<string, unknown>[])[0]!.gain_db = 0));
    await Bun.sleep(800);
    await set((p) => (p.limiter_dbfs = -6));
    await Bun.sleep(800);
    // 80 ms: whole cycles of the 1 kHz tone, so the delay's cross-fade joins it in phase.
    await set((p) => (p.delay_ms = 80));
    await Bun.sleep(800);
    await set((p) => {
      p.channels = [];
      p.mix = { '2': 0, '3': -30 };
    });
    await Bun.sleep(800);
    await set((p) => (p.highpass_hz = 60));
    await Bun.sleep(1500);
    const pcm = await mp3;
    const ref = await reference;
    const [p1, p2] = await Promise.all([r1.stop(), r2.stop()]);
    const quietOf = (x: Float32Array): number[] => {
      // 10 ms windows without the tone (it sits between −24 and −12 dBFS).
      const quiet: number[] = [];
      for (let i = RATE; i + 480 <= x.length; i += 480) {
        let e = 0;
        for (let k = i; k < i + 480; k++) e += x[k]! * x[k]!;
        if (10 * Math.log10(e / 480 + 1e-20) < -40) quiet.push(i / RATE);
      }
      return quiet;
    };
    const refQuiet = quietOf(ref).length;
    const problems: string[] = [];
    for (const [name, x] of [['/stream/eq.mp3', pcm], ['WHEP 1', p1.pcm], ['WHEP 2', p2.pcm]] as const) {
      // Every 10 ms carries the tone, but for what the input itself lacked (the reference),
      // and one window of a cut-off recording end.
      const quiet = quietOf(x);
      if (quiet.length > refQuiet + 1) problems.push(`${name}: quiet at ${quiet.slice(0, 12).map((t) => t.toFixed(2)).join(', ')} s (${quiet.length} × 10 ms; the unchanged program: ${refQuiet})`);
    }
    if (problems.length) throw new Error(`${problems.join('\n')}\nchanges at ${changes.map((t) => t.toFixed(2)).join(', ')} s after the MP3 listener joined\n${hark.output().slice(-3000)}`);
    // The WebRTC listeners stayed connected and got every packet in time (10 ms packets).
    for (const p of [p1, p2]) {
      expect(p.state).toBe('connected');
      expect(p.maxGapMs).toBeLessThan(150);
    }
    expect(pcm.length).toBeGreaterThan(8.5 * RATE);
  }, 60_000);
});

/** A WHEP listener decoding its program (mono) with libopus; stop() returns the audio and how it went. */
async function whepRecorder(url: string) {
  const dec = new OpusDecoder({ channels: 1 });
  const chunks: Float32Array[] = [];
  let last = 0;
  let maxGapMs = 0;
  const c = await WhepClient.open({
    url,
    codecs: ['opus'],
    record: false,
    onRtp: (p) => {
      const now = performance.now();
      if (last) maxGapMs = Math.max(maxGapMs, now - last);
      last = now;
      const cc = p[0]! & 0x0f;
      const at = 12 + cc * 4;
      const ext = p[0]! & 0x10 ? 4 + 4 * p.readUInt16BE(at + 2) : 0;
      chunks.push(new Float32Array(dec.decode(new Uint8Array(p.subarray(at + ext)))));
    },
  });
  return {
    async stop() {
      const state = c.state;
      await c.close();
      dec.close();
      const pcm = new Float32Array(chunks.reduce((n, x) => n + x.length, 0));
      let k = 0;
      for (const x of chunks) {
        pcm.set(x, k);
        k += x.length;
      }
      return { pcm, state, maxGapMs };
    },
  };
}

/**
 * When each click reached a WHEP listener (ms, performance.now()), on the session's own sample
 * clock: each packet's RTP timestamp (unwrapped) maps to arrival time by the lower envelope of
 * arrival − timestamp over all packets (the fastest delivery), so the test process's own event
 * loop, late on a loaded machine, does not move a click (seen: ±40 ms by arrival times alone).
 */
async function clickTimes(url: string, seconds: number): Promise<number[]> {
  const dec = new OpusDecoder({ channels: 1 });
  const clicks: number[] = [];
  let first = -1;
  let offset = Infinity;
  let armed = true;
  const c = await WhepClient.open({
    url,
    codecs: ['opus'],
    record: false,
    onRtp: (p) => {
      const now = performance.now();
      const raw = p.readUInt32BE(4);
      if (first < 0) first = raw;
      const ts = (raw - first) >>> 0; // 6 s never wraps 2^32 twice
      offset = Math.min(offset, now - (ts / RATE) * 1000);
      const cc = p[0]! & 0x0f;
      const at = 12 + cc * 4;
      const ext = p[0]! & 0x10 ? 4 + 4 * p.readUInt16BE(at + 2) : 0;
      const pcm = dec.decode(new Uint8Array(p.subarray(at + ext)));
      let loud = false;
      for (let i = 0; i < pcm.length; i++) {
        const v = Math.abs(pcm[i]!);
        if (v > 0.01) loud = true;
        if (armed && v > 0.2) {
          clicks.push(((ts + i) / RATE) * 1000);
          armed = false;
        }
      }
      // One click per second: re-arm once a packet is all quiet.
      if (!loud) armed = true;
    },
  });
  await Bun.sleep(seconds * 1000);
  await c.close();
  dec.close();
  return clicks.map((t) => t + offset);
}
