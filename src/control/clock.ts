/**
 * Whether the box's clock is synchronised: nothing scheduled runs before it is (a Pi has no
 * real-time clock, so until NTP answers it believes it is the last time it shut down).
 *
 * systemd-timesyncd creates /run/systemd/timesync/synchronized once it has set the clock
 * (`HARK_TIMESYNC_FILE` names another file: the tests, or another NTP client's flag); without
 * that file, `timedatectl show -p NTPSynchronized` answers for chrony and others. Kept behind
 * one small function so the scheduler and the page are given it, and tests give their own.
 */
import { existsSync } from 'node:fs';

export interface ClockState {
  synced: boolean;
  /** How it was found out, for the System page. */
  by: string;
}

export type ClockProbe = () => ClockState;

const TIMESYNC_FILE = '/run/systemd/timesync/synchronized';
/** timedatectl is asked at most this often while the clock is not synchronised (it starts a process). */
const ASK_EVERY_MS = 60_000;

let asked: { at: number; synced: boolean } | null = null;

/** The clock's state now (cached: once synchronised it stays so for this process). */
export function clockState(env: Record<string, string | undefined> = process.env, now = Date.now()): ClockState {
  const file = env.HARK_TIMESYNC_FILE || TIMESYNC_FILE;
  if (existsSync(file)) return { synced: true, by: env.HARK_TIMESYNC_FILE ? `${file} is there` : 'systemd-timesyncd' };
  // A file named on purpose is the only answer (tests; another NTP client's flag).
  if (env.HARK_TIMESYNC_FILE) return { synced: false, by: `waiting for ${file}` };
  if (!asked || (!asked.synced && now - asked.at >= ASK_EVERY_MS)) {
    let synced = false;
    try {
      const r = Bun.spawnSync(['timedatectl', 'show', '-p', 'NTPSynchronized', '--value'], { stdout: 'pipe', stderr: 'ignore' });
      synced = r.exitCode === 0 && r.stdout.toString().trim() === 'yes';
    } catch {
      synced = false;
    }
    asked = { at: now, synced };
  }
  return asked.synced ? { synced: true, by: 'timedatectl' } : { synced: false, by: 'systemd-timesyncd and timedatectl: not synchronised' };
}
