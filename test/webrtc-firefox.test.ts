/**
 * Firefox plays /listen too. Playwright cannot drive Debian's Firefox ESR (its WebDriver BiDi
 * lacks commands Playwright needs), so the test serves the page itself: a small proxy in front
 * of hark adds a script that reports what the page hears (its L/R AnalyserNodes) and its
 * getStats numbers back to the test, and a plain headless Firefox opens it.
 *
 * Headless Firefox sometimes freezes as the stream starts: its page's main thread waits
 * forever on its audio server (AudioIPC), whose PulseAudio thread waits in turn inside a
 * callback (gdb on Firefox 153 ESR against pipewire-pulse, about one start in five; with
 * media.cubeb.backend = "pulse" as well). hark has by then answered and connected. The
 * page then stops reporting altogether, which a page that is merely still connecting never
 * does: the test restarts Firefox (a new profile), at most three times, and says so.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server, Subprocess } from 'bun';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { startPipewire, type PipewireHarness } from './lib/pipewire.ts';
import { freeUdpPort } from './lib/whep-client.ts';

const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';

/** Runs in the page: every 500 ms, what the analysers hear and the player's stats. */
const REPORTER = `
const post = () => {
  const h = window.hark;
  if (!h) return;
  const heard = h.analysers.map((a) => {
    const t = new Float32Array(a.fftSize);
    a.getFloatTimeDomainData(t);
    let peak = 0;
    for (const x of t) peak = Math.max(peak, Math.abs(x));
    const f = new Float32Array(a.frequencyBinCount);
    a.getFloatFrequencyData(f);
    let k = 1;
    for (let i = 2; i < f.length - 1; i++) if (f[i] > f[k]) k = i;
    const off = (0.5 * (f[k - 1] - f[k + 1])) / (f[k - 1] - 2 * f[k] + f[k + 1]);
    return { frequency: ((k + off) * h.context.sampleRate) / a.fftSize, peakDbfs: 20 * Math.log10(peak) };
  });
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
let proxy: Server<unknown>;
let firefox: Subprocess | undefined;
let profile = '';
let last: Report | undefined;
let lastAt = 0;
let pageUrl = '';

function launchFirefox() {
  last = undefined;
  lastAt = Date.now();
  // A new profile each time: a profile Firefox was killed in would restore its old tab too.
  if (profile) rmSync(profile, { recursive: true, force: true });
  profile = mkdtempSync(join(tmpdir(), 'hark-firefox-'));
  writeFileSync(
    join(profile, 'user.js'),
    [
      ['media.autoplay.default', 0],
      ['media.autoplay.blocking_policy', 0],
      ['media.autoplay.block-webaudio', false],
      ['media.peerconnection.ice.obfuscate_host_addresses', false],
      ['browser.shell.checkDefaultBrowser', false],
      ['browser.aboutwelcome.enabled', false],
      ['datareporting.policy.dataSubmissionEnabled', false],
      ['toolkit.telemetry.reportingpolicy.firstRun', false],
      ['app.update.auto', false],
      ['network.proxy.type', 0],
    ]
      .map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`)
      .join('\n'),
  );
  firefox = Bun.spawn([FIREFOX, '--headless', '--no-remote', '--profile', profile, pageUrl], {
    stdout: 'ignore',
    stderr: 'ignore',
    env: { ...process.env, ...pw!.env, MOZ_HEADLESS: '1' },
  });
}

beforeAll(async () => {
  if (!existsSync(FIREFOX)) return;
  const udp = await freeUdpPort();
  hark = await startHark(`[input]\nsource = "tone"\n[tone]\nfrequency = 1000\nlevel_dbfs = -12\n[webrtc]\nudp_port = ${udp}\n`, { timeoutMs: 60_000 });
  proxy = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === '/report') {
        last = (await req.json()) as Report;
        lastAt = Date.now();
        return new Response(null, { status: 204 });
      }
      if (url.pathname === '/reporter.js') return new Response(REPORTER, { headers: { 'content-type': 'text/javascript' } });
      const upstream = await fetch(`${hark.url}${url.pathname}${url.search}`, {
        method: req.method,
        headers: req.headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer(),
      });
      if (url.pathname === '/listen') {
        const html = (await upstream.text()).replace('</body>', '<script type="module" src="/reporter.js"></script></body>');
        return new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8' } });
      }
      // fetch() has already decoded a gzipped answer (hark compresses its pages and scripts):
      // pass it on as the plain body it now is.
      const headers = new Headers(upstream.headers);
      headers.delete('content-encoding');
      headers.delete('content-length');
      return new Response(upstream.body, { status: upstream.status, headers });
    },
  });
  pw = await startPipewire({ pulse: true });
  pageUrl = `http://127.0.0.1:${proxy.port}/listen?autoplay=1`;
  launchFirefox();
}, 60_000);

afterAll(async () => {
  firefox?.kill('SIGKILL');
  await firefox?.exited;
  proxy?.stop(true);
  await hark?.stop();
  await pw?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
}, 30_000);

const listeners = async () =>
  ((await (await fetch(`${hark.url}/api/listeners`)).json()) as { webrtc: { state: string; user_agent: string; codec: string }[] }).webrtc;

describe.skipIf(!existsSync(FIREFOX))('Firefox on /listen', () => {
  test('plays over WHEP: Opus, the 1 kHz tone at -12 dBFS on L and R', async () => {
    let t0 = Date.now();
    let restarts = 0;
    while (!(last && Number(last.stats.packets) > 150) && Date.now() - t0 < 30_000) {
      await Bun.sleep(250);
      if (last && Date.now() - lastAt > 8000 && restarts < 3) {
        restarts++;
        console.warn(`Firefox stopped reporting (state ${JSON.stringify(last.state)}): the frozen-audio-server case; restart ${restarts}`);
        firefox?.kill('SIGKILL');
        await firefox?.exited;
        // The frozen page's listener goes when hark stops hearing from it (within 15 s).
        for (let i = 0; i < 100 && (await listeners()).length > 0; i++) await Bun.sleep(250);
        launchFirefox();
        t0 = Date.now();
      }
    }
    await Bun.sleep(1000);
    expect(last, 'no report from the page').toBeDefined();
    const r = last!;
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
