/**
 * The Content-Security-Policy and the first run from another machine, in headless Chromium
 * against a real daemon (test tone, WebRTC):
 *
 *  - the first visit from the box's LAN address (not loopback) lands on /setup, which asks for
 *    the setup code in plain words; a wrong code is refused beside the field; the code from
 *    hark-setup.txt sets the password and lands on the dashboard;
 *  - every admin page, the listen page, the login page and an error page carry the CSP and
 *    its companions, and while Chromium walks them (and they update live) it reports not one
 *    `securitypolicyviolation` or console CSP error — and the pages still work: the meters
 *    move, htmx swaps a form's answer in, the QR code shows, the listen page plays and its
 *    meters move.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { chromiumAvailable, launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { freeUdpPort } from './lib/whep-client.ts';
import { CSP } from '../src/http/host-gate.ts';

const SHOTS = '/tmp/shots-s3';
const PASSWORD = 'a good long password';
/** The first non-loopback IPv4 address of this machine: Chromium reaches hark as a LAN device would. */
const LAN_IP = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

let hark: HarkProcess;
let chrome: ChromiumHandle;
let ctx: BrowserContext;
let base: string;
let codeFile: string;
/** Every CSP violation any page reported, with the page it happened on. */
const violations: string[] = [];

function watch(page: Page): void {
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to (apply|execute|load|connect)/i.test(m.text())) violations.push(`[console ${page.url()}] ${m.text()}`);
  });
  page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
}

/** The violations the page's own listener collected (the event fires in the page). */
async function pageViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => window.__csp ?? []);
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  codeFile = join(mkdtempSync(join(tmpdir(), 'hark-csp-')), 'hark-setup.txt');
  const udp = await freeUdpPort();
  [hark, chrome] = await Promise.all([
    startHark(`[input]\nsource = "tone"\n[tone]\nlevel_dbfs = -12\n[control]\non_boot = "live"\n[webrtc]\nudp_port = ${udp}\n`, {
      env: { HARK_SETUP_CODE_FILE: codeFile, RUNTIME_DIRECTORY: '' },
      timeoutMs: 60_000,
    }),
    launchChromium(),
  ]);
  base = LAN_IP ? `http://${LAN_IP}:${hark.port}` : hark.url;
  ctx = await chrome.browser.newContext({ viewport: { width: 1366, height: 900 } });
  await ctx.addInitScript(() => {
    const w = window;
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp!.push(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber} ${e.sample}`));
  });
}, 90_000);

afterAll(async () => {
  await chrome?.close();
  await hark?.stop();
}, 30_000);

describe.skipIf(!chromiumAvailable())('first run from another machine, and the CSP', () => {
  test.skipIf(!LAN_IP)('from the LAN address: /setup asks for the setup code; a wrong one is refused; the right one sets the password', async () => {
    const page = await ctx.newPage();
    watch(page);
    await page.goto(`${base}/`);
    expect(new URL(page.url()).pathname).toBe('/setup');
    const help = await page.locator('#code ~ small').textContent();
    expect(help).toContain('hark-setup.txt');
    expect(help).toContain('SD card');
    expect(help).toContain('serial console');
    await page.screenshot({ path: `${SHOTS}/setup-code-desktop.png`, fullPage: true });
    const code = /hark setup code: ([A-Z2-9-]{9})/.exec(readFileSync(codeFile, 'utf8'))![1]!;

    // A wrong code: refused beside the field (bounded: the answer, then its page).
    await page.fill('#code', 'ZZZZ-ZZZZ');
    await page.fill('#password', PASSWORD);
    await page.fill('#confirm', PASSWORD);
    const [wrong] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === '/setup' && r.request().method() === 'POST', { timeout: 15_000 }), page.click('button[type=submit]')]);
    expect(wrong.status()).toBe(403);
    expect(await page.locator('#code ~ .err').textContent({ timeout: 10_000 })).toContain('not the setup code');

    // The right one, typed as a person might (lower case).
    await page.fill('#code', code.toLowerCase());
    await page.fill('#password', PASSWORD);
    await page.fill('#confirm', PASSWORD);
    await Promise.all([page.waitForURL(`${base}/`, { timeout: 15_000 }), page.click('button[type=submit]')]);
    await page.locator('#on-air').waitFor();
    expect(readFileSync(codeFile, 'utf8')).toContain('password is set');
    expect(await pageViolations(page)).toEqual([]);
    await page.close();
  }, 60_000);

  test('every page carries the CSP; Chromium reports no violation while the pages work', async () => {
    if (!LAN_IP) {
      // No LAN address here: the first run from the box itself (no code asked).
      const p = await ctx.newPage();
      await p.goto(`${base}/setup`);
      await p.fill('#password', PASSWORD);
      await p.fill('#confirm', PASSWORD);
      await Promise.all([p.waitForURL(`${base}/`, { timeout: 15_000 }), p.click('button[type=submit]')]);
      await p.close();
    }
    const page = await ctx.newPage();
    watch(page);
    const found: Record<string, string[]> = {};

    // The dashboard: meters move (live levels applied through the CSSOM), the QR code shows,
    // and a form's answer is swapped in by htmx.
    const res = await page.goto(`${base}/`);
    expect(res!.headers()['content-security-policy']).toBe(CSP);
    expect(res!.headers()['x-frame-options']).toBe('DENY');
    expect(res!.headers()['referrer-policy']).toBe('same-origin');
    expect(res!.headers()['x-content-type-options']).toBe('nosniff');
    const peak = page.locator('#meters .meter[data-ch="0"] .bar.peak');
    await page.waitForFunction(() => parseFloat((document.querySelector('#meters .meter[data-ch="0"] .bar.peak') as HTMLElement | null)?.style.width ?? '0') > 30, null, { timeout: 15_000, polling: 100 });
    // The zone edges and the scale came from data attributes.
    expect(await page.locator('#meters .meters').evaluate((e) => (e as HTMLElement).style.getPropertyValue('--z-amber'))).toMatch(/^\d+(\.\d)?%$/);
    expect(await page.locator('#meters .scale span[data-db="-12"]').evaluate((e) => (e as HTMLElement).style.left)).toBe('70%');
    expect(await peak.evaluate((e) => getComputedStyle(e).width)).not.toBe('0px');
    const qr = await page.locator('svg.qr').boundingBox();
    expect(qr!.width).toBeGreaterThan(100);
    await page.fill('#title-input', 'Evening prayer');
    await page.click('#title-form button[type=submit]');
    await page.locator('#title-now b', { hasText: 'Evening prayer' }).waitFor({ timeout: 10_000 });
    await page.waitForFunction(() => (document.querySelector('#title-form .result')?.textContent ?? '').trim() !== '', null, { timeout: 10_000, polling: 100 });
    await page.screenshot({ path: `${SHOTS}/csp-dashboard-desktop.png` });
    found['/'] = await pageViolations(page);

    for (const path of ['/input', '/outputs', '/listeners', '/recordings', '/system', '/no-such-page']) {
      const r = await page.goto(`${base}${path}`);
      expect(r!.headers()['content-security-policy'], path).toBe(CSP);
      await page.waitForLoadState('domcontentloaded');
      if (path === '/input') await page.waitForFunction(() => parseFloat((document.querySelector('#meters .meter[data-ch="0"] .bar.peak') as HTMLElement | null)?.style.width ?? '0') > 30, null, { timeout: 15_000, polling: 100 });
      else await page.waitForTimeout(300);
      found[path] = await pageViolations(page);
    }

    // The listen page plays (WebRTC) and its meters move.
    const r = await page.goto(`${base}/listen?autoplay=1`);
    expect(r!.headers()['content-security-policy']).toBe(CSP);
    await page.waitForFunction(
      () => {
        const h = window.hark;
        const fill = document.querySelector('#meter-left .fill') as HTMLElement | null;
        return h?.phase === 'playing' && parseFloat(fill?.style.width ?? '0') > 30;
      },
      null,
      { timeout: 20_000, polling: 100 },
    );
    await page.screenshot({ path: `${SHOTS}/csp-listen-desktop.png` });
    found['/listen'] = await pageViolations(page);

    // Logged out: the login page.
    const login = await ctx.newPage();
    watch(login);
    const lr = await login.goto(`${base}/login`);
    expect(lr!.headers()['content-security-policy']).toBe(CSP);
    found['/login'] = await pageViolations(login);

    const all = Object.entries(found).flatMap(([p, v]) => v.map((x) => `${p}: ${x}`));
    expect([...all, ...violations]).toEqual([]);
    await login.close();
    await page.close();
  }, 120_000);
});
