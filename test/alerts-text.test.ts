/**
 * Alerts on the admin page read as one plain sentence: the silence alert says what happened
 * once ("The input has been silent for 1 s …"), not "silence: silence: the input …".
 */
import { afterAll, expect, test } from 'bun:test';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { loginInPage } from './lib/session.ts';

const PASSWORD = 'correct horse battery';
let hark: HarkProcess | undefined;
let chrome: ChromiumHandle | undefined;

afterAll(async () => {
  await chrome?.close();
  await hark?.stop();
});

test('the silence alert on the dashboard is one plain sentence', async () => {
  // The default source (auto: the tone here), made quiet enough to count as silence.
  hark = await startHark(`[tone]\nlevel_dbfs = -60\n[silence]\nthreshold_dbfs = -50\nafter_s = 1\n[webrtc]\nudp_port = 29330\n[admin]\npassword = "${PASSWORD}"\n`);
  chrome = await launchChromium();
  const page = await chrome.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await loginInPage(page, hark.url, PASSWORD);
  const alert = page.locator('#alerts .alert[data-alert="silence"]');
  await alert.waitFor({ timeout: 10_000 });
  const text = (await alert.textContent())!.trim();
  expect(text).toBe('The input has been silent for 1 s (below -50 dBFS).');
  expect(text.match(/silen/gi)).toHaveLength(1);
  await page.screenshot({ path: '/tmp/shots-h3/alert-silence-390.png' });
}, 60_000);
