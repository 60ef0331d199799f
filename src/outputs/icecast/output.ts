/**
 * One `[[icecast]]` output: owns its connection's lifecycle, retries, framing (MP3 frames as
 * they come, or Ogg/Opus pages) and titles. It never blocks the pipeline: packets that arrive
 * while it is not live are dropped, and a dead server is noticed by the connection itself.
 */
import { MAX_DELAY_MS } from '../../audio/pipeline.ts';
import type { EncoderSpec } from '../../codecs/index.ts';
import type { EncodedPacket } from '../../codecs/encoder.ts';
import { OggOpusMuxer } from '../../codecs/ogg.ts';
import { logger, type Logger } from '../../log.ts';
import { Backoff, DEFAULT_BACKOFF, type BackoffPolicy, type FailureKind } from '../backoff.ts';
import type { PacketSource } from '../packet-source.ts';
import { DEFAULT_CONNECT, SourceConnection, type ConnectOptions } from './connection.ts';
import { IcecastError, updateMetadata, type SourceMethod, type StreamInfo } from './protocol.ts';
import type { IcecastTarget } from '../../config/icecast-target.ts';
import { VERSION } from '../../version.ts';

/** What an Icecast output is doing. */
export type IcecastState = 'stopped' | 'connecting' | 'live' | 'retrying' | 'auth_failed' | 'mount_in_use';

/**
 * libopus's encoder delay at 48 kHz for the audio/voip applications (Fs/400 + Fs/250, see
 * opus_encoder.c), written as the Ogg pre-skip (RFC 7845 §4.2). The encoder runs in the audio
 * worker, so the value is fixed here rather than asked of it.
 */
export const OPUS_PRE_SKIP = 312;

export interface IcecastOutputOptions {
  /** Label for logs and the API, e.g. "main" → `[icecast main]`. */
  id: string;
  target: IcecastTarget;
  info: StreamInfo;
  spec: EncoderSpec;
  title?: string;
  connect?: Partial<ConnectOptions>;
  backoff?: BackoffPolicy;
  random?: () => number;
}

export interface IcecastStatus {
  id: string;
  state: IcecastState;
  /** The state as a person reads it: "retrying in 4 s: connection refused by …". */
  status: string;
  server: string;
  mount: string;
  format: StreamInfo['format'];
  bitrate_kbps: number;
  method: SourceMethod;
  bytes: number;
  connected_since: string | null;
  last_error: string | null;
  next_retry_at: string | null;
  retry_in_s: number | null;
  connects: number;
  attempts: number;
  title: string;
  metadata_error: string | null;
  /** How the link is secured: plain TCP, TLS with the certificate checked, or TLS unchecked. */
  tls: 'off' | 'verified' | 'unverified';
  /** Something the owner should know while it works, e.g. an unchecked certificate. */
  warning: string | null;
}

/** The warning for an entry with `tls_verify = false`, on the page and in the log. */
export const UNVERIFIED_WARNING = "the server's certificate is not checked (tls_verify = false): an impostor at this address would get the source password";

const USER_AGENT = `hark/${VERSION}`;
/** A "mount in use" this soon after our own connection dropped is probably that connection. */
const STALE_SOURCE_MS = 60_000;
const STALE_RETRY_MS = 5000;

export class IcecastOutput {
  private _state: IcecastState = 'stopped';
  private conn?: SourceConnection;
  private unsubscribe?: () => void;
  private timer?: ReturnType<typeof setTimeout>;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private readonly connectOpts: ConnectOptions;
  private method: SourceMethod = 'PUT';
  private muxer?: OggOpusMuxer;
  private lastError: string | null = null;
  private metadataError: string | null = null;
  private nextRetryAt: number | null = null;
  private liveSince: Date | null = null;
  /** When our own last connection to the mount dropped. */
  private lastDropAt = 0;
  private bytesBefore = 0;
  private connects = 0;
  private attempts = 0;
  private title: string;
  /** Bumped on every start/close, so a late answer from an old attempt is ignored. */
  private generation = 0;

  constructor(
    private readonly source: PacketSource,
    readonly opts: IcecastOutputOptions,
  ) {
    this.backoff = new Backoff(opts.backoff ?? DEFAULT_BACKOFF, opts.random);
    this.log = logger(`icecast ${opts.id}`);
    this.connectOpts = { ...DEFAULT_CONNECT, userAgent: USER_AGENT, ...opts.connect };
    this.title = opts.title ?? '';
  }

  get state(): IcecastState {
    return this._state;
  }

  get id(): string {
    return this.opts.id;
  }

  /** Begin streaming (and retrying). Idempotent while started. */
  start(): void {
    if (this._state !== 'stopped') return;
    this.generation++;
    this.backoff.reset();
    if (this.opts.target.tls?.verify === false) this.log.warn(UNVERIFIED_WARNING);
    // Icecast listeners buffer seconds: packets may come in 250 ms batches (fewer wake-ups).
    this.unsubscribe = this.source.subscribe(this.opts.spec, (p) => this.onPacket(p), { maxDelayMs: MAX_DELAY_MS.relay });
    void this.attempt();
  }

  /** Stop streaming: closes the connection and cancels retries. Idempotent. */
  close(): void {
    if (this._state === 'stopped') return;
    this.generation++;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.dropConnection();
    this.nextRetryAt = null;
    this._state = 'stopped';
    this.log.info('stopped');
  }

  /** Change the title: MP3 through Icecast's admin call, Ogg as a new chained stream. */
  setTitle(title: string): void {
    if (title === this.title) return;
    this.title = title;
    if (this._state !== 'live') return; // sent when the next connection goes live
    if (this.opts.info.format === 'ogg-opus') this.chainTitle();
    else void this.sendMp3Title();
  }

  status(now = Date.now()): IcecastStatus {
    const t = this.opts.target;
    const retryIn = this.nextRetryAt === null ? null : Math.max(0, Math.ceil((this.nextRetryAt - now) / 1000));
    return {
      id: this.opts.id,
      state: this._state,
      status: this.describe(retryIn),
      server: `${t.host}:${t.port}`,
      mount: t.mount,
      format: this.opts.info.format,
      bitrate_kbps: this.opts.info.bitrateKbps,
      method: this.method,
      bytes: this.bytesBefore + (this.conn?.bytesSent ?? 0),
      connected_since: this.liveSince?.toISOString() ?? null,
      last_error: this.lastError,
      next_retry_at: this.nextRetryAt === null ? null : new Date(this.nextRetryAt).toISOString(),
      retry_in_s: retryIn,
      connects: this.connects,
      attempts: this.attempts,
      title: this.title,
      metadata_error: this.metadataError,
      tls: !t.tls ? 'off' : t.tls.verify ? 'verified' : 'unverified',
      warning: t.tls && !t.tls.verify ? UNVERIFIED_WARNING : null,
    };
  }

  private describe(retryIn: number | null): string {
    const again = retryIn === null ? '' : `retrying in ${retryIn} s`;
    switch (this._state) {
      case 'stopped':
        return 'stopped';
      case 'connecting':
        return `connecting to ${this.opts.target.host}:${this.opts.target.port}${this.opts.target.mount}`;
      case 'live':
        return this.opts.target.tls?.verify === false ? "live (the server's certificate is not checked)" : 'live';
      case 'retrying':
        return `${again}${this.lastError ? `: ${this.lastError}` : ''}`;
      case 'auth_failed':
        return `auth failed: check user and password (${again})`;
      case 'mount_in_use':
        return `mount in use: another source is connected to ${this.opts.target.mount} (${again})`;
    }
  }

  private async attempt(): Promise<void> {
    const gen = this.generation;
    this._state = 'connecting';
    this.nextRetryAt = null;
    this.attempts++;
    const t = this.opts.target;
    this.log.debug(`connecting to ${t.host}:${t.port}${t.mount} (${this.method}${t.tls ? ', TLS' : ''})`);
    let conn: SourceConnection;
    try {
      conn = await SourceConnection.open(t, this.method, this.opts.info, this.connectOpts);
    } catch (e) {
      if (gen !== this.generation) return;
      const err = e instanceof IcecastError ? e : new IcecastError('network', String(e));
      if (err.kind === 'method' && this.method === 'PUT') {
        // Icecast before 2.4 knows only SOURCE; ask again the old way, at once.
        this.log.info(`${err.message}: falling back to SOURCE`);
        this.method = 'SOURCE';
        return this.attempt();
      }
      return this.failed(err);
    }
    if (gen !== this.generation) {
      conn.close();
      return;
    }
    this.conn = conn;
    this.connects++;
    this._state = 'live';
    this.liveSince = new Date();
    this.lastError = null;
    conn.onEnd((err) => {
      if (gen !== this.generation || this.conn !== conn) return;
      const upMs = Date.now() - (this.liveSince?.getTime() ?? Date.now());
      this.lastDropAt = Date.now();
      this.dropConnection();
      this.backoff.connectionEnded(upMs);
      this.log.warn(`connection lost after ${Math.round(upMs / 1000)} s: ${err.message}`);
      this.failed(err);
    });
    const secured = !t.tls ? '' : t.tls.verify ? ', TLS' : `, TLS without checking the certificate${conn.certificateProblem ? `, which would be refused: ${conn.certificateProblem}` : ''}`;
    this.log.info(`live on ${t.host}:${t.port}${t.mount} (${this.method}, ${this.opts.info.format} ${this.opts.info.bitrateKbps} kbit/s${secured})`);
    if (this.opts.info.format === 'ogg-opus') {
      this.muxer = new OggOpusMuxer({
        channels: this.opts.info.channels,
        preSkip: OPUS_PRE_SKIP,
        tags: this.tags(),
      });
    } else if (this.title) {
      void this.sendMp3Title();
    }
  }

  private failed(err: IcecastError): void {
    const kind: FailureKind = err.kind === 'auth' ? 'auth' : err.kind === 'mount_in_use' ? 'busy' : 'transient';
    let delay: number;
    if (kind === 'busy' && Date.now() - this.lastDropAt < STALE_SOURCE_MS) {
      // Most likely our own dropped connection, which Icecast keeps until its source-timeout
      // (10 s by default) notices: check back every few seconds rather than every 30.
      delay = Math.max(STALE_RETRY_MS, this.backoff.next('transient'));
    } else {
      delay = this.backoff.next(kind);
    }
    this._state = kind === 'auth' ? 'auth_failed' : kind === 'busy' ? 'mount_in_use' : 'retrying';
    this.lastError = err.message;
    this.nextRetryAt = Date.now() + delay;
    const line = `${err.message}; retrying in ${(delay / 1000).toFixed(1)} s`;
    if (kind === 'transient') this.log.warn(line);
    else this.log.error(line);
    const gen = this.generation;
    this.timer = setTimeout(() => {
      if (gen === this.generation) void this.attempt();
    }, delay);
  }

  private dropConnection(): void {
    if (this.conn) {
      this.bytesBefore += this.conn.bytesSent;
      this.conn.close();
    }
    this.conn = undefined;
    this.muxer = undefined;
    this.liveSince = null;
  }

  private onPacket(p: EncodedPacket): void {
    const conn = this.conn;
    if (!conn || !conn.live) return;
    if (this.muxer) {
      for (const page of this.muxer.writePacket(p.data, p.frames)) conn.write(page);
    } else {
      conn.write(p.data);
    }
  }

  private tags(): Record<string, string> {
    const tags: Record<string, string> = { ENCODER: USER_AGENT };
    if (this.title) tags.TITLE = this.title;
    return tags;
  }

  private chainTitle(): void {
    if (!this.muxer || !this.conn) return;
    // RFC 7845 §3 / RFC 3533 §4: a new logical stream, chained, carries the new OpusTags;
    // Icecast passes it on to listeners, who show the new title.
    for (const page of this.muxer.newChain(this.tags())) this.conn.write(page);
    this.log.info(`title: ${JSON.stringify(this.title)} (new Ogg chain)`);
  }

  private async sendMp3Title(): Promise<void> {
    const title = this.title;
    try {
      await updateMetadata(this.opts.target, title, this.connectOpts.connectTimeoutMs);
      this.metadataError = null;
      this.log.info(`title: ${JSON.stringify(title)}`);
    } catch (e) {
      this.metadataError = (e as Error).message;
      this.log.warn(this.metadataError);
    }
  }
}
