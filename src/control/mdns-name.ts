/**
 * The name the box answers to on the network (mDNS): what avahi announces, not what it was
 * asked for. After a real name clash avahi calls the box `studio-2.local`; a page that sends
 * people to `studio.local` would send them to the other device.
 *
 * On the image, hark-mdns-name.service (/usr/lib/hark/mdns-name) reads avahi's name over D-Bus
 * every 15 s and writes it (`studio-2.local`) to the file named by `HARK_MDNS_NAME_FILE`
 * (/run/hark-mdns/name, set in hark.service). Without that file, or when it has not been
 * rewritten for MAX_AGE_MS (the service stopped, avahi is down), or when it holds no DNS name,
 * the name is `<hostname>.local`, as avahi would announce it without a clash.
 */
import { readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';

/** The file is rewritten every 15 s; older than this, it is not believed. */
export const MAX_AGE_MS = 120_000;

/** A DNS name of LDH labels (RFC 1123), at most 253 characters. */
const NAME_RE = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** `<hostname>.local`: what avahi announces when nothing clashes. */
export function defaultMdnsName(host = hostname()): string {
  return `${host.toLowerCase().replace(/\.local\.?$/, '').split('.')[0]}.local`;
}

/**
 * The announced name from the file's text: one line, `studio-2.local` (a bare `studio-2` gets
 * `.local`); null when it is not a DNS name (empty, torn, garbage).
 */
export function parseMdnsName(text: string): string | null {
  const line = text.trim().toLowerCase().replace(/\.$/, '');
  if (line.includes('\n')) return null;
  const name = line.includes('.') ? line : `${line}.local`;
  return NAME_RE.test(name) ? name : null;
}

/**
 * The box's mDNS name now: the announced one when the file is fresh and sane, else
 * `<hostname>.local`. Cheap (one stat and a tiny read): called for each page that shows it.
 */
export function mdnsName(opts: { file?: string; now?: number; host?: string } = {}): string {
  const file = opts.file ?? process.env.HARK_MDNS_NAME_FILE;
  const fallback = defaultMdnsName(opts.host);
  if (!file) return fallback;
  try {
    const st = statSync(file);
    if (!st.isFile() || st.size > 512) return fallback;
    if ((opts.now ?? Date.now()) - st.mtimeMs > MAX_AGE_MS) return fallback;
    return parseMdnsName(readFileSync(file, 'utf8')) ?? fallback;
  } catch {
    return fallback;
  }
}
