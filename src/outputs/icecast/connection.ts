/**
 * One Icecast source connection over TCP, or TLS for an https:// server: connect (and, over
 * TLS, check the server's certificate), send the request head, read the answer, then stream.
 * It ends itself — and says why, once — when the server closes, half-closes, resets, or stops
 * reading (write timeout), so its owner never waits on a dead socket.
 */
import type { Socket } from 'bun';
import { classifyResponse, IcecastError, parseResponseHead, sourceRequest, type SourceMethod, type StreamInfo } from './protocol.ts';
import type { IcecastTarget } from '../../config/icecast-target.ts';
import { certificateReason, tlsFailure, tlsOptions, type TlsConnectOptions } from './tls.ts';

export interface ConnectOptions {
  /** TCP connect plus the server's answer must complete within this. */
  connectTimeoutMs: number;
  /** Queued bytes that make no progress for this long mean the server stopped reading. */
  writeTimeoutMs: number;
  /** More than this queued means the link cannot carry the stream. */
  maxQueueBytes: number;
  userAgent: string;
}

export const DEFAULT_CONNECT: ConnectOptions = {
  connectTimeoutMs: 5000,
  writeTimeoutMs: 10_000,
  maxQueueBytes: 1 << 20,
  userAgent: 'hark',
};

type Phase = 'connecting' | 'tls' | 'handshake' | 'live' | 'ended';

function networkError(e: unknown, t: IcecastTarget): IcecastError {
  const err = e as Error & { code?: string };
  const where = `${t.host}:${t.port}`;
  switch (err.code) {
    case 'ECONNREFUSED':
      return new IcecastError('network', `connection refused by ${where}`);
    case 'ECONNRESET':
      return new IcecastError('network', `connection reset by ${where}`);
    case 'ENOTFOUND':
    case 'EAI_NONAME':
    case 'DNS_ENOTFOUND':
      return new IcecastError('network', `host not found: ${t.host}`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new IcecastError('network', `${where} is unreachable`);
    case 'EPIPE':
      return new IcecastError('network', `${where} closed the connection`);
  }
  return new IcecastError('network', `${where}: ${err.message ?? String(e)}`);
}

/** A live source connection. Create with `SourceConnection.open`. */
export class SourceConnection {
  private socket?: Socket<undefined>;
  private phase: Phase = 'connecting';
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private lastProgress = performance.now();
  private watchdog?: ReturnType<typeof setInterval>;
  private endHandler?: (err: IcecastError) => void;
  /** Stream bytes the kernel accepted (the request head not included). */
  bytesSent = 0;
  /** The same, as the output contract names it (link.ts). */
  get bytes(): number {
    return this.bytesSent;
  }
  /** When the server accepted the stream. */
  readonly since = new Date();
  /**
   * Over TLS with verification off: why the certificate would have been refused (null when
   * it would pass, or when verification is on — then it was checked).
   */
  certificateProblem: string | null = null;

  private constructor(
    readonly target: IcecastTarget,
    readonly method: SourceMethod,
    private readonly opts: ConnectOptions,
  ) {}

  /**
   * Connect and hand over the stream. Resolves once the server answered 200; rejects with an
   * IcecastError (auth, mount_in_use, method, refused, timeout, network, protocol).
   */
  static open(target: IcecastTarget, method: SourceMethod, info: StreamInfo, opts: ConnectOptions = DEFAULT_CONNECT): Promise<SourceConnection> {
    const c = new SourceConnection(target, method, opts);
    return c.start(info);
  }

  /** Called once, when the connection ends by itself (not after close()). */
  onEnd(handler: (err: IcecastError) => void): void {
    this.endHandler = handler;
  }

  get queuedBytes(): number {
    return this.queued;
  }

  get live(): boolean {
    return this.phase === 'live';
  }

  /** Queue stream bytes. The buffer must not change afterwards (packets are shared). */
  write(data: Uint8Array): void {
    if (this.phase !== 'live' || data.byteLength === 0) return;
    if (this.queued === 0) {
      const n = this.socket!.write(data);
      if (n < 0) return this.fail(new IcecastError('network', 'the connection is closed'));
      this.bytesSent += n;
      this.lastProgress = performance.now();
      if (n === data.byteLength) return;
      data = data.subarray(n);
    }
    this.queue.push(data);
    this.queued += data.byteLength;
    if (this.queued > this.opts.maxQueueBytes) {
      this.fail(new IcecastError('timeout', `the server is not keeping up: ${this.queued >> 10} kB queued`));
    }
  }

  /** Idempotent; does not call the end handler. */
  close(): void {
    if (this.phase === 'ended') return;
    this.phase = 'ended';
    this.cleanup();
    if (this.target.tls) {
      // Icecast 2.4 misses a TLS close_notify (connection.c connection_read_ssl flags an
      // error only when SSL_read returns < 0, not 0) and holds the mount until its
      // source-timeout; an end without close_notify is an error it notices at once. Nothing
      // is lost: a source stream has no end to deliver.
      try {
        this.socket?.terminate();
      } catch {}
      return;
    }
    try {
      this.socket?.end();
    } catch {}
    // end() waits for the queue; a dead peer would hold the socket forever.
    const s = this.socket;
    setTimeout(() => {
      try {
        s?.terminate();
      } catch {}
    }, 1000).unref?.();
  }

  private start(info: StreamInfo): Promise<SourceConnection> {
    const head = Buffer.from(sourceRequest(this.method, this.target, info, this.opts.userAgent), 'latin1');
    let received = new Uint8Array(0);
    const t = this.target;
    let tls: TlsConnectOptions | undefined;
    if (t.tls) {
      try {
        tls = tlsOptions(t.tls, t.host);
      } catch (e) {
        this.phase = 'ended';
        return Promise.reject(new IcecastError('tls', tlsFailure(e as Error, t)));
      }
    }
    return new Promise<SourceConnection>((resolve, reject) => {
      const settle = (err?: IcecastError) => {
        clearTimeout(timer);
        if (err) {
          this.phase = 'ended';
          try {
            this.socket?.terminate();
          } catch {}
          reject(err);
        } else {
          this.phase = 'live';
          this.lastProgress = performance.now();
          this.watchdog = setInterval(() => this.checkProgress(), 1000);
          resolve(this);
        }
      };
      const timer = setTimeout(() => {
        const within = `within ${this.opts.connectTimeoutMs / 1000} s`;
        settle(
          this.phase === 'tls'
            ? new IcecastError('timeout', `no secure (TLS) answer from ${t.host}:${t.port} ${within}; is this port for https://?`)
            : new IcecastError('timeout', `no answer from ${t.host}:${t.port} ${within}`),
        );
      }, this.opts.connectTimeoutMs);
      const ended = (err: IcecastError) => {
        if (this.phase === 'connecting' || this.phase === 'tls' || this.phase === 'handshake') settle(err);
        else this.fail(err);
      };
      // Before the TLS handshake ends, any failure is a TLS failure (a plain-HTTP port resets).
      const lost = (err: IcecastError, cause?: Error) =>
        ended(this.phase === 'tls' ? new IcecastError('tls', tlsFailure(cause ?? new Error('the server closed the connection'), t)) : err);
      let connecting: Promise<unknown>;
      try {
        connecting = Bun.connect({
          hostname: t.host,
          port: t.port,
          allowHalfOpen: false,
          ...(tls ? { tls } : {}),
          socket: {
            binaryType: 'uint8array',
            open: (socket) => {
              if (this.phase === 'ended') {
                socket.terminate();
                return;
              }
              this.socket = socket;
              socket.setKeepAlive(true, 10_000);
              socket.setNoDelay(true);
              if (tls) {
                // Bytes written before the handshake ends are lost: the head goes in handshake().
                this.phase = 'tls';
                return;
              }
              this.phase = 'handshake';
              socket.write(head);
            },
            handshake: (socket, success, authorizationError) => {
              if (this.phase !== 'tls') return;
              // Bun reports success = false for a name mismatch even with rejectUnauthorized off;
              // unchecked, only a handshake that failed for another reason than the certificate
              // ends it.
              const certOnly = authorizationError !== null && certificateReason(authorizationError, t.host) !== null;
              const refused = tls!.rejectUnauthorized ? !success || authorizationError : !success && !certOnly;
              if (refused) return settle(new IcecastError('tls', tlsFailure(authorizationError ?? new Error('the handshake failed'), t)));
              if (authorizationError) this.certificateProblem = certificateReason(authorizationError, t.host) ?? authorizationError.message;
              this.phase = 'handshake';
              socket.write(head);
            },
            data: (_socket, chunk) => {
              if (this.phase !== 'handshake') return; // Icecast says nothing after 200.
              const next = new Uint8Array(received.byteLength + chunk.byteLength);
              next.set(received);
              next.set(chunk, received.byteLength);
              received = next;
              try {
                let h = parseResponseHead(received);
                // "100 Continue" precedes the real answer when a server sends one.
                while (h && h.status === 100) {
                  received = received.subarray(h.length);
                  h = parseResponseHead(received);
                }
                if (!h) return;
                const body = Buffer.from(received.subarray(h.length)).toString('utf8');
                settle(classifyResponse(h, body) ?? undefined);
              } catch (e) {
                settle(e instanceof IcecastError ? e : new IcecastError('protocol', String(e)));
              }
            },
            drain: () => this.flush(),
            end: () => lost(new IcecastError('network', `${t.host}:${t.port} closed the connection`)),
            close: (_s, error) => lost(error ? networkError(error, t) : new IcecastError('network', 'the connection closed'), error),
            error: (_s, error) => lost(networkError(error, t), error),
            connectError: (_s, error) => ended(networkError(error, t)),
          },
        });
      } catch (e) {
        // Bun refuses options it cannot use (a CA it cannot parse) before connecting.
        return ended(tls ? new IcecastError('tls', tlsFailure(e as Error, t)) : networkError(e, t));
      }
      connecting.catch((e) => ended(networkError(e, t)));
    });
  }

  private flush(): void {
    if (this.phase !== 'live') return;
    while (this.queue.length) {
      const buf = this.queue[0]!;
      const n = this.socket!.write(buf);
      if (n < 0) return this.fail(new IcecastError('network', 'the connection is closed'));
      if (n > 0) {
        this.bytesSent += n;
        this.queued -= n;
        this.lastProgress = performance.now();
      }
      if (n < buf.byteLength) {
        this.queue[0] = buf.subarray(n);
        return;
      }
      this.queue.shift();
    }
  }

  private checkProgress(): void {
    if (this.phase !== 'live') return;
    this.flush();
    if (this.queued > 0 && performance.now() - this.lastProgress > this.opts.writeTimeoutMs) {
      this.fail(new IcecastError('timeout', `the server stopped reading: nothing written for ${this.opts.writeTimeoutMs / 1000} s`));
    }
  }

  private fail(err: IcecastError): void {
    if (this.phase === 'ended') return;
    this.phase = 'ended';
    this.cleanup();
    try {
      this.socket?.terminate();
    } catch {}
    this.endHandler?.(err);
  }

  private cleanup(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.queue.length = 0;
    this.queued = 0;
  }
}
