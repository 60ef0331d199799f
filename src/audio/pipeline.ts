import type { EncoderSpec } from '../codecs/index.ts';
import { encoderKey } from '../codecs/index.ts';
import type { EncodedPacket } from '../codecs/encoder.ts';
import type { EngineStats } from './engine.ts';
import { readLevels, type Levels } from './meter.ts';
import { MAX_CHANNELS } from './format.ts';
import type { FromWorker, SourceSettings, ToWorker } from './protocol.ts';
import type { SourceStatus } from './source.ts';
import type { FallbackSettings } from './fallback.ts';
import { logger, type Logger } from '../log.ts';
import { MAIN_PROGRAM, type ProgramSpec } from '../config/programs.ts';
import { MAX_PROGRAMS, PROGRAM_LEVEL_SLOTS, PROGRAM_BUS_CHANNELS } from './program-chain.ts';

export type PacketListener = (packet: EncodedPacket) => void;

/**
 * How late a consumer may get its audio (ms). The audio worker wakes as often as the most
 * demanding consumer needs: each wake costs two threads a context switch and a message, so
 * an Icecast-only box wakes four times a second, not once per PipeWire quantum.
 */
export const MAX_DELAY_MS = {
  /** Each packet as soon as it is encoded: WebRTC, WHIP. */
  prompt: 0,
  /** Someone listening here, now: /stream.mp3 and MP3-over-WebRTC listeners, the admin meters. */
  listener: 100,
  /** Relays and files, which buffer seconds anyway: Icecast, recording; also the idle worker. */
  relay: 250,
} as const;

export interface SubscribeOptions {
  /** See MAX_DELAY_MS. Default: prompt. */
  maxDelayMs?: number;
  /**
   * 'input': the input as captured, never silenced by mute or off air (the admin's monitor).
   * It has an encoder of its own, shared only with other input taps of the same spec.
   * 'record': silenced by mute but not by off air (a recording made while off air), with an
   * encoder of its own likewise.
   */
  tap?: 'output' | 'input' | 'record';
  /**
   * The program ([[program]] id) to encode; `main` or none: the default program (the entry
   * called main, else the first, else the whole input). Ignored by input taps.
   */
  program?: string;
}

interface Subscription {
  listener: PacketListener;
  /** The encoder it listens to now (changes when the programs change under it). */
  key: string;
  spec: EncoderSpec;
  tap: 'output' | 'input' | 'record';
  /** The program it asked for (before resolving `main`). */
  ref: string;
}

/** A program's meters: before and after its processing. */
export interface ProgramLevels {
  pre: Levels;
  post: Levels;
}

/** Lifecycle of the audio pipeline, in string form for the API. */
export type PipelineState = 'starting' | 'running' | 'failed' | 'closed';

/**
 * The main thread's handle on the audio worker. Outputs subscribe to an encoder spec; the
 * first subscriber starts that encoder in the worker and the last one stops it, so each
 * distinct codec setting is encoded once and every output shares its packets.
 */
export class AudioPipeline {
  private worker?: Worker;
  private readonly levelBuf = new SharedArrayBuffer(MAX_CHANNELS * 3 * 4);
  private readonly levels = new Float32Array(this.levelBuf);
  private readonly subs = new Map<string, { spec: EncoderSpec; input: boolean; record: boolean; program?: string; listeners: Set<Subscription> }>();
  private readonly programLevelBuf = new SharedArrayBuffer(MAX_PROGRAMS * PROGRAM_LEVEL_SLOTS * 4);
  private readonly programLevelView = new Float32Array(this.programLevelBuf);
  private programs: ProgramSpec[] = [];
  private readonly mutedPrograms = new Set<string>();
  private availableChannels?: number;
  /** The max delay of every current consumer (packets or levels); the worker wakes for the least. */
  private readonly needs = new Set<{ ms: number }>();
  private sentWakeMs = -1;
  /**
   * Shared with the worker: [0] the urgent flag (raised when a consumer needs audio sooner than
   * the worker's current wait; the source's wait ends at once), [1] the wake period in ms.
   */
  private readonly wakeCell = new Int32Array(new SharedArrayBuffer(8));
  private _state: PipelineState = 'starting';
  private _stats?: EngineStats;
  private _channels = 0;
  private readonly log: Logger = logger('audio');
  private closedWaiter?: () => void;
  lastError = '';
  private muted = false;
  private offAir = false;

  private readonly inputListeners = new Set<(s: SourceStatus) => void>();

  constructor(private settings: SourceSettings) {
    this.syncPlaybackNeed();
  }

  /** Held while a network input plays on a PipeWire output (input.output_device). */
  private playbackRelease?: () => void;

  /**
   * A network input played on a PipeWire output needs the worker to wake for every block: the
   * player's ring holds tens of ms (pw-player.ts), so a box whose other outputs are relays
   * (Icecast, the recording: a wake every 250 ms) would otherwise feed it in bursts that run
   * it dry and pile up its delay (bench/contribution.ts).
   */
  private syncPlaybackNeed(): void {
    const plays = !!this.settings.network && this.settings.network.outputDevice !== 'none';
    if (plays && !this.playbackRelease) this.playbackRelease = this.need(MAX_DELAY_MS.prompt);
    else if (!plays && this.playbackRelease) {
      this.playbackRelease();
      this.playbackRelease = undefined;
    }
  }

  /**
   * Called when what is captured changes: its state (running, waiting, lost…) and why, the
   * device, the format or the xrun count. The worker reports a state change at once.
   * Returns the unsubscribe function.
   */
  onInput(fn: (s: SourceStatus) => void): () => void {
    this.inputListeners.add(fn);
    return () => this.inputListeners.delete(fn);
  }

  private notifyInput(s: SourceStatus): void {
    for (const fn of this.inputListeners) {
      try {
        fn(s);
      } catch (e) {
        this.log.error(`an input listener threw: ${(e as Error).message}`);
      }
    }
  }

  get state(): PipelineState {
    return this._state;
  }

  get channels(): number {
    return this._channels;
  }

  /** Start the worker; resolves once audio flows. */
  start(): Promise<void> {
    if (this.worker) throw new Error('pipeline already started');
    return new Promise((resolve, reject) => {
      // smol: the worker's heap is small and steady; a tighter GC keeps idle RSS low on a Pi.
      const w = new Worker(new URL('./worker.ts', import.meta.url).href, { smol: true } as WorkerOptions);
      this.worker = w;
      w.onmessage = (ev: MessageEvent<FromWorker>) => {
        const m = ev.data;
        switch (m.type) {
          case 'packets':
            for (const p of m.packets) this.deliver(p.key, p);
            break;
          case 'stats': {
            const before = this._stats?.source;
            this._stats = m.stats;
            if (!before || inputKey(before) !== inputKey(m.stats.source)) this.notifyInput(m.stats.source);
            break;
          }
          case 'ready':
            this._channels = m.channels;
            this._state = 'running';
            if (this.muted || this.offAir) this.sendGate();
            if (this.fallback) this.send({ type: 'fallback', settings: this.fallback });
            if (this.fallbackOn) this.send({ type: 'fallback-engage', on: true });
            if (this.programs.length > 0) this.send({ type: 'programs', programs: this.programs });
            for (const id of this.mutedPrograms) this.send({ type: 'program-mute', id, muted: true });
            if (this.availableChannels !== undefined) this.send({ type: 'available-channels', channels: this.availableChannels });
            this.updateWake();
            for (const [key, s] of this.subs) this.send(this.addMessage(key, s));
            resolve();
            break;
          case 'log':
            logger(m.prefix)[m.level](m.msg);
            break;
          case 'fatal':
            this.lastError = m.message;
            this.log.error(`audio worker: ${m.message}`);
            if (this._state === 'starting') {
              this._state = 'failed';
              reject(new Error(m.message));
            }
            break;
          case 'closed':
            this.closedWaiter?.();
            break;
        }
      };
      w.onerror = (ev) => {
        const message = (ev as ErrorEvent).message ?? String(ev);
        this.lastError = message;
        this.log.error(`audio worker crashed: ${message}`);
        if (this._state === 'starting') reject(new Error(message));
        this._state = 'failed';
      };
      this.sentWakeMs = this.wakeMs();
      Atomics.store(this.wakeCell, 1, this.sentWakeMs);
      this.send({
        type: 'init',
        settings: this.settings,
        levels: this.levelBuf,
        programLevels: this.programLevelBuf,
        wake: this.wakeCell.buffer as SharedArrayBuffer,
      });
    });
  }

  /**
   * Change what is captured without stopping encoders or listeners (same channel count). A
   * change of the input gain alone does not touch the source: the worker ramps to it.
   */
  setSource(settings: SourceSettings): void {
    if (settings.channels !== this.settings.channels) {
      throw new RangeError('changing input.channels needs a pipeline restart');
    }
    const prev = this.settings;
    this.settings = settings;
    this.syncPlaybackNeed();
    if (Bun.deepEquals({ ...prev, gainDb: 0 }, { ...settings, gainDb: 0 })) {
      if ((prev.gainDb ?? 0) !== (settings.gainDb ?? 0)) this.send({ type: 'gain', db: settings.gainDb ?? 0 });
      return;
    }
    this.send({ type: 'source', settings });
  }

  /** Mute: every output encoder gets silence; meters (and the input tap) keep the input. */
  setMuted(muted: boolean): void {
    this.muted = muted;
    this.sendGate();
  }

  /**
   * Off air with the local listeners silenced: like mute, every output encoder (/stream.mp3,
   * WebRTC, and whatever else runs) gets silence; the meters and the input tap keep the input.
   */
  setOffAir(offAir: boolean): void {
    this.offAir = offAir;
    this.sendGate();
  }

  /** Whether the outputs carry silence now (muted, or off air with the listeners silenced). */
  get silenced(): boolean {
    return this.muted || this.offAir;
  }

  private sendGate(): void {
    this.send({ type: 'gate', muted: this.muted, offAir: this.offAir });
  }

  /**
   * Put the fallback (fallback.ts: backup devices, decoded files) between the input and the
   * outputs, or take it away (null). The decoded files' memory is shared with the worker.
   */
  setFallback(settings: FallbackSettings | null): void {
    this.fallback = settings ?? undefined;
    if (this._state === 'running') this.send({ type: 'fallback', settings });
  }

  /** The outputs carry the fallback (true) or the input (false), cross-faded in the worker. */
  engageFallback(on: boolean): void {
    if (on === this.fallbackOn) return;
    this.fallbackOn = on;
    if (this._state === 'running') this.send({ type: 'fallback-engage', on });
  }
  private fallback?: FallbackSettings;
  private fallbackOn = false;

  /** Receive every packet of the encoder `spec`. Returns the unsubscribe function. */
  subscribe(spec: EncoderSpec, listener: PacketListener, opts: SubscribeOptions = {}): () => void {
    const sub: Subscription = { listener, key: '', spec, tap: opts.tap ?? 'output', ref: opts.program ?? MAIN_PROGRAM };
    this.attach(sub);
    const release = this.need(opts.maxDelayMs ?? MAX_DELAY_MS.prompt);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
      this.detach(sub);
    };
  }

  /**
   * The programs the worker runs ([[program]] entries; empty: the whole input is `main`).
   * Chains that stay cross-fade to their new routing and processing without a gap; an output
   * whose program now resolves elsewhere (programs added or removed) moves to that program.
   */
  setPrograms(programs: ProgramSpec[]): void {
    this.programs = programs;
    for (const id of [...this.mutedPrograms]) if (!programs.some((p) => p.id === id)) this.mutedPrograms.delete(id);
    if (this._state === 'running') this.send({ type: 'programs', programs });
    const moving: Subscription[] = [];
    for (const [key, s] of this.subs) for (const sub of s.listeners) if (this.keyFor(sub) !== key) moving.push(sub);
    for (const sub of moving) {
      this.detach(sub);
      this.attach(sub);
    }
  }

  /** The program ids in order (empty: no [[program]] entries). */
  programIds(): string[] {
    return this.programs.map((p) => p.id);
  }

  /** The worker-side program a reference means: undefined for the whole input. */
  resolveProgram(ref: string = MAIN_PROGRAM): string | undefined {
    if (this.programs.length === 0) return undefined;
    if (this.programs.some((p) => p.id === ref)) return ref;
    return ref === MAIN_PROGRAM ? this.programs[0]!.id : undefined;
  }

  /** Mute (or unmute) one program alone; the box's mute still silences all of them. */
  setProgramMuted(id: string, muted: boolean): void {
    const real = this.resolveProgram(id);
    if (real === undefined) return;
    if (muted) this.mutedPrograms.add(real);
    else this.mutedPrograms.delete(real);
    if (this._state === 'running') this.send({ type: 'program-mute', id: real, muted });
  }

  /** Whether one program alone is muted. */
  programMuted(id: string): boolean {
    const real = this.resolveProgram(id);
    return real !== undefined && this.mutedPrograms.has(real);
  }

  /** How many channels the captured device has (PipeWire's registry); programs needing more go silent. */
  setAvailableChannels(n: number): void {
    if (n === this.availableChannels) return;
    this.availableChannels = n;
    if (this._state === 'running') this.send({ type: 'available-channels', channels: n });
  }

  /** A program's meters before and after its processing; undefined for the whole input (currentLevels). */
  programLevels(id: string): ProgramLevels | undefined {
    const real = this.resolveProgram(id);
    const i = real === undefined ? -1 : this.programs.findIndex((p) => p.id === real);
    if (i < 0) return undefined;
    const at = i * PROGRAM_LEVEL_SLOTS;
    const half = PROGRAM_LEVEL_SLOTS / 2;
    const ch = this.programs[i]!.channels;
    const pick = (l: Levels): Levels => (ch === 1 ? { peak_dbfs: l.peak_dbfs.slice(0, 1), rms_dbfs: l.rms_dbfs.slice(0, 1), clips: l.clips.slice(0, 1) } : l);
    return {
      pre: pick(readLevels(this.programLevelView.subarray(at, at + half), PROGRAM_BUS_CHANNELS)),
      post: pick(readLevels(this.programLevelView.subarray(at + half, at + PROGRAM_LEVEL_SLOTS), PROGRAM_BUS_CHANNELS)),
    };
  }

  private keyFor(sub: Subscription): string {
    const base = sub.tap === 'output' ? encoderKey(sub.spec) : `${sub.tap} ${encoderKey(sub.spec)}`;
    const program = sub.tap === 'input' ? undefined : this.resolveProgram(sub.ref);
    // An unknown program (a config that changed under a running output): the default program.
    const real = program ?? (sub.tap === 'input' ? undefined : this.resolveProgram(MAIN_PROGRAM));
    return real === undefined ? base : `@${real} ${base}`;
  }

  private attach(sub: Subscription): void {
    const key = this.keyFor(sub);
    sub.key = key;
    let s = this.subs.get(key);
    if (!s) {
      const program = key.startsWith('@') ? key.slice(1, key.indexOf(' ')) : undefined;
      s = { spec: sub.spec, input: sub.tap === 'input', record: sub.tap === 'record', ...(program ? { program } : {}), listeners: new Set() };
      this.subs.set(key, s);
      if (this._state === 'running') this.send(this.addMessage(key, s));
    }
    s.listeners.add(sub);
  }

  private detach(sub: Subscription): void {
    const cur = this.subs.get(sub.key);
    if (!cur || !cur.listeners.delete(sub)) return;
    if (cur.listeners.size === 0) {
      this.subs.delete(sub.key);
      if (this._state === 'running') this.send({ type: 'encoder-remove', key: sub.key });
    }
  }

  private addMessage(key: string, s: { spec: EncoderSpec; input: boolean; record: boolean; program?: string }): ToWorker {
    return { type: 'encoder-add', key, spec: s.spec, input: s.input, record: s.record, ...(s.program ? { program: s.program } : {}) };
  }

  /**
   * Keep the worker waking at least every `maxDelayMs` (levels for a meter someone watches).
   * Returns the release function (idempotent).
   */
  need(maxDelayMs: number): () => void {
    const n = { ms: Math.max(0, maxDelayMs) };
    this.needs.add(n);
    this.updateWake();
    return () => {
      if (this.needs.delete(n)) this.updateWake();
    };
  }

  /** How often the worker wakes now (ms; 0: for every block of the source). */
  wakeMs(): number {
    let ms: number = MAX_DELAY_MS.relay;
    for (const n of this.needs) ms = Math.min(ms, n.ms);
    return ms;
  }

  /** Current per-channel peak/RMS in dBFS. */
  currentLevels(): Levels {
    return readLevels(this.levels, this._channels || this.settings.channels);
  }

  stats(): EngineStats | undefined {
    return this._stats;
  }

  sourceSettings(): SourceSettings {
    return this.settings;
  }

  /** Idempotent. Stops the worker after it has closed its encoders and source. */
  async close(): Promise<void> {
    if (this._state === 'closed' || !this.worker) {
      this._state = 'closed';
      return;
    }
    const w = this.worker;
    const wasRunning = this._state === 'running';
    this._state = 'closed';
    if (wasRunning) {
      const done = new Promise<void>((r) => (this.closedWaiter = r));
      w.postMessage({ type: 'close' } satisfies ToWorker);
      await Promise.race([done, Bun.sleep(2000)]);
    }
    w.terminate();
    this.worker = undefined;
  }

  private deliver(key: string, packet: EncodedPacket): void {
    const s = this.subs.get(key);
    if (!s) return;
    for (const sub of s.listeners) {
      try {
        sub.listener(packet);
      } catch (e) {
        this.log.error(`packet listener for ${key} threw: ${(e as Error).message}`);
      }
    }
  }

  /**
   * Tell the worker how often to wake (only when that changes). Sooner than before: raise the
   * urgent flag too, so a listener that just came does not wait out the worker's current sleep
   * (up to 250 ms) for its first packet.
   */
  private updateWake(): void {
    const ms = this.wakeMs();
    if (ms === this.sentWakeMs) return;
    const sooner = ms < this.sentWakeMs;
    this.sentWakeMs = ms;
    Atomics.store(this.wakeCell, 1, ms);
    if (sooner && this._state === 'running') {
      Atomics.store(this.wakeCell, 0, 1);
      Atomics.notify(this.wakeCell, 0);
    }
  }

  private send(msg: ToWorker): void {
    this.worker?.postMessage(msg);
  }
}

/** What the input's status shows (admin Input page, /api/status): a change of any is an `input` event. */
function inputKey(s: SourceStatus): string {
  return JSON.stringify([s.kind, s.state, s.message, s.device, s.format.rate, s.format.channels, s.stats.xruns ?? null]);
}
