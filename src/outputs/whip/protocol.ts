/**
 * WHIP (RFC 9725) mechanics: POST the SDP offer, read the 201 (answer + Location), DELETE the
 * session resource at the end. No PeerConnection here; `session.ts` owns that and
 * `output.ts` the lifecycle and retries.
 */

export type WhipErrorKind =
  | 'auth' // 401/403: the token was refused
  | 'busy' // 409/429/503: the server cannot take us now (may say when, Retry-After)
  | 'refused' // any other non-201 answer
  | 'timeout' // no answer in time, or ICE/DTLS did not connect
  | 'network' // connection refused, reset, DNS
  | 'protocol'; // an answer that is not SDP, or no Location

export class WhipError extends Error {
  override readonly name = 'WhipError';
  constructor(
    readonly kind: WhipErrorKind,
    message: string,
    readonly status?: number,
    /** From Retry-After, when the server said. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface WhipAnswer {
  sdp: string;
  /** The session resource (absolute URL), for DELETE. */
  resource: string;
  etag: string | null;
}

function headers(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return token ? { authorization: `Bearer ${token}`, ...extra } : extra;
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. */
export function parseRetryAfter(v: string | null, now = Date.now()): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** RFC 9725 §4.2: POST the offer (application/sdp); 201 Created carries the answer and Location. */
export async function postOffer(endpoint: string, offer: string, token: string, timeoutMs: number): Promise<WhipAnswer> {
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: headers(token, { 'content-type': 'application/sdp', accept: 'application/sdp' }),
      body: offer,
      signal: AbortSignal.timeout(timeoutMs),
      // A 307/308 keeps method and body (RFC 9725 §4.5 allows redirects).
      redirect: 'follow',
    });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.name === 'TimeoutError') throw new WhipError('timeout', `no answer from ${new URL(endpoint).host} within ${timeoutMs / 1000} s`);
    const what = err.code === 'ECONNREFUSED' ? `connection refused by ${new URL(endpoint).host}` : err.message;
    throw new WhipError('network', what);
  }
  const body = await res.text().catch(() => '');
  const reason = `${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  const detail = body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 160);
  if (res.status === 401 || res.status === 403) throw new WhipError('auth', `the WHIP server refused the token (${reason})`, res.status);
  if (res.status === 409 || res.status === 429 || res.status === 503) {
    throw new WhipError('busy', `the WHIP server is busy (${reason}${detail ? `: ${detail}` : ''})`, res.status, parseRetryAfter(res.headers.get('retry-after')));
  }
  if (res.status !== 201) throw new WhipError('refused', `the WHIP server answered ${reason}${detail ? `: ${detail}` : ''}`, res.status);
  const location = res.headers.get('location');
  if (!location) throw new WhipError('protocol', 'the WHIP server sent no Location for the session (RFC 9725 §4.2)');
  if (!body.startsWith('v=0')) throw new WhipError('protocol', 'the WHIP server answered without an SDP answer');
  return { sdp: body, resource: new URL(location, res.url || endpoint).href, etag: res.headers.get('etag') };
}

/** RFC 9725 §4.2: DELETE the session resource to end it. Errors are returned, not thrown. */
export async function deleteResource(resource: string, token: string, timeoutMs = 2000): Promise<string | null> {
  try {
    const res = await fetch(resource, { method: 'DELETE', headers: headers(token), signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer().catch(() => {});
    return res.ok ? null : `DELETE ${resource}: ${res.status}`;
  } catch (e) {
    return `DELETE ${resource}: ${(e as Error).message}`;
  }
}
