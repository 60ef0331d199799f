/**
 * The box itself: reboot, power off and the time zone, where hark may change them.
 *
 * Only on the image: its hark.service sets `HARK_SYSTEM_CONTROL=1`, and polkit lets user hark
 * run `systemctl reboot|poweroff` (logind) and `timedatectl set-timezone` (timedated). Anywhere
 * else (a laptop, a container, a test) the System page shows none of it and the zone read-only.
 *
 * `HARK_SYSTEM_CONTROL`:
 * - unset, empty or `0`: not here;
 * - `1`: run `systemctl` and `timedatectl` directly, when systemd is PID 1 (/run/systemd/system);
 * - an absolute path: a program that gets the command as its arguments (`prog systemctl reboot`):
 *   tests point it at a script that records what would have run.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { logger } from '../log.ts';
import { systemZone } from '../config/schedule.ts';

const log = logger('system');

export type PowerAction = 'reboot' | 'poweroff';

/** A command that ran and failed (polkit refused, timedatectl did not know the zone…). */
export class SystemCommandError extends Error {
  override readonly name = 'SystemCommandError';
}

const ZONE_RE = /^[A-Za-z0-9_+\-]+(\/[A-Za-z0-9_+\-]+)*$/;

/**
 * The zone kept where a read-only root cannot lose it (`HARK_TIMEZONE_FILE`, on the image
 * /etc/hark/timezone on the data partition; hark-timezone.service applies it at every boot).
 * Null: none kept, or not a zone.
 */
export function keptTimezone(file = process.env.HARK_TIMEZONE_FILE): string | null {
  if (!file) return null;
  try {
    const zone = readFileSync(file, 'utf8').trim();
    return ZONE_RE.test(zone) && zone.length <= 64 ? zone : null;
  } catch {
    return null;
  }
}

/** At start: this process's times in the kept zone, even before (or without) the boot unit. */
export function applyKeptTimezone(): void {
  const zone = keptTimezone();
  if (!zone || process.env.TZ) return;
  process.env.TZ = zone;
}

export class SystemControl {
  private readonly prefix: string[] | null;
  private readonly zoneFile: string | null;

  constructor(setting = process.env.HARK_SYSTEM_CONTROL ?? '', zoneFile = process.env.HARK_TIMEZONE_FILE ?? '') {
    this.zoneFile = zoneFile || null;
    if (setting.startsWith('/')) this.prefix = [setting];
    else if (setting === '1' && existsSync('/run/systemd/system')) this.prefix = [];
    else this.prefix = null;
  }

  /** Whether this hark may reboot, power off and set the time zone. */
  get capable(): boolean {
    return this.prefix !== null;
  }

  /** The zone times are shown in: the process's (TZ, else /etc/localtime). */
  timezone(): string {
    return systemZone();
  }

  /** Every zone to choose from: timedatectl's list where capable, else the runtime's. */
  async listTimezones(): Promise<string[]> {
    if (this.capable) {
      try {
        const out = await this.run(['timedatectl', 'list-timezones']);
        const zones = out.split('\n').map((z) => z.trim()).filter(Boolean);
        if (zones.length) return zones;
      } catch (e) {
        log.warn(`timedatectl list-timezones: ${(e as Error).message}`);
      }
    }
    return Intl.supportedValuesOf('timeZone');
  }

  async setTimezone(zone: string): Promise<void> {
    if (!this.capable) throw new SystemCommandError('the time zone is set by the computer hark runs on');
    if (!ZONE_RE.test(zone) || zone.length > 64) throw new SystemCommandError(`not a time zone: ${zone}`);
    await this.run(['timedatectl', 'set-timezone', zone]);
    if (this.zoneFile) {
      // Kept on the data partition too: a read-only root forgets /etc/localtime at the next boot.
      try {
        writeFileSync(`${this.zoneFile}.tmp`, `${zone}\n`, { mode: 0o644 });
        renameSync(`${this.zoneFile}.tmp`, this.zoneFile);
      } catch (e) {
        log.warn(`cannot keep the time zone in ${this.zoneFile}: ${(e as Error).message} (it may be lost at the next boot)`);
      }
    }
    // This process keeps its own idea of local time; Bun takes a new TZ at once.
    process.env.TZ = zone;
    log.info(`time zone set to ${zone}`);
  }

  async power(action: PowerAction, origin: string): Promise<void> {
    if (!this.capable) throw new SystemCommandError('this hark cannot restart or shut down the computer it runs on');
    log.warn(`${action === 'reboot' ? 'reboot' : 'shut down'} requested by ${origin}`);
    await this.run(['systemctl', action]);
  }

  private async run(cmd: string[]): Promise<string> {
    const argv = [...this.prefix!, ...cmd];
    const p = Bun.spawn(argv, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
    const timer = setTimeout(() => p.kill(), 15_000);
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    if (code !== 0) throw new SystemCommandError(`${cmd.join(' ')}: ${err.trim() || `exit code ${code}`}`);
    return out;
  }
}

let shared: SystemControl | undefined;

/** The daemon's one SystemControl (read from the environment at first use). */
export function systemControl(): SystemControl {
  return (shared ??= new SystemControl());
}
