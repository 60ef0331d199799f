/**
 * CPU and wakes of hark now against hark at an earlier commit, side by side in one run.
 *
 * Both copies run at the same time on the same machine, capture the same PipeWire sink (a
 * music-like signal played in a loop), encode MP3 128 kbit/s and send it to the same icecast2
 * (one mount each), so whatever else the machine does falls on both alike. The earlier commit is
 * checked out with `git worktree` (default: 31096e6, the tree before issue 15 reshaped the
 * control plane) and runs with this checkout's node_modules.
 *
 * Two phases, each measured in several windows after a warm-up:
 *   1. streaming to Icecast, no page open;
 *   2. the same with a logged-in dashboard's live connection (`/events?page=dashboard`) read on
 *      each copy: the meters' numbers and every pushed widget (issue 15 replaced the SSE hub's
 *      polling with events).
 * Per window: utime+stime (% of a core) and context switches (voluntary + involuntary, summed
 * over the process's threads: how often it wakes) of each copy, and their ratio now ÷ before.
 *
 *   bun bench/ab-cpu.ts [window seconds] [windows per phase] [warm-up seconds] [base commit]
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startHark, type HarkProcess } from '../test/lib/hark.ts';
import { startIcecast } from '../test/lib/icecast.ts';
import { startPipewire } from '../test/lib/pipewire.ts';
import { setupPassword } from '../test/lib/session.ts';
import { appendResults, cpuSeconds } from './lib.ts';
import { playMusicLoop } from './lib/music.ts';

const seconds = Number(process.argv[2] ?? 30);
const windows = Number(process.argv[3] ?? 4);
const WARMUP_S = Number(process.argv[4] ?? 60);
const BASE = process.argv[5] ?? '31096e6';
/** After the pages open: the SSE connections and their first renders settle. */
const SSE_SETTLE_S = 15;
const ROOT = resolve(import.meta.dir, '..');
const PASSWORD = 'bench-password-1';

for (const [name, v] of [['window seconds', seconds], ['windows', windows], ['warm-up seconds', WARMUP_S]] as const) {
  if (!Number.isInteger(v) || v < 1 || v > 3600) throw new Error(`${name} must be a whole number from 1 to 3600, not ${v}`);
}
if (!/^[0-9a-f]{7,40}$/i.test(BASE)) throw new Error(`the base commit must be a commit id (7 to 40 hex digits), not "${BASE}"`);

/** Context switches of every thread of `pid` (each one a wake or a preemption). */
function ctxSwitches(pid: number): number {
  let n = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8');
      n += Number(s.match(/^voluntary_ctxt_switches:\s+(\d+)/m)?.[1] ?? 0);
      n += Number(s.match(/^nonvoluntary_ctxt_switches:\s+(\d+)/m)?.[1] ?? 0);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return n;
}

function git(args: string[]): string {
  const r = Bun.spawnSync(['git', '-C', ROOT, ...args], { stderr: 'pipe' });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString().trim();
}

const cleanup: (() => unknown)[] = [];
try {
  const baseFull = git(['rev-parse', '--verify', `${BASE}^{commit}`]);
  const nowFull = git(['rev-parse', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
  const baseDir = mkdtempSync(join(tmpdir(), 'hark-bench-base-'));
  rmSync(baseDir, { recursive: true });
  git(['worktree', 'add', '--detach', baseDir, baseFull]);
  cleanup.push(() => git(['worktree', 'remove', '--force', baseDir]));
  if (!existsSync(join(baseDir, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(baseDir, 'node_modules'));

  const pw = await startPipewire();
  cleanup.push(() => pw.stop());
  const ice = await startIcecast();
  cleanup.push(() => ice.stop());
  const dir = mkdtempSync(join(tmpdir(), 'hark-bench-ab-'));
  const toml = (mount: string) => `
[input]
source = "pipewire"
device = "${pw.sinkName}"
[webrtc]
enabled = false
[silence]
enabled = false
[[icecast]]
id = "bench"
url = "http://source:${ice.sourcePassword}@127.0.0.1:${ice.port}/${mount}.mp3"
format = "mp3"
bitrate_kbps = 128
`;
  const opts = { env: { ...pw.env, HARK_LOG_LEVEL: 'info' } };
  const now = await startHark(toml('now'), opts);
  cleanup.push(() => now.stop());
  const before = await startHark(toml('before'), { ...opts, root: baseDir });
  cleanup.push(() => before.stop());

  // Played in a loop for as long as the run takes.
  cleanup.push(playMusicLoop(pw, dir));
  for (const m of ['/now.mp3', '/before.mp3']) await ice.waitForSource(m, 30_000);

  const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  type Window = { cpuNow: number; cpuBefore: number; wakesNow: number; wakesBefore: number; load: string };
  async function measure(): Promise<Window> {
    const p = { now: now.proc.pid, before: before.proc.pid };
    const c0 = { now: cpuSeconds(p.now), before: cpuSeconds(p.before) };
    const w0 = { now: ctxSwitches(p.now), before: ctxSwitches(p.before) };
    const t0 = performance.now();
    await Bun.sleep(seconds * 1000);
    const wall = (performance.now() - t0) / 1000;
    const w: Window = {
      cpuNow: ((cpuSeconds(p.now) - c0.now) / wall) * 100,
      cpuBefore: ((cpuSeconds(p.before) - c0.before) / wall) * 100,
      wakesNow: (ctxSwitches(p.now) - w0.now) / wall,
      wakesBefore: (ctxSwitches(p.before) - w0.before) / wall,
      load: loadavg(),
    };
    const sources = await ice.sources();
    for (const m of ['/now.mp3', '/before.mp3']) if (!sources.has(m)) throw new Error(`${m} dropped during the run`);
    return w;
  }

  /** Read a logged-in dashboard's live connection for as long as the run lasts. */
  async function openDashboard(h: HarkProcess): Promise<() => void> {
    const cookie = await setupPassword(h.url, PASSWORD);
    const ac = new AbortController();
    const res = await fetch(`${h.url}/events?page=dashboard`, { headers: { cookie, accept: 'text/event-stream' }, signal: ac.signal });
    if (res.status !== 200 || !res.body) throw new Error(`${h.url}/events?page=dashboard answered ${res.status}`);
    let bytes = 0;
    void (async () => {
      try {
        for await (const chunk of res.body!) bytes += chunk.byteLength;
      } catch {
        // aborted at the end
      }
    })();
    await Bun.sleep(2000);
    if (bytes === 0) throw new Error(`${h.url}/events sent nothing in 2 s`);
    return () => ac.abort();
  }

  await Bun.sleep(WARMUP_S * 1000);
  const streaming: Window[] = [];
  for (let i = 0; i < windows; i++) streaming.push(await measure());
  const closers = [await openDashboard(now), await openDashboard(before)];
  cleanup.push(() => closers.forEach((c) => c()));
  await Bun.sleep(SSE_SETTLE_S * 1000);
  const withPage: Window[] = [];
  for (let i = 0; i < windows; i++) withPage.push(await measure());

  const pct = (v: number) => `${v.toFixed(2)} %`;
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : '—');
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const rows: (string | number)[][] = [];
  const summary: string[] = [];
  for (const [phase, ws] of [['1. streaming', streaming], ['2. streaming + dashboard open', withPage]] as const) {
    ws.forEach((w, i) =>
      rows.push([`${phase}, window ${i + 1}`, pct(w.cpuBefore), pct(w.cpuNow), ratio(w.cpuNow, w.cpuBefore), w.wakesBefore.toFixed(0), w.wakesNow.toFixed(0), ratio(w.wakesNow, w.wakesBefore), w.load])
    );
    const cpuRatios = ws.map((w) => w.cpuNow / w.cpuBefore);
    const wakeRatios = ws.map((w) => w.wakesNow / w.wakesBefore);
    const sumNow = ws.reduce((a, w) => a + w.cpuNow, 0);
    const sumBefore = ws.reduce((a, w) => a + w.cpuBefore, 0);
    rows.push([`**${phase}, all windows**`, pct(sumBefore / ws.length), pct(sumNow / ws.length), `**${ratio(sumNow, sumBefore)}**`, (ws.reduce((a, w) => a + w.wakesBefore, 0) / ws.length).toFixed(0), (ws.reduce((a, w) => a + w.wakesNow, 0) / ws.length).toFixed(0), `**${ratio(ws.reduce((a, w) => a + w.wakesNow, 0), ws.reduce((a, w) => a + w.wakesBefore, 0))}**`, '']);
    summary.push(`${phase}: CPU now ÷ before median ${median(cpuRatios).toFixed(2)} (windows ${Math.min(...cpuRatios).toFixed(2)}–${Math.max(...cpuRatios).toFixed(2)}), wakes median ${median(wakeRatios).toFixed(2)} (${Math.min(...wakeRatios).toFixed(2)}–${Math.max(...wakeRatios).toFixed(2)})`);
  }
  appendResults(
    `hark now against hark at ${baseFull.slice(0, 7)}, side by side: CPU and wakes`,
    `bun bench/ab-cpu.ts ${seconds} ${windows} ${WARMUP_S} ${BASE}`,
    ['window', `CPU before (${baseFull.slice(0, 7)})`, `CPU now (${nowFull.slice(0, 7)}${dirty ? ' + changes' : ''})`, 'CPU now ÷ before', 'wakes/s before', 'wakes/s now', 'wakes now ÷ before', 'load (1/5/15 min) after'],
    rows,
    `Both copies ran at once: same PipeWire sink (a music-like signal), MP3 CBR 128 kbit/s to the same icecast2 (one mount each), WebRTC and silence detection off, MIMALLOC_SCAVENGER=0 as hark.service sets it, the same bun (${Bun.version}). ${windows} windows of ${seconds} s per phase after ${WARMUP_S} s warm-up (phase 2 after ${SSE_SETTLE_S} s more with one logged-in /events?page=dashboard read on each). CPU = utime+stime from /proc/<pid>/stat; wakes = voluntary + involuntary context switches summed over the threads. ${summary.join('; ')}.`,
  );
} finally {
  for (const c of cleanup.reverse()) await Promise.resolve(c()).catch((e) => console.error(`cleanup: ${e}`));
}
