/**
 * Alerts to people, set on the System page: a volunteer adds a webhook notifier pointing at a
 * real receiver (a Bun.serve on 127.0.0.1, port 0), sees it listed, presses "Send a test" and
 * the receiver gets the JSON (the page says it arrived), changes its minimum severity, removes
 * it; a wrong address is refused beside its field with nothing written. An e-mail notifier
 * whose address holds a password never shows the password (the list, the edit form), and an
 * edit left as it is keeps it. At phone (390x844) and desktop (1366x900) sizes, one real hark
 * and one Chromium; screenshots to docs/screenshots/system-notify-{phone,desktop}.png (the list)
 * and system-notify-form-{phone,desktop}.png (the add form, for an e-mail).
 *
 * Ports: 0 (no fixed port); the SMTP address 127.0.0.1:2525 is never reached (no test is sent to it).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import type { Server } from 'bun';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { injectAxe, launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { setupInPage, useSession } from './lib/session.ts';
import { until } from './lib/wait.ts';

const PASSWORD = 'correct horse battery';
const SHOTS = join(import.meta.dir, '../docs/screenshots');
const SIZES = { phone: { width: 390, height: 844 }, desktop: { width: 1366, height: 900 } } as const;

let hark: HarkProcess;
let chrome: ChromiumHandle;
let receiver: Server<undefined>;
let cookie = '';
/** What the receiver was sent: each POST's path and JSON document. */
const received: { path: string; doc: Record<string, unknown> }[] = [];

const configText = () => readFileSync(hark.configPath, 'utf8');
/** Over the CLI's Unix socket: the owner's way in (no login, no CSRF token). */
const owner = (path: string, init: RequestInit = {}) => fetch(`http://localhost${path}`, { ...init, unix: join(hark.dir, 'hark.sock') } as RequestInit);

async function pageAt(size: keyof typeof SIZES): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await chrome.browser.newContext({ viewport: SIZES[size], isMobile: size === 'phone', hasTouch: size === 'phone' });
  await useSession(ctx, hark.url, cookie);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
  // Remove asks "Remove this alert?" (hx-confirm): the volunteer says yes.
  page.on('dialog', (d) => void d.accept());
  return { ctx, page };
}

beforeAll(async () => {
  receiver = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      received.push({ path: new URL(req.url).pathname, doc: (await req.json()) as Record<string, unknown> });
      return new Response('ok');
    },
  });
  hark = await startHark(`[input]
source = "tone"

[control]
on_boot = "idle"

[silence]
enabled = false

[webrtc]
enabled = false
`);
  chrome = await launchChromium();
  const page = await chrome.newPage();
  cookie = await setupInPage(page, hark.url, PASSWORD, '/');
  await page.close();
  mkdirSync(SHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await chrome?.close();
  await hark?.stop();
  receiver?.stop(true);
});

describe('the System page: add, test, edit and remove who is told', () => {
  for (const size of ['phone', 'desktop'] as const) {
    test(`${size}: a webhook from Add to Remove, a wrong address refused, an e-mail password never shown`, async () => {
      // Each size starts with nobody to tell (whatever an earlier size left behind).
      while ((await owner('/api/notify').then((r) => r.json())).notifiers.length) expect((await owner('/ui/notify/0', { method: 'DELETE' })).status).toBe(200);
      const { ctx, page } = await pageAt(size);
      try {
        await page.goto(`${hark.url}/system`);
        const panel = page.locator('#notify');
        await panel.waitFor();
        expect(await panel.textContent()).not.toContain('settings file');
        expect(await panel.locator('.empty').textContent()).toContain('Add someone to tell');

        // A wrong address: refused beside the field, nothing written.
        const before = configText();
        await page.click('#notify-add');
        const form = page.locator('#notify-form-new');
        await form.waitFor();
        await page.selectOption('#f-notify-new-type', 'webhook');
        // "Send the e-mail to" is for e-mail only: hidden for a web address.
        expect(await form.locator('[data-field=to]').isVisible()).toBe(false);
        // The address's help is for the chosen kind only (short on a phone).
        const urlHelp = form.locator('[data-field=url] small');
        expect(await urlHelp.innerText()).toBe('The one you were given, e.g. https://ntfy.sh/our-stream. A saved password is never shown: leave it out to keep it.');
        await page.selectOption('#f-notify-new-type', 'mqtt');
        expect(await urlHelp.innerText()).toBe('The broker, e.g. mqtt://homeassistant.local:1883. A saved password is never shown: leave it out to keep it.');
        await page.selectOption('#f-notify-new-type', 'webhook');
        await page.fill('#f-notify-new-url', 'not a web address at all');
        await page.click('#save-notify-new');
        const urlError = page.locator('#notify-form-new [data-field=url] .err');
        await urlError.waitFor();
        expect(await urlError.textContent()).toContain('not a web address');
        expect(configText()).toBe(before);

        // The right one: saved, listed with its address.
        const hook = `http://127.0.0.1:${receiver.port}/hark-${size}`;
        await page.fill('#f-notify-new-url', hook);
        await page.click('#save-notify-new');
        await page.locator('#notify .notice.ok').waitFor();
        expect(await page.locator('#notify .notice.ok').textContent()).toContain('Saved');
        const item = panel.locator('[data-notifier="0"]');
        await item.waitFor();
        expect(await item.textContent()).toContain('Webhook to 127.0.0.1');
        expect(configText()).toContain(`url = "${hook}"`);

        // Send a test: the receiver has the JSON, the page says it arrived.
        const had = received.length;
        await page.click('#notify-test-0');
        await page.locator('#notify-result .notice.ok').waitFor({ timeout: 20_000 });
        expect(await page.locator('#notify-result').textContent()).toContain('it arrived');
        await until(() => received.length > had, 5000, 'the test at the receiver');
        const got = received[received.length - 1]!;
        expect(got.path).toBe(`/hark-${size}`);
        expect(got.doc).toMatchObject({ id: 'test' });

        // An e-mail whose address holds a password: never on the page.
        await page.click('#notify-add');
        await form.waitFor();
        await page.selectOption('#f-notify-new-type', 'email');
        expect(await form.locator('[data-field=to]').isVisible()).toBe(true);
        await page.fill('#f-notify-new-url', 'smtp://user:secret@127.0.0.1:2525');
        await page.fill('#f-notify-new-to', 'ops@example.org');
        // The form's top just under the page's header (sticky; two rows of tabs on a phone).
        await page.evaluate(() => {
          const top = document.querySelector('#notify-form-new')!.getBoundingClientRect().top;
          const header = document.querySelector('header')?.getBoundingClientRect().bottom ?? 0;
          window.scrollBy(0, top - header - 8);
        });
        await page.screenshot({ path: join(SHOTS, `system-notify-form-${size}.png`), fullPage: false });
        // axe: nothing serious or critical in the form (labels of the checkboxes, the fieldset, contrast).
        await injectAxe(page);
        const findings = await page.evaluate(async () => {
          const r = await window.axe.run('#notify-form-new', { resultTypes: ['violations'] });
          return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
        });
        expect(findings).toEqual([]);
        await page.click('#save-notify-new');
        await panel.locator('[data-notifier="1"]').waitFor();
        await panel.scrollIntoViewIfNeeded();
        await page.screenshot({ path: join(SHOTS, `system-notify-${size}.png`), fullPage: false });
        // The layout: nothing wider than the screen; Edit and Remove under "Send a test" on a
        // phone (the whole width), in its column on a desktop; every button at least 44 px high.
        expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
        const box = async (sel: string) => (await page.locator(sel).boundingBox())!;
        const [send, edit, title] = [await box('#notify-test-0'), await box('#notify-edit-0'), await box('[data-notifier="0"] b')];
        if (size === 'phone') expect(edit.y).toBeGreaterThanOrEqual(send.y + send.height - 1);
        else expect(edit.x).toBeGreaterThan(title.x + title.width);
        for (const sel of ['#notify-test-0', '#notify-edit-0', '#notify-remove-0', '#notify-add']) expect((await box(sel)).height).toBeGreaterThanOrEqual(44);
        expect(configText()).toContain('smtp://user:secret@127.0.0.1:2525');
        expect(await page.content()).not.toContain('secret');
        expect(await panel.locator('[data-notifier="1"] [data-where]').textContent()).toBe('smtp://user@127.0.0.1:2525');
        // Its edit form shows the address without the password; saved as it is, the password stays.
        await page.click('#notify-edit-1');
        await page.locator('#notify-form-1').waitFor();
        expect(await page.inputValue('#f-notify-1-url')).toBe('smtp://user@127.0.0.1:2525');
        expect(await page.content()).not.toContain('secret');
        await page.click('#save-notify-1');
        await page.locator('#notify .notice.ok').waitFor();
        expect(configText()).toContain('smtp://user:secret@127.0.0.1:2525');
        expect(await page.content()).not.toContain('secret');

        // Edit the webhook: only warnings and worse → only serious ones.
        await page.click('#notify-edit-0');
        await page.locator('#notify-form-0').waitFor();
        expect(await page.inputValue('#f-notify-0-min_severity')).toBe('warning');
        await page.selectOption('#f-notify-0-min_severity', 'critical');
        await page.click('#save-notify-0');
        await page.locator('#notify .notice.ok').waitFor();
        await until(() => /min_severity = "critical"/.test(configText()), 5000, 'min_severity saved');
        expect(await panel.locator('[data-notifier="0"]').textContent()).toContain('Webhook to 127.0.0.1');

        // Remove both: the list is empty again, and so is the file's [[notify]].
        await page.click('#notify-remove-1');
        await until(async () => (await panel.locator('li.notifier').count()) === 1, 5000, 'one left');
        await page.click('#notify-remove-0');
        await panel.locator('.empty').waitFor();
        expect(configText()).not.toContain('[[notify]]');
        expect(chrome.logs.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
      } finally {
        await ctx.close();
      }
    }, 90_000);
  }
});
