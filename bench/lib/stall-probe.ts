/**
 * The machine's own scheduling stalls, seen by a process that has nothing to do with hark or
 * the browser: a Python loop sleeping 1 ms on CLOCK_MONOTONIC that reports every wake-up more
 * than STALL_MS late. On this 2-core VM the whole guest stops now and then (13–43 ms, also when
 * idle); every thread of hark, of Chromium and of this probe stops with it, and no jitter buffer
 * below that depth plays through it. A benchmark row reports what the probe saw over its clicks,
 * so a row's concealment can be read against the stalls it met.
 */
import type { Subprocess } from 'bun';

/** Wake-ups this much (ms) later than asked are stalls. */
export const STALL_MS = 10;

const SCRIPT = `
import time
last = time.monotonic()
while True:
    time.sleep(0.001)
    n = time.monotonic()
    if n - last > ${STALL_MS / 1000}:
        print(f"{n * 1000:.1f} {(n - last) * 1000:.1f}", flush=True)
    last = n
`;

export interface Stall {
  /** When the probe woke (CLOCK_MONOTONIC ms), and how long it had been stopped (ms). */
  at: number;
  ms: number;
}

export interface StallProbe {
  /** The stalls that ended between `from` and `to` (CLOCK_MONOTONIC ms). */
  between(from: number, to: number): Stall[];
  stop(): void;
}

export function startStallProbe(): StallProbe {
  const stalls: Stall[] = [];
  const proc: Subprocess<'ignore', 'pipe', 'ignore'> = Bun.spawn(['python3', '-u', '-c', SCRIPT], { stdin: 'ignore', stdout: 'pipe', stderr: 'ignore' });
  // It loops for ever: gone with the benchmark, however that ends (a throw before its `finally`, Ctrl-C).
  process.on('exit', () => proc.kill());
  void (async () => {
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of proc.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const [at, ms] = buf.slice(0, nl).split(' ').map(Number);
        buf = buf.slice(nl + 1);
        // Bounded: a run of a few hours at one stall a second.
        if (Number.isFinite(at) && Number.isFinite(ms) && stalls.length < 100_000) stalls.push({ at: at!, ms: ms! });
      }
    }
  })();
  return {
    between: (from, to) => stalls.filter((s) => s.at >= from && s.at <= to),
    stop: () => proc.kill(),
  };
}

/** "n, longest m ms" for a row. */
export function describeStalls(s: Stall[]): string {
  return s.length ? `${s.length}, longest ${Math.max(...s.map((x) => x.ms)).toFixed(0)}` : '0';
}
