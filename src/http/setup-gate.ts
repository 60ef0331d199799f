/**
 * The first-run page's gate: before an admin password exists, `/setup` from anywhere but the
 * box itself (the Unix socket, or loopback without a proxy's headers) needs the setup code
 * (src/control/setup-code.ts). Kept apart from the login code in admin/session.ts.
 */
import { socketRequests } from '../control/plane.ts';
import type { AppContext } from '../control/context.ts';
import { fromLoopback, remoteOf } from './host-gate.ts';

type Srv = { requestIP(r: Request): { address: string } | null } | null | undefined;

/** Whether this request must give the setup code to set the first password. */
export function needsSetupCode(request: Request, server: Srv): boolean {
  return !socketRequests.has(request) && !fromLoopback(remoteOf(server, request), request);
}

/** Why a setup code is refused (status, words for the form, headers), or null when it is right. */
export function setupCodeRefusal(ctx: AppContext, request: Request, server: Srv, given: string): { status: number; message: string; headers: Record<string, string> } | null {
  if (!given.trim()) return { status: 403, message: 'Type the setup code.', headers: {} };
  const r = ctx.setup.check(given, remoteOf(server, request));
  if (r.ok) return null;
  if (r.reason === 'wait') {
    const s = Math.ceil(r.retryAfterMs / 1000);
    const words = s >= 120 ? `${Math.ceil(s / 60)} minutes` : `${s} second${s === 1 ? '' : 's'}`;
    return { status: 429, message: `Too many wrong codes: try again in ${words}.`, headers: { 'retry-after': String(s) } };
  }
  if (r.reason === 'no-code') return { status: 403, message: 'This box has no setup code yet: restart it, or set the password over SSH (hark passwd).', headers: {} };
  return { status: 403, message: 'That is not the setup code of this box: check it and type it again.', headers: {} };
}
