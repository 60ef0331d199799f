/**
 * Which API token scope each request needs. `read`: status and metrics; `control`: the
 * actions (on and off air, record, mute, the title, marks, the input); `admin`: everything
 * else but the admin password, which no token may set (it needs the current password, from
 * a person). The gate calls `tokenRefusal` for requests that carry a token.
 */
import { type Scope, scopeCovers } from '../control/auth.ts';
import { jsonError } from './errors.ts';

const READ_PATHS = new Set(['/api/status', '/api/state', '/api/metadata', '/metrics']);
const CONTROL_PATHS = new Set(['/api/live', '/api/stop', '/api/mute', '/api/unmute', '/api/mark', '/api/input', '/api/metadata']);

/** The scope a request needs, or null when no token may make it (the password). */
export function scopeNeeded(method: string, path: string): Scope | null {
  if (path === '/api/password' || path === '/ui/password') return null;
  const read = method === 'GET' || method === 'HEAD';
  if (read && READ_PATHS.has(path)) return 'read';
  if (method === 'POST' && (CONTROL_PATHS.has(path) || /^\/api\/actions\/[^/]+$/.test(path))) return 'control';
  return 'admin';
}

/** The 403 for a token whose scope is too small for this request, or null when it may. */
export function tokenRefusal(scope: Scope, method: string, path: string): Response | null {
  const need = scopeNeeded(method, path);
  if (need === null) {
    return jsonError(403, 'API tokens cannot change the admin password: log in and use the password form (it needs the current password), or `hark passwd` on the box', {
      field: 'authorization',
    });
  }
  if (scopeCovers(scope, need)) return null;
  return jsonError(403, `this API token has the "${scope}" scope; ${method} ${path} needs the "${need}" scope (create a token with that scope)`, {
    field: 'authorization',
    scope_needed: need,
  });
}
