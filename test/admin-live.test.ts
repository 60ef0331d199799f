/**
 * The admin pages' live parts in Chromium against a real daemon (test tone): meters that tell
 * the truth (a dB scale, colour by level zone, a clip lamp, `role="meter"` values), the
 * meters' traffic (numbers, ≤ 2 kB/s for stereo), and a page that says "Connection lost"
 * when hark stops answering and recovers by itself when it is back.
 *
 * Fixed ports (this file's range, 29200–29299): HTTP 29200, WebRTC UDP 29201 — the restart
 * test needs the page's address to stay the same.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { launchChromium, waitInPage, type ChromiumHandle } from './lib/browser.ts';
import { setupInPage, useSession } from './lib/session.ts';

const PASSWORD = 'correct horse battery';
const HTTP_PORT = 29200;
const SHOTS = '/tmp/shots-h2';
const stateDir = mkdtempSync(join(tmpdir(), 'hark-live-state-'));
const TOML = `
[input]
source = "tone"

[tone]
frequency = 1000
level_dbfs = -12

[control]
state_dir = "${stateDir}"

[webrtc]
udp_port = 29201
`;

let hark: HarkProcess;
let chrome: ChromiumHandle;
let cookie = '';

const start = () => startHark(TOML, { args: ['--port', String(HTTP_PORT)] });

/** PATCH the config over the CLI socket (as `hark config set` does). */
async function setConfig(entries: Record<string, unknown>): Promise<void> {
  const res = await fetch('http://localhost/api/config', {
    method: 'PATCH',
    unix: `${stateDir}/hark.sock`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(entries),
  } as RequestInit);
  expect(res.status).toBe(200);
}

const SIZES = { phone: { width: 390, height: 844 }, desktop: { width: 1366, height: 900 } } as const;

async function pageAt(size: keyof typeof SIZES, scheme: 'light' | 'dark' = 'light'): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await chrome.browser.newContext({ viewport: SIZES[size], colorScheme: scheme });
  await useSession(ctx, `http://127.0.0.1:${HTTP_PORT}`, cookie);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
  return { ctx, page };
}

/** The hue (0–360°) of one pixel of an element's screenshot, read back through a canvas. */
async function hueAt(page: Page, selector: string, x: number, y: number): Promise<{ hue: number; rgb: number[] }> {
  const png = await page.locator(selector).screenshot();
  const rgb = await page.evaluate(
    async ({ b64, x, y }) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const g = c.getContext('2d')!;
      g.drawImage(img, 0, 0);
      return Array.from(g.getImageData(x, y, 1, 1).data).slice(0, 3);
    },
    { b64: png.toString('base64'), x: Math.round(x), y: Math.round(y) },
  );
  const [r, g, b] = rgb.map((v) => v / 255) as [number, number, number];
  const max = Math.max(r, g, b);
  const d = max - Math.min(r, g, b);
  let hue = 0;
  if (d > 0) hue = max === r ? 60 * (((g - b) / d + 6) % 6) : max === g ? 60 * ((b - r) / d + 2) : 60 * ((r - g) / d + 4);
  return { hue, rgb };
}

/** Wait until channel 0's meter shows `db` (±1). */
async function waitLevel(page: Page, db: number): Promise<void> {
  await page.waitForFunction((db) => Math.abs(Number(document.querySelector('#meters .meter[data-ch="0"]')?.getAttribute('data-peak')) - db) < 1, db, { timeout: 5000 });
}

/** Where channel 0's peak bar ends, and its colour 5 px before that. */
async function barEnd(page: Page): Promise<{ end: number; hue: number; rgb: number[] }> {
  const track = (await page.locator('#meters .meter[data-ch="0"] .track').boundingBox())!;
  const bar = (await page.locator('#meters .meter[data-ch="0"] .bar.peak').boundingBox())!;
  const { hue, rgb } = await hueAt(page, '#meters .meter[data-ch="0"] .track', bar.x + bar.width - track.x - 5, track.height / 2);
  return { end: bar.x + bar.width, hue, rgb };
}

const isRed = (h: number) => h < 15 || h > 340;
const isAmber = (h: number) => h >= 20 && h <= 70;
const isGreen = (h: number) => h >= 90 && h <= 180;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  hark = await start();
  chrome = await launchChromium();
  // First run: set the password in the browser; the session cookie is reused by every context.
  const page = await chrome.newPage();
  cookie = await setupInPage(page, hark.url, PASSWORD, '/');
}, 120_000);

afterAll(async () => {
  await chrome?.close();
  expect(await hark?.stop()).toBe(0);
});

describe('meters that tell the truth', () => {
  for (const size of ['desktop', 'phone'] as const) {
    test(`${size}: a −12 dBFS tone ends amber under "−12", reads −12 for screen readers; −40 is green; 0 dBFS lights the clip lamp`, async () => {
      await setConfig({ 'tone.level_dbfs': -12 });
      const { ctx, page } = await pageAt(size);
      try {
        for (const path of ['/', '/input']) {
          await page.goto(`${hark.url}${path}`);
          await waitLevel(page, -12);
          // The clip lamp holds 2 s after a clip (the previous test ends at 0 dBFS): wait it out, bounded.
          await page.waitForFunction(() => !document.querySelector('#meters .clip.on'), undefined, { timeout: 5000 });
          const { end, hue, rgb } = await barEnd(page);
          const label = (await page.locator('#meters .scale span[data-db="-12"]').boundingBox())!;
          console.log(`${size} ${path} −12 dBFS: bar ends at ${end.toFixed(1)} px, the "−12" label's centre at ${(label.x + label.width / 2).toFixed(1)} px; colour rgb(${rgb}) hue ${hue.toFixed(0)}°`);
          expect(await page.locator('#meters .scale span[data-db="-12"]').textContent()).toBe('−12');
          expect(Math.abs(end - (label.x + label.width / 2))).toBeLessThan(4);
          expect(isRed(hue)).toBe(false);
          expect(isAmber(hue)).toBe(true);
          // Every channel is a meter with its value; the lamps are off and silent.
          const meters = page.getByRole('meter');
          expect(await meters.count()).toBe(2);
          for (let c = 0; c < 2; c++) {
            expect(Math.abs(Number(await meters.nth(c).getAttribute('aria-valuenow')) + 12)).toBeLessThan(1);
            expect(await meters.nth(c).getAttribute('aria-valuetext')).toMatch(/^−1[12]\.\d dB$/);
          }
          expect(await page.locator('#meters .clip.on').count()).toBe(0);
          expect(await page.locator('#meters .clip[aria-hidden="true"]').count()).toBe(2);
          expect(await page.getByRole('img', { name: /clipping/ }).count()).toBe(0);
          await page.screenshot({ path: `${SHOTS}/${path === '/' ? 'dashboard' : 'input'}-${size}-light.png`, fullPage: true });
        }
        await setConfig({ 'tone.level_dbfs': -40 });
        await waitLevel(page, -40);
        const low = await barEnd(page);
        console.log(`${size} −40 dBFS: colour rgb(${low.rgb}) hue ${low.hue.toFixed(0)}°`);
        expect(isGreen(low.hue)).toBe(true);
        const label40 = (await page.locator('#meters .scale span[data-db="-40"]').boundingBox())!;
        expect(Math.abs(low.end - (label40.x + label40.width / 2))).toBeLessThan(4);

        await setConfig({ 'tone.level_dbfs': 0 });
        await page.locator('#meters .meter[data-ch="0"] .clip.on').waitFor({ timeout: 5000 });
        const lamp = page.getByRole('img', { name: 'Left channel clipping' });
        expect(await lamp.isVisible()).toBe(true);
        expect(await page.getByRole('meter').first().getAttribute('aria-valuetext')).toContain('clipping');
        const hot = await barEnd(page);
        expect(isRed(hot.hue)).toBe(true);
        await page.screenshot({ path: `${SHOTS}/input-${size}-clip.png` });
      } finally {
        await ctx.close();
        await setConfig({ 'tone.level_dbfs': -12 });
      }
    }, 90_000);
  }

  test('dark theme: the same colours by zone (screenshots of dashboard and input)', async () => {
    for (const size of ['desktop', 'phone'] as const) {
      const { ctx, page } = await pageAt(size, 'dark');
      try {
        for (const path of ['/', '/input']) {
          await page.goto(`${hark.url}${path}`);
          await waitLevel(page, -12);
          const { hue } = await barEnd(page);
          expect(isAmber(hue)).toBe(true);
          await page.screenshot({ path: `${SHOTS}/${path === '/' ? 'dashboard' : 'input'}-${size}-dark.png`, fullPage: true });
        }
      } finally {
        await ctx.close();
      }
    }
  }, 90_000);
});

describe('meter traffic', () => {
  test('an open dashboard with a stereo tone streams ≤ 2048 bytes/s, still ~15 meter updates a second', async () => {
    const res = await fetch(`${hark.url}/events?page=dashboard`, { headers: { cookie: `hark_session=${cookie}` } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    // The first frames (the current value of every widget) come at once; measure after them.
    const t0 = performance.now();
    while (!text.includes('event: levels') && performance.now() - t0 < 5000) text += dec.decode((await reader.read()).value);
    expect(text).toContain('event: levels');
    let bytes = 0;
    let frames = 0;
    let rest = '';
    const from = performance.now();
    const until = from + 5000;
    while (performance.now() < until) {
      const r = await Promise.race([reader.read(), Bun.sleep(until - performance.now()).then(() => null)]);
      if (!r || r.done) break;
      bytes += r.value.byteLength;
      rest += dec.decode(r.value);
      frames += (rest.match(/event: levels\n/g) ?? []).length;
      rest = rest.slice(rest.lastIndexOf('\n\n') + 1);
    }
    const s = (performance.now() - from) / 1000;
    await reader.cancel();
    console.log(`/events?page=dashboard: ${Math.round(bytes / s)} bytes/s, ${(frames / s).toFixed(1)} meter frames/s`);
    expect(bytes / s).toBeLessThanOrEqual(2048);
    expect(frames / s).toBeGreaterThanOrEqual(10);
    // Stereo: two channels of numbers in every frame.
    expect(text).toMatch(/event: levels\ndata: \{"s":\d+,"p":\[-?[\d.]+,-?[\d.]+\]/);
  }, 30_000);
});

describe('connection lost', () => {
  test('hark stops: the page says "Connection lost" and stops claiming Live; hark is back: the page recovers by itself', async () => {
    const { ctx, page } = await pageAt('phone');
    const seen: string[] = [];
    page.on('console', (m) => seen.push(`${Date.now() % 100000} [console.${m.type()}] ${m.text()}`));
    page.on('framenavigated', (f) => f === page.mainFrame() && seen.push(`${Date.now() % 100000} navigated ${f.url()}`));
    // What the page's live connection did, for the report if a step fails.
    await page.addInitScript(() => {
      for (const t of ['htmx:sseOpen', 'htmx:sseError']) {
        document.addEventListener(t, (e) => console.log(`${t} readyState=${(e as CustomEvent).detail?.source?.readyState}`));
      }
    });
    let step = 'open the dashboard';
    try {
      await page.goto(`${hark.url}/`);
      // A fresh install starts live (control.on_boot = "last"); go live if it is not.
      if (await page.locator('#state-panel button.go').count()) await page.locator('#state-panel button.go').click();
      step = 'Live before the stop';
      await page.waitForFunction(() => document.querySelector('#state-badge .badge')?.textContent === 'Live', null, { timeout: 5000 });
      await waitLevel(page, -12);
      expect(await page.locator('#conn-lost').isVisible()).toBe(false);

      step = 'stop hark';
      expect(await hark.stop()).toBe(0);
      const stoppedAt = Date.now();
      seen.push(`${stoppedAt % 100000} hark stopped`);
      step = 'the banner shows';
      await page.locator('#conn-lost').waitFor({ state: 'visible', timeout: 5000 });
      console.log(`the banner showed ${Date.now() - stoppedAt} ms after hark stopped`);
      expect(await page.locator('#conn-lost').textContent()).toContain('Connection lost');
      expect(await page.locator('#state-badge .badge').textContent()).not.toBe('Live');
      expect(await page.locator('.state-word').textContent()).not.toBe('Live');
      expect(await page.locator('#meters .meter[data-ch="0"] .db').textContent()).toBe('—');
      expect(await page.locator('#meters .meter[data-ch="0"]').getAttribute('data-peak')).toBeNull();
      expect(await page.locator('#meters .meter[data-ch="0"] .bar.peak').evaluate((e) => (e as HTMLElement).style.width)).toBe('0%');
      await page.screenshot({ path: `${SHOTS}/dashboard-phone-connection-lost.png` });

      // Same port, same state directory (the session and the state survive the restart).
      step = 'start hark again';
      hark = await start();
      const backAt = Date.now();
      seen.push(`${backAt % 100000} hark is back`);
      step = 'the banner goes';
      await page.locator('#conn-lost').waitFor({ state: 'hidden', timeout: 15_000 });
      // The page recovers either on its live connection or by reloading itself (admin.js):
      // these waits survive a navigation (page.waitForFunction does not).
      step = 'Live after the restart';
      await waitInPage(page, () => document.querySelector('#state-badge .badge')?.textContent === 'Live', 0, { what: 'the badge to say Live' });
      // The meters were emptied (no reading while lost): a level means the new hark's meters arrived.
      await waitInPage(page, (db) => Math.abs(Number(document.querySelector('#meters .meter[data-ch="0"]')?.getAttribute('data-peak') ?? NaN) - db) < 1, -12, { what: 'a −12 dBFS reading' });
      console.log(`the page recovered ${Date.now() - backAt} ms after hark was back`);
      expect(new URL(page.url()).pathname).toBe('/');
      expect(await page.locator('.state-word').textContent()).toBe('Live');
      // And they keep moving (the sequence is the new hark's: it counts from its own start).
      step = 'the meters keep moving';
      const seq = Number(await page.locator('#meters .meters').getAttribute('data-seq'));
      await waitInPage(page, (s) => Number(document.querySelector('#meters .meters')?.getAttribute('data-seq')) > s + 5, seq, { what: `the meters' sequence to pass ${seq + 5}` });
    } catch (e) {
      const shown = await page
        .evaluate(() => ({
          url: location.href,
          banner: !document.getElementById('conn-lost')?.hidden,
          badge: document.querySelector('#state-badge .badge')?.textContent,
          seq: document.querySelector('#meters .meters')?.getAttribute('data-seq'),
          peak: document.querySelector('#meters .meter[data-ch="0"]')?.getAttribute('data-peak'),
        }))
        .catch((err) => String(err));
      console.log(`connection lost: failed at "${step}" at ${Date.now() % 100000}; the page showed ${JSON.stringify(shown)}\n${seen.join('\n')}\nhark's log:\n${hark.output().slice(-3000)}`);
      throw e;
    } finally {
      await ctx.close();
    }
    expect(chrome.logs.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
  }, 90_000);
});
