/**
 * LEDs: each shows one indicator (live, muted, signal, error, listeners) with a pattern.
 * Indicators follow the event bus; the LED bank turns them into line levels on a clock.
 */
import type { EventBus } from '../control/events.ts';

export const INDICATORS = ['live', 'muted', 'signal', 'error', 'listeners'] as const;
export type Indicator = (typeof INDICATORS)[number];
export type LedPattern = 'on' | 'blink' | 'pulse';

/**
 * Blink is 2 Hz (250 ms on, 250 ms off). Pulse is a slow blink, 0.5 Hz (1 s on, 1 s off),
 * not a software-PWM fade: a fade needs ~100 writes/s per LED from the main thread's timers,
 * which flickers whenever the event loop is busy and costs a syscall each.
 */
export const PATTERN_TIMING: Record<Exclude<LedPattern, 'on'>, { onMs: number; offMs: number }> = {
  blink: { onMs: 250, offMs: 250 },
  pulse: { onMs: 1000, offMs: 1000 },
};

/** An LED's level `elapsedMs` after its indicator became true (a pattern starts lit). */
export function patternLevel(pattern: LedPattern, elapsedMs: number): boolean {
  if (pattern === 'on') return true;
  const { onMs, offMs } = PATTERN_TIMING[pattern];
  return elapsedMs % (onMs + offMs) < onMs;
}

/** Ms from `elapsedMs` to the pattern's next change of level (Infinity for steady). */
function nextChange(pattern: LedPattern, elapsedMs: number): number {
  if (pattern === 'on') return Infinity;
  const { onMs, offMs } = PATTERN_TIMING[pattern];
  const phase = elapsedMs % (onMs + offMs);
  return phase < onMs ? onMs - phase : onMs + offMs - phase;
}

export interface IndicatorOptions {
  /** Peak level above which `signal` is true, dBFS. */
  signalDbfs: number;
  /** The input's levels now; polled while an LED shows signal. */
  levels?: () => { peak_dbfs: number[] } | undefined;
  /** `signal` stays true this long after the level last crossed the threshold. */
  signalHoldMs?: number;
  pollMs?: number;
  /** Control's live and muted flags now (Control.snapshot). */
  status?: () => { live: boolean; muted: boolean };
}

/** The indicators' current truth, from the event bus (and the level meter for `signal`). */
export class Indicators {
  private readonly value: Record<Indicator, boolean> = { live: false, muted: false, signal: false, error: false, listeners: false };
  private readonly alerts = new Set<string>();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly listeners = new Set<() => void>();
  private poll?: ReturnType<typeof setInterval>;
  private lastSignal = -Infinity;

  constructor(
    events: EventBus,
    private readonly o: IndicatorOptions,
  ) {
    const s = o.status?.();
    this.value.live = !!s?.live;
    this.value.muted = !!s?.muted;
    this.unsubscribe.push(
      // `live` is on air, muted or not; `muted` is the mute, live or not.
      // (Muting while idle is a `state` event too: it carries live and muted.)
      events.on('state', (e) => this.update({ live: e.live, muted: e.muted })),
      events.on('alert', (e) => {
        if (e.active) this.alerts.add(e.id);
        else this.alerts.delete(e.id);
        this.update({ error: this.alerts.size > 0 });
      }),
      events.on('listeners', (e) => this.update({ listeners: e.count > 0 })),
    );
  }

  get(i: Indicator): boolean {
    return this.value[i];
  }

  /** Start polling the level meter (only LEDs that show `signal` need it). */
  watchSignal(): void {
    if (this.poll || !this.o.levels) return;
    const hold = this.o.signalHoldMs ?? 300;
    this.poll = setInterval(() => {
      const peaks = this.o.levels!()?.peak_dbfs ?? [];
      const now = performance.now();
      if (peaks.some((p) => p > this.o.signalDbfs)) this.lastSignal = now;
      this.update({ signal: now - this.lastSignal < hold });
    }, this.o.pollMs ?? 100);
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private update(v: Partial<Record<Indicator, boolean>>): void {
    let changed = false;
    for (const [k, b] of Object.entries(v) as [Indicator, boolean][]) {
      if (this.value[k] !== b) {
        this.value[k] = b;
        changed = true;
      }
    }
    if (changed) for (const fn of this.listeners) fn();
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    clearInterval(this.poll);
    this.poll = undefined;
    this.listeners.clear();
  }
}

export interface Led {
  /** For logs, e.g. "GPIO27". */
  label: string;
  shows: Indicator;
  pattern: LedPattern;
  /** Drive the line (logical: true lights the LED). */
  write(on: boolean): void;
}

/** The half period of LedBank.flash: 4 blinks a second, faster than any indicator's pattern. */
export const FLASH_PERIOD_MS = 125;

/**
 * Drives LEDs from the indicators. One timer, set for the next pattern change of any lit
 * LED; a line is written only when its level changes.
 */
export class LedBank {
  private readonly since = new Map<Led, number>();
  private readonly level = new Map<Led, boolean>();
  private timer?: ReturnType<typeof setTimeout>;
  private readonly off: () => void;
  private closed = false;

  constructor(
    private readonly leds: Led[],
    private readonly indicators: Indicators,
    private readonly onWriteError: (led: Led, e: Error) => void = () => {},
  ) {
    this.off = indicators.onChange(() => this.refresh());
    if (leds.some((l) => l.shows === 'signal')) indicators.watchSignal();
    this.refresh();
  }

  private flashFrom = 0;
  private flashUntil = 0;

  /**
   * Every LED blinks together, fast (FLASH_PERIOD_MS on, the same off), for `ms`, whatever the
   * indicators say; then they show their indicators again. How the box says "something happened
   * to me" without a screen (a factory reset).
   */
  flash(ms: number): void {
    if (this.closed || !(ms > 0)) return;
    this.flashFrom = performance.now();
    this.flashUntil = this.flashFrom + ms;
    this.refresh();
  }

  /** Whether an LED is lit now (as last written). */
  lit(label: string): boolean {
    const led = this.leds.find((l) => l.label === label);
    return !!led && !!this.level.get(led);
  }

  private refresh(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = performance.now();
    let next = Infinity;
    if (now < this.flashUntil) {
      const phase = (now - this.flashFrom) % (2 * FLASH_PERIOD_MS);
      for (const led of this.leds) this.write(led, phase < FLASH_PERIOD_MS);
      const toggle = (phase < FLASH_PERIOD_MS ? FLASH_PERIOD_MS : 2 * FLASH_PERIOD_MS) - phase;
      this.timer = setTimeout(() => this.refresh(), Math.max(1, Math.min(toggle, this.flashUntil - now)));
      return;
    }
    for (const led of this.leds) {
      let on = false;
      if (this.indicators.get(led.shows)) {
        if (!this.since.has(led)) this.since.set(led, now);
        const elapsed = now - this.since.get(led)!;
        on = patternLevel(led.pattern, elapsed);
        next = Math.min(next, nextChange(led.pattern, elapsed));
      } else {
        this.since.delete(led);
      }
      this.write(led, on);
    }
    if (next !== Infinity) this.timer = setTimeout(() => this.refresh(), next);
  }

  private write(led: Led, on: boolean): void {
    if (this.level.get(led) === on) return;
    this.level.set(led, on);
    try {
      led.write(on);
    } catch (e) {
      this.onWriteError(led, e as Error);
    }
  }

  /** Idempotent: stops the clock and turns every LED off. */
  close(): void {
    if (this.closed) return;
    this.off();
    for (const led of this.leds) this.write(led, false);
    this.closed = true;
    clearTimeout(this.timer);
  }
}
