/**
 * Logging in to hark the way a person does, for every test: the first-run page (/setup), the
 * login form (/login, its CSRF cookie and field), the session cookie, and the CSRF token the
 * pages hand to htmx. Plain `fetch` by default; `via` sends the requests elsewhere (an
 * in-process daemon's `app.handle`). The Playwright variants fill the same forms in a page.
 */
import type { BrowserContext, Page } from 'playwright-core';

/** Where requests go: `fetch`, or an in-process app's `handle`. */
export type Via = (req: Request) => Promise<Response>;

export const FORM = 'application/x-www-form-urlencoded';
/** The session cookie over plain HTTP (over HTTPS it is `__Host-hark_session`). */
export const SESSION_COOKIE = 'hark_session';

const viaFetch: Via = (req) => fetch(req);

/** The cookies a response sets, by name (values URI-decoded). */
export function cookiesOf(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of res.headers.getSetCookie()) {
    const [kv] = c.split(';');
    const i = kv!.indexOf('=');
    out[kv!.slice(0, i)] = decodeURIComponent(kv!.slice(i + 1));
  }
  return out;
}

/** A form's CSRF field (`<input name="_csrf" value="…">`). */
export function formToken(html: string): string {
  return /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
}

/** The CSRF token a logged-in page gives htmx (`hx-headers='{"X-CSRF-Token": …}'`). */
export function pageCsrf(html: string): string {
  return JSON.parse(/hx-headers="([^"]+)"/.exec(html)![1]!.replaceAll('&quot;', '"').replaceAll('&#34;', '"'))['X-CSRF-Token'];
}

/** GET /login: its CSRF cookie (`hark_csrf=…`, over HTTPS `__Host-hark_csrf=…`) and the form's field. */
export async function loginForm(base: string, via: Via = viaFetch): Promise<{ cookie: string; field: string }> {
  const page = await via(new Request(`${base}/login`));
  const c = cookiesOf(page);
  const name = c.hark_csrf !== undefined ? 'hark_csrf' : '__Host-hark_csrf';
  return { cookie: `${name}=${c[name]!}`, field: formToken(await page.text()) };
}

/** Log in through the form, as a browser does: the POST /login answer (303 on success), not followed. */
export async function postLogin(base: string, password: string, opts: { next?: string; via?: Via; origin?: string } = {}): Promise<Response> {
  const via = opts.via ?? viaFetch;
  const { cookie, field } = await loginForm(base, via);
  return via(
    new Request(`${base}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': FORM, cookie, ...(opts.origin ? { origin: opts.origin } : {}) },
      body: new URLSearchParams({ _csrf: field, password, next: opts.next ?? '/' }).toString(),
    }),
  );
}

/** Log in; the session's cookie header (`hark_session=…`). Throws unless the login is accepted. */
export async function login(base: string, password: string, opts: { next?: string; via?: Via; origin?: string } = {}): Promise<string> {
  const res = await postLogin(base, password, opts);
  const c = cookiesOf(res);
  // Over HTTPS the cookie is __Host-hark_session (Secure).
  const name = c[SESSION_COOKIE] !== undefined ? SESSION_COOKIE : `__Host-${SESSION_COOKIE}`;
  const id = c[name];
  if (res.status !== 303 || !id) throw new Error(`login refused: ${res.status} ${await res.text()}`);
  return `${name}=${id}`;
}

/** A logged-in session: its cookie header and the CSRF token the dashboard gives htmx. */
export async function session(base: string, password: string, opts: { via?: Via } = {}): Promise<{ cookie: string; csrf: string }> {
  const via = opts.via ?? viaFetch;
  const cookie = await login(base, password, { via });
  const page = await (await via(new Request(`${base}/`, { headers: { cookie } }))).text();
  return { cookie, csrf: pageCsrf(page) };
}

/** The first-run page as a person on another computer uses it (see claimWithSetupCode). */
export interface ClaimResult {
  /** The GET /setup status (404 once a password is set). */
  getStatus: number;
  /** Whether the page asked for the setup code. */
  askedForCode: boolean;
  /** The POST /setup status (303 to / when the box is claimed). */
  postStatus: number;
  location: string | null;
  body: string;
}

const TLS = { tls: { rejectUnauthorized: false } } as RequestInit;

/**
 * Set the first password on /setup: GET it (its form token and cookie), then POST the new
 * password (and the setup code, which a visit from anywhere but the box itself needs). Also
 * over HTTPS with the box's own certificate (the image's boot test, over QEMU's forwarded port).
 */
export async function claimWithSetupCode(base: string, code: string, password: string, timeoutMs = 60_000): Promise<ClaimResult> {
  const get = await fetch(`${base}/setup`, { ...TLS, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  const page = await get.text();
  if (get.status !== 200) return { getStatus: get.status, askedForCode: false, postStatus: 0, location: null, body: page };
  const csrf = page.match(/name="_csrf" value="([^"]+)"/)?.[1] ?? '';
  const cookies = get.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .filter((c) => /csrf/i.test(c));
  const post = await fetch(`${base}/setup`, {
    ...TLS,
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': FORM, cookie: cookies.join('; '), origin: base },
    body: new URLSearchParams({ _csrf: csrf, code, password, confirm: password }).toString(),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { getStatus: 200, askedForCode: /name="code"/.test(page), postStatus: post.status, location: post.headers.get('location'), body: await post.text() };
}

/** Set the first password from the box itself (no setup code): the session cookie header it starts. */
export async function setupPassword(base: string, password: string): Promise<string> {
  const r = await claimWithSetupCode(base, '', password);
  if (r.postStatus !== 303) throw new Error(`setup refused: GET ${r.getStatus}, POST ${r.postStatus} ${r.body}`);
  return login(base, password);
}

// ---- Playwright

/**
 * Log in on the login page in a browser page: open /login (with `next`), type the password,
 * press the button and wait until the page has gone to `next` (default: the dashboard).
 */
export async function loginInPage(page: Page, base: string, password: string, opts: { next?: string; timeoutMs?: number } = {}): Promise<void> {
  await page.goto(opts.next === undefined ? `${base}/login` : `${base}/login?next=${encodeURIComponent(opts.next)}`);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(`${base}${opts.next ?? '/'}`, opts.timeoutMs === undefined ? {} : { timeout: opts.timeoutMs }), page.click('button[type=submit]')]);
}

/** The session cookie's value a browser context holds (after a login or /setup in it). */
export async function sessionOf(context: BrowserContext, name = SESSION_COOKIE): Promise<string> {
  const c = (await context.cookies()).find((c) => c.name === name);
  if (!c) throw new Error(`no ${name} cookie in the browser context`);
  return c.value;
}

/** Put a session (its cookie's value, from login() or sessionOf()) into a browser context. */
export async function useSession(context: BrowserContext, base: string, value: string): Promise<void> {
  await context.addCookies([{ name: SESSION_COOKIE, value: value.replace(`${SESSION_COOKIE}=`, ''), url: base }]);
}

/** On the first-run page (already open): type the new password twice, press the button, wait for the dashboard. */
export async function submitSetup(page: Page, base: string, password: string): Promise<void> {
  await page.fill('#password', password);
  await page.fill('#confirm', password);
  await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
}

/** Set the first password in a browser page (from the box itself: no setup code); returns the session cookie's value. */
export async function setupInPage(page: Page, base: string, password: string, from = '/setup'): Promise<string> {
  await page.goto(`${base}${from}`);
  await submitSetup(page, base, password);
  return sessionOf(page.context());
}
