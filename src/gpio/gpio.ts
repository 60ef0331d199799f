/**
 * Buttons and LEDs on the GPIO header. Buttons act only through control actions (origin
 * "gpio"), exactly as the web page's do; LEDs follow the event bus. A missing library, chip
 * or line is a warning naming it, and hark runs on without it, except on a machine with no
 * GPIO chip at all under the default `[gpio]` (a laptop, a server): nothing is missing there,
 * so that is one debug line.
 */
import { readdirSync } from 'node:fs';
import type { Config } from '../config/schema.ts';
import { defaultConfig } from '../config/load.ts';
import type { EventBus, Origin } from '../control/events.ts';
import { logger } from '../log.ts';
import { Button } from './button.ts';
import { Indicators, type Led, LedBank } from './led.ts';
import type { InputLines, LineRef, LineSource, OutputLines } from './lines.ts';

/** The `[gpio]` section (src/config/schema.ts). */
export type GpioConfig = Config['gpio'];

export interface GpioDeps {
  /** Control.run is the one way a button changes anything; snapshot() tells the LEDs where things stand. */
  control: { run(action: string, args: object, origin: Origin): Promise<unknown>; snapshot?(): { live: boolean; muted: boolean } };
  events: EventBus;
  /** The input's levels (AudioPipeline.currentLevels), for LEDs showing `signal`. */
  levels?: () => { peak_dbfs: number[] } | undefined;
  /** Whether the machine has any GPIO chip (default: a /dev/gpiochipN exists). */
  chipPresent?: () => boolean;
  /** The LIVE button held from the start for FACTORY_RESET_HOLD_MS: reset the box (the daemon). */
  onFactoryReset?: () => void;
}

/** How long the LIVE button must be held, from hark's start, to reset the box to its factory settings. */
export const FACTORY_RESET_HOLD_MS = 10_000;
/** The actions that make a button "the LIVE button". */
const LIVE_ACTIONS = new Set(['toggle_live', 'go_live']);

/** Whether /dev holds any GPIO chip, whether or not libgpiod is there to open it. */
export function anyGpioChip(devDir = '/dev'): boolean {
  try {
    return readdirSync(devDir).some((n) => /^gpiochip\d+$/.test(n));
  } catch {
    return false;
  }
}

/** off: disabled in the config; unavailable: no library or chip; running: every line works; degraded: some do. */
export type GpioState = 'off' | 'unavailable' | 'running' | 'degraded' | 'closed';

const log = logger('gpio');

export class Gpio {
  private _state: GpioState = 'off';
  private source?: LineSource;
  private inputs?: InputLines;
  private outputs?: OutputLines;
  private readonly buttons = new Map<LineRef, Button>();
  private indicators?: Indicators;
  private leds?: LedBank;
  /** The LIVE button held since the start: the factory reset waits for it. */
  private resetHold?: { ref: LineRef; timer: ReturnType<typeof setTimeout> };
  /** Config lines that are missing or unusable, with why. */
  readonly problems: { line: string; reason: string }[] = [];

  constructor(
    private readonly config: GpioConfig,
    private readonly deps: GpioDeps,
  ) {}

  get state(): GpioState {
    return this._state;
  }

  /** Whether the LED on `label` is lit (for tests and status). */
  ledLit(label: string): boolean {
    return this.leds?.lit(label) ?? false;
  }

  /**
   * Open the line source (`open` makes it; it may throw GpiodLoadError or
   * GpioUnavailableError) and request the configured lines. Never throws for missing GPIO.
   */
  start(open: () => LineSource): void {
    const c = this.config;
    if (!c.enabled || (c.button.length === 0 && c.led.length === 0)) {
      log.info(c.enabled ? 'no buttons or LEDs configured' : 'disabled ([gpio] enabled = false)');
      return;
    }
    const wanted = [...c.button.map((b) => b.line), ...c.led.map((l) => l.line)].join(', ');
    try {
      this.source = open();
    } catch (e) {
      this._state = 'unavailable';
      // The default [gpio] on a machine without a chip: no Pi, nothing wrong, nothing to install.
      if (Bun.deepEquals(c, defaultConfig().gpio) && !(this.deps.chipPresent ?? anyGpioChip)()) {
        log.debug(`no GPIO chip: buttons and LEDs off (${(e as Error).message})`);
        return;
      }
      log.warn(`${(e as Error).message}; hark runs on without buttons and LEDs (${wanted})`);
      return;
    }
    log.info(this.source.description);

    const resolve = (line: string): LineRef | undefined => {
      try {
        return this.source!.resolve(line);
      } catch (e) {
        this.problem(line, (e as Error).message);
        return undefined;
      }
    };

    const buttons = c.button.flatMap((b) => {
      const ref = resolve(b.line);
      return ref ? [{ b, ref }] : [];
    });
    if (buttons.length) {
      const got = this.source.requestInputs(
        buttons.map(({ b, ref }) => ({ ref, activeLow: b.active_low, debounceMs: c.debounce_ms })),
        (ref, active) => {
          if (!active && this.resetHold?.ref === ref) {
            clearTimeout(this.resetHold.timer);
            this.resetHold = undefined;
            log.info('the LIVE button was let go before 10 s: no factory reset');
          }
          this.buttons.get(ref)?.edge(active);
        },
        (ref, message) => {
          this.problem(ref.line, message);
          this.buttons.get(ref)?.close();
        },
      );
      for (const f of got.failed) this.problem(f.ref.line, f.error.message);
      this.inputs = got.lines;
      for (const { b, ref } of buttons) {
        if (got.failed.some((f) => f.ref === ref)) continue;
        const blog = log.child(ref.label);
        const button = new Button(
          { action: b.action, longAction: b.long_action, longPressMs: b.long_press_ms, debounceMs: c.debounce_ms },
          (action, kind) => {
            blog.debug(`${kind}: ${action}`);
            this.deps.control.run(action, b.program ? { program: b.program } : {}, 'gpio').catch((e: Error) => blog.warn(`${kind}: ${action} refused: ${e.message}`));
          },
          this.inputs.read(ref),
        );
        this.buttons.set(ref, button);
        // Held while the box starts: keep holding it 10 s to reset the box (no screen needed).
        if (LIVE_ACTIONS.has(b.action) && this.deps.onFactoryReset && !this.resetHold && this.inputs.read(ref)) {
          blog.warn(`held while hark starts: keep holding it ${FACTORY_RESET_HOLD_MS / 1000} s to reset this box to its factory settings (the recordings are kept)`);
          const timer = setTimeout(() => {
            this.resetHold = undefined;
            blog.warn(`held ${FACTORY_RESET_HOLD_MS / 1000} s from the start: resetting this box to its factory settings`);
            this.deps.onFactoryReset!();
          }, FACTORY_RESET_HOLD_MS);
          this.resetHold = { ref, timer };
        }
        blog.info(`button: ${b.action}${b.long_action ? `, held ${b.long_press_ms} ms: ${b.long_action}` : ''}`);
      }
    }

    const leds = c.led.flatMap((l) => {
      const ref = resolve(l.line);
      return ref ? [{ l, ref }] : [];
    });
    if (leds.length) {
      const got = this.source.requestOutputs(leds.map(({ l, ref }) => ({ ref, activeLow: l.active_low })));
      for (const f of got.failed) this.problem(f.ref.line, f.error.message);
      const outputs = (this.outputs = got.lines);
      const control = this.deps.control;
      this.indicators = new Indicators(this.deps.events, {
        signalDbfs: c.signal_dbfs,
        levels: this.deps.levels,
        status: control.snapshot && (() => control.snapshot!()),
      });
      const bank: Led[] = leds
        .filter(({ ref }) => !got.failed.some((f) => f.ref === ref))
        .map(({ l, ref }) => {
          log.child(ref.label).info(`LED: ${l.shows} (${l.pattern}${l.active_low ? ', active low' : ''})`);
          return { label: ref.label, shows: l.shows, pattern: l.pattern, write: (on: boolean) => outputs.set(ref, on) };
        });
      this.leds = new LedBank(bank, this.indicators, (led, e) => this.problem(led.label, `cannot set the LED: ${e.message}`));
    }
    this._state = this.problems.length ? 'degraded' : 'running';
  }

  private problem(line: string, reason: string): void {
    this.problems.push({ line, reason });
    const text = reason.startsWith(`line "${line}"`) ? reason : `line "${line}": ${reason}`;
    log.warn(`${text}; hark runs on without it`);
    if (this._state === 'running') this._state = 'degraded';
  }

  /** Every LED blinks fast for `ms` (LedBank.flash): a factory reset says so at the start. */
  flash(ms: number): void {
    this.leds?.flash(ms);
  }

  /** Idempotent: LEDs off, lines released. */
  close(): void {
    if (this._state === 'closed') return;
    this._state = 'closed';
    clearTimeout(this.resetHold?.timer);
    this.resetHold = undefined;
    for (const b of this.buttons.values()) b.close();
    this.buttons.clear();
    this.leds?.close();
    this.indicators?.close();
    this.inputs?.close();
    this.outputs?.close();
    this.source?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
