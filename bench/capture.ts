/**
 * Capture benchmark: CPU of hark's PipeWire capture + metering (peak/RMS per channel in JS,
 * no encoders) against `pw-record` capturing the same node to /dev/null, in the same run,
 * and hark's callback→read latency.
 *
 *   bun bench/capture.ts [--seconds 20] [--latency 128] [--channels 2]
 *       Private PipeWire from test/lib/pipewire.ts, a looping tone into its null sink; both
 *       capture the sink's monitor.
 *   bun bench/capture.ts --device <node.name> [...]
 *       The session's PipeWire and a real device (play something into it yourself).
 *
 * CPU is on-CPU time of every thread of each process (/proc/<pid>/task/<tid>/schedstat, ns)
 * over the measured window, after a warm-up. Latency is, per read(), the time from the
 * PipeWire callback that delivered the oldest frame read to the read itself (both
 * CLOCK_MONOTONIC), i.e. how long a frame waited in the ring before JS took it.
 * Results are appended to bench/RESULTS.md.
 */
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    latency: { type: 'string', default: '128' },
    channels: { type: 'string', default: '2' },
    'wake-frames': { type: 'string' },
    device: { type: 'string' },
    remote: { type: 'string' },
    child: { type: 'boolean', default: false },
    'no-results': { type: 'boolean', default: false },
  },
});

const seconds = Number(args.seconds);
const latency = Number(args.latency);
const channels = Number(args.channels);

if (args.child) await child();
else await parent();

/** The hark side: PipewireSource + LevelMeter, as the audio worker runs them. */
async function child(): Promise<void> {
  const { PipewireSource } = await import('../src/audio/pipewire-source.ts');
  const { LevelMeter } = await import('../src/audio/meter.ts');
  const { forceLogLevel } = await import('../src/log.ts');
  forceLogLevel('warn');
  const wakeFrames = args['wake-frames'] ? Number(args['wake-frames']) : undefined;
  const src = new PipewireSource({ device: args.device ?? '', channels, latencyFrames: latency, mode: 'pipewire', remote: args.remote, wakeFrames });
  src.start();
  const meter = new LevelMeter(channels, new Float32Array(channels * 3));
  const block = new Float32Array(1024 * channels);
  const lat: number[] = [];
  const newest: number[] = [];
  let frames = 0;
  let measuring = false;
  process.on('message', (m: string) => {
    if (m === 'measure') measuring = true;
  });
  const end = performance.now() + (seconds + 4) * 1000;
  let yieldAt = performance.now() + 50;
  while (performance.now() < end) {
    src.wait(20);
    let n: number;
    while ((n = src.read(block, 1024)) > 0) {
      meter.write(block, n);
      if (measuring) {
        const t = src.lastReadTimestamps;
        lat.push(Number(t.readNs - t.firstQuantumNs) / 1e6);
        newest.push(Number(t.readNs - t.lastQuantumNs) / 1e6);
        frames += n;
      }
    }
    if (performance.now() > yieldAt) {
      await Bun.sleep(0); // let the IPC message in
      yieldAt = performance.now() + 50;
    }
    if (measuring && lat.length && frames >= seconds * 48_000) break;
  }
  const st = src.status();
  src.close();
  process.send!({ lat, newest, frames, state: st.state, stats: st.stats });
}

/** On-CPU ns per thread of a process (tid → ns). */
function threadsNs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  const dir = `/proc/${pid}/task`;
  for (const t of readdirSync(dir)) {
    try {
      out.set(t, Number(readFileSync(`${dir}/${t}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // thread gone between readdir and read
    }
  }
  return out;
}

function cpuNs(pid: number): number {
  return [...threadsNs(pid).values()].reduce((a, b) => a + b, 0);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function parent(): Promise<void> {
  let env: Record<string, string> = {};
  let remote = args.remote;
  let device = args.device;
  let harness: Awaited<ReturnType<typeof import('../test/lib/pipewire.ts').startPipewire>> | undefined;
  let player: { stop(): Promise<void> } | undefined;
  if (!device) {
    const { startPipewire } = await import('../test/lib/pipewire.ts');
    harness = await startPipewire();
    env = harness.env;
    remote = harness.remote;
    device = harness.sinkName;
    // A tone long enough for the whole run.
    player = harness.play({ frequency: 1000, seconds: seconds + 15, levelDbfs: -12, channels });
  }
  try {
    const childCmd = [process.execPath, import.meta.path, '--child', '--seconds', String(seconds), '--latency', String(latency), '--channels', String(channels), '--device', device];
    if (args['wake-frames']) childCmd.push('--wake-frames', args['wake-frames']);
    if (remote) childCmd.push('--remote', remote);
    const hark = Bun.spawn(childCmd, { env: { ...process.env, ...env }, stdout: 'inherit', stderr: 'inherit', ipc: (m) => harkResult.resolve(m) });
    const harkResult = Promise.withResolvers<{ lat: number[]; newest: number[]; frames: number; state: string; stats: Record<string, unknown> }>();
    // pw-record on the same node: a monitor needs stream.capture.sink.
    const recCmd = ['pw-record', '--target', device, '--latency', String(latency), '--rate', '48000', '--channels', String(channels), '--format', 'f32'];
    if (remote) recCmd.push('--remote', remote);
    if (harness) recCmd.push('-P', '{ stream.capture.sink = true }');
    recCmd.push('/dev/null');
    const rec = Bun.spawn(recCmd, { env: { ...process.env, ...env }, stdout: 'ignore', stderr: 'pipe' });

    await Bun.sleep(3000); // warm-up: Bun start, TinyCC, links settle
    const h0 = cpuNs(hark.pid);
    const ht0 = threadsNs(hark.pid);
    const r0 = cpuNs(rec.pid);
    const t0 = performance.now();
    hark.send('measure');
    await Bun.sleep(seconds * 1000);
    const h1 = cpuNs(hark.pid);
    const ht1 = threadsNs(hark.pid);
    // The JS thread is the process's main thread (tid == pid).
    const jsNs = (ht1.get(String(hark.pid)) ?? 0) - (ht0.get(String(hark.pid)) ?? 0);
    const r1 = cpuNs(rec.pid);
    const wall = (performance.now() - t0) / 1000;
    const result = await Promise.race([harkResult.promise, Bun.sleep(10_000).then(() => null)]);
    rec.kill('SIGINT');
    await Promise.race([rec.exited, Bun.sleep(2000)]);
    hark.kill();
    if (!result) throw new Error('the hark capture child did not report');

    const harkCpu = (h1 - h0) / 1e9 / wall;
    const recCpu = (r1 - r0) / 1e9 / wall;
    const ratio = harkCpu / recCpu;
    const p = (xs: number[], q: number) => pct(xs, q).toFixed(3);
    const s = result.stats;
    const lines = [
      `capture ${device} (${channels} ch, node.latency ${latency}/48000, quantum ${s.quantum}) for ${wall.toFixed(1)} s, state ${result.state}`,
      `  CPU hark (capture + JS metering): ${(harkCpu * 100).toFixed(2)} % of one core (JS thread ${((jsNs / 1e9 / wall) * 100).toFixed(2)} %, wakes every ${args['wake-frames'] ?? latency} frames)`,
      `  CPU pw-record → /dev/null:        ${(recCpu * 100).toFixed(2)} % of one core`,
      `  ratio hark / pw-record: ${ratio.toFixed(2)}× (goal ≤ 1.5×)`,
      `  callback→read, oldest frame of each read: p50 ${p(result.lat, 50)} ms, p99 ${p(result.lat, 99)} ms, max ${p(result.lat, 100)} ms (${result.lat.length} reads)`,
      `  callback→read, newest frame of each read: p50 ${p(result.newest, 50)} ms, p99 ${p(result.newest, 99)} ms`,
      `  frames ${result.frames}, ringOverruns ${s.ringOverruns}, xruns ${s.xruns}, droppedFrames ${s.droppedFrames}`,
    ];
    console.log(lines.join('\n'));

    if (!args['no-results']) {
      const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? (await sh(['uname', '-p'])).trim();
      const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
      const machine = `${(await sh(['uname', '-m'])).trim()}, ${(await sh(['nproc'])).trim()} cores, ${cpuModel.trim()}, bun ${Bun.version}, load average ${load} at the end`;
      const cmd = `bun bench/capture.ts ${process.argv.slice(2).join(' ')}`.trim();
      const path = join(import.meta.dir, 'RESULTS.md');
      if (!existsSync(path)) writeFileSync(path, '# Benchmark results\n\nAppended by the scripts in bench/; newest last.\n');
      const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
      const wake = args['wake-frames'] ?? String(latency);
      appendFileSync(
        path,
        `\n## PipeWire capture: CPU of hark vs pw-record, callback→read latency — ${when} UTC\n\n` +
          `Machine: ${machine}. Command: \`${cmd}\`\n\n` +
          '| what | value | goal |\n| --- | --- | --- |\n' +
          `| hark: PipewireSource + LevelMeter (JS), no encoders | ${(harkCpu * 100).toFixed(2)} % of a core (JS thread ${((jsNs / 1e9 / wall) * 100).toFixed(2)} %) | |\n` +
          `| pw-record → /dev/null, same node, same run | ${(recCpu * 100).toFixed(2)} % of a core | |\n` +
          `| ratio hark ÷ pw-record | ${ratio.toFixed(2)}× | ≤ 1.5× |\n` +
          `| callback→read, oldest frame of a read: p50 / p99 / max | ${p(result.lat, 50)} / ${p(result.lat, 99)} / ${p(result.lat, 100)} ms | p99 < 2 ms |\n` +
          `| callback→read, newest frame of a read: p50 / p99 | ${p(result.newest, 50)} / ${p(result.newest, 99)} ms | |\n` +
          `| quantum / JS wakes every / frames / ringOverruns / xruns | ${s.quantum} / ${wake} / ${result.frames} / ${s.ringOverruns} / ${s.xruns} | |\n\n` +
          `${harness ? 'Private PipeWire 0.3 (test/lib/pipewire.ts): both capture the null sink\'s monitor while pw-play plays a -12 dBFS 1 kHz tone into it' : `Device ${device}`}; ` +
          `${channels} ch F32 48 kHz, node.latency ${latency}/48000. CPU = on-CPU time of all threads (/proc/<pid>/task/*/schedstat) over ${wall.toFixed(1)} s after a 3 s warm-up. ` +
          'Latency: CLOCK_MONOTONIC at the PipeWire process callback (stamped by the shim) to the JS read() that returned the frame.\n',
      );
      console.log(`appended to ${path}`);
    }
  } finally {
    await player?.stop();
    await harness?.stop();
  }
}

async function sh(cmd: string[]): Promise<string> {
  const p = Bun.spawn(cmd, { stdout: 'pipe', stderr: 'ignore' });
  return new Response(p.stdout).text();
}
