/** The dashboard (`/`): are we on air, the big buttons, levels, outputs, title and marks. */
import { Elysia } from 'elysia';
import { html, htmlResponse } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { ActionError } from '../../control/control.ts';
import { originOf } from '../auth.ts';
import { renderPage, str, type AdminDeps, type Body } from './shared.ts';
import * as W from './widgets.ts';

export const dashboardRoutes = ({ ctx, hub }: AdminDeps) =>
  new Elysia({ name: 'admin-dashboard' })
      .get('/', ({ request }) =>
        renderPage(
          ctx,
          request,
          '/',
          'Dashboard',
          'dashboard',
          html`<div class="grid">
${W.statePanel(ctx)}
<section class="panel"><h2>Input level</h2><div id="meters" sse-swap="meters">${W.meters(hub.meter)}</div></section>
<section class="panel"><h2>Recording</h2><div id="record-control" class="record-control" sse-swap="record">${W.recordControl(ctx)}</div><a href="/recordings">Recordings</a></section>
<section class="panel"><h2>Listeners</h2><p class="listeners big-number" id="listener-count" sse-swap="listeners">${W.listeners(ctx)}</p><a href="/listeners">Who is listening</a></section>
<section class="panel wide"><h2>Outputs</h2><div id="outputs" sse-swap="outputs">${W.outputs(ctx)}</div></section>
<section class="panel"><h2>Title and marks</h2>
  <form hx-post="/ui/metadata" hx-target="next .result" class="row"><input type="text" name="title" placeholder="Now playing…" maxlength="512" aria-label="Title"><button type="submit">Set title</button></form><p class="result"></p>
  <form hx-post="/ui/mark" hx-target="next .result" class="row"><input type="text" name="label" placeholder="Label (optional)" maxlength="200" aria-label="Mark label"><button type="submit">Mark</button></form><p class="result"></p>
</section>
</div>`,
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
          const r = await ctx.control.run('mark', { label: str((body as Body)?.label) }, originOf(request));
          return htmlResponse(C.saveNotice({ ok: true, message: r.message }));
        } catch (e) {
          if (!(e instanceof ActionError)) throw e;
          return htmlResponse(C.saveNotice({ ok: false, message: e.message }), 422);
        }
      })
      .post('/ui/metadata', async ({ body, request }) => {
        try {
          const r = await ctx.control.run('set_metadata', { title: str((body as Body)?.title) }, originOf(request));
          return htmlResponse(C.saveNotice({ ok: true, message: r.message }));
        } catch (e) {
          if (!(e instanceof ActionError)) throw e;
          return htmlResponse(C.saveNotice({ ok: false, message: e.message }), 422);
        }
      });
