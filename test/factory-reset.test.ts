/**
 * A factory reset from the boot partition, as the volunteer who forgot the password does it:
 * a file named hark-factory-reset on the SD card (the image's first-boot step applies it), then
 * the box starts with the defaults, asks for a new password on its first page and says it was
 * reset; the recordings are still there; once a password is set the notice is gone for good.
 * (The QEMU boot test cannot cut the card out; the first-boot step runs here as the image's
 * hark-firstboot.service runs it, on a boot directory and an /etc/hark of the test's own.)
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyBootFiles } from '../src/system/firstboot.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { setupPassword } from './lib/session.ts';
import { launchChromium } from './lib/browser.ts';

const root = mkdtempSync(join(tmpdir(), 'hark-factory-reset-'));
const boot = join(root, 'boot');
const etc = join(root, 'etc');
const running: HarkProcess[] = [];

afterAll(async () => {
  for (const h of running) await h.stop();
});

describe('factory reset by a file on the boot partition', () => {
  test('the box comes back with the defaults, says it was reset on its first page, and keeps the recordings', async () => {
    mkdirSync(boot);
    mkdirSync(join(etc, 'recordings'), { recursive: true });
    // A box in use: a password, a title, a recording.
    writeFileSync(join(etc, 'hark.toml'), `[input]\nsource = "tone"\n[metadata]\ntitle = "Evensong"\n[recording]\ndir = "${join(etc, 'recordings')}"\n[admin]\npassword = "the forgotten one"\n`);
    writeFileSync(join(etc, 'recordings', 'hark-2026-11-29T10-00-00Z.mp3'), 'ID3');
    const before = await startHark('', { dir: etc, timeoutMs: 60_000 });
    running.push(before);
    expect((await fetch(`${before.url}/setup`)).status).toBe(404); // it has a password
    await before.stop();

    // The volunteer puts an empty file named hark-factory-reset on the card; the box boots.
    writeFileSync(join(boot, 'hark-factory-reset'), '');
    await applyBootFiles({ bootFile: join(boot, 'hark.toml'), etcDir: etc, log: () => {} });
    expect(readFileSync(join(boot, 'hark-factory-reset-done.txt'), 'utf8')).toContain('hark was reset to its factory settings');
    // The settings of a new card: the box stays on port 80 with its admin pages on 443.
    expect(readFileSync(join(etc, 'hark.toml'), 'utf8')).toMatch(/^# hark's settings, as a new card has them \(a factory reset at .+\)\. .*\n\[http\]\nport = 80\n\n\[tls\]\nenabled = true\nport = 443\n$/);
    // This machine is not the box: no ports 80 and 443 here (--port 0 replaces 80; HTTPS off).
    writeFileSync(join(etc, 'hark.toml'), '[tls]\nenabled = false\n');

    const after = await startHark('', { dir: etc, timeoutMs: 60_000 });
    running.push(after);
    await after.waitFor(/reset to its factory settings at/, 10_000);
    // What the volunteer sees on a phone: the first page, with the reset said in words.
    const chrome = await launchChromium();
    try {
      const ctx = await chrome.browser.newContext({ viewport: { width: 390, height: 844 } });
      const p = await ctx.newPage();
      await p.goto(`${after.url}/`);
      expect(new URL(p.url()).pathname).toBe('/setup');
      const notice = (await p.locator('#factory-reset').textContent()) ?? '';
      expect(notice).toContain('This box was reset to its factory settings (');
      expect(notice).toContain('the recordings are kept');
      mkdirSync('/tmp/shots-reset', { recursive: true });
      await p.screenshot({ path: '/tmp/shots-reset/setup-after-reset-phone.png' });
      await ctx.close();
    } finally {
      await chrome.close();
    }
    const st = (await (await fetch(`${after.url}/api/status`)).json()) as { control: { title: string } };
    expect(st.control.title).toBe('');
    expect(readFileSync(join(etc, 'recordings', 'hark-2026-11-29T10-00-00Z.mp3'), 'utf8')).toBe('ID3');

    // A new password: the notice and the mark are gone, also after a restart.
    await setupPassword(after.url, 'a brand new password');
    expect(existsSync(join(etc, 'factory-reset.json'))).toBe(false);
    await after.stop();
    const again = await startHark('', { dir: etc, timeoutMs: 60_000 });
    running.push(again);
    expect((await fetch(`${again.url}/setup`)).status).toBe(404);
    expect(again.output()).not.toContain('reset to its factory settings');
  }, 180_000);
});
