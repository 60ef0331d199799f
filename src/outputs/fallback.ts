/**
 * The fallback's decisions (the audio itself is switched in the audio worker, audio/fallback.ts):
 * after `fallback.after_s` of silence (the silence alert's level test: every channel's RMS under
 * silence.threshold_dbfs) or of input loss (the `input.lost` alert), every output carries the
 * fallback; once the input has had signal again for `fallback.return_s`, it carries the input
 * again. While engaged the `fallback` alert (warning) is active: notifiers, the page and
 * /metrics read it. Files are decoded at start, off the audio path (audio/fallback-files.ts);
 * those missing or undecodable are reported by name and the others play.
 */
import type { Alerts } from './alerts.ts';
import { INPUT_LOST_ALERT } from './alerts.ts';
import type { LevelSource } from './packet-source.ts';
import type { EngineStats } from '../audio/engine.ts';
import type { FallbackSettings } from '../audio/fallback.ts';
import { loadFallbackFiles, type FallbackFileReport } from '../audio/fallback-files.ts';
import type { Config } from '../config/schema.ts';
import { logger } from '../log.ts';

export const FALLBACK_ALERT = 'fallback';
const POLL_MS = 250;

/** What the fallback needs of the audio pipeline (AudioPipeline satisfies it). */
export interface FallbackPort {
  setFallback(settings: FallbackSettings | null): void;
  engageFallback(on: boolean): void;
  stats(): EngineStats | undefined;
}

export interface FallbackOptions {
  config: Config['fallback'];
  thresholdDbfs: number;
  channels: number;
  now?: () => number;
  pollMs?: number;
  /**
   * Whether the outputs are on air (live): only then does the fallback engage, so a box left
   * off air in a quiet room all week raises no alert. Default: always.
   */
  onAir?: () => boolean;
  /** Decodes the files (default: loadFallbackFiles, in a thread of its own). */
  load?: (paths: string[], channels: number) => Promise<FallbackFileReport[]>;
}

export type FallbackReason = 'silence' | 'input lost';

export interface FallbackStatus {
  enabled: boolean;
  /** The outputs carry the fallback. */
  active: boolean;
  /** What plays: a file's name or a device's node name ('' when not active or nothing to play). */
  source: string;
  kind: 'device' | 'file' | '';
  /** When it engaged (ISO time), null when not active. */
  since: string | null;
  reason: FallbackReason | null;
  /** One sentence for the page. */
  message: string;
  /** How long the input has been silent (s; 0 with signal). */
  input_silent_for_s: number;
  /** While active with signal back: seconds until the input takes over again. */
  returns_in_s: number | null;
  after_s: number;
  return_s: number;
  files: Omit<FallbackFileReport, 'clip'>[];
  devices: { name: string; state: string }[];
  /** Times it engaged since start. */
  engaged_count: number;
  /** Frames the backup device did not deliver in time (heard as silence). */
  device_underrun_frames: number;
  /** Files still being decoded. */
  loading: boolean;
}

const log = logger('fallback');

export class FallbackSwitch {
  private timer?: ReturnType<typeof setInterval>;
  private started = false;
  private active = false;
  private since: number | null = null;
  private reason: FallbackReason | null = null;
  private quietSince: number | null = null;
  private signalSince: number | null = null;
  private lostSince: number | null = null;
  private files: FallbackFileReport[] = [];
  private loading = false;
  private engagedCount = 0;
  private offAlerts?: () => void;
  private readonly now: () => number;
  private generation = 0;
  private wasOnAir = false;

  constructor(
    private readonly levels: LevelSource,
    private readonly alerts: Alerts,
    private readonly port: FallbackPort,
    readonly opts: FallbackOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.opts.config.enabled;
  }

  /**
   * Take over what the switch this one replaces (its settings changed) had seen: since when the
   * input has been quiet, lost or back, and whether it was on air. A fallback that was playing
   * engages again as soon as this one has its files, not after_s of dead air later.
   */
  carryOver(old: FallbackSwitch): void {
    this.quietSince = old.quietSince;
    this.signalSince = old.signalSince;
    this.lostSince = old.lostSince ?? this.lostSince;
    this.wasOnAir = old.wasOnAir;
  }

  /** Whether start() ran (and close() not since). */
  get isStarted(): boolean {
    return this.started;
  }

  get isActive(): boolean {
    return this.active;
  }

  /** Decode the files, hand them and the devices to the worker, start watching. Resolves once loaded. */
  async start(): Promise<void> {
    if (this.started || !this.enabled) return;
    this.started = true;
    const gen = ++this.generation;
    const c = this.opts.config;
    this.lostSince = this.alerts.isActive(INPUT_LOST_ALERT) ? this.now() : null;
    this.offAlerts = this.alerts.on((e) => {
      if (e.alert.id !== INPUT_LOST_ALERT) return;
      this.lostSince = e.type === 'raised' ? (this.lostSince ?? this.now()) : null;
      this.tick();
    });
    this.timer = setInterval(() => this.tick(), this.opts.pollMs ?? POLL_MS);
    this.loading = c.files.length > 0;
    this.files = c.files.map((name) => ({ name, state: 'ok', message: 'loading', seconds: 0 }));
    const reports = await (this.opts.load ?? loadFallbackFiles)(c.files, this.opts.channels);
    if (gen !== this.generation || !this.started) return;
    this.loading = false;
    this.files = reports;
    for (const r of reports) {
      if (r.state === 'ok') log.info(`${r.name}: ${r.seconds} s of ${r.format}${r.message ? ` (${r.message})` : ''}`);
      else log.warn(`${r.name}: ${r.message}; the other files play`);
    }
    const clips = reports.flatMap((r) => (r.clip ? [r.clip] : []));
    this.port.setFallback({ devices: [...c.devices], clips, crossfadeMs: c.crossfade_ms });
    // The worker's mixer was replaced: an engaged fallback engages again on the new one.
    if (this.active) {
      this.port.engageFallback(false);
      this.port.engageFallback(true);
    }
  }

  /** Idempotent: back to the input, alert cleared, the worker's fallback removed. */
  close(): void {
    if (!this.started) return;
    this.started = false;
    this.generation++;
    clearInterval(this.timer);
    this.offAlerts?.();
    if (this.active) this.release('fallback stopped');
    this.port.setFallback(null);
  }

  /** Look at the levels and the input once (the timer calls this; tests may too). */
  tick(): void {
    if (!this.started) return;
    const t = this.now();
    const { rms_dbfs } = this.levels.currentLevels();
    const level = rms_dbfs.length ? Math.max(...rms_dbfs) : -Infinity;
    const quiet = level < this.opts.thresholdDbfs;
    if (quiet) {
      this.quietSince ??= t;
      this.signalSince = null;
    } else {
      this.quietSince = null;
      this.signalSince ??= t;
    }
    const lost = this.lostSince !== null;
    const c = this.opts.config;
    const onAir = this.opts.onAir?.() ?? true;
    if (onAir && !this.wasOnAir) {
      // Going live into a quiet room: after_s counts from now, not from the quiet before.
      if (this.quietSince !== null) this.quietSince = t;
      if (this.lostSince !== null) this.lostSince = t;
    }
    this.wasOnAir = onAir;
    if (this.active && !onAir) {
      this.release('off air');
      return;
    }
    if (!this.active && onAir) {
      const lostLong = lost && t - this.lostSince! >= c.after_s * 1000;
      const quietLong = quiet && t - this.quietSince! >= c.after_s * 1000;
      if ((lostLong || quietLong) && this.hasSomething()) this.engage(lostLong ? 'input lost' : 'silence', t);
      return;
    }
    if (this.active && !lost && !quiet && t - this.signalSince! >= c.return_s * 1000) this.release(`the input has had signal for ${c.return_s} s`);
  }

  private hasSomething(): boolean {
    return this.opts.config.devices.length > 0 || this.files.some((f) => f.state === 'ok' && f.seconds > 0);
  }

  private engage(reason: FallbackReason, t: number): void {
    this.active = true;
    this.since = t;
    this.reason = reason;
    this.engagedCount++;
    this.port.engageFallback(true);
    this.alerts.raise(FALLBACK_ALERT, 'warning', `Playing the fallback: ${this.predictedSource() || 'nothing to play'} — ${this.why(t)}.`);
  }

  private release(why: string): void {
    this.active = false;
    this.since = null;
    this.reason = null;
    this.port.engageFallback(false);
    this.alerts.clear(FALLBACK_ALERT, `back to the input: ${why}`);
  }

  /** What the worker will play: the first backup device that is running, else the first file. */
  private predictedSource(): string {
    const devs = this.port.stats()?.fallback?.devices ?? [];
    const dev = devs.find((d) => d.state === 'running');
    if (dev) return dev.name;
    return this.files.find((f) => f.state === 'ok' && f.clip)?.clip?.name ?? '';
  }

  private why(t: number): string {
    if (this.reason === 'input lost') return 'the input is lost';
    const s = this.quietSince === null ? this.opts.config.after_s : Math.round((t - this.quietSince) / 1000);
    return `the input has been silent for ${s} s`;
  }

  status(): FallbackStatus {
    const t = this.now();
    const c = this.opts.config;
    const mix = this.port.stats()?.fallback;
    const playing = this.active ? mix?.source || this.predictedSource() : '';
    const kind = this.active ? mix?.kind || '' : '';
    let message: string;
    if (!c.enabled) message = 'The fallback is off.';
    else if (this.active) message = playing ? `Playing the fallback: ${playing} — ${this.why(t)}.` : `The input is ${this.reason === 'input lost' ? 'lost' : 'silent'} but there is nothing to play as fallback (no backup device present, no file that plays).`;
    else if (this.loading) message = 'Loading the fallback files…';
    else if (!this.hasSomething()) message = 'The fallback has nothing to play: no backup device, and no file that plays.';
    else if (!(this.opts.onAir?.() ?? true)) message = `Ready: while live, after ${c.after_s} s of silence the outputs play the fallback.`;
    else message = `Ready: after ${c.after_s} s of silence the outputs play the fallback.`;
    const returnsIn = this.active && this.signalSince !== null && this.lostSince === null ? Math.max(0, Math.round((c.return_s * 1000 - (t - this.signalSince)) / 100) / 10) : null;
    return {
      enabled: c.enabled,
      active: this.active,
      source: playing,
      kind,
      since: this.since === null ? null : new Date(this.since).toISOString(),
      reason: this.reason,
      message,
      input_silent_for_s: this.quietSince === null ? 0 : Math.round((t - this.quietSince) / 100) / 10,
      returns_in_s: returnsIn,
      after_s: c.after_s,
      return_s: c.return_s,
      files: this.files.map(({ clip: _clip, ...r }) => r),
      devices: mix?.devices ?? c.devices.map((name) => ({ name, state: 'starting' })),
      engaged_count: this.engagedCount,
      device_underrun_frames: mix?.underruns ?? 0,
      loading: this.loading,
    };
  }
}
