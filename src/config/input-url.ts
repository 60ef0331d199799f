/**
 * What `input.url` says for a network input (input.source = "srt" or "rtp"): parsed once,
 * checked by the config loader (a bad URL is refused naming `input.url`) and used by the
 * receiver. Pure code.
 */

export type RtpPayloadName = 'l16' | 'l24' | 'opus';

export interface RtpInputUrl {
  kind: 'rtp';
  /** Address to bind ('' = every address); a multicast group to join when `group`. */
  host: string;
  port: number;
  /** The multicast group joined (239.x.x.x, 224.x …), '' for unicast. */
  group: string;
  /**
   * The payload when no SDP says it: `?payload=l24`. Undefined: taken from the payload type
   * (10/11 = L16 per RFC 3551, a dynamic one is assumed L24 below 8 channels… see rtp.ts).
   */
  payload?: RtpPayloadName;
  /** Channels of L16/L24 (`?channels=2`, default input.channels). */
  channels?: number;
  /** Only packets of this payload type (`?pt=96`); others are counted and dropped. */
  pt?: number;
}

export interface SrtInputUrl {
  kind: 'srt';
  mode: 'listener' | 'caller';
  /** Host to call (caller), or the address to bind ('' = every address) for a listener. */
  host: string;
  port: number;
  /** SRT stream id (`?streamid=`), '' when none. */
  streamId: string;
  /** `?passphrase=` in the URL (input.passphrase wins when set). */
  passphrase: string;
  /** `?latency=` in ms when the URL gives it (else input.buffer_ms). */
  latencyMs?: number;
}

export type InputUrl = RtpInputUrl | SrtInputUrl;

/** A refused URL: the reason, in words for the person who wrote it. */
export class InputUrlError extends Error {
  override readonly name = 'InputUrlError';
}

function port(p: string, url: string): number {
  const n = Number(p);
  if (!p || !Number.isInteger(n) || n < 1 || n > 65535) throw new InputUrlError(`needs a port 1–65535, as in ${url.startsWith('srt') ? 'srt://:9000?mode=listener' : 'rtp://:5004'}`);
  return n;
}

/** Split "host:port" / "[v6]:port" / ":port" / "@group:port". */
function hostPort(rest: string, url: string): { host: string; port: number } {
  const m = /^(\[[^\]]*\]|[^:/?#]*):(\d+)\/?$/.exec(rest);
  if (!m) throw new InputUrlError(`expected host:port after the scheme, got ${JSON.stringify(rest)}`);
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  // eslint-disable-next-line no-control-regex
  if (/[\s\0-\x1f]/.test(host)) throw new InputUrlError('the host has spaces or control characters');
  return { host, port: port(m[2]!, url) };
}

function isMulticast(host: string): boolean {
  const m = /^(\d+)\.\d+\.\d+\.\d+$/.exec(host);
  if (m) return Number(m[1]) >= 224 && Number(m[1]) <= 239;
  return /^ff[0-9a-f]{2}:/i.test(host);
}

/**
 * Parse `input.url` for `source` ("srt" or "rtp"). Throws InputUrlError with the reason.
 */
export function parseInputUrl(source: 'srt' | 'rtp', url: string): InputUrl {
  if (!url) throw new InputUrlError(`is empty: a ${source} input needs one, e.g. ${source === 'srt' ? 'srt://:9000?mode=listener' : 'rtp://:5004'}`);
  const scheme = `${source}://`;
  if (!url.toLowerCase().startsWith(scheme)) throw new InputUrlError(`must start with ${scheme} for input.source = "${source}"`);
  const body = url.slice(scheme.length);
  const q = body.indexOf('?');
  const rest = q < 0 ? body : body.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : body.slice(q + 1));
  if (source === 'rtp') {
    const at = rest.startsWith('@');
    const hp = hostPort(at ? rest.slice(1) : rest, url);
    const group = isMulticast(hp.host) ? hp.host : '';
    if (at && !group) throw new InputUrlError(`"@${hp.host}" is not a multicast group (224.0.0.0–239.255.255.255)`);
    const out: RtpInputUrl = { kind: 'rtp', host: hp.host, port: hp.port, group };
    for (const [k, v] of params) {
      if (k === 'payload') {
        if (v !== 'l16' && v !== 'l24' && v !== 'opus') throw new InputUrlError(`payload=${v} is not one of l16, l24, opus`);
        out.payload = v;
      } else if (k === 'channels') {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 8) throw new InputUrlError(`channels=${v} is not 1–8`);
        out.channels = n;
      } else if (k === 'pt') {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 127) throw new InputUrlError(`pt=${v} is not a payload type 0–127`);
        out.pt = n;
      } else throw new InputUrlError(`unknown parameter "${k}" (rtp takes payload, channels, pt)`);
    }
    return out;
  }
  const hp = hostPort(rest, url);
  const mode = params.get('mode') ?? (hp.host ? 'caller' : 'listener');
  if (mode !== 'listener' && mode !== 'caller') throw new InputUrlError(`mode=${mode} is not listener or caller`);
  if (mode === 'caller' && !hp.host) throw new InputUrlError('a caller needs the host to call, as in srt://studio.example:9000?mode=caller');
  const out: SrtInputUrl = { kind: 'srt', mode, host: hp.host, port: hp.port, streamId: params.get('streamid') ?? '', passphrase: params.get('passphrase') ?? '' };
  const lat = params.get('latency');
  if (lat !== null) {
    const n = Number(lat);
    if (!Number.isInteger(n) || n < 0 || n > 5000) throw new InputUrlError(`latency=${lat} is not 0–5000 ms`);
    out.latencyMs = n;
  }
  for (const k of params.keys()) {
    if (!['mode', 'streamid', 'passphrase', 'latency'].includes(k)) throw new InputUrlError(`unknown parameter "${k}" (srt takes mode, streamid, passphrase, latency)`);
  }
  if (out.streamId.length > 512) throw new InputUrlError('streamid is longer than 512 characters');
  return out;
}

/** A passphrase SRT accepts: empty, or 10–79 characters. */
export function checkPassphrase(p: string): string | null {
  if (p === '' || (p.length >= 10 && p.length <= 79)) return null;
  return `SRT needs 10–79 characters (got ${p.length}), or empty for no encryption`;
}
