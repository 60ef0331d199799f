/**
 * Start a real hark daemon (`bun src/main.ts`) for a test: its own config file and port,
 * its stdout collected, stopped with SIGTERM (then SIGKILL) at the end.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Subprocess } from 'bun';

export interface HarkProcess {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>;
  port: number;
  url: string;
  dir: string;
  configPath: string;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** Wait until a line matching `re` appears. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** RSS of the daemon in kB, from /proc. */
  rssKb(): number;
  stop(): Promise<number>;
}

const ROOT = resolve(import.meta.dir, '../..');

/** Daemons still running: killed when the test process exits, whatever happened. */
const running = new Set<Subprocess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export async function startHark(
  toml: string,
  opts: {
    env?: Record<string, string>;
    timeoutMs?: number;
    args?: string[];
    /** a copy of hark to run instead of this checkout */
    root?: string;
    /** the bun executable to run it with (default: this one) */
    bun?: string;
    /** start again in a stopped hark's directory (its `dir`): its config file, state and auth are kept; `toml` is ignored */
    dir?: string;
  } = {},
): Promise<HarkProcess> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'hark-test-'));
  const configPath = join(dir, 'hark.toml');
  if (!opts.dir) writeFileSync(configPath, toml);
  const proc = Bun.spawn([opts.bun ?? process.execPath, join(opts.root ?? ROOT, 'src/main.ts'), '--config', configPath, '--port', '0', ...(opts.args ?? [])], {
    cwd: dir,
    // MIMALLOC_SCAVENGER as hark.service sets it.
    env: { ...process.env, HARK_LOG_LEVEL: 'debug', MIMALLOC_SCAVENGER: '0', ...opts.env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  running.add(proc);
  void proc.exited.then(() => running.delete(proc));
  let text = '';
  const waiters = new Set<() => void>();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) {
      text += dec.decode(chunk, { stream: true });
      for (const w of waiters) w();
    }
  };
  void pump(proc.stdout);
  void pump(proc.stderr);

  const waitFor = (re: RegExp, timeoutMs = 10_000) =>
    new Promise<string>((res, rej) => {
      const check = () => {
        const m = text.match(re);
        if (m) {
          waiters.delete(check);
          clearTimeout(timer);
          res(m[0]);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        rej(new Error(`timed out after ${timeoutMs} ms waiting for ${re}; output:\n${text}`));
      }, timeoutMs);
      waiters.add(check);
      check();
      void proc.exited.then(() => setTimeout(check, 50));
    });

  let line: string;
  try {
    line = await Promise.race([
      waitFor(/listening on http:\/\/[^:]+:(\d+)/, opts.timeoutMs ?? 30_000),
      proc.exited.then((code) => {
        throw new Error(`hark exited with ${code} before listening:\n${text}`);
      }),
    ]);
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  const port = Number(line.match(/:(\d+)$/)![1]);
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    configPath,
    output: () => text,
    waitFor,
    rssKb: () => {
      const s = require('node:fs').readFileSync(`/proc/${proc.pid}/status`, 'utf8') as string;
      return Number(s.match(/VmRSS:\s+(\d+)/)![1]);
    },
    stop: async () => {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      const code = await proc.exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Read a streaming HTTP response for `ms` milliseconds; returns the bytes and when the first arrived. */
export async function readStreamFor(url: string, ms: number): Promise<{ bytes: Uint8Array; status: number; firstByteMs: number; headers: Headers }> {
  const ac = new AbortController();
  const t0 = performance.now();
  const res = await fetch(url, { signal: ac.signal });
  const chunks: Uint8Array[] = [];
  let firstByteMs = -1;
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    for await (const c of res.body!) {
      if (firstByteMs < 0) firstByteMs = performance.now() - t0;
      chunks.push(c);
    }
  } catch (e) {
    if ((e as Error).name !== 'AbortError') throw e;
  } finally {
    clearTimeout(timer);
  }
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return { bytes, status: res.status, firstByteMs, headers: res.headers };
}
