/**
 * The admin page end to end, in headless Chromium against a real daemon (test tone) and a
 * real icecast2: first-run password, login, Go live pushed to a second browser over SSE (how
 * fast: bench/admin-live.ts), meters that follow the signal, an Icecast output refused inline then saved, log out.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { startIcecast, type IcecastServer } from './lib/icecast.ts';
import { submitSetup } from './lib/session.ts';

const PASSWORD = 'correct horse battery';

let hark: HarkProcess;
let chrome: ChromiumHandle;
let ice: IcecastServer;
let a: Page;
let b: Page;

/** PATCH the config over the CLI socket (as `hark config set` does). */
async function setConfig(entries: Record<string, unknown>): Promise<Response> {
  return fetch('http://localhost/api/config', {
    method: 'PATCH',
    unix: `${hark.dir}/hark.sock`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(entries),
  } as RequestInit);
}

/**
 * Submit a plain form (no htmx: /setup, /login) whose answer is a refusal (4xx) and return the
 * text of `selector` on the page it brings. Fresh clones' CI has twice (in about half of the
 * whole-suite runs there, never here in 15 runs of this file and 2 of the suite) waited 30 s
 * for such a page while the daemon had answered: for /setup (422) and for /login (401). So
 * this waits for the answer itself, then its page, and should either not come, prints what
 * the browser shows (and its console) and fills the form once more from a fresh load (bounded:
 * two attempts; the daemon's answers are checked each time).
 */
async function refusedForm(page: Page, path: string, fill: () => Promise<void>, status: number, selector: string): Promise<string | null> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    if (attempt > 1) await page.goto(`${hark.url}${path}`);
    await fill();
    const answer = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === path.split('?')[0] && r.request().method() === 'POST', { timeout: 15_000 }),
      page.click('button[type=submit]'),
    ]).catch((e) => {
      console.log(`[admin-e2e] ${path} attempt ${attempt}: no answer reached the browser within 15 s (${(e as Error).message.split('\n')[0]})`);
      return null;
    });
    if (!answer) continue;
    expect(answer[0].status()).toBe(status);
    await page.waitForLoadState('domcontentloaded').catch(() => {});
    const text = await page
      .locator(selector)
      .textContent({ timeout: 10_000 })
      .catch(async (e) => {
        console.log(
          `[admin-e2e] ${path} attempt ${attempt}: the ${status} arrived, yet no ${selector} within 10 s (${(e as Error).message.split('\n')[0]}); ${page.url()} shows:\n${(await page.content().catch((x) => String(x))).slice(0, 3000)}\nbrowser log:\n${chrome.logs.slice(-20).join('\n')}`,
        );
        return null;
      });
    if (text !== null) return text;
  }
  return null;
}

beforeAll(async () => {
  [hark, ice] = await Promise.all([
    startHark(`
# The e2e test's config: comments must survive the admin page's writes.
[input]
source = "tone"

[tone]
frequency = 1000
level_dbfs = -12 # the meter must show this

[control]
on_boot = "idle"

[webrtc]
udp_port = ${20000 + Math.floor(Math.random() * 20000)}
`),
    startIcecast(),
  ]);
  chrome = await launchChromium();
  a = await chrome.newPage();
  // The second "device": its own browser context, so its own login.
  const ctxB = await chrome.browser.newContext();
  b = await ctxB.newPage();
}, 120_000);

afterAll(async () => {
  // For a failure on another machine: what the daemon said that was not routine.
  const worrying = hark?.output().split('\n').filter((l) => /\b(warn|error)\b/i.test(l)) ?? [];
  if (worrying.length) console.log(`[admin-e2e] daemon warnings and errors:\n${worrying.slice(-40).join('\n')}`);
  await chrome?.close();
  await ice?.stop();
  expect(await hark.stop()).toBe(0);
});

describe('admin page in Chromium', () => {
  test('the first-run page sets the password, and a second browser logs in with it', async () => {
    const res = await a.goto(`${hark.url}/`);
    expect(new URL(a.url()).pathname).toBe('/setup');
    expect(res?.status()).toBe(200);
    const mismatch = await refusedForm(a, '/setup', async () => {
      await a.fill('#password', PASSWORD);
      await a.fill('#confirm', 'something else');
    }, 422, '.field.invalid .err');
    expect(mismatch).toContain('differ');
    await submitSetup(a, hark.url, PASSWORD);
    await a.locator('#state-panel').waitFor();

    const cookie = (await a.context().cookies()).find((c) => c.name === 'hark_session')!;
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe('Strict');
    expect(cookie.expires).toBeGreaterThan(Date.now() / 1000 + 3600);

    // The first-run page is gone for good.
    expect((await fetch(`${hark.url}/setup`)).status).toBe(404);

    await b.goto(`${hark.url}/outputs`);
    expect(new URL(b.url()).pathname).toBe('/login');
    // The wrong password: a 401 and the login page again, saying so.
    const notice = await refusedForm(b, '/login?next=/outputs', () => b.fill('#password', 'wrong password'), 401, '.notice.bad');
    expect(notice).toContain('Wrong password');
    await b.fill('#password', PASSWORD);
    await b.click('button[type=submit]');
    await b.waitForURL(`${hark.url}/outputs`);
    await b.goto(`${hark.url}/`);
    await expect(b.locator('.state-word').textContent()).resolves.toBe('Off air');
  }, 90_000);

  test('Go live on one page: the other shows "Live", pushed over the SSE connection it holds (no request of its own)', async () => {
    // Both pages hold their SSE connection (the server sends the current state on connect).
    await b.locator('#meters .meter').first().waitFor();
    // What the other page asks the server for from the click until it shows the change: nothing
    // (the change is pushed to it). How long it takes ("Live within 1 s") is a speed goal,
    // measured by bench/admin-live.ts against a bare SSE page in the same run: in a test on a
    // loaded machine it measured the starved browser, not hark.
    const requestsOf = (p: Page) => {
      const seen: string[] = [];
      const on = (r: { method(): string; url(): string }) => seen.push(`${r.method()} ${new URL(r.url()).pathname}`);
      p.on('request', on);
      return { seen, stop: () => p.off('request', on) };
    };
    await b.evaluate(() => {
      const w = window;
      new MutationObserver(() => {
        if (!w.liveAt && document.querySelector('.state-word')?.textContent === 'Live') w.liveAt = Date.now();
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    const bRequests = requestsOf(b);
    const clickedAt = await a.evaluate(() => {
      (document.querySelector('#state-panel button.go') as HTMLButtonElement).click();
      return Date.now();
    });
    await b.waitForFunction(() => window.liveAt, null, { timeout: 15_000 });
    bRequests.stop();
    console.log(`second page showed Live ${(await b.evaluate(() => window.liveAt!)) - clickedAt} ms after the click (not asserted: bench/admin-live.ts)`);
    expect(bRequests.seen).toEqual([]);
    await expect(b.locator('#state-badge .badge').getAttribute('data-state')).resolves.toBe('live');
    // The action went through the one state machine.
    expect((await (await fetch(`${hark.url}/api/status`)).json()).control.state).toBe('live');
    // Mute from the second page shows on the first, pushed the same way.
    const aRequests = requestsOf(a);
    await b.click('#state-panel button.mute');
    await a.waitForFunction(() => document.querySelector('.state-word')?.textContent === 'Muted', null, { timeout: 15_000 });
    await b.click('#state-panel button.unmute');
    await a.waitForFunction(() => document.querySelector('.state-word')?.textContent === 'Live', null, { timeout: 15_000 });
    aRequests.stop();
    expect(aRequests.seen).toEqual([]);
  }, 90_000);

  test('the meters follow the signal, updated continuously over SSE', async () => {
    const peak = () => b.locator('#meters .meter[data-ch="0"]').getAttribute('data-peak').then(Number);
    const seq = () => b.locator('#meters .meters').getAttribute('data-seq').then(Number);
    await b.waitForFunction(() => Math.abs(Number(document.querySelector('#meters .meter[data-ch="0"]')?.getAttribute('data-peak')) + 12) < 1, null, { timeout: 15_000 });
    expect(Math.abs((await peak()) + 12)).toBeLessThan(1);
    // Frames keep coming (each one hark's next: data-seq counts them). How many a second
    // (~15: METER_MS) is measured by bench/admin-live.ts against a bare SSE page: over a
    // one-second window here it measured how starved the browser was.
    const s0 = await seq();
    await b.waitForFunction((from) => Number(document.querySelector('#meters .meters')?.getAttribute('data-seq')) >= from + 10, s0, { timeout: 15_000 });
    expect((await seq()) - s0).toBeGreaterThanOrEqual(10);
    const width0 = await b.locator('#meters .meter[data-ch="0"] .bar.peak').evaluate((e) => (e as HTMLElement).style.width);
    // The tone drops 18 dB (applied live, no restart): the bar moves with it.
    expect((await setConfig({ 'tone.level_dbfs': -30 })).status).toBe(200);
    await b.waitForFunction(() => Math.abs(Number(document.querySelector('#meters .meter[data-ch="0"]')?.getAttribute('data-peak')) + 30) < 1, null, { timeout: 15_000 });
    const width1 = await b.locator('#meters .meter[data-ch="0"] .bar.peak').evaluate((e) => (e as HTMLElement).style.width);
    expect(parseFloat(width1)).toBeLessThan(parseFloat(width0) - 20);
    // The hand-written comments in the file survived that write.
    expect(readFileSync(hark.configPath, 'utf8')).toContain('level_dbfs = -30 # the meter must show this');
  }, 90_000);

  test('an Icecast output with an invalid port is refused inline and nothing is saved', async () => {
    await a.goto(`${hark.url}/outputs`);
    const before = readFileSync(hark.configPath, 'utf8');
    await a.click('#icecast-section button:has-text("Add Icecast server")');
    const form = a.locator('#icecast-form-new');
    await form.waitFor();
    await form.locator('input[name=host]').fill('127.0.0.1');
    await form.locator('input[name=port]').fill('99999');
    await form.locator('input[name=mount]').fill('/live.mp3');
    await form.locator('input[name=password]').fill(ice.sourcePassword);
    await form.locator('button[type=submit]').click();
    const err = a.locator('#icecast-form-new .field[data-field="port"] .err');
    await err.waitFor({ timeout: 3000 });
    expect(await err.textContent()).toContain('between 1 and 65535');
    // What was typed stays in the form; the file and the running config are unchanged.
    expect(await a.locator('#icecast-form-new input[name=host]').inputValue()).toBe('127.0.0.1');
    expect(readFileSync(hark.configPath, 'utf8')).toBe(before);
    const cfg = await (await fetch('http://localhost/api/config', { unix: `${hark.dir}/hark.sock` } as RequestInit)).json();
    expect(cfg.icecast).toEqual([]);
  }, 90_000);

  test('"Test connection" says what the server answers: a wrong password, then the right one', async () => {
    const form = a.locator('#icecast-form-new');
    await form.locator('input[name=port]').fill(String(ice.port));
    await form.locator('input[name=password]').fill('not-the-password');
    await form.locator('button:has-text("Test connection")').click();
    const failed = a.locator('#icecast-form-new [data-test-result="failed"]');
    await failed.waitFor({ timeout: 10_000 });
    expect((await failed.textContent())!.toLowerCase()).toContain('auth');
    await a.locator('#icecast-form-new input[name=password]').fill(ice.sourcePassword);
    await a.locator('#icecast-form-new button:has-text("Test connection")').click();
    await a.locator('#icecast-form-new [data-test-result="ok"]').waitFor({ timeout: 10_000 });
    // A test saves nothing.
    expect(readFileSync(hark.configPath, 'utf8')).not.toContain('[[icecast]]');
  }, 90_000);

  test('a valid Icecast output is saved, shown, and goes live (hark is live)', async () => {
    const form = a.locator('#icecast-form-new');
    await form.locator('input[name=port]').fill(String(ice.port));
    await form.locator('button[type=submit]').click();
    await a.locator('#icecast-section li[data-entry="0"]').waitFor({ timeout: 3000 });
    expect(await a.locator('#icecast-section .notice.ok').textContent()).toContain('Saved');
    expect(await a.locator('#icecast-section li[data-entry="0"] .where').textContent()).toBe(`127.0.0.1:${ice.port}/live.mp3`);
    const text = readFileSync(hark.configPath, 'utf8');
    expect(text).toContain('[[icecast]]');
    expect(text).toContain(`port = ${ice.port}`);
    expect(text).toContain('# The e2e test');
    // Applied without a restart: the source connects, and the outputs table says so.
    await ice.waitForSource('/live.mp3', 10_000);
    await a.waitForFunction(() => document.querySelector('#outputs tr[data-output="Icecast:live.mp3"] .pill')?.textContent === 'live', null, { timeout: 5000 });
  }, 90_000);

  test('log out: the session is gone', async () => {
    await a.click('header form.logout button');
    await a.waitForURL(/\/login/);
    await a.goto(`${hark.url}/`);
    expect(new URL(a.url()).pathname).toBe('/login');
    expect(chrome.logs.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
  }, 90_000);
});
