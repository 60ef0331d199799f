/**
 * The first gate, before the auth gate and any route: the Host header must be one of this
 * box's own names, so a web page that rebinds its DNS name to the box's address (DNS
 * rebinding) reaches nothing; every answer carries the security headers (CSP and friends).
 *
 * Allowed names: the host name, `<hostname>.local` (and avahi's `<hostname>-N.local` after a
 * name conflict, and whatever name avahi announces: control/mdns-name.ts), every address of every interface (IPv6 in brackets), `localhost`,
 * `127.0.0.1`, `[::1]`, `http.host` when it is not a wildcard, and `http.allowed_hosts` (a
 * reverse proxy's public name, a router's forwarded address). A port never matters.
 * The CLI's Unix socket is not checked. A request without a Host header is refused (400).
 *
 * Also here: whether a request really comes from the box itself (loopback, no forwarding
 * headers), which decides the loopback exemptions in auth.ts.
 */
import { Elysia } from 'elysia';
import { hostname, networkInterfaces } from 'node:os';
import type { Config } from '../config/schema.ts';
import { mdnsName } from '../control/mdns-name.ts';
import { socketRequests } from '../control/plane.ts';

/**
 * Sent with every answer. Only hark's own origin: no inline script or style anywhere
 * (the meters' widths are set through the CSSOM by admin.js, which CSP allows); `data:` images
 * for the favicon placeholder; `blob:` media for the listen page's MP3-over-data-channel mode.
 */
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
};

/** A Host header's (or a name's) host, normalized as a URL would (lower case, IPv6 in brackets, no port, no final dot); null if it is not a plain host[:port]. */
export function hostOf(value: string): string | null {
  const v = value.trim();
  if (!/^(\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z._-]+)(:\d{1,5})?$/.test(v)) return null;
  try {
    const h = new URL(`http://${v}`).hostname;
    return h.endsWith('.') ? h.slice(0, -1) : h;
  } catch {
    return null;
  }
}

/** An address or name as `hostOf` gives it: IPv6 addresses get their brackets. */
function nameOf(n: string): string | null {
  const bare = n.trim().replace(/%.*$/, '');
  return hostOf(bare.includes(':') && !bare.startsWith('[') ? `[${bare}]` : bare);
}

/** The box's addresses and names right now (interfaces change: DHCP, Wi-Fi, a cable). */
export function boxNames(config: Pick<Config, 'http'>): Set<string> {
  const out = new Set<string>();
  const add = (n: string | undefined) => {
    const h = n ? nameOf(n) : null;
    if (h) out.add(h);
  };
  const host = hostname().toLowerCase();
  add(host);
  add(`${host}.local`);
  // What avahi announces (studio-2.local after a clash), when hark-mdns-name says so.
  add(mdnsName());
  for (const n of ['localhost', '127.0.0.1', '::1']) add(n);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) add(a.address);
  if (config.http.host !== '0.0.0.0' && config.http.host !== '::') add(config.http.host);
  for (const n of config.http.allowed_hosts ?? []) add(n);
  return out;
}

/** The names a gate checks against, recomputed every few seconds or on a miss (at most once a second). */
export class BoxNames {
  private names = new Set<string>();
  private at = -Infinity;
  private config?: Pick<Config, 'http'>;

  constructor(private readonly now: () => number = Date.now) {}

  has(config: Pick<Config, 'http'>, host: string): boolean {
    const t = this.now();
    if (config !== this.config || t - this.at > 10_000) this.refresh(config, t);
    if (this.names.has(host) || this.avahiName(host)) return true;
    if (t - this.at < 1000) return false;
    this.refresh(config, t);
    return this.names.has(host);
  }

  private refresh(config: Pick<Config, 'http'>, t: number) {
    this.config = config;
    this.at = t;
    this.names = boxNames(config);
  }

  /** avahi calls the box `<hostname>-2.local` when another device already has the name. */
  private avahiName(host: string): boolean {
    const h = hostname().toLowerCase();
    return host.startsWith(`${h}-`) && /^-\d{1,3}\.local$/.test(host.slice(h.length));
  }
}

/** Whether an Origin header names one of the box's names (any scheme http/https, any port). */
export function originAllowed(origin: string, names: (host: string) => boolean): boolean {
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  const h = u.hostname.endsWith('.') ? u.hostname.slice(0, -1) : u.hostname;
  return names(h);
}

/** Headers a proxy adds (RFC 7239 and the common de-facto ones). */
const FORWARDING = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-server', 'x-real-ip', 'x-client-ip', 'true-client-ip', 'cf-connecting-ip', 'x-cluster-client-ip', 'via'];

/** The first forwarding header a request carries, if any. */
export function forwardedBy(request: Request): string | null {
  for (const h of FORWARDING) if (request.headers.has(h)) return h;
  return null;
}

export function isLoopbackAddress(addr: string): boolean {
  const a = addr.toLowerCase();
  return a === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Whether a request really comes from the box itself: a loopback peer address, no header a
 * proxy adds, and a Host (if any) that names the loopback. A TLS proxy or tunnel on the box
 * forwards everybody's requests from 127.0.0.1; they must not count as the box's own.
 */
export function fromLoopback(remote: string, request: Request): boolean {
  if (!isLoopbackAddress(remote) || forwardedBy(request)) return false;
  const host = request.headers.get('host');
  if (host === null) return true;
  const h = hostOf(host);
  return h !== null && (LOOPBACK_NAMES.has(h) || /^127\.\d+\.\d+\.\d+$/.test(h));
}

/** The peer address of a request on the TCP server ('' when unknown, e.g. `app.handle` in tests). */
export function remoteOf(server: { requestIP(r: Request): { address: string } | null } | null | undefined, request: Request): string {
  try {
    return server?.requestIP(request)?.address ?? '';
  } catch {
    return '';
  }
}

/** The host-name gate and the security headers, as the app's first hook. */
export const hostGuard = (ctx: { config: Pick<Config, 'http'> }, names: BoxNames = new BoxNames()) =>
  new Elysia({ name: 'host-gate' }).onRequest(({ request, set }) => {
    Object.assign(set.headers, SECURITY_HEADERS);
    if (socketRequests.has(request)) return;
    // A request made in-process (app.handle in tests) has no Host header but a whole URL.
    const header = request.headers.get('host') ?? (/^https?:\/\//.test(request.url) ? new URL(request.url).host : null);
    // RFC 9112 §3.2: a request without Host is answered 400 (Bun would hand the routes a
    // relative URL, which nothing can parse).
    if (header === null) return new Response('400 Bad Request: the request has no Host header\n', { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS } });
    const host = hostOf(header);
    if (host !== null && names.has(ctx.config, host)) return;
    const shown = header.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
    return new Response(
      `421 Misdirected Request: this box does not answer to the name "${shown}". Open it by its own name or address (e.g. http://${mdnsName()}/); a name of your own (a proxy in front of it) goes in http.allowed_hosts.\n`,
      { status: 421, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS } },
    );
  });
