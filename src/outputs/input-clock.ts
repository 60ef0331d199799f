/**
 * The "input.clock" alert: raised while the audio engine drops input because the source
 * delivers faster than real time (a device or driver with a broken clock; the engine keeps the
 * stream at real time, see MAX_SPEED in src/audio/engine.ts), cleared after `clearAfterS`
 * without a dropped frame.
 */
import type { EngineStats } from '../audio/engine.ts';
import type { Alerts } from './alerts.ts';

export const INPUT_CLOCK_ALERT = 'input.clock';

export class InputClockWatch {
  private timer?: ReturnType<typeof setInterval>;
  private last?: { frames: number; discarded: number };
  private lastDropAt = 0;

  constructor(
    private readonly stats: () => EngineStats | undefined,
    private readonly alerts: Alerts,
    private readonly opts: { pollMs?: number; clearAfterS?: number; now?: () => number } = {},
  ) {}

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.opts.pollMs ?? 1000);
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.alerts.clear(INPUT_CLOCK_ALERT, 'stopped watching');
  }

  /** Compare with the last look (the timer calls this; tests may too). */
  tick(): void {
    const st = this.stats();
    if (!st) return;
    const now = (this.opts.now ?? Date.now)();
    const cur = { frames: st.frames, discarded: st.discardedFrames };
    const prev = this.last;
    this.last = cur;
    if (!prev) return;
    const kept = cur.frames - prev.frames;
    const dropped = cur.discarded - prev.discarded;
    if (dropped > 0) {
      this.lastDropAt = now;
      // Raised once per episode: the count goes on in the status (audio.discarded_frames).
      if (this.alerts.isActive(INPUT_CLOCK_ALERT)) return;
      const speed = kept > 0 ? (kept + dropped) / kept : 0;
      this.alerts.raise(
        INPUT_CLOCK_ALERT,
        'warning',
        `The input delivers audio ${speed ? `${speed.toFixed(1)}x ` : ''}faster than real time: hark drops the excess (${cur.discarded} frames so far). Check the device and its driver.`,
      );
    } else if (this.alerts.isActive(INPUT_CLOCK_ALERT) && now - this.lastDropAt >= (this.opts.clearAfterS ?? 10) * 1000) {
      this.alerts.clear(INPUT_CLOCK_ALERT, 'the input runs at real time again');
    }
  }
}
