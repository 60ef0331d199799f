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
import * as I from '../../../web/templates/input.ts';
import { HttpStreamOutput, TooManyListenersError } from '../../outputs/http-stream.ts';
import { jsonError } from '../errors.ts';
import { holdOpen, stallLimit } from '../timeouts.ts';
import type { AppContext } from '../../control/context.ts';

/** The input gain form, with the saved value unless a refused one is shown again. */
function gainForm(ctx: AppContext, notice: Html | string = '', error = '', value?: string): Html {
  return I.gainForm(value ?? String(ctx.config.input.gain_db), notice, error);
}

/**
 * The admin's monitor: an MP3 encoder of its own on the input tap (not silenced by mute or off
 * air), running only while a browser plays it. Admin-only: /ui/* needs a session (auth.ts).
 */
function monitorOutput(ctx: AppContext): HttpStreamOutput {
  const out = new HttpStreamOutput(
    ctx.pipeline,
    {
      spec: { codec: 'mp3', channels: ctx.config.input.channels === 1 ? 1 : 2, bitrateKbps: 128, mode: 'cbr' },
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

export const inputRoutes = ({ ctx, hub, devices }: AdminDeps) => {
  const monitor = monitorOutput(ctx);
  return new Elysia({ name: 'admin-input' })
      .get('/input', async ({ request }) => {
        // Waits (bounded) for a fresh PipeWire connection's first list, so the page does not
        // say "no audio system" while the list is merely arriving.
        const { error } = await devices.listReady();
        const chosen = ctx.config.input.device;
        // A feed over the network (input.source srt | rtp) captures no interface: no audio system is no fault of its input.
        const network = ctx.config.input.source === 'srt' || ctx.config.input.source === 'rtp';
        return renderPage(
          ctx,
          request,
          '/input',
          'Input',
          'input',
          I.inputPage({
            noAudio: network ? null : error || null,
            slots: { meters: W.slot(hub.env, 'meters'), status: W.slot(hub.env, 'input-status'), devices: W.slot(hub.env, 'devices') },
            gain: gainForm(ctx),
            chosen,
            network,
            forms: (['input', 'silence', 'tone'] as const).map((name) => sectionForm(name, ctx.config, {}, '', undefined, devices)),
          }),
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
          return holdOpen(server, request, monitor.open(remote, request.headers.get('user-agent') ?? '', false, stallLimit(server, request)));
        } catch (e) {
          if (e instanceof TooManyListenersError) return jsonError(503, e.message, {}, { 'retry-after': '30' });
          throw e;
        }
      });
};
