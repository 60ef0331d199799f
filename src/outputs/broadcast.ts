/**
 * The broadcast outputs of one daemon — every kind of the registry (Icecast mounts, WHIP
 * publishers, kinds.ts), the recorder — plus the title they carry, the silence detector and
 * the alerts. Each output is independent: it starts, fails, retries and stops on its own
 * (link.ts). This owns the lists: it builds them from the config, reconciles them itself when
 * the config changes (`apply`), passes start/close and titles along, and tells its listeners
 * whenever an output's state changes (`onOutput`), with the shared OutputStatus record.
 */
import { MAIN_PROGRAM, programChannels } from '../config/programs.ts';
import { Value } from '@sinclair/typebox/value';
import type { Config } from '../config/schema.ts';
import type { Reaction } from '../config/live.ts';
import { Alerts } from './alerts.ts';
import { broadcastMp3Spec, broadcastOpusSpec, type IcecastOutput } from './icecast/index.ts';
import type { EncoderSpec } from '../codecs/index.ts';
import { Recorder } from './recorder.ts';
import { ClipRing } from './clip-ring.ts';
import { SilenceDetector } from './silence.ts';
import { InputClockWatch } from './input-clock.ts';
import { FallbackSwitch, type FallbackPort } from './fallback.ts';
import type { EngineStats } from '../audio/engine.ts';
import type { WhipOutput } from './whip/index.ts';
import { Metadata } from './metadata.ts';
import type { LevelSource, PacketSource } from './packet-source.ts';
import { OUTPUT_KINDS, type KindSection, type OutputKind, type SendingOutput } from './kinds.ts';
import { outputKey, type OutputStatus } from './link.ts';

const same = (a: unknown, b: unknown) => Value.Equal(a, b);

/** The encoder a recording asks for: MP3, Opus, or FLAC at the recording's bit depth. */
export function recordingSpec(r: Config['recording'], channels: number): EncoderSpec {
  if (r.format === 'flac') return { codec: 'flac', channels, bitsPerSample: r.bit_depth };
  return r.format === 'mp3' ? broadcastMp3Spec(channels, r.bitrate_kbps) : broadcastOpusSpec(channels, r.bitrate_kbps);
}

export class BroadcastOutputs {
  readonly alerts = new Alerts();
  readonly metadata: Metadata;
  /** Exists even when recording is off, so earlier recordings can be listed and fetched. */
  readonly recorder: Recorder;
  /** The clip of silence or a lost input (recording.clips); started with the idle services. */
  readonly clips: ClipRing | null;
  readonly silence: SilenceDetector;
  readonly inputClock: InputClockWatch;
  /** [fallback]: runs in idle too (started with the silence detection); a new one when [fallback] changes. */
  get fallback(): FallbackSwitch {
    return this._fallback;
  }
  private _fallback: FallbackSwitch;
  private readonly fallbackPort: FallbackPort;
  private readonly sending = new Map<KindSection, SendingOutput[]>();
  private readonly listeners = new Set<(s: OutputStatus) => void>();
  private unsubscribeTitle?: () => void;
  private _live = false;
  /** The entries each kind's outputs were last built or reconciled from (in their order). */
  private readonly entries = new Map<KindSection, readonly { enabled: boolean }[]>();
  private recordingOn: boolean;
  /** Recording apart from going live (the record action, a schedule, VOX): the recorder runs, live or not. */
  private recordApart = false;
  private silenceOn: boolean;

  constructor(
    config: Config,
    private readonly source: PacketSource & LevelSource & { stats(): EngineStats | undefined } & Partial<FallbackPort>,
  ) {
    for (const k of OUTPUT_KINDS) this.entries.set(k.kind, config[k.kind]);
    this.recordingOn = config.recording.enabled;
    this.silenceOn = config.silence.enabled;
    this.metadata = new Metadata(config.metadata.title);
    for (const k of OUTPUT_KINDS) this.sending.set(k.kind, k.build(config, source, this.publish));
    const r = config.recording;
    const channels = programChannels(config, r.program);
    this.recorder = new Recorder(source, {
      program: r.program,
      dir: r.dir,
      format: r.format,
      spec: recordingSpec(r, channels),
      channels,
      // FLAC: the uncompressed rate, an upper bound for the disk guard's reserve.
      bitrateKbps: r.format === 'flac' ? channels * r.bit_depth * 48 : r.bitrate_kbps,
      rotateMs: r.rotate_minutes * 60_000,
      rotateBytes: r.rotate_mb * 1024 * 1024,
      minFreeBytes: r.min_free_mb * 1024 * 1024,
      keepMs: r.keep_days * 86_400_000,
      makeRoom: r.make_room,
      continueWithinMs: r.continue_within_minutes * 60_000,
      alerts: this.alerts,
      onChange: this.publish,
      enabled: () => this.recordingOn || this.recordApart,
      // Off air silences the outputs' encoders: a recording made then has one of its own.
      tap: () => (this._live ? 'output' : 'record'),
    });
    // The recorder's Opus encoder when it has one (one encoder for both), else a cheap one of its
    // own: mono, 32 kbit/s, complexity 0, 60 ms packets. A clip is for telling what happened,
    // and this encoder runs all the time on every box: half the CPU of a stereo one at
    // complexity 3, a third of the packets and messages of 20 ms ones (on a Pi Zero 2 W and under
    // the emulator that is what an idle box spends its time on).
    const clipSpec: EncoderSpec = r.format === 'ogg-opus' ? broadcastOpusSpec(channels, r.bitrate_kbps) : ({ ...broadcastOpusSpec(1, 32), complexity: 0, frameMs: 60 } as EncoderSpec);
    this.clips = r.clips ? new ClipRing(source, { dir: r.dir, spec: clipSpec, channels: clipSpec.channels, alerts: this.alerts }) : null;
    this.silence = new SilenceDetector(source, this.alerts, { thresholdDbfs: config.silence.threshold_dbfs, afterS: config.silence.after_s });
    this.inputClock = new InputClockWatch(() => source.stats(), this.alerts);
    this.fallbackPort = {
      setFallback: (s) => source.setFallback?.(s),
      engageFallback: (on) => source.engageFallback?.(on),
      stats: () => source.stats(),
    };
    this._fallback = this.makeFallback(config);
  }

  private makeFallback(config: Config): FallbackSwitch {
    return new FallbackSwitch(this.source, this.alerts, this.fallbackPort, {
      config: config.fallback,
      thresholdDbfs: config.silence.threshold_dbfs,
      channels: config.input.channels,
      onAir: () => this._live,
    });
  }

  /**
   * [fallback] changed: a new switch with the new settings, its files decoded again, started if
   * the old one was. While the fallback plays, the outputs go back to the input (cross-faded) and
   * the new switch engages again if the input is still quiet or lost.
   */
  applyFallback(prev: Config, next: Config): Reaction {
    if (JSON.stringify(prev.fallback) === JSON.stringify(next.fallback)) return 'applied';
    const old = this._fallback;
    const running = old.isStarted;
    old.close();
    this._fallback = this.makeFallback(next);
    if (running) {
      void this._fallback.start();
      this._fallback.carryOver(old);
    }
    return 'applied';
  }

  /** The outputs of one kind, in config order. */
  outputs(kind: KindSection): readonly SendingOutput[] {
    return this.sending.get(kind) ?? [];
  }

  get icecast(): readonly IcecastOutput[] {
    return this.outputs('icecast') as IcecastOutput[];
  }

  /** The Icecast outputs that going live starts (their entries enabled). */
  get enabledIcecast(): readonly IcecastOutput[] {
    const entries = this.entries.get('icecast') ?? [];
    return this.icecast.filter((_, i) => entries[i]?.enabled);
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
    if (this.recordingOn || this.recordApart) this.recorder.start();
    if (this.silenceOn) this.silence.start();
    this.inputClock.start();
  }

  /** Go idle: stop the outputs that send on their own and the recorder (silence detection stays). */
  async stop(): Promise<void> {
    this._live = false;
    const closing = this.all().map((o) => o.close());
    // The recording's last writes finish on their own: going idle does not wait for the disk.
    // A recording apart from live goes on, from an encoder off air does not silence.
    if (this.recordApart) this.recorder.retap();
    else void this.recorder.close();
    await Promise.all(closing);
  }

  /** Stop everything. Idempotent. */
  async close(): Promise<void> {
    this._live = false;
    this.unsubscribeTitle?.();
    this.unsubscribeTitle = undefined;
    await Promise.all(this.all().map((o) => o.close()));
    await this.recorder.close();
    await this.clips?.close();
    this.silence.close();
    this.fallback.close();
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
   * One kind's entries changed (the `icecast` and `whip` components of src/config/live.ts):
   * reconcile them — kept when unchanged (their connections stay up), closed when removed or
   * changed, built and, when live, started when new. A change the kind cannot take live (the
   * channel count its encoders were built for) leaves its outputs as they are: restart.
   */
  async applyOutputs(kind: KindSection, prev: Config, next: Config): Promise<Reaction> {
    const k = OUTPUT_KINDS.find((o) => o.kind === kind);
    if (!k || k.restartWhen?.(prev, next)) return 'restart';
    this.entries.set(kind, next[kind]);
    await this.reconcile(k, prev, next);
    return 'applied';
  }

  /** recording.enabled changed (the rest of [recording] waits for a restart): the recorder starts, when live, or stops. */
  applyRecording(prev: Config, next: Config): Reaction {
    const on = next.recording.enabled;
    this.recordingOn = on;
    if (prev.recording.enabled !== on) {
      if (on && this._live) this.recorder.start();
      if (!on && !this.recordApart) void this.recorder.close();
    }
    return 'applied';
  }

  /** Whether recording apart from live is on (the record action, a schedule, VOX). */
  get recordingApart(): boolean {
    return this.recordApart;
  }

  /** Record apart from going live, or stop that (the recorder then runs only while live with recording.enabled). */
  setRecordApart(on: boolean): void {
    this.recordApart = on;
    if (on) this.recorder.start();
    else if (!(this._live && this.recordingOn)) void this.recorder.close();
  }

  /** silence.enabled changed: the detector starts or stops. */
  applySilence(prev: Config, next: Config): Reaction {
    if (prev.silence.enabled !== next.silence.enabled) next.silence.enabled ? this.silence.start() : this.silence.close();
    this.silenceOn = next.silence.enabled;
    return 'applied';
  }

  private all(): SendingOutput[] {
    return OUTPUT_KINDS.flatMap((k) => this.outputs(k.kind));
  }

  private startEnabled(k: OutputKind): void {
    const entries = this.entries.get(k.kind) ?? [];
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
      // Kept when unchanged, and its program's channel count too (a stream's is fixed at connect).
      const ch = (c: Config, x: unknown) => programChannels(c, (x as { program?: string }).program ?? MAIN_PROGRAM);
      const j = prevEntries.findIndex((pe, n) => same(pe, e) && ch(prev, pe) === ch(next, e) && current[n] && !keep.has(current[n]));
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
