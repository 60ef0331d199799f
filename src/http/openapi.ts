/**
 * GET /api/openapi.json: the API described in OpenAPI 3.1, generated from the same TypeBox
 * schemas that validate the requests (TypeBox schemas are JSON Schema, which OpenAPI 3.1 uses
 * as is). The operation list below is the one place each route is described.
 */
import { Elysia } from 'elysia';
import type { TSchema } from '@sinclair/typebox';
import { ConfigSchema } from '../config/schema.ts';
import { API_SCHEMAS, DevicesSchema } from './api.ts';
import { NOTIFY_SCHEMAS } from './notify.ts';
import { scopeNeeded } from './scopes.ts';
import { VERSION } from '../version.ts';
import type { AppContext } from '../control/context.ts';

interface Op {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  summary: string;
  tag: string;
  body?: TSchema | 'toml-or-json' | 'binary';
  response?: TSchema | 'text' | 'binary';
  public?: boolean;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const S = API_SCHEMAS;

const nameOf = (s: TSchema): string | undefined => {
  for (const [k, v] of Object.entries(S)) if (v === s) return k;
  if (s === ConfigSchema) return 'Config';
  for (const [k, v] of Object.entries(NOTIFY_SCHEMAS)) if (v === s) return k;
  return undefined;
};

export const OPERATIONS: Op[] = [
  { method: 'get', path: '/api/status', summary: 'Everything at once: input, levels, outputs, alerts (public unless access.public_status = false)', tag: 'read', public: true },
  { method: 'get', path: '/api/state', summary: 'The run state: idle, live or muted, and the title', tag: 'read', response: S.State },
  { method: 'post', path: '/api/live', summary: 'Go live: Icecast, WHIP and recording start sending', tag: 'actions', response: S.ActionResult },
  { method: 'post', path: '/api/stop', summary: 'Stop: back to idle (capture, meters and listener streams keep running)', tag: 'actions', response: S.ActionResult },
  { method: 'post', path: '/api/mute', summary: 'Mute: every output sends silence; the meters keep showing the input', tag: 'actions', response: S.ActionResult },
  { method: 'post', path: '/api/unmute', summary: 'Unmute', tag: 'actions', response: S.ActionResult },
  { method: 'post', path: '/api/mark', summary: 'Put a mark (a timestamp and a label) in the log and event stream', tag: 'actions', body: S.MarkBody, response: S.ActionResult },
  { method: 'post', path: '/api/metadata', summary: 'Set the title every Icecast mount and ICY listener gets: {"title": "…"}', tag: 'actions' },
  { method: 'post', path: '/api/input', summary: 'Capture from another PipeWire device (saved in input.device)', tag: 'actions', body: S.InputBody, response: S.ActionResult },
  { method: 'post', path: '/api/actions/{action}', summary: 'Any named action (go_live, stop, toggle_live, mute, unmute, toggle_mute, mark, set_metadata, set_input, record, stop_recording, toggle_record)', tag: 'actions', body: S.ActionBody, response: S.ActionResult },
  { method: 'get', path: '/api/devices', summary: "PipeWire's capture sources and monitors", tag: 'read', response: DevicesSchema },
  { method: 'get', path: '/api/listeners', summary: 'Who is listening: /stream.mp3 and WebRTC', tag: 'read' },
  { method: 'get', path: '/api/recordings', summary: 'Recordings on disk', tag: 'read' },
  { method: 'get', path: '/api/recordings/range', summary: 'A time range as one file, stitched across recordings: ?from=2026-11-29T10:00&to=2026-11-29T11:30 (the box\'s time zone, or ISO 8601 with a zone); at most 24 h', tag: 'read' },
  { method: 'get', path: '/api/clips', summary: 'The clips of silence and lost input (15 s before and after), newest first', tag: 'read' },
  { method: 'get', path: '/api/config', summary: 'The running configuration', tag: 'config', response: ConfigSchema },
  { method: 'put', path: '/api/config', summary: 'Replace the configuration: JSON (a Config) or TOML text (kept exactly as sent)', tag: 'config', body: 'toml-or-json', response: S.SaveResult },
  { method: 'patch', path: '/api/config', summary: 'Set some keys: {"icecast.0.port": 8000, "input.device": "…"}', tag: 'config', body: S.ConfigPatch, response: S.SaveResult },
  { method: 'get', path: '/api/config/text', summary: 'The configuration file as it is on disk (TOML)', tag: 'config', response: 'text' },
  { method: 'get', path: '/api/config/schema', summary: 'The configuration schema (JSON Schema)', tag: 'config' },
  { method: 'post', path: '/api/backup', summary: "This box's backup (settings, password hash, API tokens, last state, the certificate authority; no recordings) as a file; a passphrase locks it and is required when it holds secrets", tag: 'system', body: S.BackupBody },
  { method: 'post', path: '/api/restore', summary: 'Restore a backup (its text, and its passphrase when locked): checked whole first, nothing changes when refused; then hark restarts', tag: 'system', body: S.RestoreBody },
  { method: 'get', path: '/api/update', summary: 'The running version, whether it is the image’s own or an update, a version on trial, and the last update’s outcome (installed, or rolled back and why)', tag: 'system' },
  { method: 'post', path: '/api/update', summary: 'Install a signed hark release: the .hark file as the body (application/octet-stream; ?allow_downgrade=1 for an older one). 202 and hark restarts into it; if it does not serve within 90 s the previous version comes back by itself. 422 with the reason (unsigned, corrupted, another architecture, older) and nothing changed', tag: 'system', body: 'binary' },
  { method: 'get', path: '/api/diag', summary: 'The diagnostic report to send to whoever helps: versions, the box, status, devices, disk and memory, the settings with every secret removed, the last 2,000 log lines (a text file)', tag: 'system', response: 'text' },
  { method: 'get', path: '/api/logs', summary: 'The last log lines (?lines=N, ?follow=1 keeps the response open)', tag: 'read', response: 'text' },
  { method: 'post', path: '/api/password', summary: 'Set the admin password: a browser session must give the current one; no API token may. Ends every other session; revoke_tokens: true also revokes every API token', tag: 'system', body: S.PasswordBody },
  { method: 'post', path: '/api/restart', summary: 'Restart hark in place', tag: 'system' },
  { method: 'get', path: '/api/tokens', summary: 'API tokens (names and ids; the tokens themselves are never shown again)', tag: 'system' },
  { method: 'post', path: '/api/tokens', summary: 'Create an API token with a scope: read (status, metrics), control (also the actions and the title) or admin (default: everything but the password)', tag: 'system', body: S.TokenBody, response: S.NewToken },
  { method: 'delete', path: '/api/tokens/{id}', summary: 'Revoke an API token', tag: 'system' },
  { method: 'get', path: '/api/notify', summary: 'The [[notify]] entries (webhook, e-mail, MQTT): each one\'s last delivery (ok and when, or the error), what waits, and why this run of hark started', tag: 'system' },
  { method: 'post', path: '/api/notify/{n}/test', summary: 'Send a test notice to [[notify]] entry n (from 0), past its filters: 200 {ok: true} when the server took it, 502 {ok: false, error} with the reason, 404 for no such entry', tag: 'system', response: NOTIFY_SCHEMAS.NotifyTestResult },
];

export function openapiDocument(): Record<string, unknown> {
  const schemas: Record<string, unknown> = { Config: ConfigSchema, ...S, Devices: DevicesSchema, ...NOTIFY_SCHEMAS };
  const content = (s: TSchema) => ({ 'application/json': { schema: nameOf(s) ? ref(nameOf(s)!) : s } });
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const o: Record<string, unknown> = { summary: op.summary, tags: [op.tag], operationId: `${op.method}${op.path.replace(/[^\w]+/g, '_')}` };
    // The API token scope this operation needs (scopes.ts); null: no token may (the password).
    const scope = scopeNeeded(op.method.toUpperCase(), op.path.replace(/\{\w+\}/g, 'x'));
    o['x-token-scope'] = scope ?? 'none';
    const params = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (params.length) o.parameters = params;
    if (op.body === 'toml-or-json') {
      o.requestBody = { required: true, content: { 'application/json': { schema: ref('Config') }, 'application/toml': { schema: { type: 'string' } } } };
    } else if (op.body === 'binary') {
      o.requestBody = { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } };
    } else if (op.body) o.requestBody = { required: op.body !== S.MarkBody, content: content(op.body) };
    const ok =
      op.response === 'text'
        ? { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } }
        : op.response && typeof op.response !== 'string'
          ? { description: 'OK', content: content(op.response) }
          : { description: 'OK' };
    o.responses = {
      200: ok,
      ...(op.public ? {} : { 401: { description: 'No session and no API token', content: content(S.Error) } }),
      403: {
        description: `${scope ? `An API token without the "${scope}" scope (\`scope_needed\` says which)` : 'Any API token (the password needs a person and the current password)'}${op.method !== 'get' ? '; a session without the CSRF token (X-CSRF-Token), or a cross-site request' : ''}`,
        content: content(S.Error),
      },
      ...(op.body ? { 422: { description: 'A refused value; `field` names it', content: content(S.Error) } } : {}),
    };
    if (op.public) o.security = [];
    (paths[op.path] ??= {})[op.method] = o;
  }
  return JSON.parse(
    JSON.stringify({
      openapi: '3.1.0',
      info: { title: 'hark', version: VERSION, description: "hark's JSON API. Log in on the admin page (a session cookie plus X-CSRF-Token on every change) or send an API token (System page, or POST /api/tokens) as Authorization: Bearer. Each operation's x-token-scope names the token scope it needs (read < control < admin)." },
      servers: [{ url: '/' }],
      security: [{ bearer: [] }, { session: [] }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API token' },
          session: { type: 'apiKey', in: 'cookie', name: 'hark_session' },
        },
        schemas,
      },
      paths,
    }),
  );
}

export const openapiRoutes = (_ctx: AppContext) => {
  // Built at the first request, then kept: an idle box does not hold the document.
  let doc: Record<string, unknown> | undefined;
  return new Elysia({ name: 'openapi' }).get('/api/openapi.json', () => (doc ??= openapiDocument()));
};
