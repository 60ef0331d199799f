/**
 * The Programs page (issue 18, the admin side) against a real hark with a four-channel tone and
 * two programs, in Chromium at phone (390×844) and desktop (1366×900) sizes: a program added from
 * the page with the routing matrix (channel 3) is listed and on /listen/info; an edit adds an EQ
 * band and a limiter, saved to the config file; a bad entry ("Bad Id", a channel the input lacks)
 * is refused with the reason beside its field and nothing saved; Mute on a card mutes that
 * program alone (/listen/info says so); the QR code decodes (zbarimg) to the absolute listen
 * address; the scan-to-listen sheet is served with its style hash in the CSP; the page needs a
 * login; the before/after meters and the dashboard's program meters move; the outputs' forms
 * offer the programs. With the default config the page explains the one program, "Main", and
 * the dashboard is as before. Then hostile input on the /ui/programs endpoints (422 with the
 * reason by the field, nothing written, markup escaped), axe, touch targets, and screenshots
 * (phone and desktop, light and dark) to /tmp/shots-programs-admin/.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { injectAxe, launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { login, useSession } from './lib/session.ts';
import { freeUdpPort } from './lib/whep-client.ts';
import { QR_SHEET_STYLE_SRC } from '../web/templates/qr-sheet.ts';

const PASSWORD = 'a long enough password';
const SHOTS = '/tmp/shots-programs-admin';
const SIZES = { phone: { width: 390, height: 844 }, desktop: { width: 1366, height: 900 } } as const;
const ZBARIMG = Bun.which('zbarimg');

let chrome: ChromiumHandle;
/** Four tone channels; Floor (1–2, the default) and Español (4); an Icecast entry (off) carries Español. */
let multi: HarkProcess;
/** The default config (one program, Main). */
let plain: HarkProcess;
let multiCookie = '';
let plainCookie = '';

const multiToml = (udp: number) => `[admin]
password = "${PASSWORD}"
[input]
source = "tone"
channels = 4
[silence]
enabled = false
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
channels = [4]
[[icecast]]
enabled = false
host = "127.0.0.1"
port = 9
mount = "/es.mp3"
program = "es"
`;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const [u1, u2] = [await freeUdpPort(), await freeUdpPort()];
  [multi, plain, chrome] = await Promise.all([
    startHark(multiToml(u1), { timeoutMs: 60_000 }),
    startHark(`[admin]\npassword = "${PASSWORD}"\n[silence]\nenabled = false\n[webrtc]\nudp_port = ${u2}\n`, { timeoutMs: 60_000 }),
    launchChromium(),
  ]);
  [multiCookie, plainCookie] = await Promise.all([login(multi.url, PASSWORD), login(plain.url, PASSWORD)]);
}, 90_000);

afterAll(async () => {
  await chrome?.close();
  expect(await multi?.stop()).toBe(0);
  expect(await plain?.stop()).toBe(0);
}, 30_000);

/** Over the CLI's Unix socket: the owner's way in (no login, no CSRF token). */
function sock(h: HarkProcess, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://localhost${path}`, { ...init, unix: `${h.dir}/hark.sock` } as RequestInit);
}

/** A form as the page posts it; a field given as a list repeats (the ticked channels). */
function form(h: HarkProcess, path: string, fields: Record<string, string | string[]>): Promise<Response> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
  return sock(h, path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
}

async function listenInfo(h: HarkProcess): Promise<{ programs: { id: string; name: string; muted: boolean }[]; main: string }> {
  return (await fetch(`${h.url}/listen/info`)).json();
}

const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&');

/** Every refusal a form shows beside a field: the field (from the message's id: pf-<field>-err) → the reason. */
function fieldErrors(page: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of page.matchAll(/<span class="err" id="pf-([\w-]+)-err" role="alert">([^<]*)<\/span>/g)) out[m[1]!.replace(/^gain-/, 'gain_')] = unescape(m[2]!);
  return out;
}

/** A logged-in browser page at a size and theme. */
async function open(h: HarkProcess, cookie: string, size: keyof typeof SIZES, path: string, colorScheme: 'light' | 'dark' = 'light'): Promise<{ page: Page; context: BrowserContext }> {
  const context = await chrome.browser.newContext({ viewport: SIZES[size], colorScheme });
  await useSession(context, h.url, cookie);
  const page = await context.newPage();
  page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && chrome.logs.push(`[console.error] ${m.text()}`));
  await page.goto(`${h.url}${path}`);
  return { page, context };
}

/** What zbarimg reads from a PNG (its text), or throws. */
function decodePng(png: Uint8Array): string {
  if (!ZBARIMG) throw new Error('zbarimg not found (Debian package zbar-tools; script/bootstrap --test installs it)');
  const file = join(mkdtempSync(join(tmpdir(), 'hark-qr-')), 'code.png');
  writeFileSync(file, png);
  const p = Bun.spawnSync([ZBARIMG, '--nodbus', '--raw', '-q', file]);
  if (p.exitCode !== 0) throw new Error(`zbarimg found no QR code in ${file} (exit ${p.exitCode}): ${p.stderr.toString()}`);
  return p.stdout.toString().replace(/\n$/, '');
}

describe('who may see it', () => {
  test('/programs, the sheet, the QR codes and the forms need a login; the listen page does not', async () => {
    const page = await fetch(`${multi.url}/programs`, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login?next=%2Fprograms');
    for (const path of ['/programs/sheet', '/ui/programs', '/ui/programs/new', '/ui/programs/es/qr.svg', '/ui/programs/es/edit']) {
      const r = await fetch(`${multi.url}${path}`, { redirect: 'manual' });
      expect(`${path} ${r.status}`).toBe(`${path} 401`);
    }
    const post = await fetch(`${multi.url}/ui/programs/es/mute`, { method: 'POST', redirect: 'manual' });
    expect(post.status).toBe(401);
    expect((await listenInfo(multi)).programs.find((p) => p.id === 'es')?.muted).toBe(false);
    expect((await fetch(`${multi.url}/listen/es`)).status).toBe(200);
  });
});

describe('the Programs page with two programs', () => {
  test('a card per program: name, language in words, what it is made of, its outputs, Mute, the listen address and its QR code', async () => {
    const { page, context } = await open(multi, multiCookie, 'desktop', '/programs');
    try {
      await expect(page.locator('header nav a[aria-current="page"]').textContent()).resolves.toBe('Programs');
      const es = page.locator('#program-es');
      await expect(es.locator('h2').textContent()).resolves.toBe('Español');
      await expect(es.locator('.pc-lang').textContent()).resolves.toBe('Spanish (Español)');
      await expect(es.locator('.pc-made').textContent()).resolves.toBe('Input channel 4 (mono).');
      await expect(es.locator('.pc-sound').textContent()).resolves.toBe('Sound: as it comes in.');
      expect(await es.locator('.pl-outputs').textContent()).toBe('Goes to: the listen page, the stream link and Icecast “es.mp3” (turned off).');
      expect(await es.locator('.pl-state').textContent()).toContain('Nobody is listening.');
      await expect(page.locator('#program-floor .pc-made').textContent()).resolves.toBe('Input channels 1 and 2 (stereo).');
      await expect(page.locator('#program-floor .pill').first().textContent()).resolves.toBe('default');
      expect(await es.locator('a.listen-url').textContent()).toBe(`${multi.url}/listen/es`);
      expect(await es.locator('img.qr').getAttribute('alt')).toBe(`QR code for ${multi.url}/listen/es`);
      // The image loaded (an SVG from the box, allowed by img-src 'self').
      await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('img.qr')].every((i) => i.complete && i.naturalWidth > 0));
      // The Remove question names what carries it.
      expect(await es.locator('button', { hasText: 'Remove' }).getAttribute('hx-confirm')).toContain('It goes to Icecast “es.mp3” (turned off)');
    } finally {
      await context.close();
    }
  });

  test('the before/after meters move with the audio over the page\'s live connection (a −12 dBFS tone)', async () => {
    const { page, context } = await open(multi, multiCookie, 'phone', '/programs');
    try {
      // admin.js writes data-peak from each `program-levels` frame: the page is live, not the server's first rendering.
      await page.waitForFunction(() => document.querySelectorAll('.pmeter[data-peak]').length === 4, undefined, { timeout: 10_000 });
      const peaks = await page.$$eval('.pmeter[data-peak]', (els) => els.map((e) => `${(e as HTMLElement).dataset.program} ${(e as HTMLElement).dataset.stage} ${(e as HTMLElement).dataset.peak}`));
      for (const p of peaks) expect(Math.abs(Number(p.split(' ')[2]) + 12)).toBeLessThan(1.5);
      const width = await page.$eval('#program-es .pmeter[data-stage="post"] .bar.peak', (b) => (b as HTMLElement).style.width);
      expect(parseFloat(width)).toBeGreaterThan(60);
      expect(await page.$eval('#program-es .pmeter[data-stage="post"] .track', (t) => t.getAttribute('aria-valuetext'))).toMatch(/^−1[12]\.\d dB$/);
    } finally {
      await context.close();
    }
  });

  test('adding a program with the matrix (channel 3, phone): listed, on /listen/info, in the config file', async () => {
    const { page, context } = await open(multi, multiCookie, 'phone', '/programs');
    try {
      await page.click('#program-add');
      await page.waitForSelector('#program-form');
      // Four rows: the input's four channels.
      expect(await page.locator('table.matrix tbody tr').count()).toBe(4);
      // Not the first program: nothing to keep.
      expect(await page.locator('#pf-keep_main').count()).toBe(0);
      await page.fill('#pf-id', 'en');
      await page.fill('#pf-name', 'English');
      await page.fill('#pf-language', 'en');
      await page.check('#pf-ch-3');
      await page.click('#pf-save');
      await page.waitForSelector('#program-en');
      await expect(page.locator('#programs-section [data-notice="ok"]').textContent()).resolves.toBe('Added “English”.');
      await expect(page.locator('#program-en .pc-made').textContent()).resolves.toBe('Input channel 3 (mono).');
      await expect(page.locator('#program-en .pc-lang').textContent()).resolves.toBe('English');
      const info = await listenInfo(multi);
      expect(info.programs.map((p) => p.id)).toEqual(['floor', 'es', 'en']);
      expect(info.programs.find((p) => p.id === 'en')?.name).toBe('English');
      const file = await Bun.file(multi.configPath).text();
      expect(file).toMatch(/\[\[program\]\]\s*\nid = "en"\s*\nname = "English"\s*\nlanguage = "en"\s*\nchannels = \[ 3 \]/);
      // The new program is live: its own listen page answers.
      expect((await fetch(`${multi.url}/listen/en`)).status).toBe(200);
    } finally {
      await context.close();
    }
  });

  test('editing it (desktop): an EQ band and a limiter, saved to the config file, described on its card', async () => {
    const { page, context } = await open(multi, multiCookie, 'desktop', '/programs');
    try {
      await page.click('#program-edit-en');
      await page.waitForSelector('#program-form');
      // Editing keeps the id (outputs name the program by it).
      expect(await page.locator('#pf-id').count()).toBe(0);
      expect(await page.isChecked('#pf-ch-3')).toBe(true);
      await page.click('#pf-add-band');
      await page.waitForSelector('#pf-eq_type_0');
      // What was typed before the band was added is still there.
      expect(await page.inputValue('#pf-name')).toBe('English');
      await page.selectOption('#pf-eq_type_0', 'highshelf');
      await page.fill('#pf-eq_hz_0', '3000');
      await page.fill('#pf-eq_gain_0', '−3');
      await page.fill('#pf-eq_q_0', '0.7');
      await page.fill('#pf-limiter_dbfs', '-1');
      await page.fill('#pf-delay_ms', '120');
      await page.click('#pf-save');
      await page.waitForSelector('#program-en');
      await expect(page.locator('#programs-section [data-notice="ok"]').textContent()).resolves.toBe('Saved “English”.');
      await expect(page.locator('#program-en .pc-sound').textContent()).resolves.toBe('Sound: 1 tone band, peaks kept under −1 dB, 120 ms delay.');
      const file = await Bun.file(multi.configPath).text();
      const en = file.slice(file.indexOf('id = "en"'));
      expect(en).toMatch(/limiter_dbfs = -1\b/);
      expect(en).toMatch(/delay_ms = 120\b/);
      expect(en).toMatch(/\[\[program\.eq\]\]\s*\ntype = "highshelf"\s*\nhz = 3000\s*\ngain_db = -3\s*\nq = 0\.7/);
      // The band comes back in the form, and goes with Remove.
      await page.click('#program-edit-en');
      await page.waitForSelector('#pf-eq_type_0');
      expect(await page.inputValue('#pf-eq_hz_0')).toBe('3000');
      expect(await page.inputValue('#pf-limiter_dbfs')).toBe('-1');
      await page.click('#pf-eq-remove-0');
      await page.waitForSelector('#pf-eq-none');
      await page.click('#pf-cancel');
      await page.waitForSelector('#program-en');
      expect(await Bun.file(multi.configPath).text()).toBe(file);
    } finally {
      await context.close();
    }
  });

  test('a bad entry is refused beside its field and nothing is saved: the id "Bad Id", a channel the input lacks', async () => {
    const before = await Bun.file(multi.configPath).text();
    const { page, context } = await open(multi, multiCookie, 'phone', '/programs');
    try {
      await page.click('#program-add');
      await page.waitForSelector('#program-form');
      await page.fill('#pf-id', 'Bad Id');
      await page.fill('#pf-name', 'Bad');
      await page.check('#pf-ch-2');
      await page.click('#pf-save');
      await page.waitForSelector('#pf-id-err');
      expect(await page.locator('[data-field="id"] .err').textContent()).toBe('use lower-case letters, digits, - and _ only (up to 32, starting with a letter or a digit), e.g. floor or es; got "Bad Id"');
      expect(await page.getAttribute('#pf-id', 'aria-invalid')).toBe('true');
      // What was typed stays, so it can be corrected.
      expect(await page.inputValue('#pf-id')).toBe('Bad Id');
      expect(await page.isChecked('#pf-ch-2')).toBe(true);
      // In view on a phone (admin.js scrolls the refused field to the middle).
      await page.waitForFunction(() => {
        const r = document.querySelector('[data-field="id"].invalid')!.getBoundingClientRect();
        return r.top >= 0 && r.bottom <= innerHeight;
      });
      // A form from before the interface had fewer channels: channel 5 of a four-channel input.
      await page.fill('#pf-id', 'five');
      await page.$eval('#pf-ch-2', (c) => ((c as HTMLInputElement).value = '5'));
      await page.click('#pf-save');
      await page.waitForSelector('#pf-routing-err');
      expect(await page.locator('[data-field="routing"] .err').first().textContent()).toBe('the input has no channel 5: it captures 4 (input.channels)');
      expect(await page.locator('#pf-id-err').count()).toBe(0);
      expect(await Bun.file(multi.configPath).text()).toBe(before);
      expect((await listenInfo(multi)).programs.map((p) => p.id)).toEqual(['floor', 'es', 'en']);
    } finally {
      await context.close();
    }
  });

  test('Mute on a card mutes that program alone (/listen/info), keeps the focus on the button, and Unmute undoes it', async () => {
    const { page, context } = await open(multi, multiCookie, 'phone', '/programs');
    try {
      await page.click('#program-mute-es');
      await page.waitForFunction(() => document.querySelector('#program-mute-es')?.textContent === 'Unmute Español');
      let info = await listenInfo(multi);
      expect(info.programs.map((p) => `${p.id} ${p.muted}`)).toEqual(['floor false', 'es true', 'en false']);
      await expect(page.locator('#program-live-es [data-muted]').textContent()).resolves.toBe('Muted');
      // The live update and the answer both replace the button: the focus stays on its successor.
      await page.waitForTimeout(500);
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('program-mute-es');
      // Another page open on it sees the change (the SSE event), without reloading.
      const other = await open(multi, multiCookie, 'desktop', '/programs');
      await expect(other.page.locator('#program-live-es [data-muted]').textContent()).resolves.toBe('Muted');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('#program-mute-es')?.textContent === 'Mute Español');
      await other.page.waitForFunction(() => document.querySelector('#program-live-es [data-muted]')?.textContent === 'On');
      await other.context.close();
      info = await listenInfo(multi);
      expect(info.programs.every((p) => !p.muted)).toBe(true);
    } finally {
      await context.close();
    }
  });

  test('the QR code decodes (zbarimg) to the absolute listen address, as the admin reached the box', async () => {
    const { page, context } = await open(multi, multiCookie, 'desktop', '/ui/programs/es/qr.svg');
    try {
      expect(await page.evaluate(() => document.contentType)).toBe('image/svg+xml');
      const png = await page.locator('svg').screenshot();
      expect(decodePng(png)).toBe(`${multi.url}/listen/es`);
      // By another name of the box (localhost), the code says that name.
      const byName = await fetch(`http://localhost:${multi.port}/ui/programs/floor/qr.svg`, { headers: { cookie: multiCookie } });
      expect(byName.status).toBe(200);
      expect(await byName.text()).toContain(`aria-label="QR code for Floor: http://localhost:${multi.port}/listen/floor"`);
      // An unknown program: 404.
      expect((await fetch(`${multi.url}/ui/programs/nope/qr.svg`, { headers: { cookie: multiCookie } })).status).toBe(404);
    } finally {
      await context.close();
    }
  });

  test('the scan-to-listen sheet: 200, its style allowed by hash in the CSP (and applied), a code per program, the Wi-Fi hint escaped', async () => {
    const res = await fetch(`${multi.url}/programs/sheet?wifi=${encodeURIComponent('Guest <b>5G</b>')}`, { headers: { cookie: multiCookie } });
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain(`style-src 'self' ${QR_SHEET_STYLE_SRC};`);
    expect(csp).toContain("script-src 'self';");
    const body = await res.text();
    for (const id of ['floor', 'es', 'en']) {
      expect(body).toContain(`data-program="${id}"`);
      expect(body).toContain(`<p class="url clamp">${multi.url}/listen/${id}</p>`);
    }
    expect(body).toContain('Join the Wi-Fi: <b>Guest &lt;b&gt;5G&lt;/b&gt;</b>');
    // In a browser: the inline stylesheet applies (the CSP lets it), and each code decodes.
    const { page, context } = await open(multi, multiCookie, 'desktop', '/programs');
    try {
      await page.fill('#sheet-wifi', 'Church-Guest');
      const [sheet] = await Promise.all([context.waitForEvent('page'), page.click('#sheet-print')]);
      await sheet.waitForLoadState();
      expect(new URL(sheet.url()).pathname).toBe('/programs/sheet');
      expect(new URL(sheet.url()).searchParams.get('wifi')).toBe('Church-Guest');
      expect(await sheet.evaluate(() => getComputedStyle(document.querySelector('h1')!).fontSize)).toBe('34.6667px');
      await expect(sheet.locator('.wifi b').textContent()).resolves.toBe('Church-Guest');
      const svg = await sheet.locator('[data-program="en"] svg').screenshot();
      expect(decodePng(svg)).toBe(`${multi.url}/listen/en`);
      await sheet.screenshot({ path: `${SHOTS}/sheet-desktop-light.png`, fullPage: true });
      expect(chrome.logs.filter((l) => /Content Security Policy/i.test(l))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test('the dashboard shows every program with a meter after its sound settings, moving', async () => {
    const { page, context } = await open(multi, multiCookie, 'desktop', '/');
    try {
      const names = await page.locator('#program-meters .pl-name').allTextContents();
      expect(names).toEqual(['Floor', 'Español', 'English']);
      await page.waitForFunction(() => document.querySelectorAll('#program-meters .pmeter[data-peak]').length === 3, undefined, { timeout: 10_000 });
      expect(await page.locator('#program-meters .pmeter[data-stage="pre"]').count()).toBe(0);
      expect(await page.locator('#program-meters a[href="/programs"]').count()).toBe(1);
    } finally {
      await context.close();
    }
  });

  test('the output forms offer the programs by name (default: the default program); the entry list says which each carries', async () => {
    const ice = await (await sock(multi, '/ui/icecast/new')).text();
    const select = /<select id="f-icecast-new-program" name="program"[^>]*>([\s\S]*?)<\/select>/.exec(ice)?.[1] ?? '';
    expect([...select.matchAll(/<option value="([^"]+)"[^>]*>([^<]*)</g)].map((m) => `${m[1]}=${unescape(m[2]!)}`)).toEqual(['main=Floor (the default)', 'es=Español', 'en=English']);
    expect(select).toMatch(/<option value="main" selected>/);
    const edit = await (await sock(multi, '/ui/icecast/0/edit')).text();
    expect(edit).toMatch(/<option value="es" selected>Español<\/option>/);
    expect(edit).toContain('<span class="entry-program">· Español</span>');
    const whip = await (await sock(multi, '/ui/whip/new')).text();
    expect(whip).toContain('name="program"');
    const outputs = await (await sock(multi, '/outputs')).text();
    expect(outputs).toMatch(/<select id="f-recording-program" name="program"/);
    // Saving an Icecast entry with another program: written as its id.
    const before = await Bun.file(multi.configPath).text();
    const r = await form(multi, '/ui/icecast/0', { program: 'en', enabled: 'false', host: '127.0.0.1', port: '9', mount: '/es.mp3' });
    expect(r.status).toBe(200);
    expect(await Bun.file(multi.configPath).text()).toContain('program = "en"');
    const bad = await form(multi, '/ui/icecast/0', { program: 'nope', enabled: 'false', host: '127.0.0.1', port: '9', mount: '/es.mp3' });
    expect(bad.status).toBe(422);
    expect(await bad.text()).toMatch(/data-field="program"[\s\S]*?<span class="err"[^>]*>no program &quot;nope&quot;/);
    // Back as it was, for the tests after this one.
    expect((await form(multi, '/ui/icecast/0', { program: 'es', enabled: 'false', host: '127.0.0.1', port: '9', mount: '/es.mp3' })).status).toBe(200);
    expect(await Bun.file(multi.configPath).text()).toBe(before);
  });
});

describe('hostile input on the /ui/programs endpoints', () => {
  /** A valid new program's fields, which each case spoils in one place. */
  const GOOD = { id: 'ok', name: 'OK', language: 'fr', ch: ['1'], mono: 'false', gain_db: '0', highpass_hz: '', limiter_dbfs: '', delay_ms: '0', gain_1: '', gain_2: '' };
  const band = { eq_type_0: 'peak', eq_hz_0: '1000', eq_gain_0: '0', eq_q_0: '1' };
  const cases: { name: string; fields: Record<string, string | string[]>; field: string; reason: RegExp; addOnly?: boolean }[] = [
    { name: 'the id "Bad Id"', fields: { id: 'Bad Id' }, field: 'id', reason: /^use lower-case letters, digits, - and _ only .*; got "Bad Id"$/, addOnly: true },
    { name: 'markup as the id', fields: { id: '<script>alert(1)</script>' }, field: 'id', reason: /got "<script>alert\(1\)<\/script>"$/, addOnly: true },
    { name: 'no id', fields: { id: '' }, field: 'id', reason: /^use lower-case letters/, addOnly: true },
    { name: 'an id of 40 characters', fields: { id: 'a'.repeat(40) }, field: 'id', reason: /^use lower-case letters/, addOnly: true },
    { name: 'the id of another program', fields: { id: 'es' }, field: 'id', reason: /^"es" is used by another program; give each a distinct id$/, addOnly: true },
    { name: 'a word the listen page uses ("info")', fields: { id: 'info' }, field: 'id', reason: /^"info" is a word the listen page's own addresses use/, addOnly: true },
    { name: 'a name of 100 characters', fields: { name: 'n'.repeat(100) }, field: 'name', reason: /64/ },
    { name: 'a language that is no code', fields: { language: 'english!!' }, field: 'language', reason: /^a language code, e\.g\. en, es or pt-BR; got "english!!"$/ },
    { name: 'markup as the language', fields: { language: '"><img src=x onerror=alert(1)>' }, field: 'language', reason: /^a language code/ },
    { name: 'no channel', fields: { ch: [] }, field: 'routing', reason: /^tick at least one input channel$/ },
    { name: 'channel 5 of a four-channel input', fields: { ch: ['5'] }, field: 'routing', reason: /^the input has no channel 5: it captures 4 \(input\.channels\)$/ },
    { name: 'channel 9', fields: { ch: ['9'] }, field: 'routing', reason: /between 1 and 8, got 9/ },
    { name: 'a channel in words', fields: { ch: ['three'] }, field: 'routing', reason: /^not an input channel: "three"$/ },
    { name: 'three channels as stereo', fields: { ch: ['1', '2', '3'] }, field: 'mono', reason: /^3 channels make no stereo pair: tick “Mono/ },
    { name: 'a mix gain without mono', fields: { ch: ['1', '2'], gain_2: '-6' }, field: 'gain_2', reason: /^channel 2: a gain mixes the channels to one/ },
    { name: 'a mix gain of −100 dB', fields: { ch: ['1', '2'], mono: 'true', gain_2: '-100' }, field: 'gain_2', reason: /^channel 2: must be between -60 and 12, got -100$/ },
    { name: 'a mix gain in words', fields: { ch: ['1'], mono: 'true', gain_1: 'loud' }, field: 'gain_1', reason: /^channel 1: must be a number of dB, got "loud"$/ },
    { name: 'mono "maybe"', fields: { mono: 'maybe', ch: ['1', '2', '3'] }, field: 'mono', reason: /stereo pair/ },
    { name: 'a gain in words', fields: { gain_db: 'loud' }, field: 'gain_db', reason: /^must be a number, got "loud"$/ },
    { name: 'a gain of +99 dB', fields: { gain_db: '99' }, field: 'gain_db', reason: /between -24 and 24, got 99/ },
    { name: 'a high-pass of 10 Hz', fields: { highpass_hz: '10' }, field: 'highpass_hz', reason: /^between 20 and 300 Hz, or 0 for off; got 10$/ },
    { name: 'a high-pass of 5 kHz', fields: { highpass_hz: '5000' }, field: 'highpass_hz', reason: /between 0 and 300, got 5000/ },
    { name: 'a limiter above full scale', fields: { limiter_dbfs: '3' }, field: 'limiter_dbfs', reason: /between -24 and 0, got 3/ },
    { name: 'a limiter at −0.05 dBFS', fields: { limiter_dbfs: '-0.05' }, field: 'limiter_dbfs', reason: /^a ceiling of −0\.1 dBFS or lower, or 0 for off; got -0\.05$/ },
    { name: 'a delay of 600 ms', fields: { delay_ms: '600' }, field: 'delay_ms', reason: /between 0 and 500, got 600/ },
    { name: 'a negative delay', fields: { delay_ms: '-1' }, field: 'delay_ms', reason: /between 0 and 500, got -1/ },
    { name: 'an EQ band of an unknown kind', fields: { ...band, eq_type_0: 'shout' }, field: 'eq_type_0', reason: /must be one of "peak", "lowshelf"/ },
    { name: 'markup as the EQ kind', fields: { ...band, eq_type_0: '<script>x</script>' }, field: 'eq_type_0', reason: /must be one of/ },
    { name: 'an EQ band at 5 Hz', fields: { ...band, eq_hz_0: '5' }, field: 'eq_hz_0', reason: /between 20 and 20000, got 5/ },
    { name: 'an EQ band of +30 dB', fields: { ...band, eq_gain_0: '30' }, field: 'eq_gain_0', reason: /between -24 and 24, got 30/ },
    { name: 'an EQ width of 0', fields: { ...band, eq_q_0: '0' }, field: 'eq_q_0', reason: /between 0\.1 and 10, got 0/ },
    {
      name: 'seven EQ bands',
      fields: Object.fromEntries(Array.from({ length: 7 }, (_, i) => [[`eq_type_${i}`, 'peak'], [`eq_hz_${i}`, '1000'], [`eq_gain_${i}`, '0'], [`eq_q_${i}`, '1']]).flat()),
      field: 'eq',
      reason: /^at most 6 bands, got 7$/,
    },
  ];

  test(`the corpus has at least 25 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  test.each(cases.map((c) => [c.name, c] as const))('add and edit: %s → 422, the reason beside the field, nothing written, markup escaped', async (_name, c) => {
    const before = await Bun.file(multi.configPath).text();
    for (const path of c.addOnly ? ['/ui/programs'] : ['/ui/programs', '/ui/programs/es']) {
      const res = await form(multi, path, { ...GOOD, ...c.fields });
      const page = await res.text();
      expect(`${path} ${res.status}`).toBe(`${path} 422`);
      const errs = fieldErrors(page);
      expect(Object.keys(errs)).toEqual([c.field]);
      expect(errs[c.field]!).toMatch(c.reason);
      expect(page).not.toContain('<script>');
      expect(page).not.toContain('<img');
      // The form comes back with what was typed.
      if (typeof c.fields.name === 'string') expect(page).toContain(`value="${c.fields.name}"`);
    }
    expect(await Bun.file(multi.configPath).text()).toBe(before);
  });

  test('a name with markup is saved as text and shown escaped everywhere; then removed', async () => {
    const r = await form(multi, '/ui/programs', { ...GOOD, id: 'xss', name: '<img src=x onerror=alert(1)>' });
    expect(r.status).toBe(200);
    for (const path of ['/programs', '/', '/ui/programs/xss/edit']) {
      const page = await (await sock(multi, path)).text();
      expect(`${path}: ${page.includes('&lt;img src=x onerror=alert(1)&gt;')}`).toBe(`${path}: true`);
      expect(page).not.toContain('<img src=x');
    }
    const del = await sock(multi, '/ui/programs/xss', { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(await del.text()).toContain('Removed “&lt;img src=x onerror=alert(1)&gt;”.');
  });

  test('removing a program an output carries is refused with the reason; an unknown program is 404 everywhere', async () => {
    const before = await Bun.file(multi.configPath).text();
    const del = await sock(multi, '/ui/programs/es', { method: 'DELETE' });
    expect(del.status).toBe(409);
    expect(unescape(await del.text())).toContain('Not removed: Icecast “es.mp3” (turned off) carries it: choose another program for it on the Outputs page first (icecast.0.program: no program "es": the programs are "main", "floor", "en").');
    expect(await Bun.file(multi.configPath).text()).toBe(before);
    for (const [method, path] of [['GET', '/ui/programs/nope/edit'], ['POST', '/ui/programs/nope'], ['POST', '/ui/programs/nope/mute'], ['DELETE', '/ui/programs/nope'], ['GET', '/ui/programs/..%2F..%2Fetc/qr.svg']] as const) {
      const res = await sock(multi, path, { method, ...(method === 'POST' ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=x' } : {}) });
      expect(`${method} ${path} ${res.status}`).toBe(`${method} ${path} 404`);
    }
    expect(await Bun.file(multi.configPath).text()).toBe(before);
  });

  test('removing a program no output names works, from the page with its confirmation', async () => {
    const { page, context } = await open(multi, multiCookie, 'desktop', '/programs');
    try {
      let asked = '';
      page.once('dialog', (d) => {
        asked = d.message();
        void d.accept();
      });
      await page.click('#program-remove-en');
      await page.waitForFunction(() => !document.querySelector('#program-en'));
      expect(asked).toBe('Remove the program “English”? Its listen address and stream link stop working.');
      await expect(page.locator('#programs-section [data-notice="ok"]').textContent()).resolves.toBe('Removed “English”.');
      expect((await listenInfo(multi)).programs.map((p) => p.id)).toEqual(['floor', 'es']);
      expect(await Bun.file(multi.configPath).text()).not.toContain('id = "en"');
    } finally {
      await context.close();
    }
  });
});

describe('with the default config (one program, Main)', () => {
  test('the Programs page explains the one program and offers to add one; the outputs have no program choice', async () => {
    const { page, context } = await open(plain, plainCookie, 'phone', '/programs');
    try {
      await expect(page.locator('#programs-empty h2').textContent()).resolves.toBe('One program: Main');
      expect(await page.locator('#programs-empty').textContent()).toContain('Everything goes out as one program, Main: input channels 1 and 2, as they come in.');
      expect(await page.locator('.program-card').count()).toBe(0);
      expect(await page.locator('#program-add').textContent()).toBe('Add a program');
      for (const path of ['/ui/icecast/new', '/ui/whip/new', '/outputs']) expect(await (await sock(plain, path)).text()).not.toContain('name="program"');
    } finally {
      await context.close();
    }
  });

  test('the dashboard is as before: no programs panel, no program levels on its live connection', async () => {
    const { page, context } = await open(plain, plainCookie, 'desktop', '/');
    try {
      expect(await page.locator('#program-meters, .pmeter, .programs-levels').count()).toBe(0);
      const events = await page.evaluate(async () => {
        const r = await fetch('/events?page=dashboard');
        const reader = r.body!.getReader();
        let text = '';
        const until = Date.now() + 1500;
        while (Date.now() < until) {
          const { value, done } = await Promise.race([reader.read(), new Promise<{ value: undefined; done: true }>((res) => setTimeout(() => res({ value: undefined, done: true }), until - Date.now()))]);
          if (done || !value) break;
          text += new TextDecoder().decode(value);
        }
        await reader.cancel();
        return text;
      });
      expect(events).toContain('event: levels');
      expect(events).not.toContain('event: program-levels');
    } finally {
      await context.close();
    }
  });

  test('adding the first program keeps what was streamed as "Main", the default, first', async () => {
    const res = await form(plain, '/ui/programs', { id: 'es', name: 'Español', language: 'es', ch: ['2'], mono: 'false', keep_main: ['false', 'true'], gain_db: '0', delay_ms: '0' });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Added “Español”, and “Main”, what was streamed before.');
    const info = await listenInfo(plain);
    expect(info.programs.map((p) => `${p.id} ${p.name}`)).toEqual(['main Main', 'es Español']);
    expect(info.main).toBe('main');
    const file = await Bun.file(plain.configPath).text();
    expect(file).toMatch(/id = "main"\s*\nname = "Main"\s*\nchannels = \[ 1, 2 \]/);
    // Back to one program: removing both.
    for (const id of ['es', 'main']) expect((await sock(plain, `/ui/programs/${id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await listenInfo(plain)).programs.map((p) => p.id)).toEqual(['main']);
  });
});

describe('accessibility and looks', () => {
  test('axe: no serious or critical findings on /programs (cards and the open form), phone and desktop, light and dark', async () => {
    const findings: string[] = [];
    for (const size of ['phone', 'desktop'] as const) {
      for (const scheme of ['light', 'dark'] as const) {
        const { page, context } = await open(multi, multiCookie, size, '/programs', scheme);
        try {
          for (const state of ['cards', 'form']) {
            if (state === 'form') {
              await page.click('#program-edit-es');
              await page.click('#pf-add-band');
              await page.waitForSelector('#pf-eq_type_0');
            }
            await injectAxe(page);
            const found = await page.evaluate(async () => {
              const r = await window.axe.run(document, { resultTypes: ['violations'] });
              return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact} ${v.id} (${v.help}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
            });
            for (const f of found) findings.push(`${size} ${scheme} ${state}: ${f}`);
          }
        } finally {
          await context.close();
        }
      }
    }
    expect(findings).toEqual([]);
  }, 120_000);

  test('on a phone every button, link and control of the page and the form is at least 44 px high, and nothing is wider than the screen', async () => {
    const { page, context } = await open(multi, multiCookie, 'phone', '/programs');
    try {
      const small = async () =>
        page.evaluate(() =>
          [...document.querySelectorAll('main button, main a, main select, main input:not([type=hidden]):not([type=checkbox])')]
            .filter((e) => (e as HTMLElement).offsetParent !== null)
            .map((e) => ({ what: `${e.tagName.toLowerCase()} "${(e.textContent || (e as HTMLInputElement).name || e.id).trim().slice(0, 30)}"`, h: e.getBoundingClientRect().height }))
            .filter((x) => x.h < 44)
            .concat(
              [...document.querySelectorAll('main input[type=checkbox]')]
                .filter((e) => (e as HTMLElement).offsetParent !== null)
                .map((e) => ({ what: `the label of "${e.id}"`, h: document.querySelector(`label[for="${e.id}"]`)?.getBoundingClientRect().height ?? 0 }))
                .filter((x) => x.h < 44),
            )
            .map((x) => `${x.what}: ${x.h.toFixed(0)} px`),
        );
      expect(await small()).toEqual([]);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await page.click('#program-edit-es');
      await page.click('#pf-add-band');
      await page.waitForSelector('#pf-eq_type_0');
      expect(await small()).toEqual([]);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    } finally {
      await context.close();
    }
  });

  test('shots: the page, the form and the dashboard, phone and desktop, light and dark', async () => {
    for (const size of ['phone', 'desktop'] as const) {
      for (const scheme of ['light', 'dark'] as const) {
        const { page, context } = await open(multi, multiCookie, size, '/programs', scheme);
        try {
          await page.waitForFunction(() => document.querySelectorAll('.pmeter[data-peak]').length > 0);
          await page.screenshot({ path: `${SHOTS}/programs-${size}-${scheme}.png`, fullPage: true });
          await page.click('#program-edit-es');
          await page.click('#pf-add-band');
          await page.waitForSelector('#pf-eq_type_0');
          // From the top: a full-page shot taken scrolled down draws the sticky header mid-page.
          await page.evaluate(() => scrollTo(0, 0));
          await page.screenshot({ path: `${SHOTS}/programs-form-${size}-${scheme}.png`, fullPage: true });
          await page.goto(`${multi.url}/`);
          await page.waitForFunction(() => document.querySelectorAll('#program-meters .pmeter[data-peak]').length > 0);
          await page.screenshot({ path: `${SHOTS}/dashboard-${size}-${scheme}.png`, fullPage: true });
          await page.goto(`${plain.url}/programs`);
        } finally {
          await context.close();
        }
        const one = await open(plain, plainCookie, size, '/programs', scheme);
        await one.page.screenshot({ path: `${SHOTS}/programs-one-${size}-${scheme}.png`, fullPage: true });
        await one.context.close();
      }
    }
    expect(chrome.logs.filter((l) => /pageerror|Content Security Policy/.test(l))).toEqual([]);
  }, 120_000);
});
