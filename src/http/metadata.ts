import { Elysia, t } from 'elysia';
import { MAX_TITLE_LENGTH } from '../outputs/metadata.ts';
import type { AppContext } from '../control/context.ts';
import { refusal } from './api.ts';
import { originOf } from './auth.ts';

/** POST /api/metadata {title}: the title every Icecast mount and ICY listener gets. */
export const metadataRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'metadata', prefix: '/api' })
    .get('/metadata', () => ({
      title: ctx.broadcast.metadata.title,
      updated_at: ctx.broadcast.metadata.updatedAt?.toISOString() ?? null,
    }))
    .post(
      '/metadata',
      async ({ body, request }) => {
        // Through the state machine, like the CLI and every other action: one validation, one
        // event for the admin page, logged with who set it.
        try {
          await ctx.control.run('set_metadata', { title: body.title }, originOf(request));
        } catch (e) {
          return refusal(e);
        }
        return { title: ctx.broadcast.metadata.title, updated_at: ctx.broadcast.metadata.updatedAt?.toISOString() ?? null };
      },
      { body: t.Object({ title: t.String({ maxLength: MAX_TITLE_LENGTH }) }, { additionalProperties: false }) },
    );
