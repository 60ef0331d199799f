/**
 * The JSON API under /api: the control actions, devices, the config (read, replace, patch),
 * logs, the password, restart and API tokens. Every body is validated against the schemas in
 * API_SCHEMAS, which also generate the OpenAPI document (openapi.ts). Refusals are JSON
 * `{error, field}` with 422 for a refused value.
 */
import { Elysia } from 'elysia';
import { Type as T } from '@sinclair/typebox';
import type { AppContext } from '../control/context.ts';
import { jsonError } from './errors.ts';
import { ActionError, ACTIONS } from '../control/control.ts';
import { PasswordError, SCOPES } from '../control/auth.ts';
import { ConfigError, ConfigShapeError } from '../config/load.ts';
import { ConfigSchema } from '../config/schema.ts';
import { logTail } from '../log.ts';
import { diagReport } from './diag.ts';
import { backupOf, restoreFrom } from './backup.ts';
import { BackupError, MAX_PASSPHRASE } from '../control/backup.ts';
import { SESSION_COOKIE, cookie, originOf } from './auth.ts';
import { changePassword, clientAddress } from './password.ts';
import { holdOpen } from './timeouts.ts';

const MAX_CONFIG_BYTES = 256 * 1024;

/** Request and response schemas (also the OpenAPI components). */
export const API_SCHEMAS = {
  ActionResult: T.Object({ ok: T.Literal(true), state: T.Union([T.Literal('idle'), T.Literal('live'), T.Literal('muted')]), message: T.String() }),
  State: T.Object({ state: T.Union([T.Literal('idle'), T.Literal('live'), T.Literal('muted')]), live: T.Boolean(), muted: T.Boolean(), title: T.String() }),
  Error: T.Object({ error: T.String(), field: T.Optional(T.String({ description: 'The argument or dotted config key at fault' })) }),
  BackupBody: T.Object({ passphrase: T.Optional(T.String({ maxLength: MAX_PASSPHRASE, description: 'Locks the backup (required when it holds secrets: the password, tokens, keys)' })) }, { additionalProperties: false }),
  RestoreBody: T.Object(
    { backup: T.String({ maxLength: 512 * 1024, description: 'The backup file\'s text' }), passphrase: T.Optional(T.String({ maxLength: MAX_PASSPHRASE })) },
    { additionalProperties: false },
  ),
  MarkBody: T.Object({ label: T.Optional(T.String({ maxLength: 200 })) }, { additionalProperties: false }),
  InputBody: T.Object({ device: T.String({ maxLength: 256, description: "PipeWire node.name; '' for the default source" }) }, { additionalProperties: false }),
  ActionBody: T.Object({ title: T.Optional(T.String()), label: T.Optional(T.String()), device: T.Optional(T.String()) }, { additionalProperties: false }),
  ConfigPatch: T.Record(T.String({ description: 'Dotted key, e.g. "icecast.0.port"' }), T.Unknown(), { description: 'Keys to set; strings are converted as the schema says' }),
  SaveResult: T.Object({
    changed: T.Array(T.String()),
    applied: T.Array(T.String()),
    restart_required: T.Array(T.String()),
    comments_preserved: T.Boolean(),
  }),
  PasswordBody: T.Object(
    {
      password: T.String({ minLength: 8, maxLength: 256 }),
      current: T.Optional(T.String({ maxLength: 256, description: 'The current password: required from a browser session (not over the Unix socket)' })),
      revoke_tokens: T.Optional(T.Boolean({ description: 'Also revoke every API token (default false)' })),
    },
    { additionalProperties: false },
  ),
  TokenBody: T.Object(
    {
      name: T.String({ minLength: 1, maxLength: 64 }),
      scope: T.Optional(T.Union(SCOPES.map((s) => T.Literal(s)), { description: 'read: status and metrics; control: also the actions and the title; admin (default): everything but the password' })),
    },
    { additionalProperties: false },
  ),
  Token: T.Object({ id: T.String(), name: T.String(), created: T.String(), scope: T.Union(SCOPES.map((s) => T.Literal(s))) }),
  NewToken: T.Object({ id: T.String(), name: T.String(), scope: T.Union(SCOPES.map((s) => T.Literal(s))), token: T.String({ description: 'Shown once; send as Authorization: Bearer …' }) }),
  Device: T.Object({
    id: T.Integer(),
    name: T.String(),
    description: T.String(),
    kind: T.Union([T.Literal('source'), T.Literal('monitor')]),
    mediaClass: T.String(),
    channels: T.Union([T.Integer(), T.Null()]),
    rates: T.Union([T.Array(T.Integer()), T.Null()]),
    positions: T.Array(T.String()),
    isDefault: T.Boolean(),
  }),
} as const;

export const DevicesSchema = T.Object({ devices: T.Array(API_SCHEMAS.Device), error: T.String({ description: "Why the list is empty ('' when it is not)" }) });

/** Map the typed refusals to HTTP; anything else is a 500 (logged by the app). */
export function refusal(e: unknown): Response {
  if (e instanceof ActionError) return jsonError(422, e.message, e.field ? { field: e.field } : {});
  if (e instanceof ConfigShapeError) return jsonError(400, e.message, { field: e.path });
  if (e instanceof ConfigError) return jsonError(422, e.message, { field: e.path });
  if (e instanceof PasswordError) return jsonError(422, e.message, { field: e.field });
  throw e;
}

/** Actions with a path of their own (the issue's names); every action is also /api/actions/:name. */
const ACTION_PATHS: Record<string, string> = { live: 'go_live', stop: 'stop', mute: 'mute', unmute: 'unmute' };

export const apiRoutes = (ctx: AppContext) => {
  const act = async (action: string, args: Record<string, string | undefined>, request: Request) => {
    try {
      return await ctx.control.run(action, args, originOf(request));
    } catch (e) {
      return refusal(e);
    }
  };
  const save = async (p: Promise<unknown>) => {
    try {
      return await p;
    } catch (e) {
      return refusal(e);
    }
  };

  let app = new Elysia({ name: 'api', prefix: '/api' });
  for (const [path, action] of Object.entries(ACTION_PATHS)) {
    // Elysia's type grows with each route; the loop's routes all have the same shape.
    app = app.post(`/${path}`, ({ request }) => act(action, {}, request), { parse: 'none' }) as unknown as typeof app;
  }
  return app
    .get('/state', () => ctx.control.snapshot())
    .post('/actions/:action', async ({ params, request }) => {
      if (!(ACTIONS as readonly string[]).includes(params.action)) return jsonError(404, `no action "${params.action}"; one of ${ACTIONS.join(', ')}`, { field: 'action' });
      const text = await request.text();
      let args: Record<string, string> = {};
      if (text.trim()) {
        try {
          args = JSON.parse(text);
        } catch {
          return jsonError(400, 'the body must be JSON: {"title": …, "label": …, "device": …}');
        }
      }
      return act(params.action, args, request);
    }, { parse: 'none' })
    .post('/mark', ({ body, request }) => act('mark', { label: body?.label }, request), { body: T.Optional(API_SCHEMAS.MarkBody) })
    .post('/input', ({ body, request }) => act('set_input', { device: body.device }, request), { body: API_SCHEMAS.InputBody })
    .get('/devices', async () => {
      const { devices: list, error } = await ctx.devices.listReady();
      return { devices: list, error };
    })
    .get('/config', () => ctx.config)
    .get('/config/schema', () => JSON.parse(JSON.stringify(ConfigSchema)))
    .get('/config/text', () => new Response(ctx.store.currentText(), { headers: { 'content-type': 'application/toml; charset=utf-8', 'cache-control': 'no-store' } }))
    .put(
      '/config',
      async ({ request }) => {
        const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim();
        const text = await request.text();
        if (text.length > MAX_CONFIG_BYTES) return jsonError(413, `a config is at most ${MAX_CONFIG_BYTES} bytes`);
        if (type === 'application/json') {
          let raw: unknown;
          try {
            raw = JSON.parse(text);
          } catch (e) {
            return jsonError(400, `not JSON: ${(e as Error).message}`);
          }
          return save(ctx.store.replace(raw));
        }
        if (type === 'application/toml' || type === 'text/plain' || type === '') return save(ctx.store.replaceText(text));
        return jsonError(415, `send the config as application/json or as TOML (application/toml), not ${type}`, { field: 'content-type' });
      },
      { parse: 'none' },
    )
    .patch('/config', async ({ request }) => {
      // Parsed here, not by the framework: its parser drops a "__proto__" key silently, and
      // that must be refused by name (the store refuses it and deep nesting with 400).
      const text = await request.text();
      if (text.length > MAX_CONFIG_BYTES) return jsonError(413, `a config change is at most ${MAX_CONFIG_BYTES} bytes`);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (e) {
        return jsonError(400, `not JSON: ${(e as Error).message}`);
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        return jsonError(400, 'the body must be a JSON object of dotted keys and values, e.g. {"metadata.title": "Evensong"}');
      }
      if (Object.hasOwn(body, 'admin.password')) return jsonError(422, 'set the password with POST /api/password (it needs the current password)', { field: 'admin.password' });
      return save(ctx.store.set(body as Record<string, unknown>));
    }, { parse: 'none' })
    // Backup and restore (control/backup.ts): one file, locked with a passphrase when it holds secrets.
    .post(
      '/backup',
      async ({ body }) => {
        try {
          const b = await backupOf(ctx, body.passphrase);
          return new Response(b.text, { headers: { 'content-type': 'application/json; charset=utf-8', 'content-disposition': `attachment; filename="${b.filename}"`, 'cache-control': 'no-store' } });
        } catch (e) {
          if (!(e instanceof BackupError)) throw e;
          return jsonError(422, e.message, { field: e.field });
        }
      },
      { body: API_SCHEMAS.BackupBody },
    )
    .post(
      '/restore',
      async ({ body, request }) => {
        try {
          const r = await restoreFrom(ctx, body.backup, body.passphrase, originOf(request));
          return { ok: true, message: r.message, restored: r.restored };
        } catch (e) {
          if (!(e instanceof BackupError)) throw e;
          return jsonError(422, e.message, { field: e.field });
        }
      },
      { body: API_SCHEMAS.RestoreBody },
    )
    // The diagnostic report: a file to send to whoever helps (secrets removed; diag.ts).
    .get('/diag', async () => {
      const r = await diagReport(ctx);
      return new Response(r.text, {
        headers: { 'content-type': 'text/plain; charset=utf-8', 'content-disposition': `attachment; filename="${r.filename}"`, 'cache-control': 'no-store' },
      });
    })
    .get('/logs', ({ query, request, server }) => {
      const n = Math.max(1, Math.min(500, Number(query.lines ?? 100) || 100));
      const initial = logTail().slice(-n);
      if (query.follow !== '1' && query.follow !== 'true') {
        return new Response(initial.map((l) => `${l}\n`).join(''), { headers: { 'content-type': 'text/plain; charset=utf-8' } });
      }
      let seen = logTail().at(-1) ?? '';
      let timer: ReturnType<typeof setInterval> | undefined;
      const enc = new TextEncoder();
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(enc.encode(initial.map((l) => `${l}\n`).join('')));
          timer = setInterval(() => {
            const tail = logTail();
            const i = seen ? tail.lastIndexOf(seen) : -1;
            const fresh = tail.slice(i + 1);
            if (!fresh.length) return;
            seen = tail.at(-1)!;
            try {
              c.enqueue(enc.encode(fresh.map((l) => `${l}\n`).join('')));
            } catch {
              clearInterval(timer);
            }
          }, 250);
        },
        cancel() {
          clearInterval(timer);
        },
      });
      return holdOpen(server, request, new Response(stream, { headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store, no-transform' } }));
    })
    .post(
      '/password',
      async ({ body, request, server }) => {
        const r = await changePassword(ctx, request, clientAddress(server, request), { current: body.current ?? '', password: body.password, revokeTokens: body.revoke_tokens === true });
        if (!r.ok) {
          const [field, message] = Object.entries(r.errors)[0]!;
          return jsonError(r.status, `${field}: ${message}`, { field }, r.retryAfterS ? { 'retry-after': String(r.retryAfterS) } : {});
        }
        const message = `password set; every session has ended${r.revoked ? `; ${r.revoked} API token${r.revoked === 1 ? '' : 's'} revoked` : ''}`;
        const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
        // The browser that made the change keeps a (new) session; every other one is logged out.
        if (r.newSession) headers['set-cookie'] = cookie(SESSION_COOKIE, r.newSession.id, r.newSession.maxAgeS, request);
        return new Response(JSON.stringify({ ok: true, message, revoked_tokens: r.revoked }), { headers });
      },
      { body: API_SCHEMAS.PasswordBody },
    )
    .post('/restart', ({ request }) =>
      ctx.plane.requestRestart(originOf(request)) ? { ok: true, message: 'restarting' } : jsonError(409, 'this hark was not started by its daemon entry point and cannot restart itself'),
    { parse: 'none' })
    .get('/tokens', () => ctx.auth.tokens())
    .post('/tokens', ({ body }) => {
      try {
        return ctx.auth.createToken(body.name, body.scope ?? 'admin');
      } catch (e) {
        return refusal(e);
      }
    }, { body: API_SCHEMAS.TokenBody })
    .delete('/tokens/:id', ({ params }) => (ctx.auth.revokeToken(params.id) ? { ok: true } : jsonError(404, `no token ${params.id}`)));
};
