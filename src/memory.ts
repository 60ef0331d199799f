/**
 * Giving memory back once hark has settled. Starting hark touches far more of the Bun
 * executable than running it does (the parser, module loading, Elysia's route compiler, the
 * JIT compiling everything once): about 44 MB of its code pages are resident after start, of
 * which a running hark keeps using about 30. Those pages are clean and the kernel would drop
 * them under memory pressure anyway, but until then they count in hark's RSS and sit in RAM
 * a Pi Zero 2 W (512 MB) could use. So the daemon collects garbage, trims the C heap and asks
 * the kernel to drop the executable's pages four times after start (once startup is over,
 * once the JIT has mostly settled, once more for a slow core where it settles later, and at 5 minutes when the first visits are over), and
 * again when things turn quiet after WebRTC listeners left. Pages still in use come back from
 * the file at their next touch (read once more from disk: only the main thread and the audio
 * worker run Bun's code, never PipeWire's capture thread, so capture does not wait for it).
 * They come back one page at a time (MADV_RANDOM in ffi/libc.ts): with the kernel's read-around,
 * each fault brought in up to read_ahead_kb (8 MB on the emulated board) and mapped the 64 KB
 * around it, so the emulated board read 69 MB 26 s after the last trim, about 60 without it.
 *
 * Paging out is on only in the daemon (main.ts calls `enablePageOut`): in-process tests and
 * tools just collect and trim. The kernel pages out file pages only for a process that owns
 * the file or could open it for writing (can_do_file_pageout in mm/madvise.c), and only pages
 * no other process maps. A checkout run by its owner qualifies; on the image hark owns its
 * /opt/hark/bin/bun, made immutable so that owning it lets hark change nothing (the .deb's
 * postinst and hark.service).
 */
import { readFileSync } from 'node:fs';
import { mallocTrim, pageOutExecutable } from '../ffi/libc.ts';
import { logger } from './log.ts';

const log = logger('memory');

/**
 * After start: once startup is done, once the JIT has compiled the steady-state code (on a
 * Pi 4 or x64), once more for a slower core (a Pi 3 or Zero 2 W; the emulated test board), and
 * a last time at 5 minutes, when the first minutes' one-off work is over: the first visit to the
 * pages, `hark` commands run over SSH at boot (another Bun process mapping the executable keeps
 * its pages in hark while it runs, and fault-around maps what it read into hark afterwards), a
 * slow core's last tier-ups. The boot test read 61.8 MB at 211 s with the first three only
 * (2026-12-03, the goal is 60 MB; 53.0 MB on an earlier build read at 279 s).
 */
export const TRIM_AFTER_START_MS = [10_000, 60_000, 180_000, 300_000] as const;

let pageOut = false;

export function enablePageOut(): void {
  pageOut = true;
}

function rssKb(): number {
  try {
    const m = /^VmRSS:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Collect garbage, return free C heap to the kernel and (in the daemon) drop unused code pages. */
export function trimMemory(why: string): void {
  const before = rssKb();
  // Not Bun.shrink(): JSC's shrinkFootprint deletes all compiled code, so every function the
  // idle box runs is compiled again after each trim, and the compilers' code (Baseline, DFG,
  // FTL/B3: tens of MB of the executable) comes back into RSS with it. Under the emulator the
  // image's reading 20 s after the last trim was 70 MB from that alone (the compile log,
  // BUN_JSC_reportCompileTimes=1, showed the same functions compiled again from Baseline after
  // the 300 s trim).
  Bun.gc(true);
  mallocTrim();
  const advised = pageOut ? pageOutExecutable() : 0;
  const after = rssKb();
  const m = process.memoryUsage();
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  log.debug(
    `${why}: RSS ${(before / 1024).toFixed(1)} → ${(after / 1024).toFixed(1)} MB${advised ? ` (code pages dropped from ${(advised / 2 ** 20).toFixed(0)} MB of the executable)` : ''}; JS heap ${mb(m.heapUsed)} of ${mb(m.heapTotal)} MB, external ${mb(m.external)} MB`,
  );
}

/** Trim at TRIM_AFTER_START_MS; the timers never keep the process alive. Returns a canceller. */
export function scheduleTrims(delays: readonly number[] = TRIM_AFTER_START_MS): () => void {
  const timers = delays.map((ms) => setTimeout(() => trimMemory(`${ms / 1000} s after start`), ms));
  for (const t of timers) t.unref();
  return () => timers.forEach(clearTimeout);
}
