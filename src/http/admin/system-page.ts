/** The System page: this box, the log, restart, the admin password, API tokens, access. */
import { Elysia } from 'elysia';
import { html, htmlResponse, type Html } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { PasswordError, checkPasswordRules } from '../../control/auth.ts';
import { SESSION_COOKIE, cookie, originOf, principalOf } from '../auth.ts';
import { sectionForm } from './forms.ts';
import { configForms, renderPage, str, type AdminDeps, type Body } from './shared.ts';
import { SystemCommandError, systemControl, type PowerAction } from '../../control/system.ts';
import * as W from './widgets.ts';
import { tlsAdminRoutes, tlsPanel } from './tls-panel.ts';

/** What each power button says before it acts (the confirm dialog) and after. */
const POWER: Record<PowerAction, { label: string; confirm: string; done: string }> = {
  reboot: {
    label: 'Reboot the box',
    confirm: 'Reboot the box now? Everyone listening is disconnected and the recording pauses. This page comes back by itself in about a minute.',
    done: 'Rebooting… everyone listening is disconnected. This page comes back in about a minute.',
  },
  poweroff: {
    label: 'Shut down the box',
    confirm: 'Shut down the box now? Everyone listening is disconnected and the recording stops. To start it again, unplug the power and plug it back in.',
    done: 'Shutting down… wait until the green light stops blinking before you unplug the power.',
  },
};

export const systemRoutes = ({ ctx, hub }: AdminDeps) => {
  const sys = systemControl();
  const { saveSection } = configForms(ctx);

  /** Restart hark and, on the image, reboot or shut down the box. */
  function powerPanel(): Html {
    return html`<section id="power" class="panel"><h2>Restart and power</h2>
  <div class="power-buttons">
  ${ctx.plane.canRestart ? html`<button type="button" id="restart-hark" class="danger" hx-post="/ui/restart" hx-target="#power-result" hx-confirm="Restart hark now? Listeners reconnect by themselves within a few seconds.">Restart hark</button>` : ''}
  ${sys.capable
    ? (['reboot', 'poweroff'] as const).map((a) => html`<button type="button" id="power-${a}" class="danger" hx-post="/ui/power/${a}" hx-target="#power-result" hx-confirm="${POWER[a].confirm}">${POWER[a].label}</button>`)
    : ''}
  </div>
  <div id="power-result" aria-live="polite"></div>
  ${sys.capable ? html`<p class="help">Shut down the box here before you unplug it: pulling the power can damage the memory card.</p>` : ''}
</section>`;
  }

  /** The zone times are shown in; on the image, a picker. */
  async function timezonePanel(message: Html | string = ''): Promise<Html> {
    const zone = sys.timezone();
    if (!sys.capable) {
      return html`<section id="timezone" class="panel"><h2>Time zone</h2>${message}<p>Times on these pages are in <b>${zone}</b> (now ${new Date().toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' })}).</p><p class="help">Set by the computer hark runs on.</p></section>`;
    }
    const zones = await sys.listTimezones();
    return html`<form id="timezone" class="panel" hx-post="/ui/timezone" hx-target="this" hx-swap="outerHTML"><h2>Time zone</h2>${message}
  <p>Times on these pages are in <b>${zone}</b> (now ${new Date().toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' })}).</p>
  <div class="field"><label for="tz-zone">Time zone of this box</label><select id="tz-zone" name="zone">${zones.map((z) => html`<option value="${z}" ${z === zone ? html`selected` : ''}>${z.replaceAll('_', ' ')}</option>`)}</select></div>
  <button type="submit">Set time zone</button>
</form>`;
  }

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
      .use(tlsAdminRoutes(ctx))
      .get('/system', async ({ request }) =>
        renderPage(
          ctx,
          request,
          '/system',
          'System',
          'system',
          html`<div class="grid">
<section class="panel"><h2>This box</h2>${W.slot(hub.env, 'sysinfo')}</section>
${powerPanel()}
${await timezonePanel()}
<section class="panel wide"><h2>Log</h2>${W.slot(hub.env, 'log')}</section>
${passwordForm()}
${tlsPanel(ctx)}
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
      .post('/ui/power/:action', async ({ params, request }) => {
        const a = params.action as PowerAction;
        if (!(a in POWER)) return htmlResponse(C.saveNotice({ ok: false, message: `no such power action: ${params.action}` }), 404);
        try {
          await sys.power(a, originOf(request));
          return htmlResponse(C.saveNotice({ ok: true, message: POWER[a].done }));
        } catch (e) {
          if (!(e instanceof SystemCommandError)) throw e;
          return htmlResponse(C.saveNotice({ ok: false, message: `Could not ${a === 'reboot' ? 'reboot' : 'shut down'}: ${e.message}` }), 409);
        }
      })
      .post('/ui/timezone', async ({ body }) => {
        const zone = str((body as Body)?.zone);
        try {
          await sys.setTimezone(zone);
          return htmlResponse(await timezonePanel(C.saveNotice({ ok: true, message: `Time zone set to ${zone}.` })));
        } catch (e) {
          if (!(e instanceof SystemCommandError)) throw e;
          return htmlResponse(await timezonePanel(C.saveNotice({ ok: false, message: e.message })), 422);
        }
      })
      // The HTTP settings move the page itself: a change of port or address is saved only
      // after the user has read where the page will be (a second submit with confirm=yes).
      .post('/ui/config/http', ({ body, request }) => {
        const b = (body ?? {}) as Body;
        const portText = str(b.port).trim() || String(ctx.config.http.port);
        // Not a port: the form refuses it next to the field, as any other.
        if (!/^\d{1,5}$/.test(portText)) return saveSection('http', b);
        const port = Number(portText);
        const host = str(b.host) || ctx.config.http.host;
        const moves = port !== ctx.config.http.port || host !== ctx.config.http.host;
        if (!moves || str(b.confirm) === 'yes') return saveSection('http', b);
        const here = new URL(request.url);
        const name = request.headers.get('host')?.replace(/:\d+$/, '') || here.hostname;
        const where = `http://${name}:${port}/`;
        const loopback = /^(127\.|::1$|localhost$)/.test(host);
        const warning = html`<div class="notice warn" role="alert" id="http-move-warning"><p><b>This moves the admin page.</b> After saving and restarting hark you will reach this page at <b>${where}</b>${
          loopback ? html`, and only from the box itself (address ${host}): other computers cannot reach it` : ''
        }. If that port is blocked by a firewall or used by another program, you may lock yourself out (then fix it over SSH with <code>hark config set http.port ${String(ctx.config.http.port)}</code>).</p>
  <button type="submit" name="confirm" value="yes" class="danger">Save and move the page</button> <button type="button" class="link" hx-get="/ui/config/http/form" hx-target="#form-http" hx-swap="outerHTML">Cancel</button></div>`;
        return htmlResponse(sectionForm('http', ctx.config, {}, warning, { ...ctx.config.http, port: str(b.port), host }));
      })
      .get('/ui/config/http/form', () => htmlResponse(sectionForm('http', ctx.config)))
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
