/**
 * The settings pages as the people who run a service meet them, in headless Chromium at phone
 * (390×844) and desktop (1366×900) sizes, on the default config (input.source = "auto") with a
 * private PipeWire and a real icecast2: no config keys or TOML in what the pages show (folds
 * closed); an Icecast server added by pasting the URL the host gave, tested, saved and live;
 * "Saved." in view beside the button pressed; and the Input page's line when there is no
 * audio system (XDG_RUNTIME_DIR=/nonexistent).
 *
 * SHOTS_DIR=/tmp/shots-x also writes screenshots of Outputs and Input (light and dark).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { startIcecast, type IcecastServer } from './lib/icecast.ts';
import { startPipewire, type PipewireHarness } from './lib/pipewire.ts';
import { loginInPage } from './lib/session.ts';

const PASSWORD = 'a long enough password';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1366, height: 900 };
const PAGES = ['/', '/input', '/programs', '/outputs', '/listeners', '/recordings', '/schedule', '/system'];

let pw: PipewireHarness;
let hark: HarkProcess;
let ice: IcecastServer;
let chrome: ChromiumHandle;

/** The default config, but for the one fixed UDP port (this test's range) and a first password. */
const config = (udpPort: number) => `[webrtc]\nudp_port = ${udpPort}\n\n[admin]\npassword = "${PASSWORD}"\n`;

async function loggedIn(browser: Browser, h: HarkProcess, viewport: { width: number; height: number }, colorScheme: 'light' | 'dark' = 'light'): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, colorScheme });
  const page = await context.newPage();
  page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
  await loginInPage(page, h.url, PASSWORD, { timeoutMs: 30_000 });
  return { context, page };
}

/**
 * What a user reads on the page with every fold closed: the pages' own words. The daemon's log
 * lines and the alert strip are left aside: they come and go with the machine's load (a busy
 * test machine raises the capture-clock alert), so they are not what this checks.
 */
async function visibleText(page: Page): Promise<string> {
  return page.evaluate(() => {
    for (const d of document.querySelectorAll('details')) d.open = false;
    for (const id of ['log', 'alerts']) {
      const el = document.getElementById(id);
      if (el) el.hidden = true;
    }
    return document.body.innerText;
  });
}

/** Config vocabulary that must not be in front of a volunteer. */
const FORBIDDEN: [string, RegExp][] = [
  ['a TOML array heading', /\[\[/],
  ['a TOML table heading', /\[[a-z_.]+\]/],
  ['a backtick', /`/],
  ['a config key (snake_case)', /\b[a-z0-9]+(?:_[a-z0-9]+)+\b/],
  ['a key = value line', /\b[a-z_]+\.[a-z_]+\s*=/],
  ['a queue size key', /queue kb|_kb\b/],
  ['an Opus parameter', /useinbandfec|usedtx|maxplaybackrate|minptime|icy metaint/i],
  ['an enabled key', /\.enabled\b/],
  ['a latency key', /latency.frames/],
];

function offences(text: string): string[] {
  return FORBIDDEN.flatMap(([what, re]) => {
    const m = re.exec(text);
    return m ? [`${what}: "${text.slice(Math.max(0, m.index - 40), m.index + m[0].length + 40).replace(/\s+/g, ' ')}"`] : [];
  });
}

/** Whether an element's box lies inside the viewport (what the user sees without scrolling). */
/**
 * Whether `selector` is (or, within 2 s, comes) fully in the viewport: the answer is swapped in
 * first and scrolled to once htmx has settled it, a moment later.
 */
async function inViewport(page: Page, selector: string): Promise<boolean> {
  const el = page.locator(selector).first();
  const t0 = performance.now();
  for (;;) {
    const inside = await el.evaluate((e) => {
      const r = e.getBoundingClientRect();
      return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
    });
    if (inside || performance.now() - t0 > 2000) return inside;
    await Bun.sleep(100);
  }
}

beforeAll(async () => {
  pw = await startPipewire({ sinks: [{ name: 'studio_desk', channels: 2, props: { 'node.description': 'Studio desk' } }] });
  [hark, ice] = await Promise.all([startHark(config(29501), { env: pw.env }), startIcecast()]);
  chrome = await launchChromium();
}, 120_000);

afterAll(async () => {
  await chrome?.close();
  await ice?.stop();
  expect(await hark?.stop()).toBe(0);
  await pw?.stop();
});

describe('settings in plain words', () => {
  for (const [size, viewport] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
    test(`no config keys or TOML on any admin page (${size}, folds closed)`, async () => {
      const { context, page } = await loggedIn(chrome.browser, hark, viewport);
      const found: string[] = [];
      for (const path of PAGES) {
        await page.goto(`${hark.url}${path}`);
        await page.locator('main h1').waitFor();
        for (const o of offences(await visibleText(page))) found.push(`${path}: ${o}`);
        // Each form's fields have their own ids, so a label works its own control.
        const dup = await page.evaluate(() => {
          const seen = new Set<string>();
          return [...document.querySelectorAll('[id]')].map((e) => e.id).filter((id) => seen.has(id) || !seen.add(id));
        });
        for (const id of dup) found.push(`${path}: duplicate id "${id}"`);
      }
      // The Icecast form, opened, says its essentials in words too.
      await page.goto(`${hark.url}/outputs`);
      await page.click('#icecast-section button:has-text("Add Icecast server")');
      await page.locator('#icecast-form-new').waitFor();
      for (const o of offences(await visibleText(page))) found.push(`/outputs (Icecast form open): ${o}`);
      await context.close();
      expect(found).toEqual([]);
    }, 90_000);
  }

  test('the Icecast form: essentials first in words, the rest folded under Advanced', async () => {
    const { context, page } = await loggedIn(chrome.browser, hark, PHONE);
    await page.goto(`${hark.url}/outputs`);
    await page.click('#icecast-section button:has-text("Add Icecast server")');
    const form = page.locator('#icecast-form-new');
    await form.waitFor();
    const labels = await form.locator(':scope > .field label').allTextContents();
    expect(labels.slice(0, 8)).toEqual(['Paste the URL your host gave you', 'Server address', 'Port', 'Secure connection (https)', 'Mount point', 'Source password', 'Quality', 'Station name']);
    expect(await form.locator('select[name=bitrate_kbps] option:checked').textContent()).toBe('Good (128 kbit/s)');
    // User, format, genre … wait under "Advanced", closed.
    expect(await form.locator('details.advanced').evaluate((d) => (d as HTMLDetailsElement).open)).toBe(false);
    expect(await form.locator('input[name=user]').isVisible()).toBe(false);
    await form.locator('details.advanced summary').click();
    expect(await form.locator('input[name=user]').isVisible()).toBe(true);
    await context.close();
  }, 90_000);

  test('phone: paste the URL the host gave, test it, add it; the result and "Saved." show where the user is; it goes live', async () => {
    const { context, page } = await loggedIn(chrome.browser, hark, PHONE);
    await page.goto(`${hark.url}/outputs`);
    await page.click('#icecast-section button:has-text("Add Icecast server")');
    const form = page.locator('#icecast-form-new');
    await form.waitFor();
    await form.locator('input[name=url]').fill(`icecast://source:${ice.sourcePassword}@127.0.0.1:${ice.port}/sunday`);
    // The fields below fill in from it.
    expect(await form.locator('input[name=host]').inputValue()).toBe('127.0.0.1');
    expect(await form.locator('input[name=port]').inputValue()).toBe(String(ice.port));
    expect(await form.locator('input[name=mount]').inputValue()).toBe('/sunday');
    expect(await form.locator('input[name=password]').inputValue()).toBe(ice.sourcePassword);
    // What the pasted address holds wins over the fields (also for the server, without script).
    await form.locator('input[name=host]').fill('wrong.invalid');
    await form.locator('button:has-text("Test connection")').click();
    const result = page.locator('#icecast-form-new [data-test-result]');
    await result.waitFor({ timeout: 15_000 });
    expect(await result.getAttribute('data-test-result')).toBe('ok');
    expect(await result.textContent()).toContain('accepted');
    expect(await inViewport(page, '#icecast-form-new [data-test-result]')).toBe(true);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('test-icecast-new');
    expect(await page.locator('#icecast-form-new input[name=host]').inputValue()).toBe('127.0.0.1');
    expect(readFileSync(hark.configPath, 'utf8')).not.toContain('[[icecast]]');

    await page.locator('#icecast-form-new button[type=submit]').click();
    await page.locator('#icecast-section li[data-entry="0"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#icecast-section [data-notice="ok"]').textContent()).toContain('Saved');
    expect(await inViewport(page, '#icecast-section [data-notice="ok"]')).toBe(true);
    expect(await inViewport(page, '#icecast-section li[data-entry="0"]')).toBe(true);
    const text = readFileSync(hark.configPath, 'utf8');
    expect(text).toContain('host = "127.0.0.1"');
    expect(text).toContain(`port = ${ice.port}`);
    expect(text).toContain('mount = "/sunday"');
    // A fresh install is live: the new server gets the broadcast at once.
    await ice.waitForSource('/sunday', 15_000);
    await page.waitForFunction(() => document.querySelector('#outputs tr[data-output^="Icecast"] .pill')?.textContent === 'live', null, { timeout: 10_000 });
    await context.close();
  }, 120_000);

  test('phone: after saving a section, "Saved." is beside its Save button, in view, and the focus stays there', async () => {
    const { context, page } = await loggedIn(chrome.browser, hark, PHONE);
    await page.goto(`${hark.url}/outputs`);
    const form = page.locator('#form-metadata');
    await form.locator('details.advanced summary').click();
    await form.locator('input[name=title]').fill('Sunday service');
    await form.locator('button[type=submit]').click();
    const notice = page.locator('#form-metadata .actions [data-notice="ok"]');
    await notice.waitFor({ timeout: 10_000 });
    expect(await notice.textContent()).toContain('Saved');
    expect(await inViewport(page, '#form-metadata [data-notice="ok"]')).toBe(true);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('save-metadata');
    expect(readFileSync(hark.configPath, 'utf8')).toContain('title = "Sunday service"');

    // Recording: "Record every broadcast", format in words.
    const rec = page.locator('#form-recording');
    expect(await rec.locator('select[name=format] option').allTextContents()).toEqual(['MP3 (plays everywhere)', 'Opus (smaller)', 'FLAC (lossless, for the archive; large)']);
    await rec.locator('label:has-text("Record every broadcast")').click();
    // MP3 is the default: choose Opus, so the file must change.
    await rec.locator('select[name=format]').selectOption('ogg-opus');
    await rec.locator('button[type=submit]').click();
    await page.locator('#form-recording [data-notice="ok"]').waitFor({ timeout: 10_000 });
    expect(await inViewport(page, '#form-recording [data-notice="ok"]')).toBe(true);
    const text = readFileSync(hark.configPath, 'utf8');
    expect(text).toContain('enabled = true');
    expect(text).toContain('format = "ogg-opus"');
    await context.close();
  }, 90_000);

  test('Input: device names people recognise; no line about a missing audio system when there is one', async () => {
    const { context, page } = await loggedIn(chrome.browser, hark, DESKTOP);
    await page.goto(`${hark.url}/input`);
    const options = await page.locator('#device option').allTextContents();
    expect(options.some((o) => o.startsWith('Studio desk'))).toBe(true);
    expect(options.join('\n')).not.toContain('studio_desk');
    expect(await page.locator('#no-audio-system').count()).toBe(0);
    await context.close();
  }, 90_000);

  test('shots: Outputs (folds closed, Icecast form open) and Input, phone and desktop, light and dark', async () => {
    const dir = process.env.SHOTS_DIR;
    if (!dir) return;
    mkdirSync(dir, { recursive: true });
    for (const [size, viewport] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
      for (const scheme of ['light', 'dark'] as const) {
        const { context, page } = await loggedIn(chrome.browser, hark, viewport, scheme);
        await page.goto(`${hark.url}/outputs`);
        await page.screenshot({ path: `${dir}/outputs-${size}-${scheme}.png`, fullPage: true });
        await page.click('#icecast-section li[data-entry="0"] button:has-text("Edit")');
        await page.locator('#icecast-form-0').waitFor();
        await page.locator('#icecast-form-0').screenshot({ path: `${dir}/outputs-icecast-form-${size}-${scheme}.png` });
        await page.click('#test-icecast-0');
        await page.locator('#icecast-form-0 [data-test-result]').waitFor({ timeout: 15_000 });
        await page.screenshot({ path: `${dir}/outputs-icecast-tested-${size}-${scheme}.png` });
        await page.goto(`${hark.url}/input`);
        await page.screenshot({ path: `${dir}/input-${size}-${scheme}.png`, fullPage: true });
        await page.goto(`${hark.url}/system`);
        await page.screenshot({ path: `${dir}/system-${size}-${scheme}.png`, fullPage: true });
        await context.close();
      }
    }
  }, 180_000);
});

describe('no audio system', () => {
  let bare: HarkProcess;
  beforeAll(async () => {
    bare = await startHark(config(29502), { env: { XDG_RUNTIME_DIR: '/nonexistent' } });
  }, 60_000);
  afterAll(async () => {
    expect(await bare?.stop()).toBe(0);
  });

  for (const [size, viewport] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
    test(`the Input page opens with a plain line saying so and what to do (${size})`, async () => {
      const { context, page } = await loggedIn(chrome.browser, bare, viewport);
      await page.goto(`${bare.url}/input`);
      const line = page.locator('#no-audio-system');
      await line.waitFor({ timeout: 10_000 });
      expect(await line.innerText()).toContain('No audio system found: hark cannot see any audio interface.');
      expect(await line.innerText()).toContain('Restart');
      expect(await inViewport(page, '#no-audio-system')).toBe(true);
      // Not a disabled entry hidden inside the picker any more.
      expect(await page.locator('#device option[disabled]').count()).toBe(0);
      if (process.env.SHOTS_DIR) await page.screenshot({ path: `${process.env.SHOTS_DIR}/input-no-audio-${size}.png` });
      await context.close();
    }, 90_000);
  }
});
