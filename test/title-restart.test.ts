/**
 * The title set on the dashboard survives a restart of hark (stop, then start on the same
 * config and data directory): the dashboard and /api/status show it again.
 */
import { afterAll, expect, test } from 'bun:test';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { loginInPage } from './lib/session.ts';

const PASSWORD = 'correct horse battery';
const TITLE = 'Sunday service — Psalm 23 & "Amazing Grace"';
let hark: HarkProcess | undefined;
let chrome: ChromiumHandle | undefined;

afterAll(async () => {
  await chrome?.close();
  await hark?.stop();
});

test('the title set on the dashboard is still there after a stop and a start', async () => {
  hark = await startHark(`[webrtc]\nudp_port = 29320\n[admin]\npassword = "${PASSWORD}"\n`);
  chrome = await launchChromium();
  const page = await chrome.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await loginInPage(page, hark.url, PASSWORD);
  const form = page.locator('form[hx-post="/ui/metadata"]');
  await form.locator('input[name=title]').fill(TITLE);
  await form.locator('button[type=submit]').click();
  await page.locator('#state-panel .now-title').filter({ hasText: TITLE }).waitFor({ timeout: 5000 });

  const dir = hark.dir;
  expect(await hark.stop()).toBe(0);
  hark = await startHark('', { dir });

  const status = (await (await fetch(`${hark.url}/api/status`)).json()) as { control: { title: string } };
  expect(status.control.title).toBe(TITLE);
  // The session lives on disk too: the same browser sees the dashboard, with the title.
  await page.goto(`${hark.url}/`);
  expect(new URL(page.url()).pathname).toBe('/');
  await expect(page.locator('#state-panel .now-title').textContent()).resolves.toContain(TITLE);
}, 90_000);
