/** The Listeners page: who is listening, on what, for how long, and how well it arrives. */
import { Elysia } from 'elysia';
import { listenersPage } from '../../../web/templates/listeners.ts';
import { renderPage, type AdminDeps } from './shared.ts';
import * as W from './widgets.ts';

export const listenersRoutes = ({ ctx, hub }: AdminDeps) =>
  new Elysia({ name: 'admin-listeners' })
      .get('/listeners', ({ request }) =>
        renderPage(
          ctx,
          request,
          '/listeners',
          'Listeners',
          'listeners',
          listenersPage({ count: W.slot(hub.env, 'listeners'), table: W.slot(hub.env, 'listener-table') }),
        ),
      );
