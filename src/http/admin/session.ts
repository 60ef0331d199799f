/**
 * The first-run page (`/setup`), login and logout: the only admin routes open without a
 * session. Plain forms (no htmx), each with its own pre-session CSRF cookie.
 */
import { Elysia } from 'elysia';
import { randomBytes } from 'node:crypto';
import type { AppContext } from '../../control/context.ts';
import { htmlResponse, type Html } from '../../../web/templates/html.ts';
import { loginPage, notFoundPage, setupPage } from '../../../web/templates/pages.ts';
import { checkPasswordRules, loginWaitMessage, safeEqual } from '../../control/auth.ts';
import { logger } from '../../log.ts';
import { PRE_CSRF_COOKIE, SESSION_COOKIE, cookie, readCookie } from '../auth.ts';
import { needsSetupCode, setupCodeRefusal } from '../setup-gate.ts';
import { str, type Body } from './shared.ts';

const log = logger('http admin');

/** Only paths on this site (never //host or a scheme) are followed after login. */
export function safeNext(next: string): string {
  // Printable ASCII only: it becomes a Location header, where a NUL or a character past
  // Latin-1 cannot go (the response would fail after the session was made). Paths hark sends
  // here are percent-encoded already.
  return /^\/(?![/\\])[\x21-\x7e]*$/.test(next) ? next : '/';
}

export const sessionRoutes = (ctx: AppContext) => {
  const preCsrf = (request: Request) => readCookie(request, PRE_CSRF_COOKIE) ?? '';
  const newPreCsrf = () => randomBytes(18).toString('base64url');
  const remoteOf = (request: Request, server: { requestIP(r: Request): { address: string } | null } | null) => server?.requestIP(request)?.address ?? 'unknown';

  function startSession(request: Request, to: string): Response {
    const s = ctx.auth.createSession();
    const h = new Headers({ location: to, 'cache-control': 'no-store' });
    h.append('set-cookie', cookie(SESSION_COOKIE, s.id, s.maxAgeS, request));
    h.append('set-cookie', cookie(PRE_CSRF_COOKIE, '', 0, request));
    return new Response(null, { status: 303, headers: h });
  }

  function withPreCsrf(request: Request, body: Html, status = 200, extra: Record<string, string> = {}, token?: string): Response {
    const t = token ?? newPreCsrf();
    return htmlResponse(body, status, { 'set-cookie': cookie(PRE_CSRF_COOKIE, t, 3600, request), ...extra });
  }

  return (
    new Elysia({ name: 'admin-session' })
      .get('/setup', ({ request, server }) => {
        if (ctx.auth.hasPassword()) return htmlResponse(notFoundPage('The admin password is set; this page no longer exists.'), 404);
        const t = newPreCsrf();
        return withPreCsrf(request, setupPage({ resetAt: ctx.setup.factoryResetAt, csrf: t, needsCode: needsSetupCode(request, server as never) }), 200, {}, t);
      })
      .post('/setup', async ({ request, body, server }) => {
        if (ctx.auth.hasPassword()) return htmlResponse(notFoundPage('The admin password is set; this page no longer exists.'), 404);
        const b = (body ?? {}) as Body;
        const needsCode = needsSetupCode(request, server as never);
        const given = str(b._csrf);
        if (!given || !safeEqual(given, preCsrf(request))) {
          const t = newPreCsrf();
          return withPreCsrf(request, setupPage({ resetAt: ctx.setup.factoryResetAt, csrf: t, needsCode, error: 'The form expired: try again.' }), 403, {}, t);
        }
        const refused = needsCode ? setupCodeRefusal(ctx, request, server as never, str(b.code)) : null;
        if (refused) {
          const t = newPreCsrf();
          return withPreCsrf(request, setupPage({ resetAt: ctx.setup.factoryResetAt, csrf: t, needsCode, code: str(b.code).slice(0, 32), errors: { code: refused.message } }), refused.status, refused.headers, t);
        }
        const pw = str(b.password);
        const errors: Record<string, string> = {};
        try {
          checkPasswordRules(pw);
        } catch (e) {
          errors.password = (e as Error).message.replace(/^password: /, '');
        }
        if (!errors.password && pw !== str(b.confirm)) errors.confirm = 'the two passwords differ';
        if (Object.keys(errors).length) {
          const t = newPreCsrf();
          return withPreCsrf(request, setupPage({ resetAt: ctx.setup.factoryResetAt, csrf: t, needsCode, code: str(b.code), errors }), 422, {}, t);
        }
        await ctx.auth.setPassword(pw);
        ctx.setup.done();
        log.info('admin password set on the first-run page');
        return startSession(request, '/');
      })
      .get('/login', ({ request, query }) => {
        if (!ctx.auth.hasPassword()) return new Response(null, { status: 303, headers: { location: '/setup' } });
        const t = newPreCsrf();
        return withPreCsrf(request, loginPage({ csrf: t, next: safeNext(String(query.next ?? '/')) }), 200, {}, t);
      })
      .post('/login', async ({ request, body, server }) => {
        if (!ctx.auth.hasPassword()) return new Response(null, { status: 303, headers: { location: '/setup' } });
        const b = (body ?? {}) as Body;
        const next = safeNext(str(b.next) || '/');
        const remote = remoteOf(request, server as never);
        const t = newPreCsrf();
        const tooMany = (w: { retryAfterMs: number; reason: 'locked' | 'busy' }) => {
          const s = Math.max(1, Math.ceil(w.retryAfterMs / 1000));
          log.warn(`login from ${remote} refused: ${w.reason === 'busy' ? 'another check from this address is running' : 'too many wrong passwords'}`);
          return withPreCsrf(request, loginPage({ csrf: t, next, error: loginWaitMessage(w), retryAfterS: s }), 429, { 'retry-after': String(s) }, t);
        };
        const wait = ctx.auth.limiter.retryAfterMs(remote);
        if (wait > 0) return tooMany({ retryAfterMs: wait, reason: 'locked' });
        const given = str(b._csrf);
        if (!given || !safeEqual(given, preCsrf(request))) {
          return withPreCsrf(request, loginPage({ csrf: t, next, error: 'The form expired: try again.' }), 403, {}, t);
        }
        // Counted before the (slow) check, so a burst from one address cannot all be checked.
        const check = await ctx.auth.checkPassword(remote, str(b.password));
        if (check.result === 'wait') return tooMany(check);
        if (check.result === 'wrong') {
          log.warn(`failed login from ${remote} (${ctx.auth.limiter.failures(remote)} in a row)`);
          return withPreCsrf(request, loginPage({ csrf: t, next, error: 'Wrong password.' }), 401, {}, t);
        }
        log.info(`login from ${remote}`);
        return startSession(request, next);
      })
      .post('/logout', ({ request, body }) => {
        const sid = readCookie(request, SESSION_COOKIE);
        const s = ctx.auth.session(sid);
        // A logout must come from the page (its CSRF token), or anyone could log you out.
        if (s && !safeEqual(str((body as Body | undefined)?._csrf) || (request.headers.get('x-csrf-token') ?? ''), s.csrf)) {
          return new Response('the CSRF token is missing', { status: 403 });
        }
        ctx.auth.endSession(sid);
        const h = new Headers({ location: '/login', 'cache-control': 'no-store' });
        h.append('set-cookie', cookie(SESSION_COOKIE, '', 0, request));
        if (request.headers.get('hx-request')) h.set('hx-redirect', '/login');
        return new Response(null, { status: 303, headers: h });
      })
  );
};
