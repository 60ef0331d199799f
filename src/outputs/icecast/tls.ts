/**
 * TLS for an https:// Icecast server: the options a connection is opened with (the usual
 * trusted authorities, plus an entry's own CA file), and a failed handshake or an untrusted
 * certificate in words a volunteer can act on. No sockets here.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import type { IcecastTarget, TargetTls } from '../../config/icecast-target.ts';

/** What `Bun.connect({ tls })` and `fetch(…, { tls })` take. */
export interface TlsConnectOptions {
  rejectUnauthorized: boolean;
  /** Replaces the built-in list when given, so it holds that list too. */
  ca?: string[];
  /** The name the certificate must carry (and SNI); absent for an IP address (RFC 6066 §3). */
  serverName?: string;
}

/** A CA file that cannot be used, with the reason. */
export class CaFileError extends Error {
  override readonly name = 'CaFileError';
}

const MAX_CA_FILE = 1 << 20;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM file, each checked to parse. Read at every connection, so a
 * file put right is used at the next try without a restart. Throws CaFileError.
 */
export function readCaFile(path: string): string[] {
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new CaFileError(`the CA file ${path} is not a file`);
    if (st.size > MAX_CA_FILE) throw new CaFileError(`the CA file ${path} is over 1 MB`);
    text = readFileSync(path, 'latin1');
  } catch (e) {
    if (e instanceof CaFileError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new CaFileError(`the CA file ${path} cannot be read: ${why}`);
  }
  const certs = text.match(PEM_CERT) ?? [];
  if (certs.length === 0) throw new CaFileError(`the CA file ${path} holds no certificate (PEM, "-----BEGIN CERTIFICATE-----")`);
  for (const [i, pem] of certs.entries()) {
    try {
      new X509Certificate(pem);
    } catch (e) {
      throw new CaFileError(`the CA file ${path}: certificate ${i + 1} is damaged (${(e as Error).message})`);
    }
  }
  return certs;
}

/** The TLS options for a target. Throws CaFileError for a CA file that cannot be used. */
export function tlsOptions(t: TargetTls, host: string): TlsConnectOptions {
  const o: TlsConnectOptions = { rejectUnauthorized: t.verify };
  // Node/Bun semantics: `ca` replaces the built-in authorities; the file adds to them.
  if (t.caFile) o.ca = [...rootCertificates, ...readCaFile(t.caFile)];
  if (!isIP(host)) o.serverName = host;
  return o;
}

const UNKNOWN_ISSUER = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_UNTRUSTED',
  'CERT_CHAIN_TOO_LONG',
]);

/**
 * Why a certificate was not trusted, in plain words with the code for the engineer; null when
 * the error is no certificate check (a reset, a timeout …).
 */
export function certificateReason(err: Error & { code?: string }, host: string): string | null {
  const code = err.code ?? '';
  let why: string;
  if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT') why = 'it is self-signed';
  else if (UNKNOWN_ISSUER.has(code)) why = 'it was issued by a certificate authority this box does not trust';
  else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    // Node's wording (checkServerIdentity): "… is not in the cert's altnames: DNS:a, IP Address:b"
    // or, for a certificate without DNS names, "… is not cert's CN: name".
    const names = /(?:altnames|cert's CN):\s*(.*)$/.exec(err.message.split(/is not (?:in )?(?=the cert's altnames|cert's CN)/).pop() ?? '')?.[1] ?? '';
    const list = names.replace(/\b(DNS|IP Address):/g, '').replace(/\.$/, '');
    why = `it is for ${list ? list : 'another name'}, not for ${host}`;
  } else if (code === 'CERT_HAS_EXPIRED') why = 'it has expired';
  else if (code === 'CERT_NOT_YET_VALID') why = "it is not valid yet (is this box's clock right?)";
  else if (code === 'CERT_REVOKED') why = 'it has been revoked';
  else if (/CERT|SIGNATURE/.test(code)) why = err.message;
  else return null;
  return `${why} (${code})`;
}

/** An error from a TLS connection or fetch that is about TLS (for fetch, which mixes them). */
export function isTlsError(err: Error & { code?: string }): boolean {
  return certificateReason(err, '') !== null || /SSL|TLS|certificate/i.test(`${err.code ?? ''} ${err.message}`);
}

/** A failed TLS connection in words: an untrusted certificate, or no TLS on that port. */
export function tlsFailure(err: Error & { code?: string }, t: Pick<IcecastTarget, 'host' | 'port'>): string {
  if (err instanceof CaFileError) return err.message;
  const cert = certificateReason(err, t.host);
  if (cert) return `the server's certificate is not trusted: ${cert}`;
  const what = `${err.code ?? ''} ${err.message ?? ''}`;
  let why: string;
  // BoringSSL's words for a reply that is no TLS record (e.g. "HTTP/1.0 400 …").
  if (/WRONG_VERSION_NUMBER|wrong version number|HTTP_REQUEST|PACKET_LENGTH_TOO_LONG/i.test(what)) why = 'the server there does not answer in TLS';
  else if (/ECONNRESET|disconnected before secure TLS|closed the connection|EPIPE/i.test(what)) why = 'the server closed the connection before the secure handshake ended';
  else why = err.message || err.code || 'the handshake failed';
  return `no secure (TLS) connection with ${t.host}:${t.port}: ${why}; is this port for https://?`;
}
