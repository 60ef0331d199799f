import { Elysia } from 'elysia';
import { TooManyListenersError } from '../outputs/http-stream.ts';
import { jsonError } from './errors.ts';
import { holdOpen, stallLimit } from './timeouts.ts';
import type { AppContext } from '../control/context.ts';

/** GET /stream.mp3: the live MP3 stream for any player. */
export const streamRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'stream' }).get('/stream.mp3', ({ request, server }) => {
    const remote = server?.requestIP(request)?.address ?? 'unknown';
    try {
      return holdOpen(server, request, ctx.mp3.open(remote, request.headers.get('user-agent') ?? '', request.headers.get('icy-metadata') === '1', stallLimit(server, request)));
    } catch (e) {
      if (e instanceof TooManyListenersError) return jsonError(503, e.message, {}, { 'retry-after': '30' });
      throw e;
    }
  });
