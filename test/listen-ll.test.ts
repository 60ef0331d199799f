/**
 * The listen page's low-latency mode (issue 19) in Chromium against a real hark playing a
 * 1 kHz tone at −12 dBFS, with Chromium's sound going into a private PipeWire (its pulse
 * server) so the AudioWorklet runs on a real audio device's clock:
 *
 *  - ?ll=1: the page opens `opus-ll`, decodes with WebCodecs and plays through its worklet: for
 *    30 s the tone comes out at 1 kHz and −12 dBFS, and the worklet's own output has no step
 *    larger than the tone's (a click) and no dropout longer than one packet; the page shows the
 *    delay from the microphone, the buffer and the concealed packets, and `window.hark.ll` the same;
 *    hark sees the channel open with 5 ms packets; ?ll=2.5 asks for 2.5 ms ones;
 *  - a page whose channel hark refuses (another label) plays the normal track within 3 s and
 *    says so in words;
 *  - the switch is remembered; the page is cross-origin isolated and still has no CSP report;
 *  - isolated, the decoded audio goes to the worklet through the shared ring (ll-ring.js), none
 *    dropped there; served without COOP/COEP (not isolated), through messages, and it still plays.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { HEARD_JS } from './lib/firefox.ts';
import { startPipewire, type PipewireHarness } from './lib/pipewire.ts';
import { freeUdpPort } from './lib/whep-client.ts';

const SHOTS = '/tmp/h6-shots';
const TONE_HZ = 1000;
const TONE_DBFS = -12;
/**
 * How far from the tone the low-latency player's output may read: its resampling follows the
 * listener's audio clock within ±0.5 % (the issue's bound; at the limit while the clock runs
 * slow, 1 kHz plays at 1005 Hz), and the analysers' read-out is good to a few Hz.
 */
const FREQ_TOL = TONE_HZ * 0.005 + 8;
/** The tone's largest sample-to-sample step at 48 kHz: a click is a step well above it. */
const TONE_STEP = 2 * Math.PI * (TONE_HZ / 48000) * 10 ** (TONE_DBFS / 20);

let hark: HarkProcess;
let pw: PipewireHarness;
let chrome: ChromiumHandle;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  pw = await startPipewire({ pulse: true });
  const udp = await freeUdpPort();
  [hark, chrome] = await Promise.all([
    startHark(`[input]\nsource = "tone"\n[tone]\nfrequency = ${TONE_HZ}\nlevel_dbfs = ${TONE_DBFS}\n[webrtc]\nudp_port = ${udp}\n`, { timeoutMs: 60_000 }),
    launchChromium({ env: { ...(process.env as Record<string, string>), ...pw.env }, sound: true }),
  ]);
}, 90_000);

afterAll(async () => {
  if (process.env.HARK_TEST_VERBOSE) console.log(chrome?.logs.join('\n'), hark?.output());
  await chrome?.close();
  await hark?.stop();
  await pw?.stop();
}, 30_000);

async function open(query: string, size = { width: 1366, height: 900 }, scheme: 'light' | 'dark' = 'light'): Promise<{ page: Page; context: BrowserContext }> {
  const context = await chrome.browser.newContext({ viewport: size, colorScheme: scheme });
  await context.addInitScript(() => {
    const w = window;
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp!.push(`${e.violatedDirective} blocked ${e.blockedURI}`));
  });
  const page = await context.newPage();
  page.on('console', (m) => chrome.logs.push(`[console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
  await page.goto(`${hark.url}/listen${query}`);
  return { page, context };
}

/** What the meters' analysers hear: the strongest frequency (interpolated) and the peak level, per channel (test/lib/firefox.ts HEARD_JS). */
const heard = (page: Page) => page.evaluate(`${HEARD_JS}; heardNow(window.hark)`) as Promise<{ frequency: number; peakDbfs: number }[]>;

const listeners = async () =>
  ((await (await fetch(`${hark.url}/api/listeners`)).json()) as { webrtc: { ll_channel: boolean; ll_frame_ms: number | null; ll_packets: number; ll_bad_messages: number }[] }).webrtc;

describe.skipIf(!chromiumAvailable())('listen page, low latency', () => {
  test('?ll=1: the tone through opus-ll, WebCodecs and the worklet for 30 s, at 1 kHz and −12 dBFS, no click, no dropout longer than a packet, concealment under 0.5 %', async () => {
    const { page, context } = await open('?autoplay=1&ll=1');
    try {
      const res = await page.waitForFunction(() => window.hark.ll?.state === 'playing' && window.hark.ll.latencyMs !== null, null, { timeout: 15_000, polling: 100 }).catch(() => null);
      if (!res) throw new Error(`low latency did not start: ${JSON.stringify(await page.evaluate(() => ({ ll: window.hark.ll, state: window.hark.state, note: window.hark.llNote })))}\n${chrome.logs.join('\n')}`);
      expect(await page.evaluate(() => window.crossOriginIsolated)).toBe(true);
      // Settle (the controller finds its ratio), then count clicks and gaps afresh for 30 s.
      await page.waitForTimeout(3000);
      await page.evaluate(() => window.hark.llResetDiagnostics());
      const start = await page.evaluate(() => window.hark.ll!);
      const levels: { frequency: number; peakDbfs: number }[][] = [];
      for (let i = 0; i < 30; i++) {
        await page.waitForTimeout(1000);
        levels.push(await heard(page));
      }
      const ll = await page.evaluate(() => window.hark.ll!);
      const words = await page.evaluate(() => ({ state: window.hark.state, status: document.getElementById('ll-status')!.textContent, title: document.getElementById('ll-status')!.title, hidden: document.getElementById('ll-status')!.hidden, muted: (document.getElementById('audio') as HTMLAudioElement).muted }));
      await page.screenshot({ path: `${SHOTS}/ll-playing-desktop.png`, fullPage: true });
      console.log(`low latency, 30 s: ${JSON.stringify({ ...ll, packetsIn30s: ll.packets - start.packets })}`);
      expect(ll.state).toBe('playing');
      expect(ll.frameMs).toBe(5);
      // Cross-origin isolated: the decoded audio went through the shared ring, never full.
      expect(ll.transport).toBe('shared-ring');
      expect(ll.ringDropped).toBe(0);
      // The page's arrival stamps and the worklet's clock agree: a frame waits for the worklet's
      // next turn (its device callback: 10.7 ms on PipeWire), not more.
      expect(ll.handoverMs!).toBeGreaterThanOrEqual(0);
      expect(ll.handoverMs!).toBeLessThan(100);
      expect(words.title).toContain('shared memory');
      // 30 s of 5 ms packets came (a few may still be on their way).
      expect(ll.packets - start.packets).toBeGreaterThan(5800);
      // The worklet's output: no step larger than the tone's own (every concealment fades).
      expect(ll.maxStep).toBeLessThan(TONE_STEP * 1.3);
      expect(ll.jumps).toBe(0);
      // The issue: no discontinuity longer than one packet in the worklet's output. A few times
      // in 30 s the playout starves for 1–5 packets (the page's thread hands the packets over
      // late: seen 240–1200 samples on a quiet machine); the buffer conceals that by going on
      // with the sound's last period (counted as concealment, the longest such run logged) and
      // the output never drops below half level for more than a packet. No step above the
      // tone's own (above): the cross-fades join on.
      console.log(`low latency, 30 s: longest concealed run ${ll.longestGapSamples} samples, longest dropout ${ll.longestDropoutSamples} (one packet: 240)`);
      expect(ll.longestDropoutSamples).toBeLessThanOrEqual(240);
      expect(ll.longestGapSamples).toBeLessThan(4800);
      // Concealment under the goal (0.5 % of the packets) on a quiet loopback.
      expect(ll.concealed - start.concealed).toBeLessThanOrEqual((ll.packets - start.packets) * 0.005);
      expect(ll.resampleRatio!).toBeGreaterThanOrEqual(0.995);
      expect(ll.resampleRatio!).toBeLessThanOrEqual(1.005);
      expect(ll.targetMs!).toBeGreaterThanOrEqual(5);
      expect(ll.latencyMs!).toBeGreaterThan(0);
      expect(ll.latencyMs!).toBeLessThan(500);
      // What came out, every second: the tone on both channels.
      for (const second of levels) {
        expect(second).toHaveLength(2);
        for (const h of second) {
          expect(Math.abs(h.frequency - TONE_HZ)).toBeLessThan(FREQ_TOL);
          expect(Math.abs(h.peakDbfs - TONE_DBFS)).toBeLessThan(1.5);
        }
      }
      // The page says it in words; the RTP track stays, muted.
      expect(words.state).toBe('Playing (low latency)');
      expect(words.hidden).toBe(false);
      expect(words.status).toMatch(/^Low latency: \d+ ms behind the microphone · buffer \d+ ms · concealed: \d+\.\d packets a minute$/);
      expect(words.muted).toBe(true);
      const l = await listeners();
      expect(l).toHaveLength(1);
      expect(l[0]!.ll_channel).toBe(true);
      expect(l[0]!.ll_frame_ms).toBe(5);
      expect(l[0]!.ll_bad_messages).toBe(0);
      expect(await page.evaluate(() => window.__csp ?? [])).toEqual([]);
    } finally {
      await context.close();
    }
  }, 90_000);

  test('served without COOP/COEP (not cross-origin isolated): the decoded audio goes to the worklet by messages, and the tone plays', async () => {
    const context = await chrome.browser.newContext();
    // The page as a server without the isolation headers would send it.
    await context.route(/\/listen(\?|$)/, async (route) => {
      const res = await route.fetch();
      const headers = { ...res.headers() };
      delete headers['cross-origin-opener-policy'];
      delete headers['cross-origin-embedder-policy'];
      await route.fulfill({ response: res, headers });
    });
    const page = await context.newPage();
    page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
    try {
      await page.goto(`${hark.url}/listen?autoplay=1&ll=1`);
      expect(await page.evaluate(() => window.crossOriginIsolated)).toBe(false);
      const res = await page.waitForFunction(() => window.hark.ll?.state === 'playing' && window.hark.ll.latencyMs !== null, null, { timeout: 15_000, polling: 100 }).catch(() => null);
      if (!res) throw new Error(`low latency did not start: ${JSON.stringify(await page.evaluate(() => window.hark.ll))}\n${chrome.logs.join('\n')}`);
      await page.waitForTimeout(3000);
      await page.evaluate(() => window.hark.llResetDiagnostics());
      const start = await page.evaluate(() => window.hark.ll!);
      const levels: { frequency: number; peakDbfs: number }[][] = [];
      for (let i = 0; i < 5; i++) {
        await page.waitForTimeout(1000);
        levels.push(await heard(page));
      }
      const ll = await page.evaluate(() => window.hark.ll!);
      const state = await page.evaluate(() => window.hark.state);
      const title = await page.evaluate(() => document.getElementById('ll-status')!.title);
      console.log(`low latency by messages, 5 s: ${JSON.stringify({ ...ll, packetsIn5s: ll.packets - start.packets })}`);
      console.log(`low latency by messages, heard each second: ${JSON.stringify(levels)}`);
      // Every check at once, so a failure says all that was wrong with the figures beside it.
      const wrong: string[] = [];
      const check = (ok: boolean, what: string) => ok || wrong.push(what);
      check(ll.state === 'playing', `state ${ll.state} (${ll.why})`);
      check(ll.transport === 'messages', `transport ${ll.transport}`);
      check(ll.ringDropped === 0, `ringDropped ${ll.ringDropped}`);
      check(ll.handoverMs === null, `handoverMs ${ll.handoverMs}`);
      check(ll.jumps === 0, `jumps ${ll.jumps}`);
      check(ll.longestGapSamples < 4800, `longest concealed run ${ll.longestGapSamples} samples`);
      levels.forEach((second, i) => {
        check(second.length === 2, `second ${i + 1}: ${second.length} channel(s) heard`);
        for (const h of second) {
          check(Math.abs(h.frequency - TONE_HZ) < FREQ_TOL, `second ${i + 1}: ${h.frequency.toFixed(1)} Hz`);
          check(Math.abs(h.peakDbfs - TONE_DBFS) < 1.5, `second ${i + 1}: peak ${h.peakDbfs.toFixed(2)} dBFS`);
        }
      });
      check(state === 'Playing (low latency)', `page state "${state}"`);
      check(title.includes('one message at a time'), `status title "${title}"`);
      if (wrong.length) throw new Error(`by messages: ${wrong.join('; ')}\nll: ${JSON.stringify(ll)}\nheard: ${JSON.stringify(levels)}\n${chrome.logs.slice(-20).join('\n')}`);
    } finally {
      await context.close();
    }
  }, 60_000);

  test('?ll=2.5: hark sends 2.5 ms packets and the page plays them', async () => {
    const { page, context } = await open('?autoplay=1&ll=2.5', { width: 390, height: 844 }, 'dark');
    try {
      await page.waitForFunction(() => window.hark.ll?.state === 'playing' && window.hark.ll.latencyMs !== null, null, { timeout: 15_000, polling: 100 });
      await page.waitForTimeout(2000);
      const ll = await page.evaluate(() => window.hark.ll!);
      expect(ll.frameMs).toBe(2.5);
      expect((await listeners())[0]!.ll_frame_ms).toBe(2.5);
      // The tone on both channels within a few seconds (one reading may hold a dropout).
      let last: { frequency: number; peakDbfs: number }[] = [];
      for (let i = 0; i < 20; i++) {
        last = await heard(page);
        if (last.length === 2 && last.every((h) => Math.abs(h.frequency - TONE_HZ) < FREQ_TOL)) break;
        await page.waitForTimeout(300);
      }
      for (const h of last) expect(Math.abs(h.frequency - TONE_HZ)).toBeLessThan(FREQ_TOL);
      await page.locator('details#details summary').click();
      await page.screenshot({ path: `${SHOTS}/ll-2.5-phone-dark.png`, fullPage: true });
    } finally {
      await context.close();
    }
  }, 60_000);

  test('a channel hark refuses: the normal track of the same session plays within 3 s, and the page says so', async () => {
    const { page, context } = await open('?autoplay=1&ll=1&ll_label=not-opus-ll');
    try {
      await page.waitForFunction(() => window.hark.phase === 'playing', null, { timeout: 15_000, polling: 50 });
      const connectedAt = Date.now();
      await page.waitForFunction(() => window.hark.ll?.state === 'failed' && !(document.getElementById('audio') as HTMLAudioElement).muted, null, { timeout: 5000, polling: 50 });
      expect(Date.now() - connectedAt).toBeLessThan(3500);
      const state = await page.evaluate(() => window.hark.state);
      expect(state).toMatch(/^Playing\. Low latency is off: .+\. Playing the normal connection\.$/);
      // The same session: one connection, the RTP track's tone in the meters.
      expect(await page.evaluate(() => window.hark.sessions)).toBe(1);
      await page.waitForTimeout(1500);
      for (const h of await heard(page)) {
        expect(Math.abs(h.frequency - TONE_HZ)).toBeLessThan(8);
        expect(Math.abs(h.peakDbfs - TONE_DBFS)).toBeLessThan(1.5);
      }
      await page.screenshot({ path: `${SHOTS}/ll-fallback-desktop.png`, fullPage: true });
    } finally {
      await context.close();
    }
  }, 60_000);

  test('a browser that cannot decode Opus itself (isConfigSupported says no): the page says so and plays the normal track', async () => {
    const context = await chrome.browser.newContext({ viewport: { width: 390, height: 844 } });
    // What a browser without Opus in WebCodecs answers.
    await context.addInitScript(() => {
      if (window.AudioDecoder) window.AudioDecoder.isConfigSupported = async (config: AudioDecoderConfig) => ({ supported: false, config });
    });
    const page = await context.newPage();
    page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
    try {
      await page.goto(`${hark.url}/listen?autoplay=1&ll=1`);
      await page.waitForFunction(() => window.hark.phase === 'playing', null, { timeout: 15_000, polling: 50 });
      await page.waitForTimeout(1500);
      const seen = await page.evaluate(() => ({ state: window.hark.state, ll: window.hark.ll, muted: (document.getElementById('audio') as HTMLAudioElement).muted }));
      expect(seen.ll).toBeNull();
      expect(seen.muted).toBe(false);
      expect(seen.state).toBe('Playing. Low latency is not available: this browser cannot decode Opus itself. Playing the normal connection.');
      for (const h of await heard(page)) {
        expect(Math.abs(h.frequency - TONE_HZ)).toBeLessThan(8);
        expect(Math.abs(h.peakDbfs - TONE_DBFS)).toBeLessThan(1.5);
      }
      await page.screenshot({ path: `${SHOTS}/ll-unsupported-phone.png`, fullPage: true });
      // No low-latency channel was asked for.
      expect((await listeners()).every((l) => l.ll_channel === false)).toBe(true);
    } finally {
      await context.close();
    }
  }, 60_000);

  test('the switch is remembered on this device and turns low latency on and off while playing; the meters go on', async () => {
    const { page, context } = await open('?autoplay=1');
    /** The meters hear the tone, on both channels, at its level. */
    const metersHearTone = async () => {
      let h: { frequency: number; peakDbfs: number }[] = [];
      for (let i = 0; i < 20; i++) {
        h = await heard(page);
        if (h.length === 2 && h.every((x) => Math.abs(x.frequency - TONE_HZ) < FREQ_TOL && Math.abs(x.peakDbfs - TONE_DBFS) < 1.5)) return true;
        await page.waitForTimeout(250);
      }
      console.log(`the meters hear ${JSON.stringify(h)}; ${JSON.stringify(await page.evaluate(() => ({ state: window.hark.state, phase: window.hark.phase, muted: (document.getElementById('audio') as HTMLAudioElement).muted, paused: (document.getElementById('audio') as HTMLAudioElement).paused })))}`);
      return false;
    };
    try {
      await page.waitForFunction(() => window.hark.phase === 'playing', null, { timeout: 15_000, polling: 100 });
      expect(await page.evaluate(() => window.hark.ll)).toBeNull();
      expect(await metersHearTone()).toBe(true);
      await page.locator('details#details summary').click();
      expect(await page.locator('#lowlatency').getAttribute('role')).toBe('switch');
      await page.locator('#lowlatency').check();
      await page.waitForFunction(() => window.hark.ll?.state === 'playing', null, { timeout: 15_000, polling: 100 });
      // Switched while playing: the meters now show the low-latency path's output.
      expect(await metersHearTone()).toBe(true);
      await page.reload();
      expect(await page.locator('#lowlatency').isChecked()).toBe(true);
      // (?autoplay=1 is still in the address: it plays again by itself, now with low latency.)
      const again = await page.waitForFunction(() => window.hark.ll?.state === 'playing', null, { timeout: 15_000, polling: 100 }).catch(() => null);
      expect(again, JSON.stringify(await page.evaluate(() => ({ ll: window.hark.ll, state: window.hark.state, phase: window.hark.phase })))).not.toBeNull();
      await page.locator('details#details summary').click();
      await page.locator('#lowlatency').uncheck();
      await page.waitForFunction(() => window.hark.phase === 'playing' && window.hark.ll === null, null, { timeout: 15_000, polling: 100 });
      expect(await page.evaluate(() => (document.getElementById('audio') as HTMLAudioElement).muted)).toBe(false);
      // Switched off while playing: the meters follow the normal track (they stayed on the closed
      // low-latency node, silent, until 2026-12-05).
      expect(await metersHearTone()).toBe(true);
    } finally {
      await context.close();
    }
  }, 60_000);
});
