/**
 * The diagnostic report: one plain-text file a user downloads (System page, `hark diag`,
 * `GET /api/diag`) and sends to whoever helps them. It says what hark and the box are
 * (versions, board, kernel, memory, disk, network), what hark is doing (the status document,
 * PipeWire's devices) and what it said (the last 2,000 log lines), and shows the config with
 * every secret removed (src/config/secrets.ts); the whole text is then cleaned of each secret
 * value once more, so a password that reached a log line does not leave the box either.
 */
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { arch, cpus, hostname, loadavg, release, totalmem, uptime, version as osVersion } from 'node:os';
import { resolve } from 'node:path';
import { redactConfig, scrubSecrets } from '../config/secrets.ts';
import type { AppContext } from '../control/context.ts';
import { logTail } from '../log.ts';
import { VERSION } from '../version.ts';
import { systemInfo } from './admin/model.ts';
import { statusDocument } from './status.ts';

/** Log lines in a report: the log tail keeps this many (log.ts). */
export const DIAG_LOG_LINES = 2000;

const read = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/** The board as its firmware names it ("Raspberry Pi 5 Model B Rev 1.0"), or the PC's DMI name. */
function board(): string {
  const dt = read('/proc/device-tree/model');
  if (dt) return dt.replace(/\0/g, '').trim();
  const dmi = [read('/sys/class/dmi/id/sys_vendor'), read('/sys/class/dmi/id/product_name')].filter(Boolean).map((s) => s!.trim());
  return dmi.length ? dmi.join(' ') : 'unknown';
}

function osName(): string {
  const text = read('/etc/os-release') ?? '';
  return text.match(/^PRETTY_NAME="?([^"\n]*)"?/m)?.[1] ?? 'unknown';
}

function meminfo(): string {
  const text = read('/proc/meminfo') ?? '';
  const kb = (k: string) => Number(text.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm'))?.[1] ?? NaN);
  const mb = (v: number) => (Number.isFinite(v) ? `${Math.round(v / 1024)} MB` : 'n/a');
  return `total ${mb(kb('MemTotal') || totalmem() / 1024)}, available ${mb(kb('MemAvailable'))}, swap free ${mb(kb('SwapFree'))} of ${mb(kb('SwapTotal'))}`;
}

function disk(path: string): string {
  try {
    const s = statfsSync(path);
    const gb = (blocks: number) => `${((blocks * s.bsize) / 1e9).toFixed(1)} GB`;
    return `${gb(s.bavail)} free of ${gb(s.blocks)}`;
  } catch (e) {
    return `not readable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
}

/** A file name for the report: hark-diag-<host>-<YYYYMMDD-HHMM>.txt (UTC). */
export function diagFilename(now: Date, host = hostname()): string {
  const stamp = now.toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
  return `hark-diag-${host.replace(/[^A-Za-z0-9-]/g, '_').slice(0, 63) || 'box'}-${stamp}.txt`;
}

const section = (title: string, body: string) => `\n== ${title} ==\n${body.replace(/\n*$/, '')}\n`;

/** The report's text and file name. */
export async function diagReport(ctx: AppContext, now = new Date()): Promise<{ filename: string; text: string }> {
  const info = systemInfo(ctx);
  const { config, secrets } = redactConfig(ctx.config);
  const recDir = resolve(ctx.config.recording.dir);
  const devices = await ctx.devices.listReady().catch((e: Error) => ({ devices: [], version: -1, error: e.message }));
  const tokens = ctx.auth.tokens();
  const lines = logTail().slice(-DIAG_LOG_LINES);
  const cpu = cpus();
  const parts = [
    `hark diagnostic report\nmade ${now.toISOString()} on ${hostname()}\n` +
      'It holds no password, token or key: the settings below have them removed. Read it before you send it.\n',
    section(
      'hark',
      [
        `version: hark ${VERSION}, Bun ${Bun.version}`,
        `running for: ${info.hark_uptime_s} s (since ${new Date(ctx.startedAt).toISOString()})`,
        `config file: ${ctx.store.path}${ctx.store.lastRefusal ? ` (last hand edit refused: ${ctx.store.lastRefusal.message})` : ''}`,
        `state directory: ${ctx.plane.stateDir}`,
        `admin password: ${ctx.auth.hasPassword() ? 'set' : 'NOT SET (the box can be claimed with its setup code)'}`,
        `API tokens: ${tokens.length ? tokens.map((t) => `${t.name} (${t.scope}, made ${t.created})`).join('; ') : 'none'}`,
      ].join('\n'),
    ),
    section(
      'the box',
      [
        `board: ${board()}`,
        `system: ${osName()}; kernel ${release()} ${osVersion()}; ${arch()}`,
        `CPU: ${cpu.length} × ${cpu[0]?.model?.trim() ?? 'unknown'}; temperature ${info.cpu_temp_c === null ? 'n/a' : `${info.cpu_temp_c} °C`}; load ${info.load.join(' ')}`,
        `memory: ${meminfo()}; hark uses ${Math.round(process.memoryUsage().rss / 1048576)} MB`,
        `up for: ${info.uptime_s} s`,
        `disk: recordings (${recDir}) ${disk(existsSync(recDir) ? recDir : ctx.plane.stateDir)}; state (${ctx.plane.stateDir}) ${disk(ctx.plane.stateDir)}; root ${disk('/')}`,
        `addresses: ${info.addresses.join(', ') || 'none'}`,
      ].join('\n'),
    ),
    section(
      'audio devices (PipeWire)',
      devices.error
        ? `not available: ${devices.error}`
        : devices.devices.length
          ? devices.devices.map((d) => `${d.isDefault ? '*' : ' '} ${d.name} — ${d.description} (${d.kind}, ${d.channels ?? '?'} ch${d.rates ? `, ${d.rates.join('/')} Hz` : ''})`).join('\n')
          : 'none found',
    ),
    section('status (as GET /api/status)', JSON.stringify(statusDocument(ctx), null, 2)),
    section('settings (secrets removed)', JSON.stringify(config, null, 2)),
    section(`log (the last ${lines.length} lines)`, lines.join('\n')),
  ];
  return { filename: diagFilename(now), text: scrubSecrets(parts.join(''), secrets) };
}
