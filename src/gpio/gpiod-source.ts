/**
 * The LineSource over libgpiod v2: lines found by name on every chip (so "GPIO17" works on
 * pinctrl-bcm2835/2711 and on the Pi 5's pinctrl-rp1) or as chip:offset where lines carry no
 * names (QEMU's PL061). Inputs on one chip share one request and one edge worker.
 */
import { type ChipInfo, GpioChip, GpiodError, type GpioRequest, gpiodVersion, listChips } from '../../ffi/gpiod.ts';
import {
  GpioLineError,
  GpioUnavailableError,
  type InputLines,
  type InputSpec,
  type LineRef,
  type LineSource,
  type OutputLines,
  type OutputSpec,
  parseLine,
  type Requested,
} from './lines.ts';

const CONSUMER = 'hark';

function describeChip(c: ChipInfo): string {
  return `${c.name} [${c.label}, ${c.numLines} lines]`;
}

export class GpiodLineSource implements LineSource {
  readonly description: string;
  private readonly chips: ChipInfo[];
  /** The chips `gpio.chip` allows: all of them for "auto". */
  private readonly searched: ChipInfo[];
  private readonly requests = new Set<GpioRequest>();
  private readonly namedLines = new Map<string, number>();

  /**
   * Find the chips. Throws GpiodLoadError (no libgpiod.so.3) or GpioUnavailableError (no
   * chip, or the configured chip is absent).
   */
  constructor(chip = 'auto', devDir = '/dev') {
    const version = gpiodVersion();
    const { chips, errors } = listChips(devDir);
    if (chips.length === 0) {
      const why = errors.length ? errors.map((e) => e.message).join('; ') : `no /dev/gpiochip* device`;
      throw new GpioUnavailableError(`no usable GPIO chip (${why})`);
    }
    this.chips = chips;
    this.searched = chip === 'auto' ? chips : [this.findChip(chip, 'gpio.chip')];
    this.description = `libgpiod ${version}, ${chip === 'auto' ? 'chips' : 'chip'} ${this.searched.map(describeChip).join(', ')}`;
  }

  /** A chip by name ("gpiochip0"), path, label ("pinctrl-rp1"), or a part of its label unique among chips ("pl061"). */
  private findChip(id: string, what: string): ChipInfo {
    const exact = this.chips.find((c) => c.name === id || c.path === id || c.label === id);
    if (exact) return exact;
    const partial = this.chips.filter((c) => c.label.toLowerCase().includes(id.toLowerCase()));
    if (partial.length === 1) return partial[0]!;
    const list = this.chips.map(describeChip).join(', ');
    throw new GpioUnavailableError(
      partial.length ? `${what} "${id}" matches several chips: ${partial.map(describeChip).join(', ')}` : `${what} "${id}": no such GPIO chip (chips: ${list})`,
    );
  }

  /** How many lines on `c` carry a name (0 on QEMU's PL061). */
  private namedCount(c: ChipInfo): number {
    let n = this.namedLines.get(c.path);
    if (n === undefined) {
      using chip = GpioChip.open(c.path);
      n = 0;
      for (let i = 0; i < c.numLines; i++) if (chip.lineInfo(i).name) n++;
      this.namedLines.set(c.path, n);
    }
    return n;
  }

  resolve(line: string): LineRef {
    const spec = parseLine(line);
    if (spec.kind === 'name') {
      for (const c of this.searched) {
        using chip = GpioChip.open(c.path);
        const offset = chip.lineOffset(spec.name);
        if (offset !== null) return { line, chip: c.path, offset, label: spec.name };
      }
      const where = this.searched
        .map((c) => {
          const named = this.namedCount(c);
          return `${describeChip(c)}${named ? '' : ' (its lines have no names)'}`;
        })
        .join(', ');
      throw new GpioLineError(line, `no line named "${spec.name}" on ${where}; name it as chip:offset instead, e.g. "${this.searched[0]!.label}:3"`);
    }
    let c: ChipInfo;
    try {
      c = spec.chip === null ? this.searched[0]! : this.findChip(spec.chip, 'chip');
    } catch (e) {
      throw new GpioLineError(line, (e as Error).message);
    }
    if (spec.offset >= c.numLines) throw new GpioLineError(line, `${describeChip(c)} has no line ${spec.offset} (offsets 0–${c.numLines - 1})`);
    using chip = GpioChip.open(c.path);
    const name = chip.lineInfo(spec.offset).name;
    return { line, chip: c.path, offset: spec.offset, label: name ?? `${c.name}:${spec.offset}` };
  }

  /**
   * Request `specs` grouped by chip; when a chip's group is refused, each line is tried alone
   * so one busy line does not take the others with it.
   */
  private request<S extends { ref: LineRef }>(
    specs: S[],
    settings: (s: S) => Parameters<GpioChip['request']>[1][number],
    then: (req: GpioRequest, specs: S[]) => void,
  ): { ref: LineRef; error: Error }[] {
    const failed: { ref: LineRef; error: Error }[] = [];
    const byChip = Map.groupBy(specs, (s) => s.ref.chip);
    for (const [path, group] of byChip) {
      let chip: GpioChip;
      try {
        chip = GpioChip.open(path);
      } catch (e) {
        for (const s of group) failed.push({ ref: s.ref, error: new GpioLineError(s.ref.line, (e as Error).message) });
        continue;
      }
      try {
        const attempt = (g: S[]) => {
          const req = chip.request(CONSUMER, g.map(settings));
          this.requests.add(req);
          then(req, g);
        };
        try {
          attempt(group);
        } catch (e) {
          if (!(e instanceof GpiodError) || group.length === 1) throw e;
          for (const s of group) {
            try {
              attempt([s]);
            } catch (err) {
              failed.push({ ref: s.ref, error: new GpioLineError(s.ref.line, (err as Error).message) });
            }
          }
        }
      } catch (e) {
        for (const s of group) failed.push({ ref: s.ref, error: new GpioLineError(s.ref.line, (e as Error).message) });
      } finally {
        chip.close();
      }
    }
    return failed;
  }

  requestInputs(
    specs: InputSpec[],
    onEdge: (ref: LineRef, active: boolean) => void,
    onFault: (ref: LineRef, message: string) => void = () => {},
  ): Requested<InputLines> {
    const mine: { req: GpioRequest; ref: LineRef }[] = [];
    const failed = this.request(
      specs,
      (s) => ({
        offset: s.ref.offset,
        direction: 'input',
        edge: 'both',
        // A button to GND needs the pull-up; one to 3V3 the pull-down.
        bias: s.activeLow ? 'pull-up' : 'pull-down',
        activeLow: s.activeLow,
        debounceUs: s.debounceMs * 1000,
      }),
      (req, group) => {
        const byOffset = new Map(group.map((s) => [s.ref.offset, s.ref]));
        for (const s of group) mine.push({ req, ref: s.ref });
        req.watch(
          (events) => {
            // With active_low set, the kernel reports a press as a rising edge.
            for (const ev of events) {
              const ref = byOffset.get(ev.offset);
              if (ref) onEdge(ref, ev.rising);
            }
          },
          (message) => {
            for (const s of group) onFault(s.ref, `edge events stopped: ${message}`);
          },
        );
      },
    );
    return {
      failed,
      lines: {
        read: (ref) => {
          const m = mine.find((x) => x.ref === ref);
          if (!m) throw new GpioLineError(ref.line, 'not requested');
          return m.req.get(ref.offset);
        },
        close: () => {
          for (const m of mine) this.release(m.req);
        },
      },
    };
  }

  requestOutputs(specs: OutputSpec[]): Requested<OutputLines> {
    const mine: { req: GpioRequest; ref: LineRef }[] = [];
    const failed = this.request(
      specs,
      (s) => ({ offset: s.ref.offset, direction: 'output', activeLow: s.activeLow, value: false }),
      (req, group) => {
        for (const s of group) mine.push({ req, ref: s.ref });
      },
    );
    return {
      failed,
      lines: {
        set: (ref, on) => {
          const m = mine.find((x) => x.ref === ref);
          if (!m) throw new GpioLineError(ref.line, 'not requested');
          m.req.set(ref.offset, on);
        },
        close: () => {
          for (const m of mine) this.release(m.req);
        },
      },
    };
  }

  private release(req: GpioRequest): void {
    req.close();
    this.requests.delete(req);
  }

  /** Idempotent: releases every request still held. */
  close(): void {
    for (const r of this.requests) r.close();
    this.requests.clear();
  }
}
