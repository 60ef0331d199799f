/** The System page: this box, the log, restart, the admin password, API tokens, access. */
import { Elysia } from 'elysia';
import { html, htmlResponse, type Html } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { PasswordError, checkPasswordRules } from '../../control/auth.ts';
import { SESSION_COOKIE, cookie, originOf, principalOf } from '../auth.ts';
import { sectionForm } from './forms.ts';
import { renderPage, str, type AdminDeps, type Body } from './shared.ts';
import * as W from './widgets.ts';

export const systemRoutes = ({ ctx, hub }: AdminDeps) => {
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

  return new Elysia({ name: 'admin-system' })
      .get('/system', ({ request }) =>
        renderPage(
          ctx,
          request,
          '/system',
          'System',
          'system',
          html`<div class="grid">
<section class="panel"><h2>This box</h2>${W.slot(hub.env, 'sysinfo')}
  ${ctx.plane.canRestart ? html`<button type="button" class="danger" hx-post="/ui/restart" hx-target="next .result" hx-confirm="Restart hark now? Listeners reconnect.">Restart hark</button><p class="result"></p>` : ''}
</section>
<section class="panel wide"><h2>Log</h2>${W.slot(hub.env, 'log')}</section>
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
      });
};
