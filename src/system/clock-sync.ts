/**
 * Whether the wall clock can be trusted yet: a Pi has no battery-backed clock, so until an NTP
 * client has reached a time server the date is whatever the last shutdown left (or 1970).
 * Nothing scheduled runs before it is (src/control/schedule.ts), and recordings made before are
 * named -unsynced (src/outputs/recorder.ts): both ask here.
 *
 * systemd-timesyncd creates /run/systemd/timesync/synchronized at its first sync this boot
 * (systemd-timesyncd.service(8)). Without that file the kernel answers for chrony, ntpd and
 * others: adjtimex(2), read only, whose maximum error stays at 16 s until someone disciplines
 * the clock (what `timedatectl show -p NTPSynchronized` reports, without starting a process or
 * asking D-Bus: this is asked every few seconds while the clock is unknown, on the main thread).
 * A host not booted with systemd (a container, a developer's machine) has its clock taken as
 * right. `HARK_TIMESYNC_FILE` names another file, which then decides alone (tests).
 */
import { existsSync } from 'node:fs';
import { clockSynchronised } from '../../ffi/libc.ts';

/** systemd-timesyncd's flag file: present once the clock has been synchronised this boot. */
export const TIMESYNC_FLAG = '/run/systemd/timesync/synchronized';

export interface ClockState {
  synced: boolean;
  /** How it was found out, for the System page. */
  by: string;
}

export type ClockProbe = () => ClockState;
/** Answers "is the wall clock known?" (injectable: tests pass their own). */
export type ClockSynced = () => boolean;

let kernelSaidSynced = false;

/** The clock's state now; once synchronised it stays so for this process. */
export function clockState(env: Record<string, string | undefined> = process.env, kernel: () => boolean | null = clockSynchronised, systemd = () => existsSync('/run/systemd/system')): ClockState {
  const file = env.HARK_TIMESYNC_FILE;
  if (file) return existsSync(file) ? { synced: true, by: `${file} is there` } : { synced: false, by: `waiting for ${file}` };
  if (existsSync(TIMESYNC_FLAG)) return { synced: true, by: 'systemd-timesyncd' };
  // Not booted with systemd (a container, a developer's machine): nothing here keeps the clock
  // or could say it does not, and such a host's clock is its owner's business: taken as known.
  if (!systemd()) return { synced: true, by: 'not a systemd host: its clock is taken as right' };
  if (!kernelSaidSynced) kernelSaidSynced = kernel() === true;
  return kernelSaidSynced ? { synced: true, by: "the kernel's clock discipline (an NTP client set it)" } : { synced: false, by: 'no NTP client has set the clock yet' };
}

/** The same question as a yes or no, for the recorder's file names. */
export function systemClockSynced(env: Record<string, string | undefined> = process.env): ClockSynced {
  return () => clockState(env).synced;
}
