/**
 * A request body must arrive in time. Without this gate a client could start a body and never
 * finish it, holding a socket and its buffers (Bun's own timer, http/timeouts.ts, would only cut
 * it without an answer). Every request with a body, whatever its route, is read first (a tee:
 * the route then reads the same bytes): nothing for BODY_IDLE_MS, or not all of it within
 * BODY_TOTAL_MS, and it is answered 408 and the connection closed (RFC 9110 §15.5.9). Bun's
 * timer for the request is lifted past BODY_TOTAL_MS meanwhile, so the 408 is what the client
 * sees, and set back to IDLE_TIMEOUT_S once the body is in.
 */
import { Elysia } from 'elysia';
import { socketRequests } from '../control/plane.ts';
import { jsonError } from './errors.ts';
import { MAX_RELEASE_BYTES } from '../system/release.ts';
import { IDLE_TIMEOUT_S, setTimeoutOf } from './timeouts.ts';

/** A release upload's own deadline (http/update.ts), which Bun's timer must outlast. */
const UPLOAD_TOTAL_MS = 15 * 60_000;

/** A body that sends nothing for this long is given up on. */
export const BODY_IDLE_MS = 10_000;
/** A body not complete after this long is given up on (one byte every few seconds is a stall too). */
export const BODY_TOTAL_MS = 30_000;
/** The largest request body hark takes (413 past it), but for a release upload. */
export const MAX_REQUEST_BODY = 1024 * 1024;
/**
 * Routes that take a large body and read it themselves, with their own limit and deadlines
 * (a release: http/update.ts). The server's own limit (MAX_SERVER_BODY) is theirs.
 */
export const UPLOAD_PATHS: ReadonlySet<string> = new Set(['/api/update']);
/** Bun's limit for the servers: a release and some; every other route stops at MAX_REQUEST_BODY here. */
export const MAX_SERVER_BODY = MAX_RELEASE_BYTES + 1024 * 1024;

function hasBody(request: Request): boolean {
  if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return false;
  const length = request.headers.get('content-length');
  if (length !== null) return Number(length) > 0;
  return request.headers.has('transfer-encoding') && request.body !== null;
}

/**
 * Wait for the whole body of `request` (without consuming it); a 408 response when it stalls,
 * else undefined.
 */
export async function awaitBody(request: Request, idleMs = BODY_IDLE_MS, totalMs = BODY_TOTAL_MS, maxBytes = MAX_REQUEST_BODY): Promise<Response | undefined> {
  if (!hasBody(request) || socketRequests.has(request)) return undefined;
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) return tooLarge(maxBytes);
  const reader = request.clone().body?.getReader();
  if (!reader) return undefined;
  try {
    const end = await readChunks(reader, { idleMs, totalMs, maxBytes });
    if (end === 'too-large') return tooLarge(maxBytes);
    if (end === 'idle' || end === 'total') {
      const why = end === 'total' ? `was not complete after ${totalMs / 1000} s` : `sent nothing for ${idleMs / 1000} s`;
      return jsonError(408, `the request body ${why}: the connection is closed`, {}, { connection: 'close' });
    }
    return undefined;
  } catch {
    // The client went away mid-body: the route's own read fails the same way and answers.
    return undefined;
  }
}

/**
 * Read a body chunk by chunk, each handed to `onChunk`, within the deadlines: nothing for
 * `idleMs`, or not all of it within `totalMs`, and it is cancelled ('idle', 'total'); past
 * `maxBytes` too ('too-large'). 'done' when it all came. Shared by every body read (this gate,
 * the release upload in http/update.ts).
 */
export async function readChunks(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  o: { idleMs: number; totalMs: number; maxBytes: number },
  onChunk: (chunk: Uint8Array) => void | Promise<void> = () => {},
): Promise<'done' | 'idle' | 'total' | 'too-large'> {
  const start = Date.now();
  let got = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    for (;;) {
      const left = Math.min(o.idleMs, o.totalMs - (Date.now() - start));
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, left))));
      const next = await Promise.race([reader.read(), late]);
      clearTimeout(timer);
      if (next === 'late') {
        reader.cancel().catch(() => {});
        return left < o.idleMs ? 'total' : 'idle';
      }
      if (next.done) return 'done';
      got += next.value.length;
      if (got > o.maxBytes) {
        reader.cancel().catch(() => {});
        return 'too-large';
      }
      await onChunk(next.value);
    }
  } finally {
    clearTimeout(timer);
  }
}

function tooLarge(maxBytes: number): Response {
  return jsonError(413, `the request body is larger than ${maxBytes / 1048576} MB`, {}, { connection: 'close' });
}

/** The gate, first of every onRequest hook (before the auth gate reads a form's CSRF field). */
export const bodyDeadline = () =>
  new Elysia({ name: 'body-deadline' }).onRequest(async ({ request, server }) => {
    if (!hasBody(request) || socketRequests.has(request)) return;
    if (UPLOAD_PATHS.has(new URL(request.url).pathname)) {
      // The route reads the body itself, with its own limit and deadlines (http/update.ts).
      setTimeoutOf(server, request, UPLOAD_TOTAL_MS / 1000 + IDLE_TIMEOUT_S);
      return;
    }
    setTimeoutOf(server, request, BODY_TOTAL_MS / 1000 + IDLE_TIMEOUT_S);
    const refused = await awaitBody(request);
    if (refused) return refused;
    // The body is in: the handler (and the idle connection after it) has the usual limit.
    setTimeoutOf(server, request, IDLE_TIMEOUT_S);
  });
