/**
 * GET /listen: the listen page (web/listen.html) and its assets. Every file is served by hark
 * from the checkout or the image, read once at start; no CDN.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Elysia } from 'elysia';
import type { AppContext } from '../control/context.ts';

const WEB = resolve(import.meta.dir, '../../web');

const ASSETS: Record<string, { file: string; type: string }> = {
  '/listen': { file: 'listen.html', type: 'text/html; charset=utf-8' },
  '/static/listen.js': { file: 'static/listen.js', type: 'text/javascript; charset=utf-8' },
  '/static/listen.css': { file: 'static/listen.css', type: 'text/css; charset=utf-8' },
};

export const listenRoutes = (_ctx: AppContext) => {
  const app = new Elysia({ name: 'listen' });
  for (const [path, { file, type }] of Object.entries(ASSETS)) {
    const body = readFileSync(join(WEB, file));
    const etag = `"${Bun.hash(body).toString(16)}"`;
    app.get(path, ({ request }) =>
      request.headers.get('if-none-match') === etag
        ? new Response(null, { status: 304, headers: { etag } })
        : new Response(body, { headers: { 'content-type': type, etag, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' } }),
    );
  }
  return app;
};
