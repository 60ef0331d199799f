import { Elysia } from 'elysia';
import { RecordingBusyError, RecordingNotFoundError, contentTypeOf } from '../outputs/recorder.ts';
import { parseRangeTime, planRange, rangeStream, RangeRefusal } from '../outputs/recording-range.ts';
import { jsonError } from './errors.ts';
import { holdOpen, type TimeoutServer } from './timeouts.ts';
import type { AppContext } from '../control/context.ts';

const CHUNK = 64 * 1024;

/**
 * A file as a response that lasts as long as it is read: a download of an hour's recording on a
 * slow phone must not meet the server's 30 s limit (Bun applies it to a `Bun.file` body whatever
 * the request's own limit, so the bytes go through a stream of our own). One byte range
 * (`Range: bytes=a-b`, `a-`, `-n`) is answered 206, one past the end 416; anything else gets
 * the whole file.
 */
export function fileResponse(server: TimeoutServer, request: Request, path: string, headers: Record<string, string>): Response {
  const file = Bun.file(path);
  const size = file.size;
  let start = 0;
  let end = size - 1;
  let status = 200;
  const range = /^bytes=(\d*)-(\d*)$/.exec(request.headers.get('range')?.trim() ?? '');
  if (range && (range[1] || range[2])) {
    if (range[1]) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(end, Number(range[2]));
    } else {
      start = Math.max(0, size - Number(range[2]));
    }
    if (start >= size || start > end) {
      return new Response(null, { status: 416, headers: { ...headers, 'content-range': `bytes */${size}`, 'accept-ranges': 'bytes' } });
    }
    status = 206;
  }
  let pos = start;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        if (pos > end) return c.close();
        const bytes = await file.slice(pos, Math.min(end + 1, pos + CHUNK)).bytes();
        if (!bytes.byteLength) return c.close();
        pos += bytes.byteLength;
        c.enqueue(bytes);
      },
    },
    { highWaterMark: 0 },
  );
  const res = new Response(body, {
    status,
    headers: {
      ...headers,
      'accept-ranges': 'bytes',
      'content-length': String(end - start + 1),
      ...(status === 206 ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    },
  });
  return holdOpen(server, request, res);
}

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
    // Any time range as one file, stitched across recordings (recording-range.ts).
    .get('/range', ({ request, server }) => {
      const q = new URL(request.url).searchParams;
      try {
        const plan = planRange(rec.dir, rec.list(), parseRangeTime('from', q.get('from') ?? undefined), parseRangeTime('to', q.get('to') ?? undefined));
        const res = new Response(rangeStream(plan), {
          headers: {
            'content-type': contentTypeOf(plan.filename),
            'content-disposition': `attachment; filename="${plan.filename}"`,
            'cache-control': 'no-store',
            'x-hark-duration-s': (plan.samples / 48_000).toFixed(3),
            'x-hark-gaps': String(plan.gaps),
          },
        });
        return holdOpen(server, request, res);
      } catch (e) {
        if (e instanceof RangeRefusal) return jsonError(e.status, e.message, e.field ? { field: e.field } : {});
        throw e;
      }
    })
    .get('/:name', ({ params, query, request, server }) => {
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
        // (206) either way, so a player can seek.
        return fileResponse(server, request, path, {
          'content-type': contentTypeOf(params.name),
          'content-disposition': `${query.play !== undefined ? 'inline' : 'attachment'}; filename="${params.name}"`,
          'cache-control': 'no-store',
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

/** GET /api/clips (the clips, newest first) and GET /api/clips/:name (one, playable while it is still being written). */
export const clipsRoutes = (ctx: AppContext) => {
  const clips = ctx.broadcast.clips;
  return new Elysia({ name: 'clips', prefix: '/api/clips' })
    .get('/', () => ({ dir: clips?.clipsDir ?? null, clips: clips?.list() ?? [] }))
    .get('/:name', ({ params, query, request, server }) => {
      const path = clips?.pathOf(params.name) ?? null;
      if (!path) return jsonError(404, `no such clip: ${params.name}`, { path: params.name });
      return fileResponse(server, request, path, {
        'content-type': 'audio/ogg; codecs=opus',
        'content-disposition': `${query.play !== undefined ? 'inline' : 'attachment'}; filename="${params.name}"`,
        'cache-control': 'no-store',
      });
    });
};
