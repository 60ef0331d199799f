/**
 * The listen page with several programs (issue 18), in Chromium at phone (390×844) and desktop
 * (1366×900) sizes: a chooser of large radio cards, each with the program's name, its language
 * in words and a live level bar; choosing another program while playing switches without a
 * reload (the old WHEP session deleted, the new one playing), the address becomes
 * /listen/<id>, the choice is remembered, and every way of listening (WebRTC, MP3 over the data
 * channel, the plain MP3 stream, the link for other players) carries the chosen program and the
 * listener token. With one program (the default config) there is no chooser.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumAvailable, injectAxe, launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { freeUdpPort } from './lib/whep-client.ts';

const SHOTS = '/tmp/shots-programs';
const SIZES = { phone: { width: 390, height: 844 }, desktop: { width: 1366, height: 900 } } as const;
const TOKEN = 'sesame';

let chrome: ChromiumHandle;
/** hark with two programs from a two-channel tone: Floor (1–2, the default) and Español (2). */
let multi: HarkProcess;
/** hark with the default config: one program, no chooser. */
let plain: HarkProcess;

const programsToml = (udp: number) => `[input]
source = "tone"
channels = 2
[tone]
level_dbfs = -12
[access]
listener_token = "${TOKEN}"
[webrtc]
udp_port = ${udp}
[[program]]
id = "floor"
name = "Floor"
language = "en"
channels = [1, 2]
[[program]]
id = "es"
name = "Español"
language = "es"
channels = [2]
`;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const [u1, u2] = [await freeUdpPort(), await freeUdpPort()];
  [multi, plain, chrome] = await Promise.all([
    startHark(programsToml(u1), { timeoutMs: 60_000 }),
    startHark(`[webrtc]\nudp_port = ${u2}\n`, { timeoutMs: 60_000 }),
    launchChromium(),
  ]);
}, 90_000);

afterAll(async () => {
  await chrome?.close();
  await multi?.stop();
  await plain?.stop();
}, 30_000);

/** A fresh browser profile (nothing remembered) at `size`, on `path` of `hark`. */
async function open(hark: HarkProcess, size: keyof typeof SIZES, path: string, scheme: 'light' | 'dark' = 'light'): Promise<{ page: Page; context: BrowserContext }> {
  const context = await chrome.browser.newContext({ viewport: SIZES[size], colorScheme: scheme });
  const page = await context.newPage();
  page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
  await page.goto(`${hark.url}${path}`);
  return { page, context };
}

/** Playing over WebRTC with the session's packets arriving (the stats start at zero per session). */
async function waitPlaying(p: Page, program: string, timeout = 15_000) {
  await p.waitForFunction(
    (id) => {
      const h = window.hark;
      return h.program === id && h.phase === 'playing' && h.transport === 'webrtc' && Number(h.stats.packets) > 50;
    },
    program,
    { timeout, polling: 100 },
  );
}

/** The chooser as a listener sees it: each card's name, language line, state and size. */
const cards = (p: Page) =>
  p.evaluate(() =>
    [...document.querySelectorAll('#program-list [role="radio"]')].map((el) => {
      const r = el.getBoundingClientRect();
      const lang = el.querySelector('.lang') as HTMLElement;
      const muted = el.querySelector('.tag') as HTMLElement;
      return {
        name: el.querySelector('.name')!.textContent,
        lang: lang.hidden ? '' : lang.textContent,
        checked: el.getAttribute('aria-checked'),
        tabIndex: (el as HTMLElement).tabIndex,
        muted: !muted.hidden,
        width: r.width,
        height: r.height,
        // How far along the bar the level ends, and how wide the coloured strip under it is (the
        // whole bar: its zones stay where the big meters' are).
        fill: (el.querySelector('.level-fill') as HTMLElement).getBoundingClientRect().width / (el.querySelector('.level') as HTMLElement).getBoundingClientRect().width,
        zones: (el.querySelector('.level .zones') as HTMLElement).getBoundingClientRect().width / (el.querySelector('.level') as HTMLElement).getBoundingClientRect().width,
      };
    }),
  );

const webrtcListeners = async () => {
  const res = await fetch(`${multi.url}/api/listeners`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { webrtc: { program: string }[] }).webrtc;
};

describe.skipIf(!chromiumAvailable())('listen page: programs', () => {
  test('GET /listen/info lists both programs, the default first', async () => {
    const info = (await (await fetch(`${multi.url}/listen/info?token=${TOKEN}`)).json()) as { main: string; programs: { id: string; name: string; language: string; muted: boolean }[] };
    expect(info.programs.map((p) => [p.id, p.name, p.language, p.muted])).toEqual([
      ['floor', 'Floor', 'en', false],
      ['es', 'Español', 'es', false],
    ]);
    expect(info.main).toBe('floor');
  });

  for (const size of ['phone', 'desktop'] as const) {
    test(`${size}: the chooser lists Floor and Español with their languages, as radios of 44 px and more, each card's level moving`, async () => {
      const { page, context } = await open(multi, size, `/listen?token=${TOKEN}`);
      try {
        await page.locator('#programs').waitFor({ state: 'visible', timeout: 8000 });
        expect(await page.locator('#programs-heading').textContent()).toBe('Choose what to hear');
        expect(await page.locator('[role="radiogroup"]').getAttribute('aria-labelledby')).toBe('programs-heading');
        const cs = await cards(page);
        expect(cs.map((c) => [c.name, c.lang, c.checked, c.tabIndex, c.muted])).toEqual([
          ['Floor', 'English', 'true', 0, false],
          ['Español', 'Español — Spanish', 'false', -1, false],
        ]);
        for (const c of cs) {
          expect(c.height).toBeGreaterThanOrEqual(44);
          expect(c.width).toBeGreaterThanOrEqual(280);
        }
        // Nothing chosen yet: the default program, its name in the heading; the address names it.
        expect(await page.locator('h1').textContent()).toContain('Floor');
        expect(await page.title()).toBe('Listen live — Floor');
        expect(new URL(page.url()).pathname).toBe('/listen/floor');
        expect(new URL(page.url()).search).toBe(`?token=${TOKEN}`);
        // Each card's bar shows its program's level from /listen/events, before Play is pressed.
        await page.waitForFunction(() => {
          const l = window.hark.programLevels;
          return (l.floor ?? -Infinity) > -60 && (l.es ?? -Infinity) > -60;
        }, null, { timeout: 8000, polling: 100 });
        const levels = await page.evaluate(() => window.hark.programLevels);
        // A −12 dBFS tone: each bar ends about 80 % along (−60 … 0 dBFS, like the big meters).
        for (const id of ['floor', 'es']) expect(Math.abs(levels[id]! + 12)).toBeLessThan(3);
        await page.waitForTimeout(400);
        for (const c of await cards(page)) {
          expect(Math.abs(c.fill - 0.8)).toBeLessThan(0.06);
          expect(Math.abs(c.zones - 1)).toBeLessThan(0.01);
        }
        expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
        for (const scheme of ['light', 'dark'] as const) {
          await page.emulateMedia({ colorScheme: scheme });
          await injectAxe(page);
          const violations = await page.evaluate(async () => {
            const r = await window.axe.run(document, { resultTypes: ['violations'] });
            return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
          });
          expect(violations).toEqual([]);
          await page.screenshot({ path: `${SHOTS}/chooser-${size}-${scheme}.png`, fullPage: true });
        }
      } finally {
        await context.close();
      }
    }, 60_000);

    test(`${size}: choosing Español while playing switches without a reload, and the choice is remembered`, async () => {
      const { page, context } = await open(multi, size, `/listen?autoplay=1&token=${TOKEN}`);
      try {
        await waitPlaying(page, 'floor');
        expect(await page.evaluate(() => window.hark.player.session.url)).toBe('/whep');
        // A reload would load the document again (history.replaceState only changes the address).
        let loads = 0;
        page.on('load', () => loads++);
        await page.evaluate(() => ((window as Window & { marker?: number }).marker = 42));
        const sessions = await page.evaluate(() => window.hark.sessions);

        await page.getByRole('radio', { name: /Español/ }).click();
        await waitPlaying(page, 'es');
        const after = await page.evaluate(() => ({
          marker: (window as Window & { marker?: number }).marker,
          navigations: performance.getEntriesByType('navigation').length,
          sessions: window.hark.sessions,
          url: window.hark.player.session.url,
          stored: localStorage.getItem('hark.program'),
        }));
        expect(after.marker).toBe(42);
        expect(loads).toBe(0);
        expect(after.navigations).toBe(1);
        expect(after.sessions).toBe(sessions + 1);
        expect(after.url).toBe('/whep/es');
        expect(after.stored).toBe('es');
        // Audio keeps coming on the new session.
        const packets = await page.evaluate(() => Number(window.hark.stats.packets));
        await page.waitForTimeout(1000);
        expect(await page.evaluate(() => Number(window.hark.stats.packets))).toBeGreaterThan(packets + 30);
        expect(await page.locator('#state').textContent()).toBe('Playing');
        // The old session was ended: hark has one WebRTC listener, on Español.
        await Bun.sleep(300);
        expect((await webrtcListeners()).map((l) => l.program)).toEqual(['es']);

        const url = new URL(page.url());
        expect(url.pathname).toBe('/listen/es');
        expect(url.search).toBe(`?autoplay=1&token=${TOKEN}`);
        expect(await page.locator('h1').textContent()).toContain('Español');
        expect(await page.title()).toBe('Listen live — Español');
        expect((await cards(page)).map((c) => [c.name, c.checked, c.tabIndex])).toEqual([
          ['Floor', 'false', -1],
          ['Español', 'true', 0],
        ]);
        expect(await page.locator('#stream-link').getAttribute('href')).toBe(`/stream/es.mp3?token=${TOKEN}`);
        expect(await page.locator('#stream-link').textContent()).toBe(`${multi.url}/stream/es.mp3?token=${TOKEN}`);
        expect((await fetch(`${multi.url}/stream/es.mp3?token=${TOKEN}`, { signal: AbortSignal.timeout(5000) }).then(async (r) => (await r.body?.cancel(), r.status)))).toBe(200);
        expect(await page.evaluate(() => navigator.mediaSession.metadata?.artist)).toMatch(/ — Español$/);
        await page.screenshot({ path: `${SHOTS}/switched-${size}.png`, fullPage: true });

        // Stop, then a fresh visit to /listen: Español, remembered on this device.
        await page.locator('#play').click();
        await page.goto(`${multi.url}/listen?token=${TOKEN}`);
        await page.waitForFunction(() => document.querySelector('[role="radio"][aria-checked="true"]')?.textContent?.startsWith('Español'), null, { timeout: 8000 });
        expect(await page.evaluate(() => window.hark.program)).toBe('es');
        expect(new URL(page.url()).pathname).toBe('/listen/es');

        // A link to /listen/floor opens Floor, whatever was remembered.
        await page.goto(`${multi.url}/listen/floor?autoplay=1&token=${TOKEN}`);
        await waitPlaying(page, 'floor');
        expect(await page.locator('[role="radio"][aria-checked="true"] .name').textContent()).toBe('Floor');
        expect(await page.title()).toBe('Listen live — Floor');
        expect(await page.locator('#stream-link').getAttribute('href')).toBe(`/stream.mp3?token=${TOKEN}`);
      } finally {
        await context.close();
      }
    }, 90_000);
  }

  test('keyboard: one tab stop; the arrow keys choose the next and previous program', async () => {
    // The token in the fragment (never sent to the server): the page is let in by the cookie
    // its first visit with ?token= left, and carries the token itself, on every address.
    const { page, context } = await open(multi, 'phone', `/listen?token=${TOKEN}`);
    try {
      await page.goto(`${multi.url}/listen/floor#token=${TOKEN}`);
      await page.locator('#programs').waitFor({ state: 'visible', timeout: 8000 });
      await page.getByRole('radio', { name: /Floor/ }).focus();
      await page.keyboard.press('ArrowDown');
      await page.waitForFunction(() => window.hark.program === 'es');
      expect(await page.evaluate(() => document.activeElement?.querySelector('.name')?.textContent)).toBe('Español');
      expect(await page.getByRole('radio', { name: /Español/ }).getAttribute('aria-checked')).toBe('true');
      expect(new URL(page.url()).pathname).toBe('/listen/es');
      expect(new URL(page.url()).hash).toBe(`#token=${TOKEN}`);
      expect(await page.locator('#stream-link').getAttribute('href')).toBe(`/stream/es.mp3?token=${TOKEN}`);
      await page.keyboard.press('ArrowDown'); // wraps round
      await page.waitForFunction(() => window.hark.program === 'floor');
      await page.keyboard.press('End');
      await page.waitForFunction(() => window.hark.program === 'es');
      // Tab leaves the group (the other radio is not a tab stop) for the Play button.
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('play');
      await page.keyboard.press('Shift+Tab');
      expect(await page.evaluate(() => document.activeElement?.querySelector('.name')?.textContent)).toBe('Español');
      await page.screenshot({ path: `${SHOTS}/keyboard-focus-phone.png` });
    } finally {
      await context.close();
    }
  }, 30_000);

  test('a program muted alone says "Muted" on its card, and on the page while it plays', async () => {
    const { page, context } = await open(multi, 'phone', `/listen/es?autoplay=1&token=${TOKEN}`);
    const mute = (action: string) => fetch(`${multi.url}/api/actions/${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ program: 'es' }) });
    try {
      await waitPlaying(page, 'es');
      expect((await mute('mute')).status).toBe(200);
      await page.waitForFunction(() => !(document.querySelector('[data-program="es"] .tag') as HTMLElement).hidden, null, { timeout: 8000 });
      expect((await cards(page)).map((c) => [c.name, c.muted])).toEqual([
        ['Floor', false],
        ['Español', true],
      ]);
      expect(await page.getByRole('radio', { name: /Español/ }).textContent()).toContain('Muted');
      // Its bar is empty (its listeners hear nothing); Floor's still moves.
      await page.waitForTimeout(400);
      expect((await cards(page)).map((c) => c.fill > 0.5)).toEqual([true, false]);
      expect(await page.locator('#onair-text').textContent()).toBe('Muted');
      expect(await page.locator('#state').textContent()).toBe('Connected. The sound is muted right now.');
      await page.screenshot({ path: `${SHOTS}/muted-phone.png`, fullPage: true });
      expect((await mute('unmute')).status).toBe(200);
      await page.waitForFunction(() => (document.querySelector('[data-program="es"] .tag') as HTMLElement).hidden, null, { timeout: 8000 });
      expect(await page.locator('#onair-text').textContent()).toBe('On air');
    } finally {
      await mute('unmute');
      await context.close();
    }
  }, 60_000);

  test('every way of listening carries the chosen program: MP3 over the data channel and the plain MP3 stream', async () => {
    const { page, context } = await open(multi, 'desktop', `/listen/es?mode=mp3&autoplay=1&token=${TOKEN}`);
    try {
      await page.waitForFunction(() => window.hark.phase === 'playing' && window.hark.transport === 'mp3' && Number(window.hark.stats.mp3Bytes) > 4000, null, { timeout: 15_000, polling: 100 });
      expect(await page.evaluate(() => window.hark.player.session.url)).toBe('/whep/es');
      await page.locator('details#details summary').click();
      await page.locator('#mode').selectOption('http');
      await page.waitForFunction(() => window.hark.phase === 'playing' && window.hark.transport === 'http', null, { timeout: 15_000, polling: 100 });
      const src = await page.evaluate(() => (document.getElementById('audio') as HTMLAudioElement).currentSrc);
      expect(new URL(src).pathname).toBe('/stream/es.mp3');
      expect(new URL(src).searchParams.get('token')).toBe(TOKEN);
      // Switching in this mode moves the plain stream too (the default program: /stream.mp3).
      await page.getByRole('radio', { name: /Floor/ }).click();
      await page.waitForFunction(() => window.hark.phase === 'playing' && window.hark.transport === 'http' && window.hark.program === 'floor', null, { timeout: 15_000, polling: 100 });
      expect(new URL(await page.evaluate(() => (document.getElementById('audio') as HTMLAudioElement).currentSrc)).pathname).toBe('/stream.mp3');
    } finally {
      await context.close();
    }
  }, 60_000);

  test('after hark restarts in place, the page comes back on the chosen program over WebRTC', async () => {
    const { page, context } = await open(multi, 'phone', `/listen/es?autoplay=1&token=${TOKEN}`);
    try {
      await waitPlaying(page, 'es');
      const before = await page.evaluate(() => ({ instance: window.hark.instance, sessions: window.hark.sessions }));
      expect((await fetch(`${multi.url}/api/restart`, { method: 'POST' })).status).toBe(200);
      await page.waitForFunction((old) => window.hark.instance !== old.instance && window.hark.sessions > old.sessions, before, { timeout: 30_000, polling: 100 });
      await waitPlaying(page, 'es', 20_000);
      expect(await page.evaluate(() => window.hark.player.session.url)).toBe('/whep/es');
      expect(new URL(page.url()).pathname).toBe('/listen/es');
      expect(await page.getByRole('radio', { name: /Español/ }).getAttribute('aria-checked')).toBe('true');
    } finally {
      await context.close();
    }
  }, 60_000);

  for (const size of ['phone', 'desktop'] as const) {
    test(`${size}: with the default config (one program) there is no chooser, and the page is as before`, async () => {
      const { page, context } = await open(plain, size, '/listen?autoplay=1');
      try {
        await page.waitForFunction(() => window.hark.phase === 'playing' && Number(window.hark.stats.packets) > 50, null, { timeout: 15_000, polling: 100 });
        const station = ((await (await fetch(`${plain.url}/listen/info`)).json()) as { station: string }).station;
        expect(await page.locator('h1#station').textContent()).toBe(station);
        expect(await page.locator('#programs').isVisible()).toBe(false);
        expect(await page.locator('[role="radio"]').count()).toBe(0);
        expect(await page.title()).toBe(`${station} — listen`);
        expect(new URL(page.url()).pathname).toBe('/listen');
        expect(await page.evaluate(() => window.hark.player.session.url)).toBe('/whep');
        expect(await page.locator('#stream-link').getAttribute('href')).toBe('/stream.mp3');
        expect(await page.evaluate(() => localStorage.getItem('hark.program'))).toBeNull();
        await page.screenshot({ path: `${SHOTS}/one-program-${size}.png`, fullPage: true });
      } finally {
        await context.close();
      }
    }, 60_000);
  }
});
