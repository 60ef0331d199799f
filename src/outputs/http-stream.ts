import { MAX_DELAY_MS, type AudioPipeline } from '../audio/pipeline.ts';
import type { EncoderSpec } from '../codecs/index.ts';
import type { EncodedPacket } from '../codecs/encoder.ts';
import { logger } from '../log.ts';
import { IcyInterleaver } from './icy.ts';
import { Changes, type OutputStatus } from './link.ts';

export type HttpStreamState = 'idle' | 'streaming' | 'closed';

export interface HttpStreamOptions {
  spec: EncoderSpec;
  contentType: string;
  maxListeners: number;
  /** A listener whose queue passes this many bytes is disconnected. */
  queueBytes: number;
  /** Name shown to players (icy-name). */
  name: string;
  /** ICY metadata for listeners that send `Icy-MetaData: 1`: bytes between blocks, and the title. */
  icy?: { metaint: number; title: () => string };
  /** 'input': the input as captured, not silenced by mute or off air (the admin's monitor). */
  tap?: 'output' | 'input';
  /** The program it carries ([[program]] id; default main). */
  program?: string;
}

export interface HttpListenerInfo {
  id: number;
  remote: string;
  userAgent: string;
  connectedSince: string;
  bytes: number;
  queuedBytes: number;
}

/** Refused because the listener limit is reached. */
export class TooManyListenersError extends Error {
  constructor(readonly limit: number) {
    super(`the stream has its maximum of ${limit} listeners`);
    this.name = 'TooManyListenersError';
  }
}

class Listener {
  bytes = 0;
  /** Packets accepted for this listener and not yet handed to the socket. */
  readonly queue: Uint8Array[] = [];
  queued = 0;
  ended = false;
  wake?: () => void;
  /** Set for a listener that asked for ICY metadata. */
  icy?: IcyInterleaver;
  /** Told when the socket is full (true) and when it takes bytes again (false). */
  onStall?: (stalled: boolean) => void;
  readonly since = new Date();
  constructor(
    readonly id: number,
    readonly remote: string,
    readonly userAgent: string,
  ) {}

  /** Hand packets to the socket one at a time, waiting whenever the socket is full. */
  async pump(c: DirectController): Promise<void> {
    while (!this.ended) {
      const chunk = this.queue.shift();
      if (!chunk) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      this.queued -= chunk.byteLength;
      // A Promise from write() means the kernel's send buffer is full: wait for it to drain.
      const w = c.write(chunk);
      if (w instanceof Promise) await this.drained(w);
      const f = c.flush();
      if (f instanceof Promise) await this.drained(f);
    }
    c.close();
  }

  private async drained(p: Promise<number>): Promise<void> {
    this.onStall?.(true);
    try {
      await p;
    } finally {
      this.onStall?.(false);
    }
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }
}

/** Bun's "direct" ReadableStream controller: write() reports socket backpressure. */
interface DirectController {
  write(chunk: Uint8Array): number | Promise<number>;
  flush(): number | Promise<number>;
  close(): void;
}

/**
 * An HTTP stream of encoded audio (`/stream.mp3`). Each listener has a bounded queue; one
 * that falls behind is disconnected and counted, never buffered without bound. The encoder
 * runs only while somebody listens. Playback starts on the next packet: no burst of old
 * audio, so a new listener is as close to live as the codec allows.
 */
export class HttpStreamOutput {
  private readonly listeners = new Map<number, Listener>();
  private readonly changes = new Changes();
  private nextId = 1;
  private unsubscribe?: () => void;
  private _state: HttpStreamState = 'idle';
  private readonly log;
  /** Totals since start. */
  bytesSent = 0;
  listenersServed = 0;
  slowDisconnects = 0;
  refused = 0;

  constructor(
    private readonly pipeline: AudioPipeline,
    private readonly opts: HttpStreamOptions,
    readonly label = 'stream.mp3',
  ) {
    this.log = logger(`http ${label}`);
  }

  get state(): HttpStreamState {
    return this._state;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Called whenever a listener comes or goes, or the state changes. */
  onChange(fn: () => void): () => void {
    return this.changes.on(fn);
  }

  /** The shared status record (link.ts). */
  outputStatus(): OutputStatus {
    const first = [...this.listeners.values()][0];
    return {
      kind: 'http_mp3',
      id: '',
      state: this._state,
      detail: `${this.listeners.size} listening`,
      bytes: this.bytesSent,
      listeners: this.listeners.size,
      since: first ? first.since.toISOString() : null,
      last_error: null,
      where: `/${this.label}`,
      retry_at: null,
      enabled: true,
    };
  }

  /**
   * Open a listener; returns the streaming Response. Throws TooManyListenersError. `onStall`
   * hears when the listener's socket is full (true) and takes bytes again (false), so the server
   * can close a connection that stays full (one that never reads: dropped as too slow here, its
   * socket would otherwise stay open, full, for ever).
   */
  open(remote: string, userAgent: string, wantsIcy = false, onStall?: (stalled: boolean) => void): Response {
    if (this._state === 'closed') throw new Error(`${this.label} is closed`);
    if (this.listeners.size >= this.opts.maxListeners) {
      this.refused++;
      throw new TooManyListenersError(this.opts.maxListeners);
    }
    const l = new Listener(this.nextId++, remote, userAgent);
    l.onStall = onStall;
    const icy = wantsIcy ? this.opts.icy : undefined;
    if (icy) l.icy = new IcyInterleaver(icy.metaint, icy.title);
    const body = new ReadableStream({
      type: 'direct',
      pull: (c: DirectController) => l.pump(c),
      cancel: () => {
        l.end();
        this.remove(l, 'disconnected');
      },
    } as unknown as UnderlyingDefaultSource<Uint8Array>); // Bun's type: 'direct' source: lib.dom's ReadableStream constructor (which wins over bun-types') has no such overload.
    this.listeners.set(l.id, l);
    this.listenersServed++;
    this.log.info(`listener ${l.id} from ${remote} connected (${this.listeners.size} now)`);
    if (!this.unsubscribe) {
      this.unsubscribe = this.pipeline.subscribe(this.opts.spec, (p) => this.onPacket(p), {
        maxDelayMs: MAX_DELAY_MS.listener,
        ...(this.opts.tap ? { tap: this.opts.tap } : {}),
        ...(this.opts.program ? { program: this.opts.program } : {}),
      });
      this._state = 'streaming';
    }
    this.changes.emit();
    return new Response(body, {
      headers: {
        'content-type': this.opts.contentType,
        'cache-control': 'no-cache, no-store',
        'icy-name': this.opts.name,
        'x-content-type-options': 'nosniff',
        'access-control-allow-origin': '*',
        ...(icy ? { 'icy-metaint': String(icy.metaint) } : {}),
      },
    });
  }

  listenerInfo(): HttpListenerInfo[] {
    return [...this.listeners.values()].map((l) => ({
      id: l.id,
      remote: l.remote,
      userAgent: l.userAgent,
      connectedSince: l.since.toISOString(),
      bytes: l.bytes,
      queuedBytes: l.queued,
    }));
  }

  status() {
    return {
      status: this._state,
      listeners: this.listeners.size,
      bytes: this.bytesSent,
      listeners_served: this.listenersServed,
      slow_disconnects: this.slowDisconnects,
      refused: this.refused,
    };
  }

  /** Idempotent: ends every listener's response. */
  close(): void {
    if (this._state === 'closed') return;
    for (const l of [...this.listeners.values()]) {
      l.end();
      this.remove(l, 'server closing');
    }
    this._state = 'closed';
    this.changes.emit();
  }

  private onPacket(p: EncodedPacket): void {
    const n = p.data.byteLength;
    if (n === 0) return;
    for (const l of this.listeners.values()) {
      if (l.queued + n > this.opts.queueBytes) {
        this.slowDisconnects++;
        this.log.warn(`listener ${l.id} from ${l.remote} fell ${l.queued} bytes behind: disconnected`);
        l.end();
        this.remove(l, 'too slow');
        continue;
      }
      // One shared buffer: every listener's queue holds the same packet (ICY listeners get
      // their own copy only when a metadata block falls inside it).
      const data = l.icy ? l.icy.wrap(p.data) : p.data;
      l.queue.push(data);
      l.queued += data.byteLength;
      l.bytes += data.byteLength;
      this.bytesSent += data.byteLength;
      l.wake?.();
    }
  }

  private remove(l: Listener, why: string): void {
    if (!this.listeners.delete(l.id)) return;
    this.log.info(`listener ${l.id} from ${l.remote} left: ${why} (${l.bytes} bytes)`);
    if (this.listeners.size === 0 && this.unsubscribe) {
      this.unsubscribe();
      this.unsubscribe = undefined;
      if (this._state !== 'closed') this._state = 'idle';
    }
    this.changes.emit();
  }
}
