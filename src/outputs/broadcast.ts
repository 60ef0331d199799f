/**
 * The broadcast outputs of one daemon — Icecast mounts, WHIP publishers, the recorder — plus
 * the title they carry, the silence detector and the alerts. Each output is independent: it
 * starts, fails, retries and stops on its own; this only builds them from the config and
 * passes start/close and titles along.
 */
import type { Config } from '../config/schema.ts';
import { Alerts } from './alerts.ts';
import { broadcastMp3Spec, broadcastOpusSpec, icecastOutputs, type IcecastOutput } from './icecast/index.ts';
import { Recorder } from './recorder.ts';
import { SilenceDetector } from './silence.ts';
import { InputClockWatch } from './input-clock.ts';
import type { EngineStats } from '../audio/engine.ts';
import { whipOutputs, type WhipOutput } from './whip/index.ts';
import { Metadata } from './metadata.ts';
import type { LevelSource, PacketSource } from './packet-source.ts';

export class BroadcastOutputs {
  readonly alerts = new Alerts();
  readonly metadata: Metadata;
  readonly icecast: IcecastOutput[];
  /** Exists even when recording is off, so earlier recordings can be listed and fetched. */
  readonly recorder: Recorder;
  readonly silence: SilenceDetector;
  readonly inputClock: InputClockWatch;
  readonly whip: WhipOutput[];
  private unsubscribeTitle?: () => void;

  constructor(
    readonly config: Config,
    source: PacketSource & LevelSource & { stats(): EngineStats | undefined },
  ) {
    this.metadata = new Metadata(config.metadata.title);
    this.icecast = icecastOutputs(config, source);
    this.whip = whipOutputs(config, source);
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
    });
    this.silence = new SilenceDetector(source, this.alerts, { thresholdDbfs: config.silence.threshold_dbfs, afterS: config.silence.after_s });
    this.inputClock = new InputClockWatch(() => source.stats(), this.alerts);
  }

  /** Start every enabled output. */
  start(): void {
    this.unsubscribeTitle ??= this.metadata.onChange((t) => {
      for (const o of this.icecast) o.setTitle(t);
    });
    this.config.icecast.forEach((e, i) => {
      if (e.enabled) this.icecast[i]!.start();
    });
    this.config.whip.forEach((e, i) => {
      if (e.enabled) this.whip[i]!.start();
    });
    if (this.config.recording.enabled) this.recorder.start();
    if (this.config.silence.enabled) this.silence.start();
    this.inputClock.start();
  }

  /** Stop everything. Idempotent. */
  async close(): Promise<void> {
    this.unsubscribeTitle?.();
    this.unsubscribeTitle = undefined;
    for (const o of this.icecast) o.close();
    await Promise.all(this.whip.map((o) => o.close()));
    await this.recorder.close();
    this.silence.close();
    this.inputClock.close();
  }

  /** The outputs' part of GET /api/status. */
  status() {
    return {
      icecast: this.icecast.map((o) => o.status()),
      whip: this.whip.map((o) => o.status()),
      recording: this.recorder.status(),
    };
  }
}
