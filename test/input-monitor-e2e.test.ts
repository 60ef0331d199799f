/**
 * In Chromium against a real daemon (test tone): the dashboard's Stop silences /stream.mp3;
 * the Input page's "Listen to the input here" plays the input in the admin's browser while
 * off air (and /ui/monitor.mp3 needs a session); the "Input gain" field applies on save.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { startHark, readStreamFor, type HarkProcess } from './lib/hark.ts';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { channel, decodeWithFfmpeg, dominantFrequency, rmsDbfs } from './lib/signal.ts';
import { loginInPage } from './lib/session.ts';

const PASSWORD = 'correct horse battery';
const TONE_HZ = 1000;
const TONE_DBFS = -20;
const SHOTS = '/tmp/shots-h7';

let hark: HarkProcess;
let chrome: ChromiumHandle;
let page: Page;

type Status = { control: { state: string; listeners_hear: string }; levels: { peak_dbfs: number[] }; audio: { consumers: { name: string }[] } };
const status = async () => (await (await fetch(`${hark.url}/api/status`)).json()) as Status;

/** /stream.mp3 for `ms`, decoded (left channel, the decoder's start skipped). */
async function hear(path: string, ms: number, headers: Record<string, string> = {}): Promise<Float32Array> {
  const ac = new AbortController();
  const res = await fetch(`${hark.url}${path}`, { signal: ac.signal, headers });
  expect(res.status).toBe(200);
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  const end = performance.now() + ms + 10_000;
  const reader = res.body!.getReader();
  while (bytes < (16_000 * ms) / 1000 && performance.now() < end) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
    bytes += value.byteLength;
  }
  ac.abort();
  expect(bytes).toBeGreaterThanOrEqual((16_000 * ms) / 1000);
  const all = new Uint8Array(bytes);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  const pcm = channel(await decodeWithFfmpeg(all, { channels: 2 }), 2, 0);
  return pcm.subarray(Math.floor(pcm.length / 5));
}

async function login(p: Page, next: string): Promise<void> {
  await loginInPage(p, hark.url, PASSWORD, { next });
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  hark = await startHark(`
[input]
source = "tone"
[tone]
frequency = ${TONE_HZ}
level_dbfs = ${TONE_DBFS}
[admin]
password = "${PASSWORD}"
[webrtc]
enabled = false
`);
  chrome = await launchChromium();
  page = await chrome.newPage();
  await page.setViewportSize({ width: 1366, height: 900 });
  await login(page, '/');
}, 120_000);

afterAll(async () => {
  await chrome?.close();
  expect(await hark.stop()).toBe(0);
});

describe('off air and the input monitor in Chromium', () => {
  test("the dashboard's Stop: a /stream.mp3 listener hears silence", async () => {
    // A fresh box boots live: the tone is on /stream.mp3.
    expect((await status()).control.state).toBe('live');
    const before = await hear('/stream.mp3', 1500);
    expect(Math.abs(rmsDbfs(before) - TONE_DBFS)).toBeLessThan(0.75);

    await page.click('#state-panel button[hx-post="/ui/action/stop"]');
    await page.locator('#state-panel .state-word[data-state="idle"]').waitFor({ timeout: 10_000 });
    const s = await status();
    expect(s.control).toMatchObject({ state: 'idle', listeners_hear: 'silence' });
    expect(rmsDbfs(await hear('/stream.mp3', 1500))).toBeLessThan(-80);
  }, 60_000);

  test('/ui/monitor.mp3 refuses without a session', async () => {
    const res = await fetch(`${hark.url}/ui/monitor.mp3`, { redirect: 'manual' });
    expect(res.status).toBe(401);
    await res.body?.cancel();
    // A browser without a session is sent to the login page.
    const html = await fetch(`${hark.url}/ui/monitor.mp3`, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect([302, 303, 401]).toContain(html.status);
    await html.body?.cancel();
  });

  test('"Listen to the input here" while off air: the page plays the input, and the monitor stream is the tone', async () => {
    expect((await status()).control.state).toBe('idle');
    await page.goto(`${hark.url}/input`);
    await page.getByRole('button', { name: 'Listen to the input here' }).click();
    const button = page.locator('#monitor-toggle');
    await expect(button.getAttribute('aria-pressed')).resolves.toBe('true');
    await expect(button.textContent()).resolves.toBe('Stop listening');
    // The audio element plays: enough data, and its clock advancing.
    const t1 = await page.waitForFunction(
      () => {
        const a = document.getElementById('monitor-audio') as HTMLAudioElement;
        return a.readyState >= 2 && !a.paused && a.currentTime > 0.3 ? a.currentTime : false;
      },
      undefined,
      { timeout: 15_000 },
    );
    const first = (await t1.jsonValue()) as number;
    await page.waitForFunction((t) => (document.getElementById('monitor-audio') as HTMLAudioElement).currentTime > t + 0.5, first, { timeout: 10_000 });
    await expect(page.locator('#monitor-state').textContent()).resolves.toContain('Playing');
    // The worker runs an input-tap encoder for it, apart from the outputs'.
    expect((await status()).audio.consumers.some((c) => c.name.startsWith('encoder input mp3'))).toBe(true);

    // The same endpoint with this browser's session: the tone at its level, although off air.
    const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const pcm = await hear('/ui/monitor.mp3', 2000, { cookie });
    expect(Math.abs(dominantFrequency(pcm.subarray(pcm.length - 32768), 48000) - TONE_HZ)).toBeLessThan(2);
    expect(Math.abs(rmsDbfs(pcm) - TONE_DBFS)).toBeLessThan(0.75);
    // ...while the listeners still hear silence.
    expect(rmsDbfs(await hear('/stream.mp3', 1000))).toBeLessThan(-80);

    for (const [name, w, h, scheme] of [
      ['input-monitor-desktop-light', 1366, 900, 'light'],
      ['input-monitor-desktop-dark', 1366, 900, 'dark'],
      ['input-monitor-phone-light', 390, 844, 'light'],
      ['input-monitor-phone-dark', 390, 844, 'dark'],
    ] as const) {
      await page.setViewportSize({ width: w, height: h });
      await page.emulateMedia({ colorScheme: scheme });
      await page.locator('#monitor').scrollIntoViewIfNeeded();
      await page.screenshot({ path: `${SHOTS}/${name}.png` });
    }
    await page.setViewportSize({ width: 1366, height: 900 });
    await page.emulateMedia({ colorScheme: 'light' });
    // The button stays a comfortable touch target.
    const box = (await button.boundingBox())!;
    expect(box.height).toBeGreaterThanOrEqual(44);

    const monitorRuns = async () => (await status()).audio.consumers.some((c) => c.name.startsWith('encoder input'));
    const untilStopped = async () => {
      let running = true;
      for (let i = 0; i < 100 && running; i++) if ((running = await monitorRuns())) await Bun.sleep(100);
      return running;
    };
    // Pressing it again stops it: the element is emptied and the monitor's encoder stops.
    await button.click();
    await expect(button.getAttribute('aria-pressed')).resolves.toBe('false');
    await expect(button.textContent()).resolves.toBe('Listen to the input here');
    expect(await untilStopped()).toBe(false);
    await expect(page.locator('#monitor-state').textContent()).resolves.toBe('');
    expect(await page.evaluate(() => (document.getElementById('monitor-audio') as HTMLAudioElement).paused)).toBe(true);

    // Leaving the page while it plays ends the stream too.
    await button.click();
    await page.waitForFunction(() => (document.getElementById('monitor-audio') as HTMLAudioElement).currentTime > 0.3, undefined, { timeout: 15_000 });
    expect(await monitorRuns()).toBe(true);
    await page.goto(`${hark.url}/`);
    expect(await untilStopped()).toBe(false);
  }, 90_000);

  test('the "Input gain" field applies on save, without a restart: +6 dB makes the −20 dBFS tone −14', async () => {
    await page.goto(`${hark.url}/input`);
    await page.fill('#f-gain_db', '6');
    await page.click('#gain-form button[type=submit]');
    await expect(page.locator('#gain-form .notice.ok').textContent()).resolves.toContain('+6 dB');
    await expect(page.locator('#gain-form').textContent()).resolves.not.toContain('restart');
    let peak = -120;
    for (let i = 0; i < 100; i++) {
      peak = (await status()).levels.peak_dbfs[0]!;
      if (Math.abs(peak - -14) < 0.3) break;
      await Bun.sleep(50);
    }
    expect(Math.abs(peak - -14)).toBeLessThan(0.3);
    // The meter on the page shows it too (its text carries the dB figure).
    await page.screenshot({ path: `${SHOTS}/input-gain-desktop-light.png`, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('#gain-form').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/input-gain-phone-light.png` });
    await page.setViewportSize({ width: 1366, height: 900 });
    // A refused value is shown next to the field, and nothing changes.
    await page.fill('#f-gain_db', '40');
    await page.click('#gain-form button[type=submit]');
    await expect(page.locator('#gain-form .err').textContent()).resolves.toBeTruthy();
    expect(Math.abs((await status()).levels.peak_dbfs[0]! - -14)).toBeLessThan(0.3);
    await page.fill('#f-gain_db', '0');
    await page.click('#gain-form button[type=submit]');
    await expect(page.locator('#gain-form .notice.ok').textContent()).resolves.toContain('0 dB');
  }, 60_000);
});
