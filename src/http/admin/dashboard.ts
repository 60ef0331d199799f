/** The dashboard (`/`): are we on air, the big buttons, sharing the listen page, levels, title and marks, outputs. */
import { Elysia } from 'elysia';
import { html, htmlResponse } from '../../../web/templates/html.ts';
import * as D from '../../../web/templates/dashboard.ts';
import { ActionError } from '../../control/control.ts';
import { originOf } from '../auth.ts';
import { renderPage, str, type AdminDeps, type Body } from './shared.ts';
import * as W from './widgets.ts';
import * as A from './on-air.ts';

/** A mark's time as the box's clock reads it (the log and the recordings use the same clock). */
const localTime = (iso: string) => new Date(iso).toLocaleTimeString('en-GB');

export const dashboardRoutes = ({ ctx, hub }: AdminDeps) =>
  new Elysia({ name: 'admin-dashboard' })
      .get('/', ({ request }) =>
        renderPage(
          ctx,
          request,
          '/',
          'Dashboard',
          'dashboard',
          D.dashboardPage({
            slots: {
              state: W.slot(hub.env, 'state'),
              onAirAlert: html`${W.slot(hub.env, 'on-air-alert')}${W.slot(hub.env, 'fallback')}`,
              onAir: W.slot(hub.env, 'on-air'),
              meters: W.slot(hub.env, 'meters'),
              record: W.slot(hub.env, 'record'),
              outputs: W.slot(hub.env, 'outputs'),
              // Each program's level, when there are [[program]] entries; else the dashboard is as before.
              programs: ctx.config.program.length ? W.slot(hub.env, 'program-meters') : undefined,
            },
            share: A.shareCard(ctx, request),
            title: ctx.control.title,
            now: Date.now(),
          }),
        ),
      )
      .post('/ui/action/:action', async ({ params, request }) => {
        try {
          const r = await ctx.control.run(params.action, {}, originOf(request));
          return htmlResponse(W.statePanel(ctx, r.message));
        } catch (e) {
          if (!(e instanceof ActionError)) throw e;
          return htmlResponse(W.statePanel(ctx, e.message), 422);
        }
      })
      .post('/ui/mark', async ({ body, request }) => {
        try {
          await ctx.control.run('mark', { label: str((body as Body)?.label) }, originOf(request));
          const m = ctx.control.marks.at(-1)!;
          return htmlResponse(
            html`<span class="notice ok" role="status">Marked${m.label ? html` “${m.label}”` : ''} at ${localTime(m.at)}${A.recordingOffset(ctx, m.at)}.${
              ctx.broadcast.recorder.currentFile ? html` <a href="/recordings">Play it on the Recordings page</a>` : html` Not recording, so it is only noted in the log.`
            }</span>`,
          );
        } catch (e) {
          if (!(e instanceof ActionError)) throw e;
          return htmlResponse(html`<span class="notice bad" role="alert">${e.message}</span>`, 422);
        }
      })
      .post('/ui/metadata', async ({ body, request }) => {
        try {
          await ctx.control.run('set_metadata', { title: str((body as Body)?.title) }, originOf(request));
          const t = ctx.control.title;
          return htmlResponse(html`<span class="notice ok" role="status">${t ? 'Title set.' : 'Title cleared.'}</span>`);
        } catch (e) {
          if (!(e instanceof ActionError)) throw e;
          return htmlResponse(html`<span class="notice bad" role="alert">${e.message}</span>`, 422);
        }
      });
