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
import { recordingsPage } from '../../../web/templates/recordings.ts';

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
          recordingsPage({
            slots: { record: W.slot(hub.env, 'record'), recorder: W.slot(hub.env, 'recorder'), list: W.slot(hub.env, 'recordings') },
            continueWithinMinutes: r.continue_within_minutes,
            format: r.format,
            bitrateKbps: r.bitrate_kbps,
            dir: ctx.broadcast.recorder.dir,
          }),
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
