/**
 * One `[[srt]]` output: MPEG-TS over SRT to a studio or transmitter, as caller or listener,
 * reconnecting under the shared LinkHandler (link.ts). The mechanics live elsewhere: the TS
 * muxer in codecs/mpegts.ts, libsrt in ffi/srt.ts; this file owns the lifecycle.
 *
 * Every libsrt socket here is non-blocking. Connecting, accepting and noticing a broken link
 * are a look at the socket's state on a timer (20 ms while connecting, 50 ms while listening,
 * 250 ms while live), so the JS thread never waits inside libsrt.
 *
 * Listener mode serves one receiver at a time: while one is connected, a second caller is
 * accepted and closed at once (logged), and the socket keeps listening for the next.
 */
import { lookup } from 'node:dns/promises';
import {
  SRT_REJ_BADSECRET,
  SRT_REJ_PEER,
  SRT_REJ_TIMEOUT,
  SRT_REJ_UNSECURE,
  SRT_REJC_PREDEFINED,
  SrtError,
  SrtSocket,
  rejectReasonText,
  srtTimeNowUs,
  type SrtSocketOptions,
  type SrtStats,
} from '../../../ffi/srt.ts';
import type { EncodedPacket, EncoderSpec } from '../../codecs/index.ts';
import { TsMuxer, srtMessages, type TsPayload } from '../../codecs/mpegts.ts';
import type { SrtTarget } from '../../config/srt-url.ts';
import { logger, type Logger } from '../../log.ts';
import type { BackoffPolicy } from '../backoff.ts';
import { LinkHandler, type Connector, type Link, type LinkFailure, type OutputStatus } from '../link.ts';
import type { PacketSource } from '../packet-source.ts';
import { monotonicMs } from '../../../ffi/libc.ts';

/** Why a connection did not come up or went down. */
export class SrtLinkError extends Error {
  override readonly name = 'SrtLinkError';
  constructor(
    message: string,
    /** libsrt's reject reason (SRT_REJ_*), 0 when none. */
    readonly rejectReason = 0,
  ) {
    super(message);
  }
}

const CONNECT_POLL_MS = 20;
const ACCEPT_POLL_MS = 50;
const WATCH_MS = 250;

/** A live SRT connection carrying the TS. */
export class SrtLink implements Link {
  bytes = 0;
  /** TS messages libsrt's send buffer had no room for (dropped, not queued). */
  dropped = 0;
  private readonly muxer: TsMuxer;
  private endFn?: (err: unknown) => void;
  private ended = false;
  private readonly watch: ReturnType<typeof setInterval>;
  /** libsrt's clock (µs) − hark's monotonic clock (ms) × 1000: both CLOCK_MONOTONIC on Linux, measured anyway. */
  private readonly clockOffsetUs: number;
  /** The source time of the last message (µs, libsrt's clock): never earlier than the link, never going back. */
  private lastSrcUs: number;

  constructor(
    private readonly sock: SrtSocket,
    readonly peer: string,
    payload: TsPayload,
    channels: number,
  ) {
    this.muxer = new TsMuxer({ payload, channels });
    const now = srtTimeNowUs();
    this.clockOffsetUs = now - monotonicMs() * 1000;
    this.lastSrcUs = now;
    this.watch = setInterval(() => {
      const st = this.sock.state;
      if (st === 'broken' || st === 'closed' || st === 'nonexist') this.end(new SrtLinkError(`the receiver went away (socket ${st})`));
    }, WATCH_MS);
  }

  send(p: EncodedPacket): void {
    if (this.ended) return;
    try {
      const src = this.sourceTime(p);
      for (const m of srtMessages(this.muxer.mux(p.data, p.pts))) {
        const n = this.sock.send(m, src);
        if (n === 0) this.dropped++;
        else this.bytes += n;
      }
    } catch (e) {
      this.end(e instanceof SrtError ? new SrtLinkError(`send failed: ${e.reason}`) : e);
    }
  }

  /**
   * The packet's source time for SRT (µs on libsrt's clock): when its last frame was captured
   * (the audio worker's `at`), not when this thread got round to sending it. The receiver plays
   * each message that long after it (TSBPD), so this thread's and the worker's scheduling
   * (the packets reach it in batches, up to a few ms late) no longer reaches the far end as
   * jitter: SRT's latency absorbs it. Never before the link opened (libsrt refuses such a
   * message) nor after now, and never earlier than the message before.
   */
  private sourceTime(p: EncodedPacket): number {
    const now = srtTimeNowUs();
    const at = p.at === undefined ? now : p.at * 1000 + this.clockOffsetUs;
    const t = Math.min(now, Math.max(this.lastSrcUs, at));
    this.lastSrcUs = t;
    return t;
  }

  /** libsrt's statistics of this connection; null once closed. */
  stats(): SrtStats | null {
    if (this.sock.closed) return null;
    try {
      return this.sock.stats();
    } catch {
      return null;
    }
  }

  onEnd(fn: (err: unknown) => void): void {
    this.endFn = fn;
  }

  private end(err: unknown): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.watch);
    this.endFn?.(err);
  }

  close(): void {
    this.ended = true;
    clearInterval(this.watch);
    this.sock.close();
  }
}

export interface SrtOutputOptions {
  id: string;
  /** The URL as configured (shown as "where", with any passphrase in the query removed). */
  url: string;
  target: SrtTarget;
  payload: TsPayload;
  spec: EncoderSpec;
  program?: string;
  enabled?: boolean;
  backoff?: BackoffPolicy;
  onChange?: (s: OutputStatus) => void;
  /** libsrt settings tests shorten (connect timeout, peer idle timeout). */
  socket?: Partial<SrtSocketOptions>;
}

/** The URL without secrets: srt://host:port?mode=… */
export function srtWhere(t: SrtTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `srt://${host}:${t.port}?mode=${t.mode}`;
}

export class SrtOutput implements Connector<SrtLink> {
  private readonly handler: LinkHandler<SrtLink>;
  private readonly log: Logger;
  private unsubscribe?: () => void;
  private listenSock: SrtSocket | null = null;
  private listenTimer?: ReturnType<typeof setInterval>;
  private waiting: { resolve: (l: SrtLink) => void; reject: (e: unknown) => void } | null = null;
  /** A receiver that called while no link was live and nobody waited yet. */
  private pending: { sock: SrtSocket; peer: string } | null = null;
  private bytesDropped = 0;
  private refusedExtra = 0;
  private lastStats: SrtStats | null = null;
  readonly where: string;

  constructor(
    private readonly source: PacketSource,
    readonly opts: SrtOutputOptions,
  ) {
    this.log = logger(`srt ${opts.id}`);
    this.where = srtWhere(opts.target);
    const t = opts.target;
    this.handler = new LinkHandler(this, {
      kind: 'srt',
      id: opts.id,
      log: this.log,
      enabled: opts.enabled,
      backoff: opts.backoff,
      where: this.where,
      authHint: 'wrong passphrase (the receiver uses another passphrase, or none)',
      connectingText: t.mode === 'listener' ? `waiting for a receiver to call port ${t.port}` : undefined,
      liveText: t.mode === 'listener' ? 'live (one receiver at a time)' : undefined,
      lostText: 'link lost',
      onLive: (link) => this.log.info(`live: ${opts.payload} to ${link.peer}, latency ${t.latencyMs} ms${t.passphrase ? `, AES-${t.pbkeylen * 8}` : ''}`),
      onDrop: (link) => {
        this.bytesDropped += link.dropped;
        this.lastStats = link.stats();
      },
      onChange: () => opts.onChange?.(this.outputStatus()),
    });
  }

  get id(): string {
    return this.opts.id;
  }

  get state(): string {
    return this.handler.stateName;
  }

  start(): void {
    if (this.handler.state !== 'stopped') return;
    this.unsubscribe = this.source.subscribe(this.opts.spec, (p) => this.handler.link?.send(p), this.opts.program ? { program: this.opts.program } : {});
    this.handler.start();
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.handler.close();
    this.stopListening();
  }

  private socketOptions(): SrtSocketOptions {
    const t = this.opts.target;
    return {
      latencyMs: t.latencyMs,
      passphrase: t.passphrase,
      pbkeylen: t.pbkeylen,
      streamId: t.mode === 'caller' ? t.streamId : '',
      connectTimeoutMs: 3000,
      ...this.opts.socket,
    };
  }

  /** Connector: call the receiver, or wait for it to call. */
  connect(signal: AbortSignal): Promise<SrtLink> {
    return this.opts.target.mode === 'caller' ? this.call(signal) : this.accept(signal);
  }

  private async call(signal: AbortSignal): Promise<SrtLink> {
    const t = this.opts.target;
    let ip: string;
    try {
      ip = (await lookup(t.host)).address;
    } catch (e) {
      throw new SrtLinkError(`cannot resolve ${t.host}: ${(e as Error).message}`);
    }
    if (signal.aborted) throw new SrtLinkError('stopped');
    const sock = SrtSocket.create(this.socketOptions());
    try {
      sock.connect(ip, t.port);
    } catch (e) {
      sock.close();
      throw e;
    }
    return new Promise<SrtLink>((resolve, reject) => {
      const timer = setInterval(() => {
        if (signal.aborted) {
          clearInterval(timer);
          sock.close();
          reject(new SrtLinkError('stopped'));
          return;
        }
        const st = sock.state;
        if (st === 'connected') {
          clearInterval(timer);
          resolve(new SrtLink(sock, `${t.host}:${t.port}`, this.opts.payload, this.opts.spec.channels));
        } else if (st === 'broken' || st === 'closed' || st === 'nonexist') {
          clearInterval(timer);
          const reason = sock.rejectReason;
          sock.close();
          reject(new SrtLinkError(rejectMessage(reason, `${t.host}:${t.port}`), reason));
        }
      }, CONNECT_POLL_MS);
    });
  }

  private listen(): SrtSocket {
    if (this.listenSock) return this.listenSock;
    const t = this.opts.target;
    const sock = SrtSocket.create(this.socketOptions());
    try {
      sock.bind(t.host, t.port);
      sock.listen(1);
    } catch (e) {
      sock.close();
      throw e;
    }
    this.listenSock = sock;
    this.listenTimer = setInterval(() => this.pollAccept(), ACCEPT_POLL_MS);
    this.log.info(`listening on ${t.host || '*'}:${t.port}`);
    return sock;
  }

  private pollAccept(): void {
    const l = this.listenSock;
    if (!l) return;
    let s: SrtSocket | null;
    try {
      s = l.accept();
    } catch (e) {
      this.waiting?.reject(e);
      this.waiting = null;
      return;
    }
    if (!s) return;
    let peer = 'receiver';
    try {
      const a = s.peerAddress();
      peer = `${a.host}:${a.port}`;
    } catch {
      // The peer left between accept and here: the link's watch will see it.
    }
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w.resolve(new SrtLink(s, peer, this.opts.payload, this.opts.spec.channels));
    } else if (!this.handler.link && !this.pending) {
      // Between two links (the handler's short wait after a loss): kept for the next accept().
      this.pending = { sock: s, peer };
    } else {
      this.refusedExtra++;
      this.log.warn(`refused a second receiver from ${peer}: this destination serves one receiver at a time`);
      s.close();
    }
  }

  private accept(signal: AbortSignal): Promise<SrtLink> {
    this.listen();
    const p = this.pending;
    this.pending = null;
    if (p) {
      const st = p.sock.state;
      if (st === 'connected') return Promise.resolve(new SrtLink(p.sock, p.peer, this.opts.payload, this.opts.spec.channels));
      p.sock.close();
    }
    return new Promise<SrtLink>((resolve, reject) => {
      this.waiting = { resolve, reject };
      signal.addEventListener('abort', () => {
        if (this.waiting?.resolve === resolve) this.waiting = null;
        reject(new SrtLinkError('stopped'));
      });
    });
  }

  private stopListening(): void {
    clearInterval(this.listenTimer);
    this.listenTimer = undefined;
    this.listenSock?.close();
    this.listenSock = null;
    this.waiting = null;
    this.pending?.sock.close();
    this.pending = null;
  }

  /** Connector: a wrong passphrase waits longer; a refusal or a timeout retries with backoff. */
  failure(e: unknown): LinkFailure {
    if (e instanceof SrtLinkError) {
      const r = e.rejectReason;
      if (r === SRT_REJ_BADSECRET || r === SRT_REJ_UNSECURE) return { kind: 'auth', message: e.message };
      if (r === SRT_REJ_PEER || r >= SRT_REJC_PREDEFINED) return { kind: 'transient', message: e.message, state: 'refused' };
      return { kind: 'transient', message: e.message };
    }
    if (e instanceof SrtError) {
      // A listener that cannot bind (port taken) is told so and retried.
      return { kind: 'transient', message: `${e.operation}: ${e.reason}` };
    }
    return { kind: 'transient', message: e instanceof Error ? e.message : String(e) };
  }

  /** The link's statistics now (or of the last connection), for the status record. */
  linkStats(): SrtStats | null {
    return this.handler.link?.stats() ?? this.lastStats;
  }

  status(now = Date.now()) {
    const h = this.handler.status(now);
    const s = this.linkStats();
    const t = this.opts.target;
    return {
      id: this.opts.id,
      url: this.where,
      mode: t.mode,
      ...h,
      state: this.state,
      payload: this.opts.payload,
      bitrate_kbps: 'bitrateKbps' in this.opts.spec ? this.opts.spec.bitrateKbps : null,
      latency_ms: t.latencyMs,
      encrypted: t.passphrase !== '',
      peer: this.handler.link?.peer ?? null,
      reconnects: Math.max(0, h.connects - 1),
      dropped_messages: this.bytesDropped + (this.handler.link?.dropped ?? 0),
      refused_receivers: this.refusedExtra,
      link: s && {
        rtt_ms: round(s.rttMs, 2),
        send_rate_kbps: round(s.sendMbps * 1000, 1),
        bandwidth_kbps: round(s.bandwidthMbps * 1000, 0),
        packets_sent: s.pktSent,
        packets_lost: s.pktSndLoss,
        packets_retransmitted: s.pktRetrans,
        packets_dropped: s.pktSndDrop,
        send_buffer_ms: s.msSndBuf,
        latency_ms: s.msSndTsbPdDelay,
      },
    };
  }

  outputStatus(now = Date.now()): OutputStatus {
    return this.handler.outputStatus(now);
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** What a reject reason means for the person running the link. */
export function rejectMessage(reason: number, where: string): string {
  switch (reason) {
    case SRT_REJ_BADSECRET:
      return `wrong passphrase: ${where} uses another one`;
    case SRT_REJ_UNSECURE:
      return `passphrase mismatch: one side has a passphrase and the other has none (${where})`;
    case SRT_REJ_TIMEOUT:
      return `no answer from ${where} (is the receiver listening?)`;
    case SRT_REJ_PEER:
      return `the receiver at ${where} refused the connection`;
    default:
      if (reason >= SRT_REJC_PREDEFINED) return `the receiver at ${where} refused the connection (code ${reason}: check stream_id)`;
      return `connection to ${where} failed: ${reason ? rejectReasonText(reason) : 'broken'}`;
  }
}
