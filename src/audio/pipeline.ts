import type { EncoderSpec } from '../codecs/index.ts';
import { encoderKey } from '../codecs/index.ts';
import type { EncodedPacket } from '../codecs/encoder.ts';
import type { EngineStats } from './engine.ts';
import { readLevels, type Levels } from './meter.ts';
import { MAX_CHANNELS } from './format.ts';
import type { FromWorker, SourceSettings, ToWorker } from './protocol.ts';
import { logger, type Logger } from '../log.ts';

export type PacketListener = (packet: EncodedPacket) => void;

export interface SubscribeOptions {
  /**
   * The listener takes packets in batches, up to ~100 ms late (Icecast, /stream.mp3,
   * recording). While every subscriber says so, the audio worker wakes ten times a second
   * instead of once per PipeWire quantum. Default false: each packet as soon as it is encoded
   * (WebRTC, WHIP).
   */
  batch?: boolean;
}

interface Subscription {
  listener: PacketListener;
  batch: boolean;
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
  private readonly subs = new Map<string, { spec: EncoderSpec; listeners: Set<Subscription> }>();
  /** Subscriptions that want each packet at once; the worker batches while there are none. */
  private promptSubs = 0;
  private sentPrompt = false;
  private _state: PipelineState = 'starting';
  private _stats?: EngineStats;
  private _channels = 0;
  private readonly log: Logger = logger('audio');
  private closedWaiter?: () => void;
  lastError = '';
  private muted = false;

  constructor(private settings: SourceSettings) {}

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
          case 'stats':
            this._stats = m.stats;
            break;
          case 'ready':
            this._channels = m.channels;
            this._state = 'running';
            if (this.muted) this.send({ type: 'mute', muted: true });
            this.updatePrompt();
            for (const [key, s] of this.subs) this.send({ type: 'encoder-add', key, spec: s.spec });
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
      this.sentPrompt = this.promptSubs > 0;
      this.send({ type: 'init', settings: this.settings, levels: this.levelBuf, prompt: this.sentPrompt });
    });
  }

  /** Change what is captured without stopping encoders or listeners (same channel count). */
  setSource(settings: SourceSettings): void {
    if (settings.channels !== this.settings.channels) {
      throw new RangeError('changing input.channels needs a pipeline restart');
    }
    this.settings = settings;
    this.send({ type: 'source', settings });
  }

  /** Mute: every encoder gets silence; meters keep showing the input. */
  setMuted(muted: boolean): void {
    this.muted = muted;
    this.send({ type: 'mute', muted });
  }

  /** Receive every packet of the encoder `spec`. Returns the unsubscribe function. */
  subscribe(spec: EncoderSpec, listener: PacketListener, opts: SubscribeOptions = {}): () => void {
    const key = encoderKey(spec);
    let s = this.subs.get(key);
    if (!s) {
      s = { spec, listeners: new Set() };
      this.subs.set(key, s);
      if (this._state === 'running') this.send({ type: 'encoder-add', key, spec });
    }
    const sub: Subscription = { listener, batch: opts.batch === true };
    s.listeners.add(sub);
    if (!sub.batch) this.promptSubs++;
    this.updatePrompt();
    return () => {
      const cur = this.subs.get(key);
      if (!cur || !cur.listeners.delete(sub)) return;
      if (!sub.batch) this.promptSubs--;
      this.updatePrompt();
      if (cur.listeners.size === 0) {
        this.subs.delete(key);
        if (this._state === 'running') this.send({ type: 'encoder-remove', key });
      }
    };
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

  /** Tell the worker whether anyone needs packets at once (only when that changes). */
  private updatePrompt(): void {
    const want = this.promptSubs > 0;
    if (this._state !== 'running' || want === this.sentPrompt) return;
    this.sentPrompt = want;
    this.send({ type: 'prompt', prompt: want });
  }

  private send(msg: ToWorker): void {
    this.worker?.postMessage(msg);
  }
}
