/**
 * Whether the wall clock can be trusted yet (issue 17): a Pi has no battery-backed clock, so
 * until systemd-timesyncd has reached a time server the date is whatever the last shutdown
 * left (or 1970). systemd-timesyncd creates /run/systemd/timesync/synchronized at its first
 * successful sync (systemd-timesyncd.service(8)); the flag lives on /run, so it is fresh each boot.
 *
 * Kept behind one small function so schedules (sc) and the recorder's file names (lg) ask the
 * same question and tests inject the answer.
 */
import { existsSync } from 'node:fs';

/** systemd-timesyncd's flag file: present once the clock has been synchronised this boot. */
export const TIMESYNC_FLAG = '/run/systemd/timesync/synchronized';

/** Answers "is the wall clock known?" (injectable: tests pass their own). */
export type ClockSynced = () => boolean;

/** Where systemd-timesyncd is installed (Debian trixie; older releases kept it under /lib). */
const TIMESYNCD = ['/usr/lib/systemd/systemd-timesyncd', '/lib/systemd/systemd-timesyncd'];

/**
 * The system's answer: the flag file when the box runs systemd-timesyncd (booted with systemd
 * and the daemon installed); otherwise the clock is taken as known, since nothing here could
 * ever say otherwise (a container, a laptop with another NTP client). `HARK_TIMESYNC_FLAG`
 * names another flag file, which then decides alone (tests).
 */
export function systemClockSynced(env: Record<string, string | undefined> = process.env): ClockSynced {
  const flag = env.HARK_TIMESYNC_FLAG;
  if (flag) return () => existsSync(flag);
  const managed = existsSync('/run/systemd/system') && TIMESYNCD.some((p) => existsSync(p));
  if (!managed) return () => true;
  let known = false;
  // Once synchronised the clock stays known for this boot: no need to look again.
  return () => (known ||= existsSync(TIMESYNC_FLAG));
}
