import { Elysia } from 'elysia';
import { jsonError } from './errors.ts';
import { statusRoutes } from './status.ts';
import { updateRoutes } from './update.ts';
import { streamRoutes } from './stream.ts';
import { rtpRoutes } from './rtp.ts';
import { metadataRoutes } from './metadata.ts';
import { clipsRoutes, recordingsRoutes } from './recordings.ts';
import { whepRoutes } from './whep.ts';
import { listenRoutes } from './listen.ts';
import { listenInfoRoutes } from './listen-info.ts';
import { authGuard } from './auth.ts';
import { tlsRoutes } from './tls.ts';
import { hostGuard } from './host-gate.ts';
import { controlRoutes } from './control-routes.ts';
import type { AppContext } from '../control/context.ts';
import { logger } from '../log.ts';
import { compressed } from './compress.ts';
import { bodyDeadline } from './body-deadline.ts';

const log = logger('http');

/** The whole HTTP surface: one Elysia instance per feature, composed here. */
export function createApp(ctx: AppContext) {
  return new Elysia({ name: 'hark' })
    .onError(({ code, error, request }) => {
      const path = new URL(request.url).pathname;
      switch (code) {
        case 'NOT_FOUND':
          return jsonError(404, `no such resource: ${request.method} ${path}`, { path });
        case 'VALIDATION': {
          const first = (error as { all?: { path?: string; summary?: string; message?: string }[] }).all?.[0];
          const field = first?.path?.replace(/^\//, '').replaceAll('/', '.') ?? '';
          // The field first, as every other refusal says it ("passphrase: Expected string length …").
          const why = first?.summary ?? first?.message ?? 'invalid request';
          return jsonError(400, field ? `${field}: ${why}` : why, { field });
        }
        case 'PARSE':
          return jsonError(400, `the request body could not be parsed: ${(error as Error).message}`);
        case 'INVALID_COOKIE_SIGNATURE':
          return jsonError(400, 'invalid cookie');
        default:
          log.error(`${request.method} ${path} failed: ${(error as Error)?.message ?? String(error)}`);
          return jsonError(500, 'internal error');
      }
    })
    // Pages and their assets go out gzipped to clients that take it (never streams: compress.ts).
    .mapResponse({ as: 'global' }, ({ request, responseValue }) => (responseValue instanceof Response ? compressed(request, responseValue) : undefined))
    // The gates run before routing: no route can be reached around them. First the Host
    // header (DNS rebinding) and the security headers; a body that stalls is answered 408
    // before anything reads it (the auth gate reads forms); then who is asking.
    .use(hostGuard(ctx))
    .use(bodyDeadline())
    .use(authGuard(ctx))
    // Admin pages over plain HTTP go to HTTPS when it is on; GET /ca.crt.
    .use(tlsRoutes(ctx))
    .use(statusRoutes(ctx))
    .use(updateRoutes())
    .use(streamRoutes(ctx))
    .use(rtpRoutes(ctx))
    .use(metadataRoutes(ctx))
    .use(recordingsRoutes(ctx))
    .use(clipsRoutes(ctx))
    .use(whepRoutes(ctx))
    .use(listenRoutes(ctx))
    .use(listenInfoRoutes(ctx))
    .use(controlRoutes(ctx));
}

export type App = ReturnType<typeof createApp>;
