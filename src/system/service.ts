/**
 * hark under systemd (hark.service, Type=notify, through /usr/lib/hark/service.ts): finds the
 * hark user's PipeWire, runs the daemon (src/main.ts) in this same process, and tells systemd
 * how it is doing.
 *
 * The watchdog is a health probe from inside the process: every WATCHDOG_USEC/3 it asks the
 * daemon for /api/status over the CLI's Unix socket (the socket is a login of its own, so the
 * answer is 200 whatever http.host, access.public_status and the password are; HTTP on the
 * configured port is asked only when the socket is missing, and then any answer, 401 too,
 * shows the server alive). WATCHDOG=1 is sent only when that answers within the
 * deadline and the audio clock (`audio.frames`) has moved since the last probe, so a blocked
 * event loop, a wedged HTTP server or a stalled audio worker all end in systemd's SIGABRT and
 * Restart=always (systemd.service(5) WatchdogSec=, sd_notify(3)). READY=1 follows the first
 * healthy probe, so `systemctl start hark` returns once /stream.mp3 can be served.
 */
import { existsSync } from 'node:fs';
import { sendto, setenv, socket } from '../../ffi/libc.ts';
import { defaultConfigPath, loadConfig } from '../config/load.ts';
import { socketPathOf } from '../control/paths.ts';
import { Updater } from './update.ts';

const tag = '[service]';
/** A journal line with its syslog priority (sd-daemon(3): "<4>" warning, "<6>" info, "<7>" debug). */
export type Say = (prio: number, msg: string) => void;
const journalSay: Say = (prio, msg) => process.stdout.write(`${process.env.JOURNAL_STREAM ? `<${prio}>` : ''}${tag} ${msg}\n`);

// sys/socket.h, linux/un.h (the same on x86_64 and aarch64).
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(struct sockaddr_un.sun_path). */
const SUN_PATH_MAX = 108;

/** sd_notify(3) over the datagram socket systemd names in $NOTIFY_SOCKET; a no-op without one. */
export class SdNotify {
  private fd = -1;
  private readonly addr: Uint8Array | undefined;

  constructor(
    socketPath = process.env.NOTIFY_SOCKET,
    private readonly say: Say = journalSay,
  ) {
    if (!socketPath) return;
    // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }; '@' means the
    // abstract namespace, spelled with a leading NUL (unix(7)).
    const path = Buffer.from(socketPath.startsWith('@') ? `\0${socketPath.slice(1)}` : socketPath);
    if (path.length >= SUN_PATH_MAX) throw new RangeError(`NOTIFY_SOCKET too long: ${socketPath}`);
    this.addr = new Uint8Array(2 + path.length);
    new DataView(this.addr.buffer).setUint16(0, AF_UNIX, true);
    this.addr.set(path, 2);
    this.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (this.fd < 0) say(4, 'sd_notify: socket() failed; systemd will not hear from hark');
  }

  /** Send one message ("READY=1", "WATCHDOG=1", "STATUS=…"); false when there is nowhere to or it failed. */
  send(msg: string): boolean {
    if (this.fd < 0 || !this.addr) return false;
    if (sendto(this.fd, Buffer.from(msg), MSG_NOSIGNAL, this.addr) >= 0) return true;
    this.say(4, `sd_notify: sending "${msg.split('=')[0]}" failed`);
    return false;
  }
}

/**
 * systemd sets no XDG_RUNTIME_DIR for a system service: point it at this user's runtime
 * directory (where its lingering PipeWire's socket lives), in process.env and in the C
 * environment that libpipewire's getenv() reads (in every thread, the audio worker's too).
 */
export function ensureRuntimeDir(say: Say = journalSay): string {
  if (process.env.XDG_RUNTIME_DIR) return process.env.XDG_RUNTIME_DIR;
  const dir = `/run/user/${process.getuid?.() ?? 0}`;
  process.env.XDG_RUNTIME_DIR = dir;
  if (!setenv('XDG_RUNTIME_DIR', dir)) say(4, 'setenv(XDG_RUNTIME_DIR) failed: PipeWire may not be found');
  return dir;
}

/** Wait (up to waitMs) for PipeWire's socket; hark starts either way (it retries PipeWire itself). */
export async function waitForPipewire(socketPath: string, waitMs: number, say: Say = journalSay): Promise<boolean> {
  const t0 = Date.now();
  while (!existsSync(socketPath) && Date.now() - t0 < waitMs) await Bun.sleep(250);
  if (existsSync(socketPath)) {
    say(6, `PipeWire at ${socketPath} (${Date.now() - t0} ms)`);
    return true;
  }
  say(4, `PipeWire socket ${socketPath} did not appear in ${waitMs} ms; starting without it`);
  return false;
}

/** Where the probe asks: the CLI socket of the config, else HTTP on its port (--port overrides it). */
export interface ProbeTarget {
  port: number;
  statusUrl: string;
  /** '' when the config could not be read (the daemon reports that itself). */
  socketPath: string;
}

/** The probe target for hark's own arguments (`--config FILE`, `--port N`). */
export function probeTarget(argv: string[]): ProbeTarget {
  const argValue = (name: string) => {
    const i = argv.findIndex((a) => a === name || a.startsWith(`${name}=`));
    if (i < 0) return undefined;
    return argv[i]!.includes('=') ? argv[i]!.slice(argv[i]!.indexOf('=') + 1) : argv[i + 1];
  };
  let port = 8080;
  let host = '127.0.0.1';
  let socketPath = '';
  try {
    const configPath = argValue('--config') ?? defaultConfigPath();
    const cfg = loadConfig(configPath);
    socketPath = socketPathOf(cfg, configPath);
    port = cfg.http.port;
    if (cfg.http.host !== '0.0.0.0' && cfg.http.host !== '::') host = cfg.http.host;
  } catch {
    // main.ts reports a refused config itself (exit 2); nothing to probe then.
  }
  if (argValue('--port') !== undefined) port = Number(argValue('--port'));
  return { port, socketPath, statusUrl: `http://${host.includes(':') ? `[${host}]` : host}:${port}/api/status` };
}

/**
 * The watchdog's health probe. Each probe() sends WATCHDOG=1 (and READY=1 the first time)
 * when /api/status answers and the audio clock moved; otherwise STATUS=unhealthy and nothing
 * else, so systemd restarts hark after WatchdogSec.
 */
export class HealthProbe {
  ready = false;
  failures = 0;
  private lastFrames = -1;

  constructor(
    private readonly target: ProbeTarget,
    private readonly notify: (msg: string) => void,
    private readonly timeoutMs: number,
    private readonly say: Say = journalSay,
    private readonly fetchImpl: (url: string, init: RequestInit) => Promise<Response> = fetch,
  ) {}

  /**
   * /api/status over the CLI socket, else over HTTP. Over HTTP a refusal (401 when the status
   * is not public to this address) still shows a server that answers; only the audio clock is
   * then not seen.
   */
  private async fetchStatus(signal: AbortSignal): Promise<{ res: Response; via: string }> {
    const { socketPath, statusUrl } = this.target;
    if (socketPath && existsSync(socketPath)) {
      return { res: await this.fetchImpl('http://localhost/api/status', { unix: socketPath, signal } as RequestInit), via: socketPath };
    }
    return { res: await this.fetchImpl(statusUrl, { signal }), via: statusUrl };
  }

  async probe(): Promise<void> {
    const { socketPath, statusUrl, port } = this.target;
    let why = '';
    try {
      const { res, via } = await this.fetchStatus(AbortSignal.timeout(this.timeoutMs));
      const refusedButAlive = via === statusUrl && (res.status === 401 || res.status === 403);
      if (res.status !== 200 && !refusedButAlive) why = `${via} answered ${res.status}`;
      else {
        const doc = (refusedButAlive ? {} : await res.json()) as { audio?: { frames?: unknown }; input?: { source?: unknown } };
        const frames = doc.audio?.frames;
        if (typeof frames === 'number') {
          if (this.ready && frames === this.lastFrames) why = `the audio clock is stuck at frame ${frames}`;
          this.lastFrames = frames;
        }
        if (!why) {
          if (!this.ready) {
            this.ready = true;
            this.say(6, `ready: ${statusUrl.replace('/api/status', '')} answers (probed through ${via})`);
            this.notify(`READY=1\nSTATUS=serving on port ${port}, input ${String(doc.input?.source ?? '?')}`);
          }
          if (this.failures > 0) this.say(6, 'healthy again');
          this.failures = 0;
          this.notify('WATCHDOG=1');
          return;
        }
      }
    } catch (e) {
      why = `${socketPath && existsSync(socketPath) ? socketPath : statusUrl}: ${(e as Error).message}`;
    }
    this.failures++;
    // Withholding WATCHDOG=1 is the signal; systemd restarts hark after WatchdogSec.
    this.say(this.failures === 1 ? 4 : 7, `health probe failed (${this.failures}): ${why}`);
    this.notify(`STATUS=unhealthy: ${why}`);
  }
}

/** The probe period: a third of WATCHDOG_USEC (at least 1 s), 10 s without a watchdog. */
export function probeIntervalMs(watchdogUsec: number): number {
  return watchdogUsec > 0 ? Math.max(1000, watchdogUsec / 3000) : 10_000;
}

/** hark.service's program: `service.ts [hark's own arguments, e.g. --config /etc/hark/hark.toml]`. */
export async function runService(argv: string[]): Promise<void> {
  const sd = new SdNotify();
  const notify = (msg: string) => void sd.send(msg);

  // PipeWire: the hark user's lingering user services. hark.service runs as the same user
  // whose systemd --user instance (linger) runs PipeWire and WirePlumber.
  const runtimeDir = ensureRuntimeDir();
  await waitForPipewire(`${runtimeDir}/pipewire-0`, Number(process.env.HARK_PIPEWIRE_WAIT_MS ?? 30_000));

  const target = probeTarget(argv);
  notify('STATUS=starting');
  // The daemon, in this process: it reads the same arguments from process.argv.
  await import('../main.ts');

  const intervalMs = probeIntervalMs(Number(process.env.WATCHDOG_USEC ?? 0));
  const health = new HealthProbe(target, notify, Math.min(5000, intervalMs));
  // Probe once right away, then on a timer; a probe never overlaps the next.
  // An update on trial is confirmed at the second healthy probe in a row: HTTP answered and
  // the audio clock moved between the two (src/system/update.ts; the launcher rolls back
  // a version that never gets here).
  let healthyInARow = 0;
  const loop = async () => {
    await health.probe();
    healthyInARow = health.ready && health.failures === 0 ? healthyInARow + 1 : 0;
    if (healthyInARow === 2 && process.env.HARK_UPDATE_TRIAL) {
      try {
        new Updater().confirmTrial();
      } catch (e) {
        journalSay(3, `could not confirm the update: ${(e as Error).message}`);
      }
    }
    setTimeout(loop, health.ready ? intervalMs : 1000);
  };
  void loop();
}
