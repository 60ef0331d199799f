/**
 * What "live" switches (config changes reach the outputs through config-apply.ts).
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
import type { AppContext } from './context.ts';
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
export async function reconcile<O extends { close(): void | Promise<void>; start(): void }, E>(
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
