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
import { rangeForm, recordingsPage } from '../../../web/templates/recordings.ts';
import { planRange, RangeRefusal } from '../../outputs/recording-range.ts';
import * as T from './local-time.ts';

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
            bitDepth: r.bit_depth,
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
      // The range form: check the stretch now and answer with its download link, or why not.
      .get('/ui/recordings/range', ({ query }) => {
        const date = typeof query.date === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(query.date) ? query.date : '';
        const from = typeof query.from === 'string' && /^\d{2}:\d{2}$/.test(query.from) ? query.from : '';
        const to = typeof query.to === 'string' && /^\d{2}:\d{2}$/.test(query.to) ? query.to : '';
        const refuse = (message: string) => htmlResponse(rangeForm({ date, from, to, answer: C.saveNotice({ ok: false, message }) }), 422);
        if (!date) return refuse('Choose the day.');
        if (!from || !to) return refuse('Choose the time it starts and the time it ends.');
        const fromLocal = `${date}T${from}`;
        const fromMs = Date.parse(fromLocal);
        // "To" before "from" is the next morning (a night's recording).
        let toMs = Date.parse(`${date}T${to}`);
        if (toMs <= fromMs) toMs += 86_400_000;
        if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) return refuse('That day or time does not exist.');
        try {
          const rec = ctx.broadcast.recorder;
          const plan = planRange(rec.dir, rec.list(), fromMs, toMs);
          const iso = (ms: number) => new Date(ms).toISOString();
          const href = `/api/recordings/range?from=${encodeURIComponent(iso(fromMs))}&to=${encodeURIComponent(iso(toMs))}`;
          const note = plan.gaps ? ` Recording was paused ${plan.gaps === 1 ? 'once' : `${plan.gaps} times`} in this stretch: the file skips those parts.` : '';
          return htmlResponse(
            rangeForm({
              date,
              from,
              to,
              answer: html`<p class="notice ok" role="status">${T.span(fromMs, toMs)}: ${T.duration(plan.samples / 48_000)} of audio.${note}</p><p class="row rec-actions"><a class="button-link" id="range-download" href="${href}" download="${plan.filename}">Download</a></p>`,
            }),
          );
        } catch (e) {
          if (e instanceof RangeRefusal) return refuse(plainRefusal(e));
          throw e;
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

/** A range refusal in the page's words (the API's message is for programs). */
function plainRefusal(e: RangeRefusal): string {
  if (e.status === 404) return 'Nothing was recorded then.';
  if (e.message.startsWith('the range is')) return 'That is more than 24 hours: download it in parts.';
  if (e.status === 409) return 'The recording format was changed in this stretch: download the part before the change and the part after it separately.';
  return e.message;
}
