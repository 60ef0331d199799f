/**
 * Which config keys hold secrets, declared once, and a config with them taken out: what the
 * diagnostic report (and anything else that shows a config to someone else) uses.
 * secrets.test.ts fails when a key whose name looks secret (password, token, credential, key,
 * url) is in neither SECRET_KEYS nor NOT_SECRET, so a new key is never shown by accident.
 */
import type { Config } from './schema.ts';

/**
 * How a secret key is taken out:
 * - `value`: the whole value ("(removed)" when set; an empty value stays empty, so the reader
 *   sees it was not set);
 * - `url`: a URL whose password (`user:password@`) and query values are removed; the host, port
 *   and path stay (an Icecast mount is not a secret);
 * - `url-origin`: only the scheme, host and port stay (a WHIP URL may carry its key in the path);
 * - `values`: a table whose every value is removed, its keys kept (a webhook's headers);
 * - `srt-url`: an SRT URL keeps all but its `passphrase=` query value (srt://:9000 is no WHATWG URL).
 */
export type SecretKind = 'value' | 'url' | 'url-origin' | 'values' | 'srt-url';

/** Dotted keys, lists of tables as `*` (as schemaLeaves in live.ts writes them). */
export const SECRET_KEYS: Readonly<Record<string, SecretKind>> = {
  'icecast.*.url': 'url',
  'icecast.*.password': 'value',
  'whip.*.url': 'url-origin',
  'whip.*.token': 'value',
  'srt.*.passphrase': 'value',
  // An SRT URL may carry passphrase=… in its query.
  'srt.*.url': 'srt-url',
  'webrtc.token': 'value',
  'webrtc.ice_servers.*.url': 'url',
  'webrtc.ice_servers.*.credential': 'value',
  'access.listener_token': 'value',
  'admin.password': 'value',
  // A webhook's path may be its key (Home Assistant, ntfy topics); SMTP and MQTT URLs carry a login.
  'notify.*.url': 'url-origin',
  'notify.*.headers': 'values',
  // A network input's URL may carry an SRT passphrase or stream id in its query.
  'input.url': 'url',
  'input.passphrase': 'value',
};

/** Keys whose names look secret but are not, and why. */
export const NOT_SECRET: Readonly<Record<string, string>> = {
  'program.*.highpass_hz': 'a filter frequency (high-pass), not a password',
  'tls.key_file': 'the path of the key file, not the key',
  'icecast.*.website': 'the station web site, public in the stream',
};

export const REMOVED = '(removed)';

/** A URL with its password and query values removed (text that is not a URL is removed whole). */
function redactUrl(text: string, originOnly: boolean, found: Set<string>): string {
  if (!text) return text;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    found.add(text);
    return REMOVED;
  }
  if (u.password) found.add(decodeURIComponent(u.password));
  if (originOnly) {
    if (u.pathname.length > 1) found.add(decodeURIComponent(u.pathname.slice(1)));
    for (const v of u.searchParams.values()) found.add(v);
    const host = u.host || u.pathname;
    return u.pathname.length > 1 || u.search ? `${u.protocol}//${host}/${REMOVED}` : `${u.protocol}//${host}`;
  }
  for (const [k, v] of [...u.searchParams]) {
    found.add(v);
    u.searchParams.set(k, REMOVED);
  }
  if (u.password) u.password = 'REMOVED';
  return u.toString().replace(':REMOVED@', `:${REMOVED}@`).replaceAll('%28removed%29', REMOVED);
}

/**
 * A plain copy of `config` with every secret taken out, and the secret values found (non-empty,
 * as written), so that text made from elsewhere (log lines) can be cleaned of them too.
 */
export function redactConfig(config: Config): { config: Record<string, unknown>; secrets: string[] } {
  const copy: Record<string, unknown> = { ...structuredClone(config) };
  const found = new Set<string>();
  for (const [key, kind] of Object.entries(SECRET_KEYS)) {
    walk(copy, key.split('.'), (value) => {
      if (kind === 'values' && value !== null && typeof value === 'object') {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) {
          if (typeof v === 'string' && v) found.add(v);
          out[k] = typeof v === 'string' && v ? REMOVED : v;
        }
        return out;
      }
      if (typeof value !== 'string' || value === '') return value;
      if (kind === 'value') {
        found.add(value);
        return REMOVED;
      }
      if (kind === 'srt-url') {
        return value.replace(/([?&]passphrase=)([^&#]*)/gi, (_m, k: string, v: string) => {
          if (v) {
            found.add(v);
            try {
              found.add(decodeURIComponent(v));
            } catch {
              // Kept as written.
            }
          }
          return `${k}${REMOVED}`;
        });
      }
      return redactUrl(value, kind === 'url-origin', found);
    });
  }
  return { config: copy, secrets: [...found].filter((s) => s.length >= 3 && s !== REMOVED) };
}

/** Replace what `fn` returns at every place `path` (with `*` for each entry of a list) names. */
function walk(node: unknown, path: string[], fn: (v: unknown) => unknown): void {
  if (node === null || typeof node !== 'object') return;
  const [head, ...rest] = path;
  if (head === undefined) return;
  if (head === '*') {
    if (Array.isArray(node)) for (const item of node) walk(item, rest, fn);
    return;
  }
  const obj = node as Record<string, unknown>;
  if (!Object.hasOwn(obj, head)) return;
  if (rest.length === 0) obj[head] = fn(obj[head]);
  else walk(obj[head], rest, fn);
}

/** `text` with every occurrence of each secret replaced (longest first, so no part of one is left). */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    out = out.replaceAll(s, REMOVED);
    // The same secret as it appears in a URL or a JSON string.
    const enc = encodeURIComponent(s);
    if (enc !== s) out = out.replaceAll(enc, REMOVED);
    const json = JSON.stringify(s).slice(1, -1);
    if (json !== s) out = out.replaceAll(json, REMOVED);
  }
  return out;
}
