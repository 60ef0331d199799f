/**
 * POST /api/update: a release file as the request body (application/octet-stream; `hark update
 * FILE` and the System page send it), streamed to the data partition, checked and installed by
 * src/system/update.ts. GET /api/update: what runs, what is on trial, the last outcome.
 *
 * The body is the one large upload hark takes (a release is ~60 MB): it bypasses the 1 MB limit
 * and the 30 s body deadline of every other request (body-deadline.ts) and has its own here,
 * read chunk by chunk to a file so memory stays flat.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Elysia } from 'elysia';
import { logger } from '../log.ts';
import { MAX_RELEASE_BYTES, ReleaseError } from '../system/release.ts';
import { theUpdater } from '../system/update.ts';
import { originOf } from './auth.ts';
import { jsonError } from './errors.ts';
import { readChunks } from './body-deadline.ts';

const log = logger('update');

/** A release upload that sends nothing for this long is given up on. */
export const UPLOAD_IDLE_MS = 15_000;
/** …or is not complete after this long (60 MB over slow Wi-Fi fits). */
export const UPLOAD_TOTAL_MS = 15 * 60_000;

export class UploadRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Read a request body to `file`, at most maxBytes, within the deadlines. */
export async function receiveBody(request: Request, file: string, maxBytes: number, idleMs = UPLOAD_IDLE_MS, totalMs = UPLOAD_TOTAL_MS): Promise<number> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) throw new UploadRefused(413, `the file is ${Math.round(Number(declared) / 1048576)} MB, larger than any hark release`);
  const reader = request.body?.getReader();
  if (!reader) throw new UploadRefused(400, 'the request body is empty: send the release file (hark-<version>-arm64.hark)');
  const sink = Bun.file(file).writer({ highWaterMark: 1 << 20 });
  let total = 0;
  let end: Awaited<ReturnType<typeof readChunks>>;
  try {
    end = await readChunks(reader, { idleMs, totalMs, maxBytes }, async (chunk) => {
      total += chunk.length;
      sink.write(chunk);
      await sink.flush();
    });
  } finally {
    await sink.end();
  }
  if (end === 'total') throw new UploadRefused(408, `the upload was not complete after ${totalMs / 60_000} minutes`);
  if (end === 'idle') throw new UploadRefused(408, `the upload sent nothing for ${idleMs / 1000} s`);
  if (end === 'too-large') throw new UploadRefused(413, `the file is larger than any hark release (over ${Math.round(maxBytes / 1048576)} MB)`);
  if (total === 0) throw new UploadRefused(400, 'the request body is empty: send the release file (hark-<version>-arm64.hark)');
  return total;
}

export const updateRoutes = () =>
  new Elysia({ name: 'update', prefix: '/api' })
    .get('/update', () => theUpdater().status())
    .post(
      '/update',
      async ({ request, query }) => {
        const updater = theUpdater();
        const unavailable = updater.unavailableReason();
        if (unavailable) return jsonError(409, `cannot update here: ${unavailable}`, { field: 'file' }, { connection: 'close' });
        const q = query as Record<string, string | undefined>;
        const allow = q.allow_downgrade;
        if (allow !== undefined && !['0', '1', 'true', 'false'].includes(allow)) {
          return jsonError(400, 'allow_downgrade must be 1 or 0', { field: 'allow_downgrade' }, { connection: 'close' });
        }
        const dir = updater.paths.dir;
        const tmp = join(dir, `.upload-${randomBytes(6).toString('hex')}`);
        try {
          mkdirSync(dir, { recursive: true });
          const bytes = await receiveBody(request, tmp, MAX_RELEASE_BYTES);
          log.info(`release upload of ${bytes} bytes from ${originOf(request)}`);
          const r = await updater.install(tmp, { allowDowngrade: allow === '1' || allow === 'true', origin: originOf(request) });
          return new Response(JSON.stringify({ ok: true, version: r.header.version, message: r.message }), {
            status: 202,
            headers: { 'content-type': 'application/json; charset=utf-8' },
          });
        } catch (e) {
          if (e instanceof UploadRefused) return jsonError(e.status, e.message, { field: 'file' }, { connection: 'close' });
          if (e instanceof ReleaseError) {
            log.warn(`update refused: ${e.message}`);
            return jsonError(422, `${e.message}. Nothing changed.`, { field: e.field });
          }
          throw e;
        } finally {
          rmSync(tmp, { force: true });
        }
      },
      { parse: 'none' },
    );
