/**
 * The last run state on disk, so a power cut while live comes back live (`control.on_boot`),
 * with the title last set (the dashboard, `POST /api/metadata`), so a restart keeps it.
 * One small JSON file written atomically on every change; a missing or damaged file reads as
 * "no saved state".
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../config/atomic.ts';
import { logger } from '../log.ts';

export type OnBoot = 'last' | 'live' | 'idle';

export interface SavedState {
  live: boolean;
  muted: boolean;
  at: string;
  /** The title last set, and `metadata.title` of the config at that time. */
  title?: string;
  configTitle?: string;
  /** Recording apart from live (the record action): it goes on after a restart with on_boot = "last". */
  recording?: boolean;
}

/** What is saved: the run state and, when known, the title. */
export interface StateToSave {
  live: boolean;
  muted: boolean;
  title?: string;
  configTitle?: string;
  recording?: boolean;
}

const log = logger('control');

export class StateFile {
  constructor(readonly path: string) {}

  load(): SavedState | null {
    if (!existsSync(this.path)) return null;
    try {
      const v = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<SavedState>;
      if (typeof v.live !== 'boolean' || typeof v.muted !== 'boolean') throw new Error('live and muted must be true or false');
      const out: SavedState = { live: v.live, muted: v.muted, at: String(v.at ?? '') };
      if (typeof v.title === 'string') out.title = v.title;
      if (typeof v.configTitle === 'string') out.configTitle = v.configTitle;
      if (v.recording === true) out.recording = true;
      return out;
    } catch (e) {
      log.warn(`${this.path}: ignored (${(e as Error).message})`);
      return null;
    }
  }

  save(s: StateToSave): void {
    try {
      const v: SavedState = { live: s.live, muted: s.muted, at: new Date().toISOString() };
      if (s.title !== undefined) v.title = s.title;
      if (s.configTitle !== undefined) v.configTitle = s.configTitle;
      if (s.recording) v.recording = true;
      writeFileAtomic(this.path, `${JSON.stringify(v)}\n`, { ownLikeDir: true });
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

/**
 * The title to start with: the one last set, unless `metadata.title` in the config changed
 * since it was saved (a hand edit while hark was stopped wins: it is the newer wish).
 */
export function bootTitle(configTitle: string, saved: SavedState | null): string {
  if (saved?.title === undefined) return configTitle;
  return saved.configTitle === undefined || saved.configTitle === configTitle ? saved.title : configTitle;
}
