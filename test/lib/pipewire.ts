/**
 * Test harness: a private PipeWire (+ WirePlumber, + a private D-Bus session bus that
 * WirePlumber needs when there is no systemd user session) in a fresh XDG_RUNTIME_DIR.
 *
 *   const pw = await startPipewire();          // daemons up, null sink "hark-test-sink" ready
 *   const player = pw.play({ frequency: 1000, seconds: 3 }, { target: pw.sinkName });
 *   await pw.destroyNode(pw.sinkName); await pw.recreateNode(pw.sinkName);
 *   await pw.restart();                        // kill and start the daemons, sinks recreated
 *   await pw.stop();                           // kills everything, removes the directory
 *
 * Every wait is bounded. A hark process must use `pw.env` (or, in-process, `pw.remote` as the
 * socket to connect to: Bun's `process.env` does not reach libpipewire's getenv()).
 */
import type { Subprocess } from 'bun';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ToneSpec {
  /** Hz; one per channel, or one for all channels. */
  frequency: number | number[];
  seconds: number;
  /** Peak level of each sine, dBFS (default -12). */
  levelDbfs?: number;
  channels?: number;
  rate?: number;
}

export interface PlayOptions {
  /** node.name (or serial) to play into; default: the harness sink. */
  target?: string;
  /** Channel count of a file given by path (tones carry their own). */
  channels?: number;
  /** pw-play --latency, e.g. "20ms" (default: pw-play's 100ms). */
  latency?: string;
  /** node.name of the pw-play stream (default "pw-play"), to link its ports by name. */
  nodeName?: string;
}

export interface Player {
  readonly proc: Subprocess;
  /** Resolves with pw-play's exit code. */
  readonly exited: Promise<number>;
  stop(): Promise<void>;
}

export interface SinkSpec {
  name: string;
  channels: number;
  /** Extra adapter properties, e.g. { 'node.description': 'Test Sink' }. */
  props?: Record<string, string>;
}

export interface PipewireHarness {
  /** The private runtime directory (removed by stop()). */
  readonly dir: string;
  /** Environment a hark (or pw-*) process must use to reach this PipeWire. */
  readonly env: Record<string, string>;
  /** Absolute path of the PipeWire socket (`<dir>/pipewire-0`). */
  readonly remote: string;
  /** node.name of the default null sink ("hark-test-sink"). */
  readonly sinkName: string;
  /** Play a file or a generated tone with pw-play. */
  play(what: string | ToneSpec, opts?: PlayOptions): Player;
  /**
   * Feed a tone into a virtual capture device (a node made with createSink and media.class
   * Audio/Source/Virtual): what a USB interface's input would deliver. WirePlumber links
   * playback streams only to sinks, so the stream is linked to the source's input ports here.
   */
  feedSource(source: string, tone: ToneSpec): Promise<Player>;
  /** Write a float32 WAV tone into the harness directory; returns its path. */
  toneFile(spec: ToneSpec): string;
  /** Create a null-audio-sink adapter node (Audio/Sink with a monitor) and wait for its ports. */
  createSink(spec: SinkSpec): Promise<void>;
  /** Unplug a node by node.name (it must exist: a failed pw-dump is retried, never taken for "absent"); waits until it is gone. */
  destroyNode(name: string): Promise<void>;
  /** Re-create a sink previously made with createSink (or the default sink). */
  recreateNode(name: string): Promise<void>;
  /** The global id of a node by node.name, or null. */
  nodeId(name: string): Promise<number | null>;
  /** Wait until a node exists and has ports; returns its id. */
  waitForNode(name: string, timeoutMs?: number): Promise<number>;
  /** pw-dump as parsed JSON. */
  dump(): Promise<PwObject[]>;
  /** Run a command with the harness env; bounded by timeoutMs. */
  run(cmd: string[], timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Kill pipewire and wireplumber (the runtime dir stays). */
  stopDaemons(): Promise<void>;
  /** Start them again and re-create every sink. */
  startDaemons(): Promise<void>;
  /** stopDaemons() + startDaemons(). */
  restart(): Promise<void>;
  /** Kill everything and remove the directory. Idempotent. */
  stop(): Promise<void>;
  /** How often WirePlumber died on its own and was restarted. */
  readonly wireplumberRestarts: number;
}

export interface PwObject {
  id: number;
  type: string;
  info?: { props?: Record<string, unknown>; [k: string]: unknown };
  props?: Record<string, unknown>;
  metadata?: { subject: number; key: string; type: string; value: unknown }[];
}

export interface StartOptions {
  /** Also run pipewire-pulse (default false). */
  pulse?: boolean;
  /** Channels of the default sink (default 2). */
  sinkChannels?: number;
  /** Extra sinks to create at start. */
  sinks?: SinkSpec[];
}

const POSITIONS: Record<number, string> = {
  1: 'MONO',
  2: 'FL FR',
  3: 'FL FR LFE',
  4: 'FL FR RL RR',
  5: 'FL FR RL RR FC',
  6: 'FL FR RL RR FC LFE',
  7: 'FL FR RL RR FC LFE RC',
  8: 'FL FR RL RR FC LFE SL SR',
};

/** Channel positions hark and the harness use for a channel count (ALSA's default layouts). */
export function positionsFor(channels: number): string {
  const p = POSITIONS[channels];
  if (!p) throw new RangeError(`channels must be 1..8, got ${channels}`);
  return p;
}

const live = new Set<Subprocess>();
let exitHookInstalled = false;
function track(p: Subprocess): Subprocess {
  live.add(p);
  p.exited.then(() => live.delete(p));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test that dies must not leave daemons behind.
    process.on('exit', () => {
      for (const q of live) q.kill('SIGKILL');
    });
  }
  return p;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`[pw-harness] timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(delay);
    delay = Math.min(delay * 2, 200);
  }
}

async function killAndWait(p: Subprocess | undefined, timeoutMs = 3000): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  const done = await Promise.race([p.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
  if (!done) {
    p.kill('SIGKILL');
    await Promise.race([p.exited, sleep(1000)]);
  }
}

const logTail = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8').slice(-2000) : '');

/** Interleaved float32 WAV (WAVE_FORMAT_IEEE_FLOAT). */
export function wavBytes(samples: Float32Array, channels: number, rate = 48_000): Uint8Array {
  const data = samples.length * 4;
  const buf = new ArrayBuffer(44 + data);
  const v = new DataView(buf);
  const str = (o: number, s: string) => {
    for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i));
  };
  str(0, 'RIFF');
  v.setUint32(4, 36 + data, true);
  str(8, 'WAVE');
  str(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, 3, true);
  v.setUint16(22, channels, true);
  v.setUint32(24, rate, true);
  v.setUint32(28, rate * channels * 4, true);
  v.setUint16(32, channels * 4, true);
  v.setUint16(34, 32, true);
  str(36, 'data');
  v.setUint32(40, data, true);
  new Float32Array(buf, 44).set(samples);
  return new Uint8Array(buf);
}

export async function startPipewire(opts: StartOptions = {}): Promise<PipewireHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'hark-pw-'));
  const remote = join(dir, 'pipewire-0');
  const busPath = join(dir, 'bus');
  const env: Record<string, string> = {
    XDG_RUNTIME_DIR: dir,
    PIPEWIRE_RUNTIME_DIR: dir,
    DBUS_SESSION_BUS_ADDRESS: `unix:path=${busPath}`,
    // WirePlumber keeps state (default nodes) under XDG_STATE_HOME; keep it private too.
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_CONFIG_HOME: join(dir, 'config'),
  };
  const fullEnv = () => {
    const e: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) e[k] = v;
    delete e.PIPEWIRE_REMOTE;
    return { ...e, ...env };
  };
  const logs = { pipewire: join(dir, 'pipewire.log'), wireplumber: join(dir, 'wireplumber.log') };

  let dbus: Subprocess | undefined;
  let pipewire: Subprocess | undefined;
  let wireplumber: Subprocess | undefined;
  let pulse: Subprocess | undefined;
  let stopped = false;
  let wireplumberRestarts = 0;
  const sinks = new Map<string, SinkSpec>();
  const players = new Set<Player>();

  // Daemon logs go to files in the directory (warnings and errors only).
  const spawnLogged = (cmd: string[], log: string) =>
    track(
      Bun.spawn(cmd, {
        env: { ...fullEnv(), PIPEWIRE_LOG_SYSTEMD: 'false', PIPEWIRE_DEBUG: process.env.HARK_TEST_PW_DEBUG ?? '2', WIREPLUMBER_DEBUG: process.env.HARK_TEST_WP_DEBUG ?? '2' },
        stdout: Bun.file(log),
        stderr: Bun.file(log),
        stdin: 'ignore',
      }),
    );

  const run = async (cmd: string[], timeoutMs = 5000) => {
    const p = Bun.spawn(cmd, { env: fullEnv(), stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' });
    track(p);
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    return { code, stdout, stderr };
  };

  /** pw-dump's objects, or null when it failed or printed something unparsable (it can, mid-churn). */
  const tryDump = async (): Promise<PwObject[] | null> => {
    const r = await run(['pw-dump', '--no-colors'], 5000);
    if (r.code !== 0) return null;
    try {
      return JSON.parse(r.stdout) as PwObject[];
    } catch {
      return null;
    }
  };
  const dump = async (): Promise<PwObject[]> => (await tryDump()) ?? [];

  const nodeOf = (objs: PwObject[], name: string) =>
    objs.find((o) => o.type === 'PipeWire:Interface:Node' && o.info?.props?.['node.name'] === name);

  const nodeId = async (name: string) => nodeOf(await dump(), name)?.id ?? null;

  const waitForNode = (name: string, timeoutMs = 10_000) =>
    until(`node ${name} with ports`, timeoutMs, async () => {
      const objs = await dump();
      const node = nodeOf(objs, name);
      if (!node) return null;
      const ports = objs.filter((o) => o.type === 'PipeWire:Interface:Port' && o.info?.props?.['node.id'] === node.id);
      return ports.length > 0 ? node.id : null;
    });

  const startDaemons = async () => {
    if (stopped) throw new Error('[pw-harness] stopped');
    if (!dbus || dbus.exitCode !== null) {
      rmSync(busPath, { force: true });
      dbus = spawnLogged(['dbus-daemon', '--session', '--nofork', `--address=unix:path=${busPath}`], join(dir, 'dbus.log'));
      await until('dbus socket', 5000, async () => existsSync(busPath));
    }
    pipewire = spawnLogged(['pipewire'], logs.pipewire);
    await until('pipewire socket', 10_000, async () => existsSync(remote) && (await run(['pw-cli', 'info', '0'], 2000)).code === 0);
    startWireplumber();
    if (opts.pulse) pulse = spawnLogged(['pipewire-pulse'], join(dir, 'pipewire-pulse.log'));
    // WirePlumber is ready once it has published the "default" metadata object.
    // (pw-dump omits an empty metadata object, so ask pw-cli.)
    await until('wireplumber (default metadata)', 15_000, async () =>
      (await run(['pw-cli', 'ls', 'Metadata'], 2000)).stdout.includes('metadata.name = "default"'),
    );
    for (const s of sinks.values()) await createSinkNow(s);
  };

  const createSinkNow = async (s: SinkSpec) => {
    const props: Record<string, string> = {
      'factory.name': 'support.null-audio-sink',
      'node.name': s.name,
      'node.description': s.name,
      'media.class': 'Audio/Sink',
      'audio.position': `[ ${positionsFor(s.channels)} ]`,
      'audio.channels': String(s.channels),
      'object.linger': 'true',
      ...s.props,
    };
    // SPA JSON: arrays raw, everything else as a quoted string.
    const body = Object.entries(props)
      .map(([k, v]) => `${k}=${v.startsWith('[') ? v : JSON.stringify(v)}`)
      .join(' ');
    const r = await run(['pw-cli', 'create-node', 'adapter', `{ ${body} }`]);
    if (r.code !== 0 || /error|failed/i.test(r.stderr)) {
      throw new Error(`[pw-harness] create-node ${s.name} failed: ${r.stderr || r.stdout} (pipewire ${pipewire?.exitCode ?? pipewire?.signalCode ?? 'running'})\n${logTail(logs.pipewire)}`);
    }
    await waitForNode(s.name);
  };

  // WirePlumber 0.4 occasionally segfaults under fast node churn (seen here during the
  // hot-plug test); like systemd's Restart=on-failure on a real system, start it again.
  let stopping = false;
  const startWireplumber = () => {
    const wp = spawnLogged(['wireplumber'], logs.wireplumber);
    wireplumber = wp;
    wp.exited.then(() => {
      if (stopping || stopped || wireplumber !== wp) return;
      wireplumberRestarts++;
      appendFileSync(logs.wireplumber, `[pw-harness] wireplumber exited (${wp.signalCode ?? wp.exitCode}); restarting\n`);
      if (wireplumberRestarts <= 5) startWireplumber();
    });
  };

  const stopDaemons = async () => {
    stopping = true;
    for (const p of players) await p.stop();
    await killAndWait(pulse);
    await killAndWait(wireplumber);
    await killAndWait(pipewire);
    pulse = wireplumber = pipewire = undefined;
    stopping = false;
    rmSync(remote, { force: true });
    rmSync(`${remote}.lock`, { force: true });
  };

  const toneFile = (spec: ToneSpec) => {
    const rate = spec.rate ?? 48_000;
    const freqs = Array.isArray(spec.frequency) ? spec.frequency : [spec.frequency];
    const ch = spec.channels ?? freqs.length;
    const n = Math.round(spec.seconds * rate);
    const amp = 10 ** ((spec.levelDbfs ?? -12) / 20);
    const out = new Float32Array(n * ch);
    for (let c = 0; c < ch; c++) {
      const w = (2 * Math.PI * freqs[c % freqs.length]!) / rate;
      for (let i = 0; i < n; i++) out[i * ch + c] = amp * Math.sin(w * i);
    }
    const path = join(dir, `tone-${freqs.join('_')}-${ch}ch-${spec.seconds}s-${spec.levelDbfs ?? -12}.wav`);
    if (!existsSync(path)) writeFileSync(path, wavBytes(out, ch, rate));
    return path;
  };

  const play = (what: string | ToneSpec, o: PlayOptions = {}): Player => {
    const file = typeof what === 'string' ? what : toneFile(what);
    const cmd = ['pw-play', '--target', o.target ?? sinkName];
    if (o.latency) cmd.push('--latency', o.latency);
    if (o.channels) cmd.push('--channels', String(o.channels));
    if (o.nodeName) cmd.push('-P', `{ node.name = "${o.nodeName}" }`);
    cmd.push(file);
    const proc = spawnLogged(cmd, join(dir, 'pw-play.log'));
    const player: Player = {
      proc,
      exited: proc.exited,
      stop: async () => {
        players.delete(player);
        await killAndWait(proc, 2000);
      },
    };
    players.add(player);
    proc.exited.then(() => players.delete(player));
    return player;
  };

  let feeds = 0;
  const feedSource = async (source: string, tone: ToneSpec): Promise<Player> => {
    const name = `hark-test-feed-${++feeds}`;
    const player = play({ ...tone, channels: 1 }, { target: '0', nodeName: name });
    const t0 = performance.now();
    let ports: string[] = [];
    while (performance.now() - t0 < 5000) {
      ports = (await run(['pw-link', '-o'], 5000)).stdout.split('\n').filter((l) => l.startsWith(`${name}:`));
      if (ports.length) break;
      await Bun.sleep(50);
    }
    if (!ports.length) throw new Error(`feedSource: ${name} has no output port after 5 s`);
    const inputs = (await run(['pw-link', '-i'], 5000)).stdout.split('\n').filter((l) => l.startsWith(`${source}:input_`));
    if (!inputs.length) throw new Error(`feedSource: ${source} has no input ports`);
    for (const i of inputs) {
      const r = await run(['pw-link', ports[0]!, i], 5000);
      if (r.code !== 0) throw new Error(`feedSource: pw-link ${ports[0]} ${i}: ${r.stderr}`);
    }
    return player;
  };

  const sinkName = 'hark-test-sink';
  sinks.set(sinkName, { name: sinkName, channels: opts.sinkChannels ?? 2 });
  for (const s of opts.sinks ?? []) sinks.set(s.name, s);

  const harness: PipewireHarness = {
    dir,
    env,
    remote,
    sinkName,
    play,
    toneFile,
    feedSource,
    async createSink(spec) {
      sinks.set(spec.name, spec);
      await createSinkNow(spec);
    },
    async destroyNode(name) {
      // Only a pw-dump that worked counts: a failed one lists nothing, which once made this
      // skip the destroy (and the hot-plug test wait 2.5 s for an unplug that never happened).
      // Every caller unplugs a node it made: it must be there.
      const id = await until(`node ${name} to unplug`, 5000, async () => {
        const objs = await tryDump();
        return objs && nodeOf(objs, name)?.id;
      });
      const r = await run(['pw-cli', 'destroy', String(id)]);
      if (r.code !== 0) throw new Error(`[pw-harness] pw-cli destroy ${id} (${name}) failed: ${r.stderr || r.stdout}`);
      await until(`node ${name} gone`, 5000, async () => {
        const objs = await tryDump();
        return objs !== null && !nodeOf(objs, name);
      });
    },
    async recreateNode(name) {
      const spec = sinks.get(name);
      if (!spec) throw new Error(`[pw-harness] ${name} was not created by the harness`);
      await createSinkNow(spec);
    },
    nodeId,
    waitForNode,
    dump,
    run,
    stopDaemons,
    startDaemons,
    async restart() {
      await stopDaemons();
      await startDaemons();
    },
    get wireplumberRestarts() {
      return wireplumberRestarts;
    },
    async stop() {
      if (stopped) return;
      await stopDaemons();
      stopped = true;
      await killAndWait(dbus);
      dbus = undefined;
      // HARK_TEST_KEEP=1 keeps the directory (daemon logs) for a post-mortem.
      if (!process.env.HARK_TEST_KEEP) rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    await startDaemons();
  } catch (e) {
    const msg = `${(e as Error).message}\n--- pipewire.log\n${logTail(logs.pipewire)}\n--- wireplumber.log\n${logTail(logs.wireplumber)}`;
    await harness.stop();
    throw new Error(msg);
  }
  return harness;
}
