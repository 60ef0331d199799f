/**
 * What the last review of issue 13 still found, walked in Chromium at phone and desktop sizes
 * against a real daemon (a test tone: the meters, the recording and the marks need audio):
 * free space in GB wherever a person reads it; the dashboard counts listeners once; while the
 * connection is lost the action buttons wait and say why, and come back without a reload; the
 * meter scales' labels do not collide on a phone; marks travel with the recording as a CUE
 * sheet; the share card and the System page name the box as avahi announces it.
 *
 * Fixed ports (this file's range, 31100–31199): HTTP 31100, WebRTC UDP 31101 — the restart
 * needs the page's address to stay the same.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { launchChromium, waitInPage, type ChromiumHandle } from './lib/browser.ts';
import { setupInPage, useSession } from './lib/session.ts';

const PASSWORD = 'correct horse battery';
const HTTP_PORT = 31100;
const SHOTS = '/tmp/shots-u1';
const stateDir = mkdtempSync(join(tmpdir(), 'hark-residuals-state-'));
const recDir = join(stateDir, 'recordings');
const mdnsFile = join(stateDir, 'mdns-name');
const TOML = `
[input]
source = "tone"

[tone]
frequency = 1000
level_dbfs = -14

[control]
state_dir = "${stateDir}"

[recording]
dir = "${recDir}"

[webrtc]
udp_port = 31101
`;
const SIZES = { phone: { width: 390, height: 844 }, desktop: { width: 1366, height: 900 } } as const;

let hark: HarkProcess;
let chrome: ChromiumHandle;
let cookie = '';

const start = () => startHark(TOML, { args: ['--port', String(HTTP_PORT)], env: { HARK_MDNS_NAME_FILE: mdnsFile } });

/** A control action over the CLI socket (as `hark record`, `hark mark` do). */
async function action(name: string, args: Record<string, unknown> = {}): Promise<void> {
  const res = await fetch(`http://localhost/api/actions/${name}`, {
    method: 'POST',
    unix: `${stateDir}/hark.sock`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(args),
  } as RequestInit);
  expect(res.status, `${name}: ${await res.clone().text()}`).toBe(200);
}

/** GET over the CLI socket (no login). */
async function api(path: string): Promise<any> {
  const res = await fetch(`http://localhost${path}`, { unix: `${stateDir}/hark.sock` } as RequestInit);
  expect(res.status).toBe(200);
  return res.json();
}

async function pageAt(size: keyof typeof SIZES): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await chrome.browser.newContext({ viewport: SIZES[size], isMobile: size === 'phone', hasTouch: size === 'phone' });
  await useSession(ctx, `http://127.0.0.1:${HTTP_PORT}`, cookie);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
  return { ctx, page };
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  hark = await start();
  chrome = await launchChromium();
  const page = await chrome.newPage();
  cookie = await setupInPage(page, hark.url, PASSWORD, '/');
  // A fresh install starts live (control.on_boot = "last"); go live if it is not.
  if ((await api('/api/status')).state !== 'live') await action('go_live');
}, 120_000);

afterAll(async () => {
  await chrome?.close();
  expect(await hark?.stop()).toBe(0);
});

describe('free space reads in GB, as on the Recordings page', () => {
  for (const size of ['phone', 'desktop'] as const) {
    test(`${size}: the dashboard's details of every output, the Recordings page and the System page say "… GB free", never "MB free"`, async () => {
      // The recorder has measured the disk once it has recorded.
      await action('record');
      const { ctx, page } = await pageAt(size);
      try {
        await page.goto(`${hark.url}/`);
        await page.locator('details.outputs-fold summary').click();
        await page.waitForFunction(() => /free/.test(document.querySelector('#outputs')?.textContent ?? ''), null, { timeout: 10_000 });
        const fold = (await page.locator('#outputs').textContent())!;
        expect(fold).toMatch(/\d+\.\d GB free/);
        expect(fold).not.toMatch(/MB free/);
        await page.locator('details.outputs-fold').screenshot({ path: `${SHOTS}/dashboard-details-${size}.png` });
        await page.goto(`${hark.url}/recordings`);
        await expect(page.locator('#recorder').textContent()).resolves.toMatch(/\d+\.\d GB free \(recording stops below 0\.5 GB\)/);
        await page.goto(`${hark.url}/system`);
        const sys = (await page.locator('main').textContent())!;
        expect(sys).toMatch(/Disk\s*\d+\.\d GB free of \d+\.\d GB/);
      } finally {
        await ctx.close();
        await action('stop_recording');
      }
    }, 60_000);
  }
});

describe('the dashboard counts listeners once', () => {
  for (const size of ['phone', 'desktop'] as const) {
    test(`${size}: one player on the stream link shows once, in the on-air summary, with a link to who is listening`, async () => {
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
      const { ctx, page } = await pageAt(size);
      try {
        await page.goto(`${hark.url}/`);
        await page.waitForFunction(() => document.querySelector('#on-air')?.textContent?.includes('Listen page: 1 person (on the stream link)'), null, { timeout: 10_000 });
        // Nowhere else on the dashboard (the folded technical table aside) is there a listener count.
        const counts = await page.evaluate(() => {
          const main = document.querySelector('main')!.cloneNode(true) as HTMLElement;
          main.querySelector('details.outputs-fold')?.remove();
          main.querySelector('#on-air')?.remove();
          return { text: main.textContent ?? '', widgets: main.querySelectorAll('#listener-split, #listener-count, .listener-split, .big-number').length };
        });
        expect(counts.widgets).toBe(0);
        expect(counts.text).not.toMatch(/\b[01] (on the listen page|on the stream link|listeners?|people|person)\b/);
        expect(await page.locator('#on-air a[href="/listeners"]').textContent()).toBe('Who is listening');
        const link = (await page.locator('#on-air a[href="/listeners"]').boundingBox())!;
        expect(link.height).toBeGreaterThanOrEqual(44);
        await page.screenshot({ path: `${SHOTS}/dashboard-listeners-${size}.png`, fullPage: size === 'phone' });
      } finally {
        ac.abort();
        await ctx.close();
      }
    }, 60_000);
  }
});

/** The boxes of a meter scale's labels a person can see (the hidden ones are ticks only). */
async function labelBoxes(page: Page, scale: string): Promise<{ text: string; left: number; right: number }[]> {
  return page.evaluate((sel) => {
    const out: { text: string; left: number; right: number }[] = [];
    for (const s of document.querySelectorAll<HTMLElement>(`${sel} span`)) {
      const cs = getComputedStyle(s);
      if (!s.textContent?.trim() || cs.display === 'none' || cs.visibility !== 'visible' || /rgba\(.*,\s*0\)$|transparent/.test(cs.color)) continue;
      const r = s.getBoundingClientRect();
      if (r.width === 0) continue;
      out.push({ text: s.textContent.trim(), left: r.left, right: r.right });
    }
    return out.sort((a, b) => a.left - b.left);
  }, scale);
}

describe('the meter scales have room for their labels', () => {
  for (const size of ['phone', 'desktop'] as const) {
    test(`${size}: on the dashboard and the listen page no two labels touch (5 px apart at least), with −40 and 0 among them`, async () => {
      const { ctx, page } = await pageAt(size);
      try {
        await page.goto(`${hark.url}/`);
        await page.locator('#meters .scale span').first().waitFor();
        await page.locator('#meters').scrollIntoViewIfNeeded();
        const dash = await labelBoxes(page, '#meters .scale');
        await page.locator('#meters').screenshot({ path: `${SHOTS}/meters-dashboard-${size}.png` });
        await page.goto(`${hark.url}/listen`);
        await page.locator('#scale span').first().waitFor({ state: 'attached' });
        const listen = await labelBoxes(page, '#scale');
        await page.screenshot({ path: `${SHOTS}/listen-${size}.png` });
        for (const [where, boxes] of [['dashboard', dash], ['listen page', listen]] as const) {
          console.log(`${size} ${where}: ${boxes.map((b) => `${b.text} ${b.left.toFixed(1)}–${b.right.toFixed(1)}`).join(', ')}`);
          const gaps = boxes.slice(1).map((b, i) => ({ between: `${boxes[i]!.text} / ${b.text}`, gap: Math.round((b.left - boxes[i]!.right) * 10) / 10 }));
          // A space's width between neighbours at least: "−18−12" reads as one number.
          expect(gaps.filter((g) => g.gap < 5), `${where}: ${JSON.stringify(gaps)}`).toEqual([]);
          expect(boxes.map((b) => b.text), where).toEqual(expect.arrayContaining(['−40', '0']));
          expect(boxes.length, where).toBeGreaterThanOrEqual(3);
        }
      } finally {
        await ctx.close();
      }
    }, 60_000);
  }
});

describe('marks travel with the recording as a CUE sheet', () => {
  test('marks made while recording are in <recording>.cue at their times, the sheet parses, the Recordings page offers it, and deleting the recording removes it', async () => {
    // A new recording (the ones before would be continued: recording.continue_within_minutes).
    for (const r of (await api('/api/recordings')).recordings) {
      const del = await fetch(`http://localhost/api/recordings/${r.name}`, { method: 'DELETE', unix: `${stateDir}/hark.sock` } as RequestInit);
      expect(del.status).toBe(204);
    }
    await action('record');
    const t0 = Date.now();
    const status = await api('/api/status');
    const file: string = status.outputs.recording.file.split('/').pop();
    const cueName = file.replace(/\.mp3$/, '.cue');
    const marks: { label: string; at: number }[] = [];
    for (const label of ['Welcome', 'He said "amen"\nFILE "x.wav" WAVE', '']) {
      await Bun.sleep(2000);
      await action('mark', { label });
      marks.push({ label, at: (Date.now() - t0) / 1000 });
    }
    const listed = (await api('/api/recordings')).recordings.find((r: any) => r.name === file);
    expect(listed.cue).toBe(cueName);
    const text = readFileSync(join(recDir, cueName), 'utf8');
    const lines = text.trimEnd().split('\n');
    expect(lines.filter((l) => l.startsWith('FILE '))).toEqual([`FILE "${file}" MP3`]);
    for (const l of lines) expect(l, l).toMatch(/^(REM COMMENT "[^"]*"|FILE "[^"]*" MP3|  TRACK \d\d AUDIO|    TITLE "[^"]*"|    INDEX 01 \d\d:[0-5]\d:[0-7]\d)$/);
    expect(lines.filter((l) => /TRACK \d\d AUDIO/.test(l))).toHaveLength(marks.length + 1);
    const titles = lines.filter((l) => l.includes('TITLE')).map((l) => l.trim().slice(7, -1));
    expect(titles).toEqual(['Start', 'Welcome', "He said 'amen' FILE 'x.wav' WAVE", 'Marked moment']);
    const secs = lines.filter((l) => l.includes('INDEX 01')).map((l) => {
      const [m, s, f] = l.trim().slice(9).split(':').map(Number) as [number, number, number];
      return m * 60 + s + f / 75;
    });
    expect(secs[0]).toBe(0);
    for (let i = 0; i < marks.length; i++) {
      expect(Math.abs(secs[i + 1]! - marks[i]!.at), `mark ${i}: ${secs[i + 1]} vs ${marks[i]!.at}`).toBeLessThanOrEqual(1);
      expect(Math.abs(secs[i + 1]! - listed.marks[i].offset_s)).toBeLessThanOrEqual(0.1);
    }
    await action('stop_recording');

    // Hostile names: only a recording's own sheet is served; a sheet is not deleted on its own.
    const sock = (path: string, method = 'GET') => fetch(`http://localhost${path}`, { method, unix: `${stateDir}/hark.sock` } as RequestInit);
    for (const bad of ['..%2F..%2Fetc%2Fpasswd.cue', '.hark-recordings.json', 'hark-1999-01-01T00-00-00Z.cue', `${cueName}.tmp`, encodeURIComponent(`${cueName}\n`)]) {
      const r = await sock(`/api/recordings/${bad}`);
      expect(r.status, bad).toBe(404);
      expect((await r.json()).error, bad).toBeString();
    }
    expect((await sock(`/api/recordings/${cueName}`, 'DELETE')).status).toBe(404);
    expect(existsSync(join(recDir, cueName))).toBe(true);
    const served = await sock(`/api/recordings/${cueName}`);
    expect(served.headers.get('content-type')).toBe('application/x-cue; charset=utf-8');
    expect(await served.text()).toBe(text);

    for (const size of ['phone', 'desktop'] as const) {
      const { ctx, page } = await pageAt(size);
      try {
        await page.goto(`${hark.url}/recordings`);
        const item = page.locator(`li.recording[data-name="${file}"]`);
        const cue = item.locator('a.rec-cue');
        await expect(cue.textContent()).resolves.toBe('Marks (CUE)');
        const box = (await cue.boundingBox())!;
        expect(box.height).toBeGreaterThanOrEqual(44);
        // The downloads, as the page offers them: the sheet names the audio as the browser saves it.
        const [audio] = await Promise.all([page.waitForEvent('download'), item.locator('a.button-link', { hasText: 'Download' }).click()]);
        await audio.cancel();
        const [download] = await Promise.all([page.waitForEvent('download'), cue.click()]);
        expect(download.suggestedFilename()).toBe(cueName);
        const got = readFileSync((await download.path())!, 'utf8');
        expect(got).toContain(`FILE "${audio.suggestedFilename()}" MP3`);
        expect(got).toBe(text);
        await page.screenshot({ path: `${SHOTS}/recordings-${size}.png`, fullPage: size === 'phone' });
      } finally {
        await ctx.close();
      }
    }

    // Delete it on the page: the recording and its sheet go.
    const { ctx, page } = await pageAt('desktop');
    try {
      await page.goto(`${hark.url}/recordings`);
      page.once('dialog', (d) => void d.accept());
      await page.locator(`li.recording[data-name="${file}"] button.danger`).click();
      await page.locator(`li.recording[data-name="${file}"]`).waitFor({ state: 'detached', timeout: 10_000 });
    } finally {
      await ctx.close();
    }
    expect(existsSync(join(recDir, file))).toBe(false);
    expect(existsSync(join(recDir, cueName))).toBe(false);
    expect(readdirSync(recDir).filter((f) => f.endsWith('.cue'))).toEqual([]);
    const gone = await fetch(`http://localhost/api/recordings/${cueName}`, { unix: `${stateDir}/hark.sock` } as RequestInit);
    expect(gone.status).toBe(404);
  }, 120_000);
});

describe('the name the box announces (avahi after a clash: studio-2.local)', () => {
  test('the share card and the System page show it, and the box answers to it', async () => {
    // hark-mdns-name rewrites the file every 15 s; a fresh one is believed.
    writeFileSync(mdnsFile, 'studio-2.local\n');
    for (const size of ['phone', 'desktop'] as const) {
      const { ctx, page } = await pageAt(size);
      try {
        await page.goto(`${hark.url}/`);
        await expect(page.locator('#share .share-url').first().textContent()).resolves.toBe(`http://studio-2.local:${HTTP_PORT}/listen`);
        await page.locator('#share').screenshot({ path: `${SHOTS}/share-card-${size}.png` });
        await page.goto(`${hark.url}/system`);
        await expect(page.locator('#mdns-name').textContent()).resolves.toContain('studio-2.local');
        await page.locator('#mdns-name').scrollIntoViewIfNeeded();
        await page.screenshot({ path: `${SHOTS}/system-${size}.png`, fullPage: size === 'phone' });
      } finally {
        await ctx.close();
      }
    }
    // The Host gate lets a browser that followed the link in.
    const listen = await fetch(`${hark.url}/listen`, { headers: { host: `studio-2.local:${HTTP_PORT}` } });
    expect(listen.status).toBe(200);
    // Without the file, the host name as before.
    writeFileSync(mdnsFile, '');
    const { ctx, page } = await pageAt('desktop');
    try {
      await page.goto(`${hark.url}/`);
      await expect(page.locator('#share .share-url').first().textContent()).resolves.toBe(`http://${hostname().toLowerCase().split('.')[0]}.local:${HTTP_PORT}/listen`);
    } finally {
      await ctx.close();
    }
  }, 60_000);
});

describe('connection lost', () => {
  test('while hark is down the action buttons wait and say why ("No connection to the box"); when it is back they work again, without a reload', async () => {
    const { ctx, page } = await pageAt('phone');
    try {
      await page.goto(`${hark.url}/`);
      await page.waitForFunction(() => document.querySelector('#state-badge .badge')?.textContent?.startsWith('Live'), null, { timeout: 10_000 });
      // A mark of this page load: a reload would lose it.
      await page.evaluate(() => ((window as unknown as { loadMark: number }).loadMark = 42));
      const buttons = ['#state-panel button.stop', '#state-panel button.mute', '.record-control button', '#mark-form button[type=submit]', '#title-form button[type=submit]'];
      for (const b of buttons) expect(await page.locator(b).isEnabled(), b).toBe(true);

      expect(await hark.stop()).toBe(0);
      await page.locator('#conn-lost').waitFor({ state: 'visible', timeout: 10_000 });
      expect(await page.locator('#conn-lost').textContent()).toContain('No connection to the box');
      for (const b of buttons) {
        const el = page.locator(b);
        expect(await el.isDisabled(), b).toBe(true);
        expect(await el.getAttribute('title'), b).toBe('No connection to the box');
        // Screen readers hear why with the button.
        expect(await el.evaluate((e) => (e.getAttribute('aria-describedby') ?? '').split(' ').includes('conn-lost-why')), b).toBe(true);
      }
      // Copying the listen page's address needs no box.
      expect(await page.locator('#share button.copy').first().isEnabled()).toBe(true);
      await page.screenshot({ path: `${SHOTS}/dashboard-phone-connection-lost.png` });
      await page.setViewportSize(SIZES.desktop);
      await page.screenshot({ path: `${SHOTS}/dashboard-desktop-connection-lost.png` });
      await page.setViewportSize(SIZES.phone);

      hark = await start();
      await page.locator('#conn-lost').waitFor({ state: 'hidden', timeout: 20_000 });
      await waitInPage(page, () => document.querySelector('#state-panel button.stop') !== null && !(document.querySelector('#state-panel button.stop') as HTMLButtonElement).disabled, 0, { what: 'Stop to work again' });
      for (const b of buttons) {
        expect(await page.locator(b).isEnabled(), b).toBe(true);
        expect(await page.locator(b).getAttribute('title'), b).toBeNull();
      }
      expect(await page.evaluate(() => (window as unknown as { loadMark?: number }).loadMark)).toBe(42);
      // And a press reaches hark: Mute, then back.
      await page.locator('#state-panel button.mute').click();
      await page.waitForFunction(() => document.querySelector('.state-word')?.textContent === 'Muted', null, { timeout: 10_000 });
      await action('unmute');
    } finally {
      await ctx.close();
    }
    expect(chrome.logs.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
  }, 120_000);
});
