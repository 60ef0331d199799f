/**
 * The admin page's assets, served by hark from the checkout or the image: htmx and its SSE
 * extension from node_modules (nothing to build, no CDN), and web/static/admin.{css,js}.
 * Each file is read at its first request (not at start: an idle box keeps neither the files
 * nor zlib's level-9 state, bench/idle-rss.ts), then kept; a gzip copy is served to clients
 * that accept it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';
import { Elysia } from 'elysia';

const ROOT = resolve(import.meta.dir, '../..');

export const ASSETS: Record<string, { file: string; type: string }> = {
  '/static/htmx.min.js': { file: 'node_modules/htmx.org/dist/htmx.min.js', type: 'text/javascript; charset=utf-8' },
  '/static/htmx-sse.js': { file: 'node_modules/htmx-ext-sse/dist/sse.min.js', type: 'text/javascript; charset=utf-8' },
  '/static/admin.css': { file: 'web/static/admin.css', type: 'text/css; charset=utf-8' },
  '/static/admin.js': { file: 'web/static/admin.js', type: 'text/javascript; charset=utf-8' },
  '/static/dashboard.js': { file: 'web/static/dashboard.js', type: 'text/javascript; charset=utf-8' },
};

export const staticRoutes = () => {
  const app = new Elysia({ name: 'admin-static' });
  for (const [path, { file, type }] of Object.entries(ASSETS)) {
    const full = join(ROOT, file);
    if (!existsSync(full)) throw new Error(`${full} is missing (run bun install: htmx.org and htmx-ext-sse come from npm)`);
    let asset: { body: Buffer; gz: Uint8Array; etag: string; base: Record<string, string> } | undefined;
    const load = () => {
      const body = readFileSync(full);
      const etag = `"${Bun.hash(body).toString(16)}"`;
      const base = { 'content-type': type, etag, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', vary: 'accept-encoding' };
      return { body, gz: gzipSync(body, { level: 9 }), etag, base };
    };
    app.get(path, ({ request }) => {
      const { body, gz, etag, base } = (asset ??= load());
      if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers: { etag } });
      if (/\bgzip\b/.test(request.headers.get('accept-encoding') ?? '')) return new Response(gz as BodyInit, { headers: { ...base, 'content-encoding': 'gzip' } });
      return new Response(body as BodyInit, { headers: base });
    });
  }
  return app;
};
