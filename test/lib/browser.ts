/**
 * Headless Chromium for hark's tests and benchmarks: Debian's /usr/bin/chromium driven by
 * playwright-core (no downloaded browsers), with the flags WebRTC and autoplay need on a
 * headless machine. Each launch gets a fresh profile; close() removes it.
 *
 *   const browser = await launchChromium();
 *   const page = await browser.newPage();
 *   await page.goto(`${hark.url}/listen?autoplay=1`);
 *   ...
 *   await browser.close();
 */
import { existsSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Where Debian's chromium package puts the browser; CHROMIUM overrides it. */
export const CHROMIUM_PATH = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Flags for a quiet, sandbox-free headless Chromium that plays WebRTC audio on its own. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--autoplay-policy=no-user-gesture-required',
  // Real host candidates instead of mDNS names (nothing resolves .local on a test box).
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  // Background tabs and hidden pages must keep their audio clock running.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

export interface ChromiumHandle {
  browser: Browser;
  context: BrowserContext;
  /** A new tab; its console lines and page errors are collected in `logs`. */
  newPage(): Promise<Page>;
  /** Console output and page errors of every page, for failure messages. */
  logs: string[];
  close(): Promise<void>;
}

/** Whether the browser is installed (tests skip with a reason when it is not). */
export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/**
 * `env`: the browser's environment (default: this process's). `sound`: do not pass Playwright's
 * `--mute-audio`, so Chromium really plays into its audio device — e.g. a private PipeWire's
 * pulse server (`env: { ...process.env, ...pw.env, PULSE_SINK: … }`).
 */
export async function launchChromium(opts: { args?: string[]; timeoutMs?: number; env?: Record<string, string>; sound?: boolean } = {}): Promise<ChromiumHandle> {
  if (!chromiumAvailable()) throw new Error(`Chromium not found at ${CHROMIUM_PATH} (Debian package chromium; script/bootstrap --test installs it)`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(opts.args ?? [])],
    timeout: opts.timeoutMs ?? 30_000,
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.sound ? { ignoreDefaultArgs: ['--mute-audio'] } : {}),
  });
  const context = await browser.newContext();
  const logs: string[] = [];
  return {
    browser,
    context,
    logs,
    async newPage() {
      const page = await context.newPage();
      page.on('console', (m) => logs.push(`[console.${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      await browser.close().catch(() => {});
    },
  };
}

let axeSource: string | undefined;

/**
 * Load axe-core into a page. Through the DevTools protocol, not a <script> tag: hark's
 * Content-Security-Policy (script-src 'self') refuses the inline script addScriptTag makes.
 */
export async function injectAxe(page: Page): Promise<void> {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(`${axeSource}\n;void 0`);
}


/**
 * Wait until `fn(arg)` holds in the page, across navigations. `page.waitForFunction` stops
 * polling when the page navigates (a reload during the wait times out although the new page
 * meets the condition), and hark's admin pages reload themselves to recover from a lost
 * connection (web/static/admin.js). Polls every 100 ms; throws after `timeoutMs` naming `what`.
 */
export async function waitInPage(page: Page, fn: (arg: number) => boolean, arg: number, opts: { timeoutMs?: number; what?: string } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  let last: unknown;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    try {
      if (await page.evaluate(fn, arg)) return;
    } catch (e) {
      last = e; // the page was between documents: ask the next one
    }
    await Bun.sleep(100);
  }
  throw new Error(`timed out after ${opts.timeoutMs ?? 5000} ms waiting for ${opts.what ?? 'a condition in the page'}${last ? ` (last error: ${String(last).slice(0, 200)})` : ''}`);
}
