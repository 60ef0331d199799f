/**
 * The pages for the people who run a service, walked in Chromium at phone (390×844) and desktop
 * (1366×900) sizes against a real daemon with the default config:
 * - the Record button on the dashboard and on the Recordings page starts and stops a recording;
 *   the list shows it in the box's time zone with its length, and it plays in the page;
 * - one recording per service: a kill and start (and an in-place restart) while recording goes
 *   on in the same file, which decodes whole (MP3 and chained Ogg/Opus);
 * - System: reboot and shut down run the (injected) command only after the confirmation, and
 *   are absent where hark cannot do it; the time zone; the warning before the port moves;
 * - Listeners: a browser on the listen page and an MP3 player, as people read them.
 * Screenshots of each page, phone and desktop, light and dark, go to /tmp/shots-h5b/.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { decodeWithFfmpeg, decodeWithOpusdec } from './lib/signal.ts';
import { loginInPage } from './lib/session.ts';

const PASSWORD = 'correct horse battery';
const ZONE = 'America/New_York';
const SHOTS = '/tmp/shots-h5b';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1366, height: 900 };
const PIXEL_UA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';

const started: HarkProcess[] = [];
let chrome: ChromiumHandle;
/** The daemon the pages are walked on: default config, "the image" (HARK_SYSTEM_CONTROL → a recorder script). */
let hark: HarkProcess;
let commandLog: string;
let session: Awaited<ReturnType<BrowserContext['storageState']>>;

/** A request over the CLI socket (the admin's own login). */
function sock(h: HarkProcess, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://localhost${path}`, { ...init, unix: join(h.dir, 'hark.sock') } as RequestInit);
}
const status = async (h: HarkProcess) => (await sock(h, '/api/status')).json() as Promise<any>;

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (performance.now() < deadline) {
    last = await fn();
    if (last) return last as T;
    await Bun.sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
}

async function context(browser: Browser, viewport: { width: number; height: number }, opts: { dark?: boolean; userAgent?: string } = {}): Promise<BrowserContext> {
  return browser.newContext({ viewport, colorScheme: opts.dark ? 'dark' : 'light', storageState: session, ...(opts.userAgent ? { userAgent: opts.userAgent } : {}) });
}

/** What the page shows at this moment in `ZONE`, as the recordings list writes it. */
function localClock(iso: string): string {
  return new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: ZONE }).format(Date.parse(iso));
}

let zoneFile = '';

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const bin = mkdtempSync(join(tmpdir(), 'hark-sysctl-'));
  commandLog = join(bin, 'commands.log');
  writeFileSync(commandLog, '');
  // Stands in for systemctl/timedatectl: records the command; lists three zones.
  writeFileSync(
    join(bin, 'system-command'),
    `#!/bin/sh\necho "$*" >> ${commandLog}\nif [ "$1 $2" = "timedatectl list-timezones" ]; then printf 'America/New_York\\nEurope/Berlin\\nEurope/London\\nUTC\\n'; fi\nexit 0\n`,
  );
  chmodSync(join(bin, 'system-command'), 0o755);
  hark = await startHark(
    `# default settings, with a first-boot password\n[admin]\npassword = "${PASSWORD}"\n[webrtc]\nudp_port = 29611\n`,
    { env: { HARK_SYSTEM_CONTROL: join(bin, 'system-command'), HARK_TIMEZONE_FILE: (zoneFile = join(bin, 'timezone')), TZ: ZONE } },
  );
  started.push(hark);
  chrome = await launchChromium();
  const ctx = await chrome.browser.newContext({ viewport: PHONE });
  const page = await ctx.newPage();
  await loginInPage(page, hark.url, PASSWORD);
  session = await ctx.storageState();
  await ctx.close();
}, 120_000);

afterAll(async () => {
  await chrome?.close();
  for (const h of started) await h.stop();
});

async function shoot(path: string, name: string, prepare?: (p: Page) => Promise<void>) {
  const t0 = performance.now();
  for (const [size, viewport] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
    for (const dark of [false, true]) {
      const ctx = await context(chrome.browser, viewport, { dark });
      const p = await ctx.newPage();
      await p.goto(`${hark.url}${path}`);
      await prepare?.(p);
      await p.screenshot({ path: `${SHOTS}/${name}-${size}-${dark ? 'dark' : 'light'}.png`, fullPage: true });
      // Nothing wider than the screen.
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);
      await ctx.close();
    }
  }
  console.log(`[shots] ${name}: ${Math.round(performance.now() - t0)} ms`);
}

describe('Recordings', () => {
  test('Record on the dashboard (phone) starts and stops a recording; the list shows it in local time with its length, and it plays', async () => {
    const ctx = await context(chrome.browser, PHONE);
    const page = await ctx.newPage();
    await page.goto(`${hark.url}/`);
    const control = page.locator('#record-control');
    await expect(control.textContent()).resolves.toContain('Not recording.');
    await control.getByRole('button', { name: 'Record' }).click();
    await control.getByText('Recording since').waitFor({ timeout: 10_000 });
    const s = await until('the recorder', async () => ((await status(hark)).outputs.recording.state === 'recording' ? (await status(hark)).outputs.recording : null));
    expect(s.file).toMatch(/\.mp3$/); // MP3 is the default format
    // "Recording since 10:30", in the box's zone.
    await expect(control.textContent()).resolves.toContain(localClock(s.file_started_at));
    await until('3 s of audio', async () => (await status(hark)).outputs.recording.file_duration_s >= 3);
    await control.getByRole('button', { name: 'Stop recording' }).click();
    await control.getByText('Not recording.').waitFor({ timeout: 10_000 });
    expect((await status(hark)).outputs.recording.state).toBe('stopped');

    await page.goto(`${hark.url}/recordings`);
    const item = page.locator('li.recording').first();
    const title = (await item.locator('.rec-title').textContent())!;
    // "Thu 3 Dec, 05:20–05:20" in America/New_York, not UTC.
    expect(title).toMatch(/^[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2}, \d\d:\d\d–\d\d:\d\d/);
    expect(title).toContain(`${localClock(s.file_started_at)}–`);
    const len = (await item.locator('.rec-duration').textContent())!;
    expect(len).toMatch(/^\d+ s$/);
    expect(parseInt(len)).toBeGreaterThanOrEqual(3);
    expect(parseInt(len)).toBeLessThanOrEqual(8);
    await expect(page.locator('#recorder').textContent()).resolves.toMatch(/\d+(\.\d)? GB free|\d+ MB free/);

    // Play it here: the player fetches the file (inline, with ranges) and gets to playing.
    const served = page.waitForResponse((r) => r.url().includes('/api/recordings/') && r.url().includes('play=1'));
    const audio = item.locator('audio');
    expect(await audio.getAttribute('preload')).toBe('none');
    await audio.evaluate((a: HTMLAudioElement) => {
      a.muted = true;
      void a.play();
    });
    const res = await served;
    expect(res.headers()['content-type']).toBe('audio/mpeg');
    expect([200, 206]).toContain(res.status());
    await until('the player to have audio', async () => (await audio.evaluate((a: HTMLAudioElement) => a.readyState >= 2 && a.currentTime > 0)) || null, 15_000);
    // Download stays a download.
    const dl = await page.request.get(`${hark.url}${await item.getByRole('link', { name: 'Download' }).getAttribute('href')}`);
    expect(dl.headers()['content-disposition']).toStartWith('attachment');
    // A byte range, as a player seeking asks.
    const part = await page.request.get(res.url(), { headers: { range: 'bytes=0-99' } });
    expect(part.status()).toBe(206);
    expect((await part.body()).length).toBe(100);
    await ctx.close();
  }, 120_000);

  test('Record on the Recordings page (desktop) goes on in the same recording; Stop recording ends it', async () => {
    const before = (await (await sock(hark, '/api/recordings')).json()).recordings as any[];
    expect(before).toHaveLength(1);
    const ctx = await context(chrome.browser, DESKTOP);
    const page = await ctx.newPage();
    await page.goto(`${hark.url}/recordings`);
    const control = page.locator('#record-control');
    await control.getByRole('button', { name: 'Record' }).click();
    await control.getByText('Recording since').waitFor({ timeout: 10_000 });
    const s = (await status(hark)).outputs.recording;
    expect(s.continued).toBe(true);
    expect(s.file).toBe(before[0].name);
    await page.locator('li.recording .pill', { hasText: 'recording now' }).waitFor();
    // While the file grows the list stays as it is (a playing player or a focused button is not replaced).
    // The recordings themselves (not the silence clips below them: on this default box with no
    // input the silence alert may add one while the recorder ticks).
    const recs = page.locator('#recordings-list ul.recordings:not(.rec-clips)').first();
    const listBefore = await recs.innerHTML();
    const timerBefore = await page.locator('#recorder').textContent();
    await until('the recorder panel to tick', async () => (await page.locator('#recorder').textContent()) !== timerBefore);
    expect(await recs.innerHTML()).toBe(listBefore);
    await until('2 s more', async () => (await status(hark)).outputs.recording.file_duration_s >= before[0].duration_s + 2);
    await control.getByRole('button', { name: 'Stop recording' }).click();
    await control.getByText('Not recording.').waitFor({ timeout: 10_000 });
    const after = (await (await sock(hark, '/api/recordings')).json()).recordings as any[];
    expect(after.map((r) => r.name)).toEqual([before[0].name]);
    // (Lengths are rounded to 0.1 s.)
    expect(after[0].duration_s).toBeGreaterThanOrEqual(before[0].duration_s + 2 - 0.2);
    // The file decodes whole: both parts.
    const pcm = await decodeWithFfmpeg(join(hark.dir, 'recordings', after[0].name), { channels: 2 });
    expect(Math.abs(pcm.length / 2 / 48000 - after[0].duration_s)).toBeLessThan(0.3);
    // The action is the CLI's and the API's too.
    const api = await sock(hark, '/api/actions/record', { method: 'POST' });
    expect(((await api.json()) as any).message).toMatch(/^recording \(continuing /);
    const cli = (...args: string[]) => {
      const r = Bun.spawnSync([process.execPath, join(import.meta.dir, '../src/cli/main.ts'), '--socket', join(hark.dir, 'hark.sock'), ...args]);
      return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
    };
    expect(cli('record', 'off')).toEqual({ code: 0, out: 'recording stopped\n' });
    expect(cli('record', 'sideways').code).toBe(2);
    expect((await status(hark)).outputs.recording.state).toBe('stopped');
    await ctx.close();
  }, 120_000);
});

describe('one recording per service', () => {
  test.each([
    ['mp3', 'mp3'],
    ['ogg-opus', 'opus'],
  ] as const)('%s: a kill and start, and an in-place restart, while recording go on in the same file, which decodes whole', async (format, ext) => {
    const dir = mkdtempSync(join(tmpdir(), `hark-rec-continue-${ext}-`));
    const toml = `[recording]\nenabled = true\ndir = "${dir}"\nformat = "${format}"\n[webrtc]\nenabled = false\n`;
    let h = await startHark(toml);
    started.push(h);
    const first = await until('recording', async () => {
      const r = (await status(h)).outputs.recording;
      return r.state === 'recording' && r.file_duration_s >= 2.5 ? r : null;
    });
    h.proc.kill('SIGKILL');
    await h.proc.exited;
    const killedAt = Date.now();
    h = await startHark(toml);
    started.push(h);
    const second = await until('recording again', async () => {
      const r = (await status(h)).outputs.recording;
      return r.state === 'recording' ? r : null;
    });
    console.log(`[continue ${format}] restarted ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill: ${second.continued ? 'continued' : 'new file'} ${second.file}`);
    expect(second.continued).toBe(true);
    expect(second.file).toBe(first.file);
    expect(Math.floor(Date.parse(second.file_started_at) / 1000)).toBe(Math.floor(Date.parse(first.file_started_at) / 1000));
    await until('more audio', async () => (await status(h)).outputs.recording.file_duration_s >= second.file_duration_s + 2);
    // In place (the System page's Restart hark).
    expect((await sock(h, '/api/restart', { method: 'POST' })).status).toBe(200);
    await until('the second continuation', async () => (h.output().match(/continuing .* last written/g)?.length ?? 0) >= 2, 30_000);
    const third = await until('recording after the in-place restart', async () => {
      const r = await status(h).catch(() => null);
      return r?.outputs.recording.state === 'recording' && r.outputs.recording.file_duration_s >= second.file_duration_s + 4 ? r.outputs.recording : null;
    }, 30_000);
    expect(third.file).toBe(first.file);
    await h.stop();

    const files = readdirSync(dir).filter((f) => f.endsWith(`.${ext}`));
    expect(files).toEqual([first.file]);
    // What the next daemon lists (this one has finished the file).
    const h2 = await startHark(`[recording]\ndir = "${dir}"\nformat = "${format}"\n[webrtc]\nenabled = false\n`);
    started.push(h2);
    const listed = (await (await sock(h2, '/api/recordings')).json()).recordings as any[];
    await h2.stop();
    expect(listed).toHaveLength(1);
    const path = join(dir, first.file);
    const viaFfmpeg = (await decodeWithFfmpeg(path, { channels: 2 })).length / 2 / 48000;
    console.log(`[continue ${format}] listed ${listed[0].duration_s} s; ffmpeg decodes ${viaFfmpeg.toFixed(2)} s; parts ≥ ${first.file_duration_s} + 2 + 2 s`);
    // Every part is in it: the first part and the two waits after it, less what a SIGKILL may
    // cost (the audio not yet written: under 1 s, as in recording.test.ts).
    expect(viaFfmpeg).toBeGreaterThanOrEqual(first.file_duration_s + 4 - 1);
    expect(Math.abs(listed[0].duration_s - viaFfmpeg)).toBeLessThan(0.5);
    if (format === 'ogg-opus') {
      // libopusfile (as players use it) plays the chained links as one.
      const viaOpusfile = (await decodeWithOpusdec(path)).length / 2 / 48000;
      expect(Math.abs(viaOpusfile - viaFfmpeg)).toBeLessThan(0.5);
    }
  }, 120_000);
});

describe('System', () => {
  test('reboot and shut down run only after the confirmation; the time zone; the port warning', async () => {
    const ctx = await context(chrome.browser, PHONE);
    const page = await ctx.newPage();
    await page.goto(`${hark.url}/system`);
    // The log can be scrolled from the keyboard.
    expect(await page.locator('#log').getAttribute('tabindex')).toBe('0');

    const dialogs: string[] = [];
    let accept = false;
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void (accept ? d.accept() : d.dismiss());
    });
    await page.getByRole('button', { name: 'Shut down the box' }).click();
    await until('the confirmation', async () => dialogs.length === 1);
    expect(dialogs[0]).toContain('Everyone listening is disconnected');
    await Bun.sleep(300);
    expect(readFileSync(commandLog, 'utf8')).not.toContain('poweroff');

    accept = true;
    await page.getByRole('button', { name: 'Reboot the box' }).click();
    await page.locator('#power-result').getByText('Rebooting').waitFor({ timeout: 10_000 });
    expect(dialogs[1]).toContain('comes back by itself in about a minute');
    expect(readFileSync(commandLog, 'utf8')).toContain('systemctl reboot\n');
    await page.getByRole('button', { name: 'Shut down the box' }).click();
    await page.locator('#power-result').getByText('Shutting down').waitFor({ timeout: 10_000 });
    expect(readFileSync(commandLog, 'utf8')).toContain('systemctl poweroff\n');

    // The port: a warning saying where the page will be, and nothing saved until confirmed.
    const http = page.locator('#form-http');
    // The port waits under the form's "Advanced" fold.
    await http.locator('details.advanced > summary').first().click();
    await http.locator('input[name=port]').fill('29650');
    await http.getByRole('button', { name: 'Save' }).click();
    const warning = page.locator('#http-move-warning');
    await warning.waitFor({ timeout: 10_000 });
    expect(await warning.textContent()).toContain('http://127.0.0.1:29650/');
    expect(await warning.textContent()).toContain('lock yourself out');
    expect(((await (await sock(hark, '/api/config')).json()) as any).http.port).toBe(8080);
    await page.getByRole('button', { name: 'Save and move the page' }).click();
    await page.locator('#form-http .notice.ok').waitFor({ timeout: 10_000 });
    expect(((await (await sock(hark, '/api/config')).json()) as any).http.port).toBe(29650);

    // The time zone (last: the rest of the file reads times in ZONE).
    const tz = page.locator('#timezone');
    expect(await tz.textContent()).toContain(ZONE);
    await tz.locator('select').selectOption('Europe/London');
    await tz.getByRole('button', { name: 'Set time zone' }).click();
    await page.locator('#timezone').getByText('Time zone set to Europe/London.').waitFor({ timeout: 10_000 });
    expect(readFileSync(commandLog, 'utf8')).toContain('timedatectl set-timezone Europe/London\n');
    // Kept on the data partition as well, for a read-only root that forgets /etc/localtime.
    expect(readFileSync(zoneFile, 'utf8')).toBe('Europe/London\n');
    await ctx.close();
  }, 120_000);

  test('the zone chosen survives a reboot of a read-only root: a hark started without TZ shows times in it', async () => {
    writeFileSync(zoneFile, 'Asia/Tokyo\n');
    const h = await startHark('[webrtc]\nenabled = false\n', { env: { HARK_SYSTEM_CONTROL: '', HARK_TIMEZONE_FILE: zoneFile, TZ: '' } });
    started.push(h);
    const page = await (await sock(h, '/system')).text();
    expect(page).toContain('Times on these pages are in <b>Asia/Tokyo</b>');
    await h.stop();
    // A damaged file is ignored, not obeyed.
    writeFileSync(zoneFile, '../../etc/passwd\n');
    const h2 = await startHark('[webrtc]\nenabled = false\n', { env: { HARK_SYSTEM_CONTROL: '', HARK_TIMEZONE_FILE: zoneFile, TZ: '' } });
    started.push(h2);
    const other = await (await sock(h2, '/system')).text();
    expect(other).toMatch(/Times on these pages are in <b>[A-Za-z_\/]+<\/b>/);
    expect(other).not.toContain('../../etc');
    await h2.stop();
  }, 60_000);

  test('where hark cannot reboot the box there are no such buttons, and the zone is read-only', async () => {
    const h = await startHark('[webrtc]\nenabled = false\n', { env: { HARK_SYSTEM_CONTROL: '' } });
    started.push(h);
    const page = await (await sock(h, '/system')).text();
    expect(page).toContain('Restart hark');
    expect(page).not.toContain('Reboot the box');
    expect(page).not.toContain('Shut down the box');
    expect(page).toContain('Set by the computer hark runs on');
    expect((await sock(h, '/ui/power/reboot', { method: 'POST' })).status).toBe(409);
    await h.stop();
  }, 60_000);
});

describe('Listeners', () => {
  test('a phone on the listen page and VLC on /stream.mp3 read as people, within a 390 px screen', async () => {
    const listener = await chrome.browser.newContext({ userAgent: PIXEL_UA, viewport: PHONE });
    const lp = await listener.newPage();
    await lp.goto(`${hark.url}/listen?autoplay=1`);
    const ac = new AbortController();
    const vlc = fetch(`${hark.url}/stream.mp3`, { headers: { 'user-agent': 'VLC/3.0.20 LibVLC/3.0.20' }, signal: ac.signal }).then(async (r) => {
      for await (const _ of r.body!) {
        // keep reading
      }
    }).catch(() => {});
    const ctx = await context(chrome.browser, PHONE);
    const page = await ctx.newPage();
    await page.goto(`${hark.url}/listeners`);
    await page.locator('li.person', { hasText: 'Pixel phone, Chrome' }).waitFor({ timeout: 20_000 });
    await page.locator('li.person', { hasText: 'VLC' }).waitFor({ timeout: 10_000 });
    // The row appears while its WebRTC session is still connecting ("— connecting"), then says
    // how long the person has listened.
    const who = page.locator('li.person', { hasText: 'Pixel phone, Chrome' }).locator('.who');
    await until('the phone connected', async () => /— (just joined|listening \d+ min)/.test((await who.textContent()) ?? ''), 20_000);
    const pixel = (await who.textContent())!;
    expect(pixel).toMatch(/^Pixel phone, Chrome — (just joined|listening \d+ min)/);
    await until('the connection quality', async () => /good connection|fair connection|poor connection/.test((await page.locator('li.person', { hasText: 'Pixel phone' }).textContent()) ?? ''), 20_000);
    expect(await page.locator('li.person', { hasText: 'VLC' }).locator('.who').textContent()).toMatch(/^VLC — /);
    // No codec or user-agent jargon outside the fold.
    const visible = await page.locator('#listener-table').evaluate((el) => (el as HTMLElement).innerText);
    expect(visible).not.toContain('Mozilla/5.0');
    expect(visible).not.toMatch(/opus\/\d+/);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shoot('/listeners', 'listeners', async (p) => {
      await p.locator('li.person', { hasText: 'VLC' }).waitFor();
      await p.locator('li.person details').first().evaluate((d) => ((d as HTMLDetailsElement).open = true));
    });
    ac.abort();
    await vlc;
    await listener.close();
    await ctx.close();
  }, 300_000);
});

test('screenshots: every page changed here, phone and desktop, light and dark, no wider than the screen', async () => {
  await shoot('/recordings', 'recordings');
  await sock(hark, '/api/actions/record', { method: 'POST' });
  await shoot('/', 'dashboard-recording');
  await shoot('/recordings', 'recordings-recording');
  await sock(hark, '/api/actions/stop_recording', { method: 'POST' });
  await shoot('/system', 'system-port-warning', async (p) => {
    await p.locator('#form-http details.advanced > summary').first().click();
    await p.locator('#form-http input[name=port]').fill('29651');
    await p.locator('#form-http').getByRole('button', { name: 'Save' }).click();
    await p.locator('#http-move-warning').waitFor();
  });
  expect(existsSync(`${SHOTS}/recordings-phone-light.png`)).toBe(true);
}, 400_000);
