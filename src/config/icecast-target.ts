/**
 * Where an `[[icecast]]` entry sends, read from its keys: `url` or host, port and mount, the
 * credentials, TLS. Pure code on the config (the checks, the pages and the output all use it).
 */
import type { Config } from './schema.ts';

type IcecastEntry = Config['icecast'][number];

/** Where a source connects, with its credentials. */
export interface IcecastTarget {
  host: string;
  port: number;
  /** Starts with "/". */
  mount: string;
  user: string;
  password: string;
  /** Set: connect over TLS (an https:// server), checking its certificate as this says. */
  tls?: TargetTls;
}

/** How a TLS connection checks the server. */
export interface TargetTls {
  /** A PEM file of CA certificates trusted for this server besides the usual ones ('' for none). */
  caFile: string;
  /** False: any certificate is accepted (insecure, warned about). */
  verify: boolean;
}

/** A config entry, as far as finding the server goes. */
export interface TargetSettings {
  url: string;
  host: string;
  port: number;
  mount: string;
  user: string;
  password: string;
  /** Connect over TLS; an https:// url sets it too. */
  tls?: boolean;
  /** PEM CA certificates to trust for this server (TLS only). */
  ca_file?: string;
  /** Check the server's certificate (TLS only); default true. */
  tls_verify?: boolean;
}

/**
 * The target from either `url` (http[s]://user:password@host:port/mount) or host, port and
 * mount; explicit user/password keys win over the URL's. Throws RangeError naming the key.
 */
export function resolveTarget(s: TargetSettings): IcecastTarget {
  let { host, port, mount, user, password } = s;
  let tls = s.tls === true;
  if (s.url) {
    let u: URL;
    try {
      u = new URL(s.url);
    } catch {
      throw new RangeError(`url: not a URL: ${JSON.stringify(s.url)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:' && u.protocol !== 'icecast:') throw new RangeError(`url: must start with http:// or https:// (got ${u.protocol}//)`);
    if (u.protocol === 'http:' && tls) throw new RangeError('url: starts with http:// while tls = true; write https:// for a TLS server');
    if (u.protocol === 'https:') tls = true;
    host = u.hostname.replace(/^\[|\]$/g, '');
    port = u.port ? Number(u.port) : u.protocol === 'http:' ? 80 : u.protocol === 'https:' ? 443 : 8000;
    if (port < 1) throw new RangeError(`url: the port must be 1 to 65535, got ${port}`);
    mount = decoded(u.pathname, 'the mount point');
    if (u.username && !s.user) user = decoded(u.username, 'the user name');
    if (u.password && !s.password) password = decoded(u.password, 'the password');
  }
  if (!host) throw new RangeError('host: give url or host');
  // The host goes into the Host header and to the resolver: a name or an address, nothing else.
  if (!HOST_NAME.test(host) && !(host.includes(':') && IPV6.test(host))) throw new RangeError(`host: not a host name or IP address: ${JSON.stringify(host.slice(0, 80))}`);
  if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) throw new RangeError(`port: must be 1 to 65535, got ${port}`);
  // Basic auth splits user from password at the first ":" (RFC 7617 §2).
  if (user.includes(':')) throw new RangeError('user: may not contain ":"');
  if (!mount || mount === '/') throw new RangeError('mount: give a mount point such as "/live.mp3"');
  if (!mount.startsWith('/')) mount = `/${mount}`;
  const caFile = s.ca_file ?? '';
  if (!tls && caFile) throw new RangeError('ca_file: is only used over TLS; use an https:// url or set tls = true');
  // eslint-disable-next-line no-control-regex
  if (/[\0-\x1f\x7f]/.test(caFile)) throw new RangeError('ca_file: a file path without control characters');
  const target: IcecastTarget = { host, port, mount, user: user || 'source', password };
  if (tls) target.tls = { caFile, verify: s.tls_verify !== false };
  return target;
}

const HOST_NAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

/** A percent-decoded URL part; a malformed escape is refused as the url's fault. */
function decoded(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new RangeError(`url: ${what} has a malformed %-escape`);
  }
}

/** An entry's id: its `id`, else its mount without "/" (the label in logs, status and pages). */
export function entryId(e: IcecastEntry, i: number): string {
  if (e.id) return e.id;
  try {
    return resolveTarget(e).mount.replace(/^\/+/, '') || `icecast${i + 1}`;
  } catch {
    return `icecast${i + 1}`;
  }
}
