/**
 * hark under systemd (hark.service, Type=notify): finds the hark user's PipeWire, runs the
 * daemon (/opt/hark/src/main.ts) in this same process, and tells systemd how it is doing.
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
 *
 * Usage: bun /usr/lib/hark/service.ts [hark's own arguments, e.g. --config /etc/hark/hark.toml]
 */
import { dlopen, FFIType, ptr } from 'bun:ffi';
import { existsSync } from 'node:fs';

const HARK_ROOT = process.env.HARK_ROOT ?? '/opt/hark';
const tag = '[service]';
const say = (prio: number, msg: string) => process.stdout.write(`${process.env.JOURNAL_STREAM ? `<${prio}>` : ''}${tag} ${msg}\n`);

// ---- sd_notify(3) over the datagram socket in $NOTIFY_SOCKET -------------------------------
// libc.so.6 (Debian package libc6). No pointer is kept by C beyond each call.
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
const libc = dlopen('libc.so.6', {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  // addr: caller memory (a sockaddr_un built below), read during the call only.
  // setenv(3): Bun's process.env is a JS object; assigning to it does not change the C
  // environment that libpipewire's getenv() reads (in every thread, the audio worker's too).
  setenv: { args: [FFIType.cstring, FFIType.cstring, FFIType.i32], returns: FFIType.i32 },
  sendto: {
    args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32],
    returns: FFIType.i64,
  },
}).symbols;

const notifySocket = process.env.NOTIFY_SOCKET;
let notifyFd = -1;
let notifyAddr: Uint8Array | undefined;
if (notifySocket) {
  // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }; '@' means the
  // abstract namespace, spelled with a leading NUL (unix(7)).
  const path = Buffer.from(notifySocket.startsWith('@') ? `\0${notifySocket.slice(1)}` : notifySocket);
  if (path.length >= 108) throw new Error(`NOTIFY_SOCKET too long: ${notifySocket}`);
  notifyAddr = new Uint8Array(2 + path.length);
  new DataView(notifyAddr.buffer).setUint16(0, AF_UNIX, true);
  notifyAddr.set(path, 2);
  notifyFd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (notifyFd < 0) say(4, 'sd_notify: socket() failed; systemd will not hear from hark');
}

/** Send one sd_notify message ("READY=1", "WATCHDOG=1", "STATUS=…"). */
function notify(msg: string): void {
  if (notifyFd < 0 || !notifyAddr) return;
  const buf = Buffer.from(msg);
  const n = libc.sendto(notifyFd, ptr(buf), buf.length, MSG_NOSIGNAL, ptr(notifyAddr), notifyAddr.length);
  if (Number(n) < 0) say(4, `sd_notify: sending "${msg.split('=')[0]}" failed`);
}

// ---- PipeWire: the hark user's lingering user services ------------------------------------
// hark.service runs as the same user whose systemd --user instance (linger) runs PipeWire and
// WirePlumber; its socket lives in that user's runtime directory.
// systemd sets no XDG_RUNTIME_DIR for a system service, so set it here, in the C environment
// as well as process.env.
if (!process.env.XDG_RUNTIME_DIR) {
  const dir = `/run/user/${process.getuid?.() ?? 0}`;
  process.env.XDG_RUNTIME_DIR = dir;
  if (libc.setenv(Buffer.from(`XDG_RUNTIME_DIR\0`), Buffer.from(`${dir}\0`), 1) !== 0) say(4, 'setenv(XDG_RUNTIME_DIR) failed: PipeWire may not be found');
}
const pwSocket = `${process.env.XDG_RUNTIME_DIR}/pipewire-0`;
const pwWaitMs = Number(process.env.HARK_PIPEWIRE_WAIT_MS ?? 30_000);
const t0 = Date.now();
while (!existsSync(pwSocket) && Date.now() - t0 < pwWaitMs) await Bun.sleep(250);
if (existsSync(pwSocket)) say(6, `PipeWire at ${pwSocket} (${Date.now() - t0} ms)`);
else say(4, `PipeWire socket ${pwSocket} did not appear in ${pwWaitMs} ms; starting without it`);

// ---- the probe target: the config's port, unless --port overrides it ----------------------
const { loadConfig, defaultConfigPath } = await import(`${HARK_ROOT}/src/config/load.ts`);
const { socketPathOf } = await import(`${HARK_ROOT}/src/control/paths.ts`);
const argv = process.argv.slice(2);
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
const statusUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}/api/status`;

// ---- the daemon ---------------------------------------------------------------------------
notify('STATUS=starting');
await import(`${HARK_ROOT}/src/main.ts`);

const watchdogUsec = Number(process.env.WATCHDOG_USEC ?? 0);
const intervalMs = watchdogUsec > 0 ? Math.max(1000, watchdogUsec / 3000) : 10_000;
let ready = false;
let lastFrames = -1;
let failures = 0;

/**
 * /api/status over the CLI socket, else over HTTP. Over HTTP a refusal (401 when the status is
 * not public to this address) still shows a server that answers; only the audio clock is then
 * not seen.
 */
async function fetchStatus(signal: AbortSignal): Promise<{ res: Response; via: string }> {
  if (socketPath && existsSync(socketPath)) {
    return { res: await fetch('http://localhost/api/status', { unix: socketPath, signal } as RequestInit), via: socketPath };
  }
  return { res: await fetch(statusUrl, { signal }), via: statusUrl };
}

async function probe(): Promise<void> {
  let why = '';
  try {
    const { res, via } = await fetchStatus(AbortSignal.timeout(Math.min(5000, intervalMs)));
    const refusedButAlive = via === statusUrl && (res.status === 401 || res.status === 403);
    if (res.status !== 200 && !refusedButAlive) why = `${via} answered ${res.status}`;
    else {
      const doc = (refusedButAlive ? {} : await res.json()) as { audio?: { frames?: unknown }; input?: { source?: unknown } };
      const frames = doc.audio?.frames;
      if (typeof frames === 'number') {
        if (ready && frames === lastFrames) why = `the audio clock is stuck at frame ${frames}`;
        lastFrames = frames;
      }
      if (!why) {
        if (!ready) {
          ready = true;
          say(6, `ready: ${statusUrl.replace('/api/status', '')} answers (probed through ${via})`);
          notify(`READY=1\nSTATUS=serving on port ${port}, input ${String(doc.input?.source ?? '?')}`);
        }
        if (failures > 0) say(6, 'healthy again');
        failures = 0;
        notify('WATCHDOG=1');
        return;
      }
    }
  } catch (e) {
    why = `${socketPath && existsSync(socketPath) ? socketPath : statusUrl}: ${(e as Error).message}`;
  }
  failures++;
  // Withholding WATCHDOG=1 is the signal; systemd restarts hark after WatchdogSec.
  say(failures === 1 ? 4 : 7, `health probe failed (${failures}): ${why}`);
  notify(`STATUS=unhealthy: ${why}`);
}

// Probe once right away, then on a timer; a probe never overlaps the next.
const loop = async () => {
  await probe();
  setTimeout(loop, ready ? intervalMs : 1000);
};
void loop();
