/**
 * CPU per WebRTC listener: hark's WHEP output against Janus's streaming plugin (the usual way
 * to fan one live stream out to browsers), with the same listeners (node-datachannel, in a
 * process of their own) at N = 1, 10 and 50, in one run.
 *
 * hark plays its test tone and encodes it itself (Opus 96 kbit/s stereo, 10 ms, one encoder
 * for every listener). Janus gets the same Opus over RTP from this process (libopus through
 * ffi/opus.ts, same settings), so Janus does no encoding: its numbers exclude the encoder that
 * hark's include. Reported: each server's CPU (utime+stime from /proc, % of one core) over the
 * window, the per-listener cost (CPU(N) − CPU(0)) / N, and the ratio hark ÷ Janus.
 *
 *   bun bench/webrtc-cpu.ts [seconds per window, default 10]
 */
import { createSocket } from 'node:dgram';
import { startHark, type HarkProcess } from '../test/lib/hark.ts';
import { freeUdpPort } from '../test/lib/whep-client.ts';
import { OpusEncoder } from '../ffi/opus.ts';
import { appendResults, cpuSeconds } from './lib.ts';
import { startJanus, type JanusProcess } from './lib/janus.ts';

const WINDOW_S = Number(process.argv[2] ?? 10);
const COUNTS = [1, 10, 50];

/** Real-time Opus RTP into Janus's mountpoint: 10 ms stereo frames of a 1 kHz tone. */
function feed(port: number): () => void {
  const enc = new OpusEncoder({ channels: 2, application: 'audio', frameMs: 10, bitrateKbps: 96, complexity: 10, fec: true, expectedLossPct: 10 });
  const sock = createSocket('udp4');
  const pcm = new Float32Array(480 * 2);
  let phase = 0;
  let seq = 0;
  let ts = 0;
  const t0 = performance.now();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - t0) / 10);
    while (sent < due) {
      for (let i = 0; i < 480; i++) {
        const v = 0.25 * Math.sin(phase);
        phase += (2 * Math.PI * 1000) / 48000;
        pcm[2 * i] = v;
        pcm[2 * i + 1] = v;
      }
      const payload = enc.encode(pcm);
      const pkt = Buffer.alloc(12 + payload.length);
      pkt[0] = 0x80;
      pkt[1] = 111;
      pkt.writeUInt16BE(seq++ & 0xffff, 2);
      pkt.writeUInt32BE(ts >>> 0, 4);
      pkt.writeUInt32BE(0x4a414e55, 8);
      pkt.set(payload, 12);
      ts += 480;
      sock.send(pkt, port, '127.0.0.1');
      sent++;
    }
  }, 5);
  return () => {
    clearInterval(timer);
    sock.close();
    enc.close();
  };
}

interface Row {
  server: string;
  n: number;
  cpuPct: number;
  perListenerPct: number | null;
  packetsPerListenerPerS: number;
}

async function measure(pid: number): Promise<number> {
  const c0 = cpuSeconds(pid);
  await Bun.sleep(WINDOW_S * 1000);
  return ((cpuSeconds(pid) - c0) / WINDOW_S) * 100;
}

async function withListeners(kind: 'hark' | 'janus', url: string, n: number, pid: number): Promise<{ cpu: number; pps: number }> {
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
  proc.kill('SIGTERM');
  const report = JSON.parse((await lines.next()).value ?? '{}') as { packets?: number[] };
  await proc.exited;
  const secs = (performance.now() - t0) / 1000 + 3;
  const pps = (report.packets ?? []).reduce((a, b) => a + b, 0) / n / (secs + 2);
  await Bun.sleep(2000); // let the server drop the sessions
  return { cpu, pps };
}

const rows: Row[] = [];
async function run(kind: 'hark' | 'janus', url: string, pid: number) {
  await Bun.sleep(2000);
  const idle = await measure(pid);
  rows.push({ server: kind, n: 0, cpuPct: idle, perListenerPct: null, packetsPerListenerPerS: 0 });
  for (const n of COUNTS) {
    const { cpu, pps } = await withListeners(kind, url, n, pid);
    rows.push({ server: kind, n, cpuPct: cpu, perListenerPct: (cpu - idle) / n, packetsPerListenerPerS: pps });
    console.error(`${kind} N=${n}: ${cpu.toFixed(2)} % (${((cpu - idle) / n).toFixed(3)} % per listener, ~${pps.toFixed(0)} packets/s each)`);
  }
}

let hark: HarkProcess | undefined;
let janus: JanusProcess | undefined;
let stopFeed: (() => void) | undefined;
try {
  const udp = await freeUdpPort();
  hark = await startHark(
    `[input]\nsource = "tone"\n[tone]\nfrequency = 1000\n[silence]\nenabled = false\n[webrtc]\nudp_port = ${udp}\nmax_listeners = 60\n`,
    { env: { HARK_LOG_LEVEL: 'info' }, timeoutMs: 60_000 },
  );
  await run('hark', `${hark.url}/whep`, hark.proc.pid);
  await hark.stop();
  hark = undefined;

  const rtp = await freeUdpPort();
  const httpPort = 18000 + Math.floor(Math.random() * 1000);
  const base = 40000 + Math.floor(Math.random() * 20000);
  janus = await startJanus({ httpPort, rtpPort: rtp, rtpRange: `${base}-${base + 500}` });
  stopFeed = feed(rtp);
  await run('janus', janus.url, janus.proc.pid);
} finally {
  stopFeed?.();
  await janus?.stop();
  await hark?.stop();
}

const by = (s: string, n: number) => rows.find((r) => r.server === s && r.n === n)!;
const table: (string | number)[][] = [];
for (const n of [0, ...COUNTS]) {
  const h = by('hark', n);
  const j = by('janus', n);
  table.push([
    n,
    h.cpuPct.toFixed(2),
    j.cpuPct.toFixed(2),
    h.perListenerPct === null ? '' : h.perListenerPct.toFixed(3),
    j.perListenerPct === null ? '' : j.perListenerPct.toFixed(3),
    h.perListenerPct === null || !j.perListenerPct ? '' : (h.perListenerPct / j.perListenerPct).toFixed(2),
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
  ['listeners N', 'hark CPU %', 'Janus CPU %', 'hark % per listener', 'Janus % per listener', 'ratio hark ÷ Janus', 'packets/s per listener, approx. (hark / Janus)', 'goal'],
  table,
  `${marginal}\n\nCPU = utime+stime of the server process over ${WINDOW_S} s after a 3 s settle, % of one core; per listener = (CPU(N) − CPU(0)) / N. ` +
    `Both serve Opus 96 kbit/s stereo in 10 ms packets over DTLS-SRTP on loopback to the same node-datachannel listeners (another process). ` +
    `hark's figures include its test tone and its one Opus encoder (started with the first listener, so N = 1 carries it all); Janus is fed ready-made Opus RTP by the benchmark process, so its figures include no encoding. ` +
    `Janus ${'1.1.2'} (Debian), load average ${(await Bun.file('/proc/loadavg').text()).split(' ')[0]} at the end.`,
);
process.exit(0);
