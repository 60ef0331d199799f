/**
 * GET /listen: the listen page (web/listen.html) and its assets. Every file is served by hark
 * from the checkout or the image, read once at start; no CDN.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Elysia } from 'elysia';
import type { AppContext } from '../control/context.ts';
import { resolveProgramId, resolvePrograms } from '../config/programs.ts';
import { escapeHtml } from '../../web/templates/html.ts';

const WEB = resolve(import.meta.dir, '../../web');

const ASSETS: Record<string, { file: string; type: string }> = {
  '/listen': { file: 'listen.html', type: 'text/html; charset=utf-8' },
  '/static/listen.js': { file: 'static/listen.js', type: 'text/javascript; charset=utf-8' },
  '/static/listen.css': { file: 'static/listen.css', type: 'text/css; charset=utf-8' },
  // Low latency (issue 19): the page's side of opus-ll, its AudioWorklet, the buffer both share
  // and the shared ring between them.
  '/static/ll.js': { file: 'static/ll.js', type: 'text/javascript; charset=utf-8' },
  '/static/ll-worklet.js': { file: 'static/ll-worklet.js', type: 'text/javascript; charset=utf-8' },
  '/static/ll-buffer.js': { file: 'static/ll-buffer.js', type: 'text/javascript; charset=utf-8' },
  '/static/ll-ring.js': { file: 'static/ll-ring.js', type: 'text/javascript; charset=utf-8' },
};

/**
 * The listen page is cross-origin isolated (COOP same-origin + COEP require-corp: issue 19):
 * it loads only hark's own files, so nothing breaks, and isolation gives the low-latency path
 * SharedArrayBuffer and precise timers. Only on the page itself (its subresources are same-origin).
 */
export const ISOLATION_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } as const;

export const listenRoutes = (ctx: AppContext) => {
  const app = new Elysia({ name: 'listen' });
  // /listen/<program>: the same page, opened on one program (the page reads its path).
  const page = readFileSync(join(WEB, 'listen.html'));
  const pageTag = `"${Bun.hash(page).toString(16)}"`;
  app.get('/listen/:program', ({ params, request }) => {
    if (resolveProgramId(ctx.config, params.program) === undefined) {
      const list = resolvePrograms(ctx.config)
        .map((p) => `<li><a href="/listen/${p.id}">${escapeHtml(p.name)}</a></li>`)
        .join('');
      return new Response(
        `<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>No such program</title><link rel="stylesheet" href="/static/listen.css"><main id="listen"><h1>No such program</h1><p>This box has no program called “${escapeHtml(params.program.slice(0, 40))}”. Choose one:</p><ul>${list}</ul></main>`,
        { status: 404, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } },
      );
    }
    return request.headers.get('if-none-match') === pageTag
      ? new Response(null, { status: 304, headers: { etag: pageTag } })
      : new Response(page, { headers: { 'content-type': 'text/html; charset=utf-8', etag: pageTag, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', ...ISOLATION_HEADERS } });
  });
  for (const [path, { file, type }] of Object.entries(ASSETS)) {
    const body = readFileSync(join(WEB, file));
    const etag = `"${Bun.hash(body).toString(16)}"`;
    app.get(path, ({ request }) =>
      request.headers.get('if-none-match') === etag
        ? new Response(null, { status: 304, headers: { etag } })
        : new Response(body, { headers: { 'content-type': type, etag, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', ...(path === '/listen' ? ISOLATION_HEADERS : {}) } }),
    );
  }
  return app;
};
