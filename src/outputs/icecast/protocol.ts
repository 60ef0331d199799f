/**
 * Icecast source protocol mechanics: where to connect, the request a source client sends,
 * what the server's answer means, and the admin metadata call. No sockets or retries here;
 * `connection.ts` speaks this over TCP and `output.ts` owns the lifecycle.
 *
 * Icecast 2.4 accepts `PUT /mount HTTP/1.1` (HTTP-compliant) and the older `SOURCE /mount
 * HTTP/1.0`; both authenticate with Basic auth and take the stream's metadata from `ice-*`
 * headers. It answers `HTTP/1.0 200 OK` and then reads the body until the connection closes
 * (Icecast docs, "Icecast protocol specification"; src/connection.c `source_startup`).
 */

import { CaFileError, isTlsError, tlsFailure, tlsOptions } from './tls.ts';
import { icyTitle } from '../icy.ts';
import type { IcecastTarget } from '../../config/icecast-target.ts';

export type SourceMethod = 'PUT' | 'SOURCE';
export type IcecastFormat = 'mp3' | 'ogg-opus' | 'ogg-flac';

/** What listeners and directories are told about the stream (the `ice-*` headers). */
export interface StreamInfo {
  name: string;
  description: string;
  genre: string;
  /** The station's web site (`ice-url`). */
  url: string;
  public: boolean;
  format: IcecastFormat;
  bitrateKbps: number;
  channels: number;
  sampleRate: number;
}

/** The kinds of failure an output shows differently and backs off from differently. */
export type IcecastErrorKind =
  | 'auth' // 401: wrong user or password
  | 'mount_in_use' // 403 "Mountpoint in use": another source holds the mount
  | 'refused' // any other refusal (403 content type, too many sources, 404 …)
  | 'method' // the server does not know PUT: try SOURCE
  | 'timeout' // connect/handshake/write took too long
  | 'network' // refused, reset, unreachable, closed
  | 'tls' // the TLS handshake failed, or the server's certificate is not trusted
  | 'protocol'; // an answer that is not HTTP

/** A failed connection or request, with the reason a user can act on. */
export class IcecastError extends Error {
  override readonly name = 'IcecastError';
  constructor(
    readonly kind: IcecastErrorKind,
    message: string,
    /** The HTTP status, when the server answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The `ice-*`/Content-Type form of a format (Ogg FLAC too is audio/ogg: icecast2 takes any Ogg as audio/ogg and finds the codec in the stream). */
export function contentType(format: IcecastFormat): string {
  return format === 'mp3' ? 'audio/mpeg' : 'audio/ogg';
}

/** Header values come from config and the API: no CR/LF may smuggle extra headers in. */
function headerValue(s: string): string {
  return s.replace(/[\r\n\0]+/g, ' ').trim();
}

function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** The request head (through the blank line) a source client sends. */
export function sourceRequest(method: SourceMethod, target: IcecastTarget, info: StreamInfo, userAgent: string): string {
  const version = method === 'PUT' ? 'HTTP/1.1' : 'HTTP/1.0';
  const lines = [
    `${method} ${encodeMount(target.mount)} ${version}`,
    `Host: ${hostHeader(target)}`,
    `Authorization: ${basicAuth(target.user, target.password)}`,
    `User-Agent: ${headerValue(userAgent)}`,
    `Content-Type: ${contentType(info.format)}`,
    `ice-name: ${headerValue(info.name)}`,
    `ice-description: ${headerValue(info.description)}`,
    `ice-genre: ${headerValue(info.genre)}`,
    `ice-url: ${headerValue(info.url)}`,
    `ice-public: ${info.public ? 1 : 0}`,
    `ice-bitrate: ${info.bitrateKbps}`,
    // The same key=value list libshout sends; Icecast shows it in its status pages.
    `ice-audio-info: ice-samplerate=${info.sampleRate};ice-bitrate=${info.bitrateKbps};ice-channels=${info.channels}`,
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function hostHeader(t: IcecastTarget): string {
  const h = t.host.includes(':') ? `[${t.host}]` : t.host;
  return t.port === (t.tls ? 443 : 80) ? h : `${h}:${t.port}`;
}

/** Percent-encode what may not appear raw in a request line, keeping "/" and the usual mount characters. */
function encodeMount(mount: string): string {
  return mount.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/g, (c) => encodeURIComponent(c));
}

/** A parsed response head. */
export interface ResponseHead {
  version: string;
  status: number;
  reason: string;
  headers: Map<string, string>;
  /** Bytes of the head, including the blank line. */
  length: number;
}

/**
 * Parse a response head from the bytes received so far. Returns undefined while the blank
 * line has not arrived; throws IcecastError('protocol') for something that is not HTTP.
 */
export function parseResponseHead(buf: Uint8Array): ResponseHead | undefined {
  const text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1');
  let end = text.indexOf('\r\n\r\n');
  let sep = 4;
  if (end < 0) {
    end = text.indexOf('\n\n');
    sep = 2;
  }
  if (end < 0) {
    if (buf.byteLength > 16 * 1024) throw new IcecastError('protocol', 'the server sent a response head over 16 kB');
    if (buf.byteLength >= 5 && !/^(HTTP|ICY)/.test(text)) throw new IcecastError('protocol', `not an HTTP response: ${JSON.stringify(text.slice(0, 40))}`);
    return undefined;
  }
  const lines = text.slice(0, end).split(/\r?\n/);
  const m = lines[0]!.match(/^(HTTP\/\d(?:\.\d)?|ICY)\s+(\d{3})\s*(.*)$/);
  if (!m) throw new IcecastError('protocol', `not an HTTP response: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return { version: m[1]!, status: Number(m[2]), reason: m[3]!.trim(), headers, length: end + sep };
}

/**
 * What an answer to the source request means. 200 is success (and 100 Continue is skipped by
 * the caller). Icecast 2.4 puts its reason in the status line, e.g. "403 Mountpoint in use".
 */
export function classifyResponse(head: Pick<ResponseHead, 'status' | 'reason'>, body = ''): IcecastError | null {
  const { status, reason } = head;
  if (status >= 200 && status < 300) return null;
  const why = [reason, body.trim()].filter(Boolean).join(': ').slice(0, 200);
  if (status === 401) return new IcecastError('auth', `auth failed (401${reason ? ` ${reason}` : ''})`, status);
  if (status === 403 && /in use/i.test(`${reason} ${body}`)) return new IcecastError('mount_in_use', 'mount in use: another source is connected to it', status);
  if (status === 403 && /auth|password|credential/i.test(`${reason} ${body}`)) return new IcecastError('auth', `auth failed (403 ${reason})`, status);
  // An Icecast older than 2.4 (or a server that is no Icecast) does not know PUT.
  if (status === 400 || status === 405 || status === 501) return new IcecastError('method', `the server refused PUT (${status} ${why})`, status);
  return new IcecastError('refused', `refused: ${status}${why ? ` ${why}` : ''}`, status);
}

/** The server as a URL without credentials: http://host:port or https://host:port. */
export function serverOrigin(t: IcecastTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `${t.tls ? 'https' : 'http'}://${host}:${t.port}`;
}

/** Where to send an MP3 mount's title: Icecast's admin metadata call (mode=updinfo). */
export function metadataUrl(t: IcecastTarget, title: string): string {
  const q = new URLSearchParams({ mount: t.mount, mode: 'updinfo', song: icyTitle(title), charset: 'UTF-8' });
  return `${serverOrigin(t)}/admin/metadata?${q}`;
}

/**
 * Set the title of an MP3 mount. Icecast 2.4 accepts the mount's source credentials for this.
 * Ogg mounts take titles in-stream instead (a new chained logical stream, RFC 7845 §5.2).
 */
export async function updateMetadata(t: IcecastTarget, title: string, timeoutMs = 5000): Promise<void> {
  let res: Response;
  try {
    res = await fetch(metadataUrl(t, title), {
      headers: { authorization: basicAuth(t.user, t.password) },
      signal: AbortSignal.timeout(timeoutMs),
      ...(t.tls ? { tls: tlsOptions(t.tls, t.host) } : {}),
    });
  } catch (e) {
    const err = e as Error;
    if (err.name === 'TimeoutError') throw new IcecastError('timeout', `metadata update timed out after ${timeoutMs / 1000} s`);
    if (t.tls && (err instanceof CaFileError || isTlsError(err))) throw new IcecastError('tls', `metadata update failed: ${tlsFailure(err, t)}`);
    throw new IcecastError('network', `metadata update failed: ${err.message}`);
  }
  const body = await res.text().catch(() => '');
  if (res.status === 401) throw new IcecastError('auth', 'metadata update: auth failed (401)', 401);
  if (!res.ok) throw new IcecastError('refused', `metadata update refused: ${res.status} ${textOf(body)}`, res.status);
  // Icecast answers 200 with <iceresponse><return>0</return><message>…</message> on failure.
  if (/<return>\s*0\s*<\/return>/.test(body)) throw new IcecastError('refused', `metadata update refused: ${textOf(body)}`, res.status);
}

function textOf(xmlOrHtml: string): string {
  const msg = xmlOrHtml.match(/<message>([^<]*)<\/message>/)?.[1];
  return (msg ?? xmlOrHtml.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim().slice(0, 160);
}
