/**
 * The Input page: which interface is captured, its level and state, the input gain, a
 * "listen here" monitor (/ui/monitor.mp3: the input before mute and off air, for the admin's
 * own browser only) and the capture settings.
 */
import { Elysia } from 'elysia';
import { html, htmlResponse, type Html } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { ActionError } from '../../control/control.ts';
import { ConfigError } from '../../config/load.ts';
import { originOf } from '../auth.ts';
import { sectionForm } from './forms.ts';
import { renderPage, str, type AdminDeps, type Body } from './shared.ts';
import * as W from './widgets.ts';
import { HttpStreamOutput, TooManyListenersError } from '../../outputs/http-stream.ts';
import { jsonError } from '../errors.ts';
import type { AppContext } from '../context.ts';

/** The input gain: one number field that saves itself and applies at once (ramped, no restart). */
function gainForm(ctx: AppContext, notice: Html | string = '', error = '', value?: string): Html {
  const v = value ?? String(ctx.config.input.gain_db);
  const described = error ? 'f-gain_db-err' : 'f-gain_db-help';
  return html`<form class="panel" id="gain-form" novalidate hx-post="/ui/input/gain" hx-target="this" hx-swap="outerHTML">
  <h2>Input gain</h2>
  ${notice}
  <div class="field${error ? ' invalid' : ''}" data-field="gain_db"><label for="f-gain_db">Input gain (dB)</label><input type="number" id="f-gain_db" name="gain_db" value="${v}" min="-24" max="24" step="0.5" inputmode="decimal" aria-invalid="${error ? 'true' : 'false'}" aria-describedby="${described}">${
    error ? html`<span class="err" id="f-gain_db-err" role="alert">${error}</span>` : ''
  }<small id="f-gain_db-help">Makes a quiet input louder (+) or a loud one quieter (−), from −24 to +24. 0 leaves it as it is; +6 is about twice as loud. It changes the level above, every stream and the recording, as soon as you save.</small></div>
  <button type="submit">Save</button>
</form>`;
}

/** "Listen to the input here": plays /ui/monitor.mp3 in this browser (web/static/admin.js). */
const monitorWidget = () => html`<div class="monitor" id="monitor">
  <button type="button" id="monitor-toggle" aria-pressed="false" aria-describedby="monitor-help">Listen to the input here</button>
  <audio id="monitor-audio" preload="none" data-src="/ui/monitor.mp3"></audio>
  <small id="monitor-help">Plays the input on this device, also while off air or muted, to check the microphone. Use headphones: a speaker near the microphone will howl.</small>
  <p id="monitor-state" class="help" role="status" aria-live="polite"></p>
</div>`;

/**
 * The admin's monitor: an MP3 encoder of its own on the input tap (not silenced by mute or off
 * air), running only while a browser plays it. Admin-only: /ui/* needs a session (auth.ts).
 */
function monitorOutput(ctx: AppContext): HttpStreamOutput {
  const out = new HttpStreamOutput(
    ctx.pipeline,
    {
      spec: { codec: 'mp3', channels: Math.min(2, ctx.config.input.channels), bitrateKbps: 128, mode: 'cbr' },
      contentType: 'audio/mpeg',
      maxListeners: 4,
      queueBytes: 256 * 1024,
      name: 'hark input monitor',
      tap: 'input',
    },
    'monitor.mp3',
  );
  ctx.plane.onClose(() => out.close());
  return out;
}

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

export const inputRoutes = ({ ctx, hub, devices }: AdminDeps) => {
  const monitor = monitorOutput(ctx);
  return new Elysia({ name: 'admin-input' })
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
<section class="panel"><h2>Level</h2>${W.slot(hub.env, 'meters')}${W.slot(hub.env, 'input-status')}${monitorWidget()}</section>
${gainForm(ctx)}
<form class="panel" id="device-form" hx-post="/ui/input" hx-target="find .result">
  <h2>Device</h2>
  <div class="field"><label for="device">Capture from</label>${W.slot(hub.env, 'devices')}<small>The audio interfaces connected to this box; the list follows plugging in and out.</small>${
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
          const device = str((body as Body)?.device);
          await ctx.control.run('set_input', { device }, originOf(request));
          const name = device ? (devices.list().devices.find((d) => d.name === device)?.description ?? device) : "PipeWire's default input";
          return htmlResponse(C.saveNotice({ ok: true, message: `Now capturing ${name}.` }));
        } catch (e) {
          if (!(e instanceof ActionError) && !(e instanceof ConfigError)) throw e;
          return htmlResponse(C.saveNotice({ ok: false, message: e.message }), 422);
        }
      })
      .post('/ui/input/gain', async ({ body }) => {
        const raw = str((body as Body)?.gain_db).trim();
        const db = Number(raw);
        if (raw === '' || !Number.isFinite(db)) return htmlResponse(gainForm(ctx, '', 'a number from −24 to +24', raw), 422);
        try {
          await ctx.store.set({ 'input.gain_db': db });
          return htmlResponse(gainForm(ctx, C.saveNotice({ ok: true, message: `Saved: the input gain is now ${db > 0 ? '+' : ''}${db} dB.` })));
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          return htmlResponse(gainForm(ctx, '', e.reason, raw), 422);
        }
      })
      .get('/ui/monitor.mp3', ({ request, server }) => {
        const remote = server?.requestIP(request)?.address ?? 'unknown';
        try {
          return monitor.open(remote, request.headers.get('user-agent') ?? '');
        } catch (e) {
          if (e instanceof TooManyListenersError) return jsonError(503, e.message, {}, { 'retry-after': '30' });
          throw e;
        }
      });
};
