/**
 * A factory reset: the settings, the admin password, the API tokens, the sessions, the last
 * state and the time zone go back to how a new card has them; the recordings stay, and so does
 * the box's certificate authority (devices that trust it keep trusting the box). The old
 * settings are kept, readable by their owner only, as hark.toml.before-reset. A mark in the state
 * directory (FACTORY_RESET_MARK) tells hark at its next start, which logs it, says it on /setup
 * and blinks its LEDs until a new password is set (src/control/setup-code.ts).
 *
 * Two ways in: a file hark-factory-reset on the boot partition (the first-boot step,
 * firstboot.ts), and the LIVE button held for 10 s from hark's start (src/gpio/gpio.ts, then the
 * daemon restarts in place).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { syncDir, writeFileAtomic } from '../config/atomic.ts';
import { FACTORY_RESET_MARK } from '../control/paths.ts';

export { FACTORY_RESET_MARK };

/** Remove what a reset removes; returns when, and what went (in words). */
export function resetToFactory(o: { configFile: string; stateDir: string; now?: Date }): { at: string; removed: string[] } {
  const etcDir = dirname(o.configFile);
  const removed: string[] = [];
  if (existsSync(o.configFile)) {
    writeFileAtomic(join(etcDir, 'hark.toml.before-reset'), readFileSync(o.configFile, 'utf8'), { mode: 0o600, forceMode: true });
    removed.push('the settings');
  }
  if (existsSync(join(o.stateDir, 'auth.json'))) removed.push('the admin password, the API tokens and every login');
  for (const f of [o.configFile, `${o.configFile}.bak`, join(o.stateDir, 'auth.json'), join(o.stateDir, 'state.json'), join(etcDir, 'timezone')]) rmSync(f, { force: true });
  const at = (o.now ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z');
  writeFileAtomic(join(o.stateDir, FACTORY_RESET_MARK), `${JSON.stringify({ at })}\n`, { mode: 0o644, forceMode: true });
  syncDir(etcDir);
  return { at, removed };
}
