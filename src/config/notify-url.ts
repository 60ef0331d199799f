/**
 * A `[[notify]]` entry's address as the page may show it: an smtp:// or mqtt:// URL can hold a
 * password, and a web address's path or query often holds a token. The page never shows either.
 */

/**
 * A URL's user and password as written (password null: none), with its scheme and what follows
 * the user info; null when it has none. The user info ends at the authority's last @ (as a URL
 * parser reads it); in text that is no URL, at the last @ before any ? or #, so a password with
 * a stray / is still found.
 */
export function userInfo(url: string): { user: string; password: string | null; scheme: string; rest: string } | null {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(.*)$/is.exec(url.trim());
  if (!m) return null;
  const after = m[2]!;
  const end = URL.canParse(url.trim()) ? after.search(/[/?#]|$/) : after.search(/[?#]|$/);
  const at = after.slice(0, end).lastIndexOf('@');
  if (at < 0) return null;
  const info = after.slice(0, at);
  const colon = info.indexOf(':');
  return { scheme: m[1]!, user: colon < 0 ? info : info.slice(0, colon), password: colon < 0 ? null : info.slice(colon + 1), rest: after.slice(at + 1) };
}

/**
 * A notifier's address as the page may show it: smtp://user:secret@host → smtp://user@host (the
 * password never reaches the page; an edit left as it is keeps the saved one).
 */
export function urlWithoutPassword(url: string): string {
  const u = userInfo(url);
  if (!u || u.password === null) return url;
  return `${u.scheme}${u.user ? `${u.user}@` : ''}${u.rest}`;
}

/** A notifier's address for the list: no password, and a web address without its path and query (they often hold a token). */
export function notifyWhere(type: string, url: string): string {
  const shown = urlWithoutPassword(url);
  if (type !== 'webhook') return shown;
  const m = /^(https?:\/\/[^/?#]*)(.*)$/i.exec(shown);
  return m ? `${m[1]}${m[2] && m[2] !== '/' ? '/…' : ''}` : shown;
}
