/**
 * Whole pages: the layout around each page's widgets. Each page opens one SSE connection
 * (`/events?page=…`) and names the events its widgets take (`sse-swap`).
 */
import { html, type Html } from './html.ts';
import type { RunState } from '../../src/control/events.ts';

export const NAV = [
  ['/', 'Dashboard'],
  ['/input', 'Input'],
  ['/programs', 'Programs'],
  ['/outputs', 'Outputs'],
  ['/listeners', 'Listeners'],
  ['/recordings', 'Recordings'],
  ['/schedule', 'Schedule'],
  ['/system', 'System'],
] as const;

export interface LayoutOptions {
  title: string;
  path: string;
  csrf: string;
  state: RunState;
  /** The header's live widgets, each in its slot (src/http/admin/widgets.ts). */
  stateBadge: Html;
  alerts: Html;
  /** The SSE page name; omitted: no live updates. */
  events?: string;
}

/**
 * htmx without what the Content-Security-Policy refuses: no <style> element of its own
 * (admin.css has the indicator rules) and no eval (hx-on, js: values, trigger filters).
 */
const HTMX_CONFIG = JSON.stringify({ includeIndicatorStyles: false, allowEval: false });

export function layout(o: LayoutOptions, body: Html): Html {
  const headers = JSON.stringify({ 'X-CSRF-Token': o.csrf });
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${o.title} · hark</title>
<meta name="htmx-config" content="${HTMX_CONFIG}">
<link rel="stylesheet" href="/static/admin.css">
<script src="/static/htmx.min.js" defer></script>
<script src="/static/htmx-sse.js" defer></script>
<script src="/static/admin.js" defer></script>
</head>
<body hx-headers="${headers}" ${o.events ? html`hx-ext="sse" sse-connect="/events?page=${o.events}"` : ''}>
<header class="top">
  <a class="brand" href="/">hark</a>
  ${o.stateBadge}
  <nav aria-label="Admin pages">${NAV.map(([href, label]) => html`<a href="${href}" ${o.path === href ? html`aria-current="page"` : ''}>${label}</a>`)}</nav>
  <form method="post" action="/logout" class="logout"><input type="hidden" name="_csrf" value="${o.csrf}"><button type="submit" class="link">Log out</button></form>
</header>
${o.events ? html`<div id="conn-lost" class="conn-lost-banner" role="alert" hidden><b>Connection lost</b> — reconnecting… <span class="help" id="conn-lost-why">No connection to the box: the buttons wait, and the figures on this page are not live, until it is back.</span></div>` : ''}
${o.alerts}
<main>
<h1>${o.title}</h1>
${body}
</main>
</body>
</html>`;
}

/** The login and first-run pages: no SSE, no htmx needed. */
export function bare(title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title} · hark</title>
<link rel="stylesheet" href="/static/admin.css">
</head>
<body class="bare">
<main class="narrow">
<p class="brand big-brand">hark</p>
<h1>${title}</h1>
${body}
</main>
</body>
</html>`;
}

/** The login form; after a refusal (a wrong password, a wait) it stays usable: the message says how long to wait. */
export function loginPage(o: { csrf: string; next: string; error?: string; retryAfterS?: number }): Html {
  return bare(
    'Log in',
    html`<form method="post" action="/login" class="panel">
  <input type="hidden" name="_csrf" value="${o.csrf}">
  <input type="hidden" name="next" value="${o.next}">
  ${o.error ? html`<p class="notice bad" role="alert">${o.error}</p>` : ''}
  <div class="field"><label for="password">Admin password</label><input type="password" id="password" name="password" autocomplete="current-password" required autofocus></div>
  <button type="submit" class="big primary">Log in</button>
</form>`,
  );
}

export function setupPage(o: { csrf: string; errors?: Record<string, string>; error?: string; needsCode?: boolean; code?: string; resetAt?: string | null }): Html {
  const e = o.errors ?? {};
  return bare(
    'Set the admin password',
    html`${o.resetAt ? html`<p class="notice ok" role="status" id="factory-reset">This box was reset to its factory settings (${o.resetAt.slice(0, 16).replace('T', ' ')} UTC): its settings and admin password are gone; the recordings are kept. Choose a new password to start again, or restore a backup afterwards on the System page.</p>` : ''}<p>This hark has no admin password yet. Choose one now: from then on this page is gone, and the admin page, the API and the controls need it.</p>
<form method="post" action="/setup" class="panel">
  <input type="hidden" name="_csrf" value="${o.csrf}">
  ${o.error ? html`<p class="notice bad" role="alert">${o.error}</p>` : ''}
  ${
    o.needsCode
      ? html`<div class="field${e.code ? ' invalid' : ''}"><label for="code">Setup code</label><input type="text" id="code" name="code" value="${o.code ?? ''}" autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="32" required autofocus>${e.code ? html`<span class="err" role="alert">${e.code}</span>` : ''}<small>The setup code is printed in the file hark-setup.txt on the box's SD card (put the card in any computer), and on a screen or serial console connected to the box. It looks like ABCD-EFGH.</small></div>`
      : ''
  }
  <div class="field${e.password ? ' invalid' : ''}"><label for="password">New password</label><input type="password" id="password" name="password" autocomplete="new-password" minlength="8" required${o.needsCode ? '' : html` autofocus`}>${e.password ? html`<span class="err" role="alert">${e.password}</span>` : ''}<small>At least 8 characters.</small></div>
  <div class="field${e.confirm ? ' invalid' : ''}"><label for="confirm">Again</label><input type="password" id="confirm" name="confirm" autocomplete="new-password" required>${e.confirm ? html`<span class="err" role="alert">${e.confirm}</span>` : ''}</div>
  <button type="submit" class="big primary">Set password</button>
</form>`,
  );
}

export function notFoundPage(message: string): Html {
  return bare('Not here', html`<p>${message}</p><p><a href="/">The admin page</a></p>`);
}
