/**
 * The System page's backup and restore: make a backup (a passphrase locks it), download it
 * once, restore one by upload. The work is in src/http/backup.ts and src/control/backup.ts.
 */
import { randomBytes } from 'node:crypto';
import { Elysia } from 'elysia';
import { htmlResponse } from '../../../web/templates/html.ts';
import * as S from '../../../web/templates/system.ts';
import { BackupError, MAX_BACKUP_BYTES } from '../../control/backup.ts';
import type { AppContext } from '../../control/context.ts';
import { originOf } from '../auth.ts';
import { backupOf, restoreFrom } from '../backup.ts';
import { str, type Body } from './shared.ts';

/** A made backup waits here for its download (at most a few, for a few minutes). */
const READY_MS = 5 * 60_000;
const READY_MAX = 4;

export function backupPanel(ctx: AppContext, o: Omit<S.BackupPanel, 'hasPassword'> = {}) {
  return S.backupPanel({ ...o, hasPassword: ctx.auth.hasPassword() });
}

export const backupAdminRoutes = (ctx: AppContext) => {
  const ready = new Map<string, { filename: string; text: string; expires: number }>();
  const sweep = () => {
    const now = Date.now();
    for (const [id, r] of ready) if (r.expires < now) ready.delete(id);
    while (ready.size > READY_MAX) ready.delete(ready.keys().next().value!);
  };
  return new Elysia({ name: 'admin-backup' })
    .post('/ui/backup', async ({ body }) => {
      const b = (body ?? {}) as Body;
      const passphrase = str(b.passphrase);
      if (passphrase && passphrase !== str(b.confirm)) return htmlResponse(backupPanel(ctx, { errors: { confirm: 'the two passphrases differ' } }), 422);
      try {
        const made = await backupOf(ctx, passphrase || undefined);
        sweep();
        const id = randomBytes(16).toString('hex');
        ready.set(id, { filename: made.filename, text: made.text, expires: Date.now() + READY_MS });
        return htmlResponse(backupPanel(ctx, { made: { href: `/ui/backup/${id}`, filename: made.filename, locked: made.encrypted } }));
      } catch (e) {
        if (!(e instanceof BackupError)) throw e;
        return htmlResponse(backupPanel(ctx, { errors: { [e.field === 'passphrase' ? 'passphrase' : 'file']: e.message } }), 422);
      }
    })
    .get('/ui/backup/:id', ({ params }) => {
      sweep();
      const r = ready.get(params.id);
      if (!r) return htmlResponse(S.backupGone(), 404);
      return new Response(r.text, { headers: { 'content-type': 'application/json; charset=utf-8', 'content-disposition': `attachment; filename="${r.filename}"`, 'cache-control': 'no-store' } });
    })
    .post('/ui/restore', async ({ body, request }) => {
      const b = (body ?? {}) as Record<string, unknown>;
      const f = Array.isArray(b.file) ? b.file[b.file.length - 1] : b.file;
      try {
        if (!(f instanceof Blob) || f.size === 0) throw new BackupError('choose the backup file (hark-backup-….json)', 'file');
        if (f.size > MAX_BACKUP_BYTES) throw new BackupError(`not a hark backup: it is larger than ${MAX_BACKUP_BYTES / 1024} kB`, 'file');
        const r = await restoreFrom(ctx, await f.text(), str(b.passphrase as Body[string]) || undefined, originOf(request));
        return htmlResponse(backupPanel(ctx, { restored: r.message }));
      } catch (e) {
        if (!(e instanceof BackupError)) throw e;
        return htmlResponse(backupPanel(ctx, { errors: { [e.field === 'passphrase' ? 'restore_passphrase' : 'file']: `${e.message}. Nothing changed.` } }), 422);
      }
    });
};
