/**
 * What hark watches per program ([[program]]), beside the box-wide silence detection:
 * - a device with fewer channels than a program needs (one that came back as a different
 *   interface, a 2-channel one where a 4-channel one was): the worker silences that program
 *   alone, and the alert `input.program.<id>` names it; the other programs go on;
 * - a program that has been silent for silence.after_s while the input is not (an interpreter's
 *   microphone off, a cable on input 3 pulled): the alert `silence.program.<id>`.
 * Without [[program]] entries it does nothing, and opens no PipeWire registry connection.
 */
import type { Config } from '../config/schema.ts';
import { resolvePrograms } from '../config/programs.ts';
import type { AudioPipeline } from '../audio/pipeline.ts';
import type { Devices } from '../audio/devices.ts';
import type { Alerts } from '../outputs/alerts.ts';

/** How often the device's channels and the programs' levels are looked at. */
const TICK_MS = 500;

export interface ProgramWatchDeps {
  config: () => Config;
  pipeline: Pick<AudioPipeline, 'stats' | 'programLevels' | 'setAvailableChannels'>;
  devices: Pick<Devices, 'list'>;
  alerts: Alerts;
  now?: () => number;
}

export class ProgramWatch {
  private timer?: ReturnType<typeof setInterval>;
  private readonly quietSince = new Map<string, number>();
  private readonly raised = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly deps: ProgramWatchDeps) {
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), TICK_MS);
  }

  /** Look once (the timer calls this; tests may too). */
  tick(): void {
    const c = this.deps.config();
    if (c.program.length === 0) {
      this.clearAll('no programs any more');
      return;
    }
    const stats = this.deps.pipeline.stats();
    const src = stats?.source;
    // The channels the captured device really has: PipeWire would fill the missing ones from
    // the others (its channel mixer), so a program made of them would carry the wrong sound.
    if (src && src.state === 'running' && src.device) {
      const dev = this.deps.devices.list().devices.find((d) => d.name === src.device);
      this.deps.pipeline.setAvailableChannels(dev?.channels ?? c.input.channels);
    }
    const programs = resolvePrograms(c);
    const want = new Set<string>();
    for (const chain of stats?.programs ?? []) {
      const p = programs.find((x) => x.id === chain.id);
      if (!p || chain.missing.length === 0) continue;
      const id = `input.program.${p.id}`;
      want.add(id);
      const chs = chain.missing.join(' and ');
      this.raise(
        id,
        `The program "${p.name}" is silent: it needs input channel${chain.missing.length > 1 ? 's' : ''} ${chs}, and ${src?.device ? `the device ${src.device}` : 'the device'} has fewer channels. The other programs go on.`,
      );
    }
    if (c.silence.enabled) {
      const t = this.now();
      for (const p of programs) {
        const lv = this.deps.pipeline.programLevels(p.id)?.post;
        if (!lv) continue;
        const level = Math.max(...lv.rms_dbfs);
        const id = `silence.program.${p.id}`;
        if (level >= c.silence.threshold_dbfs) {
          this.quietSince.delete(p.id);
          continue;
        }
        const since = this.quietSince.get(p.id) ?? t;
        this.quietSince.set(p.id, since);
        if (t - since >= c.silence.after_s * 1000) {
          want.add(id);
          this.raise(id, `The program "${p.name}" has been silent for ${c.silence.after_s} s (below ${c.silence.threshold_dbfs} dBFS).`);
        } else if (this.raised.has(id)) want.add(id);
      }
    }
    for (const id of [...this.raised]) if (!want.has(id)) this.clear(id, id.startsWith('silence.') ? 'signal returned' : 'the device has the channels again');
  }

  private raise(id: string, message: string): void {
    this.raised.add(id);
    this.deps.alerts.raise(id, 'warning', message);
  }

  private clear(id: string, why: string): void {
    this.raised.delete(id);
    this.deps.alerts.clear(id, why);
  }

  private clearAll(why: string): void {
    for (const id of [...this.raised]) this.clear(id, why);
    this.quietSince.clear();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.clearAll('stopped');
  }
}
