/**
 * The last run state on disk, so a power cut while live comes back live (`control.on_boot`).
 * One small JSON file written atomically on every state change; a missing or damaged file
 * reads as "no saved state".
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../config/atomic.ts';
import { logger } from '../log.ts';

export type OnBoot = 'last' | 'live' | 'idle';

export interface SavedState {
  live: boolean;
  muted: boolean;
  at: string;
}

const log = logger('control');

export class StateFile {
  constructor(readonly path: string) {}

  load(): SavedState | null {
    if (!existsSync(this.path)) return null;
    try {
      const v = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<SavedState>;
      if (typeof v.live !== 'boolean' || typeof v.muted !== 'boolean') throw new Error('live and muted must be true or false');
      return { live: v.live, muted: v.muted, at: String(v.at ?? '') };
    } catch (e) {
      log.warn(`${this.path}: ignored (${(e as Error).message})`);
      return null;
    }
  }

  save(s: { live: boolean; muted: boolean }): void {
    try {
      writeFileAtomic(this.path, `${JSON.stringify({ live: s.live, muted: s.muted, at: new Date().toISOString() })}\n`, { ownLikeDir: true });
    } catch (e) {
      // The state still changed; only its survival across a power cut is lost. Say so loudly.
      log.error(`cannot save the run state to ${this.path}: ${(e as Error).message}`);
    }
  }
}

/**
 * The state to start in. `last` restores what was saved; with nothing saved yet (a fresh
 * install) it starts live, as hark always did: a configured box streams when powered.
 */
export function bootState(onBoot: OnBoot, saved: SavedState | null): { live: boolean; muted: boolean } {
  switch (onBoot) {
    case 'live':
      return { live: true, muted: false };
    case 'idle':
      return { live: false, muted: false };
    case 'last':
      return saved ? { live: saved.live, muted: saved.muted } : { live: true, muted: false };
  }
}
