/**
 * Idle RSS (goal ≤ 60 MB): hark as `script/server` runs it (no config file: every default,
 * input.source = "auto"), with no listeners, against the floor of the same runtime doing
 * nothing but serve HTTP (a bare Bun.serve), in the same run. Also: the tone source
 * explicitly (the row this bench reported before), and hark after one WHEP listener came and
 * went, since node-datachannel is loaded at the first offer and stays (the honest "WebRTC
 * used" figure). Each hark runs alone, one after the other, beside the peer.
 *
 * RSS counts the runtime's own code pages as they are touched (file-backed, shared with every
 * other bun process); "private" is the anonymous memory, which is what hark itself holds.
 */
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHark } from '../test/lib/hark.ts';
import { freeUdpPort, WhepClient } from '../test/lib/whep-client.ts';
import { appendResults } from './lib.ts';
import { TRIM_AFTER_START_MS } from '../src/memory.ts';

/**
 * hark runs from its own copy of the executable, as on the box, where it is the only process
 * that maps it: the kernel drops only code pages that no other process maps, and this bench
 * and the peer run the same bun.
 */
const binDir = mkdtempSync(join(tmpdir(), 'hark-bench-rss-'));
const harkBun = join(binDir, 'bun');
copyFileSync(process.execPath, harkBun);
chmodSync(harkBun, 0o755);
process.on('exit', () => rmSync(binDir, { recursive: true, force: true }));

/** The first reading: started, settled, before the daemon's first trim (TRIM_AFTER_START_MS). */
const SETTLE_MS = 8000;
/** The steady reading: 20 s after the daemon's last trim after start. */
const STEADY_MS = TRIM_AFTER_START_MS[TRIM_AFTER_START_MS.length - 1] + 20_000;

interface Reading {
  rss: number;
  anon: number;
  /** utime + stime so far, in clock ticks (/proc/<pid>/stat). */
  ticks: number;
  at: number;
}

function memory(pid: number): Reading {
  const s = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(s.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm'))![1]);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rss: kb('Rss'), anon: kb('Anonymous'), ticks: Number(f[11]) + Number(f[12]), at: performance.now() };
}

/**
 * Start hark with `toml`, let it settle, probe it once as a monitor would, read its memory;
 * then again, probed the same way, once it has been up for STEADY_MS (the idle state it stays
 * in for months); stop.
 */
async function measure(toml: string, between?: (url: string) => Promise<void>): Promise<{ start: Reading; steady: Reading }> {
  // Only the UDP port is set (to a free one, so a concurrent test cannot take it): a number,
  // no feature.
  const hark = await startHark(`${toml}[webrtc]\nudp_port = ${await freeUdpPort()}\n`, { env: { HARK_LOG_LEVEL: 'info' }, bun: harkBun });
  const t0 = performance.now();
  try {
    await Bun.sleep(SETTLE_MS);
    await fetch(`${hark.url}/api/status`);
    await Bun.sleep(1000);
    const start = memory(hark.proc.pid);
    if (between) await between(hark.url);
    await Bun.sleep(Math.max(0, STEADY_MS - 1000 - (performance.now() - t0)));
    await fetch(`${hark.url}/api/status`);
    await Bun.sleep(1000);
    return { start, steady: memory(hark.proc.pid) };
  } finally {
    await hark.stop();
  }
}

const peer = Bun.spawn([process.execPath, '-e', 'Bun.serve({ port: 0, fetch: () => new Response("ok") }); setInterval(() => {}, 1e6)'], {
  stdout: 'ignore',
});

const byDefault = await measure('');
// HTTPS on, as on the image (issue 14): the box's own CA and certificate made at start (openssl),
// a second Bun.serve with TLS.
const tlsPort = await new Promise<number>((resolve) => {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  resolve(port);
});
const https = await measure(`[tls]\nenabled = true\nport = ${tlsPort}\n`);
const tone = await measure('[input]\nsource = "tone"\n');
const listened = await measure('', async (url) => {
  const c = await WhepClient.open({ url: `${url}/whep`, record: false });
  await Bun.sleep(3000);
  await c.close();
  // The output collects and trims 5 s after the last listener left.
  await Bun.sleep(7000);
});
const p = memory(peer.pid!);
peer.kill();

const mb = (kb: number) => (kb / 1024).toFixed(1);
/** CPU between the two readings (% of one core; 100 clock ticks a second). */
const cpu = (m: { start: Reading; steady: Reading }) => `${(((m.steady.ticks - m.start.ticks) / 100 / ((m.steady.at - m.start.at) / 1000)) * 100).toFixed(2)} %`;
const row = (what: string, m: { start: Reading; steady: Reading }, goal = '') => [
  what,
  mb(m.start.rss),
  mb(m.steady.rss),
  mb(m.steady.anon),
  (m.steady.rss / p.rss).toFixed(2),
  cpu(m),
  goal,
];
const steadyS = STEADY_MS / 1000;
appendResults(
  'Idle RSS',
  'bun bench/idle-rss.ts',
  ['what', 'RSS MB 9 s after start', `RSS MB at ${steadyS} s (steady)`, `private (anon) MB at ${steadyS} s`, 'steady RSS ratio to bare Bun.serve', 'CPU between the readings (% of a core)', 'goal'],
  [
    row('hark, default config (script/server: input auto → silence here, no interface; WebRTC on, GPIO on), no listeners', byDefault, '≤ 60 MB'),
    row('hark, default config with HTTPS on (tls.enabled: its own CA and certificate, a second server), no listeners', https),
    row('hark, input.source = "tone", no listeners', tone),
    row('hark, default config, after one WHEP listener came and went (node-datachannel loaded)', listened),
    ['bare Bun.serve (the runtime floor)', '', mb(p.rss), mb(p.anon), '1.00', '', ''],
  ],
  `RSS and Anonymous from /proc/<pid>/smaps_rollup (MB = 1024 kB), each reading 1 s after a GET /api/status. The first reading is before the daemon's first trim (src/memory.ts, at ${TRIM_AFTER_START_MS.map((t) => t / 1000).join(' s and ')} s after start: collect garbage, malloc_trim, MADV_PAGEOUT of the Bun executable's read-only mappings); the steady one ${steadyS} s after start, after the code pages still in use came back. The WHEP listener of the third row comes at 9 s and leaves 3 s later. The peer is read at the end. hark runs from a private copy of the bun executable, as on the box where it is the only process mapping it (the kernel reclaims only pages no other process maps; this bench and the peer run the same bun).`,
);
