/**
 * A real icecast2 (Debian) for a test: its own config, port, log and pid directory, bound to
 * 127.0.0.1; with `tls`, a second listen socket speaks TLS (Debian's icecast2 2.4 is built
 * with OpenSSL: `<ssl>1</ssl>` on the socket, cert and key in one `<ssl-certificate>` file). It runs as the current user; as root that is impossible — Icecast exits unless
 * <changeowner> names another user and then refuses uid 0 anyway (src/main.c) — so as root it
 * becomes Debian's `icecast2` user (or `nobody`), which gets the test directory.
 */
import { chmodSync, chownSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';

export interface IcecastOptions {
  sourcePassword?: string;
  adminPassword?: string;
  /** Keep a fixed port (e.g. to restart on the same one); default: a free one. */
  port?: number;
  /** Icecast's <source-timeout> in seconds. */
  sourceTimeoutS?: number;
  /** Also listen with TLS (on `tlsPort`) with this certificate; the plain port stays. */
  tls?: TestCertificate;
  /**
   * Mounts ("/vox.mp3") whose source stream icecast2 writes to a file as it arrives
   * (`<dump-file>`, appended per connection): what the source sent, from its first byte.
   */
  dumps?: string[];
}

export interface IcecastServer {
  port: number;
  url: string;
  /** The TLS listen socket's port and origin (https://127.0.0.1:port), when started with `tls`. */
  tlsPort?: number;
  tlsUrl?: string;
  sourcePassword: string;
  adminPassword: string;
  dir: string;
  proc: Subprocess;
  /** Parsed status-json.xsl. */
  status(): Promise<IcecastStatus>;
  /** The sources currently connected, by mount ("/live.mp3"). */
  sources(): Promise<Map<string, IcecastSource>>;
  waitForSource(mount: string, timeoutMs?: number, pred?: (s: IcecastSource) => boolean): Promise<IcecastSource>;
  waitForNoSource(mount: string, timeoutMs?: number): Promise<void>;
  /** SIGKILL (a crash), as opposed to stop(). */
  kill(): Promise<void>;
  /** Start again on the same port after kill()/stop(). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  errorLog(): string;
  /** The file a mount of `dumps` is written to (absent until a source connected). */
  dumpFile(mount: string): string;
}

export interface IcecastSource {
  listenurl: string;
  server_name?: string;
  server_description?: string;
  genre?: string;
  server_url?: string;
  server_type?: string;
  title?: string;
  bitrate?: number | string;
  listeners?: number;
  stream_start_iso8601?: string;
  [k: string]: unknown;
}

export interface IcecastStatus {
  icestats: { source?: IcecastSource | IcecastSource[]; [k: string]: unknown };
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

function runAs(): { user: string; group: string; uid: number; gid: number } {
  const id = (args: string[]) => Bun.spawnSync(['id', ...args]).stdout.toString().trim();
  for (const user of ['icecast2', 'nobody']) {
    const uid = Number(id(['-u', user]));
    if (Number.isInteger(uid) && id(['-u', user]) !== '') return { user, group: id(['-gn', user]), uid, gid: Number(id(['-g', user])) };
  }
  throw new Error('running as root, and neither user icecast2 nor nobody exists for icecast2 to become');
}

/** The dump file of a mount ("/vox.mp3" → <dir>/dump-vox.mp3). */
const dumpPath = (dir: string, mount: string) => join(dir, `dump-${mount.replace(/^\//, '').replace(/[^A-Za-z0-9._-]/g, '_')}`);

function config(o: { port: number; tlsPort?: number; certificate?: string; dir: string; source: string; admin: string; sourceTimeoutS: number; dumps: string[] }): string {
  const root = process.getuid?.() === 0;
  const { user, group } = runAs();
  return `<icecast>
  <location>test</location><admin>test@localhost</admin>
  <hostname>127.0.0.1</hostname>
  <limits>
    <clients>100</clients><sources>20</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout>
    <source-timeout>${o.sourceTimeoutS}</source-timeout><burst-on-connect>0</burst-on-connect>
  </limits>
  <authentication>
    <source-password>${o.source}</source-password>
    <relay-password>${o.source}</relay-password>
    <admin-user>admin</admin-user><admin-password>${o.admin}</admin-password>
  </authentication>
  <listen-socket><port>${o.port}</port><bind-address>127.0.0.1</bind-address></listen-socket>${
    o.tlsPort ? `\n  <listen-socket><port>${o.tlsPort}</port><bind-address>127.0.0.1</bind-address><ssl>1</ssl></listen-socket>` : ''
  }
  <fileserve>1</fileserve>${o.dumps.map((m) => `\n  <mount type="normal"><mount-name>${m}</mount-name><dump-file>${dumpPath(o.dir, m)}</dump-file></mount>`).join('')}
  <paths>
    <basedir>${o.dir}</basedir><logdir>${o.dir}</logdir><pidfile>${o.dir}/icecast.pid</pidfile>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>${o.certificate ? `\n    <ssl-certificate>${o.certificate}</ssl-certificate>` : ''}
  </paths>
  <logging>
    <accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel><logsize>10000</logsize>
  </logging>
  <security>
    <chroot>0</chroot>${root ? `<changeowner><user>${user}</user><group>${group}</group></changeowner>` : ''}
  </security>
</icecast>
`;
}

/** Start icecast2 and wait until it answers. */
export async function startIcecast(opts: IcecastOptions = {}): Promise<IcecastServer> {
  const dir = mkdtempSync(join(tmpdir(), 'hark-icecast-'));
  const port = opts.port ?? (await freePort());
  let tlsPort: number | undefined;
  for (let i = 0; opts.tls && i < 10 && (tlsPort === undefined || tlsPort === port); i++) tlsPort = await freePort();
  const sourcePassword = opts.sourcePassword ?? 'hackme-source';
  const adminPassword = opts.adminPassword ?? 'hackme-admin';
  const confPath = join(dir, 'icecast.xml');
  let certificate: string | undefined;
  if (opts.tls) {
    // Icecast reads certificate and key from one file.
    certificate = join(dir, 'icecast.pem');
    writeFileSync(certificate, readFileSync(opts.tls.certFile, 'utf8') + readFileSync(opts.tls.keyFile, 'utf8'), { mode: 0o600 });
  }
  if (process.getuid?.() === 0) {
    const { uid, gid } = runAs();
    chownSync(dir, uid, gid);
    if (certificate) chownSync(certificate, uid, gid);
  }
  writeFileSync(confPath, config({ port, tlsPort, certificate, dir, source: sourcePassword, admin: adminPassword, sourceTimeoutS: opts.sourceTimeoutS ?? 10, dumps: opts.dumps ?? [] }));
  const url = `http://127.0.0.1:${port}`;

  let proc!: Subprocess;
  const launch = async () => {
    proc = Bun.spawn(['icecast2', '-c', confPath], { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
    // Ready when it answers. Each probe may take a while on a loaded machine (the status page
    // is an XSLT render): a probe cut off at 500 ms never succeeded at load 20 and the restart
    // failed after 10 s of aborted probes, though icecast was up.
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline) {
      if (proc.exitCode !== null) {
        const err = await new Response(proc.stderr as ReadableStream).text();
        throw new Error(`icecast2 exited with ${proc.exitCode}: ${err}\n${errorLog()}`);
      }
      try {
        const res = await fetch(`${url}/status-json.xsl`, { signal: AbortSignal.timeout(5000) });
        if (res.ok) {
          await res.arrayBuffer();
          return;
        }
      } catch {}
      await Bun.sleep(50);
    }
    throw new Error(`icecast2 did not answer on ${url} within 30 s\n${errorLog()}`);
  };
  const launchChecked = async () => {
    await launch();
    // Icecast starts without its TLS socket when the certificate does not load: say so here.
    if (opts.tls && !/SSL certificate found/.test(errorLog())) throw new Error(`icecast2 did not load its TLS certificate\n${errorLog()}`);
  };
  const errorLog = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const status = async (): Promise<IcecastStatus> => {
    const res = await fetch(`${url}/status-json.xsl`, { signal: AbortSignal.timeout(2000) });
    // Icecast 2.4's XSLT emits raw control characters in strings sometimes; tolerate them.
    const text = (await res.text()).replace(/[\u0000-\u001f]+/g, ' ');
    // …and its XSLT writes characters beyond Latin-1 as numeric character references.
    return JSON.parse(text, (_k, v) => (typeof v === 'string' ? v.replace(/&#(\d+);/g, (_m, n) => String.fromCodePoint(Number(n))) : v)) as IcecastStatus;
  };
  const sources = async () => {
    const s = (await status()).icestats.source;
    const list = s === undefined ? [] : Array.isArray(s) ? s : [s];
    return new Map(list.map((x) => [new URL(x.listenurl).pathname, x]));
  };
  const waitForSource = async (mount: string, timeoutMs = 10_000, pred: (s: IcecastSource) => boolean = () => true) => {
    const deadline = performance.now() + timeoutMs;
    let last: IcecastSource | undefined;
    while (performance.now() < deadline) {
      try {
        last = (await sources()).get(mount);
        if (last && pred(last)) return last;
      } catch {}
      await Bun.sleep(100);
    }
    throw new Error(`icecast: no source on ${mount} (matching) within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
  };
  const waitForNoSource = async (mount: string, timeoutMs = 10_000) => {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (!(await sources()).has(mount)) return;
      await Bun.sleep(100);
    }
    throw new Error(`icecast: ${mount} still has a source after ${timeoutMs} ms`);
  };

  await launchChecked();
  return {
    port,
    url,
    tlsPort,
    tlsUrl: tlsPort ? `https://127.0.0.1:${tlsPort}` : undefined,
    sourcePassword,
    adminPassword,
    dir,
    get proc() {
      return proc;
    },
    status,
    sources,
    waitForSource,
    waitForNoSource,
    errorLog,
    dumpFile: (mount: string) => dumpPath(dir, mount),
    kill: async () => {
      proc.kill('SIGKILL');
      await proc.exited;
    },
    restart: launchChecked,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

/** A certificate made by a TestCa: PEM files. */
export interface TestCertificate {
  certFile: string;
  keyFile: string;
}

/** A certificate authority of a test's own, made with openssl (EC P-256: quick to make). */
export interface TestCa {
  dir: string;
  /** The CA certificate (PEM): what a client is told to trust. */
  caFile: string;
  /** A server certificate for these names (DNS names and IP addresses), signed by this CA. */
  issue(name: string, altNames: string[]): TestCertificate;
  /** A self-signed server certificate (no CA) for these names. */
  selfSigned(name: string, altNames: string[]): TestCertificate;
}

function openssl(args: string[], cwd: string): void {
  const p = Bun.spawnSync(['openssl', ...args], { cwd, stdout: 'pipe', stderr: 'pipe' });
  if (p.exitCode !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${p.stderr.toString()}`);
}

const san = (names: string[]) => names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');

/** Make a CA in a new temporary directory (world-readable, so icecast2 run as another user can read what it issues). */
export function makeTestCa(commonName = 'hark test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'hark-test-ca-'));
  chmodSync(dir, 0o755);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${commonName}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    issue(name, altNames) {
      openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san(altNames)}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
      return { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
    },
    selfSigned(name, altNames) {
      openssl(['req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san(altNames)}`], dir);
      return { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
    },
  };
}
