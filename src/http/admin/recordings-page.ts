/** The Recordings page: the recorder's state and the files, to play, download or delete. */
import { Elysia } from 'elysia';
import { html, htmlResponse } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { RecordingBusyError, RecordingNotFoundError } from '../../outputs/recorder.ts';
import { renderPage, type AdminDeps } from './shared.ts';
import * as W from './widgets.ts';

export const recordingsRoutes = ({ ctx, hub }: AdminDeps) =>
  new Elysia({ name: 'admin-recordings' })
      .get('/recordings', ({ request }) =>
        renderPage(
          ctx,
          request,
          '/recordings',
          'Recordings',
          'recordings',
          html`<section class="panel">${W.slot(hub.env, 'recorder')}<p><a href="/outputs#form-recording">Recording settings</a></p></section>
<section class="panel wide">${W.slot(hub.env, 'recordings')}</section>`,
        ),
      )
      .delete('/ui/recordings/:name', ({ params }) => {
        try {
          ctx.broadcast.recorder.delete(params.name);
          return htmlResponse(W.recordingsList(ctx));
        } catch (e) {
          if (e instanceof RecordingNotFoundError || e instanceof RecordingBusyError) return htmlResponse(html`${C.saveNotice({ ok: false, message: e.message })}${W.recordingsList(ctx)}`, 409);
          throw e;
        }
      });
