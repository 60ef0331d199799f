/**
 * The one event bus: actions and state changes are published here, and SSE, logs, LEDs and
 * outputs subscribe. Listeners run synchronously in publish order; one that throws is
 * logged and does not stop the others.
 */
import { logger } from '../log.ts';
import type { OutputStatus } from '../outputs/link.ts';

export type Origin = 'web' | 'api' | 'cli' | 'gpio' | 'boot' | 'system' | 'mqtt' | 'schedule' | 'vox' | 'timer';

export type RunState = 'idle' | 'live' | 'muted';

export type HarkEvent =
  | { type: 'action'; action: string; origin: Origin; ok: boolean; message: string }
  | { type: 'state'; state: RunState; live: boolean; muted: boolean }
  /** An output's state changed (published by its owner, link.ts); `id` is outputKey(output). */
  | { type: 'output'; id: string; status: string; detail?: string; output?: OutputStatus }
  | { type: 'alert'; id: string; level: 'warn' | 'error'; message: string; active: boolean }
  | { type: 'listeners'; count: number }
  | { type: 'mark'; at: string; label: string }
  | { type: 'metadata'; title: string }
  /** One program alone muted or unmuted (an interpreter's cough button). */
  | { type: 'program'; id: string; muted: boolean }
  | { type: 'input'; state: string; message: string; device: string }
  /** Sections that changed; or, with `refused`, a hand edit refused (its reason) or the refusal ended (null). */
  | { type: 'config'; keys: string[]; refused?: string | null }
  /** A notifier's delivery state changed (src/notify): the System page's list. */
  | { type: 'notify' };

export type EventOf<T extends HarkEvent['type']> = Extract<HarkEvent, { type: T }>;

const log = logger('events');

export class EventBus {
  private readonly byType = new Map<string, Set<(e: HarkEvent) => void>>();

  /** Subscribe to one event type, or '*' for all. Returns the unsubscribe function. */
  on<T extends HarkEvent['type']>(type: T, fn: (e: EventOf<T>) => void): () => void;
  on(type: '*', fn: (e: HarkEvent) => void): () => void;
  on(type: string, fn: (e: never) => void): () => void {
    let set = this.byType.get(type);
    if (!set) this.byType.set(type, (set = new Set()));
    const f = fn as (e: HarkEvent) => void;
    set.add(f);
    return () => set!.delete(f);
  }

  emit(e: HarkEvent): void {
    for (const key of [e.type, '*']) {
      const set = this.byType.get(key);
      if (!set) continue;
      for (const fn of set) {
        try {
          fn(e);
        } catch (err) {
          log.error(`a ${e.type} listener threw: ${(err as Error).message}`);
        }
      }
    }
  }
}
