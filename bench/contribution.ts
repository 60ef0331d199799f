/**
 * Contribution link latency (issue 20): hark → hark over SRT on loopback, end to end, against
 * ffmpeg → ffmpeg over SRT with the same settings in the same run.
 *
 * Clicks are played into PipeWire null sink A. hark A captures A's monitor and sends `[[srt]]`
 * (caller, `latency_ms` L, payload pcm = SMPTE 302M or opus) to hark B (input.source = "srt",
 * listener, input.buffer_ms 20 — B's SRT latency is the larger of the two, so L — and
 * input.output_device = sink B). The peer: ffmpeg captures A's monitor through PipeWire's pulse
 * server and sends MPEG-TS over SRT (caller, latency L) to a second ffmpeg (listener) that plays
 * it into sink B through pulse, with every low-delay flag it has. Two reference captures in this
 * process (bench/lib/clicks.ts) timestamp each click on A's monitor and on B's monitor at the
 * PipeWire callback on CLOCK_MONOTONIC: one clock; what a listener at B's output would hear,
 * minus the sound card's own buffer. A floor row: one ffmpeg from A's monitor to sink B through
 * pulse, no SRT, no codec. Each pair runs HARK_BENCH_SETTLE_S (10) s before its clicks.
 *
 *   bun bench/contribution.ts [clicks per row, default 15] [latencies, default 20,60,120]
 *   HARK_BENCH_ONLY=hark bun bench/contribution.ts 5 20   # hark, ffmpeg or pulse (the floor) only; nothing appended
 *   HARK_BENCH_SETTLE_S=3 HARK_BENCH_DEBUG=1 …            # clicks 3 s after the link is up; B's stats printed
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { startHark, type HarkProcess } from '../test/lib/hark.ts';
import { startPipewire, wavBytes } from '../test/lib/pipewire.ts';
import { freeUdpPort } from '../test/lib/whep-client.ts';
import { appendResults } from './lib.ts';
import { describeStalls, startStallProbe, STALL_MS, type Stall } from './lib/stall-probe.ts';
import { monotonicMs } from '../ffi/libc.ts';
import { clickTrain, match, quantile, referenceCapture } from './lib/clicks.ts';

const CLICKS = Number(process.argv[2] ?? 15);
const LATENCIES = (process.argv[3] ?? '20,60,120').split(',').map(Number);
const PAYLOADS = ['pcm', 'opus'] as const;
type Payload = (typeof PAYLOADS)[number];
type Side = 'hark' | 'ffmpeg' | 'pulse';
const ONLY = process.env.HARK_BENCH_ONLY?.split(',') as Side[] | undefined;
const SIDES: Side[] = (['hark', 'ffmpeg', 'pulse'] as Side[]).filter((s) => !ONLY || ONLY.includes(s));
const THRESHOLD = 0.1;
/** hark B's input.buffer_ms. */
const BUFFER_MS = 20;
/** Opus bitrate on both sides (hark's [[srt]] default). */
const OPUS_KBPS = 256;
const SINK_A = 'hark-bench-a';
/**
 * How long a pair runs before the clicks (HARK_BENCH_SETTLE_S, default 10 s): hark B cuts what
 * piled up in its playback queue within its first 3 s (src/audio/pw-player.ts); its SRT hold and
 * queue margin settle as the load asks in the seconds after.
 */
const SETTLE_MS = Number(process.env.HARK_BENCH_SETTLE_S ?? 10) * 1000;
/**
 * ffmpeg's pair keeps the delay it starts with (nothing in it drops audio: what piled up at
 * start — likely while its receiver opened the pulse output — plays on for good, 0.1 to 1 s by
 * the load at that moment; within one start p95 ≈ p50), so it is started this
 * many times per row (HARK_BENCH_FFMPEG_STARTS) and hark is held to its best start. Waiting
 * longer changes nothing there: 5 s.
 */
const FFMPEG_STARTS = Number(process.env.HARK_BENCH_FFMPEG_STARTS ?? 2);
const FFMPEG_SETTLE_MS = Math.min(SETTLE_MS, 5000);
const SINK_B = 'hark-bench-b';

/** ffmpeg processes started here: killed if the bench dies (the harnesses kill their own on exit). */
const spawned = new Set<Subprocess>();
process.on('exit', () => {
  for (const p of spawned) p.kill('SIGKILL');
});
// Interrupted: exit, so the exit hooks above and in test/lib (PipeWire, hark) run.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

const pw = await startPipewire({ pulse: true, sinks: [{ name: SINK_A, channels: 2 }, { name: SINK_B, channels: 2 }] });
const env = { ...(process.env as Record<string, string>), ...pw.env };
const stop = new SharedArrayBuffer(4);
const input = await referenceCapture(SINK_A, pw.remote, stop, THRESHOLD);
const output = await referenceCapture(SINK_B, pw.remote, stop, THRESHOLD);
const loadavg = async () => (await Bun.file('/proc/loadavg').text()).split(' ').slice(0, 3).join(' ');

interface Row {
  side: Side;
  payload: Payload;
  latencyMs: number;
  lat: number[];
  missed: number;
  /** hark B's playback ring (ms) and underruns at the end, or what went wrong. */
  note: string;
  load: string;
  /** The machine's stalls (bench/lib/stall-probe.ts) from the pair's start to its last click. */
  stalls?: Stall[];
  /** hark pairs: the median ms of each stage of a click's way (src/audio/trace.ts). */
  stages?: string;
}

/** A trace file's onsets of one stage (CLOCK_MONOTONIC ms). */
function traced(file: string, stage: string): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[0] === stage)
    .map((f) => Number(f[1]));
}

/**
 * Where the clicks' time went in a hark pair: for each click in (CLOCK_MONOTONIC ms), the first
 * onset after it at each stage in turn: A's engine read it, B's SRT receiver decoded it, B's
 * PipeWire output queued it, and the click out. Medians of each step, ms.
 */
function stageMedians(ins: number[], outs: number[], a: string, b: string): string {
  const stages = [traced(a, 'read'), traced(b, 'rx'), traced(b, 'play'), outs];
  const steps: number[][] = [[], [], [], []];
  for (const t0 of ins) {
    let t = t0;
    const at: number[] = [];
    for (const s of stages) {
      const x = s.find((v) => v > t - 5 && v < t0 + 1500);
      if (x === undefined) break;
      at.push(x);
      t = x;
    }
    if (at.length !== stages.length) continue;
    let prev = t0;
    at.forEach((x, i) => {
      steps[i]!.push(x - prev);
      prev = x;
    });
  }
  if (!steps[0]!.length) return '';
  const m = steps.map((s) => quantile(s, 0.5)!.toFixed(1));
  return `${m[0]} / ${m[1]} / ${m[2]} / ${m[3]}`;
}
const probe = startStallProbe();

/** Kill a process started here and wait (bounded) for it. */
async function end(p: Subprocess | undefined): Promise<void> {
  if (p) spawned.delete(p);
  if (!p || p.exitCode !== null) return;
  p.kill('SIGTERM');
  if (!(await Promise.race([p.exited.then(() => true), Bun.sleep(3000).then(() => false)]))) p.kill('SIGKILL');
}

async function bStatus(b: HarkProcess): Promise<Record<string, unknown>> {
  const s = (await (await fetch(`${b.url}/api/status`)).json()) as { input: { state: string; stats: Record<string, unknown> } };
  return { state: s.input.state, ...s.input.stats };
}

/** Start one side's pair for (payload, L); resolves once B plays, with a stop function and a status line. */
async function startPair(side: Side, payload: Payload, latencyMs: number): Promise<{ stop: () => Promise<void>; note: () => Promise<string>; traces?: [string, string] }> {
  const port = await freeUdpPort();
  if (side === 'hark') {
    const traces: [string, string] = [join(pw.dir, `trace-a-${payload}-${latencyMs}.txt`), join(pw.dir, `trace-b-${payload}-${latencyMs}.txt`)];
    const b = await startHark(
      `[input]\nsource = "srt"\nurl = "srt://127.0.0.1:${port}?mode=listener"\nbuffer_ms = ${BUFFER_MS}\noutput_device = "${SINK_B}"\n[silence]\nenabled = false\n`,
      { env: { ...pw.env, HARK_LOG_LEVEL: 'info', HARK_TRACE_FILE: traces[1] }, timeoutMs: 60_000 },
    );
    const a = await startHark(
      `[input]\nsource = "pipewire"\ndevice = "${SINK_A}"\nlatency_frames = 128\nrelaxed_latency_frames = 128\n[silence]\nenabled = false\n` +
        `[[srt]]\nurl = "srt://127.0.0.1:${port}?mode=caller"\nlatency_ms = ${latencyMs}\npayload = "${payload}"\nbitrate_kbps = ${OPUS_KBPS}\n`,
      { env: { ...pw.env, HARK_LOG_LEVEL: 'info', HARK_TRACE_FILE: traces[0] }, timeoutMs: 60_000 },
    ).catch(async (e: Error) => {
      await b.stop();
      throw e;
    });
    const stopBoth = async () => {
      await a.stop();
      await b.stop();
    };
    const deadline = Date.now() + 20_000;
    let s = await bStatus(b);
    while (!(s.state === 'running' && s.playback === 'playing')) {
      if (Date.now() > deadline) {
        await stopBoth();
        throw new Error(`hark B never played: input ${s.state}, playback ${s.playback} (${s.playbackMessage ?? ''})`);
      }
      await Bun.sleep(200);
      s = await bStatus(b);
    }
    // B's playback ring settles (HARK_BENCH_SETTLE_S: longer, to see where it goes).
    await Bun.sleep(SETTLE_MS);
    return {
      stop: stopBoth,
      traces,
      note: async () => {
        const t = await bStatus(b);
        if (process.env.HARK_BENCH_DEBUG) console.error(JSON.stringify(t));
        const hold = t.playsOnArrival ? 'each packet on to the output as it arrives' : `hold ${t.holdMs ?? '?'} ms (${t.underrunFrames ?? 0} frames short)`;
        return `SRT ${t.srt_latencyMs ?? '?'} ms, ${hold}, output queue ${t.playbackFillMs} ms (margin ${t.playbackMarginMs ?? '?'}), underruns ${t.playbackUnderruns}`;
      },
    };
  }
  if (side === 'pulse') {
    const p = Bun.spawn(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'pulse', '-fragment_size', '512', '-frame_size', '512', '-i', `${SINK_A}.monitor`, '-f', 'pulse', '-buffer_duration', '20', '-device', SINK_B, 'ffmpeg-local'], { env, stdout: 'ignore', stderr: 'inherit' });
    await Bun.sleep(FFMPEG_SETTLE_MS);
    spawned.add(p);
    return { stop: () => end(p), note: async () => '' };
  }
  const srt = (mode: string) => `srt://127.0.0.1:${port}?mode=${mode}&latency=${latencyMs * 1000}&pkt_size=1316`;
  const quiet = ['-hide_banner', '-nostdin', '-loglevel', 'error'];
  const rx = Bun.spawn(
    ['ffmpeg', ...quiet, '-fflags', 'nobuffer', '-flags', 'low_delay', '-probesize', '32', '-analyzeduration', '0', '-max_delay', '0', '-i', srt('listener'), '-f', 'pulse', '-buffer_duration', '20', '-device', SINK_B, 'ffmpeg-b'],
    { env, stdout: 'ignore', stderr: 'pipe' },
  );
  await Bun.sleep(500);
  const codec = payload === 'pcm' ? ['-c:a', 's302m', '-strict', '-2', '-sample_fmt', 's32'] : ['-c:a', 'libopus', '-b:a', `${OPUS_KBPS}k`, '-frame_duration', '10', '-application', 'lowdelay'];
  const tx = Bun.spawn(
    ['ffmpeg', ...quiet, '-f', 'pulse', '-fragment_size', '512', '-frame_size', '512', '-i', `${SINK_A}.monitor`, ...codec, '-f', 'mpegts', '-flush_packets', '1', '-muxdelay', '0', '-muxpreload', '0', srt('caller')],
    { env, stdout: 'ignore', stderr: 'pipe' },
  );
  spawned.add(rx).add(tx);
  const stopBoth = async () => {
    await end(tx);
    await end(rx);
  };
  await Bun.sleep(FFMPEG_SETTLE_MS);
  if (rx.exitCode !== null || tx.exitCode !== null) {
    const why = `${rx.exitCode !== null ? `receiver exited ${rx.exitCode}: ${(await new Response(rx.stderr).text()).slice(-300)}` : ''} ${tx.exitCode !== null ? `sender exited ${tx.exitCode}: ${(await new Response(tx.stderr).text()).slice(-300)}` : ''}`;
    await stopBoth();
    throw new Error(why.trim());
  }
  return { stop: stopBoth, note: async () => '' };
}

const rows: Row[] = [];
try {
  for (const latencyMs of LATENCIES) {
    for (const payload of PAYLOADS) {
      for (const side of SIDES.flatMap((x) => (x === 'ffmpeg' ? Array<Side>(FFMPEG_STARTS).fill(x) : [x]))) {
        // The floor (ffmpeg pulse → pulse, no SRT, no codec) once.
        if (side === 'pulse' && (latencyMs !== LATENCIES[0] || payload !== PAYLOADS[0])) continue;
        const file = join(pw.dir, `clicks-${side}-${payload}-${latencyMs}.wav`);
        writeFileSync(file, wavBytes(clickTrain(CLICKS), 2));
        let pair: Awaited<ReturnType<typeof startPair>>;
        const pairFrom = monotonicMs();
        try {
          pair = await startPair(side, payload, latencyMs);
        } catch (e) {
          const note = (e as Error).message.split('\n')[0]!;
          console.error(`${side} ${payload} ${latencyMs} ms: ${note}`);
          rows.push({ side, payload, latencyMs, lat: [], missed: CLICKS, note, load: await loadavg() });
          continue;
        }
        input.clicks.length = 0;
        output.clicks.length = 0;
        await pw.play(file, { target: SINK_A, latency: '5ms' }).exited;
        await Bun.sleep(1500);
        const { lat, missed } = match(input.clicks, output.clicks, 1500);
        const note = await pair.note();
        await pair.stop();
        // the reference clicks are on the wall clock (as Chromium's are); the traces on CLOCK_MONOTONIC
        const wall = performance.timeOrigin + performance.now() - monotonicMs();
        const stages = pair.traces ? stageMedians(input.clicks.map((t) => t - wall), output.clicks.map((t) => t - wall), ...pair.traces) : '';
        const row: Row = { side, payload, latencyMs, lat, missed, note, load: await loadavg(), stalls: probe.between(pairFrom, monotonicMs()), stages };
        rows.push(row);
        console.error(
          `${side} ${payload} latency ${latencyMs}: ${input.clicks.length} in, ${output.clicks.length} out; p50 ${quantile(lat, 0.5)?.toFixed(1)} p95 ${quantile(lat, 0.95)?.toFixed(1)} ms; ${note}; stages ${stages || '–'}; load ${row.load}; machine stalls ${describeStalls(row.stalls ?? [])}`,
        );
        await Bun.sleep(500);
      }
    }
  }
} finally {
  Atomics.store(new Int32Array(stop), 0, 1);
  await Bun.sleep(100);
  for (const c of [input, output]) c.worker.terminate();
  probe.stop();
  await pw.stop();
}

const fmt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '' : v.toFixed(1));
const table = rows.map((r) => {
  const p50 = r.lat.length ? quantile(r.lat, 0.5) : NaN;
  // ffmpeg's best start of the row
  const peerP50 = Math.min(...rows.filter((x) => x.side === 'ffmpeg' && x.payload === r.payload && x.latencyMs === r.latencyMs && x.lat.length).map((x) => quantile(x.lat, 0.5)));
  const goal = r.side !== 'hark' ? '' : `≤ 1.1× ffmpeg${r.payload === 'pcm' && r.latencyMs === 20 ? '; < 40 ms' : ''}`;
  return [
    r.side === 'hark'
      ? `hark → hark, ${r.payload === 'pcm' ? 'PCM (SMPTE 302M)' : `Opus ${OPUS_KBPS} kbit/s`}`
      : r.side === 'ffmpeg'
        ? `ffmpeg → ffmpeg, ${r.payload === 'pcm' ? 's302m' : `libopus ${OPUS_KBPS}k, 10 ms, lowdelay`}`
        : 'floor: one ffmpeg, pulse A.monitor → pulse B (no SRT, no codec)',
    r.side === 'pulse' ? '' : r.latencyMs,
    `${r.lat.length}${r.missed ? ` (${r.missed} missed)` : ''}`,
    fmt(p50),
    r.lat.length ? fmt(quantile(r.lat, 0.95)) : '',
    r.lat.length ? fmt(Math.min(...r.lat)) : '',
    r.lat.length ? fmt(Math.max(...r.lat)) : '',
    r.side === 'hark' && Number.isFinite(p50 / peerP50) ? (p50 / peerP50).toFixed(2) : '',
    r.note,
    r.stages ?? '',
    r.load,
    r.stalls ? describeStalls(r.stalls) : '',
    goal,
  ];
});
if (ONLY) {
  for (const t of table) console.log(t.join(' | '));
  process.exit(0);
}
appendResults(
  'Contribution link latency (PipeWire → hark → SRT → hark → PipeWire, against ffmpeg → SRT → ffmpeg)',
  `bun bench/contribution.ts ${CLICKS} ${LATENCIES.join(',')}`,
  ['pair', 'SRT latency ms', 'clicks', 'p50 ms', 'p95 ms', 'min ms', 'max ms', "p50 ÷ ffmpeg's best p50", 'receiver', 'where the time went, p50 ms: click → A read it / → B received it / → B queued it for output / → out', 'load average', `machine stalls ≥ ${STALL_MS} ms while the pair ran: count, longest`, 'goal'],
  table,
  `From the PipeWire quantum that delivered a click on sink A's monitor (what hark A and ffmpeg capture) to the quantum that played it into sink B (B's monitor), both CLOCK_MONOTONIC at the callback (bench/lib/clicks.ts), loopback. ` +
    `hark A: input.latency_frames = relaxed_latency_frames = 128, [[srt]] caller, latency_ms as in the row (payload pcm: SMPTE 302M 24-bit, 2 ms frames; opus: ${OPUS_KBPS} kbit/s, 10 ms frames, restricted-lowdelay — fixed in src/outputs/srt). hark B: input.source = "srt" listener, buffer_ms = ${BUFFER_MS}, output_device = sink B. ` +
    `ffmpeg: \`-f pulse -fragment_size 512 -frame_size 512 -i A.monitor\`, \`-c:a s302m -strict -2 -sample_fmt s32\` or \`-c:a libopus -b:a ${OPUS_KBPS}k -frame_duration 10 -application lowdelay\`, \`-f mpegts -flush_packets 1 -muxdelay 0 -muxpreload 0 srt://…?mode=caller&latency=L·1000&pkt_size=1316\`; receiver \`-fflags nobuffer -flags low_delay -probesize 32 -analyzeduration 0 -max_delay 0 -i srt://…?mode=listener&latency=L·1000\`, \`-f pulse -buffer_duration 20 -device B\` (PipeWire's pulse server). ${CLICKS} clicks per row, 0.7–1.1 s apart, after hark's pair ran ${SETTLE_MS / 1000} s, ffmpeg's ${FFMPEG_SETTLE_MS / 1000} s; ffmpeg's pair started ${FFMPEG_STARTS} times per setting (one row each: a pair keeps the delay it starts with, 0.1–1 s by the load at its start), hark compared with its best start. A click matched across a ≥ 1 s backlog shows as a min near 0. Where the time went (hark pairs): each hark appends the moment a click's onset passes a stage to a file (HARK_TRACE_FILE, src/audio/trace.ts): A's engine read it from PipeWire, B's SRT receiver decoded it, B's PipeWire output queued it; the last step is B's output queue and the graph to B's monitor. Machine stalls: a Python loop outside hark and ffmpeg (bench/lib/stall-probe.ts) sleeping 1 ms and reporting every wake-up over ${STALL_MS} ms late, from the pair's start to its last click.`,
);
process.exit(0);
