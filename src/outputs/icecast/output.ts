/**
 * One `[[icecast]]` output: the connector (PUT, or SOURCE for an older server) and the framing
 * (MP3 frames as they come, or Ogg/Opus pages) and titles; the shared LinkHandler (link.ts)
 * owns its state, retries and counters. It never blocks the pipeline: packets that arrive
 * while it is not live are dropped, and a dead server is noticed by the connection itself.
 */
import { MAX_DELAY_MS } from '../../audio/pipeline.ts';
import type { EncoderSpec } from '../../codecs/index.ts';
import type { EncodedPacket } from '../../codecs/encoder.ts';
import { OggOpusMuxer, type OggMuxer } from '../../codecs/ogg.ts';
import { OggFlacMuxer } from '../../codecs/flac.ts';
import { splitMp3 } from '../preroll.ts';
import { logger, type Logger } from '../../log.ts';
import type { BackoffPolicy } from '../backoff.ts';
import { LinkHandler, type Connector, type LinkFailure, type OutputStatus } from '../link.ts';
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
  /** The program it carries ([[program]] id; default main). */
  program?: string;
  title?: string;
  connect?: Partial<ConnectOptions>;
  backoff?: BackoffPolicy;
  random?: () => number;
  /** Called after every state change, with the shared status record. */
  onChange?: (s: OutputStatus) => void;
  /** Whether the config turns it on (default true): shown in OutputStatus. */
  enabled?: boolean;
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

export class IcecastOutput implements Connector<SourceConnection> {
  private readonly handler: LinkHandler<SourceConnection>;
  private unsubscribe?: () => void;
  private readonly log: Logger;
  private readonly connectOpts: ConnectOptions;
  private method: SourceMethod = 'PUT';
  private muxer?: OggMuxer;
  private metadataError: string | null = null;
  private title: string;

  constructor(
    private readonly source: PacketSource,
    readonly opts: IcecastOutputOptions,
  ) {
    this.log = logger(`icecast ${opts.id}`);
    this.connectOpts = { ...DEFAULT_CONNECT, userAgent: USER_AGENT, ...opts.connect };
    this.title = opts.title ?? '';
    const t = opts.target;
    this.handler = new LinkHandler(this, {
      kind: 'icecast',
      id: opts.id,
      log: this.log,
      enabled: opts.enabled,
      backoff: opts.backoff,
      random: opts.random,
      where: `${t.host}:${t.port}${t.mount}`,
      authHint: 'check user and password',
      busyText: `another source is connected to ${t.mount}`,
      liveText: t.tls?.verify === false ? "live (the server's certificate is not checked)" : 'live',
      onLive: (conn) => this.onLive(conn),
      onDrop: () => {
        this.muxer = undefined;
      },
      onChange: () => opts.onChange?.(this.outputStatus()),
    });
  }

  get state(): IcecastState {
    return this.handler.state;
  }

  get id(): string {
    return this.opts.id;
  }

  get spec(): EncoderSpec {
    return this.opts.spec;
  }

  /** The program it carries (default main). */
  get program(): string {
    return this.opts.program ?? 'main';
  }

  /**
   * VOX going live (vox.ts): the next start sends the audio from before the trigger first, the
   * `packets` of a pre-roll ring on this output's encoder (the `record` tap, which off air does
   * not silence), asked for when the connection is up, and goes on from the same encoder. Only a
   * start within `forMs` uses it.
   */
  armPreroll(packets: () => readonly EncodedPacket[], forMs = 2000): void {
    this.armed = { packets, until: Date.now() + forMs };
  }
  private armed: { packets: () => readonly EncodedPacket[]; until: number } | null = null;
  /** The pre-roll of this start, sent once its connection is up. */
  private preroll: (() => readonly EncodedPacket[]) | null = null;
  /** The end (48 kHz frames) of the pre-roll sent: the live packets go on from there, no overlap. */
  private prerollEnd = -Infinity;

  /** Begin streaming (and retrying). Idempotent while started. */
  start(): void {
    if (this.handler.state !== 'stopped') return;
    if (this.opts.target.tls?.verify === false) this.log.warn(UNVERIFIED_WARNING);
    const armed = this.armed;
    this.armed = null;
    this.preroll = armed && Date.now() <= armed.until ? armed.packets : null;
    this.prerollEnd = -Infinity;
    // Icecast listeners buffer seconds: packets may come in 250 ms batches (fewer wake-ups).
    this.unsubscribe = this.source.subscribe(this.opts.spec, (p) => this.onPacket(p), {
      maxDelayMs: MAX_DELAY_MS.relay,
      ...(this.preroll ? { tap: 'record' as const } : {}),
      ...(this.opts.program ? { program: this.opts.program } : {}),
    });
    this.handler.start();
  }

  /** Stop streaming: closes the connection and cancels retries (stopped at once). Idempotent. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.handler.close();
  }

  /** Change the title: MP3 through Icecast's admin call, Ogg as a new chained stream. */
  setTitle(title: string): void {
    if (title === this.title) return;
    this.title = title;
    if (this.handler.state !== 'live') return; // sent when the next connection goes live
    if (this.opts.info.format !== 'mp3') this.chainTitle();
    else void this.sendMp3Title();
  }

  status(now = Date.now()): IcecastStatus {
    const t = this.opts.target;
    const h = this.handler.status(now);
    return {
      id: this.opts.id,
      ...h,
      server: `${t.host}:${t.port}`,
      mount: t.mount,
      format: this.opts.info.format,
      bitrate_kbps: this.opts.info.bitrateKbps,
      method: this.method,
      title: this.title,
      metadata_error: this.metadataError,
      tls: !t.tls ? 'off' : t.tls.verify ? 'verified' : 'unverified',
      warning: t.tls && !t.tls.verify ? UNVERIFIED_WARNING : null,
    };
  }

  outputStatus(now = Date.now()): OutputStatus {
    return this.handler.outputStatus(now);
  }

  /** Connector: one source connection, PUT first. */
  connect(): Promise<SourceConnection> {
    const t = this.opts.target;
    this.log.debug(`connecting to ${t.host}:${t.port}${t.mount} (${this.method}${t.tls ? ', TLS' : ''})`);
    return SourceConnection.open(t, this.method, this.opts.info, this.connectOpts);
  }

  /** Connector: what an Icecast error means for the retry policy. */
  failure(e: unknown): LinkFailure {
    const err = e instanceof IcecastError ? e : new IcecastError('network', String(e));
    if (err.kind === 'method' && this.method === 'PUT') {
      // Icecast before 2.4 knows only SOURCE; ask again the old way, at once.
      this.log.info(`${err.message}: falling back to SOURCE`);
      this.method = 'SOURCE';
      return { kind: 'transient', message: err.message, retryNow: true };
    }
    return { kind: err.kind === 'auth' ? 'auth' : err.kind === 'mount_in_use' ? 'busy' : 'transient', message: err.message };
  }

  private onLive(conn: SourceConnection): void {
    const t = this.opts.target;
    const secured = !t.tls ? '' : t.tls.verify ? ', TLS' : `, TLS without checking the certificate${conn.certificateProblem ? `, which would be refused: ${conn.certificateProblem}` : ''}`;
    this.log.info(`live on ${t.host}:${t.port}${t.mount} (${this.method}, ${this.opts.info.format} ${this.opts.info.bitrateKbps} kbit/s${secured})`);
    if (this.opts.info.format === 'ogg-opus') {
      this.muxer = new OggOpusMuxer({
        channels: this.opts.info.channels,
        preSkip: OPUS_PRE_SKIP,
        tags: this.tags(),
      });
    } else if (this.opts.info.format === 'ogg-flac') {
      // One FLAC frame (85 ms) per page; frames numbered from 0 in each chained link.
      const spec = this.opts.spec;
      this.muxer = new OggFlacMuxer({
        channels: this.opts.info.channels,
        bitsPerSample: spec.codec === 'flac' ? spec.bitsPerSample : 16,
        tags: this.tags(),
        maxPageBytes: 65_025,
      });
    } else if (this.title) {
      void this.sendMp3Title();
    }
    const preroll = this.preroll?.() ?? [];
    this.preroll = null;
    if (preroll.length) {
      for (const p of preroll) this.send(conn, p);
      const last = preroll[preroll.length - 1]!;
      this.prerollEnd = last.pts + last.frames;
      this.log.info(`began with ${((this.prerollEnd - preroll[0]!.pts) / 48000).toFixed(1)} s from before VOX went live`);
    }
  }

  private onPacket(p: EncodedPacket): void {
    const conn = this.handler.link;
    if (!conn || !conn.live) return;
    const end = this.prerollEnd;
    if (end > -Infinity) {
      if (p.pts + p.frames <= end) return; // sent in the pre-roll
      if (p.pts < end && this.opts.info.format === 'mp3') {
        // A joined MP3 packet that the pre-roll's end cuts: only its frames after it.
        for (const f of splitMp3(p) ?? [p]) if (f.pts >= end) this.send(conn, f);
        return;
      }
    }
    this.send(conn, p);
  }

  private send(conn: SourceConnection, p: EncodedPacket): void {
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
    const conn = this.handler.link;
    if (!this.muxer || !conn) return;
    // RFC 7845 §3 / RFC 3533 §4: a new logical stream, chained, carries the new OpusTags (or
    // FLAC's VORBIS_COMMENT); Icecast passes it on to listeners, who show the new title.
    for (const page of this.muxer.newChain(this.tags())) conn.write(page);
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
