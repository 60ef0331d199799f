/**
 * What buttons and LEDs need from GPIO, as one small interface: find a line, request inputs
 * (with edges delivered on the main thread) and outputs. GpiodLineSource implements it over
 * libgpiod; SimLineSource implements it in memory for the tests.
 */

/** How a `line` in the config is written. */
export type LineSpec =
  /** A line name from the device tree, e.g. "GPIO17" (Raspberry Pi 3/4/5). */
  | { kind: 'name'; name: string }
  /** chip:offset, e.g. "gpiochip0:17" or "pl061:3"; a bare offset means the configured chip. */
  | { kind: 'offset'; chip: string | null; offset: number };

/** Parse a config `line`: "GPIO17" (a name), "pl061:3" (chip:offset), "17" (offset on gpio.chip). */
export function parseLine(line: string): LineSpec {
  const s = line.trim();
  if (/^\d+$/.test(s)) return { kind: 'offset', chip: null, offset: Number(s) };
  const m = s.match(/^(.+):(\d+)$/);
  if (m) return { kind: 'offset', chip: m[1]!, offset: Number(m[2]) };
  return { kind: 'name', name: s };
}

/** A line found on a chip. `line` is how the config named it. */
export interface LineRef {
  line: string;
  /** The chip's path or (simulated) name. */
  chip: string;
  offset: number;
  /** "GPIO17", or "gpiochip0:17" for an unnamed line. */
  label: string;
}

/** A configured line that is missing or unusable; `line` is the config's text for it. */
export class GpioLineError extends Error {
  override readonly name = 'GpioLineError';
  constructor(
    readonly line: string,
    readonly reason: string,
  ) {
    super(`line "${line}": ${reason}`);
  }
}

/** No GPIO at all: libgpiod missing, no chip, or the configured chip absent. */
export class GpioUnavailableError extends Error {
  override readonly name = 'GpioUnavailableError';
  constructor(
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(reason, options);
  }
}

export interface InputSpec {
  ref: LineRef;
  /** true: pressed pulls the line low (button to GND, pull-up bias). */
  activeLow: boolean;
  debounceMs: number;
}

export interface OutputSpec {
  ref: LineRef;
  /** true: the LED lights when the line is low (LED to 3V3). */
  activeLow: boolean;
}

export interface InputLines {
  /** The line's logical level now (true: active/pressed). */
  read(ref: LineRef): boolean;
  close(): void;
}

export interface OutputLines {
  set(ref: LineRef, on: boolean): void;
  close(): void;
}

export interface Requested<T> {
  lines: T;
  /** Lines that could not be requested (in use, no permission); the others work. */
  failed: { ref: LineRef; error: Error }[];
}

export interface LineSource {
  /** A one-line description for the log, e.g. "libgpiod 2.2.1, chips gpiochip0 [pinctrl-bcm2711]". */
  readonly description: string;
  /** Find a configured line. Throws GpioLineError naming it. */
  resolve(line: string): LineRef;
  /**
   * Inputs with pull bias, both edges and debounce; `onEdge` runs on the main thread, and
   * `onFault` if a line's edge events stop (the line is then dead until requested again).
   */
  requestInputs(
    specs: InputSpec[],
    onEdge: (ref: LineRef, active: boolean) => void,
    onFault?: (ref: LineRef, message: string) => void,
  ): Requested<InputLines>;
  /** Outputs, initially inactive. */
  requestOutputs(specs: OutputSpec[]): Requested<OutputLines>;
  close(): void;
}

/**
 * An in-memory line source for tests: named lines, inputs driven with set(), outputs read
 * back with level(). Unknown names and lines in use fail as the real source does.
 */
export class SimLineSource implements LineSource {
  readonly description = 'simulated lines';
  private readonly inputs = new Map<string, { spec: InputSpec; onEdge: (ref: LineRef, active: boolean) => void; active: boolean }>();
  private readonly outputs = new Map<string, { spec: OutputSpec; on: boolean }>();
  /** Every logical value written to each output, in order. */
  readonly writes = new Map<string, boolean[]>();
  private closed = false;

  constructor(
    private readonly names: string[],
    private readonly busy: string[] = [],
    /** Inputs already pressed when they are requested (a button held while the box starts). */
    private readonly held: string[] = [],
  ) {}

  resolve(line: string): LineRef {
    const spec = parseLine(line);
    const name = spec.kind === 'name' ? spec.name : `${spec.chip ?? 'sim'}:${spec.offset}`;
    const offset = this.names.indexOf(name);
    if (offset < 0) throw new GpioLineError(line, `no such line on the simulated chip (lines: ${this.names.join(', ')})`);
    return { line, chip: 'sim', offset, label: name };
  }

  requestInputs(specs: InputSpec[], onEdge: (ref: LineRef, active: boolean) => void): Requested<InputLines> {
    const failed = this.claim(specs);
    const mine = specs.filter((s) => !failed.some((f) => f.ref === s.ref));
    for (const spec of mine) this.inputs.set(spec.ref.label, { spec, onEdge, active: this.held.includes(spec.ref.label) });
    return {
      failed,
      lines: {
        read: (ref) => this.inputs.get(ref.label)?.active ?? false,
        close: () => {
          for (const s of mine) this.inputs.delete(s.ref.label);
        },
      },
    };
  }

  requestOutputs(specs: OutputSpec[]): Requested<OutputLines> {
    const failed = this.claim(specs);
    const mine = specs.filter((s) => !failed.some((f) => f.ref === s.ref));
    for (const spec of mine) this.outputs.set(spec.ref.label, { spec, on: false });
    return {
      failed,
      lines: {
        set: (ref, on) => {
          const o = this.outputs.get(ref.label);
          if (!o) throw new Error(`${ref.label} is not requested`);
          o.on = on;
          this.writes.set(ref.label, [...(this.writes.get(ref.label) ?? []), on]);
        },
        close: () => {
          for (const s of mine) this.outputs.delete(s.ref.label);
        },
      },
    };
  }

  private claim(specs: { ref: LineRef }[]): { ref: LineRef; error: Error }[] {
    if (this.closed) throw new Error('SimLineSource is closed');
    return specs
      .filter((s) => this.busy.includes(s.ref.label) || this.inputs.has(s.ref.label) || this.outputs.has(s.ref.label))
      .map((s) => ({ ref: s.ref, error: new GpioLineError(s.ref.line, 'Device or resource busy (EBUSY): the line is in use') }));
  }

  /** Drive a simulated input to a logical level (true: pressed), as the kernel would report it. */
  set(name: string, active: boolean): void {
    const i = this.inputs.get(name);
    if (!i) throw new Error(`${name} is not requested as an input`);
    if (i.active === active) return;
    i.active = active;
    i.onEdge(i.spec.ref, active);
  }

  /** An output's logical level, or undefined when it is not requested. */
  level(name: string): boolean | undefined {
    return this.outputs.get(name)?.on;
  }

  isRequested(name: string): boolean {
    return this.inputs.has(name) || this.outputs.has(name);
  }

  close(): void {
    this.closed = true;
    this.inputs.clear();
    this.outputs.clear();
  }
}
