/**
 * The admin page at `/`: server-rendered pages, the htmx fragments their widgets post to
 * (`/ui/*`), and the login, first-run and logout forms. Thin: everything acts through the
 * control model, the config store and the auth model.
 */
import { Elysia } from 'elysia';
import { randomBytes } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import type { AppContext } from '../context.ts';
import { html, htmlResponse, type Html } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { layout, loginPage, notFoundPage, setupPage } from '../../../web/templates/pages.ts';
import { ActionError } from '../../control/control.ts';
import { PasswordError, checkPasswordRules, safeEqual } from '../../control/auth.ts';
import { ConfigError } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { logTail, logger } from '../../log.ts';
import { PRE_CSRF_COOKIE, SESSION_COOKIE, cookie, originOf, parseCookies, principalOf } from '../auth.ts';
import { ENTRY_FORMS, SECTION_FORMS, entryForm, entrySection, errorsFrom, formValues, savedNotice, sectionForm, sectionSchema } from './forms.ts';
import * as W from './widgets.ts';
import type { SseHub } from '../sse.ts';
import type { Devices } from './model.ts';
import { testIcecast } from './icecast-test.ts';
import { RecordingBusyError, RecordingNotFoundError } from '../../outputs/recorder.ts';

const log = logger('http admin');

type Body = Record<string, unknown>;
const str = (v: unknown) => (typeof (Array.isArray(v) ? v[v.length - 1] : v) === 'string' ? String(Array.isArray(v) ? v[v.length - 1] : v) : '');

/** The CSRF token the page embeds: the session's, or '' for the socket/token callers. */
function csrfOf(request: Request): string {
  const p = principalOf(request);
  return p.kind === 'session' ? p.session.csrf : '';
}

/** Only paths on this site (never //host or a scheme) are followed after login. */
export function safeNext(next: string): string {
  return /^\/(?![/\\])[^\s]*$/.test(next) ? next : '/';
}

export const adminRoutes = (ctx: AppContext, hub: SseHub, devices: Devices) => {
  const page = (request: Request, path: string, title: string, events: string | undefined, body: Html) =>
    htmlResponse(
      layout({ title, path, csrf: csrfOf(request), state: ctx.control.state, stateBadge: W.stateBadge(ctx), alerts: W.alerts(ctx), events }, body),
    );

  const statuses = (kind: 'icecast' | 'whip') => {
    const s = ctx.broadcast.status();
    const list = (kind === 'icecast' ? s.icecast : s.whip) as unknown as { state: string; status?: string }[];
    return list.map((o) => ({ state: o.state, status: o.status ?? o.state }));
  };
  const section = (kind: 'icecast' | 'whip', extra: Html | string = '', notice: Html | string = '') => entrySection(kind, ctx.config, statuses(kind), extra, notice);

  /** Save an entry (index null: add); refusals come back as the form with inline errors. */
  async function saveEntry(kind: 'icecast' | 'whip', index: number | null, body: Body): Promise<Response> {
    const schema = sectionSchema(kind);
    const list = ctx.config[kind] as unknown as Record<string, unknown>[];
    if (index !== null && !(index >= 0 && index < list.length)) return htmlResponse(section(kind, '', C.saveNotice({ ok: false, message: `There is no entry ${index + 1} any more.` })), 404);
    const old = index === null ? {} : list[index]!;
    const i = index ?? list.length;
    const prefix = `${kind}.${i}`;
    let values: Record<string, unknown> = {};
    try {
      values = formValues(schema, body, prefix, old);
      const entry = Value.Default(schema, { ...old, ...values });
      const r = await ctx.store.update((draft) => {
        const arr = draft[kind] as unknown as Record<string, unknown>[];
        if (index === null) arr.push(entry as Record<string, unknown>);
        else arr[index] = entry as Record<string, unknown>;
      });
      return htmlResponse(section(kind, '', savedNotice(r)));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const names = Object.keys((schema as unknown as { properties: object }).properties);
      const { fields, form } = errorsFrom(e, prefix, names);
      return htmlResponse(section(kind, entryForm(kind, index, { ...old, ...values, ...rawStrings(body, names, fields) }, fields, form)), 422);
    }
  }

  /** For refused fields, show what the user typed rather than the coerced value. */
  function rawStrings(body: Body, names: string[], fields: Record<string, string>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const n of names) if (fields[n] && n in body) out[n] = str(body[n]);
    return out;
  }

  async function saveSection(name: string, body: Body): Promise<Response> {
    const meta = SECTION_FORMS[name];
    if (!meta) return htmlResponse(html`<p class="notice bad">No form for [${name}].</p>`, 404);
    const schema = sectionSchema(name);
    const current = ctx.config[name as keyof Config] as Record<string, unknown>;
    let values: Record<string, unknown> = {};
    try {
      values = formValues(schema, body, name, current, meta.skip);
      const r = await ctx.store.update((draft) => {
        (draft as Record<string, unknown>)[name] = { ...current, ...values };
      });
      return htmlResponse(sectionForm(name, ctx.config, {}, savedNotice(r)));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const names = Object.keys((schema as unknown as { properties: object }).properties);
      const { fields, form } = errorsFrom(e, name, names);
      return htmlResponse(sectionForm(name, ctx.config, fields, form ? C.saveNotice({ ok: false, message: form }) : '', { ...current, ...values, ...rawStrings(body, names, fields) }), 422);
    }
  }

  const preCsrf = (request: Request) => parseCookies(request.headers.get('cookie'))[PRE_CSRF_COOKIE] ?? '';
  const newPreCsrf = () => randomBytes(18).toString('base64url');
  const remoteOf = (request: Request, server: { requestIP(r: Request): { address: string } | null } | null) => server?.requestIP(request)?.address ?? 'unknown';

  function startSession(request: Request, to: string): Response {
    const s = ctx.auth.createSession();
    const h = new Headers({ location: to, 'cache-control': 'no-store' });
    h.append('set-cookie', cookie(SESSION_COOKIE, s.id, s.maxAgeS, request));
    h.append('set-cookie', cookie(PRE_CSRF_COOKIE, '', 0, request));
    return new Response(null, { status: 303, headers: h });
  }

  function withPreCsrf(request: Request, body: Html, status = 200, extra: Record<string, string> = {}, token?: string): Response {
    const t = token ?? newPreCsrf();
    return htmlResponse(body, status, { 'set-cookie': cookie(PRE_CSRF_COOKIE, t, 3600, request), ...extra });
  }

  return (
    new Elysia({ name: 'admin' })
      // ---- first run, login, logout ----------------------------------------------------
      .get('/setup', ({ request }) => {
        if (ctx.auth.hasPassword()) return htmlResponse(notFoundPage('The admin password is set; this page no longer exists.'), 404);
        const t = newPreCsrf();
        return withPreCsrf(request, setupPage({ csrf: t }), 200, {}, t);
      })
      .post('/setup', async ({ request, body }) => {
        if (ctx.auth.hasPassword()) return htmlResponse(notFoundPage('The admin password is set; this page no longer exists.'), 404);
        const b = (body ?? {}) as Body;
        const given = str(b._csrf);
        if (!given || !safeEqual(given, preCsrf(request))) {
          const t = newPreCsrf();
          return withPreCsrf(request, setupPage({ csrf: t, error: 'The form expired: try again.' }), 403, {}, t);
        }
        const pw = str(b.password);
        const errors: Record<string, string> = {};
        try {
          checkPasswordRules(pw);
        } catch (e) {
          errors.password = (e as Error).message.replace(/^password: /, '');
        }
        if (!errors.password && pw !== str(b.confirm)) errors.confirm = 'the two passwords differ';
        if (Object.keys(errors).length) {
          const t = newPreCsrf();
          return withPreCsrf(request, setupPage({ csrf: t, errors }), 422, {}, t);
        }
        await ctx.auth.setPassword(pw);
        log.info('admin password set on the first-run page');
        return startSession(request, '/');
      })
      .get('/login', ({ request, query }) => {
        if (!ctx.auth.hasPassword()) return new Response(null, { status: 303, headers: { location: '/setup' } });
        const t = newPreCsrf();
        return withPreCsrf(request, loginPage({ csrf: t, next: safeNext(String(query.next ?? '/')) }), 200, {}, t);
      })
      .post('/login', async ({ request, body, server }) => {
        if (!ctx.auth.hasPassword()) return new Response(null, { status: 303, headers: { location: '/setup' } });
        const b = (body ?? {}) as Body;
        const next = safeNext(str(b.next) || '/');
        const remote = remoteOf(request, server as never);
        const wait = ctx.auth.limiter.retryAfterMs(remote);
        const t = newPreCsrf();
        if (wait > 0) {
          const min = Math.ceil(wait / 60_000);
          log.warn(`login from ${remote} refused: too many failed attempts`);
          return withPreCsrf(request, loginPage({ csrf: t, next, error: `Too many wrong passwords: try again in ${min} minute${min === 1 ? '' : 's'}.`, retryAfterS: Math.ceil(wait / 1000) }), 429, { 'retry-after': String(Math.ceil(wait / 1000)) }, t);
        }
        const given = str(b._csrf);
        if (!given || !safeEqual(given, preCsrf(request))) {
          return withPreCsrf(request, loginPage({ csrf: t, next, error: 'The form expired: try again.' }), 403, {}, t);
        }
        if (!(await ctx.auth.verifyPassword(str(b.password)))) {
          ctx.auth.limiter.fail(remote);
          log.warn(`failed login from ${remote}`);
          return withPreCsrf(request, loginPage({ csrf: t, next, error: 'Wrong password.' }), 401, {}, t);
        }
        ctx.auth.limiter.succeed(remote);
        log.info(`login from ${remote}`);
        return startSession(request, next);
      })
      .post('/logout', ({ request, body }) => {
        const cookies = parseCookies(request.headers.get('cookie'));
        const s = ctx.auth.session(cookies[SESSION_COOKIE]);
        // A logout must come from the page (its CSRF token), or anyone could log you out.
        if (s && !safeEqual(str((body as Body | undefined)?._csrf) || (request.headers.get('x-csrf-token') ?? ''), s.csrf)) {
          return new Response('the CSRF token is missing', { status: 403 });
        }
        ctx.auth.endSession(cookies[SESSION_COOKIE]);
        const h = new Headers({ location: '/login', 'cache-control': 'no-store' });
        h.append('set-cookie', cookie(SESSION_COOKIE, '', 0, request));
        if (request.headers.get('hx-request')) h.set('hx-redirect', '/login');
        return new Response(null, { status: 303, headers: h });
      })

      // ---- pages -----------------------------------------------------------------------
      .get('/', ({ request }) =>
        page(
          request,
          '/',
          'Dashboard',
          'dashboard',
          html`<div class="grid">
${W.statePanel(ctx)}
<section class="panel"><h2>Input level</h2><div id="meters" sse-swap="meters">${W.meters(hub.meter)}</div></section>
<section class="panel"><h2>Listeners</h2><p class="listeners big-number" id="listener-count" sse-swap="listeners">${W.listeners(ctx)}</p><a href="/listeners">Who is listening</a></section>
<section class="panel wide"><h2>Outputs</h2><div id="outputs" sse-swap="outputs">${W.outputs(ctx)}</div></section>
<section class="panel"><h2>Title and marks</h2>
  <form hx-post="/ui/metadata" hx-target="next .result" class="row"><input type="text" name="title" placeholder="Now playing…" maxlength="512" aria-label="Title"><button type="submit">Set title</button></form><p class="result"></p>
  <form hx-post="/ui/mark" hx-target="next .result" class="row"><input type="text" name="label" placeholder="Label (optional)" maxlength="200" aria-label="Mark label"><button type="submit">Mark</button></form><p class="result"></p>
</section>
</div>`,
        ),
      )
      .get('/input', async ({ request }) => {
        // The device list is opened at the first ask: wait (briefly) for its first enumeration.
        await devices.listReady();
        return page(
          request,
          '/input',
          'Input',
          'input',
          html`<div class="grid">
<section class="panel"><h2>Level</h2><div id="meters" sse-swap="meters">${W.meters(hub.meter)}</div><div id="input-status" sse-swap="input-status">${W.inputStatus(ctx)}</div></section>
<form class="panel" id="device-form" hx-post="/ui/input" hx-target="find .result">
  <h2>Device</h2>
  <div class="field"><label for="device">Capture from</label><select id="device" name="device" sse-swap="devices" hx-target="this">${W.deviceOptions(ctx, devices)}</select><small>PipeWire sources and monitors; the list follows hot-plugs.</small></div>
  <button type="submit">Use this device</button><div class="result"></div>
</form>
${sectionForm('input', ctx.config)}
${sectionForm('tone', ctx.config)}
${sectionForm('silence', ctx.config)}
</div>`,
        );
      })
      .get('/outputs', ({ request }) =>
        page(
          request,
          '/outputs',
          'Outputs',
          'outputs',
          html`<section class="panel wide"><h2>Now</h2><div id="outputs" sse-swap="outputs">${W.outputs(ctx)}</div></section>
<div class="grid">
${section('icecast')}
${section('whip')}
${sectionForm('recording', ctx.config)}
${sectionForm('webrtc', ctx.config)}
${sectionForm('mp3', ctx.config)}
${sectionForm('stream', ctx.config)}
${sectionForm('metadata', ctx.config)}
</div>`,
        ),
      )
      .get('/listeners', ({ request }) =>
        page(
          request,
          '/listeners',
          'Listeners',
          'listeners',
          html`<section class="panel wide"><p class="big-number" sse-swap="listeners">${W.listeners(ctx)}</p><div id="listener-table" sse-swap="listener-table">${W.listenerTable(ctx)}</div></section>`,
        ),
      )
      .get('/recordings', ({ request }) =>
        page(
          request,
          '/recordings',
          'Recordings',
          'recordings',
          html`<section class="panel"><div id="recorder" sse-swap="recorder">${W.recorderStatus(ctx)}</div><p><a href="/outputs#form-recording">Recording settings</a></p></section>
<section class="panel wide"><div id="recordings-list" sse-swap="recordings">${W.recordingsList(ctx)}</div></section>`,
        ),
      )
      .get('/system', ({ request }) =>
        page(
          request,
          '/system',
          'System',
          'system',
          html`<div class="grid">
<section class="panel"><h2>This box</h2><div id="sysinfo" sse-swap="sysinfo">${W.sysinfo(ctx)}</div>
  ${ctx.plane.canRestart ? html`<button type="button" class="danger" hx-post="/ui/restart" hx-target="next .result" hx-confirm="Restart hark now? Listeners reconnect.">Restart hark</button><p class="result"></p>` : ''}
</section>
<section class="panel wide"><h2>Log</h2><div id="log" class="log" sse-swap="log" hx-swap="beforeend">${W.logLines(logTail().slice(-100))}</div></section>
${passwordForm()}
${tokensPanel()}
${sectionForm('access', ctx.config)}
${sectionForm('control', ctx.config)}
${sectionForm('log', ctx.config)}
${sectionForm('http', ctx.config)}
<section class="panel"><h2>Configuration file</h2><p><code>${ctx.store.path}</code></p><p><a href="/api/config/text" download="hark.toml">Download</a> · <a href="/api/openapi.json">API (OpenAPI)</a> · <a href="/metrics">Metrics</a></p></section>
</div>`,
        ),
      )

      // ---- fragments -------------------------------------------------------------------
      .post('/ui/action/:action', async ({ params, request }) => {
        try {
          const r = await ctx.control.run(params.action, {}, originOf(request));
          return htmlResponse(W.statePanel(ctx, r.message));
        } catch (e) {
          if (!(e instanceof ActionError)) throw e;
          return htmlResponse(W.statePanel(ctx, e.message), 422);
        }
      })
      .post('/ui/mark', async ({ body, request }) => {
        try {
          const r = await ctx.control.run('mark', { label: str((body as Body)?.label) }, originOf(request));
          return htmlResponse(C.saveNotice({ ok: true, message: r.message }));
        } catch (e) {
          if (!(e instanceof ActionError)) throw e;
          return htmlResponse(C.saveNotice({ ok: false, message: e.message }), 422);
        }
      })
      .post('/ui/metadata', async ({ body, request }) => {
        try {
          const r = await ctx.control.run('set_metadata', { title: str((body as Body)?.title) }, originOf(request));
          return htmlResponse(C.saveNotice({ ok: true, message: r.message }));
        } catch (e) {
          if (!(e instanceof ActionError)) throw e;
          return htmlResponse(C.saveNotice({ ok: false, message: e.message }), 422);
        }
      })
      .post('/ui/input', async ({ body, request }) => {
        try {
          const r = await ctx.control.run('set_input', { device: str((body as Body)?.device) }, originOf(request));
          return htmlResponse(C.saveNotice({ ok: true, message: r.message }));
        } catch (e) {
          if (!(e instanceof ActionError) && !(e instanceof ConfigError)) throw e;
          return htmlResponse(C.saveNotice({ ok: false, message: e.message }), 422);
        }
      })
      .post('/ui/config/:section', ({ params, body }) => saveSection(params.section, (body ?? {}) as Body))
      .get('/ui/:kind', ({ params }) => (isEntryKind(params.kind) ? htmlResponse(section(params.kind)) : notFound()))
      .get('/ui/:kind/new', ({ params }) => (isEntryKind(params.kind) ? htmlResponse(section(params.kind, entryForm(params.kind, null, Value.Default(sectionSchema(params.kind), {}) as Record<string, unknown>))) : notFound()))
      .get('/ui/:kind/:index/edit', ({ params }) => {
        if (!isEntryKind(params.kind)) return notFound();
        const i = Number(params.index);
        const e = (ctx.config[params.kind] as unknown as Record<string, unknown>[])[i];
        if (!e) return htmlResponse(section(params.kind, '', C.saveNotice({ ok: false, message: 'That entry is gone.' })), 404);
        return htmlResponse(section(params.kind, entryForm(params.kind, i, e)));
      })
      .post('/ui/icecast/test', async ({ body, query }) => {
        const b = (body ?? {}) as Body;
        const index = query.index === undefined ? null : Number(query.index);
        const schema = sectionSchema('icecast');
        const old = index === null ? {} : ((ctx.config.icecast as unknown as Record<string, unknown>[])[index] ?? {});
        const prefix = `icecast.${index ?? ctx.config.icecast.length}`;
        let values: Record<string, unknown> = {};
        try {
          values = formValues(schema, b, prefix, old);
          const r = await testIcecast({ ...(Value.Default(schema, {}) as object), ...old, ...values } as Config['icecast'][number]);
          return htmlResponse(entryForm('icecast', index, { ...old, ...values }, {}, '', r));
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          return htmlResponse(entryForm('icecast', index, { ...old, ...values }, {}, `${e.path}: ${e.reason}`), 422);
        }
      })
      .post('/ui/:kind', ({ params, body }) => (isEntryKind(params.kind) ? saveEntry(params.kind, null, (body ?? {}) as Body) : notFound()))
      .post('/ui/:kind/:index', ({ params, body }) => (isEntryKind(params.kind) ? saveEntry(params.kind, Number(params.index), (body ?? {}) as Body) : notFound()))
      .delete('/ui/:kind/:index', async ({ params }) => {
        if (!isEntryKind(params.kind)) return notFound();
        const kind = params.kind;
        const i = Number(params.index);
        if (!(i >= 0 && i < ctx.config[kind].length)) return htmlResponse(section(kind, '', C.saveNotice({ ok: false, message: 'That entry is gone.' })), 404);
        const r = await ctx.store.update((draft) => {
          (draft[kind] as unknown[]).splice(i, 1);
        });
        return htmlResponse(section(kind, '', savedNotice(r)));
      })
      .delete('/ui/recordings/:name', ({ params }) => {
        try {
          ctx.broadcast.recorder.delete(params.name);
          return htmlResponse(W.recordingsList(ctx));
        } catch (e) {
          if (e instanceof RecordingNotFoundError || e instanceof RecordingBusyError) return htmlResponse(html`${C.saveNotice({ ok: false, message: e.message })}${W.recordingsList(ctx)}`, 409);
          throw e;
        }
      })
      .post('/ui/restart', ({ request }) =>
        ctx.plane.requestRestart(originOf(request))
          ? htmlResponse(C.saveNotice({ ok: true, message: 'Restarting… this page reconnects by itself.' }))
          : htmlResponse(C.saveNotice({ ok: false, message: 'This hark cannot restart itself (not started by its daemon entry point).' }), 409),
      )
      .post('/ui/password', async ({ body, request }) => {
        const b = (body ?? {}) as Body;
        const errors: Record<string, string> = {};
        const p = principalOf(request);
        if (p.kind === 'session' && !(await ctx.auth.verifyPassword(str(b.current)))) errors.current = 'not the current password';
        const pw = str(b.password);
        if (!errors.current) {
          try {
            checkPasswordRules(pw);
          } catch (e) {
            errors.password = (e as Error).message.replace(/^password: /, '');
          }
          if (!errors.password && pw !== str(b.confirm)) errors.confirm = 'the two passwords differ';
        }
        if (Object.keys(errors).length) return htmlResponse(passwordForm(errors), 422);
        await ctx.auth.setPassword(pw);
        // Every session ended with the change; this browser gets a new one.
        const s = ctx.auth.createSession();
        return htmlResponse(passwordForm({}, 'Password changed. Other browsers are logged out.'), 200, {
          'set-cookie': cookie(SESSION_COOKIE, s.id, s.maxAgeS, request),
          // The page's CSRF token belonged to the old session.
          'hx-refresh': 'true',
        });
      })
      .post('/ui/tokens', ({ body }) => {
        try {
          const t = ctx.auth.createToken(str((body as Body)?.name));
          return htmlResponse(tokensPanel({}, t.token));
        } catch (e) {
          if (!(e instanceof PasswordError)) throw e;
          return htmlResponse(tokensPanel({ [e.field]: e.message.replace(/^name: /, '') }), 422);
        }
      })
      .delete('/ui/tokens/:id', ({ params }) => {
        ctx.auth.revokeToken(params.id);
        return htmlResponse(tokensPanel());
      })
  );

  function passwordForm(errors: Record<string, string> = {}, message = ''): Html {
    const f = (name: string, label: string, auto: string) =>
      html`<div class="field${errors[name] ? ' invalid' : ''}"><label for="pw-${name}">${label}</label><input type="password" id="pw-${name}" name="${name}" autocomplete="${auto}">${errors[name] ? html`<span class="err" role="alert">${errors[name]}</span>` : ''}</div>`;
    return html`<form id="password-form" class="panel" hx-post="/ui/password" hx-target="this" hx-swap="outerHTML">
  <h2>Admin password</h2>
  ${message ? C.saveNotice({ ok: true, message }) : ''}
  ${f('current', 'Current password', 'current-password')}${f('password', 'New password', 'new-password')}${f('confirm', 'New password again', 'new-password')}
  <button type="submit">Change password</button>
</form>`;
  }

  function tokensPanel(errors: Record<string, string> = {}, created = ''): Html {
    return html`<section id="tokens" class="panel" hx-target="this" hx-swap="outerHTML">
  <h2>API tokens</h2>
  <p class="help">For scripts: <code>Authorization: Bearer …</code> on <code>/api/*</code>.</p>
  ${created ? html`<p class="notice ok" role="status">New token (shown once): <code class="token">${created}</code></p>` : ''}
  <ul>${ctx.auth.tokens().map((t) => html`<li><b>${t.name}</b> <small>${t.id}, ${t.created.slice(0, 10)}</small> <button type="button" class="link danger" hx-delete="/ui/tokens/${t.id}" hx-confirm="Revoke ${t.name}?">Revoke</button></li>`)}</ul>
  <form hx-post="/ui/tokens" class="row"><div class="field${errors.name ? ' invalid' : ''}"><label for="token-name">Name</label><input id="token-name" name="name" maxlength="64">${errors.name ? html`<span class="err" role="alert">${errors.name}</span>` : ''}</div><button type="submit">Create token</button></form>
</section>`;
  }
};

function isEntryKind(k: string): k is 'icecast' | 'whip' {
  return k in ENTRY_FORMS;
}

function notFound(): Response {
  return htmlResponse(html`<p class="notice bad">Not found.</p>`, 404);
}
