import { Elysia } from 'elysia';
import { RecordingBusyError, RecordingNotFoundError, contentTypeOf } from '../outputs/recorder.ts';
import { jsonError } from './errors.ts';
import type { AppContext } from '../control/context.ts';

/** GET /api/recordings, GET and DELETE /api/recordings/:name (GET also a recording's CUE sheet, `hark-…Z.cue`). */
export const recordingsRoutes = (ctx: AppContext) => {
  const rec = ctx.broadcast.recorder;
  const refusal = (e: unknown, name: string) => {
    if (e instanceof RecordingNotFoundError) return jsonError(404, e.message, { path: name });
    if (e instanceof RecordingBusyError) return jsonError(409, e.message, { path: name });
    throw e;
  };
  return new Elysia({ name: 'recordings', prefix: '/api/recordings' })
    .get('/', () => ({ dir: rec.dir, state: rec.state, recordings: rec.list() }))
    .get('/:name', ({ params, query }) => {
      try {
        if (params.name.endsWith('.cue')) {
          // A recording's marks as a CUE sheet, under its own name: saved beside the recording
          // (downloaded under its own name too), it finds it.
          return new Response(rec.cue(params.name), {
            headers: {
              'content-type': 'application/x-cue; charset=utf-8',
              'content-disposition': `attachment; filename="${params.name}"`,
              'cache-control': 'no-store',
            },
          });
        }
        const path = rec.pathOf(params.name);
        // ?play: for the page's <audio> player (inline); otherwise a download. Range requests
        // (206) come with Bun.file either way, so a player can seek.
        return new Response(Bun.file(path), {
          headers: {
            'content-type': contentTypeOf(params.name),
            'content-disposition': `${query.play !== undefined ? 'inline' : 'attachment'}; filename="${params.name}"`,
            'cache-control': 'no-store',
          },
        });
      } catch (e) {
        return refusal(e, params.name);
      }
    })
    .delete('/:name', ({ params }) => {
      try {
        rec.delete(params.name);
        return new Response(null, { status: 204 });
      } catch (e) {
        return refusal(e, params.name);
      }
    });
};
