/**
 * Issue 19, clock drift: hark's input runs 0.3 % fast (the test tone's clock at 48 000 × 1.003
 * Hz, `[tone] clock_ppm = 3000`, as a USB interface's crystal may be off) for 60 s, and the
 * listen page's low-latency mode plays it in Chromium on a real PipeWire device's clock. The
 * worklet absorbs the difference by resampling: its ratio settles at what is needed (the
 * packets' rate over the page's audio clock: 1.003 when that clock keeps time), its buffer
 * stays within its target ± one packet over the minute and in most 5 s windows (the page's
 * main thread hands the worklet packets in bursts: a window after a stall sits a couple of
 * packets over, bounded), the concealment stays under the issue's 0.5 %.
 * When Chromium's own audio clock runs slow (a loaded machine: its audio thread misses
 * deadlines) beyond the ±0.5 % the resampler may take, the test says so and checks what the
 * page does then: resampling at its limit, single faded drops, the buffer bounded.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chromiumAvailable, launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { startPipewire, type PipewireHarness } from './lib/pipewire.ts';
import { freeUdpPort } from './lib/whep-client.ts';

const PPM = 3000;
const TONE_HZ = 1000;
const TONE_DBFS = -12;
const TONE_STEP = 2 * Math.PI * ((TONE_HZ * (1 + PPM / 1e6)) / 48000) * 10 ** (TONE_DBFS / 20);

let hark: HarkProcess;
let pw: PipewireHarness;
let chrome: ChromiumHandle;

beforeAll(async () => {
  pw = await startPipewire({ pulse: true });
  const udp = await freeUdpPort();
  [hark, chrome] = await Promise.all([
    startHark(`[input]\nsource = "tone"\n[tone]\nfrequency = ${TONE_HZ}\nlevel_dbfs = ${TONE_DBFS}\nclock_ppm = ${PPM}\n[webrtc]\nudp_port = ${udp}\n`, { timeoutMs: 60_000 }),
    launchChromium({ env: { ...(process.env as Record<string, string>), ...pw.env }, sound: true }),
  ]);
}, 90_000);

afterAll(async () => {
  await chrome?.close();
  await hark?.stop();
  await pw?.stop();
}, 30_000);

describe.skipIf(!chromiumAvailable())('low latency with the box clock 0.3 % fast', () => {
  test('60 s: the resampling takes up the drift, the buffer stays within its target ± one packet, concealment under 0.5 %, no click', async () => {
    const context = await chrome.browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (e) => chrome.logs.push(`[pageerror] ${e.message}`));
    try {
      await page.goto(`${hark.url}/listen?autoplay=1&ll=1`);
      const res = await page.waitForFunction(() => window.hark.ll?.state === 'playing', null, { timeout: 20_000, polling: 100 }).catch(() => null);
      if (!res) throw new Error(`low latency did not start: ${JSON.stringify(await page.evaluate(() => window.hark.ll))}\n${chrome.logs.join('\n')}`);
      // The controller finds the ratio (it starts at 1), then 60 s counted afresh.
      await page.waitForTimeout(5000);
      await page.evaluate(() => window.hark.llResetDiagnostics());
      const start = await page.evaluate(() => window.hark.ll!);
      const clock0 = await page.evaluate(() => ({ ctx: window.hark.context.currentTime, wall: performance.now() / 1000 }));
      const samples: { bufferedMs: number; targetMs: number; ratio: number }[] = [];
      for (let i = 0; i < 120; i++) {
        await page.waitForTimeout(500);
        const ll = await page.evaluate(() => window.hark.ll!);
        samples.push({ bufferedMs: ll.bufferedMs!, targetMs: ll.targetMs!, ratio: ll.resampleRatio! });
      }
      const end = await page.evaluate(() => window.hark.ll!);
      const clock1 = await page.evaluate(() => ({ ctx: window.hark.context.currentTime, wall: performance.now() / 1000 }));
      // How fast the page's audio clock ran against its wall clock, and the packets against it.
      const ctxRate = (clock1.ctx - clock0.ctx) / (clock1.wall - clock0.wall);
      const arrivalRate = ((end.packets - start.packets) * end.frameMs!) / 1000 / (clock1.wall - clock0.wall);
      const packets = end.packets - start.packets;
      const concealed = end.concealed - start.concealed;
      const windows: { buffered: number; target: number; steady: boolean }[] = [];
      for (let w = 0; w < samples.length; w += 10) {
        const s = samples.slice(w, w + 10);
        // A target that moved in this window or the one before (the jitter it follows changed): the buffer is on its way to it.
        const around = samples.slice(Math.max(0, w - 10), w + 10).map((x) => x.targetMs);
        windows.push({
          buffered: s.reduce((a, x) => a + x.bufferedMs, 0) / s.length,
          target: s.reduce((a, x) => a + x.targetMs, 0) / s.length,
          steady: Math.max(...around) - Math.min(...around) <= 5,
        });
      }
      const ratios = samples.map((s) => s.ratio).sort((a, b) => a - b);
      const ratio = ratios[ratios.length >> 1]!; // logged
      const ratioMean = ratios.reduce((a, x) => a + x, 0) / ratios.length;
      const ratioP10 = ratios[Math.floor(ratios.length * 0.1)]!;
      const ratioP90 = ratios[Math.floor(ratios.length * 0.9)]!;
      console.log(
        `drift 0.3 %, 60 s: audio clock ${ctxRate.toFixed(5)} × wall, packets ${arrivalRate.toFixed(5)} × wall, ratio median ${ratio.toFixed(5)} (mean ${ratioMean.toFixed(5)}, p10 ${ratioP10.toFixed(5)}, p90 ${ratioP90.toFixed(5)}), dropped ${end.dropped - start.dropped}, packets ${packets}, concealed ${concealed}, longest gap ${end.longestGapSamples}, buffer − target each 5 s: ${windows.map((w) => (w.buffered - w.target).toFixed(1)).join(' ')} ms, targets ${windows.map((w) => w.target.toFixed(0)).join(' ')} ms`,
      );
      expect(end.state).toBe('playing');
      expect(packets).toBeGreaterThan(11_800);
      expect(concealed).toBeLessThanOrEqual(packets * 0.005);
      expect(end.maxStep).toBeLessThan(TONE_STEP * 1.3);
      expect(end.jumps).toBe(0);
      // What the page must play at: the packets' rate over its audio clock's. On a quiet machine
      // that is the drift, 1.003. On a loaded one Chromium's audio thread misses deadlines and its
      // clock itself runs slow (seen: 0.9916 × wall at load 6), beyond what ±0.5 % can take.
      const needed = arrivalRate / ctxRate;
      expect(Math.abs(arrivalRate - (1 + PPM / 1e6)), 'hark sends 0.3 % fast').toBeLessThan(0.001);
      // The resampling takes up most of the clock difference (at least 60 % of it, by its mean
      // ratio over the minute; it cannot pass its +0.5 % limit); single dropped packets (when the buffer stood far over its target at the limit, after a
      // burst) are logged. The mean, not the median: after a starvation (the page's main
      // thread stalled) the buffer stands over its target and the controller rightly drains it
      // at the limit for seconds, so the median sits at the limit (CI, 21:47: median 1.005
      // against 1.0032 needed). Judged by the samples twice a second, the mean itself is only
      // good to ~0.1 %: concealed packets skipped and starvations take up or give some too.
      const settled = samples.filter((x) => Math.abs(x.bufferedMs - x.targetMs) <= 3).map((x) => x.ratio).sort((a, b) => a - b);
      const dropShare = ((end.dropped - start.dropped) * end.frameMs!) / 1000 / (clock1.ctx - clock0.ctx);
      console.log(`ratio mean ${ratioMean.toFixed(5)}, single drops ${dropShare.toFixed(5)}; where the buffer is within 3 ms of its target (${settled.length} of ${samples.length} samples) median ${settled[settled.length >> 1]?.toFixed(5)}; needed ${needed.toFixed(5)}`);
      const want = Math.min(needed, 1.005);
      expect(ratioMean - 1, `the resampling takes up most of the difference (mean ${ratioMean}, needed ${needed})`).toBeGreaterThan((want - 1) * 0.6);
      if (needed <= 1.005) {
        // In reach: the buffer holds its target ± one packet over the minute and in most 5 s
        // windows. Windows whose target moved are left out. After the page's main thread stalls,
        // a burst of packets lifts the level two packets or so for a few seconds (+0.5 % drains
        // 10 ms in 2 s: seen 11.7 ms over in one window of twelve); it stays bounded.
        const steady = windows.filter((w) => w.steady);
        expect(steady.length, JSON.stringify(windows)).toBeGreaterThanOrEqual(6);
        const errs = steady.map((w) => w.buffered - w.target).sort((a, b) => a - b);
        const mean = errs.reduce((a, e) => a + e, 0) / errs.length;
        const median = errs[errs.length >> 1]!;
        console.log(`buffer − target over the minute: mean ${mean.toFixed(1)} ms, median window ${median.toFixed(1)} ms (one packet: ${end.frameMs} ms)`);
        expect(Math.abs(mean)).toBeLessThanOrEqual(end.frameMs!);
        expect(Math.abs(median)).toBeLessThanOrEqual(end.frameMs!);
        for (const w of windows) expect(Math.abs(w.buffered - w.target), JSON.stringify(windows)).toBeLessThanOrEqual(25);
      } else {
        // Out of reach (the listener's device, not hark): single packets dropped (faded) keep the
        // delay from growing: the buffer stays within a few packets of its target, and the page
        // does not fall behind (no skip ahead).
        console.log(`the page's audio clock is ${((1 - ctxRate) * 100).toFixed(2)} % slow: beyond the ±0.5 % the resampler takes`);
        for (const w of windows) expect(w.buffered - w.target, JSON.stringify(windows)).toBeLessThanOrEqual(25);
        expect(end.skipped - start.skipped).toBe(0);
      }
    } finally {
      await context.close();
    }
  }, 150_000);
});
