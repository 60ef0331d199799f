/**
 * The Recordings page: the Record button, this recording's length and the room left, and the
 * files, to play here, download or delete. `/ui/record/on|off` serves the dashboard's Record
 * button too.
 */
import { Elysia } from 'elysia';
import { html, htmlResponse } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { ActionError } from '../../control/control.ts';
import { RecordingBusyError, RecordingNotFoundError } from '../../outputs/recorder.ts';
import { originOf } from '../auth.ts';
import { renderPage, type AdminDeps } from './shared.ts';
import * as W from './widgets.ts';

export const recordingsRoutes = ({ ctx, hub }: AdminDeps) =>
  new Elysia({ name: 'admin-recordings' })
      .get('/recordings', ({ request }) => {
        const r = ctx.config.recording;
        return renderPage(
          ctx,
          request,
          '/recordings',
          'Recordings',
          'recordings',
          html`<section class="panel" aria-labelledby="rec-now-h"><h2 id="rec-now-h">Record</h2>
  ${W.slot(hub.env, 'record')}
  ${W.slot(hub.env, 'recorder')}
  <p class="help">A restart or a pause of less than ${r.continue_within_minutes} min goes on in the same recording.</p>
  <details class="advanced"><summary>Advanced</summary><dl class="facts"><dt>Format</dt><dd>${r.format === 'mp3' ? 'MP3' : 'Ogg Opus'}, ${r.bitrate_kbps} kbit/s</dd><dt>Folder</dt><dd><code>${ctx.broadcast.recorder.dir}</code></dd></dl><p><a href="/outputs#form-recording">Recording settings</a></p></details>
</section>
<section class="panel wide" aria-labelledby="rec-list-h"><h2 id="rec-list-h">Recordings</h2>${W.slot(hub.env, 'recordings')}</section>`,
        );
      })
      .post('/ui/record/:onoff', async ({ params, request }) => {
        try {
          const r = await ctx.control.run(params.onoff === 'off' ? 'stop_recording' : 'record', {}, originOf(request));
          return htmlResponse(W.recordControl(ctx, r.message));
        } catch (e) {
          if (!(e instanceof ActionError)) throw e;
          return htmlResponse(W.recordControl(ctx, e.message), 422);
        }
      })
      .delete('/ui/recordings/:name', ({ params }) => {
        try {
          ctx.broadcast.recorder.delete(params.name);
          return htmlResponse(W.recordingsList(ctx));
        } catch (e) {
          if (e instanceof RecordingNotFoundError || e instanceof RecordingBusyError) return htmlResponse(html`${C.saveNotice({ ok: false, message: e.message })}${W.recordingsList(ctx)}`, 409);
          throw e;
        }
      });
