/**
 * The box's own certificates: a small CA kept in the state directory (`tls/ca.key`, mode 0600,
 * and `tls/ca.crt`) and a server certificate it signs for the box's names and addresses.
 *
 * Why a CA and not a plain self-signed certificate: a user installs the CA once on each phone or
 * computer, and from then on every certificate it signs is trusted — the one re-issued when the
 * box gets a new address or name, and every other box given the same CA (copy `ca.crt` and
 * `ca.key` into its `tls/` directory). A self-signed certificate would have to be trusted again
 * after every change, on every device.
 *
 * Keys and certificates are made by running `openssl` (Debian package openssl): Bun has no
 * X.509 builder, and a DER/ASN.1 writer of our own would be new security-relevant code where a
 * well-tested tool exists. It runs only at first start, on a name or address change and near
 * expiry, never on the audio path, and costs hark no memory (a child process). Reading and
 * checking certificates uses node:crypto's X509Certificate, built into Bun.
 */
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';

/** Server certificates last 397 days (the longest any browser accepts) and are renewed 30 days before. */
export const SERVER_DAYS = 397;
export const RENEW_BEFORE_MS = 30 * 86400_000;
const CA_DAYS = 3650;

export class TlsError extends Error {
  constructor(
    /** `cert` or `key`: which input is wrong (the form shows the reason next to it). */
    readonly field: 'cert' | 'key' | 'tls',
    message: string,
  ) {
    super(message);
  }
}

export interface BoxNames {
  dns: string[];
  ips: string[];
}

/** A DNS name a certificate may carry (letters, digits, hyphens; dots between labels). */
function dnsName(n: string): boolean {
  return n.length <= 253 && /^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/i.test(n);
}

/**
 * The names and addresses the certificate is for: its host name, `<host>.local`, `localhost`,
 * the IPv4 addresses of its interfaces, loopback, and the extra names configured (`tls.names`,
 * `http.allowed_hosts`; IPv6 addresses go there). The interfaces' IPv6 addresses are left out:
 * they come and go (privacy addresses, prefixes a router hands out), each change would issue a
 * new certificate, and people reach the box by its `.local` name (announced over IPv4 on the
 * image) or its IPv4 address.
 */
export function boxNames(extra: readonly string[] = [], host = hostname(), ifaces = networkInterfaces()): BoxNames {
  const dns = new Set<string>();
  const ips = new Set<string>(['127.0.0.1', '::1']);
  const h = host.toLowerCase();
  if (dnsName(h)) {
    dns.add(h);
    if (!h.includes('.')) dns.add(`${h}.local`);
  }
  dns.add('localhost');
  for (const list of Object.values(ifaces)) {
    for (const a of list ?? []) if (a.family === 'IPv4') ips.add(a.address);
  }
  for (const raw of extra) {
    const n = raw.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
    if (isIP(n)) ips.add(n);
    else if (dnsName(n)) dns.add(n);
  }
  return { dns: [...dns].sort(), ips: [...ips].sort() };
}

/** An IPv4 or IPv6 address (node:net's isIP without loading node:net). */
function isIP(n: string): boolean {
  if (/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(n)) return true;
  if (!n.includes(':') || !/^[0-9a-f:.]+$/i.test(n)) return false;
  try {
    new URL(`http://[${n}]/`);
    return true;
  } catch {
    return false;
  }
}

/** `a` and `b` hold the same names. */
export function sameNames(a: BoxNames, b: BoxNames): boolean {
  return a.dns.join() === b.dns.join() && a.ips.join() === b.ips.join();
}

/** Run openssl; throws a TlsError with its message. */
async function openssl(args: string[], cwd: string): Promise<void> {
  let proc;
  try {
    proc = Bun.spawn(['openssl', ...args], { cwd, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  } catch (e) {
    throw new TlsError('tls', `cannot run openssl (Debian package openssl): ${(e as Error).message}`);
  }
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new TlsError('tls', `openssl ${args[0]} failed: ${err.trim().split('\n')[0] ?? `exit ${code}`}`);
}

/** Write a file by temp file and rename, with `mode`. */
function writeAtomic(file: string, data: string | Uint8Array, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** The files of the box's own certificates, in `<state_dir>/tls`. */
export class BoxCertificates {
  readonly caCert: string;
  readonly caKey: string;
  readonly cert: string;
  readonly key: string;
  private readonly namesFile: string;

  constructor(readonly dir: string) {
    this.caCert = join(dir, 'ca.crt');
    this.caKey = join(dir, 'ca.key');
    this.cert = join(dir, 'server.crt');
    this.key = join(dir, 'server.key');
    this.namesFile = join(dir, 'server-names.json');
  }

  private prepareDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
  }

  /** Make the CA if there is none (a CA copied in from another box is kept). */
  async ensureCa(): Promise<boolean> {
    if (existsSync(this.caCert) && existsSync(this.caKey)) return false;
    this.prepareDir();
    const id = randomBytes(4).toString('hex');
    const cnf = join(this.dir, `ca-${process.pid}.cnf`);
    const key = `${this.caKey}.new`;
    const crt = `${this.caCert}.new`;
    // No nameConstraints: one CA may serve several boxes and the names users give them.
    writeFileSync(
      cnf,
      [
        '[req]',
        'distinguished_name = dn',
        'prompt = no',
        'x509_extensions = ca_ext',
        '[dn]',
        'O = hark',
        `CN = hark CA ${hostname().slice(0, 32)} ${id}`,
        '[ca_ext]',
        'basicConstraints = critical, CA:TRUE, pathlen:0',
        'keyUsage = critical, keyCertSign, cRLSign',
        'subjectKeyIdentifier = hash',
        '',
      ].join('\n'),
    );
    try {
      await openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-days', String(CA_DAYS), '-config', cnf, '-keyout', key, '-out', crt], this.dir);
      chmodSync(key, 0o600);
      renameSync(key, this.caKey);
      renameSync(crt, this.caCert);
    } finally {
      rmSync(cnf, { force: true });
      rmSync(key, { force: true });
      rmSync(crt, { force: true });
    }
    return true;
  }

  /** The names the current server certificate was made for, if it is there. */
  issuedNames(): BoxNames | null {
    try {
      return JSON.parse(readFileSync(this.namesFile, 'utf8')) as BoxNames;
    } catch {
      return null;
    }
  }

  /** Why the server certificate must be made again, or null when it is good for `names`. */
  reissueReason(names: BoxNames, now = Date.now()): string | null {
    if (!existsSync(this.cert) || !existsSync(this.key)) return 'there is none yet';
    let cert: X509Certificate;
    let ca: X509Certificate;
    try {
      cert = new X509Certificate(readFileSync(this.cert));
      ca = new X509Certificate(readFileSync(this.caCert));
    } catch {
      return 'it cannot be read';
    }
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return 'the CA changed';
    const issued = this.issuedNames();
    if (!issued || !sameNames(issued, names)) return 'the names or addresses changed';
    if (cert.validToDate.getTime() - now < RENEW_BEFORE_MS) return `it expires on ${cert.validToDate.toISOString().slice(0, 10)}`;
    if (cert.validFromDate.getTime() > now + 86400_000) return 'it is dated in the future (the clock was changed)';
    return null;
  }

  /** Make a new server key and certificate for `names`, signed by the CA. */
  async issue(names: BoxNames): Promise<void> {
    this.prepareDir();
    const cn = names.dns.find((n) => n.endsWith('.local')) ?? names.dns[0] ?? 'localhost';
    const san = [...names.dns.map((n) => `DNS:${n}`), ...names.ips.map((ip) => `IP:${ip}`)].join(', ');
    const cnf = join(this.dir, `server-${process.pid}.cnf`);
    const key = `${this.key}.new`;
    const csr = join(this.dir, `server-${process.pid}.csr`);
    const crt = `${this.cert}.new`;
    writeFileSync(
      cnf,
      [
        '[req]',
        'distinguished_name = dn',
        'prompt = no',
        '[dn]',
        'O = hark',
        `CN = ${cn}`,
        '[server_ext]',
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature',
        'extendedKeyUsage = serverAuth',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid',
        `subjectAltName = ${san}`,
        '',
      ].join('\n'),
    );
    try {
      await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-config', cnf, '-keyout', key, '-out', csr], this.dir);
      chmodSync(key, 0o600);
      const serial = `0x${randomBytes(16).toString('hex').replace(/^[89a-f]/, '1')}`;
      await openssl(['x509', '-req', '-in', csr, '-CA', this.caCert, '-CAkey', this.caKey, '-set_serial', serial, '-sha256', '-days', String(SERVER_DAYS), '-extfile', cnf, '-extensions', 'server_ext', '-out', crt], this.dir);
      // The chain a client needs: the server certificate, then the CA's.
      writeFileSync(crt, readFileSync(crt, 'utf8') + readFileSync(this.caCert, 'utf8'));
      renameSync(key, this.key);
      renameSync(crt, this.cert);
      writeAtomic(this.namesFile, JSON.stringify(names), 0o600);
    } finally {
      for (const f of [cnf, key, csr, crt]) rmSync(f, { force: true });
    }
  }
}

/** What the System page says about a certificate. */
export interface CertInfo {
  subject: string;
  issuer: string;
  names: string[];
  validFrom: string;
  validTo: string;
  fingerprint: string;
}

export function certInfo(pem: string | Buffer): CertInfo {
  const c = new X509Certificate(pem);
  const cn = (dn: string) => /(?:^|\n)CN=([^\n]*)/.exec(dn)?.[1] ?? dn.replaceAll('\n', ', ');
  return {
    subject: cn(c.subject),
    issuer: cn(c.issuer),
    names: (c.subjectAltName ?? '')
      .split(/,\s*/)
      .map((s) => s.replace(/^(DNS|IP Address):/, ''))
      .filter(Boolean)
      // X509Certificate spells IPv6 addresses in full (0:0:0:0:0:0:0:1): the short form reads better.
      .map((n) => (n.includes(':') ? new URL(`http://[${n}]`).hostname.slice(1, -1) : n)),
    validFrom: c.validFromDate.toISOString(),
    validTo: c.validToDate.toISOString(),
    fingerprint: c.fingerprint256,
  };
}

const MAX_PEM = 64 * 1024;

/**
 * Check a certificate and key a user gives (an upload, or files from an ACME client): the
 * certificate parses, the key parses and belongs to it, and it is valid now. Throws a TlsError
 * naming the field and why.
 */
export function checkCertificate(certPem: string, keyPem: string, now = Date.now()): CertInfo {
  if (!certPem.trim()) throw new TlsError('cert', 'no certificate was given');
  if (!keyPem.trim()) throw new TlsError('key', 'no private key was given');
  if (certPem.length > MAX_PEM) throw new TlsError('cert', `the certificate file is too large (over ${MAX_PEM / 1024} KiB)`);
  if (keyPem.length > MAX_PEM) throw new TlsError('key', `the key file is too large (over ${MAX_PEM / 1024} KiB)`);
  if (!certPem.includes('-----BEGIN CERTIFICATE-----')) throw new TlsError('cert', 'this is not a certificate in PEM form (a text file starting with -----BEGIN CERTIFICATE-----)');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw new TlsError('cert', `the certificate could not be read: ${(e as Error).message}`);
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(keyPem)) throw new TlsError('key', 'the key is protected by a passphrase: give it without one');
  if (!/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(keyPem)) throw new TlsError('key', 'this is not a private key in PEM form (a text file starting with -----BEGIN PRIVATE KEY-----)');
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw new TlsError('key', `the key could not be read: ${(e as Error).message}`);
  }
  if (!cert.checkPrivateKey(key)) throw new TlsError('key', 'this key does not belong to the certificate (they are from different pairs)');
  const day = (d: Date) => d.toISOString().slice(0, 10);
  if (cert.validToDate.getTime() <= now) throw new TlsError('cert', `the certificate expired on ${day(cert.validToDate)}`);
  if (cert.validFromDate.getTime() > now) throw new TlsError('cert', `the certificate is not valid before ${day(cert.validFromDate)}`);
  if (cert.ca) throw new TlsError('cert', 'this is a CA certificate, not a certificate for a server');
  return certInfo(certPem);
}

export { writeAtomic };
