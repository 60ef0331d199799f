/**
 * One push button: debounced edges in, control actions out (short press, and an optional
 * long press). Timing runs on the event loop's timers; levels are logical (true: pressed).
 */

export interface ButtonOptions {
  /** The action a press runs. */
  action: string;
  /** The action a press held for longPressMs runs instead; '' for none. */
  longAction: string;
  longPressMs: number;
  /**
   * Edges within this many ms of an accepted change are bounce. The first edge is taken at
   * once (no added latency); the level is re-read from the edges when the window ends.
   */
  debounceMs: number;
}

export type ButtonState = 'released' | 'pressed' | 'held' | 'closed';

/**
 * Without a long action, a press runs `action` at once. With one, nothing runs until the
 * button is released (short: `action`) or has been held `longPressMs` (`longAction`, at that
 * moment; the release then does nothing).
 */
export class Button {
  private raw: boolean;
  private accepted: boolean;
  private lockout?: ReturnType<typeof setTimeout>;
  private longTimer?: ReturnType<typeof setTimeout>;
  private longFired = false;
  /** A button held when hark started does nothing until it has been released once. */
  private armed: boolean;
  private closed = false;

  constructor(
    private readonly o: ButtonOptions,
    private readonly run: (action: string, kind: 'press' | 'long press') => void,
    initiallyPressed = false,
  ) {
    this.raw = this.accepted = initiallyPressed;
    this.armed = !initiallyPressed;
  }

  get state(): ButtonState {
    if (this.closed) return 'closed';
    if (!this.accepted) return 'released';
    return this.longFired ? 'held' : 'pressed';
  }

  /** A change of the line's logical level, as the line source reports it. */
  edge(pressed: boolean): void {
    if (this.closed) return;
    this.raw = pressed;
    if (this.lockout !== undefined || pressed === this.accepted) return;
    this.accept(pressed);
  }

  private accept(pressed: boolean): void {
    this.accepted = pressed;
    if (this.o.debounceMs > 0) {
      this.lockout = setTimeout(() => {
        this.lockout = undefined;
        // The bounce settled on the other level: that is a real change too.
        if (!this.closed && this.raw !== this.accepted) this.accept(this.raw);
      }, this.o.debounceMs);
    }
    if (pressed) this.pressed();
    else this.released();
  }

  private pressed(): void {
    if (!this.armed) return;
    this.longFired = false;
    if (!this.o.longAction) {
      this.run(this.o.action, 'press');
      return;
    }
    this.longTimer = setTimeout(() => {
      this.longTimer = undefined;
      this.longFired = true;
      this.run(this.o.longAction, 'long press');
    }, this.o.longPressMs);
  }

  private released(): void {
    if (!this.armed) {
      this.armed = true;
      return;
    }
    if (!this.o.longAction) return;
    if (this.longTimer !== undefined) {
      clearTimeout(this.longTimer);
      this.longTimer = undefined;
      this.run(this.o.action, 'press');
    }
    this.longFired = false;
  }

  /** Idempotent: cancels pending timers; later edges are ignored. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.lockout);
    clearTimeout(this.longTimer);
  }
}
