/** The Listeners page: who is listening, on what, for how long, and how well it arrives. */
import { Elysia } from 'elysia';
import { html } from '../../../web/templates/html.ts';
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
          html`<section class="panel wide">${W.slot(hub.env, 'listeners')}${W.slot(hub.env, 'listener-table')}</section>`,
        ),
      );
