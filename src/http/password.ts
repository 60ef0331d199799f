/**
 * Changing the admin password, for the API (POST /api/password) and the System page's form:
 * a person in a browser must give the current password (checked under the per-address login
 * limit); the CLI's Unix socket (an SSH login on the box) and the first-run state need not;
 * an API token never may. The change ends every session and, when asked, revokes every API
 * token.
 */
import type { Server } from 'bun';
import { checkPasswordRules, loginWaitMessage } from '../control/auth.ts';
import { logger } from '../log.ts';
import { principalOf } from './auth.ts';
import type { AppContext } from '../control/context.ts';

const log = logger('auth');

export interface PasswordChangeRequest {
  current: string;
  password: string;
  /** The form's "new password again"; undefined for the API. */
  confirm?: string;
  revokeTokens: boolean;
}

export type PasswordChange =
  | { ok: true; revoked: number; newSession: { id: string; maxAgeS: number } | null }
  | { ok: false; status: number; errors: Record<string, string>; retryAfterS?: number };

/** The client's address as the server saw it; 'unknown' (as the login says) for in-process requests. */
export function clientAddress(server: Server<unknown> | null | undefined, request: Request): string {
  try {
    return server?.requestIP(request)?.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Check and make a password change. `newSession` in the result is for a browser session that
 * made it: the caller sets it as the browser's session cookie.
 */
export async function changePassword(ctx: AppContext, request: Request, remote: string, r: PasswordChangeRequest): Promise<PasswordChange> {
  const p = principalOf(request);
  if (p.kind === 'token') return { ok: false, status: 403, errors: { current: 'API tokens cannot change the admin password: log in, or use `hark passwd` on the box' } };
  if (p.kind === 'anonymous') return { ok: false, status: 401, errors: { current: 'log in first' } };
  // Over SSH (the socket) the login on the box is the proof; before any password exists there is none to give.
  const needsCurrent = p.kind === 'session' || (p.kind !== 'socket' && ctx.auth.hasPassword());
  const errors: Record<string, string> = {};
  if (needsCurrent && !r.current) errors.current = 'required: type the password you log in with now';
  try {
    checkPasswordRules(r.password);
  } catch (e) {
    errors.password = (e as Error).message.replace(/^password: /, '');
  }
  if (!errors.password && r.confirm !== undefined && r.password !== r.confirm) errors.confirm = 'the two passwords differ';
  if (Object.keys(errors).length) return { ok: false, status: 422, errors };
  if (needsCurrent) {
    const check = await ctx.auth.checkPassword(remote, r.current);
    if (check.result === 'wait') {
      return { ok: false, status: 429, errors: { current: loginWaitMessage(check) }, retryAfterS: Math.max(1, Math.ceil(check.retryAfterMs / 1000)) };
    }
    if (check.result === 'wrong') {
      log.warn(`password change refused: wrong current password (from ${remote})`);
      return { ok: false, status: 422, errors: { current: 'this is not the current password' } };
    }
  }
  const { revoked } = await ctx.auth.setPassword(r.password, { revokeTokens: r.revokeTokens });
  // A password set another way than /setup (hark passwd, the API) uses the setup code up too.
  if (ctx.setup.current !== null) ctx.setup.done();
  // Every session ended with the change; the browser that made it gets a new one (new cookie,
  // same CSRF token, so its page goes on working).
  const newSession = p.kind === 'session' ? ctx.auth.createSession({ csrf: p.session.csrf }) : null;
  return { ok: true, revoked, newSession };
}
