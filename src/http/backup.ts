/**
 * Backup and restore for the API and the System page: the box's parts handed to
 * src/control/backup.ts, and a restart after a restore.
 */
import { join } from 'node:path';
import { applyBackup, collectBackup, makeBackup, readBackup, type BackupPaths } from '../control/backup.ts';
import type { AppContext } from '../control/context.ts';
import { ConfigError } from '../config/load.ts';

function paths(ctx: AppContext): BackupPaths {
  return { configFile: ctx.store.path, stateFile: ctx.plane.stateFile.path, tlsDir: join(ctx.plane.stateDir, 'tls') };
}

/** This box's backup file (BackupError when it holds secrets and no passphrase was given). */
export function backupOf(ctx: AppContext, passphrase: string | undefined) {
  return makeBackup(collectBackup(paths(ctx), ctx.auth.credentials()), passphrase);
}

/**
 * Restore a backup file's text: checked whole first (BackupError names the field: nothing is
 * written then), put back, and hark restarts in place. Returns the sentence to show.
 */
export async function restoreFrom(ctx: AppContext, text: string, passphrase: string | undefined, origin: string): Promise<{ message: string; restored: string[] }> {
  const b = await readBackup(text, passphrase);
  const restored = await applyBackup(b, {
    ...paths(ctx),
    replaceConfig: async (t) => {
      try {
        await ctx.store.replaceText(t);
        return { ok: true };
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        return { ok: false, error: e.message };
      }
    },
    restoreCredentials: (c) => ctx.auth.restoreCredentials(c),
  });
  const restarting = ctx.plane.requestRestart(`a restore (${origin})`);
  const when = b.made.slice(0, 16).replace('T', ' ');
  const message =
    `Restored the backup of ${b.host} made ${when} UTC (hark ${b.harkVersion}): ${restored.join(', ')}.` +
    (restarting ? ' hark restarts now' : ' Restart hark to finish') +
    (restored.includes('the admin password') ? "; log in again with the backup's password." : '.');
  return { message, restored };
}
