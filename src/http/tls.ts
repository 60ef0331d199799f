/**
 * HTTPS from the app's side: admin pages asked for over plain HTTP are sent to HTTPS (308, so a
 * form's POST stays a POST), while what listeners and monitors use stays on plain HTTP too —
 * phones then need no certificate warning to listen. And `GET /ca.crt`: the box's CA, public,
 * for users to install on their devices.
 */
import { Elysia } from 'elysia';
import { socketRequests } from '../control/plane.ts';
import { accessOf, isHttps } from './auth.ts';
import type { AppContext } from '../control/context.ts';
import { jsonError } from './errors.ts';

/** What stays reachable over plain HTTP while HTTPS is on. */
export function plainHttpAllowed(method: string, path: string): boolean {
  const a = accessOf(method, path);
  return a === 'listener' || a === 'status' || path.startsWith('/static/') || path === '/favicon.ico' || path === '/ca.crt';
}

/** Where the same request goes over HTTPS: the host the client used, the HTTPS port. */
export function httpsLocation(request: Request, port: number): string {
  const url = new URL(request.url);
  let host = url.hostname;
  const given = request.headers.get('host');
  if (given) {
    try {
      host = new URL(`http://${given}`).hostname;
    } catch {
      // A Host that is not a host: keep the server's own idea of it.
    }
  }
  return `https://${host}${port === 443 ? '' : `:${port}`}${url.pathname}${url.search}`;
}

// No Strict-Transport-Security: it would send browsers to HTTPS for the listen page and
// /stream.mp3 too, which must keep working over plain HTTP without a certificate warning.
export const tlsRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'tls' })
    // After the gate (app.ts): a Host the gate refuses never gets a redirect to it.
    .onRequest(({ request }) => {
      if (!ctx.tls.active || isHttps(request) || socketRequests.has(request)) return;
      const path = new URL(request.url).pathname;
      if (plainHttpAllowed(request.method, path)) return;
      return new Response(null, { status: 308, headers: { location: httpsLocation(request, ctx.tls.port), 'cache-control': 'no-store' } });
    })
    .get('/ca.crt', () => {
      const pem = ctx.tls.caPem();
      if (!pem) return jsonError(404, 'this box has no certificate authority: HTTPS is off, or it uses a certificate of your own', { path: '/ca.crt' });
      // application/x-x509-ca-cert: what phones recognise as "install this CA".
      return new Response(pem, {
        headers: { 'content-type': 'application/x-x509-ca-cert', 'content-disposition': 'attachment; filename="hark-ca.crt"', 'cache-control': 'no-cache' },
      });
    });
