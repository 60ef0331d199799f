/**
 * The System page's password and token forms in headless Chromium against a real daemon
 * (issue 14): the current password is required, a wrong one is named beside its field, a
 * change logs the other browser out while this one goes on working, the "revoke every token"
 * box revokes them; a read-only token is made on the page, listed as such, and refused an
 * action with 403 naming the scope it would need.
 *
 * SHOTS_DIR=/tmp/shots-x also writes screenshots of the two forms at phone and desktop sizes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { loginInPage } from './lib/session.ts';

const FIRST = 'the first good password';
const SECOND = 'a second good password';
const SHOTS = process.env.SHOTS_DIR;

let hark: HarkProcess;
let chrome: ChromiumHandle;

beforeAll(async () => {
  hark = await startHark(`[input]\nsource = "tone"\n[webrtc]\nenabled = false\n[admin]\npassword = "${FIRST}"\n`, { timeoutMs: 60_000 });
  await hark.waitFor(/admin password taken from the config file/, 30_000);
  chrome = await launchChromium();
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await chrome?.close();
  expect(await hark?.stop()).toBe(0);
}, 30_000);

async function loggedIn(browser: Browser, password: string, viewport = { width: 1366, height: 900 }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
  await loginInPage(page, hark.url, password, { timeoutMs: 30_000 });
  return { context, page };
}

/** Submit the password form and wait for the daemon's answer to be swapped in. */
async function submitPassword(page: Page, fields: { current: string; password: string; confirm: string; revoke?: boolean }): Promise<number> {
  await page.fill('#pw-current', fields.current);
  await page.fill('#pw-password', fields.password);
  await page.fill('#pw-confirm', fields.confirm);
  if (fields.revoke) await page.check('#pw-revoke');
  const [res] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/ui/password' && r.request().method() === 'POST', { timeout: 30_000 }),
    page.click('#password-form button[type=submit]'),
  ]);
  // The answer replaces the form: wait for the swap to settle (the old form's fields are gone).
  await page.waitForFunction(() => !document.querySelector('#password-form.htmx-request, #password-form .htmx-settling'), null, { timeout: 10_000 });
  return res.status();
}

async function shoot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  for (const [size, vp] of [['phone', { width: 390, height: 844 }], ['desktop', { width: 1366, height: 900 }]] as const) {
    await page.setViewportSize(vp);
    await page.locator(name === 'password' ? '#password-form' : '#tokens').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/system-${name}-${size}.png` });
  }
  await page.setViewportSize({ width: 1366, height: 900 });
}

describe('the password form', () => {
  test('needs the current password; a wrong one is named beside its field; a change logs the other browser out, not this one', async () => {
    const a = await loggedIn(chrome.browser, FIRST);
    const b = await loggedIn(chrome.browser, FIRST);
    await a.page.goto(`${hark.url}/system`);

    expect(await submitPassword(a.page, { current: '', password: SECOND, confirm: SECOND })).toBe(422);
    expect(await a.page.locator('#pw-current-err').textContent()).toBe('required: type the password you log in with now');

    expect(await submitPassword(a.page, { current: 'not the password at all', password: SECOND, confirm: SECOND })).toBe(422);
    const err = a.page.locator('#password-form .field.invalid:has(#pw-current) .err');
    expect(await err.textContent()).toBe('this is not the current password');
    expect(await a.page.locator('#pw-current').getAttribute('aria-invalid')).toBe('true');
    await shoot(a.page, 'password');

    expect(await submitPassword(a.page, { current: FIRST, password: SECOND, confirm: SECOND })).toBe(200);
    expect(await a.page.locator('#password-form [role=status]').textContent()).toContain('Password changed. Every other browser is logged out.');

    // The other browser is sent to the login page at its next step.
    await b.page.goto(`${hark.url}/system`);
    expect(new URL(b.page.url()).pathname).toBe('/login');
    // This one goes on working without a reload: an action with the page's own CSRF token.
    const [go] = await Promise.all([
      a.page.waitForResponse((r) => new URL(r.url()).pathname === '/ui/tokens' && r.request().method() === 'POST', { timeout: 30_000 }),
      (async () => {
        await a.page.fill('#token-name', 'after the change');
        await a.page.click('#tokens button[type=submit]');
      })(),
    ]);
    expect(go.status()).toBe(200);
    await a.page.reload();
    expect(new URL(a.page.url()).pathname).toBe('/system');
    // The old password no longer logs in; the new one does.
    await b.page.fill('#password', FIRST);
    await Promise.all([b.page.waitForResponse((r) => new URL(r.url()).pathname === '/login' && r.request().method() === 'POST'), b.page.click('button[type=submit]')]);
    expect(await b.page.locator('.notice.bad').textContent()).toBe('Wrong password.');
    await b.page.fill('#password', SECOND);
    // (back to the page it was sent away from)
    await Promise.all([b.page.waitForURL(`${hark.url}/system`, { timeout: 30_000 }), b.page.click('button[type=submit]')]);

    // "Also revoke every API token": the token made above stops working.
    const token = (await a.page.locator('#tokens li').count()) > 0;
    expect(token).toBe(true);
    expect(await submitPassword(a.page, { current: SECOND, password: FIRST, confirm: FIRST, revoke: true })).toBe(200);
    expect(await a.page.locator('#password-form [role=status]').textContent()).toContain('1 API token was revoked');
    await a.page.reload();
    expect(await a.page.locator('#tokens li').count()).toBe(0);
    await a.context.close();
    await b.context.close();
  }, 180_000);
});

describe('API tokens on the page', () => {
  test('a read-only token: made on the page, listed as "Read only", reads the status and is refused an action (403 naming the scope)', async () => {
    const { context, page } = await loggedIn(chrome.browser, FIRST);
    await page.goto(`${hark.url}/system`);
    // Read only is what the form offers first.
    expect(await page.locator('#token-scope-read').isChecked()).toBe(true);
    await page.fill('#token-name', 'wall display');
    await page.check('#token-scope-read');
    await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/ui/tokens' && r.request().method() === 'POST', { timeout: 30_000 }),
      page.click('#tokens button[type=submit]'),
    ]);
    const secret = (await page.locator('#tokens code.token').textContent({ timeout: 10_000 }))!;
    expect(secret).toStartWith('hark_');
    const item = page.locator('#tokens li', { hasText: 'wall display' });
    expect(await item.locator('[data-scope]').textContent()).toBe('Read only');
    await shoot(page, 'tokens');

    const auth = { authorization: `Bearer ${secret}` };
    const state = await fetch(`${hark.url}/api/state`, { headers: auth });
    expect(state.status).toBe(200);
    expect((await state.json()).muted).toBe(false);
    const mute = await fetch(`${hark.url}/api/mute`, { method: 'POST', headers: auth });
    expect(mute.status).toBe(403);
    expect((await mute.json()).error).toBe('this API token has the "read" scope; POST /api/mute needs the "control" scope (create a token with that scope)');
    expect((await (await fetch(`${hark.url}/api/state`, { headers: auth })).json()).muted).toBe(false);
    const config = await fetch(`${hark.url}/api/config`, { headers: auth });
    expect(config.status).toBe(403);
    expect((await config.json()).scope_needed).toBe('admin');
    await context.close();
  }, 120_000);
});
