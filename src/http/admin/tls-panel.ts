/**
 * The System page's "Secure connection (HTTPS)" panel: whether the admin pages are on HTTPS and
 * with which certificate, the box's certificate authority to download (and how to trust it on
 * a phone or computer), and a form to use a certificate of one's own.
 */
import { Elysia } from 'elysia';
import { html, htmlResponse, type Html } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { TlsError } from '../../tls/certs.ts';
import type { AppContext } from '../context.ts';
import { logger } from '../../log.ts';

const log = logger('http admin');

const day = (iso: string) => new Date(iso).toLocaleDateString('en-GB', { day: 'numeric', month: 'long', year: 'numeric' });

/** A form field's uploaded file as text; '' when none. Files over `max` bytes are refused. */
async function fileText(v: unknown, field: 'cert' | 'key', max = 64 * 1024): Promise<string> {
  const f = Array.isArray(v) ? v[v.length - 1] : v;
  if (typeof f === 'string') return f;
  if (!(f instanceof Blob)) return '';
  if (f.size > max) throw new TlsError(field, `the file is too large (over ${max / 1024} KiB): choose the certificate or key itself`);
  return await f.text();
}

export function tlsPanel(ctx: AppContext, o: { message?: Html | string; errors?: Partial<Record<'cert' | 'key' | 'tls', string>> } = {}): Html {
  const s = ctx.tls.status();
  const errors = o.errors ?? {};
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
  ${o.message ?? ''}${state}${cert}${ownBad}
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
    ctx.config.tls.cert_file
      ? html`<button type="button" id="tls-use-box" class="link" hx-post="/ui/tls/box" hx-target="#tls" hx-swap="outerHTML" hx-confirm="Go back to this box's own certificate?">Use this box's own certificate again</button>`
      : ''
  }
</section>`;
}

export const tlsAdminRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'admin-tls' })
    .post('/ui/tls/own', async ({ body }) => {
      const b = (body ?? {}) as Record<string, unknown>;
      try {
        const cert = await fileText(b.cert, 'cert');
        const key = await fileText(b.key, 'key');
        const { cert_file, key_file, info } = ctx.tls.saveOwn(cert, key);
        await ctx.store.set({ 'tls.cert_file': cert_file, 'tls.key_file': key_file });
        await ctx.tls.refresh();
        log.info(`a certificate of the user's own is in use for ${info.names.join(', ') || info.subject}`);
        return htmlResponse(tlsPanel(ctx, { message: C.saveNotice({ ok: true, message: `Certificate saved: ${info.subject}, valid until ${day(info.validTo)}.` }) }));
      } catch (e) {
        if (!(e instanceof TlsError)) throw e;
        const field = e.field === 'tls' ? 'cert' : e.field;
        return htmlResponse(
          tlsPanel(ctx, {
            message: C.saveNotice({ ok: false, message: `Not used: ${e.message}.` }),
            errors: { [field]: e.message },
          }),
          422,
        );
      }
    })
    .post('/ui/tls/enable', async () => {
      const r = await ctx.store.set({ 'tls.enabled': true });
      return htmlResponse(tlsPanel(ctx, { message: C.saveNotice({ ok: true, message: 'Saved.', restart: r.restart_required }) }));
    })
    .post('/ui/tls/box', async () => {
      await ctx.store.set({ 'tls.cert_file': '', 'tls.key_file': '' });
      await ctx.tls.refresh();
      return htmlResponse(tlsPanel(ctx, { message: C.saveNotice({ ok: true, message: "This box's own certificate is used again." }) }));
    });
