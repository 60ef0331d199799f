/**
 * Idle RSS: hark running its tone with no listeners (goal ≤ 60 MB), against the floor of the
 * same runtime doing nothing but serve HTTP (a bare Bun.serve), in the same run.
 */
import { startHark } from '../test/lib/hark.ts';
import { appendResults, rssKb } from './lib.ts';

const SETTLE_MS = 8000;

const hark = await startHark('[input]\nsource = "tone"\n', { env: { HARK_LOG_LEVEL: 'info' } });
const peer = Bun.spawn([process.execPath, '-e', 'Bun.serve({ port: 0, fetch: () => new Response("ok") }); setInterval(() => {}, 1e6)'], {
  stdout: 'ignore',
});
await Bun.sleep(SETTLE_MS);
// Wake the HTTP side once, as a monitoring probe would.
await fetch(`${hark.url}/api/status`);
await Bun.sleep(1000);
const h = rssKb(hark.proc.pid);
const p = rssKb(peer.pid);
await hark.stop();
peer.kill();

const mb = (kb: number) => (kb / 1024).toFixed(1);
appendResults(
  'Idle RSS',
  'bun bench/idle-rss.ts',
  ['what', 'RSS MB', 'ratio to bare Bun.serve', 'goal'],
  [
    ['hark, tone source, no listeners', mb(h), (h / p).toFixed(2), '≤ 60 MB'],
    ['bare Bun.serve (the runtime floor)', mb(p), '1.00', ''],
  ],
);
