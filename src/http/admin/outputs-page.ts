/**
 * The Outputs page, and the schema-driven config forms' fragments that every page's forms post
 * to (`/ui/config/<section>`, the Icecast/WHIP/SRT/RTP entry lists, the Icecast connection test).
 */
import { Elysia } from 'elysia';
import { Value } from '@sinclair/typebox/value';
import { html, htmlResponse } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { ConfigError, validateConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { entryForm, entryValues, errorsFrom, savedNotice, sectionForm, sectionSchema } from './forms.ts';
import { testIcecast } from './icecast-test.ts';
import { configForms, isEntryKind, notFound, renderPage, str, type AdminDeps, type Body } from './shared.ts';
import * as W from './widgets.ts';
import { outputsPage } from '../../../web/templates/outputs.ts';
import * as T from './local-time.ts';
import { resolveTarget } from '../../config/icecast-target.ts';

/**
 * "Test connection" on a mount hark is sending to right now: a second source connection would
 * only meet "mount in use" (hark's own). The live connection is the answer: this entry's when
 * the form is for it (and still says what the live output uses), else any entry live on the
 * same server and mount (a new entry typed in for a server that is already on air).
 */
function onAirAnswerFor(ctx: AdminDeps['ctx'], index: number | null, entry: Config['icecast'][number]): { ok: boolean; message: string } | null {
  let now;
  try {
    now = resolveTarget(entry);
  } catch {
    return null;
  }
  const where = `${now.host}:${now.port}${now.mount}`;
  const others = ctx.config.icecast.map((_, i) => i).filter((i) => i !== index);
  for (const i of index === null ? others : [index, ...others]) {
    const saved = ctx.config.icecast[i];
    const out = ctx.broadcast.icecast[i];
    if (!saved || !out) continue;
    let was;
    try {
      was = resolveTarget(saved);
    } catch {
      continue;
    }
    if (now.host !== was.host || now.port !== was.port || now.mount !== was.mount) continue;
    const st = out.outputStatus();
    if (st.state !== 'live') continue;
    const same = JSON.stringify(now) === JSON.stringify(was);
    const since = st.since ? ` for ${T.timer((Date.now() - Date.parse(st.since)) / 1000)}` : '';
    if (i === index) {
      if (same) return { ok: true, message: `On air now: hark has been sending to ${where}${since}, so the server accepts this user, password and mount.` };
      return { ok: false, message: `hark is on air on ${where} now with the saved settings, so the changed ones cannot be tried on the same mount. Save them: the stream reconnects with them and its status shows the result.` };
    }
    if (same) return { ok: true, message: `On air now: another entry here has been sending to ${where}${since} with these settings, so the server accepts this user, password and mount.` };
    return { ok: false, message: `Another entry here is on air on ${where} now, so these settings cannot be tried on the same mount while it is. Use another mount point, or change that entry.` };
  }
  return null;
}

export const outputsRoutes = ({ ctx, hub, devices }: AdminDeps) => {
  const { section, saveEntry, saveSection } = configForms(ctx, devices);
  return new Elysia({ name: 'admin-outputs' })
      .get('/outputs', ({ request }) =>
        renderPage(
          ctx,
          request,
          '/outputs',
          'Outputs',
          'outputs',
          outputsPage({
            now: W.slot(hub.env, 'outputs'),
            sections: [
              section('icecast'),
              ...(['recording', 'webrtc', 'metadata', 'mp3', 'stream'] as const).map((name) => sectionForm(name, ctx.config)),
              section('whip'),
              section('srt'),
              section('rtp'),
            ],
          }),
        ),
      )
      .post('/ui/config/:section', ({ params, body }) => saveSection(params.section, (body ?? {}) as Body))
      .get('/ui/:kind', ({ params }) => (isEntryKind(params.kind) ? htmlResponse(section(params.kind)) : notFound()))
      .get('/ui/:kind/new', ({ params }) => (isEntryKind(params.kind) ? htmlResponse(section(params.kind, entryForm(params.kind, null, Value.Default(sectionSchema(params.kind), {}) as Record<string, unknown>, {}, '', undefined, ctx.config))) : notFound()))
      .get('/ui/:kind/:index/edit', ({ params }) => {
        if (!isEntryKind(params.kind)) return notFound();
        const i = Number(params.index);
        // an entry read by field name, as the schema-driven form does (the entry types have no index signature).
        const e = (ctx.config[params.kind] as unknown as Record<string, unknown>[])[i];
        if (!e) return htmlResponse(section(params.kind, '', C.saveNotice({ ok: false, message: 'That entry is gone.' })), 404);
        return htmlResponse(section(params.kind, entryForm(params.kind, i, e, {}, '', undefined, ctx.config)));
      })
      .post('/ui/icecast/test', async ({ body, query }) => {
        const b = (body ?? {}) as Body;
        const index = query.index === undefined ? null : Number(query.index);
        const schema = sectionSchema('icecast');
        // an entry read by field name, as the schema-driven form does (the entry types have no index signature).
        const old = index === null ? {} : ((ctx.config.icecast as unknown as Record<string, unknown>[])[index] ?? {});
        const prefix = `icecast.${index ?? ctx.config.icecast.length}`;
        let values: Record<string, unknown> = {};
        try {
          values = entryValues('icecast', b, prefix, old);
          const entry = { ...(Value.Default(schema, {}) as object), ...old, ...values } as Config['icecast'][number];
          // Checked as a save would check it, so a bad value is shown beside its field.
          try {
            validateConfig({ icecast: [entry] });
          } catch (e) {
            if (e instanceof ConfigError && e.path.startsWith('icecast.0')) throw new ConfigError(prefix + e.path.slice('icecast.0'.length), e.reason);
            throw e;
          }
          const r = onAirAnswerFor(ctx, index, entry) ?? (await testIcecast(entry));
          return htmlResponse(entryForm('icecast', index, { ...old, ...values }, {}, '', r, ctx.config));
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          // TypeBox's TSchema does not declare `properties` (this one is a T.Object).
          const { fields, form } = errorsFrom(e, prefix, Object.keys((schema as unknown as { properties: object }).properties));
          const typed = Object.fromEntries(Object.keys(fields).filter((n) => n in b).map((n) => [n, str(b[n])]));
          return htmlResponse(entryForm('icecast', index, { ...old, ...values, ...typed }, fields, form, undefined, ctx.config), 422);
        }
      })
      .post('/ui/:kind', ({ params, body }) => (isEntryKind(params.kind) ? saveEntry(params.kind, null, (body ?? {}) as Body) : notFound()))
      .post('/ui/:kind/:index', ({ params, body }) => (isEntryKind(params.kind) ? saveEntry(params.kind, Number(params.index), (body ?? {}) as Body) : notFound()))
      .delete('/ui/:kind/:index', async ({ params }) => {
        if (!isEntryKind(params.kind)) return notFound();
        const kind = params.kind;
        const i = Number(params.index);
        if (!(i >= 0 && i < ctx.config[kind].length)) return htmlResponse(section(kind, '', C.saveNotice({ ok: false, message: 'That entry is gone.' })), 404);
        const r = await ctx.store.update((draft) => {
          (draft[kind] as unknown[]).splice(i, 1);
        });
        return htmlResponse(section(kind, '', savedNotice(r)));
      });
};
