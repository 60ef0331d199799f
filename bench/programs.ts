/**
 * Programs (issue 18): what each [[program]] costs, on one 4-channel PipeWire source (a private
 * PipeWire with pipewire-pulse; a null sink with four channels, FL FR RL RR, fed by pw-play).
 *
 * 1. CPU per program against darkice. hark with 1, 2 and 4 programs (stereo pairs of the four
 *    channels: 1+2, 3+4, 1+3, 2+4; no processing), each program with Opus for WebRTC (one WHEP
 *    listener per program stays connected, so its Opus encoder runs) and MP3 CBR 128 kbit/s to
 *    icecast2 (`[[icecast]] program = "<id>"`), against as many darkice processes doing MP3 CBR
 *    128 kbit/s (stereo, LAME quality 5) to the same icecast2 from the same sink's monitor through
 *    pipewire-pulse, all running in the same window. A music-like signal (bench/lib/music.ts,
 *    two different stretches of it on channels 1+2 and 3+4) plays in a loop. CPU = utime + stime
 *    from /proc/<pid>/stat over a fixed window after a warm-up, as bench/icecast-cpu.ts measures.
 *    hark is started afresh for each program count; several rounds, the counts in alternating
 *    order (1, 2, 4 then 4, 2, 1 …), median per count. The WHEP listeners run in a process of
 *    their own (node-datachannel, test/lib/whep-client.ts), counted apart. pipewire-pulse serves
 *    only the darkice processes (hark and pw-play speak PipeWire natively), so its CPU is all
 *    their capture path and each darkice is charged 1/N of it, as icecast-cpu.ts does. hark's
 *    /metrics over the window says whether it kept up (Opus packets, frames lost); a window in
 *    which it lost audio is measured again. hark's two encoders are also timed alone in this
 *    process (CPU time), to show what of a program's cost is encoding.
 *
 * 2. Capture-to-packet latency with processing. Five harks run at once on the same sink, each
 *    with WHEP listeners in this process that stamp every RTP packet on arrival and decode it
 *    (libopus): no [[program]] (the whole input, as before programs); one program without
 *    processing; four programs without processing; four with processing (gain, high-pass, 6 EQ
 *    bands, limiter at −1 dBFS, delay 0); the same four with the limiter off. Clicks (on all four channels) are
 *    played into the sink; a reference capture in this process (bench/lib/click-capture-worker.ts,
 *    as bench/webrtc-latency.ts uses) stamps each click when PipeWire delivers it. Per click and
 *    listener: the arrival of the RTP packet that carries it (bench/webrtc-latency.ts's "hark's
 *    part"; 10 ms packets, so this is quantised to 10 ms), and the click's own sample in that
 *    packet (arrival + its offset in the decoded packet: when it could play if each packet were
 *    played the moment it arrived), which moves by every frame of delay in the signal. Every
 *    arm hears the same clicks, so the differences are taken click by click.
 *
 *   bun bench/programs.ts [window s, 20] [rounds, 3] [warm-up s, 30] [clicks, 30]
 *   HARK_BENCH_ONLY=cpu|latency bun bench/programs.ts …   # one part, nothing appended
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHark, type HarkProcess } from '../test/lib/hark.ts';
import { startIcecast } from '../test/lib/icecast.ts';
import { startPipewire, wavBytes, type PipewireHarness, type Player } from '../test/lib/pipewire.ts';
import { freeUdpPort, WhepClient } from '../test/lib/whep-client.ts';
import { OpusDecoder } from '../ffi/opus.ts';
import { createEncoder, type EncoderSpec } from '../src/codecs/index.ts';
import type { ClickCaptureInit } from './lib/click-capture-worker.ts';
import { appendResults, cpuSeconds } from './lib.ts';
import { musicLike } from './lib/music.ts';

// --- The WHEP listeners' own process (part 1): one listener per URL, until told to stop. ---
if (process.argv[2] === '--listeners') {
  const clients = await Promise.all(process.argv.slice(3).map((url) => WhepClient.open({ url, codecs: ['opus'], record: false })));
  process.on('message', async (m: string) => {
    if (m === 'count') process.send!({ type: 'count', packets: clients.map((c) => c.packetCount) });
    if (m === 'stop') {
      await Promise.all(clients.map((c) => c.close().catch(() => 0)));
      process.exit(0);
    }
  });
  process.send!({ type: 'connected' });
  await new Promise(() => {});
}

const WINDOW_S = Number(process.argv[2] ?? 20);
const ROUNDS = Number(process.argv[3] ?? 3);
/**
 * Warm-up before each window. hark's JIT compiles for about a minute after start at ~0.5 % of a
 * core (bench/icecast-cpu.ts); with WebRTC listeners hark runs at 10–35 % here, and its reading
 * after 15 s of warm-up was within 2 % of a core of the one after 30 s.
 */
const WARMUP_S = Number(process.argv[4] ?? 30);
const CLICKS = Number(process.argv[5] ?? 30);
for (const [name, v, max] of [['window seconds', WINDOW_S, 600], ['rounds', ROUNDS, 20], ['warm-up seconds', WARMUP_S, 600], ['clicks', CLICKS, 200]] as const) {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`${name} must be a whole number from 1 to ${max}, not ${v}`);
}
const ONLY = process.env.HARK_BENCH_ONLY;
if (ONLY !== undefined && ONLY !== 'cpu' && ONLY !== 'latency') throw new Error(`HARK_BENCH_ONLY is cpu or latency, not "${ONLY}"`);
const COUNTS = [1, 2, 4] as const;
/** Input channels (1-based) of the CPU part's programs: four different stereo pairs. */
const PAIRS = [[1, 2], [3, 4], [1, 3], [2, 4]] as const;
const RATE = 48_000;
const THRESHOLD = 0.1;

const log = (s: string) => process.stderr.write(`[programs] ${s}\n`);
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const median = (xs: number[]) => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]! : NaN;
}
const fin = (xs: number[]) => xs.filter(Number.isFinite);
function pidsOf(name: string): number[] {
  const r = Bun.spawnSync(['pgrep', '-x', name]);
  return r.stdout.toString().trim().split('\n').filter(Boolean).map(Number);
}

/** Everything started is stopped at the end, also when a step fails half way. */
const cleanup: (() => unknown)[] = [];
async function runCleanup(fns: (() => unknown)[]) {
  for (const c of fns.splice(0).reverse()) await Promise.resolve(c()).catch((e) => log(`cleanup: ${e}`));
}

/** 4 channels of music-like signal: channels 1+2 one stretch of it, 3+4 another (so no pair is the same). */
function music4(seconds: number): Float32Array {
  const m = musicLike(seconds);
  const frames = seconds * RATE;
  const shift = Math.round(frames / 3);
  const out = new Float32Array(frames * 4);
  for (let i = 0; i < frames; i++) {
    const j = (i + shift) % frames;
    out[4 * i] = m[2 * i]!;
    out[4 * i + 1] = m[2 * i + 1]!;
    out[4 * i + 2] = m[2 * j + 1]!;
    out[4 * i + 3] = m[2 * j]!;
  }
  return out;
}

/** Silence, then clicks (20 ms of 1 kHz at −6 dBFS, starting at its peak) on all four channels, 0.7–1.1 s apart. */
function clickTrain4(count: number): Float32Array {
  const gaps = Array.from({ length: count }, () => 0.7 + Math.random() * 0.4);
  const total = Math.ceil((1 + gaps.reduce((a, b) => a + b, 0) + 1) * RATE);
  const out = new Float32Array(total * 4);
  let at = RATE;
  for (const g of gaps) {
    for (let i = 0; i < 0.02 * RATE; i++) {
      const v = 0.5 * Math.cos((2 * Math.PI * 1000 * i) / RATE);
      for (let c = 0; c < 4; c++) out[4 * (at + i) + c] = v;
    }
    at += Math.round(g * RATE);
  }
  return out;
}

/** Play a 4-channel WAV into the sink in a loop for as long as the run takes; returns the stop. */
function playLoop(pw: PipewireHarness, file: string): () => Promise<unknown> {
  let playing = true;
  let player: Player = pw.play(file, { target: pw.sinkName, channels: 4 });
  void (async () => {
    while (playing) {
      await player.exited;
      if (playing) player = pw.play(file, { target: pw.sinkName, channels: 4 });
    }
  })();
  return async () => {
    playing = false;
    return player.stop();
  };
}

const pw = await startPipewire({ pulse: true, sinkChannels: 4 });
cleanup.push(() => pw.stop());
const dir = mkdtempSync(join(tmpdir(), 'hark-bench-programs-'));
const harkEnv = { env: { ...pw.env, HARK_LOG_LEVEL: 'info' }, timeoutMs: 60_000 };
const ourPid = (name: string) => pidsOf(name).find((p) => readFileSync(`/proc/${p}/environ`, 'latin1').includes(pw.dir));

// ------------------------------------------------------------------------------------------
// Part 1: CPU per program against darkice.
// ------------------------------------------------------------------------------------------
interface CpuWindow {
  n: number;
  round: number;
  hark: number;
  darkice: number;
  pulse: number;
  listeners: number;
  pipewire: number;
  quantum: number;
  /** The slowest WHEP listener's packets a second (100 for 10 ms Opus). */
  packetsPerS: number;
  /** Which window after the warm-up (a window in which hark lost audio is measured again). */
  attempt: number;
  /** From hark's /metrics over the window: Opus packets a second per program, frames lost (capture ring; bus consumers falling behind) and silence filled in. */
  opusPps: number;
  captureLost: number;
  busLost: number;
  silenceFrames: number;
  load: string;
}

/** hark's /metrics as "name{labels}" → value. */
async function metrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^(hark_[a-z_]+(?:\{[^}]*\})?) (\S+)$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}
/** Sum of the counters whose key starts with `name` (and contains `part`), after − before. */
function delta(a: Map<string, number>, b: Map<string, number>, name: string, part = ''): number {
  let d = 0;
  for (const [k, v] of b) if ((k === name || k.startsWith(`${name}{`)) && k.includes(part)) d += v - (a.get(k) ?? 0);
  return d;
}
const cpuWindows: CpuWindow[] = [];
let darkiceVersion = '';

/**
 * CPU time of hark's own encoders for one program, per second of audio: Opus as the WebRTC
 * output asks for it (96 kbit/s stereo, 10 ms, complexity 10, in-band FEC) and MP3 CBR 128
 * kbit/s, fed the music-like signal in 128-frame blocks in this process (getrusage, so time
 * spent preempted by other processes does not count). Median of `reps`.
 */
function encoderCpu(reps = 3, seconds = 10): { opus: number; mp3: number } {
  const pcm = musicLike(seconds);
  const one = (spec: EncoderSpec) => {
    const enc = createEncoder(spec, () => {});
    const c0 = process.cpuUsage();
    for (let f = 0; f + 128 <= seconds * RATE; f += 128) enc.write(pcm.subarray(f * 2, (f + 128) * 2), 128, f);
    const c = process.cpuUsage(c0);
    enc.close();
    return ((c.user + c.system) / 1e6 / seconds) * 100;
  };
  const opus: EncoderSpec = { codec: 'opus', channels: 2, bitrateKbps: 96, frameMs: 10, application: 'audio', fec: true, dtx: false, cbr: false, complexity: 10 };
  const mp3: EncoderSpec = { codec: 'mp3', channels: 2, bitrateKbps: 128, mode: 'cbr' };
  one(opus); // warm the JIT and the libraries
  one(mp3);
  return { opus: median(Array.from({ length: reps }, () => one(opus))), mp3: median(Array.from({ length: reps }, () => one(mp3))) };
}
let encCpu = { opus: NaN, mp3: NaN };

async function cpuPart(): Promise<void> {
  encCpu = encoderCpu();
  log(`hark's encoders in this process: Opus ${encCpu.opus.toFixed(2)} %, MP3 ${encCpu.mp3.toFixed(2)} % of a core per program`);
  const ice = await startIcecast();
  cleanup.push(() => ice.stop());
  writeFileSync(join(dir, 'music4.wav'), wavBytes(music4(60), 4));
  cleanup.push(playLoop(pw, join(dir, 'music4.wav')));
  for (let i = 0; i < 50 && (await pw.run(['pactl', 'info'], 2000).catch(() => ({ code: 1 }))).code !== 0; i++) await Bun.sleep(100);
  darkiceVersion = Bun.spawnSync(['darkice', '-h']).stdout.toString().match(/DarkIce (\S+)/)?.[1] ?? '';
  const monitor = `${pw.sinkName}.monitor`;
  const env = { ...process.env, ...pw.env } as Record<string, string>;

  const harkToml = (n: number, udp: number) =>
    `[input]\nsource = "pipewire"\ndevice = "${pw.sinkName}"\nchannels = 4\n[webrtc]\nudp_port = ${udp}\n[silence]\nenabled = false\n` +
    PAIRS.slice(0, n).map((ch, i) => `\n[[program]]\nid = "p${i + 1}"\nchannels = [${ch.join(', ')}]\n`).join('') +
    PAIRS.slice(0, n)
      .map((_, i) => `\n[[icecast]]\nid = "p${i + 1}"\nprogram = "p${i + 1}"\nurl = "http://source:${ice.sourcePassword}@127.0.0.1:${ice.port}/hark-p${i + 1}.mp3"\nformat = "mp3"\nbitrate_kbps = 128\n`)
      .join('');
  const darkiceCfg = (i: number) => {
    const path = join(dir, `darkice-${i}.cfg`);
    writeFileSync(
      path,
      `[general]\nduration = 0\nbufferSecs = 1\nreconnect = yes\nrealtime = no\n\n[input]\ndevice = pulseaudio\npaSourceName = ${monitor}\nsampleRate = 48000\nbitsPerSample = 16\nchannel = 2\n\n` +
        `[icecast2-0]\nbitrateMode = cbr\nformat = mp3\nbitrate = 128\nquality = 0.5\nchannel = 2\nsampleRate = 48000\nserver = 127.0.0.1\nport = ${ice.port}\npassword = ${ice.sourcePassword}\nmountPoint = darkice-${i}.mp3\nname = darkice ${i}\n`,
    );
    return path;
  };

  async function measure(n: number, round: number): Promise<CpuWindow> {
    const local: (() => unknown)[] = [];
    try {
      const udp = await freeUdpPort();
      const hark = await startHark(harkToml(n, udp), harkEnv);
      local.push(() => hark.stop());
      const darkices = Array.from({ length: n }, (_, i) => {
        const p = Bun.spawn(['darkice', '-c', darkiceCfg(i + 1)], { env, stdout: Bun.file(join(dir, `darkice-${i + 1}.log`)), stderr: Bun.file(join(dir, `darkice-${i + 1}.err`)) });
        local.push(async () => {
          p.kill();
          await Promise.race([p.exited, Bun.sleep(3000)]);
        });
        return p;
      });
      // The listeners: their own process, one WHEP session per program.
      const replies: ((m: { type: string; packets?: number[] }) => void)[] = [];
      const listeners = Bun.spawn([process.execPath, import.meta.path, '--listeners', ...PAIRS.slice(0, n).map((_, i) => `${hark.url}/whep/p${i + 1}`)], {
        stdout: 'inherit',
        stderr: 'inherit',
        ipc: (m) => replies.shift()?.(m),
      });
      local.push(async () => {
        listeners.send('stop');
        await Promise.race([listeners.exited, Bun.sleep(3000)]);
        listeners.kill();
      });
      const ask = <T,>(msg: string | null, timeoutMs = 30_000) =>
        Promise.race([
          new Promise<T>((r) => {
            replies.push(r as (m: unknown) => void);
            if (msg) listeners.send(msg);
          }),
          Bun.sleep(timeoutMs).then(() => {
            throw new Error(`the listeners' process did not answer ${msg ?? 'connected'} in ${timeoutMs} ms`);
          }),
        ]);
      await ask<{ type: string }>(null);
      const mounts = PAIRS.slice(0, n).flatMap((_, i) => [`/hark-p${i + 1}.mp3`, `/darkice-${i + 1}.mp3`]);
      for (const m of mounts) await ice.waitForSource(m, 20_000);
      const pulse = ourPid('pipewire-pulse');
      const pipewire = ourPid('pipewire');
      if (!pulse || !pipewire) throw new Error('pipewire-pulse or pipewire of this run not found');
      for (let t = 0; t < WARMUP_S; t += 15) {
        const c0 = cpuSeconds(hark.proc.pid);
        const s = Math.min(15, WARMUP_S - t);
        await Bun.sleep(s * 1000);
        log(`${n} program(s), round ${round}: warm-up ${t + s} s, hark ${(((cpuSeconds(hark.proc.pid) - c0) / s) * 100).toFixed(1)} %`);
      }
      const procs = { hark: [hark.proc.pid], darkice: darkices.map((d) => d.pid), pulse: [pulse], listeners: [listeners.pid], pipewire: [pipewire] };
      const sum = (pids: number[]) => pids.reduce((a, p) => a + cpuSeconds(p), 0);
      /** One window; a window in which hark lost audio (it did less work than asked) is measured again, at most twice. */
      let w: CpuWindow | undefined;
      for (let attempt = 1; attempt <= 3; attempt++) {
        const p0 = (await ask<{ packets: number[] }>('count')).packets;
        const m0 = await metrics(hark.url);
        const before = Object.fromEntries(Object.entries(procs).map(([k, v]) => [k, sum(v)]));
        const t0 = performance.now();
        await Bun.sleep(WINDOW_S * 1000);
        const wall = (performance.now() - t0) / 1000;
        const pct = Object.fromEntries(Object.entries(procs).map(([k, v]) => [k, ((sum(v) - before[k]!) / wall) * 100]));
        const m1 = await metrics(hark.url);
        const p1 = (await ask<{ packets: number[] }>('count')).packets;
        const load = loadavg();
        // Everything still did its work over the window.
        const sources = await ice.sources();
        for (const m of mounts) if (!sources.has(m)) throw new Error(`${m} dropped during the window`);
        const st = await (await fetch(`${hark.url}/api/status`)).json();
        for (const o of st.outputs.icecast) if (o.state !== 'live') throw new Error(`hark's Icecast output ${o.id} is ${o.state}: ${o.status}`);
        if (st.input.source !== 'pipewire' || st.input.state !== 'running') throw new Error(`hark is not capturing PipeWire: ${st.input.message}`);
        for (const [i, d] of darkices.entries()) if (d.exitCode !== null) throw new Error(`darkice ${i + 1} exited (${d.exitCode}): ${readFileSync(join(dir, `darkice-${i + 1}.err`), 'utf8').slice(-500)}`);
        const rates = p1.map((p, i) => (p - p0[i]!) / wall);
        w = {
          n,
          round,
          attempt,
          hark: pct.hark!,
          darkice: pct.darkice!,
          pulse: pct.pulse!,
          listeners: pct.listeners!,
          pipewire: pct.pipewire!,
          quantum: Number(st.input.stats.quantum),
          packetsPerS: Math.min(...rates),
          opusPps: delta(m0, m1, 'hark_encoder_packets_total', '/10ms/') / wall / n,
          captureLost: delta(m0, m1, 'hark_capture_dropped_frames_total'),
          busLost: delta(m0, m1, 'hark_bus_dropped_frames_total'),
          silenceFrames: delta(m0, m1, 'hark_audio_silence_frames_total'),
          load,
        };
        log(
          `${n} program(s), round ${round}, window ${attempt}: hark ${w.hark.toFixed(2)} %, darkice ×${n} ${w.darkice.toFixed(2)} %, pipewire-pulse ${w.pulse.toFixed(2)} %, listeners ${w.listeners.toFixed(2)} %, pipewire ${w.pipewire.toFixed(2)} %, Opus packets/s per program ${w.opusPps.toFixed(1)}, slowest listener ${w.packetsPerS.toFixed(1)}/s, frames lost: capture ${w.captureLost}, bus ${w.busLost}, silence ${w.silenceFrames}, quantum ${w.quantum}, load ${load}`,
        );
        if (w.captureLost + w.busLost + w.silenceFrames === 0) break;
      }
      return w!;
    } finally {
      await runCleanup(local);
    }
  }

  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 ? [...COUNTS] : [...COUNTS].reverse();
    for (const n of order) cpuWindows.push(await measure(n, round));
  }
}

// ------------------------------------------------------------------------------------------
// Part 2: capture-to-packet latency, with and without processing.
// ------------------------------------------------------------------------------------------
const PROCESSING = (limiter: boolean) => `gain_db = 3.0
highpass_hz = 80
limiter_dbfs = ${limiter ? '-1.0' : '0'}
delay_ms = 0
[[program.eq]]
type = "lowshelf"
hz = 120
gain_db = -2.0
q = 0.7
[[program.eq]]
type = "peak"
hz = 250
gain_db = -3.0
q = 1.0
[[program.eq]]
type = "peak"
hz = 1000
gain_db = 2.0
q = 1.0
[[program.eq]]
type = "peak"
hz = 3000
gain_db = 3.0
q = 1.4
[[program.eq]]
type = "peak"
hz = 6000
gain_db = -2.0
q = 2.0
[[program.eq]]
type = "highshelf"
hz = 10000
gain_db = 2.0
q = 0.7
`;
/** The four programs of test/programs.test.ts: a stereo pair, two mono channels and a mix. */
const FOUR: [string, string][] = [
  ['st', 'channels = [1, 2]'],
  ['c3', 'channels = [3]'],
  ['c4', 'channels = [4]'],
  ['mix', 'mix = { 1 = 0.0, 3 = -6.0 }'],
];
const fourPrograms = (processing: string) => FOUR.map(([id, route]) => `\n[[program]]\nid = "${id}"\n${route}\n${processing}`).join('');

interface Arm {
  id: string;
  label: string;
  programs: string;
  /** WHEP paths, one listener each. */
  paths: string[];
}
const ARMS: Arm[] = [
  { id: 'none', label: 'no [[program]]: the whole input (as before programs)', programs: '', paths: ['/whep'] },
  { id: 'one', label: 'one program (1+2), no processing', programs: `\n[[program]]\nid = "st"\nchannels = [1, 2]\n`, paths: ['/whep/st'] },
  { id: 'four', label: 'four programs, no processing', programs: fourPrograms(''), paths: FOUR.map(([id]) => `/whep/${id}`) },
  { id: 'proc', label: 'four programs, processing on (gain, high-pass, 6 EQ bands, limiter −1 dBFS, delay 0)', programs: fourPrograms(PROCESSING(true)), paths: FOUR.map(([id]) => `/whep/${id}`) },
  { id: 'nolim', label: 'four programs, the same processing with the limiter off', programs: fourPrograms(PROCESSING(false)), paths: FOUR.map(([id]) => `/whep/${id}`) },
];

interface Detection {
  /** Wall-clock ms when the packet carrying the click arrived. */
  arrival: number;
  /** arrival + the click's offset in the decoded packet. */
  sample: number;
}
interface ArmResult {
  arm: Arm;
  /** Per listener, per reference click: the latency in ms (NaN when missed). */
  arrival: number[][];
  sample: number[][];
  cpu: number;
}
let latencyResults: ArmResult[] = [];
let latencyLoad = '';
let latencyQuantum = 0;
let refClicks = 0;

/**
 * A listener in this process: each RTP packet's arrival time is taken first thing and the packet
 * copied; decoding (libopus) waits for a timer, so one listener's decode does not delay the
 * next packet's timestamp. Clicks land in `found`.
 */
async function clickListener(url: string): Promise<{ found: Detection[]; close: () => Promise<unknown> }> {
  const dec = new OpusDecoder({ channels: 2 });
  const found: Detection[] = [];
  const queue: { at: number; payload: Uint8Array }[] = [];
  let quiet = 0;
  const drain = () => {
    for (const { at, payload } of queue.splice(0)) {
      const pcm = dec.decode(payload);
      for (let i = 0; i < pcm.length; i += 2) {
        const v = Math.max(Math.abs(pcm[i]!), Math.abs(pcm[i + 1]!));
        if (v > THRESHOLD) {
          if (quiet >= RATE * 0.3) found.push({ arrival: at, sample: at + (i / 2 / RATE) * 1000 });
          quiet = 0;
        } else if (v < THRESHOLD / 4) quiet++;
      }
    }
  };
  const timer = setInterval(drain, 50);
  const c = await WhepClient.open({
    url,
    codecs: ['opus'],
    record: false,
    onRtp: (b) => {
      const at = performance.timeOrigin + performance.now();
      const cc = b[0]! & 0x0f;
      const h = 12 + cc * 4;
      const ext = b[0]! & 0x10 ? 4 + 4 * b.readUInt16BE(h + 2) : 0;
      queue.push({ at, payload: new Uint8Array(b.subarray(h + ext)) });
    },
  });
  return {
    found,
    close: async () => {
      clearInterval(timer);
      drain();
      await c.close();
      dec.close();
    },
  };
}

async function latencyPart(): Promise<void> {
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(new URL('./lib/click-capture-worker.ts', import.meta.url).href);
  const ref: number[] = [];
  cleanup.push(async () => {
    Atomics.store(new Int32Array(stop), 0, 1);
    await Bun.sleep(100);
    worker.terminate();
  });
  await new Promise<void>((resolve) => {
    worker.onmessage = (ev) => {
      if (ev.data.type === 'ready') resolve();
      if (ev.data.type === 'click') ref.push(ev.data.wallMs);
    };
    worker.postMessage({ device: pw.sinkName, remote: pw.remote, threshold: THRESHOLD, quietFrames: RATE * 0.3, stop } satisfies ClickCaptureInit);
  });
  const harks: HarkProcess[] = [];
  for (const arm of ARMS) {
    const udp = await freeUdpPort();
    const h = await startHark(`[input]\nsource = "pipewire"\ndevice = "${pw.sinkName}"\nchannels = 4\n[webrtc]\nudp_port = ${udp}\n[silence]\nenabled = false\n${arm.programs}`, harkEnv);
    cleanup.push(() => h.stop());
    harks.push(h);
  }
  const listeners = await Promise.all(ARMS.map((arm, i) => Promise.all(arm.paths.map((p) => clickListener(`${harks[i]!.url}${p}`)))));
  cleanup.push(() => Promise.all(listeners.flat().map((l) => l.close().catch(() => 0))));
  // The harks' JIT and the listeners' sessions settle on the quiet input.
  await Bun.sleep(20_000);
  const file = join(dir, 'clicks.wav');
  writeFileSync(file, wavBytes(clickTrain4(CLICKS), 4));
  ref.length = 0;
  for (const l of listeners.flat()) l.found.length = 0;
  const c0 = harks.map((h) => cpuSeconds(h.proc.pid));
  const t0 = performance.now();
  await pw.play(file, { target: pw.sinkName, channels: 4, latency: '5ms' }).exited;
  await Bun.sleep(1000); // the last click's packets arrive and are decoded (every 50 ms)
  const wall = (performance.now() - t0) / 1000;
  latencyLoad = loadavg();
  refClicks = ref.length;
  const statuses = await Promise.all(harks.map(async (h) => (await fetch(`${h.url}/api/status`)).json()));
  latencyQuantum = Number(statuses[0].input.stats.quantum);
  latencyResults = ARMS.map((arm, i) => {
    const per = listeners[i]!.map((l) =>
      ref.map((r) => {
        // Clicks are ≥ 700 ms apart: a missed click must not take the next one's packet.
        const d = l.found.find((x) => x.arrival > r - 5 && x.arrival < r + 400);
        return d ? [d.arrival - r, d.sample - r] : [NaN, NaN];
      }),
    );
    return {
      arm,
      arrival: per.map((l) => l.map((x) => x[0]!)),
      sample: per.map((l) => l.map((x) => x[1]!)),
      cpu: ((cpuSeconds(harks[i]!.proc.pid) - c0[i]!) / wall) * 100,
    };
  });
  const one = latencyResults[1]!;
  for (const r of latencyResults) {
    const s = r.sample.flat().filter(Number.isFinite);
    const d = fin(r.sample.flatMap((l) => l.map((v, i) => v - one.sample[0]![i]!)));
    log(`${r.arm.id}: ${ref.length} clicks, ${s.length} of ${r.sample.flat().length} detected (${r.sample.map((l) => fin(l).length).join(' ')}; found ${listeners[latencyResults.indexOf(r)]!.map((l) => l.found.length).join(' ')}); click sample p50 ${quantile(s, 0.5).toFixed(2)} p95 ${quantile(s, 0.95).toFixed(2)} ms; − one program click by click: median ${median(d).toFixed(2)} ms; hark CPU ${r.cpu.toFixed(1)} %`);
  }
  if (ref.length < CLICKS * 0.9) throw new Error(`the reference capture saw ${ref.length} of ${CLICKS} clicks`);
}

try {
  if (ONLY !== 'latency') await cpuPart();
  await runCleanup(cleanup.splice(1)); // all but PipeWire: icecast2 and the music stop before the clicks
  if (ONLY !== 'cpu') await latencyPart();
} finally {
  await runCleanup(cleanup);
}

if (ONLY) process.exit(0);

// ------------------------------------------------------------------------------------------
// Results.
// ------------------------------------------------------------------------------------------
const pct = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)} %` : '—');
const times = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '—');
const niceness = (await import('node:os')).getPriority();
const command = `${niceness ? `nice -n ${niceness} ` : ''}bun bench/programs.ts ${WINDOW_S} ${ROUNDS} ${WARMUP_S} ${CLICKS}`;
{
  const by = (n: number) => cpuWindows.filter((w) => w.n === n);
  const m = (n: number, f: (w: CpuWindow) => number) => median(by(n).map(f));
  const rows = COUNTS.map((n) => [
    String(n),
    pct(m(n, (w) => w.hark)),
    `**${pct(m(n, (w) => w.hark / n))}**`,
    pct(m(n, (w) => w.darkice)),
    `**${pct(m(n, (w) => w.darkice / n))}**`,
    pct(m(n, (w) => w.pulse)),
    pct(m(n, (w) => (w.darkice + w.pulse) / n)),
    `**${times(m(n, (w) => w.hark / w.darkice))}**`,
    `**${times(m(n, (w) => w.hark / (w.darkice + w.pulse)))}**`,
    by(n).map((w) => (w.hark / w.darkice).toFixed(2)).join(', '),
    pct(m(n, (w) => w.listeners)),
    pct(m(n, (w) => w.pipewire)),
    `${m(n, (w) => w.opusPps).toFixed(1)} / ${m(n, (w) => w.packetsPerS).toFixed(1)} / ${by(n).map((w) => w.captureLost + w.busLost + w.silenceFrames).join(', ')}`,
    '≤ 1.0×',
  ]);
  const slope = (f: (w: CpuWindow) => number) => (median(by(4).map(f)) - median(by(1).map(f))) / 3;
  const quanta = [...new Set(cpuWindows.map((w) => w.quantum))].join(', ');
  appendResults(
    'Programs: CPU per program, hark (Opus for WebRTC + MP3 to Icecast) vs darkice (MP3 to Icecast)',
    command,
    [
      'programs = darkice processes (N)',
      'hark CPU (% of a core)',
      'hark per program',
      'darkice, all N',
      'darkice per process',
      'pipewire-pulse (serves the N darkice)',
      'darkice + 1/N of pipewire-pulse, per process',
      'hark ÷ darkice, per program',
      'hark ÷ (darkice + pipewire-pulse), per program',
      'hark ÷ darkice, each round',
      'WHEP listeners (own process, not hark)',
      "pipewire daemon (everyone's)",
      "hark kept up: Opus packets/s per program / the slowest listener's / frames lost, each round",
      'goal',
    ],
    rows,
    `Medians over ${ROUNDS} rounds; each round measured 1, 2 and 4 programs in turn (order 1-2-4, then 4-2-1, alternating), each time a fresh hark with N darkice processes and N WHEP listeners, one ${WINDOW_S} s window after ${WARMUP_S} s of warm-up, all in the same window. ` +
      `hark: a 4-channel PipeWire null sink captured natively (input.channels = 4); programs = the stereo pairs 1+2, 3+4, 1+3, 2+4, no processing; per program Opus 96 kbit/s stereo, 10 ms frames, complexity 10, in-band FEC (the defaults) for one WHEP listener (node-datachannel in a process of its own, its CPU in its column), and MP3 CBR 128 kbit/s joint stereo, LAME quality 5, to icecast2 (\`[[icecast]] program = "<id>"\`). What hark's two encoders alone cost per program (hark's own OpusStreamEncoder and Mp3StreamEncoder fed the same signal in this process, CPU time by getrusage, median of 3 × 10 s): Opus ${pct(encCpu.opus)}, MP3 ${pct(encCpu.mp3)} of a core. ` +
      `darkice ${darkiceVersion}: the same sink's monitor through pipewire-pulse as 2 channels (pipewire-pulse downmixes the four), MP3 CBR 128 kbit/s, quality 0.5 (LAME 5), one mount each on the same icecast2. ` +
      'pipewire-pulse serves nothing but the darkice processes (hark and pw-play speak PipeWire natively), so all its CPU is their capture path, and each darkice is charged 1/N of it (icecast-cpu.ts charges it the same way). ' +
      `The graph ran at quantum ${quanta}: hark asks for input.latency_frames = 128 while a WebRTC listener is connected, and PipeWire runs the whole graph, pipewire-pulse included, at the smallest. ` +
      `A window in which hark lost audio (its capture ring overflowed, a bus reader fell behind, or silence was filled in: it did less work than asked) was measured again, up to three windows; the windows used: ${cpuWindows.map((w) => `N=${w.n} round ${w.round}: window ${w.attempt}`).join(', ')}. Added per program from 1 to 4 (the slope): hark ${slope((w) => w.hark).toFixed(2)} %, darkice ${slope((w) => w.darkice).toFixed(2)} %, darkice + pipewire-pulse ${slope((w) => w.darkice + w.pulse).toFixed(2)} % a process. ` +
      `Input: music-like (bench/lib/music.ts), two stretches of it on 1+2 and 3+4. CPU = utime+stime from /proc/<pid>/stat. Load average (1/5/15 min) at the end of each window: ${cpuWindows.map((w) => `N=${w.n} round ${w.round}: ${w.load}`).join('; ')}.`,
  );
}
{
  const base = latencyResults.find((r) => r.arm.id === 'one')!;
  const none = latencyResults.find((r) => r.arm.id === 'none')!;
  const proc = latencyResults.find((r) => r.arm.id === 'proc')!;
  const nolim = latencyResults.find((r) => r.arm.id === 'nolim')!;
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '—');
  /** Click by click: each listener of `a` against the same click at `b`'s first listener (or the same program's). */
  const paired = (a: ArmResult, b: ArmResult, key: 'sample' | 'arrival') =>
    fin(a[key].flatMap((l, j) => l.map((v, i) => v - (b[key][j] ?? b[key][0]!)[i]!)));
  const perProgram = (r: ArmResult) => r.sample.map((l) => f(median(fin(l.map((v, i) => v - base.sample[0]![i]!))))).join(' / ');
  const rows = latencyResults.map((r) => {
    const s = fin(r.sample.flat());
    const a = fin(r.arrival.flat());
    const missed = r.sample.flat().length - s.length;
    const dOne = paired(r, base, 'sample');
    return [
      r.arm.label,
      `${s.length}${missed ? ` (${missed} missed)` : ''}`,
      f(quantile(s, 0.5)),
      f(quantile(s, 0.95)),
      f(quantile(a, 0.5)),
      f(quantile(a, 0.95)),
      r === base ? '0' : `**${f(median(dOne))}** (p5 ${f(quantile(dOne, 0.05))}, p95 ${f(quantile(dOne, 0.95))})`,
      r === base ? '0' : `${f(quantile(s, 0.5) - quantile(fin(base.sample.flat()), 0.5))} / ${f(quantile(s, 0.95) - quantile(fin(base.sample.flat()), 0.95))}`,
      r === base ? '0' : `${f(quantile(a, 0.5) - quantile(fin(base.arrival.flat()), 0.5))} / ${f(quantile(a, 0.95) - quantile(fin(base.arrival.flat()), 0.95))}`,
      r === none ? '0' : f(median(paired(r, none, 'sample'))),
      pct(r.cpu),
      r === proc ? '≤ 1 ms' : '',
    ];
  });
  appendResults(
    'Programs: capture-to-packet latency with processing (PipeWire → hark → WHEP RTP/Opus)',
    command,
    [
      'hark (all five at once, the same clicks)',
      'clicks × listeners',
      'click sample p50 ms',
      'click sample p95 ms',
      'packet arrival p50 ms',
      'packet arrival p95 ms',
      '− one program, click by click: median ms',
      '− one program: click sample p50 / p95 ms',
      '− one program: packet arrival p50 / p95 ms',
      '− no [[program]], click by click: median ms',
      'hark CPU during the clicks',
      'goal (vs one program)',
    ],
    rows,
    `${refClicks} clicks (20 ms of 1 kHz at −6 dBFS, on all four channels, 0.7–1.1 s apart, pw-play --latency 5ms) into a 4-channel PipeWire null sink; five harks capture it at once (input.channels = 4, latency_frames 128, graph quantum ${latencyQuantum}), each with one WHEP listener per program in this process (node-datachannel), stamping every RTP packet on arrival and decoding it with libopus (Opus 96 kbit/s, 10 ms frames). ` +
      'Reference: a capture of the same sink in this process (bench/lib/click-capture-worker.ts) stamps each click at the PipeWire callback that delivered it (CLOCK_MONOTONIC, plus its offset in the quantum), as bench/webrtc-latency.ts does. ' +
      '"Packet arrival": when the RTP packet carrying the click arrived (webrtc-latency.ts\'s "hark\'s part"); with 10 ms packets it moves in 10 ms steps, as a delay pushes a click into the next packet. "Click sample": the arrival plus the click\'s offset in the decoded packet, i.e. when it could play if every packet were played the moment it arrived; it holds the 10 ms frame and Opus\'s 6.5 ms look-ahead, and moves by every frame of delay in the signal. ' +
      'Click by click: each click at each listener minus the same click at the other hark\'s listener (the four programs\' listeners each against the one program\'s), which cancels the reference\'s own timing; what remains is each hark\'s 10 ms frame grid against the 128-frame quanta (0–2.7 ms) and scheduling. ' +
      `Processing: gain +3 dB, high-pass 80 Hz, EQ low shelf 120 Hz −2 dB, peaks 250 Hz −3, 1 kHz +2, 3 kHz +3, 6 kHz −2, high shelf 10 kHz +2, limiter −1 dBFS, delay 0. Every [[program]] delays by the look-ahead, 47 frames (0.98 ms; src/audio/dsp.ts LOOKAHEAD = 48, Chain.latency = L − 1), with the limiter on or off and with no processing at all; no [[program]] means no chain. ` +
      `Limiter on − off (same processing otherwise), click by click: ${f(median(paired(proc, nolim, 'sample')))} ms; four programs processing on − off: ${f(median(paired(proc, latencyResults.find((r) => r.arm.id === 'four')!, 'sample')))} ms; one program − no [[program]]: ${f(median(paired(base, none, 'sample')))} ms. Per program, in config order (st, c3, c4, mix), − one program, click by click, median ms: four without processing ${perProgram(latencyResults.find((r) => r.arm.id === 'four')!)}; with processing ${perProgram(proc)}; limiter off ${perProgram(nolim)} (one audio worker runs every program's processing and encoder in turn). Load average at the end: ${latencyLoad}.`,
  );
}
process.exit(0);
