/** The Input page: which interface is captured, its level and state, capture settings. */
import { Elysia } from 'elysia';
import { html, htmlResponse, type Html } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { ActionError } from '../../control/control.ts';
import { ConfigError } from '../../config/load.ts';
import { originOf } from '../auth.ts';
import { sectionForm } from './forms.ts';
import { renderPage, str, type AdminDeps, type Body } from './shared.ts';
import * as W from './widgets.ts';

/**
 * The line at the top of the Input page when hark cannot reach PipeWire: what it means and what
 * to do, with PipeWire's own reason folded away.
 */
export function noAudioSystem(reason: string): Html {
  return html`<div class="notice bad no-audio" id="no-audio-system" role="alert">
  <p><b>No audio system found: hark cannot see any audio interface.</b> Restart the box (System, then Restart hark; or switch it off and on). If this stays, the sound service (PipeWire) is not running for hark: on the hark image that is a fault to report; on another computer, set it up with script/server. Until then no interface can be chosen here.</p>
  <details><summary>Details</summary><p>${reason}</p></details>
</div>`;
}

export const inputRoutes = ({ ctx, hub, devices }: AdminDeps) =>
  new Elysia({ name: 'admin-input' })
      .get('/input', async ({ request }) => {
        // Waits (bounded) for a fresh PipeWire connection's first list, so the page does not
        // say "no audio system" while the list is merely arriving.
        const { error } = await devices.listReady();
        const chosen = ctx.config.input.device;
        return renderPage(
          ctx,
          request,
          '/input',
          'Input',
          'input',
          html`${error ? noAudioSystem(error) : ''}<div class="grid">
<section class="panel"><h2>Level</h2><div id="meters" sse-swap="meters">${W.meters(hub.meter)}</div><div id="input-status" sse-swap="input-status">${W.inputStatus(ctx)}</div></section>
<form class="panel" id="device-form" hx-post="/ui/input" hx-target="find .result">
  <h2>Device</h2>
  <div class="field"><label for="device">Capture from</label><select id="device" name="device" sse-swap="devices">${W.deviceOptions(ctx, devices)}</select><small>The audio interfaces connected to this box; the list follows plugging in and out.</small>${
    chosen ? html`<small class="node-name">Chosen interface’s system name: <code>${chosen}</code></small>` : ''
  }</div>
  <button type="submit">Use this device</button><div class="result"></div>
</form>
${sectionForm('input', ctx.config)}
${sectionForm('silence', ctx.config)}
${sectionForm('tone', ctx.config)}
</div>`,
        );
      })
      .post('/ui/input', async ({ body, request }) => {
        try {
          const r = await ctx.control.run('set_input', { device: str((body as Body)?.device) }, originOf(request));
          return htmlResponse(C.saveNotice({ ok: true, message: r.message }));
        } catch (e) {
          if (!(e instanceof ActionError) && !(e instanceof ConfigError)) throw e;
          return htmlResponse(C.saveNotice({ ok: false, message: e.message }), 422);
        }
      });
