/**
 * The Input page lists the capture devices on the first visit after hark starts: two USB-like
 * capture devices in a private PipeWire, the default config, and the first page load shows
 * both by the names people know them by, with no "(not present)". Also with one of them
 * configured as the input (it must not show as absent while the list fills).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Page } from 'playwright-core';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { startPipewire, type PipewireHarness } from './lib/pipewire.ts';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { loginInPage } from './lib/session.ts';

const PASSWORD = 'correct horse battery';
const DEVICES = [
  { name: 'alsa_input.usb-Focusrite_Scarlett_2i2_USB-00.analog-stereo', description: 'Scarlett 2i2 USB' },
  { name: 'alsa_input.usb-BEHRINGER_UMC404HD_192k-00.multichannel-input', description: 'UMC404HD' },
];

let pw: PipewireHarness;
let chrome: ChromiumHandle;
const harks: HarkProcess[] = [];

beforeAll(async () => {
  pw = await startPipewire();
  for (const d of DEVICES) {
    await pw.createSink({ name: d.name, channels: 2, props: { 'media.class': 'Audio/Source/Virtual', 'node.description': d.description } });
  }
  chrome = await launchChromium();
}, 120_000);

afterAll(async () => {
  await chrome?.close();
  for (const h of harks) await h.stop();
  await pw?.stop();
});

/** Log in on a fresh browser context and open the Input page: the first visit after the start. */
async function firstVisit(hark: HarkProcess): Promise<Page> {
  const ctx = await chrome.browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await ctx.newPage();
  await loginInPage(page, hark.url, PASSWORD, { next: '/input' });
  return page;
}

/** The device picker's options as the page shows them, right after the load (before any live update). */
async function optionsAtLoad(page: Page): Promise<string[]> {
  const html = await page.evaluate(() => document.documentElement.outerHTML);
  expect(html).toContain('id="device"');
  return page.locator('#device option').allTextContents();
}

describe('the Input page on the first visit after a start', () => {
  test('the default config: both capture devices listed by their description', async () => {
    const hark = await startHark(`[webrtc]\nudp_port = 29360\n[admin]\npassword = "${PASSWORD}"\n`, { env: pw.env });
    harks.push(hark);
    const page = await firstVisit(hark);
    const options = await optionsAtLoad(page);
    console.log(`options at load: ${JSON.stringify(options)}`);
    for (const d of DEVICES) expect(options.some((o) => o.includes(d.description))).toBe(true);
    expect(options.join('\n')).not.toContain('not present');
    // The list follows hot-plugs over the live updates: a third interface plugged in shows up.
    await pw.createSink({ name: 'alsa_input.usb-Zoom_H5-00.analog-stereo', channels: 2, props: { 'media.class': 'Audio/Source/Virtual', 'node.description': 'Zoom H5' } });
    await page.locator('#device option', { hasText: 'Zoom H5' }).waitFor({ state: 'attached', timeout: 10_000 });
    const later = await page.locator('#device option').allTextContents();
    for (const d of DEVICES) expect(later.some((o) => o.includes(d.description))).toBe(true);
    // The live update went into the list, nowhere else.
    await expect(page.locator('#device-form .result').textContent()).resolves.toBe('');
    await pw.destroyNode('alsa_input.usb-Zoom_H5-00.analog-stereo');
    await page.screenshot({ path: '/tmp/shots-h3/input-devices-390.png', fullPage: true });
    await page.context().close();
  }, 90_000);

  test('a configured device that is plugged in never shows as "(not present)"', async () => {
    const hark = await startHark(`[input]\ndevice = "${DEVICES[1]!.name}"\n[webrtc]\nudp_port = 29361\n[admin]\npassword = "${PASSWORD}"\n`, { env: pw.env });
    harks.push(hark);
    const page = await firstVisit(hark);
    const options = await optionsAtLoad(page);
    console.log(`options at load: ${JSON.stringify(options)}`);
    expect(options.join('\n')).not.toContain('not present');
    const selected = await page.locator('#device option:checked').textContent();
    expect(selected).toContain('UMC404HD');
    await page.context().close();
  }, 90_000);
});
