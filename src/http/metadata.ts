import { Elysia, t } from 'elysia';
import { MAX_TITLE_LENGTH } from '../outputs/metadata.ts';
import type { AppContext } from './context.ts';

/** POST /api/metadata {title}: the title every Icecast mount and ICY listener gets. */
export const metadataRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'metadata', prefix: '/api' })
    .get('/metadata', () => ({
      title: ctx.broadcast.metadata.title,
      updated_at: ctx.broadcast.metadata.updatedAt?.toISOString() ?? null,
    }))
    .post(
      '/metadata',
      ({ body }) => {
        const title = ctx.broadcast.metadata.set(body.title);
        return { title, updated_at: ctx.broadcast.metadata.updatedAt?.toISOString() ?? null };
      },
      { body: t.Object({ title: t.String({ maxLength: MAX_TITLE_LENGTH }) }, { additionalProperties: false }) },
    );
