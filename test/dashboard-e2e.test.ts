/**
 * The dashboard as the people who run a service see it, in headless Chromium at phone and
 * desktop sizes against a real daemon: "are we on air?" at the top, above the fold on a phone
 * with the Go live / Stop buttons; "Live, but nothing is sending yet" on a fresh box; the
 * share card (addresses, Copy, a QR code that encodes the address shown, the listener token);
 * the title field pre-filled and following the title; marks explained, results beside the
 * buttons. Then with a real icecast2: one destination on air (timer that ticks, MB sent) and
 * one with a wrong password (the alert at the top, the amber "Live — 1 problem" badge on
 * every page). Screenshots of both go to /tmp/shots-h4/.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import qrcode from 'qrcode-generator';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { injectAxe, launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { startIcecast, type IcecastServer } from './lib/icecast.ts';
import { qrPath } from '../web/templates/dashboard.ts';
import { submitSetup } from './lib/session.ts';

const PASSWORD = 'correct horse battery';
const SHOTS = '/tmp/shots-h4';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1366, height: 900 };
// Fixed UDP ports from this file's range (29400-29499): the default 8189 may be taken by
// another hark on the machine. Everything else is the default config.
const UDP_DEFAULT = 29400 + Math.floor(Math.random() * 40);
const UDP_ICECAST = 29450 + Math.floor(Math.random() * 40);

let chrome: ChromiumHandle;

/** PATCH the config over the CLI socket (as `hark config set` does). */
function setConfig(h: HarkProcess, entries: Record<string, unknown>): Promise<Response> {
  return fetch('http://localhost/api/config', {
    method: 'PATCH',
    unix: `${h.dir}/hark.sock`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(entries),
  } as RequestInit);
}

/** Run a control action over the CLI socket (as `hark title …` does). */
function action(h: HarkProcess, name: string, args: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`http://localhost/api/actions/${name}`, {
    method: 'POST',
    unix: `${h.dir}/hark.sock`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(args),
  } as RequestInit);
}

/** A fresh box: the first visit goes to /setup; setting the password lands on the dashboard. */
async function firstRun(h: HarkProcess, ctx: BrowserContext): Promise<Page> {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
  await page.goto(`${h.url}/`);
  expect(new URL(page.url()).pathname).toBe('/setup');
  await submitSetup(page, h.url, PASSWORD);
  await page.locator('#on-air').waitFor();
  return page;
}

/** A logged-in page in a new context (the same session cookie) of the given size and theme. */
async function pageLike(from: BrowserContext, size: { width: number; height: number }, dark = false): Promise<Page> {
  const ctx = await chrome.browser.newContext({ viewport: size, colorScheme: dark ? 'dark' : 'light', isMobile: size.width < 500, hasTouch: size.width < 500 });
  await ctx.addCookies(await from.cookies());
  return ctx.newPage();
}

/**
 * Screenshots of the dashboard, phone and desktop, light and dark; returns the files. One page
 * per size, the theme switched in place (cheaper than a context per picture on a loaded box).
 */
async function shots(h: HarkProcess, from: BrowserContext, name: string, ready: (p: Page) => Promise<unknown>): Promise<string[]> {
  mkdirSync(SHOTS, { recursive: true });
  const files: string[] = [];
  for (const [size, sname] of [[PHONE, 'phone'], [DESKTOP, 'desktop']] as const) {
    const p = await pageLike(from, size);
    try {
      await p.goto(`${h.url}/`);
      await ready(p);
      for (const dark of [false, true]) {
        await p.emulateMedia({ colorScheme: dark ? 'dark' : 'light' });
        const file = `${SHOTS}/${name}-${sname}-${dark ? 'dark' : 'light'}.png`;
        await p.screenshot({ path: file, fullPage: sname === 'desktop', timeout: 60_000 });
        files.push(file);
      }
      if (sname === 'phone') {
        // The whole phone page too: what lies below the first screen.
        const file = `${SHOTS}/${name}-phone-dark-full.png`;
        await p.screenshot({ path: file, fullPage: true, timeout: 60_000 });
        files.push(file);
      }
    } finally {
      await p.context().close();
    }
  }
  return files;
}

/** axe-core's WCAG 2 A/AA findings inside the given elements, light and dark. */
async function axeViolations(p: Page, include: string[]): Promise<string[]> {
  await injectAxe(p);
  const out: string[] = [];
  for (const scheme of ['light', 'dark'] as const) {
    await p.emulateMedia({ colorScheme: scheme });
    const found = await p.evaluate(async (inc) => {
      const r = await window.axe.run(
        { include: inc.map((s) => [s]) },
        { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } },
      );
      return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    }, include);
    out.push(...found.map((f) => `${scheme}: ${f}`));
  }
  await p.emulateMedia({ colorScheme: 'light' });
  return out;
}

/** The bottom edge of an element, in CSS pixels from the top of the page. */
const bottomOf = (p: Page, sel: string) => p.locator(sel).evaluate((e) => e.getBoundingClientRect().bottom + window.scrollY);

beforeAll(async () => {
  chrome = await launchChromium();
}, 60_000);

afterAll(async () => {
  await chrome?.close();
});

describe('dashboard on a fresh box (default config)', () => {
  let hark: HarkProcess;
  let desk: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    hark = await startHark(`[webrtc]\nudp_port = ${UDP_DEFAULT}\n`);
    desk = await chrome.browser.newContext({ viewport: DESKTOP, permissions: ['clipboard-read', 'clipboard-write'] });
    page = await firstRun(hark, desk);
  }, 90_000);

  afterAll(async () => {
    await desk?.close();
    expect(await hark.stop()).toBe(0);
  });

  test('"Live, but nothing is sending yet", with links to add a destination and to share; above the fold on a phone', async () => {
    const head = page.locator('#on-air .onair-head');
    await expect(head.textContent()).resolves.toContain('Live, but nothing is sending yet');
    await expect(page.locator('#on-air a[href="/outputs"]').textContent()).resolves.toBe('Add a destination');
    await expect(page.locator('#on-air a[href="#share"]').isVisible()).resolves.toBe(true);
    const lines = await page.locator('#on-air li.dest').allTextContents();
    expect(lines).toEqual(['Recording: off', 'Listen page: nobody is listening']);
    await expect(page.locator('#state-badge').textContent()).resolves.toBe('Live');

    const phone = await pageLike(desk, PHONE);
    await phone.goto(`${hark.url}/`);
    // The summary and the big buttons are the first screen of a phone.
    expect(await bottomOf(phone, '#on-air')).toBeLessThanOrEqual(PHONE.height);
    expect(await bottomOf(phone, '#state-panel button.stop')).toBeLessThanOrEqual(PHONE.height);
    // The outputs table is folded at the bottom.
    await expect(phone.locator('details.outputs-fold').getAttribute('open')).resolves.toBeNull();
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    // The summary, the share card and the title panel pass axe's WCAG A/AA checks (contrast, labels, names).
    expect(await axeViolations(phone, ['#on-air', '#share', '#title-marks', '#state-badge'])).toEqual([]);
    await phone.context().close();
  }, 60_000);

  test('someone listening shows as "Listen page: 1 person", and nothing-sending goes away', async () => {
    const ac = new AbortController();
    const res = await fetch(`${hark.url}/stream.mp3`, { signal: ac.signal });
    const reader = res.body!.getReader();
    void (async () => {
      try {
        for (;;) if ((await reader.read()).done) break;
      } catch {
        // aborted
      }
    })();
    try {
      await page.waitForFunction(() => document.querySelector('#on-air')?.textContent?.includes('Listen page: 1 person'), null, { timeout: 5000 });
      await expect(page.locator('#on-air .onair-head').getAttribute('data-onair')).resolves.toBe('on');
    } finally {
      ac.abort();
    }
    await page.waitForFunction(() => document.querySelector('#on-air')?.textContent?.includes('Listen page: nobody is listening'), null, { timeout: 5000 });
  }, 30_000);

  test('the share card shows the full addresses, copies them, and its QR code encodes the address shown', async () => {
    const urls = await page.locator('#share .share-url').allTextContents();
    const port = new URL(hark.url).port;
    expect(urls[0]).toBe(`http://${hostname().replace(/\.local$/, '')}.local:${port}/listen`);
    expect(urls.length).toBeGreaterThanOrEqual(2);
    for (const u of urls.slice(1)) expect(u).toMatch(new RegExp(`^http://[^/]+:${port}/listen$`));
    // Loopback only when the box has no other address.
    if (urls.length > 2 || !urls[1]!.includes('127.0.0.1')) expect(urls.some((u) => u.includes('//127.'))).toBe(false);

    const shown = (await page.locator('#share .qr-text').textContent())!;
    expect(urls).toContain(shown);
    await expect(page.locator('#share .qr-box').getAttribute('data-url')).resolves.toBe(shown);
    // The SVG is the QR code of exactly that text: re-made here with the same library.
    const q = qrcode(0, 'M');
    q.addData(shown);
    q.make();
    const n = q.getModuleCount();
    const modules = Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => q.isDark(r, c)));
    const svg = page.locator('#share svg.qr');
    await expect(svg.getAttribute('data-modules')).resolves.toBe(String(n));
    await expect(svg.locator('path').getAttribute('d')).resolves.toBe(qrPath(modules));
    const box = await svg.boundingBox();
    expect(box!.width).toBeGreaterThanOrEqual(150);

    // Copy: the clipboard holds the address, and the card says so.
    await page.click('#share button[data-copy="share-url-1"]');
    await page.waitForFunction(() => document.querySelector('#share .copied')?.textContent?.startsWith('Copied'), null, { timeout: 5000 });
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(urls[1]!);
    // Without a clipboard (plain http to a LAN address): the address is selected instead.
    await page.evaluate(() => Object.defineProperty(navigator, 'clipboard', { value: { writeText: () => Promise.reject(new Error('not allowed')) } }));
    await page.click('#share button[data-copy="share-url-0"]');
    await page.waitForFunction(() => document.querySelector('#share .copied')?.textContent?.startsWith('Selected'), null, { timeout: 5000 });
    expect(await page.evaluate(() => String(window.getSelection()))).toBe(urls[0]!);

    // With a listener token, the links and the QR code carry it.
    expect((await setConfig(hark, { 'access.listener_token': 'pew pew' })).status).toBe(200);
    await page.reload();
    const withToken = await page.locator('#share .share-url').allTextContents();
    for (const u of withToken) expect(u).toEndWith('/listen?token=pew%20pew');
    const shownT = (await page.locator('#share .qr-text').textContent())!;
    expect(shownT).toEndWith('?token=pew%20pew');
    const qt = qrcode(0, 'M');
    qt.addData(shownT);
    qt.make();
    const nt = qt.getModuleCount();
    await expect(page.locator('#share svg.qr path').getAttribute('d')).resolves.toBe(qrPath(Array.from({ length: nt }, (_, r) => Array.from({ length: nt }, (_, c) => qt.isDark(r, c)))));
    // …and the link really opens the listen page.
    expect((await fetch(withToken[0]!.replace(/^http:\/\/[^/]+/, hark.url))).status).toBe(200);
    expect((await fetch(`${hark.url}/listen`)).status).toBe(401);
    expect((await setConfig(hark, { 'access.listener_token': '' })).status).toBe(200);
    await page.reload();
  }, 60_000);

  test('the title field shows the current title and follows it; Mark is explained; results sit beside their buttons', async () => {
    const input = page.locator('#title-input');
    await expect(input.inputValue()).resolves.toBe('');
    await input.fill('Sunday service — 10:30');
    await page.click('#title-form button[type=submit]');
    const result = page.locator('#title-form .result .notice');
    await result.waitFor({ timeout: 5000 });
    await expect(result.textContent()).resolves.toBe('Title set.');
    const [btn, res] = [await page.locator('#title-form button').boundingBox(), await result.boundingBox()];
    // Beside the button: on its line, just right of it (desktop).
    expect(Math.abs(res!.y + res!.height / 2 - (btn!.y + btn!.height / 2))).toBeLessThan(btn!.height);
    expect(res!.x - (btn!.x + btn!.width)).toBeLessThan(40);
    await page.waitForFunction(() => document.querySelector('#title-now')?.textContent?.includes('Sunday service — 10:30'), null, { timeout: 5000 });

    // Pre-filled on a new visit.
    await page.reload();
    await expect(input.inputValue()).resolves.toBe('Sunday service — 10:30');
    // Set elsewhere (the CLI): the field follows while nobody types in it.
    expect((await action(hark, 'set_metadata', { title: 'Choir' })).status).toBe(200);
    await page.waitForFunction(() => (document.getElementById('title-input') as HTMLInputElement).value === 'Choir', null, { timeout: 5000 });
    // …but not while someone is typing.
    await input.fill('Half-typed');
    expect((await action(hark, 'set_metadata', { title: 'Organ' })).status).toBe(200);
    await page.waitForFunction(() => document.querySelector('#title-now')?.textContent?.includes('Organ'), null, { timeout: 5000 });
    await expect(input.inputValue()).resolves.toBe('Half-typed');

    await expect(page.locator('#mark-help').textContent()).resolves.toContain('Mark a moment');
    await page.fill('#mark-input', 'Sermon starts');
    await page.click('#mark-form button[type=submit]');
    const mark = page.locator('#mark-form .result .notice');
    await mark.waitFor({ timeout: 5000 });
    await expect(mark.textContent()).resolves.toMatch(/^Marked “Sermon starts” at \d\d:\d\d:\d\d\. Not recording, so it is only noted in the log\.$/);
    expect(hark.output()).toContain('"Sermon starts"');
  }, 60_000);

  test('recording on: "Recording: recording for 00:00:0x, N MB", and a mark says how far into the recording it is', async () => {
    expect((await setConfig(hark, { 'recording.enabled': true })).status).toBe(200);
    const line = page.locator('#on-air li.dest', { hasText: 'Recording:' });
    await page.waitForFunction(() => /Recording: recording for \d\d:\d\d:\d\d, \d+(\.\d)? MB/.test(document.querySelector('#on-air')?.textContent ?? ''), null, { timeout: 10_000 });
    await expect(page.locator('#on-air .onair-head').getAttribute('data-onair')).resolves.toBe('on');
    await expect(line.locator('.timer').getAttribute('data-since')).resolves.toMatch(/^\d{4}-\d\d-\d\dT/);
    await page.fill('#mark-input', 'Anthem');
    await page.click('#mark-form button[type=submit]');
    await page.waitForFunction(() => /^Marked “Anthem” at \d\d:\d\d:\d\d, \d\d:\d\d:\d\d into the recording\. Play it on the Recordings page$/.test(document.querySelector('#mark-form .result')?.textContent ?? ''), null, { timeout: 5000 });
    const said = (await page.locator('#mark-form .result').textContent())!;
    const offset = said.match(/, (\d\d):(\d\d):(\d\d) into/)!.slice(1).map(Number).reduce((a, n) => a * 60 + n, 0);
    // Some audio after the mark, so there is something to play from it.
    await Bun.sleep(2500);
    expect((await setConfig(hark, { 'recording.enabled': false })).status).toBe(200);
    await page.waitForFunction(() => document.querySelector('#on-air')?.textContent?.includes('Recording: off'), null, { timeout: 10_000 });

    // The Recordings page keeps the mark with the recording, and plays from it.
    await page.click('#mark-form .result a[href="/recordings"]');
    await page.waitForURL(/\/recordings$/);
    const item = page.locator('li.recording').first();
    await expect(item.locator('.rec-marks summary').textContent()).resolves.toBe('1 marked moment');
    const seek = item.locator('button.seek');
    await expect(seek.textContent()).resolves.toMatch(/^\d\d:\d\d:\d\d Anthem$/);
    await expect(seek.getAttribute('aria-label')).resolves.toMatch(/^Play from \d\d:\d\d:\d\d: Anthem$/);
    const at = Number(await seek.getAttribute('data-seek'));
    expect(Math.abs(at - offset)).toBeLessThanOrEqual(1.5);
    await seek.click();
    const played = await page.waitForFunction(
      () => {
        const a = document.querySelector('li.recording audio') as HTMLAudioElement | null;
        return a && !a.paused && a.currentTime > 0 ? a.currentTime : null;
      },
      null,
      { timeout: 10_000 },
    );
    const t = (await played.jsonValue()) as number;
    expect(t).toBeGreaterThanOrEqual(at - 0.5);
    expect(t).toBeLessThan(at + 3);
    await page.evaluate(() => (document.querySelector('li.recording audio') as HTMLAudioElement).pause());
    await page.goto(`${hark.url}/`);
  }, 60_000);

  test('Stop: "Off air" in plain words, the Go live button, and the badge says so', async () => {
    await page.click('#state-panel button.stop');
    await page.waitForFunction(() => document.querySelector('#on-air .onair-head')?.getAttribute('data-onair') === 'off', null, { timeout: 5000 });
    await expect(page.locator('#on-air .onair-head').textContent()).resolves.toContain('Off air');
    await expect(page.locator('#state-panel button.go').isVisible()).resolves.toBe(true);
    await page.waitForFunction(() => document.querySelector('#state-badge')?.textContent === 'Off air', null, { timeout: 5000 });
    const files = await shots(hark, desk, 'dashboard-offair', (p) => p.locator('#on-air').waitFor());
    console.log(`screenshots: ${files.join(' ')}`);
    await page.click('#state-panel button.go');
    await page.waitForFunction(() => document.querySelector('#on-air .onair-head')?.getAttribute('data-onair') === 'nothing', null, { timeout: 5000 });
  }, 180_000);

  test('screenshots of a fresh box that is live', async () => {
    const live = await shots(hark, desk, 'dashboard-fresh', (p) => p.locator('#on-air [data-onair="nothing"]').waitFor());
    console.log(`screenshots: ${live.join(' ')}`);
  }, 180_000);
});

describe('dashboard with Icecast destinations: one on air, one with a wrong password', () => {
  let hark: HarkProcess;
  let ice: IcecastServer;
  let desk: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    ice = await startIcecast();
    // A recordings "directory" under a plain file: the recorder cannot create it.
    const blocker = join(mkdtempSync(join(tmpdir(), 'hark-dash-')), 'a-file');
    writeFileSync(blocker, '');
    hark = await startHark(`[webrtc]
udp_port = ${UDP_ICECAST}

[recording]
dir = "${blocker}/recordings"

[[icecast]]
id = "main"
host = "127.0.0.1"
port = ${ice.port}
mount = "/live.mp3"
password = "${ice.sourcePassword}"

[[icecast]]
id = "backup"
host = "127.0.0.1"
port = ${ice.port}
mount = "/backup.mp3"
password = "not the password"
`);
    desk = await chrome.browser.newContext({ viewport: DESKTOP });
    page = await firstRun(hark, desk);
  }, 90_000);

  afterAll(async () => {
    await desk?.close();
    expect(await hark.stop()).toBe(0);
    await ice?.stop();
  });

  test('the one on air shows a ticking timer and MB sent; the refused one raises the alert and the amber badge', async () => {
    await ice.waitForSource('/live.mp3', 15_000);
    const good = page.locator('#on-air li.dest', { hasText: `Icecast server (127.0.0.1:${ice.port}/live.mp3)` });
    const bad = page.locator('#on-air li.dest', { hasText: `Icecast server (127.0.0.1:${ice.port}/backup.mp3)` });
    await good.locator('.timer').waitFor({ timeout: 10_000 });
    await expect(good.textContent()).resolves.toMatch(/: on air for \d\d:\d\d:\d\d, \d+(\.\d)? MB sent$/);
    // The timer ticks in the browser.
    const t0 = (await good.locator('.timer').textContent())!;
    await page.waitForFunction((t) => document.querySelector('#on-air li.dest .timer')!.textContent! > t, t0, { timeout: 5000 });
    // Bytes are counted: at 128 kbit/s, 0.1 MB within about 7 s.
    await page.waitForFunction(
      () => [...document.querySelectorAll('#on-air li.dest')].some((li) => /on air for .*, (\d+\.\d|\d+) MB sent/.test(li.textContent!) && !/, 0\.0 MB/.test(li.textContent!)),
      null,
      { timeout: 15_000 },
    );

    await bad.waitFor({ timeout: 10_000 });
    await page.waitForFunction(() => document.querySelector('#on-air .onair-alert')?.textContent?.includes('refused the password'), null, { timeout: 10_000 });
    await expect(bad.textContent()).resolves.toContain('the server refused the password; trying again in');
    await expect(page.locator('#on-air .onair-head').textContent()).resolves.toBe('Live — 1 problem');
    const alert = page.locator('#on-air .onair-alert');
    await expect(alert.getAttribute('role')).resolves.toBe('alert');
    await expect(alert.textContent()).resolves.toContain(`Icecast server (127.0.0.1:${ice.port}/backup.mp3): the server refused the password`);
    await page.waitForFunction(() => document.querySelector('#state-badge')?.textContent === 'Live — 1 problem', null, { timeout: 5000 });
    const amber = await page.locator('#state-badge .badge').evaluate((e) => getComputedStyle(e).backgroundColor);
    expect(amber).toBe('rgb(242, 181, 58)');
    expect(await axeViolations(page, ['#on-air', '#state-badge'])).toEqual([]);

    // The badge says so on every admin page, and the alert is on the phone's first screen.
    for (const path of ['/outputs', '/input', '/system']) {
      await page.goto(`${hark.url}${path}`);
      await expect(page.locator('#state-badge').textContent()).resolves.toBe('Live — 1 problem');
    }
    const phone = await pageLike(desk, PHONE);
    await phone.goto(`${hark.url}/`);
    expect(await bottomOf(phone, '#on-air .onair-alert')).toBeLessThanOrEqual(PHONE.height);
    expect(await bottomOf(phone, '#state-panel button.stop')).toBeLessThanOrEqual(PHONE.height);
    await phone.context().close();

    const files = await shots(hark, desk, 'dashboard-icecast', (p) => p.waitForFunction(() => !!document.querySelector('#on-air .onair-alert') && document.querySelector('#on-air .timer')?.textContent !== ''));
    console.log(`screenshots: ${files.join(' ')}`);

    // Fixed: the badge is plain "Live" again and the alert goes.
    expect((await setConfig(hark, { 'icecast.1.enabled': false })).status).toBe(200);
    await page.goto(`${hark.url}/`);
    await page.waitForFunction(() => document.querySelector('#state-badge')?.textContent === 'Live' && !document.querySelector('#on-air .onair-alert'), null, { timeout: 10_000 });

    // A recorder that cannot write is a problem too.
    expect((await setConfig(hark, { 'recording.enabled': true })).status).toBe(200);
    await page.waitForFunction(() => document.querySelector('#state-badge')?.textContent === 'Live — 1 problem', null, { timeout: 10_000 }).catch(async (e) => {
      console.log(`[dashboard-e2e] badge ${JSON.stringify(await page.locator('#state-badge').textContent())}, alert ${JSON.stringify(await page.locator('#on-air').textContent())}`);
      throw e;
    });
    await expect(page.locator('#on-air .onair-alert').textContent()).resolves.toMatch(/Recording: failed \(cannot create .*recordings/);
  }, 240_000);
});
