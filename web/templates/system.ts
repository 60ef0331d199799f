/**
 * The System page: this box, restart and power, the time zone, the log, the admin password, API
 * tokens, backup and restore, access, the web server settings and the diagnostic report. The routes are in src/http/admin/system-page.ts.
 */
import { html, type Html } from './html.ts';
import * as C from './components.ts';
import { SCOPES, type Scope } from '../../src/control/auth.ts';
import type { TlsStatus } from '../../src/tls/service.ts';

export type PowerAction = 'reboot' | 'poweroff';

/** What each power button says before it acts (the confirm dialog) and after. */
export const POWER: Record<PowerAction, { label: string; confirm: string; done: string }> = {
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

export interface SystemPage {
  slots: { sysinfo: Html; log: Html };
  power: Html;
  timezone: Html;
  password: Html;
  /** HTTPS: the certificate, the CA to download, an upload of one's own. */
  tls: Html;
  tokens: Html;
  backup: Html;
  /** Software updates: the version, the last update's outcome, the upload. */
  update: Html;
  /** The settings forms (access, start-up, log, web server). */
  forms: Html[];
  configPath: string;
  /** Alerts to people: the notifiers and their "Send a test" buttons. */
  notify?: Html;
}

export function systemPage(v: SystemPage): Html {
  return html`<div class="grid">
<section class="panel"><h2>This box</h2>${v.slots.sysinfo}</section>
${v.power}
${v.timezone}
${v.notify ?? ''}
<section class="panel wide"><h2>Log</h2>${v.slots.log}</section>
${v.password}
${v.tls}
${v.tokens}
${v.update}
${v.backup}
${v.forms}
<section id="diag" class="panel"><h2>Getting help</h2><p>Something wrong? Download a report and send it to whoever helps you: it says what this box is, what hark is doing and the last 2,000 lines of its log, with the settings. Every password, token and key is taken out.</p><p><a class="button-link" href="/api/diag" download id="diag-download">Download a diagnostic report</a></p><p class="help">Over SSH: <code>hark diag</code>.</p></section>
<section class="panel"><h2>Configuration file</h2><p><code>${v.configPath}</code></p><p><a href="/api/config/text" download="hark.toml">Download</a> · <a href="/api/openapi.json">API (OpenAPI)</a> · <a href="/metrics">Metrics</a></p></section>
</div>`;
}

/** Restart hark and, where hark may, reboot or shut down the box. */
export function powerPanel(v: { canRestart: boolean; capable: boolean }): Html {
  return html`<section id="power" class="panel"><h2>Restart and power</h2>
  <div class="power-buttons">
  ${v.canRestart ? html`<button type="button" id="restart-hark" class="danger" hx-post="/ui/restart" hx-target="#power-result" hx-confirm="Restart hark now? Listeners reconnect by themselves within a few seconds.">Restart hark</button>` : ''}
  ${v.capable
    ? (['reboot', 'poweroff'] as const).map((a) => html`<button type="button" id="power-${a}" class="danger" hx-post="/ui/power/${a}" hx-target="#power-result" hx-confirm="${POWER[a].confirm}">${POWER[a].label}</button>`)
    : ''}
  </div>
  <div id="power-result" aria-live="polite"></div>
  ${v.capable ? html`<p class="help">Shut down the box here before you unplug it: pulling the power can damage the memory card.</p>` : ''}
</section>`;
}

/** The zone times are shown in; where hark may set it (the image), a picker. */
export function timezonePanel(v: { zone: string; nowText: string; zones: string[] | null; message?: Html | string }): Html {
  const now = html`<p>Times on these pages are in <b>${v.zone}</b> (now ${v.nowText}).</p>`;
  if (v.zones === null) {
    return html`<section id="timezone" class="panel"><h2>Time zone</h2>${v.message ?? ''}${now}<p class="help">Set by the computer hark runs on.</p></section>`;
  }
  return html`<form id="timezone" class="panel" hx-post="/ui/timezone" hx-target="this" hx-swap="outerHTML"><h2>Time zone</h2>${v.message ?? ''}
  ${now}
  <div class="field"><label for="tz-zone">Time zone of this box</label><select id="tz-zone" name="zone">${v.zones.map((z) => html`<option value="${z}" ${z === v.zone ? html`selected` : ''}>${z.replaceAll('_', ' ')}</option>`)}</select></div>
  <button type="submit">Set time zone</button>
</form>`;
}

export interface UpdatePanel {
  version: string;
  runningFrom: 'image' | 'update';
  /** The version the box goes back to if this one fails (the image's own, or the update before). */
  previous: string;
  available: boolean;
  unavailableReason?: string;
  trial?: string;
  last?: { at: string; outcome: string; message: string };
  /** The last outcome's time as the page shows times. */
  lastWhen?: Html;
  /** Debian's own updates waiting, when the box has checked (the image's daily timer). */
  debian?: { pending: number | null; security: number | null; error: string | null; when: Html };
}

/**
 * Software updates. A release file (hark-<version>-arm64.hark) is sent by admin.js as the body
 * of POST /api/update (with the CSRF header), with progress; the answer shows in #update-result.
 */
export function updatePanel(v: UpdatePanel): Html {
  const rolledBack = v.last?.outcome === 'rolled-back' || v.last?.outcome === 'interrupted';
  return html`<section id="update" class="panel"><h2>Software update</h2>
  <p>This box runs <b>hark ${v.version}</b>${v.runningFrom === 'update' ? html`, installed as an update (if it failed, the box would go back to ${v.previous})` : ', the version its memory card was made with'}.</p>
  ${v.trial ? html`<p class="notice warn" role="status">hark ${v.trial} was just installed and is on trial: it is kept once it serves audio, or the box goes back to ${v.previous} by itself within 90 seconds.</p>` : ''}
  ${
    v.last
      ? html`<p class="notice ${rolledBack ? 'bad' : 'ok'}" role="${rolledBack ? 'alert' : 'status'}" id="update-last">${rolledBack ? html`<b>The last update did not work.</b> ` : ''}${v.last.message}${v.lastWhen ? html` <small>(${v.lastWhen})</small>` : ''}</p>`
      : ''
  }
  ${
    v.available
      ? html`<form id="update-form" data-raw-upload="/api/update">
    <div class="field"><label for="up-file">Release file</label><input type="file" id="up-file" name="file" accept=".hark" aria-describedby="up-file-help"><small id="up-file-help">A file named hark-&lt;version&gt;-arm64.hark, from whoever looks after your boxes. It is checked (signature, version, whether it is whole) before anything changes.</small></div>
    <div class="field check"><input type="checkbox" id="up-downgrade" name="allow_downgrade" value="1"><label for="up-downgrade">Allow an older version</label></div>
    <button type="submit" id="update-install">Install update</button>
  </form>
  <div id="update-result" aria-live="polite"></div>
  <p class="help">Installing restarts hark (listeners reconnect by themselves). If the new version does not start and serve audio within 90 seconds, the box goes back to ${v.version} by itself. Over SSH: <code>hark update FILE</code>.</p>`
      : html`<p class="help">Updates cannot be installed here: ${v.unavailableReason ?? 'not available'}.</p>`
  }
  ${v.debian ? debianLine(v.debian) : ''}
</section>`;
}

function debianLine(d: NonNullable<UpdatePanel['debian']>): Html {
  const how = html`Install them over SSH: <code>sudo hark system upgrade</code>, then restart the box.`;
  if (d.error) return html`<p class="help" id="debian-updates"><b>Debian's own updates:</b> the last check did not work (${d.error}) <small>(${d.when})</small>.</p>`;
  if (!d.pending) return html`<p class="help" id="debian-updates"><b>Debian's own updates:</b> none waiting <small>(checked ${d.when})</small>.</p>`;
  return html`<p class="notice warn" id="debian-updates"><b>Debian's own updates:</b> ${d.pending} waiting${d.security ? html`, ${d.security} of them security fixes` : ''} <small>(checked ${d.when})</small>. ${how}</p>`;
}

export interface BackupPanel {
  hasPassword?: boolean;
  /** A backup just made, waiting for its download. */
  made?: { href: string; filename: string; locked: boolean };
  /** What a restore did (hark restarts). */
  restored?: string;
  /** By field: passphrase, confirm (making one); file, restore_passphrase (restoring). */
  errors?: Record<string, string>;
}

/**
 * Backup and restore. A backup just made is downloaded at once (admin.js follows the link
 * marked data-autodownload) and offered as a link too.
 */
export function backupPanel(v: BackupPanel): Html {
  const errors = v.errors ?? {};
  const f = (name: string, label: string, input: Html, help = '') =>
    html`<div class="field${errors[name] ? ' invalid' : ''}"><label for="bk-${name}">${label}</label>${input}${help ? html`<small id="bk-${name}-help">${help}</small>` : ''}${errors[name] ? html`<span class="err" id="bk-${name}-err" role="alert">${errors[name]}</span>` : ''}</div>`;
  const pw = (name: string, auto: string, help = '') =>
    html`<input type="password" id="bk-${name}" name="${name}" autocomplete="${auto}" maxlength="256" ${errors[name] ? html`aria-invalid="true" aria-describedby="bk-${name}-err"` : help ? html`aria-describedby="bk-${name}-help"` : ''}>`;
  return html`<section id="backup" class="panel" hx-target="this" hx-swap="outerHTML">
  <h2>Backup and restore</h2>
  <p>A backup is one small file with this box's settings, the admin password, the API tokens and its certificate authority (not the recordings). Keep it on your computer: after a new SD card or a factory reset, restore it here and the box is as it was.</p>
  ${v.restored ? C.saveNotice({ ok: true, message: v.restored }) : ''}
  ${
    v.made
      ? html`<p class="notice ok" role="status">Backup made${v.made.locked ? ', locked with your passphrase' : ''}. If the download does not start: <a href="${v.made.href}" download="${v.made.filename}" data-autodownload id="backup-download">${v.made.filename}</a></p>`
      : ''
  }
  <form id="backup-form" hx-post="/ui/backup">
    <h3>Make a backup</h3>
    ${f('passphrase', 'Passphrase', pw('passphrase', 'new-password', 'yes'), v.hasPassword ? 'Needed: the backup holds the admin password. At least 8 characters; you need it to restore, so write it down.' : 'Locks the backup (needed when it holds passwords). At least 8 characters; you need it to restore.')}
    ${f('confirm', 'Passphrase again', pw('confirm', 'new-password'))}
    <button type="submit">Make a backup</button>
  </form>
  <form id="restore-form" hx-post="/ui/restore" hx-encoding="multipart/form-data" hx-confirm="Restore this backup? This box's settings, admin password and API tokens are replaced by the backup's, and hark restarts (listeners reconnect).">
    <h3>Restore a backup</h3>
    ${f('file', 'Backup file', html`<input type="file" id="bk-file" name="file" accept=".json,application/json" ${errors.file ? html`aria-invalid="true" aria-describedby="bk-file-err"` : ''}>`)}
    ${f('restore_passphrase', 'Its passphrase (if it has one)', html`<input type="password" id="bk-restore_passphrase" name="passphrase" autocomplete="off" maxlength="256" ${errors.restore_passphrase ? html`aria-invalid="true" aria-describedby="bk-restore_passphrase-err"` : ''}>`)}
    <button type="submit">Restore</button>
  </form>
  <p class="help">Over SSH: <code>hark backup</code> and <code>hark restore FILE</code>.</p>
</section>`;
}

/** A backup download asked for too late. */
export function backupGone(): Html {
  return html`<p>This backup is older than 5 minutes (or hark restarted since). Make a new one on the <a href="/system#backup">System page</a>.</p>`;
}

/** The password form: the current password is always asked for (over SSH: `hark passwd`). */
export function passwordForm(errors: Record<string, string> = {}, message = '', revoke = false): Html {
  const f = (name: string, label: string, auto: string) =>
    html`<div class="field${errors[name] ? ' invalid' : ''}"><label for="pw-${name}">${label}</label><input type="password" id="pw-${name}" name="${name}" autocomplete="${auto}" ${errors[name] ? html`aria-invalid="true" aria-describedby="pw-${name}-err"` : ''}>${errors[name] ? html`<span class="err" id="pw-${name}-err" role="alert">${errors[name]}</span>` : ''}</div>`;
  return html`<form id="password-form" class="panel" hx-post="/ui/password" hx-target="this" hx-swap="outerHTML">
  <h2>Admin password</h2>
  ${message ? C.saveNotice({ ok: true, message }) : ''}
  ${f('current', 'Current password', 'current-password')}${f('password', 'New password', 'new-password')}${f('confirm', 'New password again', 'new-password')}
  <div class="field check"><input type="checkbox" id="pw-revoke" name="revoke_tokens" value="yes" ${revoke ? html`checked` : ''}><label for="pw-revoke">Also revoke every API token</label><small>Scripts and other programs that use them stop working until they get a new one. Every other browser is logged out in any case.</small></div>
  <button type="submit">Change password</button>
</form>`;
}

const SCOPE_LABEL: Record<Scope, string> = { read: 'Read only', control: 'Control', admin: 'Full' };
const SCOPE_WORDS: Record<Scope, string> = {
  read: 'sees whether it is on air, the levels and the listener count',
  control: 'also goes on and off air, records, mutes and sets the title',
  admin: 'also changes every setting and the tokens (never the admin password)',
};

export interface TokenRow {
  id: string;
  name: string;
  scope: Scope;
  created: string;
}

/** The API tokens: the list with each one's scope, and the form that makes one (shown once). */
export function tokensPanel(v: { tokens: TokenRow[]; errors?: Record<string, string>; created?: string; scope?: Scope }): Html {
  const errors = v.errors ?? {};
  const scope = v.scope ?? 'read';
  return html`<section id="tokens" class="panel" hx-target="this" hx-swap="outerHTML">
  <h2>API tokens</h2>
  <p class="help">For scripts: <code>Authorization: Bearer …</code> on <code>/api/*</code>.</p>
  ${v.created ? html`<p class="notice ok" role="status">New token (shown once): <code class="token">${v.created}</code></p>` : ''}
  <ul class="tokens">${v.tokens.map(
    (t) =>
      html`<li data-token="${t.id}"><b>${t.name}</b> <span class="pill" data-scope="${t.scope}" title="${SCOPE_WORDS[t.scope]}">${SCOPE_LABEL[t.scope]}</span> <small>${t.id}, ${t.created.slice(0, 10)}</small> <button type="button" class="link danger" hx-delete="/ui/tokens/${t.id}" hx-confirm="Revoke ${t.name}?">Revoke</button></li>`,
  )}</ul>
  <form hx-post="/ui/tokens">
    <div class="field${errors.name ? ' invalid' : ''}"><label for="token-name">Name</label><input id="token-name" name="name" maxlength="64">${errors.name ? html`<span class="err" role="alert">${errors.name}</span>` : ''}</div>
    <fieldset class="choices"><legend>What a script with this token may do</legend>
    ${SCOPES.map(
      (s) =>
        html`<div class="field check"><input type="radio" id="token-scope-${s}" name="scope" value="${s}" ${s === scope ? html`checked` : ''}><label for="token-scope-${s}">${SCOPE_LABEL[s]}</label><small>${SCOPE_WORDS[s]}</small></div>`,
    )}${errors.scope ? html`<span class="err" role="alert">${errors.scope}</span>` : ''}</fieldset>
    <button type="submit">Create token</button>
  </form>
</section>`;
}

/** Before the web server settings move the page: where it will be, and a second button to confirm. */
export function httpMoveWarning(v: { where: string; host: string; loopback: boolean; currentPort: number }): Html {
  return html`<div class="notice warn" role="alert" id="http-move-warning"><p><b>This moves the admin page.</b> After saving and restarting hark you will reach this page at <b>${v.where}</b>${
    v.loopback ? html`, and only from the box itself (address ${v.host}): other computers cannot reach it` : ''
  }. If that port is blocked by a firewall or used by another program, you may lock yourself out (then fix it over SSH with <code>hark config set http.port ${String(v.currentPort)}</code>).</p>
  <button type="submit" name="confirm" value="yes" class="danger">Save and move the page</button> <button type="button" class="link" hx-get="/ui/config/http/form" hx-target="#form-http" hx-swap="outerHTML">Cancel</button></div>`;
}

/**
 * "Secure connection (HTTPS)": whether the admin pages are on HTTPS and with which certificate,
 * the box's certificate authority to download (and how to trust it on a phone or computer), and
 * a form to use a certificate of one's own (routes: src/http/admin/tls-panel.ts).
 */
export function tlsPanel(v: {
  status: TlsStatus;
  /** A certificate of the user's own is configured (tls.cert_file). */
  ownFileSet: boolean;
  message?: Html | string;
  errors?: Partial<Record<'cert' | 'key' | 'tls', string>>;
  /** A date as people read it ("3 December 2027"). */
  day: (iso: string) => string;
}): Html {
  const day = v.day;
  const s = v.status;
  const errors = v.errors ?? {};
  const state =
    s.state === 'on'
      ? html`<p class="notice ok" role="status">The admin pages are private: they are served over HTTPS (port ${String(s.port)}); plain http:// addresses of admin pages lead there. The listen page works over both.</p>`
      : s.state === 'failed'
        ? html`<p class="notice bad" role="alert">HTTPS could not start, so the admin pages are on plain HTTP: ${s.error || 'see the log'}.</p>`
        : s.state === 'pending'
          ? html`<p class="notice warn">HTTPS turns on at the next restart of hark.</p>`
          : html`<div class="notice warn"><p>HTTPS is off: the admin password crosses the network unprotected.</p><button type="button" id="tls-enable" hx-post="/ui/tls/enable" hx-target="#tls" hx-swap="outerHTML">Turn on HTTPS</button></div>`;
  const cert = s.cert
    ? html`<p>${s.source === 'own' ? 'Your own certificate' : "This box's own certificate"}, for <b>${s.cert.names.join(', ') || s.cert.subject}</b>, issued by ${s.cert.issuer}, valid until ${day(s.cert.validTo)}.</p>`
    : '';
  const ownBad = s.own_error ? html`<p class="notice bad" role="alert">Your own certificate is not used (this box's own is): ${s.own_error}</p>` : '';
  const err = (k: 'cert' | 'key') => (errors[k] ? html`<span class="err" role="alert" id="tls-${k}-error">${errors[k]}</span>` : '');
  return html`<section id="tls" class="panel"><h2>Secure connection (HTTPS)</h2>
  ${v.message ?? ''}${state}${cert}${ownBad}
  ${
    s.ca
      ? html`<p><a class="button-link" href="/ca.crt" download="hark-ca.crt" id="tls-ca-download">Download this box's certificate authority</a></p>
  <details class="advanced" id="tls-trust-help"><summary>How to trust this box on your phone or computer</summary>
  <p>Do this once on each phone or computer you use for these admin pages. Afterwards the browser opens them without a warning, also when the box gets a new address, and for every box that uses the same certificate authority.</p>
  <ul>
    <li><b>iPhone, iPad:</b> open <code>http://&lt;this box&gt;/ca.crt</code> in Safari and allow the download. Settings → General → VPN &amp; Device Management → install "hark CA". Then Settings → General → About → Certificate Trust Settings → turn "hark CA" on.</li>
    <li><b>Android:</b> download the file. Settings → Security → More security settings → Encryption &amp; credentials → Install a certificate → CA certificate → choose hark-ca.crt.</li>
    <li><b>Windows:</b> open the downloaded file → Install Certificate → Current User → "Place all certificates in the following store" → Trusted Root Certification Authorities → Finish.</li>
    <li><b>Mac:</b> open the downloaded file (it goes into Keychain Access) → double-click "hark CA" → Trust → "When using this certificate": Always Trust.</li>
    <li><b>Firefox (any computer):</b> Settings → Privacy &amp; Security → Certificates → View Certificates → Authorities → Import → tick "Trust this CA to identify websites".</li>
  </ul>
  <p class="help">Only install it if you trust whoever runs this box: a certificate authority can vouch for any web site.</p>
  </details>`
      : ''
  }
  <form id="tls-own-form" hx-post="/ui/tls/own" hx-encoding="multipart/form-data" hx-target="#tls" hx-swap="outerHTML">
    <h3>Use a certificate of your own</h3>
    <p class="help">For a box with a real domain name: the certificate (with its chain) and its private key, as PEM files. An ACME client (such as certbot) can keep them up to date instead: the README's HTTPS section says how.</p>
    <div class="field${errors.cert ? ' invalid' : ''}"><label for="tls-cert">Certificate file</label><input type="file" id="tls-cert" name="cert" accept=".crt,.pem,.cer">${err('cert')}</div>
    <div class="field${errors.key ? ' invalid' : ''}"><label for="tls-key">Private key file</label><input type="file" id="tls-key" name="key" accept=".key,.pem">${err('key')}</div>
    <button type="submit">Use this certificate</button>
  </form>
  ${
    v.ownFileSet
      ? html`<button type="button" id="tls-use-box" class="link" hx-post="/ui/tls/box" hx-target="#tls" hx-swap="outerHTML" hx-confirm="Go back to this box's own certificate?">Use this box's own certificate again</button>`
      : ''
  }
</section>`;
}
