/**
 * SRT on the admin pages (issue 20, the admin side of the contribution links), against a real
 * hark with the default config (only the admin password and a free UDP port set), in Chromium
 * at phone (390×844) and desktop (1366×900) sizes:
 *
 * - Outputs page: an SRT link added through its form (phone) is listed in plain words and saved
 *   to the config file; its passphrase is a password field and is on no page afterwards; when a
 *   receiver (ffmpeg) calls, the list shows it live with the link's numbers (round trip, lost
 *   and sent again, what waits to go out), over the page's live connection, as /api/status has
 *   them; an edit (desktop) keeps the passphrase it does not show; a bad address and a short
 *   passphrase are refused beside their fields with the checks' exact words and nothing is
 *   saved; Remove takes it away.
 * - Input page: choosing "A feed over the Internet (SRT)" shows the feed's fields (and RTP's
 *   without the passphrase); saved, the status says where the feed comes from, and when ffmpeg
 *   sends, that it is receiving, from where, the buffer and the SRT link's numbers; choosing
 *   "Automatic" again hides them and goes back to the interface.
 * - axe (no serious or critical findings), 44 px touch targets and no sideways scrolling on a
 *   phone, and screenshots to /tmp/shots-srt-admin/.
 *
 * The hostile input against the same forms is in test/hostile-srt.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import type { Subprocess } from 'bun';
import type { BrowserContext, Page } from 'playwright-core';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { injectAxe, launchChromium, waitInPage, type ChromiumHandle } from './lib/browser.ts';
import { login, useSession } from './lib/session.ts';
import { freeUdpPort } from './lib/whep-client.ts';
import { until } from './lib/wait.ts';

const PASSWORD = 'a long enough password';
/** The link's passphrase: typed once, then on no page. */
const PASS = 'studio-secret-42';
/** The feed's passphrase (Input page). */
const FEED_PASS = 'feed-secret-0815';
const SHOTS = '/tmp/shots-srt-admin';
const SIZES = { phone: { width: 390, height: 844 }, desktop: { width: 1366, height: 900 } } as const;

let hark: HarkProcess;
let chrome: ChromiumHandle;
let cookie = '';
/** The SRT link's port (hark listens), and the feed's (the Input page's SRT input listens). */
let linkPort = 0;
let feedPort = 0;
const procs: Subprocess[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const [udp, a, b] = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
  [linkPort, feedPort] = [a, b];
  [hark, chrome] = await Promise.all([startHark(`[admin]\npassword = "${PASSWORD}"\n[webrtc]\nudp_port = ${udp}\n`, { timeoutMs: 60_000 }), launchChromium()]);
  cookie = await login(hark.url, PASSWORD);
}, 90_000);

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await chrome?.close();
  expect(await hark?.stop()).toBe(0);
}, 30_000);

/** The config file as the daemon wrote it. */
async function configFile(): Promise<Record<string, unknown> & { srt?: Record<string, unknown>[]; input?: Record<string, unknown> }> {
  return parseToml(await Bun.file(hark.configPath).text()) as never;
}

async function status(): Promise<{ input: { source: string; state: string; stats: Record<string, unknown> }; outputs: { srt: { state: string; peer: string | null; encrypted: boolean; link: Record<string, number> | null }[] } }> {
  return (await fetch(`${hark.url}/api/status`)).json();
}

/** A logged-in browser page at a size and theme (native confirm() dialogs are accepted). */
async function open(size: keyof typeof SIZES, path: string, colorScheme: 'light' | 'dark' = 'light'): Promise<{ page: Page; context: BrowserContext }> {
  const context = await chrome.browser.newContext({ viewport: SIZES[size], colorScheme });
  await useSession(context, hark.url, cookie);
  const page = await context.newPage();
  page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && chrome.logs.push(`[console.error] ${m.text()}`));
  page.on('dialog', (d) => void d.accept());
  await page.goto(`${hark.url}${path}`);
  return { page, context };
}

/** ffmpeg: an SRT receiver calling hark's link (`-f null`), or a sender of a 1 kHz MP2 tone to the feed's port. */
function ffmpeg(args: string[]): Subprocess {
  const p = Bun.spawn(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', ...args], { stdout: 'ignore', stderr: 'pipe' });
  procs.push(p);
  return p;
}

/** A receiver (ffmpeg) calling the link, unless one is connected: a saved change restarts the link, and ffmpeg does not call again. */
async function receiverOnLink(): Promise<void> {
  if ((await status()).outputs.srt[0]?.state === 'live') return;
  ffmpeg(['-i', `srt://127.0.0.1:${linkPort}?mode=caller&passphrase=${PASS}`, '-t', '300', '-f', 'null', '-']);
  await until(async () => (await status()).outputs.srt[0]?.state === 'live', 15_000, 'a receiver on the link');
}

/** The text of an element, whitespace folded. */
async function text(page: Page, sel: string): Promise<string> {
  return ((await page.locator(sel).first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

/** The refused field's message, and whether the field says it is invalid and is in view. */
async function refusal(page: Page, field: string): Promise<{ words: string; invalid: string | null; inView: boolean }> {
  await page.waitForSelector(`[data-field="${field}"].invalid .err`);
  const words = await text(page, `[data-field="${field}"] .err`);
  const invalid = await page.locator(`[data-field="${field}"] input, [data-field="${field}"] select`).first().getAttribute('aria-invalid');
  await page.waitForFunction((f) => {
    const r = document.querySelector(`[data-field="${f}"].invalid`)!.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= innerHeight;
  }, field);
  return { words, invalid, inView: true };
}

describe('the Outputs page: SRT links', () => {
  test('the card is there with the default config: its title, what it is for, none yet, and Add', async () => {
    const page = await (await fetch(`${hark.url}/outputs`, { headers: { cookie } })).text();
    expect(page).toContain('<h2>Links to a studio or transmitter (SRT)</h2>');
    expect(page).toMatch(/id="srt-section"[\s\S]*?None yet\.[\s\S]*?<button type="button" id="srt-add"[^>]*>Add SRT link<\/button>/);
    // The form needs a login, as every other.
    expect((await fetch(`${hark.url}/ui/srt/new`, { redirect: 'manual' })).status).toBe(401);
    expect((await fetch(`${hark.url}/ui/srt`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ url: 'srt://:9000' }) })).status).toBe(401);
  });

  test('adding a link on a phone: each field labelled with help, the passphrase a password field; listed, saved, and the passphrase on no page', async () => {
    const { page, context } = await open('phone', '/outputs');
    try {
      await page.click('#srt-add');
      await page.waitForSelector('#srt-form-new');
      const labels = await page.locator('#srt-form-new .field:not(details .field) > label').allTextContents();
      expect(labels).toEqual(['Address', 'Passphrase', 'Format', 'Bitrate (kbit/s)', 'Time to resend lost packets (ms)', 'Stream ID', 'Send on this link']);
      expect(await text(page, '#f-srt-new-url-help')).toContain('srt://studio.example.org:9000 (the far end waits for the call on port 9000)');
      expect(await text(page, '#f-srt-new-url-help')).toContain('srt://:9000?mode=listener (this box waits on port 9000');
      expect(await page.getAttribute('#f-srt-new-passphrase', 'type')).toBe('password');
      expect(await page.locator('#f-srt-new-payload option').allTextContents()).toEqual(['Opus (small, quick)', 'MP2 (broadcast codecs)', 'MP3', 'Uncompressed (24-bit)']);
      expect(await text(page, '#f-srt-new-payload-help')).toContain('MP2: what broadcast codecs and transmitters expect.');
      // One program: no choice of program.
      expect(await page.locator('#f-srt-new-program').count()).toBe(0);
      await page.fill('#f-srt-new-url', `srt://:${linkPort}?mode=listener`);
      await page.fill('#f-srt-new-passphrase', PASS);
      await page.selectOption('#f-srt-new-payload', 'mp2');
      await page.fill('#f-srt-new-bitrate_kbps', '192');
      await page.click('#save-srt-new');
      await page.waitForSelector('#srt-section li[data-entry="0"]');
      expect(await text(page, '#srt-section [data-notice="ok"]')).toBe('Saved.');
      expect(await text(page, '#srt-section li[data-entry="0"] .entry-name')).toBe('SRT link srt1');
      expect(await text(page, '#srt-section li[data-entry="0"] .where')).toBe(`waits for a call on port ${linkPort}, encrypted · MP2 192 kbit/s`);
      expect(await page.getAttribute('#srt-state-0 .pill', 'data-state')).toBe('connecting');
      expect(await text(page, '#srt-state-0 small')).toBe(`waiting for a receiver to call port ${linkPort}`);
      const srt = (await configFile()).srt!;
      expect(srt).toHaveLength(1);
      expect(srt[0]).toMatchObject({ url: `srt://:${linkPort}?mode=listener`, passphrase: PASS, payload: 'mp2', bitrate_kbps: 192 });
      expect(await page.content()).not.toContain(PASS);
      // The pages, the status and the diagnostic report (the config with its secrets taken out); the
      // owner's /api/config is the file itself.
      for (const path of ['/outputs', '/ui/srt', '/ui/srt/0/edit', '/api/status', '/api/diag']) {
        const body = await (await fetch(`${hark.url}${path}`, { headers: { cookie } })).text();
        expect(`${path}: ${body.includes(PASS) ? 'shows the passphrase' : 'fine'}`).toBe(`${path}: fine`);
      }
    } finally {
      await context.close();
    }
  });

  test('when a receiver calls, the list shows the link live with its numbers, as /api/status has them, without a reload', async () => {
    const { page, context } = await open('phone', '/outputs');
    try {
      expect(await page.getAttribute('#srt-state-0 .pill', 'data-state')).toBe('connecting');
      ffmpeg(['-i', `srt://127.0.0.1:${linkPort}?mode=caller&passphrase=${PASS}`, '-t', '300', '-f', 'null', '-']);
      await waitInPage(page, () => document.querySelector('#srt-state-0 .pill')?.getAttribute('data-state') === 'live' && !!document.querySelector('#srt-state-0 [data-facts]'), 0, {
        timeoutMs: 15_000,
        what: 'the link live with its numbers',
      });
      const facts = await text(page, '#srt-state-0 [data-facts]');
      expect(facts).toMatch(/^to 127\.0\.0\.1:\d+ · round trip [\d.]+ ms · \d+ lost, \d+ sent again · \d+ ms waiting to go out · \d+ kbit\/s · [\d.]+ (kB|MB) sent$/);
      const s = (await status()).outputs.srt[0]!;
      expect(s.state).toBe('live');
      expect(s.encrypted).toBe(true);
      expect(facts).toStartWith(`to ${s.peer} · `);
      expect(s.link!.packets_sent).toBeGreaterThan(0);
      // The "Now" table above says the same link is live.
      expect(await text(page, '#outputs tr[data-output="SRT:srt1"] .pill')).toBe('live');
      // The numbers move on by themselves (the sent amount grows).
      await page.waitForFunction((was) => (document.querySelector('#srt-state-0 [data-facts]')?.textContent ?? '').replace(/\s+/g, ' ').trim() !== was, facts, { timeout: 8000 });
      await page.evaluate(() => scrollTo(0, 0));
      await page.screenshot({ path: `${SHOTS}/outputs-live-phone.png`, fullPage: true });
    } finally {
      await context.close();
    }
  });

  test('editing on a desktop: the passphrase is not shown and, left empty, is kept; the new delay is saved', async () => {
    const { page, context } = await open('desktop', '/outputs');
    try {
      await page.click('#srt-edit-0');
      await page.waitForSelector('#srt-form-0');
      expect(await page.inputValue('#f-srt-0-url')).toBe(`srt://:${linkPort}?mode=listener`);
      expect(await page.inputValue('#f-srt-0-passphrase')).toBe('');
      expect(await page.getAttribute('#f-srt-0-passphrase', 'placeholder')).toBe('(unchanged)');
      expect(await text(page, 'label[for="f-srt-0-passphrase-clear"]')).toBe('Remove the saved passphrase (send unencrypted)');
      expect(await page.inputValue('#f-srt-0-payload')).toBe('mp2');
      expect(await page.content()).not.toContain(PASS);
      await page.fill('#f-srt-0-latency_ms', '300');
      await page.click('#save-srt-0');
      await page.waitForSelector('#srt-section [data-notice="ok"]');
      const srt = (await configFile()).srt!;
      expect(srt[0]).toMatchObject({ latency_ms: 300, passphrase: PASS, url: `srt://:${linkPort}?mode=listener` });
    } finally {
      await context.close();
    }
  });

  test('a bad address and a short passphrase are refused beside their fields with the exact words; nothing is saved', async () => {
    const before = await Bun.file(hark.configPath).text();
    for (const size of ['phone', 'desktop'] as const) {
      const { page, context } = await open(size, '/outputs');
      try {
        await page.click('#srt-edit-0');
        await page.waitForSelector('#srt-form-0');
        await page.fill('#f-srt-0-url', 'srt://studio.example.org:9000?mode=rendezvous');
        await page.click('#save-srt-0');
        const r = await refusal(page, 'url');
        expect(r.words).toBe('mode must be caller or listener, got "rendezvous" (rendezvous is not supported)');
        expect(r.invalid).toBe('true');
        // What was typed stays, to be corrected.
        expect(await page.inputValue('#f-srt-0-url')).toBe('srt://studio.example.org:9000?mode=rendezvous');
        await page.fill('#f-srt-0-url', 'srt://studio.example.org:9000');
        await page.fill('#f-srt-0-passphrase', 'tiny-pw');
        await page.click('#save-srt-0');
        const p = await refusal(page, 'passphrase');
        expect(p.words).toBe("a passphrase has 10–79 characters (SRT's rule), this one has 7");
        expect(await page.locator('[data-field="url"] .err').count()).toBe(0);
        // Not sent back: the field is empty and says to type it again.
        expect(await page.inputValue('#f-srt-0-passphrase')).toBe('');
        expect(await text(page, '#f-srt-0-passphrase-help')).toStartWith('Type it again: a passphrase is never sent back to this page.');
        expect(await page.content()).not.toContain('tiny-pw');
        if (size === 'phone') {
          await page.evaluate(() => scrollTo(0, 0));
          await page.screenshot({ path: `${SHOTS}/outputs-refused-phone.png`, fullPage: true });
        }
        expect(await Bun.file(hark.configPath).text()).toBe(before);
      } finally {
        await context.close();
      }
    }
  });

  test('a new link refused on a phone: the passphrase just typed is not sent back either', async () => {
    const before = await Bun.file(hark.configPath).text();
    const { page, context } = await open('phone', '/outputs');
    try {
      await page.click('#srt-add');
      await page.waitForSelector('#srt-form-new');
      await page.fill('#f-srt-new-url', 'srt://:9000?mode=caller');
      await page.fill('#f-srt-new-passphrase', 'another-secret-77');
      await page.click('#save-srt-new');
      expect((await refusal(page, 'url')).words).toBe("caller mode needs the receiver's host: srt://studio.example:9000?mode=caller");
      expect(await page.inputValue('#f-srt-new-passphrase')).toBe('');
      expect(await text(page, '#f-srt-new-passphrase-help')).toStartWith('Type it again');
      expect(await page.content()).not.toContain('another-secret-77');
      expect(await Bun.file(hark.configPath).text()).toBe(before);
    } finally {
      await context.close();
    }
  });
});

describe('the Input page: a feed over SRT', () => {
  test('choosing SRT shows the feed fields with their help (RTP without the passphrase); Automatic hides them', async () => {
    const { page, context } = await open('phone', '/input');
    try {
      const visible = async () => {
        const out: string[] = [];
        for (const f of ['url', 'passphrase', 'buffer_ms', 'output_device']) if (await page.locator(`#form-input [data-field="${f}"]`).isVisible()) out.push(f);
        return out;
      };
      expect(await page.inputValue('#f-input-source')).toBe('auto');
      expect(await visible()).toEqual([]);
      await page.selectOption('#f-input-source', 'srt');
      expect(await visible()).toEqual(['url', 'passphrase', 'buffer_ms', 'output_device']);
      expect(await text(page, '#form-input [data-field="url"] > label')).toBe('Feed address');
      expect(await page.locator('[data-when-source="srt"]').isVisible()).toBe(true);
      expect(await page.locator('[data-when-source="rtp"]').isVisible()).toBe(false);
      expect(await page.getAttribute('#f-input-passphrase', 'type')).toBe('password');
      expect(await page.locator('#f-input-output_device option').first().textContent()).toBe('The default output of this box');
      expect(await page.locator('#f-input-output_device option').last().textContent()).toBe('Nowhere: not played on this box');
      await page.selectOption('#f-input-source', 'rtp');
      expect(await visible()).toEqual(['url', 'buffer_ms', 'output_device']);
      expect(await page.locator('[data-when-source="rtp"]').isVisible()).toBe(true);
      expect(await text(page, '[data-when-source="rtp"]')).toContain('rtp://:5004: the stream sent to this box on port 5004.');
      await page.selectOption('#f-input-source', 'auto');
      expect(await visible()).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test('switched to SRT on a phone: saved, the status says where the feed comes from; when it comes, receiving, from where, the buffer and the link', async () => {
    const { page, context } = await open('phone', '/input');
    try {
      await page.selectOption('#f-input-source', 'srt');
      await page.fill('#f-input-url', `srt://:${feedPort}?mode=listener`);
      await page.fill('#f-input-passphrase', FEED_PASS);
      await page.selectOption('#f-input-output_device', 'none');
      await page.click('#save-input');
      await page.waitForSelector('#form-input [data-notice="ok"]');
      expect(await text(page, '#form-input [data-notice="ok"]')).toBe('Saved.');
      const input = (await configFile()).input!;
      expect(input).toMatchObject({ source: 'srt', url: `srt://:${feedPort}?mode=listener`, passphrase: FEED_PASS, output_device: 'none' });
      await waitInPage(page, () => !!document.querySelector('#feed-facts'), 0, { timeoutMs: 10_000, what: 'the feed status' });
      expect(await text(page, '#feed-facts dd')).toBe(`SRT on port ${feedPort} (the sender calls this box)`);
      expect(await text(page, '#feed-facts .pill')).toBe('waiting for the feed');
      // The interface picker says it is not used now (after a reload: the page is drawn for the saved input).
      await page.reload();
      expect(await text(page, '#device-form small')).toContain('Not used now: the sound comes from a feed over the network');
      expect(await page.inputValue('#f-input-passphrase')).toBe('');
      expect(await page.getAttribute('#f-input-passphrase', 'placeholder')).toBe('(unchanged)');
      expect(await page.content()).not.toContain(FEED_PASS);
      ffmpeg(['-re', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000', '-ac', '2', '-c:a', 'mp2', '-b:a', '192k', '-t', '120', '-f', 'mpegts', `srt://127.0.0.1:${feedPort}?mode=caller&passphrase=${FEED_PASS}`]);
      // "connected to …" first, then "receiving <format> from …" once the audio is decoded.
      await waitInPage(page, () => document.querySelector('#feed-facts .pill')?.textContent === 'receiving' && !!document.querySelector('#feed-facts [data-peer]') && / from /.test(document.querySelectorAll('#feed-facts dd')[1]?.textContent ?? ''), 0, {
        timeoutMs: 20_000,
        what: 'the feed received',
      });
      expect(await text(page, '#feed-facts [data-peer]')).toMatch(/^127\.0\.0\.1:\d+$/);
      const facts = await page.evaluate(() => [...document.querySelectorAll('#feed-facts dt')].map((dt) => `${dt.textContent}: ${(dt.nextElementSibling?.textContent ?? '').replace(/\s+/g, ' ').trim()}`));
      expect(facts.find((l) => l.startsWith('State:'))).toMatch(/^State: receiving receiving \S+ from 127\.0\.0\.1:\d+$/);
      expect(facts.find((l) => l.startsWith('Buffer:'))).toMatch(/^Buffer: \d+ ms buffered \(target \d+ ms/);
      expect(facts.find((l) => l.startsWith('SRT link:'))).toMatch(/^SRT link: round trip [\d.]+ ms, \d+ lost and asked again, \d+ too late, latency 120 ms$/);
      const s = await status();
      expect(s.input).toMatchObject({ source: 'srt', state: 'running' });
      await page.evaluate(() => scrollTo(0, 0));
      await page.screenshot({ path: `${SHOTS}/input-srt-phone.png`, fullPage: true });
    } finally {
      await context.close();
    }
  });

  test("played on the box (the output at its default, as a new form has it) on a desktop: the buffer line says SRT's latency, then each packet straight on to the output", async () => {
    const { page, context } = await open('desktop', '/input');
    try {
      await page.selectOption('#f-input-output_device', '');
      await page.click('#save-input');
      await page.waitForSelector('#form-input [data-notice="ok"]');
      expect((await configFile()).input!.output_device ?? '').toBe('');
      // the saved input restarts its link: the sender calls again
      ffmpeg(['-re', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000', '-ac', '2', '-c:a', 'mp2', '-b:a', '192k', '-t', '120', '-f', 'mpegts', `srt://127.0.0.1:${feedPort}?mode=caller&passphrase=${FEED_PASS}`]);
      await waitInPage(page, () => document.querySelector('#feed-facts .pill')?.textContent === 'receiving' && !!document.querySelector('#feed-facts [data-peer]'), 0, { timeoutMs: 20_000, what: 'the feed received' });
      const facts = await page.evaluate(() => [...document.querySelectorAll('#feed-facts dt')].map((dt) => `${dt.textContent}: ${(dt.nextElementSibling?.textContent ?? '').replace(/\s+/g, ' ').trim()}`));
      expect(facts.find((l) => l.startsWith('Buffer:'))).toBe("Buffer: SRT's latency (120 ms), then each packet goes on to the output as it arrives");
      expect(facts.find((l) => l.startsWith('Plays on:'))).toBeDefined();
      const s = await status();
      expect(s.input).toMatchObject({ source: 'srt', state: 'running' });
      expect(s.input.stats.playsOnArrival).toBe(1);
      await page.evaluate(() => scrollTo(0, 0));
      await page.screenshot({ path: `${SHOTS}/input-srt-on-arrival-desktop.png`, fullPage: true });
    } finally {
      await context.close();
    }
  });

  test('and back to Automatic on a desktop: the feed fields hide, the status is the interface again; the feed settings stay for next time', async () => {
    const { page, context } = await open('desktop', '/input');
    try {
      expect(await page.inputValue('#f-input-source')).toBe('srt');
      await page.selectOption('#f-input-source', 'auto');
      expect(await page.locator('#f-input-url').isVisible()).toBe(false);
      await page.click('#save-input');
      await page.waitForSelector('#form-input [data-notice="ok"]');
      expect((await configFile()).input).toMatchObject({ url: `srt://:${feedPort}?mode=listener`, passphrase: FEED_PASS });
      expect((await configFile()).input!.source ?? 'auto').toBe('auto');
      await waitInPage(page, () => !document.querySelector('#feed-facts') && !!document.querySelector('#input-status [data-device]'), 0, { timeoutMs: 10_000, what: 'the interface status again' });
      await until(async () => (await status()).input.source !== 'srt', 10_000, 'the input back to an interface');
    } finally {
      await context.close();
    }
  });
});

describe('accessibility and looks', () => {
  test('axe: no serious or critical findings on /outputs (the live link, its open form) and /input (SRT chosen), phone and desktop, light and dark', async () => {
    await receiverOnLink();
    const findings: string[] = [];
    for (const size of ['phone', 'desktop'] as const) {
      for (const scheme of ['light', 'dark'] as const) {
        const { page, context } = await open(size, '/outputs', scheme);
        try {
          for (const state of ['list', 'form', 'input']) {
            if (state === 'form') {
              await page.click('#srt-edit-0');
              await page.waitForSelector('#srt-form-0');
            }
            if (state === 'input') {
              await page.goto(`${hark.url}/input`);
              await page.selectOption('#f-input-source', 'srt');
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

  test('on a phone every button and control of the SRT card, its form and the Capture form is at least 44 px high, and nothing is wider than the screen', async () => {
    const { page, context } = await open('phone', '/outputs');
    try {
      const small = async (scope: string) =>
        page.evaluate((scope) => {
          const root = document.querySelector(scope)!;
          return [...root.querySelectorAll('button, a, select, input:not([type=hidden]):not([type=checkbox])')]
            .filter((e) => (e as HTMLElement).offsetParent !== null)
            .map((e) => ({ what: `${e.tagName.toLowerCase()} "${(e.textContent || (e as HTMLInputElement).name || e.id).trim().slice(0, 30)}"`, h: e.getBoundingClientRect().height }))
            .filter((x) => x.h < 44)
            .concat(
              [...root.querySelectorAll('input[type=checkbox]')]
                .filter((e) => (e as HTMLElement).offsetParent !== null)
                .map((e) => ({ what: `the label of "${e.id}"`, h: (e.closest('label') ?? document.querySelector(`label[for="${e.id}"]`))?.getBoundingClientRect().height ?? 0 }))
                .filter((x) => x.h < 44),
            )
            .map((x) => `${x.what}: ${x.h.toFixed(0)} px`);
        }, scope);
      expect(await small('#srt-section')).toEqual([]);
      await page.click('#srt-edit-0');
      await page.waitForSelector('#srt-form-0');
      await page.click('#srt-form-0 details.advanced summary');
      expect(await small('#srt-section')).toEqual([]);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await page.goto(`${hark.url}/input`);
      await page.selectOption('#f-input-source', 'srt');
      expect(await small('#form-input')).toEqual([]);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    } finally {
      await context.close();
    }
  });

  test('shots: the SRT card with the live link, its form, the Capture form with SRT chosen; phone and desktop, light and dark', async () => {
    await receiverOnLink();
    for (const size of ['phone', 'desktop'] as const) {
      for (const scheme of ['light', 'dark'] as const) {
        const { page, context } = await open(size, '/outputs', scheme);
        try {
          await page.waitForSelector('#srt-state-0 [data-facts]');
          await page.screenshot({ path: `${SHOTS}/outputs-${size}-${scheme}.png`, fullPage: true });
          await page.click('#srt-edit-0');
          await page.waitForSelector('#srt-form-0');
          // From the top: a full-page shot taken scrolled down draws the sticky header mid-page.
          await page.evaluate(() => scrollTo(0, 0));
          await page.screenshot({ path: `${SHOTS}/outputs-form-${size}-${scheme}.png`, fullPage: true });
          await page.goto(`${hark.url}/input`);
          await page.selectOption('#f-input-source', 'srt');
          await page.screenshot({ path: `${SHOTS}/input-form-${size}-${scheme}.png`, fullPage: true });
        } finally {
          await context.close();
        }
      }
    }
    expect(chrome.logs.filter((l) => /pageerror|Content Security Policy/.test(l))).toEqual([]);
  }, 120_000);
});

describe('removing the link', () => {
  test('Remove on a phone (with its confirmation): gone from the list, the config file and /api/status; the receiver is let go', async () => {
    const { page, context } = await open('phone', '/outputs');
    try {
      await page.click('#srt-remove-0');
      await page.waitForSelector('#srt-section p.empty');
      expect(await text(page, '#srt-section p.empty')).toBe('None yet.');
      expect(await text(page, '#srt-section [data-notice="ok"]')).toBe('Saved.');
      expect((await configFile()).srt ?? []).toEqual([]);
      await until(async () => (await status()).outputs.srt.length === 0, 10_000, 'no SRT output left');
      expect(await Bun.file(hark.configPath).text()).not.toContain(PASS);
    } finally {
      await context.close();
    }
  });
});
