/**
 * The admin page at `/`: one module per page (its full page and the htmx fragments its widgets
 * post to), the shared config-form handlers, and the login, first-run and logout forms. Thin:
 * everything acts through the control model, the config store and the auth model.
 */
import { Elysia } from 'elysia';
import type { AppContext } from '../../control/context.ts';
import type { SseHub } from '../sse.ts';
import { sessionRoutes } from './session.ts';
import { dashboardRoutes } from './dashboard.ts';
import { inputRoutes } from './input-page.ts';
import { outputsRoutes } from './outputs-page.ts';
import { listenersRoutes } from './listeners-page.ts';
import { recordingsRoutes } from './recordings-page.ts';
import { systemRoutes } from './system-page.ts';
import { scheduleRoutes } from './schedule-page.ts';
import { programsRoutes } from './programs-page.ts';

export { safeNext } from './session.ts';

export const adminRoutes = (ctx: AppContext, hub: SseHub) => {
  const deps = { ctx, hub, devices: ctx.devices };
  return new Elysia({ name: 'admin' })
    .use(sessionRoutes(ctx))
    .use(dashboardRoutes(deps))
    .use(inputRoutes(deps))
    .use(programsRoutes(deps))
    .use(outputsRoutes(deps))
    .use(listenersRoutes(deps))
    .use(recordingsRoutes(deps))
    .use(scheduleRoutes(deps))
    .use(systemRoutes(deps));
};
