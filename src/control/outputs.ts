/**
 * What "live" switches, and applying config changes to the running outputs.
 *
 * Live means the outputs that send on their own are sending: Icecast mounts, WHIP publishers
 * and the recorder. Idle ("off air") keeps capture, meters and silence detection running; the
 * listener outputs (/stream.mp3, WebRTC) stay connected but carry silence — after the service
 * the room is private — unless control.local_listeners_off_air = "audio" (a monitor on the LAN
 * that always hears the room). Mute silences every output in every state. Both are applied
 * in the audio engine, after the meters and the admin's input monitor.
 */
import { Value } from '@sinclair/typebox/value';
import type { Config } from '../config/schema.ts';
import type { ApplyResult } from '../config/store.ts';
import type { AppContext } from './context.ts';
import { setLogLevel } from '../log.ts';
import { icecastOutputs, type IcecastOutput } from '../outputs/icecast/index.ts';
import { whipOutputs, type WhipOutput } from '../outputs/whip/index.ts';
import type { SourceSettings } from '../audio/protocol.ts';
import type { EventBus } from './events.ts';

type Parts = Pick<AppContext, 'config' | 'pipeline' | 'broadcast' | 'mp3' | 'webrtc'>;

/** Whether the local listeners get silence in this state (off air, and the setting says so). */
export function offAirSilenced(config: Config, live: boolean): boolean {
  return !live && config.control.local_listeners_off_air !== 'audio';
}

/** Tell the engine whether off air silences the outputs now (at boot, on Stop/Go live, on a config change). */
export function applyOffAir(p: Parts, live: boolean, config: Config = p.config): void {
  p.pipeline.setOffAir(offAirSilenced(config, live));
}

/** Start (live) or stop (idle) the self-sending outputs; silence the local listeners when off air. */
export async function setOutputsLive(p: Parts, live: boolean): Promise<void> {
  const b = p.broadcast;
  applyOffAir(p, live);
  if (live) {
    b.start();
    // Titles set while idle reach the outputs now.
    for (const o of b.icecast) o.setTitle(b.metadata.title);
    return;
  }
  for (const o of b.icecast) o.close();
  await Promise.all(b.whip.map((o) => o.close()));
  b.recorder.close();
}

/** What runs in idle too: silence detection. */
export function startIdleServices(p: Parts): void {
  if (p.config.silence.enabled) p.broadcast.silence.start();
}

const same = (a: unknown, b: unknown) => Value.Equal(a, b);

/**
 * Keep the outputs of unchanged entries (their connections stay up), close the ones removed
 * or changed, and build and (when live) start the new ones — in place, in the array
 * BroadcastOutputs reads.
 */
async function reconcile<O extends { close(): void | Promise<void>; start(): void }, E>(
  current: O[],
  prevEntries: readonly E[],
  nextEntries: readonly (E & { enabled: boolean })[],
  build: () => O[],
  live: boolean,
): Promise<void> {
  const fresh = build();
  const next: O[] = [];
  const keep = new Set<O>();
  nextEntries.forEach((e, i) => {
    const j = prevEntries.findIndex((pe, k) => same(pe, e) && !keep.has(current[k]!));
    if (j >= 0) {
      keep.add(current[j]!);
      next.push(current[j]!);
    } else next.push(fresh[i]!);
  });
  await Promise.all(current.filter((o) => !keep.has(o)).map((o) => o.close()));
  current.splice(0, current.length, ...next);
  if (live) nextEntries.forEach((e, i) => e.enabled && next[i]!.start());
}

/** Keys whose change needs a restart (the HTTP server, encoders, the WebRTC server). */
const RESTART_SECTIONS = ['http', 'mp3', 'opus', 'stream', 'webrtc', 'gpio'] as const;
/** Sections read on every use: nothing to do beyond swapping the values in. */
const LIVE_SECTIONS = ['control', 'access', 'admin'] as const;

/**
 * Apply a config change to the running daemon; returns what was applied and which keys take
 * effect only after a restart.
 */
export async function applyConfig(
  p: Parts,
  prev: Config,
  next: Config,
  opts: { live: () => boolean; sourceSettings: (c: Config) => SourceSettings; events?: EventBus },
): Promise<ApplyResult> {
  const applied: string[] = [];
  const restart: string[] = [];
  const changed = (k: keyof Config) => !same(prev[k], next[k]);

  if (changed('log')) {
    setLogLevel(next.log.level);
    applied.push('log');
  }
  if (changed('input') || changed('tone')) {
    if (prev.input.channels !== next.input.channels) restart.push('input.channels');
    else {
      // Re-open the source only when what it captures changed: a tone setting means nothing
      // to a box capturing an interface, and re-opening costs the listeners a gap.
      const a = opts.sourceSettings(prev);
      const b = opts.sourceSettings(next);
      const toneMatters = b.source === 'tone' || a.source === 'tone';
      if (!same({ ...a, tone: toneMatters ? a.tone : null }, { ...b, tone: toneMatters ? b.tone : null })) p.pipeline.setSource(b);
      if (changed('input')) applied.push('input');
      if (changed('tone')) applied.push('tone');
    }
  }
  if (changed('metadata')) {
    if (prev.metadata.title !== next.metadata.title) p.broadcast.metadata.set(next.metadata.title);
    if (prev.metadata.icy_metaint !== next.metadata.icy_metaint) restart.push('metadata.icy_metaint');
    else applied.push('metadata');
  }
  if (changed('icecast')) {
    if (prev.input.channels !== next.input.channels) restart.push('icecast');
    else {
      await reconcile<IcecastOutput, Config['icecast'][number]>(p.broadcast.icecast, prev.icecast, next.icecast, () => icecastOutputs(next, p.pipeline), opts.live());
      applied.push('icecast');
    }
  }
  if (changed('whip')) {
    await reconcile<WhipOutput, Config['whip'][number]>(p.broadcast.whip, prev.whip, next.whip, () => whipOutputs(next, p.pipeline), opts.live());
    applied.push('whip');
  }
  if (changed('recording')) {
    const { enabled: a, ...ra } = prev.recording;
    const { enabled: b, ...rb } = next.recording;
    if (!same(ra, rb)) restart.push('recording');
    else {
      if (a !== b) {
        if (b && opts.live()) p.broadcast.recorder.start();
        if (!b) p.broadcast.recorder.close();
      }
      applied.push('recording');
    }
  }
  if (changed('silence')) {
    const { enabled: a, ...sa } = prev.silence;
    const { enabled: b, ...sb } = next.silence;
    if (!same(sa, sb)) restart.push('silence');
    else {
      if (a !== b) b ? p.broadcast.silence.start() : p.broadcast.silence.close();
      applied.push('silence');
    }
  }
  if (changed('tls')) {
    // The certificate files and names are looked at again by the HTTPS server (plane → tls);
    // turning it on or off, or another port, takes a restart.
    if (prev.tls.enabled !== next.tls.enabled || prev.tls.port !== next.tls.port) restart.push('tls');
    else applied.push('tls');
  }
  for (const k of RESTART_SECTIONS) if (k in next && changed(k as keyof Config)) restart.push(k);
  if (changed('control')) applyOffAir(p, opts.live(), next);
  for (const k of LIVE_SECTIONS) if (k in next && changed(k as keyof Config)) applied.push(k);
  return { applied, restart };
}

/** Every output's state in one flat map, for change detection (events, LEDs, SSE). */
export function outputStates(p: Parts): Map<string, { status: string; detail: string }> {
  const m = new Map<string, { status: string; detail: string }>();
  const s = p.broadcast.status();
  for (const o of s.icecast) m.set(`icecast:${o.id}`, { status: o.state, detail: o.status });
  for (const o of s.whip as { id: string; state: string; status?: string }[]) m.set(`whip:${o.id}`, { status: o.state, detail: o.status ?? o.state });
  m.set('recording', { status: s.recording.state, detail: s.recording.last_error ?? '' });
  m.set('http_mp3', { status: p.mp3.state, detail: `${p.mp3.listenerCount} listening` });
  if (p.webrtc) {
    const w = p.webrtc.status();
    m.set('webrtc', { status: w.status, detail: w.reason ?? '' });
  }
  return m;
}

/** All listeners now: /stream.mp3 plus WebRTC. */
export function listenerCount(p: Parts): number {
  return p.mp3.listenerCount + (p.webrtc?.listenerCount ?? 0);
}

/**
 * Polls the outputs twice a second and publishes `output` events when one changes state and
 * `listeners` when the count changes: outputs report through their own status, this turns
 * that into events on the one bus (for SSE, logs and LEDs).
 */
export class OutputWatcher {
  private timer?: ReturnType<typeof setInterval>;
  private last = new Map<string, string>();
  private lastListeners = -1;

  constructor(
    private readonly p: Parts,
    private readonly events: EventBus,
    private readonly periodMs = 500,
  ) {}

  start(): void {
    this.tick();
    this.timer ??= setInterval(() => this.tick(), this.periodMs);
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  tick(): void {
    const now = outputStates(this.p);
    for (const [id, s] of now) {
      if (this.last.get(id) === s.status) continue;
      this.last.set(id, s.status);
      this.events.emit({ type: 'output', id, status: s.status, detail: s.detail });
    }
    for (const id of [...this.last.keys()]) {
      if (!now.has(id)) {
        this.last.delete(id);
        this.events.emit({ type: 'output', id, status: 'removed' });
      }
    }
    const n = listenerCount(this.p);
    if (n !== this.lastListeners) {
      this.lastListeners = n;
      this.events.emit({ type: 'listeners', count: n });
    }
  }
}
