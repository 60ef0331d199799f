/** The System page: this box, the log, restart, the admin password, API tokens, access. */
import { Elysia } from 'elysia';
import { html, htmlResponse, type Html } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { PasswordError, SCOPES, isScope, type Scope } from '../../control/auth.ts';
import { SESSION_COOKIE, cookie, originOf } from '../auth.ts';
import { changePassword, clientAddress } from '../password.ts';
import { sectionForm } from './forms.ts';
import { configForms, renderPage, str, type AdminDeps, type Body } from './shared.ts';
import { SystemCommandError, systemControl, type PowerAction } from '../../control/system.ts';
import * as W from './widgets.ts';
import * as S from '../../../web/templates/system.ts';
import { POWER } from '../../../web/templates/system.ts';
import { tlsAdminRoutes, tlsPanel } from './tls-panel.ts';
import { backupAdminRoutes, backupPanel } from './backup-panel.ts';
import { theUpdater } from '../../system/update.ts';
import { when } from './local-time.ts';

export const systemRoutes = ({ ctx, hub }: AdminDeps) => {
  const sys = systemControl();
  const { saveSection, section } = configForms(ctx);

  const powerPanel = () => S.powerPanel({ canRestart: ctx.plane.canRestart, capable: sys.capable });
  const timezonePanel = async (message: Html | string = '') =>
    S.timezonePanel({
      zone: sys.timezone(),
      nowText: new Date().toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' }),
      zones: sys.capable ? await sys.listTimezones() : null,
      message,
    });
  const passwordForm = S.passwordForm;
  const tokensPanel = (errors: Record<string, string> = {}, created = '', scope: Scope = 'read') => S.tokensPanel({ tokens: ctx.auth.tokens(), errors, created, scope });

  const updatePanel = () => {
    const u = theUpdater().status();
    return S.updatePanel({
      version: u.version,
      runningFrom: u.running_from,
      previous: u.previous,
      available: u.available,
      unavailableReason: u.unavailable_reason,
      trial: u.trial,
      last: u.last,
      lastWhen: u.last ? when(u.last.at) : undefined,
      debian: u.debian ? { ...u.debian, when: when(u.debian.checked_at) } : undefined,
    });
  };

  return new Elysia({ name: 'admin-system' })
      .use(tlsAdminRoutes(ctx))
      .use(backupAdminRoutes(ctx))
      .get('/system', async ({ request }) =>
        renderPage(
          ctx,
          request,
          '/system',
          'System',
          'system',
          S.systemPage({
            slots: { sysinfo: W.slot(hub.env, 'sysinfo'), log: W.slot(hub.env, 'log') },
            power: powerPanel(),
            timezone: html`${await timezonePanel()}${W.slot(hub.env, 'clock')}`,
            password: passwordForm(),
            tls: tlsPanel(ctx),
            tokens: tokensPanel(),
            backup: backupPanel(ctx),
            update: updatePanel(),
            forms: (['access', 'control', 'log', 'http'] as const).map((name) => sectionForm(name, ctx.config)),
            configPath: ctx.store.path,
            notify: section('notify'),
          }),
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
        const warning = S.httpMoveWarning({ where, host, loopback, currentPort: ctx.config.http.port });
        return htmlResponse(sectionForm('http', ctx.config, {}, warning, { ...ctx.config.http, port: str(b.port), host }));
      })
      .get('/ui/config/http/form', () => htmlResponse(sectionForm('http', ctx.config)))
      .post('/ui/password', async ({ body, request, server }) => {
        const b = (body ?? {}) as Body;
        const revoke = str(b.revoke_tokens) === 'yes';
        const r = await changePassword(ctx, request, clientAddress(server, request), { current: str(b.current), password: str(b.password), confirm: str(b.confirm), revokeTokens: revoke });
        if (!r.ok) return htmlResponse(passwordForm(r.errors, '', revoke), r.status, r.retryAfterS ? { 'retry-after': String(r.retryAfterS) } : {});
        const message = `Password changed. Every other browser is logged out${r.revoked ? `, and ${r.revoked} API token${r.revoked === 1 ? ' was' : 's were'} revoked` : ''}.`;
        // This browser stays logged in with a new session (the page's CSRF token is kept).
        return htmlResponse(passwordForm({}, message), 200, r.newSession ? { 'set-cookie': cookie(SESSION_COOKIE, r.newSession.id, r.newSession.maxAgeS, request) } : {});
      })
      .post('/ui/tokens', ({ body }) => {
        const b = (body ?? {}) as Body;
        const scope = str(b.scope) || 'read';
        try {
          if (!isScope(scope)) throw new PasswordError(`scope: one of ${SCOPES.join(', ')}`, 'scope');
          const t = ctx.auth.createToken(str(b.name), scope);
          return htmlResponse(tokensPanel({}, t.token));
        } catch (e) {
          if (!(e instanceof PasswordError)) throw e;
          return htmlResponse(tokensPanel({ [e.field]: e.message.replace(/^\w+: /, '') }, '', isScope(scope) ? scope : 'read'), 422);
        }
      })
      .delete('/ui/tokens/:id', ({ params }) => {
        ctx.auth.revokeToken(params.id);
        return htmlResponse(tokensPanel());
      });
};
