/**
 * A listen page playing over WebRTC comes back over WebRTC (not the MP3 fallback) within 2 s
 * of hark answering again: after the in-place restart (POST /api/restart, the System page's
 * "Restart hark") and after hark is stopped and a new one started on the same port. Audio flows
 * again (packets, and the tone's level on the meters), and while hark is away the page says
 * "Connection lost, reconnecting…" with no raw error and no runaway peak readout.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { freeUdpPort } from './lib/whep-client.ts';

const SHOTS = '/tmp/shots-h1';
/** The fixed HTTP port the stop-and-start test restarts hark on (this suite's range: 29100-29199). */
const FIXED_PORT = 29_117;

let chrome: ChromiumHandle;

beforeAll(async () => {
  chrome = await launchChromium();
}, 60_000);

afterAll(async () => {
  await chrome?.close();
}, 30_000);

interface PageView {
  sessions: number;
  instance: string | null;
  phase: string;
  transport: string | null;
  state: string;
  packets: number;
  readouts: string[];
  peak: number;
}

const view = (page: Page): Promise<PageView> =>
  page.evaluate(() => {
    const h = window.hark;
    let peak = 0;
    for (const a of h.analysers) {
      const b = new Float32Array(a.fftSize);
      a.getFloatTimeDomainData(b);
      for (const x of b) peak = Math.max(peak, Math.abs(x));
    }
    return {
      sessions: h.sessions,
      instance: h.instance,
      phase: h.phase,
      transport: h.transport,
      state: h.state,
      packets: Number(h.stats.packets ?? 0),
      readouts: [...document.querySelectorAll('.meter .db')].map((e) => e.textContent ?? ''),
      peak: peak > 0 ? 20 * Math.log10(peak) : -Infinity,
    };
  });

async function openPlaying(url: string, size: { width: number; height: number }): Promise<{ page: Page; context: BrowserContext }> {
  const context = await chrome.browser.newContext({ viewport: size });
  const page = await context.newPage();
  page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
  page.on('console', (m) => chrome.logs.push(`[console.${m.type()}] ${m.text()}`));
  await page.goto(`${url}/listen?autoplay=1`);
  await page.waitForFunction(() => {
    const h = window.hark;
    return h.phase === 'playing' && h.transport === 'webrtc' && Number(h.stats.packets) > 50;
  }, null, { timeout: 20_000, polling: 100 });
  return { page, context };
}

/** Poll hark's /listen/info every 20 ms until it answers with another instance than `old`; the time it did. */
async function answeredAgain(url: string, old: string, timeoutMs = 30_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    try {
      const r = await fetch(`${url}/listen/info`, { signal: AbortSignal.timeout(500) });
      if (r.ok && ((await r.json()) as { instance: string }).instance !== old) return performance.now();
    } catch {}
    await Bun.sleep(20);
  }
  throw new Error(`hark did not answer again within ${timeoutMs} ms`);
}

const instanceOf = async (url: string) => ((await (await fetch(`${url}/listen/info`)).json()) as { instance: string }).instance;

/**
 * After hark answered (at `answeredAt`, performance.now()), the page must say "Playing" over
 * WebRTC (not the MP3 fallback) on a new connection to the new hark (not `oldInstance`) within
 * 2 s. Returns how long it took; then the new session's packets must arrive (the page's stats
 * start from zero for each session).
 */
async function backOverWebrtc(page: Page, answeredAt: number, oldInstance: string, oldSessions: number): Promise<number> {
  let v = await view(page);
  let firstPackets = -1;
  const deadline = answeredAt + 6000;
  for (let i = 0; i < 200 && performance.now() < deadline; i++) {
    v = await view(page);
    if (v.sessions > oldSessions && v.instance !== oldInstance && v.phase === 'playing' && v.transport === 'webrtc' && v.state === 'Playing') {
      firstPackets = performance.now();
      break;
    }
    await Bun.sleep(50);
  }
  if (firstPackets < 0) throw new Error(`not back over WebRTC 6 s after hark answered: ${JSON.stringify(v)}\n${chrome.logs.slice(-20).join('\n')}`);
  await page.waitForFunction(() => Number(window.hark.stats.packets) > 20, null, { timeout: 5000, polling: 100 });
  return firstPackets - answeredAt;
}

describe.skipIf(!chromiumAvailable())('listen page reconnects over WebRTC', () => {
  test('after the in-place restart (POST /api/restart), default config, phone', async () => {
    const hark = await startHark(`[webrtc]\nudp_port = ${await freeUdpPort()}\n`, { timeoutMs: 60_000 });
    const { page, context } = await openPlaying(hark.url, { width: 390, height: 844 });
    try {
      const old = await instanceOf(hark.url);
      const sessions = (await view(page)).sessions;
      const res = await fetch(`${hark.url}/api/restart`, { method: 'POST' });
      expect(res.status).toBe(200);
      const answered = await answeredAgain(hark.url, old);
      const took = await backOverWebrtc(page, answered, old, sessions);
      console.log(`[listen-reconnect] back over WebRTC ${Math.round(took)} ms after hark answered`);
      expect(took).toBeLessThan(2000);
      // Audio keeps flowing on the new session, and it stays WebRTC.
      const before = (await view(page)).packets;
      await page.waitForTimeout(1500);
      const after = await view(page);
      expect(after.transport).toBe('webrtc');
      expect(after.packets).toBeGreaterThan(before + 50);
      expect(after.state).not.toContain('backup');
      expect(after.state).toMatch(/^(Playing|Connected)/);
    } finally {
      await context.close();
      await hark.stop();
    }
  }, 90_000);

  test('after hark is stopped and a new one starts on the same port: "reconnecting" meanwhile, then WebRTC with the tone', async () => {
    const toml = `[input]\nsource = "tone"\n[tone]\nlevel_dbfs = -12\n[webrtc]\nudp_port = ${await freeUdpPort()}\n`;
    let hark = await startHark(toml, { timeoutMs: 60_000, args: ['--port', String(FIXED_PORT)] });
    const { page, context } = await openPlaying(hark.url, { width: 1366, height: 900 });
    try {
      expect(Math.abs((await view(page)).peak + 12)).toBeLessThan(2);
      const old = await instanceOf(hark.url);
      const sessions = (await view(page)).sessions;
      expect(await hark.stop()).toBe(0);
      // While hark is away: a plain message, no number below −120 in the readouts.
      await page.waitForFunction(() => window.hark.phase === 'reconnecting', null, { timeout: 10_000, polling: 100 });
      await page.waitForTimeout(2500);
      const away = await view(page);
      expect(away.state).toBe('Connection lost, reconnecting…');
      for (const r of away.readouts) {
        const n = Number(r.replace('−', '-'));
        expect(Number.isFinite(n) && n < -120).toBe(false);
      }
      expect(away.readouts).toEqual(['—', '—']);
      expect(await page.locator('main').textContent()).not.toContain('Failed to fetch');
      await page.screenshot({ path: `${SHOTS}/listen-reconnecting-desktop.png`, fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: `${SHOTS}/listen-reconnecting-phone-dark.png`, fullPage: true });
      await page.setViewportSize({ width: 1366, height: 900 });
      await page.emulateMedia({ colorScheme: 'light' });

      const starting = startHark(toml, { timeoutMs: 60_000, args: ['--port', String(FIXED_PORT)] });
      // hark answers: its first answer to the test, asking as often as the page may (every 20 ms).
      const answered = await answeredAgain(`http://127.0.0.1:${FIXED_PORT}`, old);
      hark = await starting;
      const took = await backOverWebrtc(page, answered, old, sessions);
      console.log(`[listen-reconnect] back over WebRTC ${Math.round(took)} ms after hark answered`);
      expect(took).toBeLessThan(2000);
      // The tone's level is on the meters again.
      let v = await view(page);
      for (let i = 0; i < 40 && !(Math.abs(v.peak + 12) < 2); i++) {
        await page.waitForTimeout(100);
        v = await view(page);
      }
      expect(Math.abs(v.peak + 12)).toBeLessThan(2);
      expect(v.transport).toBe('webrtc');
      expect(v.state).toBe('Playing');
    } finally {
      await context.close();
      await hark.stop();
    }
  }, 120_000);

  test('WebRTC switched off (WHEP answers 503): the page plays the plain MP3 stream instead, and says so', async () => {
    const hark = await startHark(`[input]\nsource = "tone"\n[tone]\nlevel_dbfs = -12\n[webrtc]\nenabled = false\n`, { timeoutMs: 60_000 });
    const context = await chrome.browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    try {
      expect((await fetch(`${hark.url}/whep`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0' })).status).toBe(503);
      await page.goto(`${hark.url}/listen?autoplay=1`);
      await page.waitForFunction(() => window.hark.phase === 'playing', null, { timeout: 20_000, polling: 100 });
      const v = await view(page);
      expect(v.transport).toBe('http');
      expect(v.state).toBe('Playing (backup connection, about a second behind)');
      // The tone arrives through the <audio> element.
      let peak = v.peak;
      for (let i = 0; i < 50 && !(Math.abs(peak + 12) < 2); i++) {
        await page.waitForTimeout(100);
        peak = (await view(page)).peak;
      }
      expect(Math.abs(peak + 12)).toBeLessThan(2);
      // The volume turns down what is heard (a gain after the meters), not the meters.
      await page.locator('#volume').fill('25');
      const heard = await page.evaluate(() => {
        const p = window.hark.player;
        return { gain: p.outGain.gain.value, element: (document.getElementById('audio') as HTMLAudioElement).volume };
      });
      expect(heard).toEqual({ gain: 0.25, element: 1 });
      await page.waitForTimeout(300);
      expect(Math.abs((await view(page)).peak + 12)).toBeLessThan(2);
    } finally {
      await context.close();
      await hark.stop();
    }
  }, 90_000);
});
