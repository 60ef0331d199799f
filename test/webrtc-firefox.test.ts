/**
 * Firefox plays /listen too: headless Firefox through the reporting proxy (test/lib/firefox.ts,
 * which also says why Playwright is not used and how a frozen Firefox is restarted).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { startPipewire, type PipewireHarness } from './lib/pipewire.ts';
import { freeUdpPort } from './lib/whep-client.ts';
import { HEARD_JS, firefoxAvailable, openInFirefox, type FirefoxPage } from './lib/firefox.ts';

/** Runs in the page: every 500 ms, what the analysers hear and the player's stats. */
const REPORTER = `${HEARD_JS}
const post = () => {
  const h = window.hark;
  if (!h) return;
  const heard = heardNow(h);
  fetch('/report', { method: 'POST', body: JSON.stringify({ state: h.state, stats: h.stats, heard, ua: navigator.userAgent, context: h.context?.state }) });
};
setInterval(post, 500);
`;

interface Report {
  state: string;
  stats: Record<string, number | string | null>;
  heard: { frequency: number; peakDbfs: number }[];
  ua: string;
}

let hark: HarkProcess;
/** Firefox needs an audio device for Web Audio to run: PipeWire's pulse server gives it one. */
let pw: PipewireHarness | undefined;
let firefox: FirefoxPage<Report> | undefined;

beforeAll(async () => {
  if (!firefoxAvailable()) return;
  const udp = await freeUdpPort();
  hark = await startHark(`[input]\nsource = "tone"\n[tone]\nfrequency = 1000\nlevel_dbfs = -12\n[webrtc]\nudp_port = ${udp}\n`, { timeoutMs: 60_000 });
  pw = await startPipewire({ pulse: true });
  firefox = openInFirefox<Report>(hark.url, '/listen?autoplay=1', REPORTER, pw.env);
}, 60_000);

afterAll(async () => {
  await firefox?.close();
  await hark?.stop();
  await pw?.stop();
}, 30_000);

const listeners = async () =>
  ((await (await fetch(`${hark.url}/api/listeners`)).json()) as { webrtc: { state: string; user_agent: string; codec: string }[] }).webrtc;

describe.skipIf(!firefoxAvailable())('Firefox on /listen', () => {
  test('plays over WHEP: Opus, the 1 kHz tone at -12 dBFS on L and R', async () => {
    await firefox!.waitFor((r) => Number(r.stats.packets) > 150, 30_000, async () => (await listeners()).length === 0);
    await Bun.sleep(1000);
    expect(firefox!.last, 'no report from the page').toBeDefined();
    const r = firefox!.last!;
    if (process.env.HARK_TEST_VERBOSE) console.log(JSON.stringify(r), hark.output());
    expect(r.ua).toContain('Firefox');
    expect(r.state).toBe('Playing');
    expect(String(r.stats.codec)).toMatch(/^opus 48 kHz/);
    expect(Number(r.stats.packets)).toBeGreaterThan(150);
    expect(r.heard).toHaveLength(2);
    for (const h of r.heard) {
      expect(Math.abs(h.frequency - 1000)).toBeLessThan(8);
      expect(Math.abs(h.peakDbfs - -12)).toBeLessThan(1.5);
    }
    const webrtc = await listeners();
    expect(webrtc).toHaveLength(1);
    expect(webrtc[0]!.user_agent).toContain('Firefox');
    expect(webrtc[0]!.codec).toMatch(/^opus\/109 96 kbit\/s stereo 10 ms/);
  }, 180_000);
});
