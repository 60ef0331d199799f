/**
 * Silence detection: when every channel's RMS stays under `silence.threshold_dbfs` for
 * `silence.after_s`, the "silence" alert is raised (and the status says so); it clears as
 * soon as the level comes back. It reads the meters the audio worker publishes in shared
 * memory (a 50 ms window), so it costs nothing on the audio path.
 */
import type { Alerts } from './alerts.ts';
import type { LevelSource } from './packet-source.ts';

export type SilenceState = 'stopped' | 'signal' | 'silent';

export interface SilenceOptions {
  thresholdDbfs: number;
  afterS: number;
  pollMs?: number;
  now?: () => number;
}

export const SILENCE_ALERT = 'silence';
/** How often the levels are looked at: silence.after_s is at least half a second. */
const POLL_MS = 250;

export class SilenceDetector {
  private _state: SilenceState = 'stopped';
  private quietSince: number | null = null;
  private timer?: ReturnType<typeof setInterval>;
  private readonly now: () => number;
  private lastLevel = -Infinity;

  constructor(
    private readonly levels: LevelSource,
    private readonly alerts: Alerts,
    readonly opts: SilenceOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  get state(): SilenceState {
    return this._state;
  }

  start(): void {
    if (this._state !== 'stopped') return;
    this._state = 'signal';
    this.quietSince = null;
    this.timer = setInterval(() => this.tick(), this.opts.pollMs ?? POLL_MS);
  }

  close(): void {
    if (this._state === 'stopped') return;
    clearInterval(this.timer);
    this._state = 'stopped';
    this.alerts.clear(SILENCE_ALERT, 'silence detection stopped');
  }

  /** Look at the levels once (the timer calls this; tests may too). */
  tick(): void {
    if (this._state === 'stopped') return;
    const { rms_dbfs } = this.levels.currentLevels();
    const level = rms_dbfs.length ? Math.max(...rms_dbfs) : -Infinity;
    this.lastLevel = level;
    const t = this.now();
    if (level < this.opts.thresholdDbfs) {
      this.quietSince ??= t;
      if (this._state === 'signal' && t - this.quietSince >= this.opts.afterS * 1000) {
        this._state = 'silent';
        this.alerts.raise(
          SILENCE_ALERT,
          'warning',
          `The input has been silent for ${this.opts.afterS} s (below ${this.opts.thresholdDbfs} dBFS).`,
        );
      }
      return;
    }
    this.quietSince = null;
    if (this._state === 'silent') {
      this._state = 'signal';
      this.alerts.clear(SILENCE_ALERT, `signal returned (${level.toFixed(1)} dBFS)`);
    }
  }

  status() {
    const t = this.now();
    return {
      state: this._state,
      silent_for_s: this.quietSince === null ? 0 : Math.round((t - this.quietSince) / 100) / 10,
      level_dbfs: Number.isFinite(this.lastLevel) ? this.lastLevel : null,
      threshold_dbfs: this.opts.thresholdDbfs,
      after_s: this.opts.afterS,
    };
  }
}
