/**
 * The Outputs page, and the schema-driven config forms' fragments that every page's forms post
 * to (`/ui/config/<section>`, the Icecast/WHIP entry lists, the Icecast connection test).
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

export const outputsRoutes = ({ ctx, hub }: AdminDeps) => {
  const { section, saveEntry, saveSection } = configForms(ctx);
  return new Elysia({ name: 'admin-outputs' })
      .get('/outputs', ({ request }) =>
        renderPage(
          ctx,
          request,
          '/outputs',
          'Outputs',
          'outputs',
          html`<section class="panel wide"><h2>Now</h2>${W.slot(hub.env, 'outputs')}</section>
<div class="grid">
${section('icecast')}
${sectionForm('recording', ctx.config)}
${sectionForm('webrtc', ctx.config)}
${sectionForm('metadata', ctx.config)}
${sectionForm('mp3', ctx.config)}
${sectionForm('stream', ctx.config)}
${section('whip')}
</div>`,
        ),
      )
      .post('/ui/config/:section', ({ params, body }) => saveSection(params.section, (body ?? {}) as Body))
      .get('/ui/:kind', ({ params }) => (isEntryKind(params.kind) ? htmlResponse(section(params.kind)) : notFound()))
      .get('/ui/:kind/new', ({ params }) => (isEntryKind(params.kind) ? htmlResponse(section(params.kind, entryForm(params.kind, null, Value.Default(sectionSchema(params.kind), {}) as Record<string, unknown>))) : notFound()))
      .get('/ui/:kind/:index/edit', ({ params }) => {
        if (!isEntryKind(params.kind)) return notFound();
        const i = Number(params.index);
        const e = (ctx.config[params.kind] as unknown as Record<string, unknown>[])[i];
        if (!e) return htmlResponse(section(params.kind, '', C.saveNotice({ ok: false, message: 'That entry is gone.' })), 404);
        return htmlResponse(section(params.kind, entryForm(params.kind, i, e)));
      })
      .post('/ui/icecast/test', async ({ body, query }) => {
        const b = (body ?? {}) as Body;
        const index = query.index === undefined ? null : Number(query.index);
        const schema = sectionSchema('icecast');
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
          const r = await testIcecast(entry);
          return htmlResponse(entryForm('icecast', index, { ...old, ...values }, {}, '', r));
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          const { fields, form } = errorsFrom(e, prefix, Object.keys((schema as unknown as { properties: object }).properties));
          const typed = Object.fromEntries(Object.keys(fields).filter((n) => n in b).map((n) => [n, str(b[n])]));
          return htmlResponse(entryForm('icecast', index, { ...old, ...values, ...typed }, fields, form), 422);
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
