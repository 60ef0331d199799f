import { Elysia } from 'elysia';
import { TooManyListenersError, type HttpStreamOutput } from '../outputs/http-stream.ts';
import { jsonError } from './errors.ts';
import { holdOpen, stallLimit } from './timeouts.ts';
import type { AppContext } from '../control/context.ts';
import { resolvePrograms } from '../config/programs.ts';

/** GET /stream.mp3: the main program's live MP3 stream for any player; /stream/<id>.mp3: each program's. */
export const streamRoutes = (ctx: AppContext) => {
  const serve = (out: HttpStreamOutput, request: Request, server: (Parameters<typeof stallLimit>[0] & { requestIP(r: Request): { address: string } | null }) | null): Response => {
    const remote = server?.requestIP(request)?.address ?? 'unknown';
    try {
      return holdOpen(server, request, out.open(remote, request.headers.get('user-agent') ?? '', request.headers.get('icy-metadata') === '1', stallLimit(server, request)));
    } catch (e) {
      if (e instanceof TooManyListenersError) return jsonError(503, e.message, {}, { 'retry-after': '30' });
      throw e;
    }
  };
  return new Elysia({ name: 'stream' })
    .get('/stream.mp3', ({ request, server }) => serve(ctx.mp3, request, server))
    .get('/stream/:file', ({ request, server, params }) => {
      const m = /^([a-z0-9][a-z0-9_-]{0,31})\.mp3$/.exec(params.file);
      const out = m ? ctx.streams.get(ctx.config, m[1]!) : undefined;
      if (!out) {
        const ids = resolvePrograms(ctx.config).map((p) => `/stream/${p.id}.mp3`);
        return jsonError(404, `no such stream: ${m ? `no program "${m[1]}"` : 'a program stream is /stream/<program>.mp3'}; the streams are ${ids.join(', ')}`);
      }
      return serve(out, request, server);
    });
};
