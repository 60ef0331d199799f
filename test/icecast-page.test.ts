/**
 * Adding an Icecast server on the Outputs page, on a phone, against a real icecast2 (default
 * config: a fresh box starts live): the "Test connection" result shows next to its button,
 * the new entry's state follows the live connection (not "connecting" for good), and the
 * output has one name on the page, in the entry list and in the "Now" table.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { Page } from 'playwright-core';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { startIcecast, type IcecastServer } from './lib/icecast.ts';
import { loginInPage } from './lib/session.ts';

const PASSWORD = 'correct horse battery';
let hark: HarkProcess;
let ice: IcecastServer;
let chrome: ChromiumHandle;
let page: Page;

beforeAll(async () => {
  [hark, ice] = await Promise.all([startHark(`[webrtc]\nudp_port = 29380\n[admin]\npassword = "${PASSWORD}"\n`), startIcecast()]);
  chrome = await launchChromium();
  const ctx = await chrome.browser.newContext({ viewport: { width: 390, height: 844 } });
  page = await ctx.newPage();
  await loginInPage(page, hark.url, PASSWORD, { next: '/outputs' });
}, 90_000);

afterAll(async () => {
  await chrome?.close();
  await ice?.stop();
  expect(await hark?.stop()).toBe(0);
});

test('on a phone, the connection test result shows next to the "Test connection" button', async () => {
  await page.click('#icecast-section button:has-text("Add Icecast server")');
  const form = page.locator('#icecast-form-new');
  await form.waitFor();
  await form.locator('input[name=host]').fill('127.0.0.1');
  await form.locator('input[name=port]').fill(String(ice.port));
  // As a user types it: no leading "/".
  await form.locator('input[name=mount]').fill('hark.mp3');
  await form.locator('input[name=password]').fill(ice.sourcePassword);
  await form.locator('button:has-text("Test connection")').click();
  const result = page.locator('#icecast-form-new [data-test-result="ok"]');
  await result.waitFor({ timeout: 10_000 });
  // Let the scroll into view happen (it runs when htmx settles the swap).
  await page.waitForFunction(() => (document.querySelector('[data-test-result]') as HTMLElement | null)?.dataset.shown === 'true', null, { timeout: 5000 });
  const r = (await result.boundingBox())!;
  // Not hidden under the sticky header either.
  const header = (await page.locator('header.top').boundingBox())!;
  expect(r.y).toBeGreaterThanOrEqual(header.y + header.height);
  const b = (await page.locator('#icecast-form-new button:has-text("Test connection")').boundingBox())!;
  await page.screenshot({ path: '/tmp/shots-h3/icecast-test-result-390.png' });
  console.log(`result at y=${r.y.toFixed(0)}..${(r.y + r.height).toFixed(0)}, button at y=${b.y.toFixed(0)}`);
  expect(r.y).toBeGreaterThanOrEqual(0);
  expect(r.y + r.height).toBeLessThanOrEqual(844);
  expect(Math.abs(r.y - (b.y + b.height))).toBeLessThan(200);
}, 60_000);

test('the new entry goes live on the page by itself, with the same name as in the "Now" table', async () => {
  await page.locator('#icecast-form-new button[type=submit]').click();
  const entry = page.locator('#icecast-section li[data-entry="0"]');
  await entry.waitFor({ timeout: 10_000 });
  await ice.waitForSource('/hark.mp3', 30_000);
  const nowRow = page.locator('#outputs tr[data-output^="Icecast:"]');
  // (The connection test's own source may hold the mount a moment: the first try can back off.)
  await page.waitForFunction(() => document.querySelector('#outputs tr[data-output^="Icecast:"] .pill')?.textContent === 'live', null, { timeout: 30_000 });
  // The entry's state follows the connection without a reload, as the "Now" table does.
  await page
    .waitForFunction(() => document.querySelector('#icecast-section li[data-entry="0"] .entry-state .pill')?.getAttribute('data-state') === 'live', null, { timeout: 3000 })
    .catch(async (e) => {
      console.log(`entry: ${await entry.innerHTML()}\nnow: ${await page.locator('#outputs').innerHTML()}\nlogs: ${chrome.logs.join('\n')}`);
      throw e;
    });
  const entryName = (await entry.locator('.entry-name').textContent())!.trim();
  const nowName = (await nowRow.locator('td').first().textContent())!.trim();
  expect(entryName).toBe('Icecast hark.mp3');
  expect(nowName).toBe(entryName);
  // Where it sends, the same in both, with the mount's "/".
  expect(await entry.locator('.where').textContent()).toBe(`127.0.0.1:${ice.port}/hark.mp3`);
  expect(await nowRow.locator('td.detail small').textContent()).toBe(`127.0.0.1:${ice.port}/hark.mp3`);
  await entry.screenshot({ path: '/tmp/shots-h3/icecast-entry-live-390.png' });
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.screenshot({ path: '/tmp/shots-h3/outputs-1366.png', fullPage: true });
  expect(chrome.logs.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
}, 60_000);

test('"Test connection" on the entry that is on air says so (not "mount in use", which is hark itself)', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  const entry = page.locator('#icecast-section li[data-entry="0"]');
  await entry.locator('[hx-get$="/edit"]').click();
  const form = page.locator('#icecast-section form.entry-form');
  await form.waitFor({ timeout: 5000 });
  await form.locator('button:has-text("Test connection")').click();
  const result = form.locator('[data-test-result]');
  await result.waitFor({ timeout: 10_000 });
  expect(await result.getAttribute('data-test-result')).toBe('ok');
  expect(await result.textContent()).toMatch(new RegExp(`On air now: hark has been sending to 127\\.0\\.0\\.1:${ice.port}/hark\\.mp3 for \\d\\d:\\d\\d:\\d\\d, so the server accepts this user, password and mount\\.`));
  // And the stream was not disturbed by the test.
  expect((await ice.sources()).has('/hark.mp3')).toBe(true);
  await page.waitForFunction(() => document.querySelector('#outputs tr[data-output^="Icecast:"] .pill')?.textContent === 'live', null, { timeout: 3000 });
  await page.screenshot({ path: '/tmp/shots-h3/icecast-test-on-air-390.png' });
}, 60_000);

test('on a desktop too: "Test connection" on the entry on air, and on a new entry for the same mount, says it is on air (no second source)', async () => {
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(`${hark.url}/outputs`);
  const entry = page.locator('#icecast-section li[data-entry="0"]');
  await entry.locator('[hx-get$="/edit"]').click();
  const form = page.locator('#icecast-section form.entry-form');
  await form.waitFor({ timeout: 5000 });
  await form.locator('button:has-text("Test connection")').click();
  const result = form.locator('[data-test-result]');
  await result.waitFor({ timeout: 10_000 });
  expect(await result.getAttribute('data-test-result')).toBe('ok');
  expect(await result.textContent()).toMatch(/^On air now: hark has been sending to 127\.0\.0\.1:\d+\/hark\.mp3 for \d\d:\d\d:\d\d/);
  await page.screenshot({ path: '/tmp/shots-u1/icecast-test-on-air-1366.png' });

  // The same server and mount typed into a new entry: hark is on it, so that is the answer.
  await page.goto(`${hark.url}/outputs`);
  await page.click('#icecast-section button:has-text("Add Icecast server")');
  const add = page.locator('#icecast-form-new');
  await add.waitFor();
  await add.locator('input[name=host]').fill('127.0.0.1');
  await add.locator('input[name=port]').fill(String(ice.port));
  await add.locator('input[name=mount]').fill('hark.mp3');
  await add.locator('input[name=password]').fill(ice.sourcePassword);
  await add.locator('button:has-text("Test connection")').click();
  const answer = add.locator('[data-test-result]');
  await answer.waitFor({ timeout: 10_000 });
  expect(await answer.textContent()).toMatch(new RegExp(`^On air now: another entry here has been sending to 127\\.0\\.0\\.1:${ice.port}/hark\\.mp3 for \\d\\d:\\d\\d:\\d\\d with these settings, so the server accepts this user, password and mount\\.`));
  expect(await answer.getAttribute('data-test-result')).toBe('ok');
  expect(await answer.textContent()).not.toContain('in use');
  await page.screenshot({ path: '/tmp/shots-u1/icecast-test-new-entry-on-air-1366.png' });
  // The stream on the mount was not disturbed.
  expect((await ice.sources()).has('/hark.mp3')).toBe(true);
  await page.waitForFunction(() => document.querySelector('#outputs tr[data-output^="Icecast:"] .pill')?.textContent === 'live', null, { timeout: 3000 });
  expect(chrome.logs.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
}, 60_000);
