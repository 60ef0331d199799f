/**
 * Everything the control issue serves over HTTP, composed: the admin page and its fragments,
 * the JSON API, SSE, /metrics, the OpenAPI document and the page assets.
 */
import { Elysia } from 'elysia';
import type { AppContext } from '../control/context.ts';
import { adminRoutes } from './admin/index.ts';
import { apiRoutes } from './api.ts';
import { metricsRoutes } from './metrics.ts';
import { openapiRoutes } from './openapi.ts';
import { SseHub, sseRoutes } from './sse.ts';
import { staticRoutes } from './static.ts';
import { notifyRoutes } from './notify.ts';

export const controlRoutes = (ctx: AppContext) => {
  const hub = new SseHub(ctx);
  ctx.plane.onClose(() => {
    hub.close();
  });
  return new Elysia({ name: 'control-http' })
    .use(staticRoutes())
    .use(adminRoutes(ctx, hub))
    .use(apiRoutes(ctx))
    .use(sseRoutes(ctx, hub))
    .use(metricsRoutes(ctx))
    .use(openapiRoutes(ctx))
    .use(notifyRoutes(ctx));
};
