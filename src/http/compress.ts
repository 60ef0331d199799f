/**
 * gzip for the pages and their assets (HTML, CSS, JS, JSON) when the client accepts it, with
 * `Vary: Accept-Encoding`. Never for audio, the SSE stream or range answers: those are
 * streamed as they are made (or sliced by byte offsets), and compressing them would buffer
 * them (RFC 9110 §8.4: a range applies to the encoded content).
 */
import { gzipSync } from 'node:zlib';

const COMPRESSIBLE = /^(text\/(html|css|javascript|plain)|application\/(javascript|json)|image\/svg\+xml)\b/;
/** Below this, gzip's header and the CPU cost more than they save. */
const MIN_BYTES = 512;
/** gzip of assets that carry an ETag (the same bytes every time), kept by ETag. */
const byEtag = new Map<string, Uint8Array>();
const MAX_CACHED = 32;

export function acceptsGzip(request: Request): boolean {
  const ae = request.headers.get('accept-encoding') ?? '';
  return /\bgzip\b(?!\s*;\s*q=0(\.0*)?\b)/i.test(ae);
}

/** The response, gzipped when it is a compressible document and the client accepts gzip. */
export async function compressed(request: Request, res: Response): Promise<Response> {
  const type = res.headers.get('content-type') ?? '';
  // A body streamed as it is made (`hark logs -f`) says `Cache-Control: no-transform`: gzip
  // would wait for its end, which never comes.
  if (!res.body || !COMPRESSIBLE.test(type) || res.headers.has('content-encoding') || res.status === 206 || request.headers.has('range')) return res;
  if (/\bno-transform\b/i.test(res.headers.get('cache-control') ?? '')) return res;
  const vary = res.headers.get('vary');
  if (!vary || !/accept-encoding/i.test(vary)) res.headers.set('vary', vary ? `${vary}, Accept-Encoding` : 'Accept-Encoding');
  if (!acceptsGzip(request)) return res;
  const etag = res.headers.get('etag');
  let gz = etag ? byEtag.get(etag) : undefined;
  if (!gz) {
    const body = new Uint8Array(await res.arrayBuffer());
    if (body.byteLength < MIN_BYTES) return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    gz = gzipSync(body, { level: 6 });
    if (etag) {
      if (byEtag.size >= MAX_CACHED) byEtag.delete(byEtag.keys().next().value!);
      byEtag.set(etag, gz);
    }
  }
  const headers = new Headers(res.headers);
  headers.set('content-encoding', 'gzip');
  headers.delete('content-length');
  return new Response(gz as BodyInit, { status: res.status, statusText: res.statusText, headers });
}
