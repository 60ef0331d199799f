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
import { readFileSync } from 'node:fs';
import { startHark } from '../test/lib/hark.ts';
import { freeUdpPort, WhepClient } from '../test/lib/whep-client.ts';
import { appendResults } from './lib.ts';

const SETTLE_MS = 8000;

function memory(pid: number): { rss: number; anon: number } {
  const s = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(s.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm'))![1]);
  return { rss: kb('Rss'), anon: kb('Anonymous') };
}

/** Start hark with `toml`, let it settle, probe it once as a monitor would, measure, stop. */
async function measure(toml: string, between?: (url: string) => Promise<void>) {
  // Only the UDP port is set (to a free one, so a concurrent test cannot take it): a number,
  // no feature.
  const hark = await startHark(`${toml}[webrtc]\nudp_port = ${await freeUdpPort()}\n`, { env: { HARK_LOG_LEVEL: 'info' } });
  try {
    await Bun.sleep(SETTLE_MS);
    if (between) await between(hark.url);
    await fetch(`${hark.url}/api/status`);
    await Bun.sleep(1000);
    return memory(hark.proc.pid);
  } finally {
    await hark.stop();
  }
}

const peer = Bun.spawn([process.execPath, '-e', 'Bun.serve({ port: 0, fetch: () => new Response("ok") }); setInterval(() => {}, 1e6)'], {
  stdout: 'ignore',
});

const byDefault = await measure('');
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
const row = (what: string, m: { rss: number; anon: number }, goal = '') => [what, mb(m.rss), mb(m.anon), (m.rss / p.rss).toFixed(2), goal];
appendResults(
  'Idle RSS',
  'bun bench/idle-rss.ts',
  ['what', 'RSS MB', 'private (anon) MB', 'RSS ratio to bare Bun.serve', 'goal'],
  [
    row('hark, default config (script/server: input auto → tone here, WebRTC on, GPIO on), no listeners', byDefault, '≤ 60 MB'),
    row('hark, input.source = "tone", no listeners', tone),
    row('hark, default config, after one WHEP listener came and went (node-datachannel loaded)', listened),
    row('bare Bun.serve (the runtime floor)', p),
  ],
);
