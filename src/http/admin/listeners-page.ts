/** The Listeners page: who is listening, on what, for how long, and how well it arrives. */
import { Elysia } from 'elysia';
import { html } from '../../../web/templates/html.ts';
import { renderPage, type AdminDeps } from './shared.ts';
import * as W from './widgets.ts';

export const listenersRoutes = ({ ctx }: AdminDeps) =>
  new Elysia({ name: 'admin-listeners' })
      .get('/listeners', ({ request }) =>
        renderPage(
          ctx,
          request,
          '/listeners',
          'Listeners',
          'listeners',
          html`<section class="panel wide listeners-panel"><p class="listener-summary" sse-swap="listeners">${W.listeners(ctx)}</p><div id="listener-table" sse-swap="listener-table">${W.listenerTable(ctx)}</div></section>`,
        ),
      );
