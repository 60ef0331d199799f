/**
 * The browser walk behind script/screenshots: a fresh box (first-run password), an interface
 * feeding a tone, live with a title and one listener, then each page at each size and theme.
 * Then the Programs page (programs-*.png) of a second box: a four-channel input with the floor
 * on 1–2 and two interpreters, one of them muted. Then an SRT link between two boxes: the
 * sender's card of links (outputs-srt-*.png) and the receiver's Input page (input-srt-*.png).
 *
 *   bun script/screenshots.ts [folder] [srt]   # "srt": only the SRT link's pictures
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startPipewire } from '../test/lib/pipewire.ts';
import { startHark } from '../test/lib/hark.ts';
import { launchChromium } from '../test/lib/browser.ts';
import { freeUdpPort } from '../test/lib/whep-client.ts';

const out = resolve(process.argv[2] ?? 'docs/screenshots');
mkdirSync(out, { recursive: true });
if (process.argv[3] === 'srt') {
  await srtWalk('screenshots only');
  console.log(`screenshots in ${out}`);
  process.exit(0);
}
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
  await srtWalk(PASSWORD);
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

/**
 * An SRT link between two boxes: one sends a tone over [[srt]] (it waits for the call), the other
 * calls it as its input (input.source = "srt"). The sender's card of links with the live link's
 * numbers, and the receiver's Input page with the feed's state and its fields.
 */
async function srtWalk(password: string): Promise<void> {
  const [port, u1, u2] = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
  const pass = 'studio-link-secret';
  const sender = await startHark(`[admin]
password = "${password}"
[input]
source = "tone"
[silence]
enabled = false
[webrtc]
udp_port = ${u1}
[[srt]]
id = "transmitter"
url = "srt://:${port}?mode=listener"
passphrase = "${pass}"
payload = "mp2"
bitrate_kbps = 192
`);
  const receiver = await startHark(`[admin]
password = "${password}"
[silence]
enabled = false
[webrtc]
udp_port = ${u2}
[input]
source = "srt"
url = "srt://127.0.0.1:${port}?mode=caller"
passphrase = "${pass}"
output_device = "none"
`);
  const browser = await launchChromium();
  // A context per box and picture: both boxes are 127.0.0.1, and a cookie does not tell ports apart.
  const open = async (h: typeof sender, viewport: { width: number; height: number }, colorScheme: 'light' | 'dark', path: string) => {
    const ctx = await browser.browser.newContext({ viewport, colorScheme });
    const page = await ctx.newPage();
    await page.goto(`${h.url}/login?next=${encodeURIComponent(path)}`);
    await page.fill('#password', password);
    await Promise.all([page.waitForURL(`${h.url}${path}`), page.click('button[type=submit]')]);
    return { ctx, page };
  };
  try {
    for (const colorScheme of ['light', 'dark'] as const) {
      for (const [size, viewport] of [['phone', { width: 390, height: 844 }], ['desktop', { width: 1366, height: 900 }]] as const) {
        const s = await open(sender, viewport, colorScheme, '/outputs');
        await s.page.waitForSelector('#srt-state-0 [data-facts]', { timeout: 20_000 });
        // The card alone (the page's header not drawn over it: set through the CSSOM, as the CSP allows).
        await s.page.evaluate(() => {
          for (const e of document.querySelectorAll('header')) (e as HTMLElement).style.position = 'static';
        });
        await s.page.locator('#srt-section').screenshot({ path: join(out, `outputs-srt-${size}-${colorScheme}.png`) });
        await s.ctx.close();
        const r = await open(receiver, viewport, colorScheme, '/input');
        await r.page.waitForSelector('#feed-facts [data-peer]', { timeout: 20_000 });
        await r.page.waitForTimeout(1200);
        await r.page.screenshot({ path: join(out, `input-srt-${size}-${colorScheme}.png`), fullPage: size === 'phone' });
        await r.ctx.close();
      }
    }
  } finally {
    await browser.close();
    await receiver.stop();
    await sender.stop();
  }
}
