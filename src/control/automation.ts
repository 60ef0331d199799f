/**
 * What starts and stops hark without a person: the schedules (`[[schedule]]`, in `[time] zone`)
 * and VOX (`[vox]`). Both act only through control actions (origin `schedule` / `vox`), on a
 * change; a person's action in between wins until the next change. This is the `automation`
 * config component (src/config/live.ts): edits to the schedules, VOX or the zone apply at once.
 */
import type { ConfigComponent } from '../config/live.ts';
import type { Config } from '../config/schema.ts';
import { scheduleZone } from '../config/schedule.ts';
import type { BroadcastOutputs } from '../outputs/broadcast.ts';
import type { PacketSource } from '../outputs/packet-source.ts';
import { Vox, type VoxSettings } from '../outputs/vox.ts';
import { clockState, type ClockProbe } from './clock.ts';
import type { Control } from './control.ts';
import { Scheduler, type ScheduleStatus } from './schedule.ts';

export interface AutomationDeps {
  config(): Config;
  control: Pick<Control, 'run'>;
  source: PacketSource;
  broadcast: Pick<BroadcastOutputs, 'recorder' | 'enabledIcecast'>;
  clock?: ClockProbe;
  now?: () => number;
}

const voxSettings = (c: Config): VoxSettings => ({
  thresholdDbfs: c.vox.threshold_dbfs,
  attackS: c.vox.attack_s,
  releaseS: c.vox.release_s,
  prerollS: c.vox.preroll_s,
  action: c.vox.action,
  recordsWhenLive: c.recording.enabled,
});

export class Automation {
  readonly scheduler: Scheduler;
  readonly vox: Vox;
  readonly clock: ClockProbe;

  constructor(private readonly deps: AutomationDeps) {
    this.clock = deps.clock ?? (() => clockState());
    this.scheduler = new Scheduler({
      entries: () => deps.config().schedule,
      zone: () => scheduleZone(deps.config()),
      clock: this.clock,
      now: deps.now,
      run: (action) => deps.control.run(action, {}, 'schedule'),
    });
    this.vox = new Vox({
      source: deps.source,
      recorder: deps.broadcast.recorder,
      icecast: () => deps.broadcast.enabledIcecast,
      run: (action) => deps.control.run(action, {}, 'vox'),
    });
  }

  start(): void {
    this.scheduler.start();
    const c = this.deps.config();
    if (c.vox.enabled) this.vox.start(voxSettings(c));
  }

  close(): void {
    this.scheduler.close();
    this.vox.close();
  }

  /** The Icecast outputs changed: VOX with action live keeps a pre-roll ring for each enabled one. */
  icecastChanged(): void {
    this.recordingChanged();
  }

  /** recording.enabled changed (another component's key): VOX with action live keeps a pre-roll only while going live records. */
  recordingChanged(): void {
    const c = this.deps.config();
    if (c.vox.enabled && c.vox.action === 'live') this.vox.start(voxSettings(c));
  }

  /** The config component: schedules, VOX and the zone apply at once. */
  component(): ConfigComponent {
    return {
      name: 'automation',
      apply: (prev, next) => {
        this.scheduler.changed();
        if (JSON.stringify(voxSettings(prev)) !== JSON.stringify(voxSettings(next)) || prev.vox.enabled !== next.vox.enabled) {
          if (next.vox.enabled) this.vox.start(voxSettings(next));
          else this.vox.close();
        }
        return 'applied';
      },
    };
  }

  status(): ScheduleStatus & { vox: { enabled: boolean; open: boolean; preroll_held_s: number } } {
    return { ...this.scheduler.status(), vox: { enabled: this.vox.running, open: this.vox.open, preroll_held_s: Math.round(this.vox.prerollHeldS * 100) / 100 } };
  }
}
