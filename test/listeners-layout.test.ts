/**
 * The Listeners page fits a phone: at 390 px wide, with three listeners (one over WebRTC, two
 * on /stream.mp3, one with a very long User-Agent), nothing is wider than the screen.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { WhepClient } from './lib/whep-client.ts';
import { loginInPage } from './lib/session.ts';

const PASSWORD = 'correct horse battery';
const LONG_UA =
  'Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.210 Mobile Safari/537.36 VLC/3.0.20 LibVLC/3.0.20_with_a_very_long_build_identifier_without_spaces_0123456789abcdef';

let hark: HarkProcess;
let chrome: ChromiumHandle;
let whep: WhepClient | undefined;
const readers: AbortController[] = [];

/** A /stream.mp3 listener that keeps reading until aborted. */
function mp3Listener(userAgent: string): void {
  const ac = new AbortController();
  readers.push(ac);
  void fetch(`${hark.url}/stream.mp3`, { headers: { 'user-agent': userAgent }, signal: ac.signal })
    .then(async (res) => {
      for await (const _ of res.body!) {
        // keep reading
      }
    })
    .catch(() => {});
}

beforeAll(async () => {
  hark = await startHark(`[webrtc]\nudp_port = 29370\n[admin]\npassword = "${PASSWORD}"\n`);
  chrome = await launchChromium();
}, 60_000);

afterAll(async () => {
  for (const r of readers) r.abort();
  await whep?.close().catch(() => 0);
  await chrome?.close();
  expect(await hark?.stop()).toBe(0);
});

test('at 390 px the Listeners page is no wider than the screen with three listeners', async () => {
  whep = await WhepClient.open({ url: `${hark.url}/whep`, record: false });
  await whep.waitFor('connected');
  mp3Listener(LONG_UA);
  mp3Listener('VLC/3.0.20 LibVLC/3.0.20');
  for (let i = 0; i < 100; i++) {
    const s = (await (await fetch(`${hark.url}/api/status`)).json()) as { outputs: { http_mp3: { listeners: number } } };
    if (s.outputs.http_mp3.listeners === 2) break;
    await Bun.sleep(100);
  }

  for (const [width, height, scheme] of [
    [390, 844, 'light'],
    [390, 844, 'dark'],
    [1366, 900, 'light'],
  ] as const) {
    const ctx = await chrome.browser.newContext({ viewport: { width, height }, colorScheme: scheme });
    const page = await ctx.newPage();
    await loginInPage(page, hark.url, PASSWORD, { next: '/listeners' });
    await page.waitForFunction(() => document.querySelectorAll('ul.people li.person').length === 3, null, { timeout: 10_000 });
    expect(await page.locator('ul.people').textContent()).toContain('LibVLC/3.0.20_with_a_very_long_build_identifier');
    // With every listener's technical details open too (the long user agent is there).
    await page.evaluate(() => document.querySelectorAll('ul.people details').forEach((d) => d.setAttribute('open', '')));
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    await page.screenshot({ path: `/tmp/shots-s2/listeners-${width}-${scheme}.png`, fullPage: true });
    console.log(`${width} px ${scheme}: the page is ${scrollWidth} px wide`);
    expect(scrollWidth).toBeLessThanOrEqual(width);
    await ctx.close();
  }
}, 90_000);

test('Disconnect on a WebRTC listener ends its session (the admin needs no secret); MP3 listeners have no button', async () => {
  const ctx = await chrome.browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await ctx.newPage();
  await loginInPage(page, hark.url, PASSWORD, { next: '/listeners' });
  await page.waitForFunction(() => document.querySelectorAll('ul.people li.person').length === 3, null, { timeout: 10_000 });
  expect(await page.locator('ul.people button', { hasText: 'Disconnect' }).count()).toBe(1);
  const box = (await page.locator('ul.people button', { hasText: 'Disconnect' }).boundingBox())!;
  expect(box.height).toBeGreaterThanOrEqual(44);
  page.once('dialog', (d) => void d.accept());
  await page.locator('ul.people button', { hasText: 'Disconnect' }).click();
  await page.waitForFunction(() => document.querySelectorAll('ul.people li.person').length === 2, null, { timeout: 10_000 });
  expect(await page.locator('ul.people button', { hasText: 'Disconnect' }).count()).toBe(0);
  await hark.waitFor(/deleted by the admin \(DELETE\)/);
  await ctx.close();
}, 60_000);
