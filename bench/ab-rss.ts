/**
 * Idle memory of hark now against hark at an earlier commit, side by side in one run, and of
 * variants of now (settings turned off one at a time), to find where a regression lives.
 *
 * Every copy runs at the same time, each from its own copy of the bun executable (as on the
 * box, where hark is the only process mapping it: the kernel pages out only code that no other
 * process maps), with the image's settings (HTTPS on) and input `auto` on a private PipeWire
 * whose null sink is fed a tone, no listeners. Each is read at the same uptime, 20 s after the
 * daemon's last trim (src/memory.ts), as the boot test reads the image: RSS, anonymous, and the
 * file-backed part split into the bun executable and the other files (libraries), from
 * /proc/<pid>/smaps. The earlier commit is checked out with `git worktree`.
 *
 *   bun bench/ab-rss.ts [base commit[,commit…]] [variant …]
 *
 * Several base commits (comma-separated, at most 6) bisect a regression in one run.
 * A variant is `name=TOML` (added to the settings of "now"), e.g. `noclips=[recording]\nclips=false`.
 * A variant named `pollN…` also has its /api/status read every N seconds, as the image's
 * watchdog health probe (src/system/service.ts) reads it every 10 s; `--poll N` does that for
 * every copy.
 */
import { copyFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startHark, type HarkProcess } from '../test/lib/hark.ts';
import { startPipewire } from '../test/lib/pipewire.ts';
import { freeUdpPort } from '../test/lib/whep-client.ts';
import { appendResults, cpuSeconds } from './lib.ts';
import { TRIM_AFTER_START_MS } from '../src/memory.ts';

const pollAt = process.argv.indexOf('--poll');
const POLL_ALL_S = pollAt > 0 ? Number(process.argv.splice(pollAt, 2)[1]) : 0;
if (!(Number.isInteger(POLL_ALL_S) && POLL_ALL_S >= 0 && POLL_ALL_S <= 600)) throw new Error('--poll takes whole seconds, 0 to 600');
const BASES = (process.argv[2] ?? 'f6a952f').split(',');
if (BASES.length > 6 || !BASES.every((b) => /^[0-9a-f]{7,40}$/i.test(b))) throw new Error(`the base commits are 1 to 6 commit ids (7 to 40 hex digits), comma-separated, not "${process.argv[2]}"`);
const variants: [string, string][] = process.argv.slice(3).map((v) => {
  const i = v.indexOf('=');
  if (i < 1 || !/^[a-z0-9-]{1,20}$/.test(v.slice(0, i))) throw new Error(`a variant is NAME=TOML (NAME: a-z, 0-9, -), not "${v}"`);
  return [v.slice(0, i), v.slice(i + 1).replaceAll('\\n', '\n')];
});
if (variants.length > 4) throw new Error('at most 4 variants (each hark is a process on this machine)');
const ROOT = resolve(import.meta.dir, '..');
const READ_AT_MS = TRIM_AFTER_START_MS[TRIM_AFTER_START_MS.length - 1] + 20_000;

function git(args: string[]): string {
  const r = Bun.spawnSync(['git', '-C', ROOT, ...args], { stderr: 'pipe' });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString().trim();
}

interface Split {
  rss: number;
  anon: number;
  bun: number;
  libs: number;
  /** the largest other file mappings, "name kB" */
  top: string;
}

/** /proc/<pid>/smaps, summed: anonymous, the bun executable's pages, the other files' pages (kB). */
function split(pid: number, bun: string): Split {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  let file = '';
  const byFile = new Map<string, number>();
  let rss = 0;
  let anon = 0;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      file = head[1]!.startsWith('/') ? head[1]!.replace(/ \(deleted\)$/, '') : '';
      continue;
    }
    const r = /^Rss:\s+(\d+)/.exec(line);
    if (r) {
      rss += Number(r[1]);
      if (file) byFile.set(file, (byFile.get(file) ?? 0) + Number(r[1]));
    }
    const a = /^Anonymous:\s+(\d+)/.exec(line);
    if (a) anon += Number(a[1]);
  }
  const bunKb = byFile.get(bun) ?? 0;
  byFile.delete(bun);
  const libs = [...byFile.values()].reduce((s, v) => s + v, 0);
  const top = [...byFile.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([f, kb]) => `${f.split('/').pop()} ${kb}`).join(', ');
  return { rss, anon, bun: bunKb, libs, top };
}

const cleanup: (() => unknown)[] = [];
try {
  const nowFull = git(['rev-parse', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
  const bases = BASES.map((b) => {
    const full = git(['rev-parse', '--verify', `${b}^{commit}`]);
    const dir = mkdtempSync(join(tmpdir(), 'hark-bench-base-'));
    rmSync(dir, { recursive: true });
    git(['worktree', 'add', '--detach', dir, full]);
    cleanup.push(() => git(['worktree', 'remove', '--force', dir]));
    if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    return { full, dir };
  });
  const baseFull = bases[0]!.full;

  const pw = await startPipewire();
  cleanup.push(() => pw.stop());
  const tone = pw.play({ frequency: 997, seconds: Math.ceil(READ_AT_MS / 1000) + 120, levelDbfs: -6, channels: 2 });
  cleanup.push(() => tone.stop());

  const binDir = mkdtempSync(join(tmpdir(), 'hark-bench-abrss-'));
  cleanup.push(() => rmSync(binDir, { recursive: true, force: true }));
  const freeTcp = () => {
    const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
    const p = s.port;
    s.stop(true);
    return p;
  };
  const settings = async () => `[tls]\nenabled = true\nport = ${freeTcp()}\n[webrtc]\nudp_port = ${await freeUdpPort()}\n`;
  const copies: { name: string; bun: string; hark?: HarkProcess; extra: string; root?: string }[] = [
    ...bases.map((b, i) => ({ name: `${i === 0 ? 'before' : 'between'} (${b.full.slice(0, 7)})`, bun: '', extra: '', root: b.dir })),
    { name: `now (${nowFull.slice(0, 7)}${dirty ? ' + changes' : ''})`, bun: '', extra: '' },
    ...variants.map(([name, toml]) => ({ name: `now, ${name}: ${toml.replaceAll('\n', ' ')}`, bun: '', extra: toml })),
  ];
  copies.forEach((c, i) => {
    c.bun = join(binDir, `bun-${i}`);
    copyFileSync(process.execPath, c.bun);
    chmodSync(c.bun, 0o755);
  });
  const env = { ...pw.env, HARK_LOG_LEVEL: 'debug' };
  // Within a second of each other: the same uptime at the reading.
  for (const c of copies) {
    c.hark = await startHark(`${await settings()}${c.extra}\n`, { env, bun: c.bun, root: c.root });
    cleanup.push(() => c.hark!.stop());
    const every = Number(/^now, poll(\d+)/.exec(c.name)?.[1] ?? POLL_ALL_S);
    if (every > 0) {
      const url = `${c.hark.url}/api/status`;
      const t = setInterval(() => void fetch(url).then((r) => r.arrayBuffer()).catch(() => {}), every * 1000);
      cleanup.push(() => clearInterval(t));
    }
  }
  const t0 = performance.now();
  await Bun.sleep(READ_AT_MS - 1000);
  for (const c of copies) await fetch(`${c.hark!.url}/api/status`);
  await Bun.sleep(1000);
  const mb = (kb: number) => (kb / 1024).toFixed(1);
  const readings = copies.map((c) => ({ c, s: split(c.hark!.proc.pid, c.bun), cpu: cpuSeconds(c.hark!.proc.pid) }));
  const uptime = ((performance.now() - t0) / 1000).toFixed(0);
  const before = readings[0]!.s;
  const rows = readings.map(({ c, s, cpu }) => [c.name, mb(s.rss), (s.rss / before.rss).toFixed(2), mb(s.anon), mb(s.bun), mb(s.libs), cpu.toFixed(1), s.top]);
  // The daemons' own trim lines (JS heap and external memory at each trim).
  const heaps = readings.map(({ c }) => `${c.name}: ${(c.hark!.output().match(/300 s after start: [^\n]*/) ?? ['(no 300 s trim line)'])[0]}`);
  appendResults(
    `Idle memory, hark now against hark at ${bases.map((b) => b.full.slice(0, 7)).join(', ')} and variants, side by side`,
    `bun bench/ab-rss.ts ${process.argv.slice(2).map((a) => JSON.stringify(a)).join(' ')}`,
    ['hark', `RSS MB at ~${uptime} s`, 'RSS ÷ before', 'anon MB', 'bun executable MB', 'other files MB', 'CPU s so far', 'largest other files (kB)'],
    rows,
    `All ran at once, each from its own copy of bun ${Bun.version}, HTTPS on, input auto on a private PipeWire's null sink fed by pw-play, no listeners, MIMALLOC_SCAVENGER=0; read from /proc/<pid>/smaps 1 s after a GET /api/status, ${READ_AT_MS / 1000} s after start (20 s after the last trim). Trim lines: ${heaps.join('; ')}.`,
  );
} finally {
  for (const c of cleanup.reverse()) await Promise.resolve(c()).catch((e) => console.error(`cleanup: ${e}`));
}
