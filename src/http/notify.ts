/**
 * The notifiers over HTTP: `GET /api/notify` (each entry's delivery state), `POST
 * /api/notify/<n>/test` (one test notice past the entry's filters; the answer says whether it
 * arrived), and the System page's "Send a test" (`POST /ui/notify/<n>/test`).
 */
import { Elysia } from 'elysia';
import { Type as T } from '@sinclair/typebox';
import type { AppContext } from '../control/context.ts';
import { jsonError } from './errors.ts';
import { htmlResponse } from '../../web/templates/html.ts';
import * as C from '../../web/templates/components.ts';

export const NOTIFY_SCHEMAS = {
  NotifierStatus: T.Object({
    index: T.Integer(),
    type: T.Union([T.Literal('webhook'), T.Literal('email'), T.Literal('mqtt')]),
    label: T.String(),
    state: T.Union([T.Literal('ok'), T.Literal('failing'), T.Literal('waiting'), T.Literal('off')]),
    connection: T.Optional(T.String({ description: 'MQTT: "connected", or why not ("cannot reach the broker …", "login refused …")' })),
    sent: T.Integer(),
    queued: T.Integer(),
    dropped: T.Integer(),
    last_ok_at: T.Union([T.String(), T.Null()]),
    last_ok_event: T.Union([T.String(), T.Null()]),
    last_error: T.Union([T.String(), T.Null()]),
    last_error_at: T.Union([T.String(), T.Null()]),
    retry_at: T.Union([T.String(), T.Null()]),
  }),
  NotifyTestResult: T.Object({ ok: T.Boolean(), error: T.Optional(T.String()), status: T.Unknown({ description: 'The NotifierStatus after the test' }) }),
};

const index = (ctx: AppContext, n: string): number | null => {
  if (!/^\d{1,2}$/.test(n)) return null;
  const i = Number(n);
  return i < ctx.notify.statuses().length ? i : null;
};

export const notifyRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'notify' })
    .get('/api/notify', () => ({ notifiers: ctx.notify.statuses(), start_reason: ctx.notify.startReason ?? null }))
    .post('/api/notify/:n/test', async ({ params }) => {
      const i = index(ctx, params.n);
      if (i === null) return jsonError(404, `no notifier ${JSON.stringify(params.n.slice(0, 20))}: there are ${ctx.notify.statuses().length} ([[notify]] entries, counted from 0)`, { field: 'n' });
      const r = await ctx.notify.test(i);
      return r.ok ? r : new Response(JSON.stringify(r), { status: 502, headers: { 'content-type': 'application/json' } });
    }, { parse: 'none' })
    .post('/ui/notify/:n/test', async ({ params }) => {
      const i = index(ctx, params.n);
      if (i === null) return htmlResponse(C.saveNotice({ ok: false, message: 'There is no such notifier (the settings changed): reload the page.' }), 404);
      const r = await ctx.notify.test(i);
      return htmlResponse(C.saveNotice(r.ok ? { ok: true, message: `Test sent to ${r.status.label}: it arrived at the server.` } : { ok: false, message: `The test to ${r.status.label} did not go through: ${r.error}` }));
    });
