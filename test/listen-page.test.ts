/**
 * The listen page as a listener sees it, in Chromium at phone (390×844) and desktop (1366×900)
 * sizes, light and dark: the station, title and on-air state from hark without login and
 * without a reload; meters whose scale is where the bar is (a −12 dBFS tone ends the bar under
 * "−12"), coloured by zone, with role="meter" values; volume remembered; lock-screen metadata;
 * connection details folded away; touch targets of 44 px; unique ids; no serious axe findings.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumAvailable, injectAxe, launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { freeUdpPort } from './lib/whep-client.ts';

const SHOTS = '/tmp/shots-h1';
const SIZES = { phone: { width: 390, height: 844 }, desktop: { width: 1366, height: 900 } } as const;

let chrome: ChromiumHandle;
/** hark with the default config (no [input] line): the page's words, state and layout. */
let plain: HarkProcess;
/** hark playing a −12 dBFS tone: the meters. */
let tone: HarkProcess;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const [u1, u2] = [await freeUdpPort(), await freeUdpPort()];
  [plain, tone, chrome] = await Promise.all([
    startHark(`[webrtc]\nudp_port = ${u1}\n[metadata]\ntitle = "Sunday service"\n`, { timeoutMs: 60_000 }),
    startHark(`[input]\nsource = "tone"\n[tone]\nfrequency = 440\nlevel_dbfs = -12\n[webrtc]\nudp_port = ${u2}\n`, { timeoutMs: 60_000 }),
    launchChromium(),
  ]);
}, 90_000);

afterAll(async () => {
  await chrome?.close();
  await plain?.stop();
  await tone?.stop();
}, 30_000);

async function open(hark: HarkProcess, size: keyof typeof SIZES, scheme: 'light' | 'dark' = 'light', query = ''): Promise<{ page: Page; context: BrowserContext }> {
  const context = await chrome.browser.newContext({ viewport: SIZES[size], colorScheme: scheme });
  const page = await context.newPage();
  page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
  await page.goto(`${hark.url}/listen${query}`);
  return { page, context };
}

const phase = (p: Page) => p.evaluate(() => window.hark.phase);

async function waitPlaying(p: Page, timeout = 15_000) {
  await p.waitForFunction(() => {
    const h = window.hark;
    return h.phase === 'playing' && Number(h.stats.packets) > 50;
  }, null, { timeout, polling: 100 });
}

async function action(hark: HarkProcess, name: string) {
  const res = await fetch(`${hark.url}/api/actions/${name}`, { method: 'POST' });
  expect(res.status).toBe(200);
}

describe.skipIf(!chromiumAvailable())('listen page', () => {
  test('GET /listen/info: station, title and state, nothing private', async () => {
    const res = await fetch(`${plain.url}/listen/info`);
    expect(res.status).toBe(200);
    const info = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(info).sort()).toEqual(['instance', 'main', 'programs', 'state', 'station', 'title']);
    expect(info.main).toBe('main');
    expect(info.title).toBe('Sunday service');
    expect(['live', 'muted', 'idle']).toContain(info.state as string);
    expect(typeof info.station).toBe('string');
    expect(String(info.station).length).toBeGreaterThan(0);
  });

  test('station, title and On air / Muted / Off air update live, without a reload', async () => {
    const { page, context } = await open(plain, 'phone');
    try {
      await action(plain, 'go_live');
      const onair = page.locator('#onair-text');
      await page.waitForFunction(() => document.querySelector('#title')?.textContent === 'Sunday service', null, { timeout: 8000 });
      const station = ((await (await fetch(`${plain.url}/listen/info`)).json()) as { station: string }).station;
      expect(await page.locator('h1#station').textContent()).toBe(station);
      await page.waitForFunction(() => document.querySelector('#onair-text')?.textContent === 'On air', null, { timeout: 8000 });

      await action(plain, 'mute');
      await page.waitForFunction(() => document.querySelector('#onair-text')?.textContent === 'Muted', null, { timeout: 8000 });
      await action(plain, 'unmute');
      await action(plain, 'stop');
      await page.waitForFunction(() => document.querySelector('#onair-text')?.textContent === 'Off air', null, { timeout: 8000 });
      await page.screenshot({ path: `${SHOTS}/listen-offair-phone.png`, fullPage: true });
      await page.setViewportSize(SIZES.desktop);
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: `${SHOTS}/listen-offair-desktop-dark.png`, fullPage: true });

      // A new title arrives without a reload; markup in it is text.
      const res = await fetch(`${plain.url}/api/metadata`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Hymn <b>42</b>' }) });
      expect(res.status).toBe(200);
      await page.waitForFunction(() => document.querySelector('#title')?.textContent === 'Hymn <b>42</b>', null, { timeout: 8000 });
      expect(await page.locator('#title b').count()).toBe(0);
      expect(await onair.textContent()).toBe('Off air');
    } finally {
      await fetch(`${plain.url}/api/metadata`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Sunday service' }) });
      await action(plain, 'go_live');
      await context.close();
    }
  }, 60_000);

  for (const size of ['phone', 'desktop'] as const) {
    test(`${size}: a −12 dBFS tone ends the bar under the "−12" label, in the amber zone, aria-valuenow −12`, async () => {
      const { page, context } = await open(tone, size, 'light', '?autoplay=1');
      try {
        await waitPlaying(page);
        // What a user reads off the meter, measured in the page: where each bar ends and where
        // the "−12" label stands, the meter's aria values and readout. A loaded machine may
        // conceal a packet now and then: wait (up to 5 s) for a frame where the steady tone shows.
        const measure = () => page.evaluate(() => {
          const label = document.querySelector('#scale span[data-db="-12"]')!.getBoundingClientRect();
          return [...document.querySelectorAll('.meter')].map((m) => {
            const fill = m.querySelector('.fill')!.getBoundingClientRect();
            const bar = m.querySelector('.bar')!.getBoundingClientRect();
            return {
              barEnd: fill.right,
              along: (fill.right - bar.left) / bar.width,
              labelCentre: label.left + label.width / 2,
              role: m.getAttribute('role'),
              now: Number(m.getAttribute('aria-valuenow')),
              text: m.getAttribute('aria-valuetext'),
              readout: m.querySelector('.db')!.textContent!,
              clip: m.querySelector('.clip')!.getAttribute('data-on'),
            };
          });
        });
        type M = Awaited<ReturnType<typeof measure>>;
        const good = (ms: M) => ms.every((m) => Math.abs(m.barEnd - m.labelCentre) < 4 && Math.abs(m.now + 12) < 1 && Math.abs(Number(m.readout.replace('−', '-')) + 12) < 1);
        let ms = await measure();
        for (let i = 0; i < 50 && !good(ms); i++) {
          await page.waitForTimeout(100);
          ms = await measure();
        }
        expect(await page.locator('#scale span[data-db="-12"]').textContent()).toBe('−12');
        for (const m of ms) {
          expect(Math.abs(m.barEnd - m.labelCentre)).toBeLessThan(4);
          // −60 … 0 dBFS: −12 is 80 % along the bar.
          expect(Math.abs(m.along - 0.8)).toBeLessThan(0.02);
          expect(m.role).toBe('meter');
          expect(Math.abs(m.now + 12)).toBeLessThan(1);
          expect(m.text).toMatch(/^-1[12] dB$/);
          expect(Math.abs(Number(m.readout.replace('−', '-')) + 12)).toBeLessThan(1);
          expect(m.clip).toBe('false');
        }
        const zones = await page.evaluate(() => {
          const z = document.querySelector('.meter .zones') as HTMLElement;
          const bar = document.querySelector('.meter .bar') as HTMLElement;
          return { zones: z.getBoundingClientRect().width, bar: bar.getBoundingClientRect().width, amber: getComputedStyle(document.documentElement).getPropertyValue('--zone-amber').trim(), red: getComputedStyle(document.documentElement).getPropertyValue('--zone-red').trim() };
        });
        // The zone strip is as wide as the track (not stretched over the fill): −18 at 70 %, −6 at 90 %.
        expect(Math.abs(zones.zones - zones.bar)).toBeLessThan(1);
        expect(zones.amber).toBe('70%');
        expect(zones.red).toBe('90%');
        await page.screenshot({ path: `${SHOTS}/listen-playing-${size}.png`, fullPage: true });
      } finally {
        await context.close();
      }
    }, 60_000);
  }

  test('the clip lamp lights for a full-scale signal and the readout says 0.0', async () => {
    const { page, context } = await open(tone, 'phone', 'light', '?autoplay=1');
    try {
      await waitPlaying(page);
      expect(await page.locator('.meter[data-ch="0"] .clip').getAttribute('data-on')).toBe('false');
      // A full-scale sine into the page's meters (the stream itself is at −12 dBFS).
      await page.evaluate(() => {
        const p = window.hark.player;
        const osc = p.ctx.createOscillator();
        osc.start();
        p.meters.attach(osc);
      });
      await page.waitForFunction(() => document.querySelector('.meter[data-ch="0"] .clip')?.getAttribute('data-on') === 'true', null, { timeout: 3000 });
      // Screen readers get it too (the aria values follow four times a second).
      await page.waitForFunction(() => /clipping/.test(document.querySelector('.meter[data-ch="0"]')?.getAttribute('aria-valuetext') ?? ''), null, { timeout: 3000 });
      expect(await page.locator('.meter[data-ch="0"] .db').textContent()).toMatch(/^(−0\.\d|0\.0)$/);
      await page.screenshot({ path: `${SHOTS}/listen-clip-phone.png` });
    } finally {
      await context.close();
    }
  }, 60_000);

  test('volume is remembered; lock-screen metadata names the title and station; details are folded away', async () => {
    const { page, context } = await open(plain, 'phone', 'light', '?autoplay=1');
    try {
      await waitPlaying(page);
      const vol = page.locator('#volume');
      await vol.fill('35');
      expect(await page.evaluate(() => (document.getElementById('audio') as HTMLAudioElement).volume)).toBeCloseTo(0.35, 2);
      expect(await page.locator('#volume-value').textContent()).toBe('35%');
      await page.reload();
      expect(await page.locator('#volume').inputValue()).toBe('35');
      expect(await page.evaluate(() => (document.getElementById('audio') as HTMLAudioElement).volume)).toBeCloseTo(0.35, 2);

      await page.waitForFunction(() => navigator.mediaSession.metadata?.title === 'Sunday service', null, { timeout: 8000 });
      const station = await page.locator('#station').textContent();
      expect(await page.evaluate(() => navigator.mediaSession.metadata?.artist)).toBe(station!);

      // The jargon is in the fold, closed; plain words outside it.
      const details = page.locator('details#details');
      expect(await details.getAttribute('open')).toBeNull();
      for (const sel of ['#mode', '#lowlatency', '#latency', '#codec', '#stream-link']) {
        expect(await page.locator(`details#details ${sel}`).count()).toBe(1);
        expect(await page.locator(sel).isVisible()).toBe(false);
      }
      await page.locator('details#details summary').click();
      expect(await page.locator('#mode').isVisible()).toBe(true);
      expect(await page.locator('.alt').textContent()).toContain('Open in another player (VLC, etc.):');
      expect(await page.locator('#stream-link').textContent()).toBe(`${plain.url}/stream.mp3`);
      const body = (await page.locator('main').textContent())!;
      expect(body).not.toContain('WHEP');

      // Off air while playing: the page says so in words, and comes back to "Playing".
      await action(plain, 'stop');
      await page.waitForFunction(() => document.querySelector('#state')?.textContent?.startsWith('Connected. Off air right now'), null, { timeout: 8000 });
      await page.screenshot({ path: `${SHOTS}/listen-offair-playing-phone.png`, fullPage: true });
      await action(plain, 'go_live');
      await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'Playing', null, { timeout: 8000 });
    } finally {
      await fetch(`${plain.url}/api/actions/go_live`, { method: 'POST' });
      await context.close();
    }
  }, 60_000);

  for (const size of ['phone', 'desktop'] as const) {
    for (const scheme of ['light', 'dark'] as const) {
      test(`${size} ${scheme}: touch targets ≥ 44 px, unique ids, no serious axe findings, no horizontal scroll`, async () => {
        const { page, context } = await open(plain, size, scheme, '?autoplay=1');
        try {
          await waitPlaying(page);
          await page.locator('details#details summary').click();
          for (const sel of ['#play', '#volume', 'details#details summary', '#mode', 'label[for="lowlatency"]']) {
            const box = await page.locator(sel).boundingBox();
            expect(box, sel).toBeTruthy();
            expect(box!.height, `${sel} height`).toBeGreaterThanOrEqual(44);
            expect(box!.width, `${sel} width`).toBeGreaterThanOrEqual(44);
          }
          const ids = await page.evaluate(() => [...document.querySelectorAll('[id]')].map((e) => e.id));
          expect(new Set(ids).size).toBe(ids.length);
          expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
          await injectAxe(page);
          const violations = await page.evaluate(async () => {
            const r = await window.axe.run(document, { resultTypes: ['violations'] });
            return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
          });
          expect(violations).toEqual([]);
          await page.screenshot({ path: `${SHOTS}/listen-details-${size}-${scheme}.png`, fullPage: true });
        } finally {
          await context.close();
        }
      }, 60_000);
    }
  }

  test('stopped: says "Press Play to listen", the readouts show "—"', async () => {
    const { page, context } = await open(plain, 'phone', 'dark');
    try {
      expect(await page.locator('#state').textContent()).toBe('Press Play to listen');
      expect(await phase(page)).toBe('stopped');
      expect(await page.locator('.meter .db').allTextContents()).toEqual(['—', '—']);
    } finally {
      await context.close();
    }
  }, 30_000);
});
