/**
 * CPU of streaming 128 kbit/s MP3 to Icecast: hark against darkice and ffmpeg, in one run.
 * All three capture the same PipeWire sink monitor (a private PipeWire with pipewire-pulse;
 * darkice and ffmpeg through the PulseAudio protocol, hark natively) playing the same
 * music-like signal, encode MP3 CBR 128 kbit/s joint stereo at LAME quality 5, and send it to
 * the same icecast2 on 127.0.0.1 (one mount each). CPU = utime + stime from /proc over the
 * same window. pipewire-pulse's own CPU is shown apart: it is the capture path of darkice and ffmpeg.
 *
 * Three windows:
 *   1. hark as shipped (input.latency_frames 128 for WebRTC, input.relaxed_latency_frames at
 *      its default, 2048, while no WebRTC or WHIP listener is connected: so here the graph
 *      runs 2048-frame quanta) and darkice alone on pipewire-pulse, so all of pipewire-pulse's
 *      CPU is darkice's capture path (hark's capture runs in hark's process);
 *   2. the same, with ffmpeg started too (pipewire-pulse then serves two clients);
 *   3. hark restarted with relaxed_latency_frames = 128 (the short quantum kept, as while a
 *      WebRTC listener is connected: the whole PipeWire graph then runs 128-frame quanta, for
 *      every client), darkice and ffmpeg running.
 * A bare Bun.serve process in the same windows is the runtime's idle floor.
 *
 *   bun bench/icecast-cpu.ts [seconds] [warm-up seconds]
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHark } from '../test/lib/hark.ts';
import { startIcecast } from '../test/lib/icecast.ts';
import { startPipewire } from '../test/lib/pipewire.ts';
import { appendResults, cpuSeconds } from './lib.ts';
import { playMusicLoop } from './lib/music.ts';

const seconds = Number(process.argv[2] ?? 30);
/**
 * Warm-up before each window. hark's JavaScript is still being compiled by the JIT for about a
 * minute after start (JSC's JIT thread and GC helpers then fall silent); the appliance runs for
 * hours, so the steady state is what is compared. darkice and ffmpeg are native code.
 */
const WARMUP_S = Number(process.argv[3] ?? 60);
/** Window 2 only adds ffmpeg (native code) to processes that are warm already. */
const FFMPEG_SETTLE_S = 15;

function pidsOf(name: string): number[] {
  const r = Bun.spawnSync(['pgrep', '-x', name]);
  return r.stdout.toString().trim().split('\n').filter(Boolean).map(Number);
}

// Everything started is stopped at the end, also when a step fails half way.
const cleanup: (() => unknown)[] = [];
try {
  const pw = await startPipewire({ pulse: true });
  cleanup.push(() => pw.stop());
  const ice = await startIcecast();
  cleanup.push(() => ice.stop());
  const dir = mkdtempSync(join(tmpdir(), 'hark-bench-cpu-'));
  const monitor = `${pw.sinkName}.monitor`;
  const harkToml = (input: string) => `
${input}
[webrtc]
enabled = false
[silence]
enabled = false
[[icecast]]
id = "hark"
url = "http://source:${ice.sourcePassword}@127.0.0.1:${ice.port}/hark.mp3"
format = "mp3"
bitrate_kbps = 128
`;
  const harkOpts = { env: { ...pw.env, HARK_LOG_LEVEL: 'info' } };
  /** relaxed_latency_frames as given, or its default (as shipped) without one. */
  const input = (relaxed?: number) =>
    `[input]\nsource = "pipewire"\ndevice = "${pw.sinkName}"\nlatency_frames = 128${relaxed === undefined ? '' : `\nrelaxed_latency_frames = ${relaxed}`}`;
  /** hark streaming to Icecast, and the same daemon with no output at all. */
  async function startHarks(relaxed?: number) {
    const hark = await startHark(harkToml(input(relaxed)), harkOpts);
    cleanup.push(() => hark.stop());
    // The same daemon with no output at all: what capture and the runtime cost before any encoding.
    const idle = await startHark(`${input(relaxed)}\n[webrtc]\nenabled = false\n[silence]\nenabled = false\n`, harkOpts);
    cleanup.push(() => idle.stop());
    return { hark, idle };
  }
  let harks = await startHarks();
  // Played in a loop for as long as the run takes.
  cleanup.push(playMusicLoop(pw, dir));
  const bare = Bun.spawn([process.execPath, '-e', 'Bun.serve({ port: 0, fetch: () => new Response("") }); setInterval(() => {}, 1 << 30);'], { stdout: 'ignore' });
  cleanup.push(() => bare.kill());

  // pipewire-pulse must be up for darkice/ffmpeg.
  for (let i = 0; i < 50 && (await pw.run(['pactl', 'info'], 2000).catch(() => ({ code: 1 }))).code !== 0; i++) await Bun.sleep(100);

  const darkiceCfg = join(dir, 'darkice.cfg');
  writeFileSync(
    darkiceCfg,
    `[general]
duration = 0
bufferSecs = 1
reconnect = yes
realtime = no

[input]
device = pulseaudio
paSourceName = ${monitor}
sampleRate = 48000
bitsPerSample = 16
channel = 2

[icecast2-0]
bitrateMode = cbr
format = mp3
bitrate = 128
quality = 0.5
channel = 2
sampleRate = 48000
server = 127.0.0.1
port = ${ice.port}
password = ${ice.sourcePassword}
mountPoint = darkice.mp3
name = darkice
`,
  );
  const env = { ...process.env, ...pw.env } as Record<string, string>;
  const darkice = Bun.spawn(['darkice', '-c', darkiceCfg], { env, stdout: Bun.file(join(dir, 'darkice.log')), stderr: Bun.file(join(dir, 'darkice.err')) });
  cleanup.push(() => darkice.kill());
  let ffmpeg: ReturnType<typeof Bun.spawn> | undefined;
  const startFfmpeg = () => {
    ffmpeg = Bun.spawn(
      ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'pulse', '-sample_rate', '48000', '-channels', '2', '-i', monitor,
       '-c:a', 'libmp3lame', '-b:a', '128k', '-compression_level', '5', '-content_type', 'audio/mpeg', '-f', 'mp3',
       `icecast://source:${ice.sourcePassword}@127.0.0.1:${ice.port}/ffmpeg.mp3`],
      { env, stdout: 'ignore', stderr: Bun.file(join(dir, 'ffmpeg.err')) },
    );
    cleanup.push(() => ffmpeg?.kill());
  };
  const pulsePid = () => pidsOf('pipewire-pulse').find((p) => readFileSync(`/proc/${p}/environ`, 'latin1').includes(pw.dir));
  const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

  /** One measurement window over the current processes, after `warmupS`. */
  async function measure(warmupS: number) {
    const mounts = ['/hark.mp3', '/darkice.mp3', ...(ffmpeg ? ['/ffmpeg.mp3'] : [])];
    for (const m of mounts) await ice.waitForSource(m, 15_000);
    await Bun.sleep(warmupS * 1000);
    const procs = { hark: harks.hark.proc.pid, harkIdle: harks.idle.proc.pid, darkice: darkice.pid, ffmpeg: ffmpeg?.pid, 'pipewire-pulse': pulsePid(), bare: bare.pid };
    const loadBefore = loadavg();
    const before = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, p ? cpuSeconds(p) : NaN]));
    const t0 = performance.now();
    await Bun.sleep(seconds * 1000);
    const wall = (performance.now() - t0) / 1000;
    const pct = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, p ? ((cpuSeconds(p) - before[k]!) / wall) * 100 : NaN]));
    const loadAfter = loadavg();
    const sources = await ice.sources();
    for (const m of mounts) if (!sources.has(m)) throw new Error(`${m} dropped during the run`);
    const st = await (await fetch(`${harks.hark.url}/api/status`)).json();
    const status = st.outputs.icecast[0];
    if (status.state !== 'live') throw new Error(`hark's output is ${status.status}`);
    if (st.input.source !== 'pipewire' || st.input.state !== 'running') throw new Error(`hark is not capturing PipeWire: ${st.input.message}`);
    const quantum = Number(st.input.stats.quantum);
    return { pct, quantum, bytes: status.bytes as number, load: `${loadBefore} → ${loadAfter}` };
  }

  // 1: as shipped, darkice the only client of pipewire-pulse.
  const a = await measure(WARMUP_S);
  // 2: the same hark and darkice (warm already), ffmpeg too.
  startFfmpeg();
  const b = await measure(FFMPEG_SETTLE_S);
  // 3: the short quantum kept, both peers.
  await harks.hark.stop();
  await harks.idle.stop();
  harks = await startHarks(128);
  const c = await measure(WARMUP_S);

  const f = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)} %` : '—');
  const r = (x: number, y: number) => (Number.isFinite(x / y) ? (x / y).toFixed(2) : '—');
  const cols = (m: typeof a, row: (p: Record<string, number>) => [number, string]) => {
    const [v, ratio] = row(m.pct);
    return [f(v), ratio];
  };
  const pulse = (p: Record<string, number>) => p['pipewire-pulse']!;
  const rows: [string, (p: Record<string, number>) => [number, string], string][] = [
    ['hark (PipeWire native, LAME via bun:ffi)', (p) => [p.hark!, '1.00'], ''],
    ['hark with no output (same input; the audio core and runtime alone)', (p) => [p.harkIdle!, ''], ''],
    ['hark, the Icecast output alone (the difference: encoder + streaming)', (p) => [p.hark! - p.harkIdle!, r(p.hark! - p.harkIdle!, p.darkice!)], 'vs darkice'],
    ['darkice 1.3 (pulse input)', (p) => [p.darkice!, r(p.hark!, p.darkice!)], '≤ 1.0'],
    ['ffmpeg (pulse input, libmp3lame)', (p) => [p.ffmpeg!, r(p.hark!, p.ffmpeg!)], ''],
    ['pipewire-pulse (window 1: serves darkice alone; 2, 3: darkice and ffmpeg)', (p) => [pulse(p), ''], ''],
    [
      'darkice + pipewire-pulse (window 1: its whole capture path) or + half of it (2, 3)',
      (p) => {
        const share = Number.isFinite(p.ffmpeg!) ? pulse(p) / 2 : pulse(p);
        return [p.darkice! + share, r(p.hark!, p.darkice! + share)];
      },
      '≤ 1.0',
    ],
    ['bare Bun.serve, no work (the runtime floor)', (p) => [p.bare!, ''], ''],
  ];
  appendResults(
    'Icecast MP3 128 kbit/s: CPU of hark vs darkice vs ffmpeg',
    `bun bench/icecast-cpu.ts ${seconds} ${WARMUP_S}`,
    [
      'source client (same PipeWire sink monitor, same icecast2)',
      `1. hark as shipped (graph quantum ${a.quantum}), darkice alone on pipewire-pulse: CPU (% of a core)`,
      'hark ÷ this',
      `2. the same with ffmpeg too (quantum ${b.quantum}): CPU`,
      'hark ÷ this',
      `3. hark with relaxed_latency_frames 128, as while WebRTC listens (quantum ${c.quantum}): CPU`,
      'hark ÷ this',
      'goal',
    ],
    rows.map(([name, row, goal]) => [name, ...cols(a, row), ...cols(b, row), ...cols(c, row), goal]),
    `Input: a music-like signal played into the sink; all capture its monitor. Three ${seconds} s windows. Window 1 after ${WARMUP_S} s warm-up (hark's JIT compiles for about a minute after start, which costs it ~0.5 % of a core meanwhile; steady state is compared), with darkice the only client of pipewire-pulse, so pipewire-pulse's CPU is all darkice's capture path (hark's capture runs inside hark). Window 2 after ffmpeg started and ${FFMPEG_SETTLE_S} s; pipewire-pulse then serves two clients and each peer is charged half. Window 3 after hark restarted with relaxed_latency_frames 128 and ${WARMUP_S} s (PipeWire runs the whole graph at the smallest node.latency, so 128 also sets pipewire-pulse's pace). hark wakes its audio worker every 250 ms (Icecast only) and runs as hark.service does (MIMALLOC_SCAVENGER=0). utime+stime from /proc/<pid>/stat. All CBR 128 kbit/s, 48 kHz joint stereo, LAME quality 5 (darkice quality = 0.5, ffmpeg -compression_level 5). hark ran with webrtc and silence detection off (its HTTP server on, no listeners). Load average (1/5/15 min) before → after each window: ${a.load}; ${b.load}; ${c.load}. Bytes sent by hark: ${a.bytes}, ${b.bytes}, ${c.bytes}.`,
  );
} finally {
  for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => {});
}
