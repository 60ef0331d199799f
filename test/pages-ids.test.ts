/**
 * Every page hark serves, rendered in Chromium (after its scripts and its first live update),
 * has unique element ids and no label pointing nowhere. A duplicate id is not cosmetic: a
 * label's `for` finds the first element with that id, so clicking one form's "enabled" toggled
 * another form's checkbox. Add new pages to PAGES below.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Page } from 'playwright-core';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { loginInPage } from './lib/session.ts';

const PASSWORD = 'correct horse battery';
/** The admin pages (need a login). */
const PAGES = ['/', '/input', '/programs', '/outputs', '/listeners', '/recordings', '/schedule', '/system'];

let hark: HarkProcess;
let chrome: ChromiumHandle;
let page: Page;

interface IdReport {
  duplicates: string[];
  danglingLabels: string[];
  ids: number;
}

/** Ids that occur more than once, and `label[for]` whose target does not exist. */
function idReport(p: Page): Promise<IdReport> {
  return p.evaluate(() => {
    const seen = new Map<string, number>();
    for (const e of document.querySelectorAll('[id]')) seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
    const duplicates = [...seen].filter(([, n]) => n > 1).map(([id, n]) => `${id} ×${n}`);
    const danglingLabels = [...document.querySelectorAll('label[for]')]
      .map((l) => l.getAttribute('for')!)
      .filter((f) => !document.getElementById(f));
    return { duplicates, danglingLabels, ids: seen.size };
  });
}

/** Open a page and wait for what it shows to be complete: loaded, and its first SSE update swapped in. */
async function open(p: Page, path: string): Promise<void> {
  const res = await p.goto(`${hark.url}${path}`);
  expect(res?.status()).toBe(200);
  expect(new URL(p.url()).pathname).toBe(path.split('?')[0]!);
  const live = await p.evaluate(() => !!document.body.getAttribute('sse-connect'));
  if (live) await p.waitForFunction(() => window.sseSeen! > 0, null, { timeout: 10_000 });
}

beforeAll(async () => {
  // The default config; only the WebRTC port is this file's own (tests run side by side).
  hark = await startHark('[webrtc]\nudp_port = 29301\n');
  chrome = await launchChromium();
  await chrome.context.addInitScript(() => {
    const w = window;
    w.sseSeen = 0;
    document.addEventListener('htmx:sseMessage', () => (w.sseSeen = (w.sseSeen ?? 0) + 1));
  });
  page = await chrome.newPage();
}, 90_000);

afterAll(async () => {
  await chrome?.close();
  expect(await hark?.stop()).toBe(0);
});

describe('unique ids on every page', () => {
  test('the first-run page, then every admin page, the listen page and the login page', async () => {
    const reports: Record<string, IdReport> = {};
    await open(page, '/setup');
    reports['/setup'] = await idReport(page);
    await page.fill('#password', PASSWORD);
    await page.fill('#confirm', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${hark.url}/`);

    for (const path of PAGES) {
      await open(page, path);
      reports[path] = await idReport(page);
    }
    // Outputs with both "add" forms open: their fields must not clash with the settings forms.
    await open(page, '/outputs');
    await page.click('#icecast-section button:has-text("Add")');
    await page.locator('#icecast-form-new').waitFor();
    await page.click('#whip-section button:has-text("Add")');
    await page.locator('#whip-form-new').waitFor();
    reports['/outputs (add forms open)'] = await idReport(page);

    await open(page, '/listen');
    reports['/listen'] = await idReport(page);

    const other = await chrome.browser.newContext();
    const anon = await other.newPage();
    await open(anon, '/login');
    reports['/login'] = await idReport(anon);
    await other.close();

    for (const [path, r] of Object.entries(reports)) console.log(`${path}: ${r.ids} ids`);
    const problems = Object.entries(reports)
      .filter(([, r]) => r.duplicates.length || r.danglingLabels.length)
      .map(([path, r]) => `${path}: duplicate ids [${r.duplicates.join(', ')}], labels for nothing [${r.danglingLabels.join(', ')}]`);
    expect(problems).toEqual([]);
    // The check saw real pages, not empty ones.
    expect(reports['/outputs']!.ids).toBeGreaterThan(20);
  }, 120_000);

  test('on Outputs, the WebRTC form\'s "enabled" label toggles WebRTC, not Recording', async () => {
    const ctx = await chrome.browser.newContext();
    const p = await ctx.newPage();
    await loginInPage(p, hark.url, PASSWORD);
    await p.goto(`${hark.url}/outputs`);
    const recording = p.locator('#form-recording .field[data-field="enabled"] input[type=checkbox]');
    const webrtc = p.locator('#form-webrtc .field[data-field="enabled"] input[type=checkbox]');
    const rec0 = await recording.isChecked();
    const web0 = await webrtc.isChecked();
    await p.locator('#form-webrtc .field[data-field="enabled"] label').click();
    expect(await recording.isChecked()).toBe(rec0);
    expect(await webrtc.isChecked()).toBe(!web0);
    await ctx.close();
  }, 60_000);
});
