/**
 * The browser walk behind script/screenshots: a fresh box (first-run password), an interface
 * feeding a tone, live with a title and one listener, then each page at each size and theme.
 * Then the Programs page (programs-*.png) of a second box: a four-channel input with the floor
 * on 1–2 and two interpreters, one of them muted.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startPipewire } from '../test/lib/pipewire.ts';
import { startHark } from '../test/lib/hark.ts';
import { launchChromium } from '../test/lib/browser.ts';

const out = resolve(process.argv[2] ?? 'docs/screenshots');
mkdirSync(out, { recursive: true });
const MIC = 'alsa_input.usb-Focusrite_Scarlett_2i2_USB-00.analog-stereo';
const PASSWORD = 'screenshots only';

const pw = await startPipewire();
const feeds = [];
let hark: Awaited<ReturnType<typeof startHark>> | undefined;
let chrome: Awaited<ReturnType<typeof launchChromium>> | undefined;
try {
  await pw.createSink({ name: MIC, channels: 2, props: { 'media.class': 'Audio/Source/Virtual', 'node.description': 'Scarlett 2i2 USB', 'priority.session': '2000' } });
  feeds.push(await pw.feedSource(MIC, { frequency: 330, seconds: 600, levelDbfs: -14 }));
  const h = (hark = await startHark('', { env: pw.env }));
  chrome = await launchChromium();
  const setup = await chrome.newPage();
  await setup.goto(`${hark.url}/setup`);
  await setup.fill('#password', PASSWORD);
  await setup.fill('#confirm', PASSWORD);
  await Promise.all([setup.waitForURL(`${hark.url}/`), setup.click('button[type=submit]')]);
  const cookies = await chrome.context.cookies();
  await fetch(`http://localhost/api/metadata`, {
    method: 'POST',
    unix: join(hark.dir, 'hark.sock'),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'Sunday service — 10:30' }),
  } as RequestInit);

  // A short recording with two marked moments, so the Recordings page shows them.
  const sock = (path: string, body: unknown) =>
    fetch(`http://localhost${path}`, { method: 'POST', unix: join(h.dir, 'hark.sock'), headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } as RequestInit);
  await sock('/api/actions/record', {});
  await Bun.sleep(2000);
  await sock('/api/actions/mark', { label: 'Welcome' });
  await Bun.sleep(2000);
  await sock('/api/actions/mark', { label: 'Sermon starts' });
  await Bun.sleep(1500);
  await sock('/api/actions/stop_recording', {});

  const pages = ['/', '/input', '/outputs', '/listeners', '/recordings', '/system'];
  for (const colorScheme of ['light', 'dark'] as const) {
    for (const [size, viewport] of [['phone', { width: 390, height: 844 }], ['desktop', { width: 1366, height: 900 }]] as const) {
      const ctx = await chrome.browser.newContext({ viewport, colorScheme });
      await ctx.addCookies(cookies);
      const page = await ctx.newPage();
      const listen = await ctx.newPage();
      await listen.goto(`${hark.url}/listen`);
      await listen.getByRole('button', { name: /play/i }).first().click().catch(() => {});
      await listen.waitForTimeout(2500);
      await listen.screenshot({ path: join(out, `listen-${size}-${colorScheme}.png`) });
      for (const p of pages) {
        await page.goto(`${hark.url}${p}`);
        await page.waitForTimeout(1200);
        const name = p === '/' ? 'dashboard' : p.slice(1);
        await page.screenshot({ path: join(out, `${name}-${size}-${colorScheme}.png`), fullPage: size === 'phone' });
      }
      await ctx.close();
    }
  }
  await programsWalk(PASSWORD);
  console.log(`screenshots in ${out}`);
} finally {
  await chrome?.close();
  await hark?.stop();
  for (const f of feeds) await f.stop();
  await pw.stop();
}

/** The Programs page with three programs (one muted): a hark of its own, on a four-channel test tone. */
async function programsWalk(password: string): Promise<void> {
  const h = await startHark(`[admin]
password = "${password}"
[input]
source = "tone"
channels = 4
[silence]
enabled = false
[[program]]
id = "floor"
name = "Floor"
language = "en"
channels = [1, 2]
[[program]]
id = "es"
name = "Español"
language = "es"
channels = [3]
highpass_hz = 80
limiter_dbfs = -1.0
[[program]]
id = "pt"
name = "Português"
language = "pt-BR"
channels = [4]
delay_ms = 120
`);
  const browser = await launchChromium();
  try {
    await fetch('http://localhost/api/actions/mute', {
      method: 'POST',
      unix: join(h.dir, 'hark.sock'),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ program: 'pt' }),
    } as RequestInit);
    const login = await browser.newPage();
    await login.goto(`${h.url}/login`);
    await login.fill('#password', password);
    await Promise.all([login.waitForURL(`${h.url}/`), login.click('button[type=submit]')]);
    const cookies = await browser.context.cookies();
    for (const colorScheme of ['light', 'dark'] as const) {
      for (const [size, viewport] of [['phone', { width: 390, height: 844 }], ['desktop', { width: 1366, height: 900 }]] as const) {
        const ctx = await browser.browser.newContext({ viewport, colorScheme });
        await ctx.addCookies(cookies);
        const page = await ctx.newPage();
        await page.goto(`${h.url}/programs`);
        await page.waitForTimeout(1200);
        await page.screenshot({ path: join(out, `programs-${size}-${colorScheme}.png`), fullPage: size === 'phone' });
        await ctx.close();
      }
    }
  } finally {
    await browser.close();
    await h.stop();
  }
}
