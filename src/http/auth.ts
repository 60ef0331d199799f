/**
 * The one gate in front of every route (an Elysia onRequest hook, so no route can forget it).
 *
 *   public    /static/*, /login, /setup, /logout, /api/openapi.json, /ca.crt
 *   listener  /listen*, /whep*, /stream.mp3, /rtp/<id>.sdp — public, or the listener token (access.listener_token)
 *   status    GET /api/status, GET /metrics — public while access.public_status (loopback always)
 *   admin     everything else — a session cookie, an API token (Authorization: Bearer) or the
 *             CLI's Unix socket; a token only within its scope (scopes.ts)
 *
 * A mutating request with a session cookie also needs the session's CSRF token (header
 * X-CSRF-Token or form field _csrf): 403 without it. No session and no token: 401. Any
 * mutating request whose Origin is another site is refused (403) before anything else.
 * Until an admin password exists, only the first-run page and the box itself may act. "The box
 * itself" (here and for status) is loopback without a proxy's headers (host-gate.ts
 * `fromLoopback`); the Host header was checked before this gate (host-gate.ts `hostGuard`).
 */
import { Elysia } from 'elysia';
import type { Origin } from '../control/events.ts';
import type { Scope, Session } from '../control/auth.ts';
import { safeEqual } from '../control/auth.ts';
import { socketRequests } from '../control/plane.ts';
import type { AppContext } from '../control/context.ts';
import { jsonError } from './errors.ts';
import { tokenRefusal } from './scopes.ts';
import { BoxNames, fromLoopback, originAllowed, remoteOf } from './host-gate.ts';

export const SESSION_COOKIE = 'hark_session';
/** Double-submit CSRF cookie for the login and first-run forms (before there is a session). */
export const PRE_CSRF_COOKIE = 'hark_csrf';
/** Set by /listen?token=… so the page's WHEP requests and /stream.mp3 carry the token. */
export const LISTEN_COOKIE = 'hark_listen';

export type Principal =
  | { kind: 'socket' }
  | { kind: 'session'; id: string; session: Session }
  | { kind: 'token'; id: string; name: string; scope: Scope }
  | { kind: 'loopback-setup' }
  | { kind: 'anonymous' };

const principals = new WeakMap<Request, Principal>();

/** Who made this request (set by the gate). */
export function principalOf(request: Request): Principal {
  return principals.get(request) ?? { kind: 'anonymous' };
}

/** The action origin a request's principal stands for. */
export function originOf(request: Request): Origin {
  const p = principalOf(request);
  return p.kind === 'socket' ? 'cli' : p.kind === 'session' ? 'web' : 'api';
}

export function parseCookies(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    if (!k || k in out) continue;
    try {
      out[k] = decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      out[k] = part.slice(i + 1).trim();
    }
  }
  return out;
}

/** The request came over hark's own HTTPS server. */
export function isHttps(request: Request | undefined): boolean {
  return !!request && request.url.startsWith('https:');
}

/**
 * A cookie's name on this request's scheme: over HTTPS `__Host-<name>` (which browsers accept
 * only with Secure, Path=/ and no Domain, and never from plain HTTP), so a session made over
 * HTTPS is not the cookie plain HTTP reads, and plain HTTP cannot plant one for HTTPS.
 */
export function cookieName(name: string, request: Request | undefined): string {
  return isHttps(request) ? `__Host-${name}` : name;
}

/** The value of hark's cookie `name` as this request's scheme names it. */
export function readCookie(request: Request, name: string): string | undefined {
  return parseCookies(request.headers.get('cookie'))[cookieName(name, request)];
}

/** A Set-Cookie value: HttpOnly, SameSite=Strict, Path=/ always; Secure and `__Host-` over HTTPS. */
export function cookie(name: string, value: string, maxAgeS: number, request?: Request): string {
  const secure = request && (isHttps(request) || request.headers.get('x-forwarded-proto') === 'https');
  return `${cookieName(name, request)}=${encodeURIComponent(value)}; Path=/; Max-Age=${Math.max(0, Math.round(maxAgeS))}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

type Access = 'public' | 'listener' | 'status' | 'admin';

export function accessOf(method: string, path: string): Access {
  if (path.startsWith('/static/') || path === '/favicon.ico') return 'public';
  if (path === '/login' || path === '/setup' || path === '/logout' || path === '/api/openapi.json' || path === '/ca.crt') return 'public';
  if (path === '/stream.mp3' || path.startsWith('/stream/') || path.startsWith('/rtp/') || path === '/listen' || path.startsWith('/listen/') || path === '/whep' || path.startsWith('/whep/')) return 'listener';
  if ((method === 'GET' || method === 'HEAD') && (path === '/api/status' || path === '/metrics')) return 'status';
  return 'admin';
}

/** A loopback peer address; the exemptions need more (`fromLoopback`: no proxy headers). */
export { isLoopbackAddress as isLoopback } from './host-gate.ts';

function bearer(request: Request): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '');
  return m ? m[1]! : null;
}

function wantsHtml(request: Request): boolean {
  return (request.headers.get('accept') ?? '').includes('text/html') && !request.headers.get('hx-request');
}

/**
 * A cross-site mutating request (Origin or Sec-Fetch-Site says so). The Origin must be one of
 * the box's own names (host-gate.ts): comparing it with Host proved nothing, since a
 * rebinding page chooses both.
 */
function crossSite(ctx: AppContext, request: Request): boolean {
  const origin = request.headers.get('origin');
  if (origin === 'null') return true;
  if (origin && !originAllowed(origin, (h) => boxNames.has(ctx.config, h))) return true;
  return request.headers.get('sec-fetch-site') === 'cross-site';
}
const boxNames = new BoxNames();

/** The CSRF token a request carries: the header, or the form field of a urlencoded/multipart body. */
export async function csrfFromRequest(request: Request): Promise<string | null> {
  const h = request.headers.get('x-csrf-token');
  if (h) return h;
  const type = request.headers.get('content-type') ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded') && !type.startsWith('multipart/form-data')) return null;
  try {
    const v = (await request.clone().formData()).get('_csrf');
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** The admin session of a request (cookie), if valid. */
export function sessionOf(ctx: AppContext, request: Request): { id: string; session: Session } | null {
  const id = readCookie(request, SESSION_COOKIE);
  const session = id ? ctx.auth.session(id) : null;
  return session && id ? { id, session } : null;
}

/**
 * For /listen, /whep and /stream.mp3 (the WebRTC engineer's routes may call it too): null
 * when the request may listen, else the 401 to send. With no access.listener_token set,
 * listening is public. The token may come as `?token=`, `Authorization: Bearer` or the
 * hark_listen cookie; an admin session or the CLI socket may always listen.
 */
export function listenerGuard(ctx: AppContext, request: Request): Response | null {
  const want = ctx.config.access.listener_token;
  if (!want || request.method === 'OPTIONS') return null;
  if (socketRequests.has(request) || sessionOf(ctx, request)) return null;
  const url = new URL(request.url);
  const given = url.searchParams.get('token') ?? bearer(request) ?? readCookie(request, LISTEN_COOKIE) ?? '';
  if (given && safeEqual(given, want)) return null;
  return jsonError(
    401,
    given ? 'the listener token is not the one configured' : 'listening here needs the listener token: open the link you were given (…?token=…)',
    {},
    { 'www-authenticate': 'Bearer realm="hark listen"', 'access-control-allow-origin': '*' },
  );
}

function unauthorized(ctx: AppContext, request: Request, path: string): Response {
  const setup = !ctx.auth.hasPassword();
  if (wantsHtml(request) && (request.method === 'GET' || request.method === 'HEAD')) {
    const to = setup ? '/setup' : `/login${path !== '/' ? `?next=${encodeURIComponent(path + new URL(request.url).search)}` : ''}`;
    return new Response(null, { status: 303, headers: { location: to, 'cache-control': 'no-store' } });
  }
  const headers: Record<string, string> = { 'www-authenticate': 'Bearer realm="hark"' };
  if (request.headers.get('hx-request')) headers['hx-redirect'] = setup ? '/setup' : '/login';
  return jsonError(
    401,
    setup ? 'no admin password is set yet: set it at /setup (or `hark passwd` over SSH)' : 'log in (a session cookie) or send an API token (Authorization: Bearer …)',
    {},
    headers,
  );
}

/** The gate: classify the request, identify who sent it, refuse or let it through. */
export const authGuard = (ctx: AppContext) =>
  new Elysia({ name: 'auth' }).onRequest(async ({ request, server, set }) => {
    const url = new URL(request.url);
    const path = url.pathname;
    const method = request.method;
    const access = accessOf(method, path);

    if (socketRequests.has(request)) {
      principals.set(request, { kind: 'socket' });
      return;
    }
    if (MUTATING.has(method) && access !== 'listener' && crossSite(ctx, request)) {
      return jsonError(403, 'cross-site request refused');
    }
    if (access === 'public') return;
    if (access === 'listener') {
      const refused = listenerGuard(ctx, request);
      if (refused) return refused;
      // A listener who opened /listen?token=… keeps it in a cookie, so the page's own WHEP
      // and /stream.mp3 requests pass without the page having to carry it.
      const t = url.searchParams.get('token');
      if (t && ctx.config.access.listener_token && path === '/listen') set.headers['set-cookie'] = cookie(LISTEN_COOKIE, t, 7 * 86400, request);
      return;
    }

    const tok = bearer(request);
    if (tok) {
      const t = ctx.auth.checkToken(tok);
      if (t) {
        principals.set(request, { kind: 'token', id: t.id, name: t.name, scope: t.scope });
        // A token acts only within its scope (scopes.ts).
        return tokenRefusal(t.scope, method, path) ?? undefined;
      }
      if (access !== 'status') return jsonError(401, 'the API token is not valid (revoked, or never issued)', {}, { 'www-authenticate': 'Bearer realm="hark", error="invalid_token"' });
    }
    const s = sessionOf(ctx, request);
    if (s) {
      principals.set(request, { kind: 'session', ...s });
      if (MUTATING.has(method)) {
        const given = await csrfFromRequest(request);
        if (!given || !safeEqual(given, s.session.csrf)) {
          return jsonError(403, given ? 'the CSRF token does not match this session: reload the page' : 'the CSRF token is missing (X-CSRF-Token header or _csrf field)');
        }
      }
      return;
    }
    // The loopback exemptions hold only for the box itself, never for what a proxy on it forwards.
    const local = fromLoopback(remoteOf(server as never, request), request);
    if (access === 'status' && (ctx.config.access.public_status || local)) return;
    const setup = !ctx.auth.hasPassword();
    // A browser on a box without a password goes to the first-run page, wherever it is.
    if (setup && wantsHtml(request) && method === 'GET') return unauthorized(ctx, request, path);
    if (setup && local) {
      // Before any password exists the box is in setup: whoever is on it may act (as SSH can).
      principals.set(request, { kind: 'loopback-setup' });
      return;
    }
    return unauthorized(ctx, request, path);
  });
