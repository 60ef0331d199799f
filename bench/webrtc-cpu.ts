/**
 * CPU per WebRTC listener: hark's WHEP output against Janus's streaming plugin (the usual way
 * to fan one live stream out to browsers), with the same listeners (node-datachannel, in a
 * process of their own) at N = 1, 10 and 50, in one run.
 *
 * hark plays its test tone and encodes it itself (Opus 96 kbit/s stereo, 10 ms, one encoder
 * for every listener, started by the first). Janus gets the same Opus over RTP from a feeder
 * process (bench/lib/opus-rtp-feed.ts: libopus through ffi/opus.ts, same settings): a Janus
 * deployment needs that encoder somewhere, so "Janus + feeder" counts it, as hark's figures
 * count hark's. Reported: CPU (utime+stime from /proc, % of one core) over the window, the
 * per-listener cost (CPU(N) − CPU(0)) / N with CPU(0) the idle server without any encoder, and
 * the ratios hark ÷ Janus and hark ÷ (Janus + feeder).
 *
 *   bun bench/webrtc-cpu.ts [seconds per window, default 10]
 */
import { startHark, type HarkProcess } from '../test/lib/hark.ts';
import { freeUdpPort } from '../test/lib/whep-client.ts';
import { appendResults, cpuSeconds } from './lib.ts';
import { startJanus, type JanusProcess } from './lib/janus.ts';

const WINDOW_S = Number(process.argv[2] ?? 10);
const COUNTS = [1, 10, 50];

interface Row {
  server: string;
  n: number;
  cpuPct: number;
  perListenerPct: number | null;
  packetsPerListenerPerS: number;
  /** Janus only: the feeder's CPU in the same window. */
  feederPct: number;
}

let feederPid: number | undefined;
let lastFeederPct = 0;

/** The server's CPU over the window (and the feeder's, into lastFeederPct, when it runs). */
async function measure(pid: number): Promise<number> {
  const c0 = cpuSeconds(pid);
  const f0 = feederPid ? cpuSeconds(feederPid) : 0;
  await Bun.sleep(WINDOW_S * 1000);
  lastFeederPct = feederPid ? ((cpuSeconds(feederPid) - f0) / WINDOW_S) * 100 : 0;
  return ((cpuSeconds(pid) - c0) / WINDOW_S) * 100;
}

async function withListeners(kind: 'hark' | 'janus', url: string, n: number, pid: number): Promise<{ cpu: number; pps: number; feeder: number }> {
  const proc = Bun.spawn(['bun', `${import.meta.dir}/webrtc-listeners.ts`, '--kind', kind, '--url', url, '--n', String(n)], { stdout: 'pipe', stderr: 'inherit' });
  const lines = (async function* () {
    let buf = '';
    for await (const c of proc.stdout as ReadableStream<Uint8Array>) {
      buf += new TextDecoder().decode(c);
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        yield buf.slice(0, i);
        buf = buf.slice(i + 1);
      }
    }
  })();
  const ready = JSON.parse((await lines.next()).value ?? '{}') as { connected?: number };
  if (ready.connected !== n) {
    proc.kill();
    throw new Error(`${kind}: only ${ready.connected} of ${n} listeners got media`);
  }
  await Bun.sleep(3000); // settle
  const t0 = performance.now();
  const cpu = await measure(pid);
  const feeder = lastFeederPct;
  proc.kill('SIGTERM');
  const report = JSON.parse((await lines.next()).value ?? '{}') as { packets?: number[] };
  await proc.exited;
  const secs = (performance.now() - t0) / 1000 + 3;
  const pps = (report.packets ?? []).reduce((a, b) => a + b, 0) / n / (secs + 2);
  await Bun.sleep(2000); // let the server drop the sessions
  return { cpu, pps, feeder };
}

const rows: Row[] = [];
async function run(kind: 'hark' | 'janus', url: string, pid: number) {
  await Bun.sleep(2000);
  const idle = await measure(pid);
  rows.push({ server: kind, n: 0, cpuPct: idle, perListenerPct: null, packetsPerListenerPerS: 0, feederPct: lastFeederPct });
  for (const n of COUNTS) {
    const { cpu, pps, feeder } = await withListeners(kind, url, n, pid);
    rows.push({ server: kind, n, cpuPct: cpu, perListenerPct: (cpu - idle) / n, packetsPerListenerPerS: pps, feederPct: feeder });
    console.error(`${kind} N=${n}: ${cpu.toFixed(2)} % (${((cpu - idle) / n).toFixed(3)} % per listener, ~${pps.toFixed(0)} packets/s each)`);
  }
}

let hark: HarkProcess | undefined;
let janus: JanusProcess | undefined;
let feed: ReturnType<typeof Bun.spawn> | undefined;
try {
  const udp = await freeUdpPort();
  hark = await startHark(
    `[input]\nsource = "tone"\n[tone]\nfrequency = 1000\n[silence]\nenabled = false\n[webrtc]\nudp_port = ${udp}\nmax_listeners = 60\nmax_listeners_per_address = 0\n`,
    { env: { HARK_LOG_LEVEL: 'info' }, timeoutMs: 60_000 },
  );
  await run('hark', `${hark.url}/whep`, hark.proc.pid);
  await hark.stop();
  hark = undefined;

  const rtp = await freeUdpPort();
  const httpPort = 18000 + Math.floor(Math.random() * 1000);
  const base = 40000 + Math.floor(Math.random() * 20000);
  janus = await startJanus({ httpPort, rtpPort: rtp, rtpRange: `${base}-${base + 500}` });
  feed = Bun.spawn([process.execPath, `${import.meta.dir}/lib/opus-rtp-feed.ts`, String(rtp)], { stdout: 'ignore', stderr: 'inherit' });
  feederPid = feed.pid;
  await run('janus', janus.url, janus.proc.pid);
} finally {
  feed?.kill();
  await janus?.stop();
  await hark?.stop();
}

const by = (s: string, n: number) => rows.find((r) => r.server === s && r.n === n)!;
const table: (string | number)[][] = [];
const idleJanus = by('janus', 0).cpuPct;
for (const n of [0, ...COUNTS]) {
  const h = by('hark', n);
  const j = by('janus', n);
  // Janus + feeder: the encoder a Janus deployment needs, counted with the listeners as hark's
  // is (hark starts its encoder with the first listener; its CPU(0) has none).
  const jf = n === 0 ? null : (j.cpuPct + j.feederPct - idleJanus) / n;
  table.push([
    n,
    h.cpuPct.toFixed(2),
    j.cpuPct.toFixed(2),
    n === 0 ? '' : j.feederPct.toFixed(2),
    h.perListenerPct === null ? '' : h.perListenerPct.toFixed(3),
    j.perListenerPct === null ? '' : j.perListenerPct.toFixed(3),
    jf === null ? '' : jf.toFixed(3),
    h.perListenerPct === null || !j.perListenerPct ? '' : (h.perListenerPct / j.perListenerPct).toFixed(2),
    h.perListenerPct === null || !jf ? '' : (h.perListenerPct / jf).toFixed(2),
    n === 0 ? '' : `${h.packetsPerListenerPerS.toFixed(0)} / ${j.packetsPerListenerPerS.toFixed(0)}`,
    n === 0 ? '' : '≤ 1.0',
  ]);
}
const h10 = by('hark', 10).cpuPct;
const h50 = by('hark', 50).cpuPct;
const j10 = by('janus', 10).cpuPct;
const j50 = by('janus', 50).cpuPct;
const marginal = `Marginal cost of a listener between N = 10 and 50 ((CPU(50) − CPU(10)) / 40): hark ${((h50 - h10) / 40).toFixed(3)} %, Janus ${((j50 - j10) / 40).toFixed(3)} %, ratio ${((h50 - h10) / (j50 - j10)).toFixed(2)}.`;
appendResults(
  'WebRTC CPU per listener: hark (WHEP) vs Janus streaming plugin',
  `bun bench/webrtc-cpu.ts ${WINDOW_S}`,
  ['listeners N', 'hark CPU %', 'Janus CPU %', "Janus's Opus feeder CPU %", 'hark % per listener', 'Janus % per listener', 'Janus + feeder % per listener', 'ratio hark ÷ Janus', 'ratio hark ÷ (Janus + feeder)', 'packets/s per listener, approx. (hark / Janus)', 'goal'],
  table,
  `${marginal}\n\nCPU = utime+stime of the server process over ${WINDOW_S} s after a 3 s settle, % of one core; per listener = (CPU(N) − CPU(0)) / N. ` +
    `Both serve Opus 96 kbit/s stereo in 10 ms packets over DTLS-SRTP on loopback to the same node-datachannel listeners (another process). ` +
    `hark's figures include its test tone and its one Opus encoder (started with the first listener, so N = 1 carries it all); Janus is fed ready-made Opus RTP by a feeder process (same libopus settings), whose CPU is the "feeder" column: "Janus + feeder" per listener is (Janus(N) + feeder(N) − Janus(0)) / N, the like-for-like comparison. ` +
    `Janus ${'1.1.2'} (Debian), load average ${(await Bun.file('/proc/loadavg').text()).split(' ')[0]} at the end.`,
);
process.exit(0);
