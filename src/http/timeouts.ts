/**
 * How long a connection may take, on the HTTP and HTTPS servers.
 *
 * Bun's `idleTimeout` is not reset by the bytes a response sends or a body brings: it runs from
 * the moment a request's head has arrived (or the previous response ended) and cuts the
 * connection when it expires (Bun 1.4.5, measured; its timer ticks every 4 s). With `0` (no
 * limit) a connection that never sends a whole request head, or that sits idle on keep-alive,
 * was held for ever. So the servers run with IDLE_TIMEOUT_S: a keep-alive connection left idle,
 * a pipelined request whose head never ends, or a handler that hangs is closed after ~30 s; a
 * first request's head that never ends is closed by Bun after ~10 s
 * (test/hostile-slow.test.ts measures both).
 *
 * A response that lasts as long as it is read (/stream.mp3, the monitor, SSE, `?follow`) takes
 * its own request out of that limit (`holdOpen`) and closes its connection when it ends, so the
 * connection never sits idle without a limit afterwards. A request body has its own deadline
 * (body-deadline.ts, 408), which `bodyTime` lets run its course.
 */

/** Seconds a connection may wait for a request, or a request for its response (max 255). */
export const IDLE_TIMEOUT_S = 30;

/** What a request's timeout is set on (Elysia's `server`; null in `app.handle` tests). */
export type TimeoutServer = { timeout(request: Request, seconds: number): void } | null | undefined;

/** Set one request's limit (0: none); a request that is not a live server's (tests) is left alone. */
export function setTimeoutOf(server: TimeoutServer, request: Request, seconds: number): void {
  try {
    server?.timeout(request, seconds);
  } catch {
    // Made in-process (app.handle): no connection to limit.
  }
}

/**
 * A long-lived response: no time limit for its request while it is open (the stream's own
 * rules drop a reader that falls behind), and `Connection: close`, so the connection ends with
 * it. Any other response (a refusal: 4xx, 503) is returned as it is.
 */
export function holdOpen(server: TimeoutServer, request: Request, response: Response): Response {
  if ((response.status !== 200 && response.status !== 206) || !response.body) return response;
  setTimeoutOf(server, request, 0);
  response.headers.set('connection', 'close');
  return response;
}

/**
 * For an audio stream's `onStall` (outputs/http-stream.ts): while its socket is full (Bun and the
 * kernel hold ~3 MB first), the limit runs again, so a listener whose socket takes nothing for
 * IDLE_TIMEOUT_S (one that never reads) is closed; a reader that keeps taking bytes, however
 * slowly, never is.
 */
export function stallLimit(server: TimeoutServer, request: Request): (stalled: boolean) => void {
  return (stalled) => setTimeoutOf(server, request, stalled ? IDLE_TIMEOUT_S : 0);
}
