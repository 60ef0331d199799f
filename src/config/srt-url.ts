/**
 * `[[srt]]` URLs and the checks on an entry, pure code on the config (the output reads the
 * parsed form). The URL follows libsrt's own tools and FFmpeg: srt://host:port?mode=caller,
 * srt://:port?mode=listener; streamid, passphrase, pbkeylen and latency (ms) may ride in the query.
 */
import type { Config } from './schema.ts';
import { MP3_BITRATES_KBPS } from './mp3-bitrates.ts';
import { programChannels } from './programs.ts';

export type SrtMode = 'caller' | 'listener';

export interface SrtTarget {
  mode: SrtMode;
  /** Caller: the receiver's host name or address. Listener: the local address to bind ('' = all). */
  host: string;
  port: number;
  passphrase: string;
  pbkeylen: 16 | 24 | 32;
  latencyMs: number;
  streamId: string;
}

/** MPEG-1 Layer II bitrates at 48 kHz (ISO/IEC 11172-3 §2.4.2.3, Layer II column). */
export const MP2_BITRATES_KBPS = [32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384] as const;

export class SrtUrlError extends Error {
  override readonly name = 'SrtUrlError';
  constructor(
    /** The key (relative to the entry) the problem is in: url, passphrase, latency_ms … */
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

type Entry = Config['srt'][number];

/** The entry's target: the URL's parts, with the entry's own keys where the query says nothing. */
export function srtTarget(e: Pick<Entry, 'url' | 'passphrase' | 'pbkeylen' | 'latency_ms' | 'stream_id'>): SrtTarget {
  // Parsed by hand: the WHATWG URL parser refuses srt://:9000 (a port without a host), the
  // listener form libsrt's tools and FFmpeg use.
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/.exec(e.url.trim());
  if (!m) throw new SrtUrlError('url', `not a URL: ${JSON.stringify(e.url)} (srt://host:port?mode=caller or srt://:port?mode=listener)`);
  if (m[1]!.toLowerCase() !== 'srt') throw new SrtUrlError('url', `must start with srt://, got ${m[1]}://`);
  const authority = m[2]!;
  if (authority.includes('@') || (m[3] && m[3] !== '/')) throw new SrtUrlError('url', 'an SRT URL has no user, password or path');
  const hp = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*)(?::(\d*))?$/.exec(authority);
  if (!hp) throw new SrtUrlError('url', `not a host and port: ${JSON.stringify(authority)}`);
  const host = hp[1]!.replace(/^\[|\]$/g, '');
  if (host && !/^[A-Za-z0-9.:_-]+$/.test(host)) throw new SrtUrlError('url', `not a host name or address: ${JSON.stringify(host)}`);
  const q = new URLSearchParams(m[4] ?? '');
  for (const k of q.keys()) {
    if (!['mode', 'streamid', 'passphrase', 'pbkeylen', 'latency'].includes(k)) throw new SrtUrlError('url', `unknown query parameter "${k}" (mode, streamid, passphrase, pbkeylen, latency)`);
  }
  const mode = q.get('mode') ?? (host ? 'caller' : 'listener');
  if (mode !== 'caller' && mode !== 'listener') throw new SrtUrlError('url', `mode must be caller or listener, got "${mode}" (rendezvous is not supported)`);
  if (!hp[2]) throw new SrtUrlError('url', 'needs a port: srt://host:9000');
  const port = Number(hp[2]);
  if (port < 1 || port > 65535) throw new SrtUrlError('url', `port ${port} is out of range`);
  if (mode === 'caller' && !host) throw new SrtUrlError('url', "caller mode needs the receiver's host: srt://studio.example:9000?mode=caller");
  const passphrase = q.get('passphrase') ?? e.passphrase;
  const n = Buffer.byteLength(passphrase);
  if (n !== 0 && (n < 10 || n > 79)) throw new SrtUrlError(q.has('passphrase') ? 'url' : 'passphrase', `a passphrase has 10–79 characters (SRT's rule), this one has ${n}`);
  let pbkeylen = e.pbkeylen;
  if (q.has('pbkeylen')) {
    const k = Number(q.get('pbkeylen'));
    if (k !== 16 && k !== 24 && k !== 32) throw new SrtUrlError('url', `pbkeylen must be 16, 24 or 32, got ${q.get('pbkeylen')}`);
    pbkeylen = k;
  }
  let latencyMs = e.latency_ms;
  if (q.has('latency')) {
    const l = Number(q.get('latency'));
    if (!Number.isInteger(l) || l < 20 || l > 8000) throw new SrtUrlError('url', `latency must be 20–8000 ms, got ${q.get('latency')}`);
    latencyMs = l;
  }
  const streamId = q.get('streamid') ?? e.stream_id;
  if (Buffer.byteLength(streamId) > 512) throw new SrtUrlError('url', 'streamid is longer than 512 bytes');
  return { mode, host, port, passphrase, pbkeylen, latencyMs, streamId };
}

/** The first problem in the `[[srt]]` entries, with its key path, or null. */
export function checkSrtEntries(c: Config): { path: string; reason: string } | null {
  const listenPorts = new Map<number, number>();
  const ids = new Map<string, number>();
  for (const [i, e] of c.srt.entries()) {
    const at = `srt.${i}`;
    let t: SrtTarget;
    try {
      t = srtTarget(e);
    } catch (err) {
      if (err instanceof SrtUrlError) return { path: `${at}.${err.key}`, reason: err.message };
      throw err;
    }
    if (e.payload === 'mp3' && !(MP3_BITRATES_KBPS as readonly number[]).includes(e.bitrate_kbps)) {
      return { path: `${at}.bitrate_kbps`, reason: `MP3 needs one of ${MP3_BITRATES_KBPS.join(', ')} kbit/s, got ${e.bitrate_kbps}` };
    }
    if (e.payload === 'mp2' && !(MP2_BITRATES_KBPS as readonly number[]).includes(e.bitrate_kbps)) {
      return { path: `${at}.bitrate_kbps`, reason: `MP2 needs one of ${MP2_BITRATES_KBPS.join(', ')} kbit/s, got ${e.bitrate_kbps}` };
    }
    // Layer II mono allows at most 192 kbit/s (ISO/IEC 11172-3, allowed bitrate/mode combinations).
    if (e.payload === 'mp2' && e.bitrate_kbps > 192 && programChannels(c, e.program) === 1) {
      return { path: `${at}.bitrate_kbps`, reason: `a mono program in MP2 allows at most 192 kbit/s, got ${e.bitrate_kbps}` };
    }
    const id = e.id || `srt${i + 1}`;
    if (ids.has(id)) return { path: `${at}.id`, reason: `"${id}" is already the id of srt.${ids.get(id)}` };
    ids.set(id, i);
    if (t.mode === 'listener' && e.enabled) {
      const other = listenPorts.get(t.port);
      if (other !== undefined) return { path: `${at}.url`, reason: `port ${t.port} is already listened on by srt.${other}` };
      listenPorts.set(t.port, i);
    }
  }
  return null;
}

/**
 * An SRT URL's `passphrase=` taken out of its query: the URL without it (the rest kept as
 * written) and the value, null when it had none. The pages keep a passphrase in its own key
 * only, so an address shown in a form never carries it.
 */
export function takePassphrase(url: string): { url: string; passphrase: string | null } {
  const q = url.indexOf('?');
  if (q < 0) return { url, passphrase: null };
  const hash = url.indexOf('#', q);
  const end = hash < 0 ? url.length : hash;
  let passphrase: string | null = null;
  const kept = url
    .slice(q + 1, end)
    .split('&')
    .filter((part) => {
      const [k, v] = [...new URLSearchParams(part)][0] ?? [part, ''];
      if (k !== 'passphrase') return true;
      passphrase ??= v;
      return false;
    });
  if (passphrase === null) return { url, passphrase: null };
  return { url: `${url.slice(0, q)}${kept.length ? `?${kept.join('&')}` : ''}${url.slice(end)}`, passphrase };
}
