/**
 * Why hark (re)started, told from two small files in the state directory:
 * - `hark-run.json`, written at every start ({boot_id, version, pid, clean: false}) and again
 *   at a clean stop (clean: true): SIGTERM (systemctl stop/restart, a reboot, an update's
 *   restart), the System page's restart;
 * - `last-exit`, written by hark.service's ExecStopPost (`$SERVICE_RESULT $EXIT_CODE
 *   $EXIT_STATUS`, systemd.exec(5)) when systemd saw the process end: that is how a watchdog
 *   kill is told from a crash. Read once and removed.
 * The kernel's boot id (/proc/sys/kernel/random/boot_id) tells a restart of hark from a boot of
 * the box: a boot after a clean stop was a reboot or shut-down; after an unclean one, the power
 * went (or the box froze).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../config/atomic.ts';
import type { Severity } from './notice.ts';

export const RUN_FILE = 'hark-run.json';
export const LAST_EXIT_FILE = 'last-exit';

export interface RunMarker {
  boot_id: string;
  version: string;
  pid: number;
  started_at: string;
  clean: boolean;
  stopped_at?: string;
}

export type RestartKind = 'first' | 'restart' | 'in-place' | 'update' | 'reboot' | 'power' | 'crash' | 'watchdog';

export interface RestartReason {
  kind: RestartKind;
  severity: Severity;
  message: string;
}

export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** What the previous run's marker and systemd's exit record say about this start. */
export function restartReason(prev: RunMarker | null, now: { boot_id: string; version: string; pid: number }, lastExit: string | null): RestartReason {
  if (!prev) return { kind: 'first', severity: 'info', message: `hark ${now.version} started (no earlier run recorded on this box).` };
  const newBoot = !!prev.boot_id && !!now.boot_id && prev.boot_id !== now.boot_id;
  if (prev.clean) {
    if (prev.version !== now.version) return { kind: 'update', severity: 'info', message: `hark was updated from ${prev.version} to ${now.version} and started again.` };
    if (newBoot) return { kind: 'reboot', severity: 'info', message: 'The box was restarted (a reboot or a shut-down), and hark started again.' };
    if (prev.pid === now.pid) return { kind: 'in-place', severity: 'info', message: 'hark restarted itself (the System page, a restored backup or a factory reset).' };
    return { kind: 'restart', severity: 'info', message: 'hark was stopped and started again.' };
  }
  if (newBoot) return { kind: 'power', severity: 'warning', message: 'The box lost power or froze: hark did not stop cleanly, and the box started again.' };
  const [result = '', code = '', status = ''] = (lastExit ?? '').trim().split(/\s+/);
  if (result === 'watchdog') return { kind: 'watchdog', severity: 'warning', message: 'hark stopped responding; the watchdog restarted it.' };
  const how = code && status ? ` (${code === 'killed' || code === 'dumped' ? `signal ${status}` : `exit status ${status}`})` : '';
  return { kind: 'crash', severity: 'warning', message: `hark stopped unexpectedly${how} and was started again.` };
}

/** Read the previous run's marker and systemd's exit record, record this run, and say why it started. */
export function recordStart(stateDir: string, version: string, pid = process.pid): RestartReason {
  const file = join(stateDir, RUN_FILE);
  let prev: RunMarker | null = null;
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as RunMarker;
    if (v && typeof v === 'object' && typeof v.clean === 'boolean') prev = v;
  } catch {
    prev = null;
  }
  const exitFile = join(stateDir, LAST_EXIT_FILE);
  let lastExit: string | null = null;
  if (existsSync(exitFile)) {
    try {
      lastExit = readFileSync(exitFile, 'utf8').slice(0, 200);
    } catch {
      lastExit = null;
    }
    rmSync(exitFile, { force: true });
  }
  const now = { boot_id: bootId(), version, pid };
  const reason = restartReason(prev, now, lastExit);
  writeMarker(file, { ...now, started_at: new Date().toISOString(), clean: false });
  return reason;
}

/** A clean stop: the next start knows hark did not crash. */
export function recordCleanStop(stateDir: string, version: string, pid = process.pid): void {
  writeMarker(join(stateDir, RUN_FILE), { boot_id: bootId(), version, pid, started_at: '', clean: true, stopped_at: new Date().toISOString() });
}

function writeMarker(file: string, m: RunMarker): void {
  try {
    writeFileAtomic(file, `${JSON.stringify(m)}\n`);
  } catch {
    // A read-only state directory loses only this: the next start says "first".
  }
}
