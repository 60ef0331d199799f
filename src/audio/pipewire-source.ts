import {
  checkLatency,
  DevState,
  loadPipewire,
  PipewireClosedError,
  PipewireLibraryMissingError,
  PwConnection,
} from '../../ffi/pipewire.ts';
import { logger, type Logger } from '../log.ts';
import { MAX_CHANNELS, SAMPLE_RATE } from './format.ts';
import type { AudioSource, SourceState, SourceStatus } from './source.ts';

export interface PipewireSourceOptions {
  /** node.name to capture ('' = PipeWire's default source). A sink's name captures its monitor. */
  device: string;
  channels: number;
  /** node.latency in frames at 48 kHz (input.latency_frames: 64, 128, …). */
  latencyFrames: number;
  /**
   * 'pipewire': capture `device`. 'pipewire-sink': create hark's own sink node (named
   * `sinkName`, default "hark") that local apps play into, and capture its mix.
   */
  mode: 'pipewire' | 'pipewire-sink';
  /** node.name of hark's sink in 'pipewire-sink' mode (default "hark"). */
  sinkName?: string;
  /** PipeWire socket path (default: libpipewire's lookup from XDG_RUNTIME_DIR etc.). */
  remote?: string;
  /**
   * wait() returns once this many frames are buffered (or at its timeout with whatever is
   * there). Default: one quantum (latencyFrames) — lowest latency, one wake-up per quantum.
   * A consumer that works in larger blocks (a 10 ms Opus frame is 480) saves CPU by asking
   * for them: the frame completing a block is still read right after its callback.
   */
  wakeFrames?: number;
}

/** Reconnect backoff while PipeWire is away: 0.25 s doubling to 5 s. */
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;

const COUNTERS = ['callbacks', 'frames', 'ringOverruns', 'droppedFrames', 'xruns', 'xrunFrames', 'quantumChanges', 'quantumChangeXruns'] as const;

/**
 * Capture from PipeWire. All real-time work happens in the C shim (ffi/pw_shim.c); this class
 * keeps the connection alive: it opens it, notices when PipeWire goes away (→ `unavailable`)
 * and reconnects with backoff from inside wait()/read()/status(), which never throw.
 * Device presence is followed in C: absent at start → `waiting`, removed while live → `lost`,
 * back → `running` again (the stream is re-created on PipeWire's loop thread as soon as the node is back).
 */
export class PipewireSource implements AudioSource {
  readonly kind: 'pipewire' | 'pipewire-sink';
  readonly channels: number;
  private conn: PwConnection | null = null;
  private _state: SourceState = 'starting';
  private message = 'starting';
  private started = false;
  private closed = false;
  private backoffMs = BACKOFF_MIN_MS;
  private nextAttemptAt = 0;
  private lastOpenError = '';
  private connections = 0;
  /** Counters of connections already closed (the shim's restart at zero per connection). */
  private readonly carried: Record<(typeof COUNTERS)[number], number> = {
    callbacks: 0,
    frames: 0,
    ringOverruns: 0,
    droppedFrames: 0,
    xruns: 0,
    xrunFrames: 0,
    quantumChanges: 0,
    quantumChangeXruns: 0,
  };
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));
  private readonly log: Logger;
  private readonly target: string;
  private _lastReadNs = { first: 0n, last: 0n, at: 0n };
  /** The connection of the last non-empty read (its timestamps are read lazily). */
  private readFrom: PwConnection | null = null;

  /** node.latency asked for now (input.latency_frames or input.relaxed_latency_frames). */
  private latency: number;

  constructor(readonly options: PipewireSourceOptions) {
    const ch = options.channels;
    if (!Number.isInteger(ch) || ch < 1 || ch > MAX_CHANNELS) throw new RangeError(`channels must be 1..${MAX_CHANNELS}, got ${ch}`);
    checkLatency(options.latencyFrames);
    this.kind = options.mode;
    this.channels = ch;
    this.latency = options.latencyFrames;
    this.target = options.mode === 'pipewire-sink' ? (options.sinkName ?? 'hark') : options.device;
    this.log = logger(`pipewire ${this.target || 'default'}`);
  }

  get state(): SourceState {
    return this._state;
  }

  /**
   * Connect (or start retrying). Throws PipewireLibraryMissingError when libpipewire is not
   * installed — that never fixes itself; a missing daemon only makes the source `unavailable`.
   */
  start(): void {
    this.assertOpen();
    if (this.started) return;
    loadPipewire();
    this.started = true;
    this.tryConnect();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropConnection();
    this.setState('closed', 'closed');
  }

  wait(timeoutMs: number, minFrames?: number): boolean {
    this.assertOpen();
    this.poll();
    const c = this.conn;
    if (c) {
      const ok = c.wait(timeoutMs, minFrames ?? this.options.wakeFrames ?? this.latency);
      if (!ok) this.poll(); // (a running source is polled on the next call anyway)
      return ok && this.conn !== null;
    }
    // Not connected: sleep until the next attempt (or the timeout), then try.
    const ms = Math.max(0, Math.min(timeoutMs, this.nextAttemptAt - performance.now()));
    if (ms > 0) Atomics.wait(this.sleeper, 0, 0, ms);
    this.poll();
    return false;
  }

  setUrgentFlag(flag: Int32Array): void {
    this.urgent = flag;
    this.conn?.setUrgentFlag(flag);
  }
  private urgent?: Int32Array;

  setLatency(frames: number): void {
    this.assertOpen();
    checkLatency(frames);
    if (frames === this.latency) return;
    this.latency = frames;
    this.conn?.setLatency(frames);
  }

  read(dst: Float32Array, maxFrames: number): number {
    this.assertOpen();
    const c = this.conn;
    if (!c) return 0;
    const n = c.read(dst, maxFrames);
    if (n > 0) this.readFrom = c;
    return n;
  }

  /**
   * CLOCK_MONOTONIC ns (see monotonicNs() in ffi/pipewire.ts) of the PipeWire callbacks that
   * delivered the first and last frame of the last non-empty read(), and when that read ran.
   * (Read lazily, so the hot path allocates nothing.)
   */
  get lastReadTimestamps(): { firstQuantumNs: bigint; lastQuantumNs: bigint; readNs: bigint } {
    const c = this.readFrom;
    if (c && !c.closed) {
      const r = c.lastRead;
      this._lastReadNs = { first: r.firstQuantumNs, last: r.lastQuantumNs, at: r.readNs };
    }
    return { firstQuantumNs: this._lastReadNs.first, lastQuantumNs: this._lastReadNs.last, readNs: this._lastReadNs.at };
  }

  captureNs(): bigint {
    const c = this.readFrom;
    return c && !c.closed ? c.lastReadLastQuantumNs : 0n;
  }

  /** CLOCK_MONOTONIC ns of the newest quantum's callback (0n when not connected). */
  get lastQuantumTimestampNs(): bigint {
    return this.conn ? this.conn.lastQuantumTimestampNs : 0n;
  }

  status(): SourceStatus {
    if (!this.closed) this.poll();
    const s = this.conn ? this.conn.stats() : null;
    const cur = (k: (typeof COUNTERS)[number]) => this.carried[k] + (s ? s[k] : 0);
    let lastError: string | null = this.lastOpenError || null;
    if (this.conn) lastError = this.conn.lastError() || lastError;
    return {
      kind: this.kind,
      state: this._state,
      message: this.message,
      device: this.target,
      format: { rate: SAMPLE_RATE, channels: this.channels, sampleFormat: 'f32' },
      stats: {
        callbacks: cur('callbacks'),
        frames: cur('frames'),
        ringOverruns: cur('ringOverruns'),
        xruns: cur('xruns'),
        /** Frames of the graph's own clock that those xruns skipped (the graph was late: the machine stopped). */
        xrunFrames: cur('xrunFrames'),
        quantumChanges: cur('quantumChanges'),
        quantumChangeXruns: cur('quantumChangeXruns'),
        droppedFrames: cur('droppedFrames'),
        quantum: s?.quantum || null,
        graphRate: s?.graphRate || null,
        negotiatedRate: s?.negotiatedRate || null,
        negotiatedChannels: s?.negotiatedChannels || null,
        framesPerCallback: s?.framesPerCallback || null,
        ringFill: s?.ringFill ?? 0,
        latencyFrames: this.latency,
        streamNodeId: s?.streamNodeId || null,
        targetNodeId: s?.targetNodeId || null,
        connections: this.connections,
        streamsCreated: s?.streamsCreated ?? 0,
        lastError,
      },
    };
  }

  /** Advance the state machine: notice a dead connection, reconnect when due, map the shim's state. */
  private poll(): void {
    if (!this.started || this.closed) return;
    let c = this.conn;
    if (c) {
      const st = c.state();
      if (st.connLost) {
        const why = c.lastError() || 'PipeWire connection lost';
        this.dropConnection();
        this.lastOpenError = why;
        this.backoffMs = BACKOFF_MIN_MS;
        this.nextAttemptAt = performance.now() + this.backoffMs;
        this.setState('unavailable', `PipeWire unavailable (${why}); retrying`);
        return;
      }
      this.mapState(st.dev, st.synced);
      return;
    }
    if (performance.now() >= this.nextAttemptAt) {
      this.tryConnect();
      c = this.conn;
    }
  }

  private mapState(dev: DevState, synced: boolean): void {
    const name = this.target;
    if (!synced) return this.setState('starting', `connecting to PipeWire`);
    switch (dev) {
      case DevState.Running:
        return this.setState('running', name ? `capturing ${name}` : 'capturing the default source');
      case DevState.Waiting:
        return this.setState('waiting', name ? `waiting for ${name}` : 'waiting for the default source');
      case DevState.Lost:
        return this.setState('lost', 'device lost');
      default:
        return this.setState('starting', name ? `connecting to ${name}` : 'connecting to the default source');
    }
  }

  private tryConnect(): void {
    try {
      this.conn = PwConnection.open({
        mode: this.options.mode === 'pipewire-sink' ? 'sink' : 'capture',
        target: this.target,
        channels: this.channels,
        latencyFrames: this.latency,
        remote: this.options.remote,
      });
      this.connections++;
      if (this.urgent) this.conn.setUrgentFlag(this.urgent);
      this.backoffMs = BACKOFF_MIN_MS;
      this.lastOpenError = '';
      this.mapState(DevState.Starting, false);
    } catch (e) {
      if (e instanceof PipewireLibraryMissingError || e instanceof PipewireClosedError) throw e;
      this.lastOpenError = (e as Error).message;
      this.nextAttemptAt = performance.now() + this.backoffMs;
      this.setState('unavailable', `PipeWire unavailable (${this.lastOpenError}); retrying in ${(this.backoffMs / 1000).toFixed(2)} s`);
      this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    }
  }

  private dropConnection(): void {
    const c = this.conn;
    if (!c) return;
    if (this.readFrom === c) {
      void this.lastReadTimestamps; // keep the last values
      this.readFrom = null;
    }
    const s = c.stats();
    for (const k of COUNTERS) this.carried[k] += s[k];
    this.conn = null;
    c.close();
  }

  private setState(state: SourceState, message: string): void {
    if (state === this._state && message === this.message) return;
    const was = this._state;
    this._state = state;
    this.message = message;
    if (state !== was) this.log[state === 'lost' || state === 'unavailable' ? 'warn' : 'info'](`${was} → ${state}: ${message}`);
  }

  private assertOpen(): void {
    if (this.closed) throw new PipewireClosedError('PipewireSource');
  }
}
