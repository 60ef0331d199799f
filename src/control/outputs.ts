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
import type { Config } from '../config/schema.ts';
import type { AppContext } from './context.ts';
import { outputKey, type OutputStatus } from '../outputs/link.ts';
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
  applyOffAir(p, live);
  if (live) p.broadcast.start();
  else await p.broadcast.stop();
}

/** What runs in idle too: silence detection, the clip ring and the fallback. */
export function startIdleServices(p: Parts): void {
  if (p.config.silence.enabled) p.broadcast.silence.start();
  p.broadcast.clips?.start();
  // (Test doubles of the broadcast outputs may have no fallback.)
  void p.broadcast.fallback?.start();
}


/** WebRTC turned off in the settings ([webrtc] enabled = false): there is no server to ask. */
const WEBRTC_OFF: OutputStatus = { kind: 'webrtc', id: '', state: 'disabled', detail: 'Turned off in the settings', bytes: 0, listeners: null, since: null, last_error: null, where: '', retry_at: null, enabled: false };

/** Every output's shared status record: the listener outputs, then the broadcast ones. */
export function outputStatuses(p: Pick<Parts, 'broadcast' | 'mp3' | 'webrtc'>): OutputStatus[] {
  return [p.mp3.outputStatus(), p.webrtc ? p.webrtc.outputStatus() : WEBRTC_OFF, ...p.broadcast.statuses()];
}

/** All listeners now: /stream.mp3 plus WebRTC. */
export function listenerCount(p: Pick<Parts, 'mp3' | 'webrtc'>): number {
  return p.mp3.listenerCount + (p.webrtc?.listenerCount ?? 0);
}

/**
 * Puts the outputs' own changes on the one bus, as they happen (no polling): an `output`
 * event with the OutputStatus whenever an output's state changes, and `listeners` whenever
 * the number of listeners does. The broadcast outputs push through BroadcastOutputs.onOutput,
 * /stream.mp3 and WebRTC through their onChange.
 */
export class OutputEvents {
  private readonly last = new Map<string, string>();
  private lastListeners: number;
  private readonly off: (() => void)[] = [];

  constructor(
    private readonly p: Pick<Parts, 'broadcast' | 'mp3' | 'webrtc'>,
    private readonly events: EventBus,
  ) {
    for (const s of outputStatuses(p)) this.last.set(outputKey(s), s.state);
    this.lastListeners = listenerCount(p);
    this.off.push(p.broadcast.onOutput((s) => this.publish(s)));
    this.off.push(p.mp3.onChange(() => this.listenerOutput(p.mp3.outputStatus())));
    const w = p.webrtc;
    if (w) this.off.push(w.onChange(() => this.listenerOutput(w.outputStatus())));
  }

  close(): void {
    for (const f of this.off.splice(0)) f();
  }

  private listenerOutput(s: OutputStatus): void {
    this.publish(s);
    const n = listenerCount(this.p);
    if (n === this.lastListeners) return;
    this.lastListeners = n;
    this.events.emit({ type: 'listeners', count: n });
  }

  private publish(s: OutputStatus): void {
    const id = outputKey(s);
    if (this.last.get(id) === s.state) return;
    if (s.state === 'removed') this.last.delete(id);
    else this.last.set(id, s.state);
    this.events.emit({ type: 'output', id, status: s.state, detail: s.detail, output: s });
  }
}
