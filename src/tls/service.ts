/**
 * The HTTPS server beside the plain HTTP one: both hand every request to the same app. It serves
 * either the certificate the user gave (`tls.cert_file`/`key_file`: an upload, or an ACME
 * client's files, re-read when they change) or the box's own, signed by the box's CA (made at
 * first start and re-issued when the box's names or addresses change or it nears expiry).
 */
import type { Server } from 'bun';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { ConfigComponent, Reaction } from '../config/live.ts';
import { logger } from '../log.ts';
import { BoxCertificates, TlsError, boxNames, certInfo, checkCertificate, writeAtomic, type CertInfo } from './certs.ts';

const log = logger('tls');

/** How often the names, addresses, expiry and the user's files are looked at again. */
export const TLS_CHECK_MS = 120_000;

export interface TlsStatus {
  enabled: boolean;
  /** off: tls.enabled is false; on: serving; failed: enabled but not serving (see error); pending: on from the next restart. */
  state: 'off' | 'on' | 'failed' | 'pending';
  port: number;
  error: string;
  /** Whose certificate is served: the box's own (its CA) or the user's. */
  source: 'box' | 'own';
  cert: CertInfo | null;
  /** Why the user's certificate is not used (then the box's own is). */
  own_error: string;
  /** Whether the box's CA exists (GET /ca.crt). */
  ca: boolean;
}

type ServeOptions = { hostname: string; [option: string]: unknown };

export class TlsService implements ConfigComponent {
  readonly name = 'tls';
  readonly certs: BoxCertificates;
  private server?: Server<unknown>;
  private timer?: ReturnType<typeof setInterval>;
  private served = '';
  private source: 'box' | 'own' = 'box';
  private info: CertInfo | null = null;
  private error = '';
  private ownError = '';
  private running?: Promise<void>;
  private port0 = 0;
  private closed = false;

  constructor(
    /** The current config snapshot (the store's). */
    private readonly config: () => Config,
    stateDir: string,
    private readonly fetch: (request: Request, server: Server<unknown>) => Response | Promise<Response>,
  ) {
    this.certs = new BoxCertificates(join(stateDir, 'tls'));
  }

  /** The HTTPS port actually bound, 0 when not serving. */
  get port(): number {
    return this.server?.port ?? 0;
  }

  get active(): boolean {
    return !!this.server;
  }

  /** Replaced by the plain HTTP server's settings at start() (the same idleTimeout and limits). */
  private serve: ServeOptions = { hostname: '0.0.0.0', reusePort: false };

  /** The plain HTTP server's port (the listen page's address from an HTTPS admin page). */
  plainPort = 0;

  /** `serve`: the plain HTTP server's settings (address, timeouts), shared; `plainPort`: its port. */
  async start(serve: ServeOptions, plainPort: number): Promise<void> {
    this.serve = serve;
    this.plainPort = plainPort;
    if (!this.config().tls.enabled) return;
    this.port0 = this.config().tls.port;
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), TLS_CHECK_MS);
    this.timer.unref?.();
  }

  /**
   * A change of the user's certificate files or of the names (tls.names, http.allowed_hosts):
   * looked at again at once. (Turning HTTPS on or off, or another port, takes a restart:
   * src/config/live.ts; status() says `pending` meanwhile.)
   */
  apply(_prev: Config, _next: Config): Reaction {
    void this.refresh();
    return 'applied';
  }

  /** Look again: the user's files, the box's names and addresses, expiry. Never throws. */
  refresh(): Promise<void> {
    if (!this.running) {
      this.running = this.check().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  private async check(): Promise<void> {
    if (this.closed || !this.config().tls.enabled || !this.port0) return;
    try {
      const own = this.ownPair();
      const pair = own ?? (await this.boxPair());
      this.source = own ? 'own' : 'box';
      const stamp = pair.cert + pair.key;
      if (stamp !== this.served || !this.server) {
        this.listen(pair.cert, pair.key);
        this.served = stamp;
        this.info = certInfo(pair.cert);
        log.info(`serving https on port ${this.port} with ${own ? 'your own certificate' : "the box's own certificate"} for ${this.info.names.join(', ') || this.info.subject}, valid until ${this.info.validTo.slice(0, 10)}`);
      }
      this.error = '';
    } catch (e) {
      this.error = (e as Error).message;
      log.error(`https is not served: ${this.error}`);
    }
  }

  /** The user's certificate and key (tls.cert_file/key_file) if set and good, else null (and why in ownError). */
  private ownPair(): { cert: string; key: string } | null {
    const { cert_file, key_file } = this.config().tls;
    if (!cert_file && !key_file) {
      this.ownError = '';
      return null;
    }
    try {
      if (!cert_file || !key_file) throw new TlsError('tls', 'tls.cert_file and tls.key_file must both be set');
      const read = (f: string, what: string) => {
        try {
          return readFileSync(f, 'utf8');
        } catch (e) {
          throw new TlsError('tls', `cannot read the ${what} ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
      };
      const cert = read(cert_file, 'certificate');
      const key = read(key_file, 'key');
      if (cert + key === this.served) return { cert, key };
      checkCertificate(cert, key);
      if (this.ownError) log.info('your own certificate is good again');
      this.ownError = '';
      return { cert, key };
    } catch (e) {
      const why = (e as Error).message;
      if (why !== this.ownError) log.error(`your own certificate is not used (the box's own is): ${why}`);
      this.ownError = why;
      return null;
    }
  }

  /** What the last full look at the box's certificate saw, and what it served. */
  private lastBox?: { seen: string; pair: { cert: string; key: string } };

  /**
   * Names, addresses, the files' sizes and times, and the day: when none of these changed, the
   * certificate needs no new look. The full one parses and verifies X.509 (crypto code that
   * would otherwise be paged back in every two minutes on an idle box: issue 2's memory goal).
   */
  private boxSeen(names: { dns: string[]; ips: string[] }): string {
    const st = (f: string) => {
      try {
        const s = statSync(f);
        return `${s.size}:${s.mtimeMs}`;
      } catch {
        return 'none';
      }
    };
    return JSON.stringify([names, st(this.certs.cert), st(this.certs.key), st(this.certs.caCert), st(this.certs.caKey), Math.floor(Date.now() / 86_400_000)]);
  }

  /** The box's own certificate, made or re-issued as needed. */
  private async boxPair(): Promise<{ cert: string; key: string }> {
    const names = boxNames([...this.config().tls.names, ...((this.config().http as { allowed_hosts?: string[] }).allowed_hosts ?? [])]);
    if (this.lastBox && this.lastBox.seen === this.boxSeen(names)) return this.lastBox.pair;
    if (await this.certs.ensureCa()) log.info(`made the box's certificate authority in ${this.certs.dir}`);
    const why = this.certs.reissueReason(names);
    if (why) {
      log.info(`issuing the box's certificate (${why}) for ${[...names.dns, ...names.ips].join(', ')}`);
      await this.certs.issue(names);
    }
    const pair = { cert: readFileSync(this.certs.cert, 'utf8'), key: readFileSync(this.certs.key, 'utf8') };
    this.lastBox = { seen: this.boxSeen(names), pair };
    return pair;
  }

  private listen(cert: string, key: string): void {
    // Bun cannot swap a listening server's certificate: a new server takes the port over.
    // Connections already open stay on the old one until they end.
    const old = this.server;
    if (old) {
      this.server = undefined;
      old.stop(false);
    }
    this.server = Bun.serve({ ...this.serve, port: this.port0, tls: { cert, key }, fetch: this.fetch });
  }

  /**
   * Keep a certificate and key the user uploaded: checked (throws a TlsError naming the field
   * and why), written into the tls directory (key 0600). Returns the paths for tls.cert_file/key_file.
   */
  saveOwn(certPem: string, keyPem: string): { cert_file: string; key_file: string; info: CertInfo } {
    const info = checkCertificate(certPem, keyPem);
    const dir = this.certs.dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const cert_file = join(dir, 'own.crt');
    const key_file = join(dir, 'own.key');
    writeAtomic(key_file, keyPem, 0o600);
    writeAtomic(cert_file, certPem, 0o644);
    return { cert_file, key_file, info };
  }

  /** The CA certificate (PEM), if the box has one. */
  caPem(): string | null {
    try {
      return readFileSync(this.certs.caCert, 'utf8');
    } catch {
      return null;
    }
  }

  status(): TlsStatus {
    const enabled = this.config().tls.enabled;
    return {
      enabled,
      state: this.server ? 'on' : !enabled ? 'off' : this.error ? 'failed' : 'pending',
      port: this.port || this.config().tls.port,
      error: this.error,
      source: this.source,
      cert: this.info,
      own_error: this.ownError,
      ca: this.caPem() !== null,
    };
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.server?.stop(true);
    this.server = undefined;
  }
}
