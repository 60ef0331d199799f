/**
 * WHEP (draft-ietf-wish-whep, with WHIP's RFC 9725 for the shared parts): the HTTP edge of the
 * WebRTC output. It reads bodies within limits, checks the token and content types, and maps
 * the output's typed errors to status codes. Every refusal is JSON naming what was wrong.
 *
 *   POST   /whep        application/sdp offer → 201, SDP answer, Location, ETag, Link
 *   PATCH  /whep/:id.:secret  application/trickle-ice-sdpfrag with If-Match → 204
 *   DELETE /whep/:id.:secret  → 200 (an admin may DELETE /whep/:id: the Listeners page)
 *   OPTIONS /whep[/:id] → 204 with Accept-Post / Accept-Patch, CORS and ICE server Links
 *   GET    /api/listeners
 */
import { LL_FRAME_MS, type LlFrameMs } from '../outputs/webrtc/ll.ts';
import { MAIN_PROGRAM, resolveProgramId, resolvePrograms } from '../config/programs.ts';
import { createHash, timingSafeEqual } from 'node:crypto';
import { Elysia } from 'elysia';
import {
  CapacityError,
  ClientCapacityError,
  IceRestartUnsupportedError,
  NotAcceptableError,
  PreconditionFailedError,
  PreconditionRequiredError,
  SdpError,
  SessionNotFoundError,
  UnavailableError,
} from '../outputs/webrtc/errors.ts';
import { iceServerLinks } from '../outputs/webrtc/server.ts';
import { safeEqual } from '../control/auth.ts';
import { socketRequests } from '../control/plane.ts';
import { sessionOf } from './auth.ts';
import { scopeCovers } from '../control/auth.ts';
import type { AppContext } from '../control/context.ts';
import { jsonError } from './errors.ts';

/** Largest offer or fragment accepted (a browser's offer is 2–6 KiB). */
export const MAX_WHEP_BODY = 32 * 1024;
/** Seconds a client is told to wait when hark is full. */
const RETRY_AFTER_S = 10;

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'Location, ETag, Link, Accept-Patch, Accept-Post, Retry-After, WWW-Authenticate',
};

class BodyTooLargeError extends Error {}
class UnauthorizedError extends Error {}
class UnsupportedMediaTypeError extends Error {}
class ForbiddenError extends Error {}

/** The resource path of a session: its id and its own secret, which only its client is given. */
export function sessionPath(id: string, secret: string): string {
  return `/whep/${id}.${secret}`;
}

/** `<id>.<secret>` from a resource path segment (no secret: ''). */
function splitResource(param: string): { id: string; secret: string } {
  const dot = param.indexOf('.');
  return dot < 0 ? { id: param, secret: '' } : { id: param.slice(0, dot), secret: param.slice(dot + 1) };
}

/**
 * Whether the request comes from hark's admin (the CLI socket, an API token, or a logged-in
 * browser with its CSRF token): the admin may end any listener's session.
 */
function isAdmin(ctx: AppContext, request: Request): boolean {
  if (socketRequests.has(request)) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '');
  if (m) {
    // Ending someone else's session is an admin's act (DELETE /whep/:id needs the "admin" scope).
    const t = ctx.auth.checkToken(m[1]!);
    if (t) return scopeCovers(t.scope, 'admin');
  }
  const s = sessionOf(ctx, request);
  const csrf = request.headers.get('x-csrf-token');
  return !!s && !!csrf && safeEqual(csrf, s.session.csrf);
}

/**
 * A POST from another site's page is refused: only hark's own pages (Origin is this host) and
 * clients that send no Origin (players, curl) may make sessions, so a web page elsewhere cannot
 * fill the WebRTC slots from its visitors' browsers.
 */
function originCheck(request: Request): void {
  const origin = request.headers.get('origin');
  if (origin === null) return;
  const host = request.headers.get('host') ?? new URL(request.url).host;
  let originHost = '';
  try {
    originHost = new URL(origin).host;
  } catch {}
  if (!originHost || originHost.toLowerCase() !== host.toLowerCase()) {
    throw new ForbiddenError(`a WHEP offer from another site's page is refused (Origin ${JSON.stringify(origin.slice(0, 200))} is not this box)`);
  }
}

function refuse(status: number, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Response {
  return jsonError(status, message, extra, { ...CORS, ...headers });
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
function mediaType(request: Request): string {
  return (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Read a request body as UTF-8, refusing more than `limit` bytes without buffering them. */
async function readBody(request: Request, limit: number): Promise<string> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw new BodyTooLargeError(`the body is ${declared} bytes; WHEP accepts at most ${limit}`);
  if (!request.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLargeError(`the body is over ${limit} bytes; WHEP accepts at most ${limit}`);
    }
    chunks.push(value);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new SdpError('the body is not UTF-8 text');
  }
}

function tokenCheck(ctx: AppContext, request: Request): void {
  const token = ctx.config.webrtc.token;
  if (!token) return;
  const auth = request.headers.get('authorization') ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
  if (!m) throw new UnauthorizedError(auth ? 'the Authorization header is not "Bearer <token>"' : 'a Bearer token is required (Authorization: Bearer <token>)');
  const a = createHash('sha256').update(m[1]!).digest();
  const b = createHash('sha256').update(token).digest();
  if (!timingSafeEqual(a, b)) throw new UnauthorizedError('the Bearer token is not the one configured (webrtc.token)');
}

/** Map what the WebRTC output (or this edge) refused to the status the draft gives it. */
function toResponse(e: unknown): Response {
  if (e instanceof ForbiddenError) return refuse(403, e.message);
  if (e instanceof UnauthorizedError) return refuse(401, e.message, {}, { 'www-authenticate': 'Bearer realm="hark"' });
  if (e instanceof UnsupportedMediaTypeError) return refuse(415, e.message, { field: 'content-type' });
  if (e instanceof BodyTooLargeError) return refuse(413, e.message);
  if (e instanceof SdpError) return refuse(400, `malformed SDP: ${e.message}`, e.line ? { line: e.line } : {});
  if (e instanceof NotAcceptableError) return refuse(406, e.message);
  if (e instanceof SessionNotFoundError) return refuse(404, e.message);
  if (e instanceof PreconditionRequiredError) return refuse(428, e.message, { field: 'if-match' });
  if (e instanceof PreconditionFailedError) return refuse(412, e.message, { field: 'if-match' });
  if (e instanceof IceRestartUnsupportedError) return refuse(422, e.message);
  if (e instanceof ClientCapacityError) return refuse(429, e.message, {}, { 'retry-after': String(RETRY_AFTER_S) });
  if (e instanceof CapacityError) return refuse(503, e.message, {}, { 'retry-after': String(RETRY_AFTER_S) });
  if (e instanceof UnavailableError) return refuse(503, e.message, {}, { 'retry-after': String(RETRY_AFTER_S) });
  throw e;
}

/**
 * The `?ll=` of a WHEP offer: the frame length (ms) of the low-latency `opus-ll` channel, when
 * the page opens one (absent: 5 ms). A refusal's words when it is not 5 or 2.5.
 */
export function llFrameParam(request: Request): LlFrameMs | undefined | string {
  const q = new URL(request.url).searchParams.getAll('ll');
  if (q.length === 0) return undefined;
  if (q.length > 1) return 'll is given more than once';
  const v = q[0]!;
  const ms = LL_FRAME_MS.find((f) => String(f) === v);
  if (ms === undefined) return `ll is the frame length of the low-latency channel in ms: ${LL_FRAME_MS.join(' or ')}, not "${v.slice(0, 40)}"`;
  return ms;
}

export const whepRoutes = (ctx: AppContext) => {
  const links = iceServerLinks(ctx.config.webrtc.ice_servers);
  const linkHeaders = (h: Headers) => {
    for (const l of links) h.append('link', l);
  };
  const output = () => {
    if (!ctx.webrtc) throw new UnavailableError('WebRTC is disabled (webrtc.enabled = false)');
    return ctx.webrtc;
  };
  const methodNotAllowed = (allow: string) => () =>
    refuse(405, `use ${allow.split(', ').join(' or ')} here`, {}, { allow });

  const offer = async (request: Request, server: { requestIP(r: Request): { address: string } | null } | null, program: string): Promise<Response> => {
    try {
      originCheck(request);
      tokenCheck(ctx, request);
      if (mediaType(request) !== 'application/sdp') {
        throw new UnsupportedMediaTypeError(`a WHEP offer is application/sdp, not ${mediaType(request) || 'a body without Content-Type'}`);
      }
      const ll = llFrameParam(request);
      if (typeof ll === 'string') return refuse(400, ll, { field: 'll' });
      const body = await readBody(request, MAX_WHEP_BODY);
      const remote = server?.requestIP(request)?.address ?? 'unknown';
      const real = resolveProgramId(ctx.config, program) ?? MAIN_PROGRAM;
      const { id, secret, answer, etag } = await output().open(body, {
        remote,
        userAgent: request.headers.get('user-agent') ?? '',
        program: real === resolveProgramId(ctx.config, MAIN_PROGRAM) ? MAIN_PROGRAM : real,
        ...(ll !== undefined ? { llFrameMs: ll } : {}),
      });
      const h = new Headers({
        ...CORS,
        'content-type': 'application/sdp',
        location: sessionPath(id, secret),
        etag,
        'accept-patch': 'application/trickle-ice-sdpfrag',
        'cache-control': 'no-store',
      });
      linkHeaders(h);
      return new Response(answer, { status: 201, headers: h });
    } catch (e) {
      return toResponse(e);
    }
  };

  return new Elysia({ name: 'whep' })
    .options('/whep', () => {
      const h = new Headers({
        ...CORS,
        'accept-post': 'application/sdp',
        'access-control-allow-methods': 'OPTIONS, POST',
        'access-control-allow-headers': 'Authorization, Content-Type, If-Match',
        'access-control-max-age': '86400',
      });
      linkHeaders(h);
      return new Response(null, { status: 204, headers: h });
    })
    .post('/whep', ({ request, server }) => offer(request, server, MAIN_PROGRAM), { parse: 'none' })
    .get('/whep', methodNotAllowed('POST, OPTIONS'))
    .put('/whep', methodNotAllowed('POST, OPTIONS'))
    .options('/whep/:id', () => {
      const h = new Headers({
        ...CORS,
        'accept-patch': 'application/trickle-ice-sdpfrag',
        'access-control-allow-methods': 'OPTIONS, PATCH, DELETE',
        'access-control-allow-headers': 'Authorization, Content-Type, If-Match',
        'access-control-max-age': '86400',
      });
      linkHeaders(h);
      return new Response(null, { status: 204, headers: h });
    })
    .patch(
      '/whep/:id',
      async ({ request, params }) => {
        try {
          tokenCheck(ctx, request);
          const out = output();
          const { id, secret } = splitResource(params.id);
          // Only the session's own URL (with its secret) reaches it; a wrong secret reads as unknown.
          if (!out.owns(id, secret)) throw new SessionNotFoundError(id);
          if (mediaType(request) !== 'application/trickle-ice-sdpfrag') {
            throw new UnsupportedMediaTypeError(`PATCH takes application/trickle-ice-sdpfrag (RFC 8840), not ${mediaType(request) || 'a body without Content-Type'}`);
          }
          const body = await readBody(request, MAX_WHEP_BODY);
          out.patch(id, request.headers.get('if-match'), body);
          return new Response(null, { status: 204, headers: CORS });
        } catch (e) {
          return toResponse(e);
        }
      },
      { parse: 'none' },
    )
    .delete('/whep/:id', ({ request, params }) => {
      try {
        const out = output();
        const { id, secret } = splitResource(params.id);
        const admin = isAdmin(ctx, request);
        if (!admin) {
          tokenCheck(ctx, request);
          // The id alone (as the admin's listener list shows it) is not enough to end a session.
          if (!secret) throw new ForbiddenError('ending a WebRTC session needs its own address (the Location of its POST /whep) or an admin login');
          if (!out.owns(id, secret)) throw new SessionNotFoundError(id);
        }
        out.delete(id, admin && !out.owns(id, secret) ? 'the admin' : 'the listener');
        return new Response(JSON.stringify({ deleted: id }), {
          status: 200,
          headers: { ...CORS, 'content-type': 'application/json; charset=utf-8' },
        });
      } catch (e) {
        return toResponse(e);
      }
    })
    .get('/whep/:id', methodNotAllowed('PATCH, DELETE, OPTIONS'))
    // POST /whep/<program>: a listener of one [[program]] (/whep is main's). A session's own
    // URL takes PATCH and DELETE only.
    .post(
      '/whep/:id',
      ({ request, server, params }) => {
        if (resolveProgramId(ctx.config, params.id) !== undefined) return offer(request, server, params.id);
        if (params.id.includes('.')) return methodNotAllowed('PATCH, DELETE, OPTIONS')();
        return refuse(404, `no program "${params.id.slice(0, 40)}": the programs are ${resolvePrograms(ctx.config).map((p) => p.id).join(', ')}`);
      },
      { parse: 'none' },
    )
    .get('/api/listeners', () => ({
      webrtc: ctx.webrtc?.listeners() ?? [],
      // Every program's /stream/<id>.mp3 listeners, each with its program (main: /stream.mp3).
      stream_mp3: ctx.streams.all(ctx.config).flatMap(({ id, out }) => out.listenerInfo().map((l) => ({ ...l, program: id }))),
    }));
};
