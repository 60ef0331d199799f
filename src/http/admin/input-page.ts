/** The Input page: which interface is captured, its level and state, capture settings. */
import { Elysia } from 'elysia';
import { html, htmlResponse } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { ActionError } from '../../control/control.ts';
import { ConfigError } from '../../config/load.ts';
import { originOf } from '../auth.ts';
import { sectionForm } from './forms.ts';
import { renderPage, str, type AdminDeps, type Body } from './shared.ts';
import * as W from './widgets.ts';

export const inputRoutes = ({ ctx, hub, devices }: AdminDeps) =>
  new Elysia({ name: 'admin-input' })
      .get('/input', ({ request }) =>
        renderPage(
          ctx,
          request,
          '/input',
          'Input',
          'input',
          html`<div class="grid">
<section class="panel"><h2>Level</h2>${W.slot(hub.env, 'meters')}${W.slot(hub.env, 'input-status')}</section>
<form class="panel" id="device-form" hx-post="/ui/input" hx-target="find .result">
  <h2>Device</h2>
  <div class="field"><label for="device">Capture from</label>${W.slot(hub.env, 'devices')}<small>PipeWire sources and monitors; the list follows hot-plugs.</small></div>
  <button type="submit">Use this device</button><div class="result"></div>
</form>
${sectionForm('input', ctx.config)}
${sectionForm('tone', ctx.config)}
${sectionForm('silence', ctx.config)}
</div>`,
        ),
      )
      .post('/ui/input', async ({ body, request }) => {
        try {
          const device = str((body as Body)?.device);
          await ctx.control.run('set_input', { device }, originOf(request));
          const name = device ? (devices.list().devices.find((d) => d.name === device)?.description ?? device) : "PipeWire's default input";
          return htmlResponse(C.saveNotice({ ok: true, message: `Now capturing ${name}.` }));
        } catch (e) {
          if (!(e instanceof ActionError) && !(e instanceof ConfigError)) throw e;
          return htmlResponse(C.saveNotice({ ok: false, message: e.message }), 422);
        }
      });
