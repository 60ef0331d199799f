/**
 * Headless Firefox on a hark page, for tests. Playwright cannot drive Debian's Firefox ESR (its
 * WebDriver BiDi lacks commands Playwright needs), so the test serves the page itself: a small
 * proxy in front of hark adds a script (`reporter`) that posts what the page knows to
 * `/report` every 500 ms, and a plain headless Firefox opens it. Everything else passes through
 * with hark's own headers (so /listen stays cross-origin isolated).
 *
 * Headless Firefox sometimes freezes as the stream starts: its page's main thread waits
 * forever on its audio server (AudioIPC), whose PulseAudio thread waits in turn inside a
 * callback (gdb on Firefox 153 ESR against pipewire-pulse, about one start in five; with
 * media.cubeb.backend = "pulse" as well). hark has by then answered and connected. The page
 * then stops reporting altogether (or never starts), which a page that is merely still
 * connecting never does: `waitFor` restarts Firefox (a new profile), at most three times, and
 * says so.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server, Subprocess } from 'bun';

export const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';

/**
 * Page-side JavaScript for reporters: `heardNow(h)` is what the listen page's analysers
 * (`window.hark.analysers`) hear now, per channel: the strongest frequency (interpolated) and
 * the peak level in dBFS.
 */
export const HEARD_JS = `
const heardNow = (h) => (h.analysers ?? []).map((a) => {
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
`;
export const firefoxAvailable = () => existsSync(FIREFOX);

export interface FirefoxPage<R> {
  /** The last report, if any. */
  readonly last: R | undefined;
  /** Wait until `done(report)`; restarts a frozen Firefox (no report for 8 s) up to three times, waiting for `gone()` first. */
  waitFor(done: (r: R) => boolean, timeoutMs: number, gone?: () => Promise<boolean>): Promise<R | undefined>;
  close(): Promise<void>;
}

/** Serve `harkUrl` through a reporting proxy and open `path` (with query) in headless Firefox. */
export function openInFirefox<R>(harkUrl: string, path: string, reporter: string, env: Record<string, string>): FirefoxPage<R> {
  let last: R | undefined;
  let lastAt = Date.now();
  let firefox: Subprocess | undefined;
  let profile = '';
  const proxy: Server<unknown> = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === '/report') {
        last = (await req.json()) as R;
        lastAt = Date.now();
        return new Response(null, { status: 204 });
      }
      if (url.pathname === '/reporter.js') return new Response(reporter, { headers: { 'content-type': 'text/javascript' } });
      const upstream = await fetch(`${harkUrl}${url.pathname}${url.search}`, {
        method: req.method,
        headers: req.headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer(),
      });
      // fetch() has already decoded a gzipped answer (hark compresses its pages and scripts):
      // pass it on as the plain body it now is, with hark's other headers.
      const headers = new Headers(upstream.headers);
      headers.delete('content-encoding');
      headers.delete('content-length');
      if (url.pathname.startsWith('/listen') && (headers.get('content-type') ?? '').startsWith('text/html')) {
        const html = (await upstream.text()).replace('</body>', '<script type="module" src="/reporter.js"></script></body>');
        return new Response(html, { status: upstream.status, headers });
      }
      return new Response(upstream.body, { status: upstream.status, headers });
    },
  });
  const pageUrl = `http://127.0.0.1:${proxy.port}${path}`;

  const launch = () => {
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
      env: { ...process.env, ...env, MOZ_HEADLESS: '1' },
    });
  };
  const kill = async () => {
    firefox?.kill('SIGKILL');
    await firefox?.exited;
  };
  launch();

  return {
    get last() {
      return last;
    },
    async waitFor(done, timeoutMs, gone) {
      let t0 = Date.now();
      let restarts = 0;
      while (!(last && done(last)) && Date.now() - t0 < timeoutMs) {
        await Bun.sleep(250);
        // Frozen: it reported, then stopped for 8 s; or it never reported in a minute (it froze as the page began).
        if (((last && Date.now() - lastAt > 8000) || (!last && Date.now() - lastAt > 60_000)) && restarts < 3) {
          restarts++;
          console.warn(`Firefox stopped reporting: the frozen-audio-server case; restart ${restarts}`);
          await kill();
          // The frozen page's listener goes when hark stops hearing from it (within 15 s).
          for (let i = 0; i < 100 && gone && !(await gone()); i++) await Bun.sleep(250);
          launch();
          t0 = Date.now();
        }
      }
      return last;
    },
    async close() {
      await kill();
      proxy.stop(true);
      if (profile) rmSync(profile, { recursive: true, force: true });
    },
  };
}
