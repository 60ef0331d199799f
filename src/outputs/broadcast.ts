/**
 * The broadcast outputs of one daemon — every kind of the registry (Icecast mounts, WHIP
 * publishers, kinds.ts), the recorder — plus the title they carry, the silence detector and
 * the alerts. Each output is independent: it starts, fails, retries and stops on its own
 * (link.ts). This owns the lists: it builds them from the config, reconciles them itself when
 * the config changes (`apply`), passes start/close and titles along, and tells its listeners
 * whenever an output's state changes (`onOutput`), with the shared OutputStatus record.
 */
import { Value } from '@sinclair/typebox/value';
import type { Config } from '../config/schema.ts';
import { Alerts } from './alerts.ts';
import { broadcastMp3Spec, broadcastOpusSpec, type IcecastOutput } from './icecast/index.ts';
import { Recorder } from './recorder.ts';
import { SilenceDetector } from './silence.ts';
import { InputClockWatch } from './input-clock.ts';
import type { EngineStats } from '../audio/engine.ts';
import type { WhipOutput } from './whip/index.ts';
import { Metadata } from './metadata.ts';
import type { LevelSource, PacketSource } from './packet-source.ts';
import { OUTPUT_KINDS, type KindSection, type OutputKind, type SendingOutput } from './kinds.ts';
import { outputKey, type OutputStatus } from './link.ts';

/** What a config change did here: sections applied live, and keys that wait for a restart. */
export interface Applied {
  applied: string[];
  restart: string[];
}

const same = (a: unknown, b: unknown) => Value.Equal(a, b);

export class BroadcastOutputs {
  readonly alerts = new Alerts();
  readonly metadata: Metadata;
  /** Exists even when recording is off, so earlier recordings can be listed and fetched. */
  readonly recorder: Recorder;
  readonly silence: SilenceDetector;
  readonly inputClock: InputClockWatch;
  private readonly sending = new Map<KindSection, SendingOutput[]>();
  private readonly listeners = new Set<(s: OutputStatus) => void>();
  private unsubscribeTitle?: () => void;
  private _live = false;
  /** The config the outputs were last built or reconciled from. */
  private config: Config;

  constructor(
    config: Config,
    private readonly source: PacketSource & LevelSource & { stats(): EngineStats | undefined },
  ) {
    this.config = config;
    this.metadata = new Metadata(config.metadata.title);
    for (const k of OUTPUT_KINDS) this.sending.set(k.kind, k.build(config, source, this.publish));
    const r = config.recording;
    const channels = Math.min(2, config.input.channels);
    this.recorder = new Recorder(source, {
      dir: r.dir,
      format: r.format,
      spec: r.format === 'mp3' ? broadcastMp3Spec(channels, r.bitrate_kbps) : broadcastOpusSpec(channels, r.bitrate_kbps),
      channels,
      bitrateKbps: r.bitrate_kbps,
      rotateMs: r.rotate_minutes * 60_000,
      rotateBytes: r.rotate_mb * 1024 * 1024,
      minFreeBytes: r.min_free_mb * 1024 * 1024,
      continueWithinMs: r.continue_within_minutes * 60_000,
      alerts: this.alerts,
      onChange: this.publish,
      enabled: () => this.config.recording.enabled,
    });
    this.silence = new SilenceDetector(source, this.alerts, { thresholdDbfs: config.silence.threshold_dbfs, afterS: config.silence.after_s });
    this.inputClock = new InputClockWatch(() => source.stats(), this.alerts);
  }

  /** The outputs of one kind, in config order. */
  outputs(kind: KindSection): readonly SendingOutput[] {
    return this.sending.get(kind) ?? [];
  }

  get icecast(): readonly IcecastOutput[] {
    return this.outputs('icecast') as IcecastOutput[];
  }

  get whip(): readonly WhipOutput[] {
    return this.outputs('whip') as WhipOutput[];
  }

  /** Whether the self-sending outputs are on (live), as start() and stop() left them. */
  get live(): boolean {
    return this._live;
  }

  /** Called whenever an output's state changes (state "removed": it left the config). */
  onOutput(fn: (s: OutputStatus) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private readonly publish = (s: OutputStatus): void => {
    for (const fn of this.listeners) fn(s);
  };

  /** Go live: start every enabled output (titles set while idle go with them). */
  start(): void {
    this._live = true;
    this.unsubscribeTitle ??= this.metadata.onChange((t) => {
      for (const o of this.all()) o.setTitle?.(t);
    });
    for (const o of this.all()) o.setTitle?.(this.metadata.title);
    for (const k of OUTPUT_KINDS) this.startEnabled(k);
    if (this.config.recording.enabled) this.recorder.start();
    if (this.config.silence.enabled) this.silence.start();
    this.inputClock.start();
  }

  /** Go idle: stop the outputs that send on their own and the recorder (silence detection stays). */
  async stop(): Promise<void> {
    this._live = false;
    const closing = this.all().map((o) => o.close());
    // The recording's last writes finish on their own: going idle does not wait for the disk.
    void this.recorder.close();
    await Promise.all(closing);
  }

  /** Stop everything. Idempotent. */
  async close(): Promise<void> {
    this._live = false;
    this.unsubscribeTitle?.();
    this.unsubscribeTitle = undefined;
    await Promise.all(this.all().map((o) => o.close()));
    await this.recorder.close();
    this.silence.close();
    this.inputClock.close();
  }

  /** The outputs' part of GET /api/status: each kind's own JSON, by kind, and the recording. */
  status(): Record<KindSection, object[]> & { recording: ReturnType<Recorder['status']> } {
    const by = Object.fromEntries(OUTPUT_KINDS.map((k) => [k.kind, this.outputs(k.kind).map((o) => o.status())])) as Record<KindSection, object[]>;
    return { ...by, recording: this.recorder.status() };
  }

  /** Every broadcast output's shared record, in registry order, the recorder last. */
  statuses(): OutputStatus[] {
    return [...this.all().map((o) => o.outputStatus()), this.recorder.outputStatus()];
  }

  /**
   * Apply a config change to what this owns — the outputs of every kind (kept when their
   * entry is unchanged, so their connections stay up; closed when removed or changed; built
   * and, when live, started when new), the title, recording and silence detection. Says what
   * it applied and which keys need a restart.
   */
  async apply(prev: Config, next: Config): Promise<Applied> {
    const applied: string[] = [];
    const restart: string[] = [];
    const changed = (k: keyof Config) => !same(prev[k], next[k]);
    this.config = next;
    if (changed('metadata')) {
      if (prev.metadata.title !== next.metadata.title) this.metadata.set(next.metadata.title);
      if (prev.metadata.icy_metaint !== next.metadata.icy_metaint) restart.push('metadata.icy_metaint');
      else applied.push('metadata');
    }
    for (const k of OUTPUT_KINDS) {
      if (!changed(k.kind)) continue;
      if (k.restartWhen?.(prev, next)) restart.push(k.kind);
      else {
        await this.reconcile(k, prev, next);
        applied.push(k.kind);
      }
    }
    if (changed('recording')) {
      const { enabled: a, ...ra } = prev.recording;
      const { enabled: b, ...rb } = next.recording;
      if (!same(ra, rb)) restart.push('recording');
      else {
        if (a !== b) {
          if (b && this._live) this.recorder.start();
          if (!b) void this.recorder.close();
        }
        applied.push('recording');
      }
    }
    if (changed('silence')) {
      const { enabled: a, ...sa } = prev.silence;
      const { enabled: b, ...sb } = next.silence;
      if (!same(sa, sb)) restart.push('silence');
      else {
        if (a !== b) b ? this.silence.start() : this.silence.close();
        applied.push('silence');
      }
    }
    return { applied, restart };
  }

  private all(): SendingOutput[] {
    return OUTPUT_KINDS.flatMap((k) => this.outputs(k.kind));
  }

  private startEnabled(k: OutputKind): void {
    const entries = this.config[k.kind] as readonly { enabled: boolean }[];
    this.outputs(k.kind).forEach((o, i) => entries[i]?.enabled && o.start());
  }

  private async reconcile(k: OutputKind, prev: Config, next: Config): Promise<void> {
    const current = [...this.outputs(k.kind)];
    const prevEntries = prev[k.kind] as readonly unknown[];
    const nextEntries = next[k.kind] as readonly unknown[];
    const fresh = k.build(next, this.source, this.publish);
    const list: SendingOutput[] = [];
    const keep = new Set<SendingOutput>();
    nextEntries.forEach((e, i) => {
      const j = prevEntries.findIndex((pe, n) => same(pe, e) && current[n] && !keep.has(current[n]));
      if (j >= 0) {
        keep.add(current[j]!);
        list.push(current[j]!);
      } else list.push(fresh[i]!);
    });
    this.sending.set(k.kind, list);
    const gone = current.filter((o) => !keep.has(o));
    await Promise.all(gone.map((o) => o.close()));
    const ids = new Set(list.map((o) => outputKey(o.outputStatus())));
    for (const o of gone) {
      const s = o.outputStatus();
      if (!ids.has(outputKey(s))) this.publish({ ...s, state: 'removed', detail: 'removed from the settings' });
    }
    if (this._live) this.startEnabled(k);
  }
}
