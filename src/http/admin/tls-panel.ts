/**
 * The System page's "Secure connection (HTTPS)" panel: whether the admin pages are on HTTPS and
 * with which certificate, the box's certificate authority to download (and how to trust it on
 * a phone or computer), and a form to use a certificate of one's own.
 */
import { Elysia } from 'elysia';
import { html, htmlResponse, type Html } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import * as S from '../../../web/templates/system.ts';
import { TlsError } from '../../tls/certs.ts';
import type { AppContext } from '../../control/context.ts';
import { logger } from '../../log.ts';

const log = logger('http admin');

const day = (iso: string) => new Date(iso).toLocaleDateString('en-GB', { day: 'numeric', month: 'long', year: 'numeric' });

/** A form field's uploaded file as text; '' when none. Files over `max` bytes are refused. */
async function fileText(v: unknown, field: 'cert' | 'key', max = 64 * 1024): Promise<string> {
  const f = Array.isArray(v) ? v[v.length - 1] : v;
  if (typeof f === 'string') return f;
  if (!(f instanceof Blob)) return '';
  if (f.size > max) throw new TlsError(field, `the file is too large (over ${max / 1024} KiB): choose the certificate or key itself`);
  return await f.text();
}

export function tlsPanel(ctx: AppContext, o: { message?: Html | string; errors?: Partial<Record<'cert' | 'key' | 'tls', string>> } = {}): Html {
  return S.tlsPanel({ status: ctx.tls.status(), ownFileSet: !!ctx.config.tls.cert_file, message: o.message, errors: o.errors, day });
}

export const tlsAdminRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'admin-tls' })
    .post('/ui/tls/own', async ({ body }) => {
      const b = (body ?? {}) as Record<string, unknown>;
      try {
        const cert = await fileText(b.cert, 'cert');
        const key = await fileText(b.key, 'key');
        const { cert_file, key_file, info } = ctx.tls.saveOwn(cert, key);
        await ctx.store.set({ 'tls.cert_file': cert_file, 'tls.key_file': key_file });
        await ctx.tls.refresh();
        log.info(`a certificate of the user's own is in use for ${info.names.join(', ') || info.subject}`);
        return htmlResponse(tlsPanel(ctx, { message: C.saveNotice({ ok: true, message: `Certificate saved: ${info.subject}, valid until ${day(info.validTo)}.` }) }));
      } catch (e) {
        if (!(e instanceof TlsError)) throw e;
        const field = e.field === 'tls' ? 'cert' : e.field;
        return htmlResponse(
          tlsPanel(ctx, {
            message: C.saveNotice({ ok: false, message: `Not used: ${e.message}.` }),
            errors: { [field]: e.message },
          }),
          422,
        );
      }
    })
    .post('/ui/tls/enable', async () => {
      const r = await ctx.store.set({ 'tls.enabled': true });
      return htmlResponse(tlsPanel(ctx, { message: C.saveNotice({ ok: true, message: 'Saved.', restart: r.restart_required }) }));
    })
    .post('/ui/tls/box', async () => {
      await ctx.store.set({ 'tls.cert_file': '', 'tls.key_file': '' });
      await ctx.tls.refresh();
      return htmlResponse(tlsPanel(ctx, { message: C.saveNotice({ ok: true, message: "This box's own certificate is used again." }) }));
    });
