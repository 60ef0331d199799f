/**
 * Icecast over TLS against a real icecast2 with a TLS listen socket and a certificate from the
 * test's own CA (made with openssl here). With the CA file hark streams the tone over TLS and
 * a listener (ffmpeg over https, checking the certificate with the same CA) hears it; without
 * the CA, and for the wrong host name, the status says in plain words that the certificate is
 * not trusted and hark retries with its backoff; with verification off it streams, warning in
 * the log and on the page. On the Outputs page, "Test connection" takes an https:// address
 * and says why the certificate is not trusted until the CA file is given.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Page } from 'playwright-core';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { makeTestCa, startIcecast, type IcecastServer, type TestCa } from './lib/icecast.ts';
import { channel, dominantFrequency, rmsDbfs } from './lib/signal.ts';
import { loginInPage } from './lib/session.ts';

const TONE_HZ = 523;
const PASSWORD = 'correct horse battery';
const SHOTS = '/tmp/shots-s5';
let ca: TestCa;
let ice: IcecastServer;
let hark: HarkProcess;
/** Before hark started: its outputs' first tries come after this. */
let harkStarting = 0;

const UNTRUSTED = "the server's certificate is not trusted: it was issued by a certificate authority this box does not trust (UNABLE_TO_VERIFY_LEAF_SIGNATURE)";
const WRONG_NAME = "the server's certificate is not trusted: it is for radio.test, 127.0.0.1, not for localhost (ERR_TLS_CERT_ALTNAME_INVALID)";

interface Out {
  id: string;
  state: string;
  status: string;
  last_error: string | null;
  attempts: number;
  next_retry_at: string | null;
  tls: string;
  warning: string | null;
  bytes: number;
}

/** A request over the CLI's Unix socket (the owner's way in: no login needed). */
function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://localhost${path}`, { ...init, unix: `${hark.dir}/hark.sock` } as RequestInit);
}

async function outputs(): Promise<Record<string, Out>> {
  const s = await (await api('/api/status')).json();
  return Object.fromEntries(s.outputs.icecast.map((o: Out) => [o.id, o]));
}

async function until<T>(f: () => Promise<T>, pred: (v: T) => boolean, ms: number, what: string): Promise<T> {
  const end = performance.now() + ms;
  let v: T;
  do {
    v = await f();
    if (pred(v)) return v;
    await Bun.sleep(100);
  } while (performance.now() < end);
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
}

/** ffmpeg pulls `seconds` of a mount over https, checking the certificate against the test CA. */
async function ffmpegPullTls(url: string, seconds: number): Promise<Float32Array> {
  const p = Bun.spawn(
    ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-tls_verify', '1', '-ca_file', ca.caFile, '-f', 'mp3', '-t', String(seconds), '-i', url, '-f', 'f32le', '-ac', '2', '-ar', '48000', 'pipe:1'],
    { stdout: 'pipe', stderr: 'pipe' },
  );
  const timer = setTimeout(() => p.kill(), (seconds + 10) * 1000);
  const [out, err] = await Promise.all([new Response(p.stdout).arrayBuffer(), new Response(p.stderr).text()]);
  clearTimeout(timer);
  if ((await p.exited) !== 0) throw new Error(`ffmpeg failed on ${url}: ${err}`);
  return channel(new Float32Array(out), 2, 0);
}

/** Text of an HTML page as a person reads it (tags gone, entities decoded). */
function textOf(htmlText: string): string {
  return htmlText
    .replace(/<[^>]*>/g, ' ')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}

beforeAll(async () => {
  ca = makeTestCa();
  ice = await startIcecast({ tls: ca.issue('icecast', ['radio.test', '127.0.0.1']) });
  const pw = ice.sourcePassword;
  harkStarting = performance.now();
  hark = await startHark(`
[admin]
password = "${PASSWORD}"
[input]
source = "tone"
[tone]
frequency = ${TONE_HZ}
level_dbfs = -12

[[icecast]]
id = "secure"
url = "https://source:${pw}@127.0.0.1:${ice.tlsPort}/secure.mp3"
ca_file = "${ca.caFile}"
format = "mp3"
bitrate_kbps = 128

[[icecast]]
id = "noca"
url = "https://source:${pw}@127.0.0.1:${ice.tlsPort}/noca.mp3"

[[icecast]]
id = "wrongname"
host = "localhost"
port = ${ice.tlsPort}
tls = true
mount = "/wrongname.mp3"
password = "${pw}"
ca_file = "${ca.caFile}"

[[icecast]]
id = "unchecked"
url = "https://source:${pw}@127.0.0.1:${ice.tlsPort}/unchecked.mp3"
tls_verify = false
`);
  await ice.waitForSource('/secure.mp3', 20_000);
}, 60_000);

afterAll(async () => {
  expect(await hark?.stop()).toBe(0);
  await ice?.stop();
  if (ca) Bun.spawnSync(['rm', '-rf', ca.dir]);
});

describe('Icecast over TLS', () => {
  test(`with the CA file: the tone goes out over TLS and a listener over https (certificate checked) hears ${TONE_HZ} Hz at -12 dBFS`, async () => {
    const pcm = await ffmpegPullTls(`${ice.tlsUrl}/secure.mp3`, 3);
    expect(pcm.length).toBeGreaterThan(48000 * 2);
    const tail = pcm.subarray(48000);
    expect(Math.abs(dominantFrequency(tail) - TONE_HZ)).toBeLessThan(2);
    // rmsDbfs is AES17 (a sine's RMS reads as its peak).
    expect(Math.abs(rmsDbfs(tail) - -12)).toBeLessThan(1);
    const o = (await outputs()).secure!;
    expect(o).toMatchObject({ state: 'live', status: 'live', tls: 'verified', warning: null, last_error: null });
    expect(hark.output()).toMatch(/\[icecast secure\] live on 127\.0\.0\.1:\d+\/secure\.mp3 \(PUT, mp3 128 kbit\/s, TLS\)/);
  }, 30_000);

  test("a title goes to icecast's admin call over https, with the same CA", async () => {
    const title = `Évensong ${Date.now()}`;
    const res = await api('/api/metadata', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title }) });
    expect(res.status).toBe(200);
    await ice.waitForSource('/secure.mp3', 10_000, (s) => s.title === title);
    expect((await outputs()).secure!).toMatchObject({ state: 'live' });
    expect(hark.output()).not.toContain('[icecast secure] metadata update');
  }, 20_000);

  test('without the CA file: "the server\'s certificate is not trusted: …", retried with backoff, nothing sent, nothing crashed', async () => {
    const first = await until(outputs, (o) => o.noca!.last_error !== null, 10_000, 'a failure on noca');
    expect(first.noca).toMatchObject({ last_error: UNTRUSTED, tls: 'verified' });
    // The second try comes after a backoff delay, not at once.
    const second = await until(outputs, (o) => o.noca!.attempts >= 2 && o.noca!.state === 'retrying', 15_000, 'a second try');
    expect(second.noca!.last_error).toBe(UNTRUSTED);
    expect(second.noca!.status).toMatch(/^retrying in \d+ s: the server's certificate is not trusted: /);
    expect(Date.parse(second.noca!.next_retry_at!)).toBeGreaterThan(Date.now() - 1000);
    // Backoff delays of 1, 2, 4, 8 … s, each shortened by up to half at random (the jitter of
    // src/outputs/backoff.ts): at least 0.5, 1, 2, 4 … s, so by t seconds at most
    // 1 + log2(2t + 1) tries. (The bound without the jitter failed when the draws were short.)
    const elapsedS = (performance.now() - harkStarting) / 1000;
    expect(second.noca!.attempts).toBeLessThanOrEqual(1 + Math.log2(2 * elapsedS + 1));
    expect((await ice.sources()).has('/noca.mp3')).toBe(false);
    expect(hark.proc.exitCode).toBeNull();
    expect(second.secure!.state).toBe('live');
    expect(hark.output()).toContain(`[icecast noca] ${UNTRUSTED}; retrying in`);
  }, 30_000);

  test('the wrong host name: "it is for radio.test, 127.0.0.1, not for localhost"', async () => {
    const o = await until(outputs, (x) => x.wrongname!.last_error !== null, 10_000, 'a failure on wrongname');
    expect(o.wrongname!.last_error).toBe(WRONG_NAME);
    expect(o.wrongname!.state === 'retrying' || o.wrongname!.state === 'connecting').toBe(true);
    expect((await ice.sources()).has('/wrongname.mp3')).toBe(false);
  }, 20_000);

  test('tls_verify = false: it streams, with a warning in the log, in the status and on the Outputs page', async () => {
    await ice.waitForSource('/unchecked.mp3', 10_000);
    const o = (await outputs()).unchecked!;
    expect(o).toMatchObject({ state: 'live', tls: 'unverified', status: "live (the server's certificate is not checked)" });
    expect(o.warning).toContain("the server's certificate is not checked (tls_verify = false)");
    expect(hark.output()).toMatch(/\[icecast unchecked\].*the server's certificate is not checked \(tls_verify = false\)/);
    expect(hark.output()).toMatch(/\[icecast unchecked\] live on .*TLS without checking the certificate, which would be refused: it was issued by a certificate authority this box does not trust/);
    const page = textOf(await (await api('/outputs')).text());
    expect(page).toContain('Icecast unchecked');
    expect(page).toContain('certificate not checked');
    expect(page).toContain('This server’s certificate is not checked: an impostor at this address would get the source password.');
  }, 20_000);

  test('the dashboard names the certificate problem in plain words (not "the server refused the password")', async () => {
    await until(outputs, (o) => o.noca!.last_error !== null && o.wrongname!.last_error !== null, 10_000, 'both failures');
    const page = textOf(await (await api('/')).text());
    expect(page).toContain(`Icecast server (127.0.0.1:${ice.tlsPort}/noca.mp3): ${UNTRUSTED}`);
    expect(page).toContain(`(localhost:${ice.tlsPort}/wrongname.mp3): ${WRONG_NAME}`);
    expect(page).not.toContain('refused the password');
  }, 20_000);
});

describe('the Outputs page with an https:// address', () => {
  let chrome: ChromiumHandle;
  let page: Page;

  beforeAll(async () => {
    chrome = await launchChromium();
    page = await (await chrome.browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
    await loginInPage(page, hark.url, PASSWORD, { next: '/outputs' });
  }, 60_000);
  afterAll(async () => {
    await chrome?.close();
  });

  test('"Test connection" takes the pasted https:// address: not trusted, in plain words; with the CA file under Advanced, it connects', async () => {
    await page.click('#icecast-section button:has-text("Add Icecast server")');
    const form = page.locator('#icecast-form-new');
    await form.waitFor();
    await form.locator('input[name=url]').fill(`https://source:${ice.sourcePassword}@127.0.0.1:${ice.tlsPort}/pasted.mp3`);
    await form.locator('button:has-text("Test connection")').click();
    const failed = page.locator('#icecast-form-new [data-test-result="failed"]');
    await failed.waitFor({ timeout: 15_000 });
    expect(await failed.textContent()).toBe(`127.0.0.1:${ice.tlsPort}/pasted.mp3: ${UNTRUSTED}`);
    // The pasted address became fields, with the secure box ticked.
    expect(await page.locator('#icecast-form-new input[name=host]').inputValue()).toBe('127.0.0.1');
    expect(await page.locator('#icecast-form-new input[name=port]').inputValue()).toBe(String(ice.tlsPort));
    expect(await page.locator('#icecast-form-new input[type=checkbox][name=tls]').isChecked()).toBe(true);
    await page.locator('#icecast-form-new').screenshot({ path: `${SHOTS}/icecast-tls-untrusted-390.png` });

    await page.locator('#icecast-form-new details.advanced summary').click();
    await page.locator('#icecast-form-new input[name=ca_file]').fill(ca.caFile);
    await page.locator('#icecast-form-new details.advanced').screenshot({ path: `${SHOTS}/icecast-tls-advanced-390.png` });
    await page.locator('#icecast-form-new button:has-text("Test connection")').click();
    const ok = page.locator('#icecast-form-new [data-test-result="ok"]');
    await ok.waitFor({ timeout: 15_000 });
    expect(await ok.textContent()).toBe(`Connected to 127.0.0.1:${ice.tlsPort}/pasted.mp3 over a secure connection: the server accepted the user, password and mount.`);
    await page.locator('#icecast-form-new').screenshot({ path: `${SHOTS}/icecast-tls-ok-390.png` });
    expect(chrome.logs.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
  }, 60_000);

  test('saved, the entry goes live over TLS; the unchecked entry shows its warning (desktop)', async () => {
    await page.locator('#icecast-form-new button[type=submit]').click();
    await page.locator('#icecast-section li[data-entry="4"]').waitFor({ timeout: 10_000 });
    // Live within seconds: the connection test's TLS source let go of the mount at once (an
    // end without close_notify, which Icecast 2.4 notices), so no "mount in use" backoff.
    const t0 = performance.now();
    const o = await until(outputs, (x) => x['pasted.mp3']?.state === 'live', 15_000, 'pasted.mp3 live');
    expect(o['pasted.mp3']!).toMatchObject({ tls: 'verified', attempts: 1 });
    console.log(`pasted.mp3 live ${Math.round(performance.now() - t0)} ms after saving`);
    await ice.waitForSource('/pasted.mp3', 5000);
    const toml = await Bun.file(hark.configPath).text();
    expect(toml).toMatch(/mount = "\/pasted\.mp3"[\s\S]*tls = true[\s\S]*ca_file = /);
    await page.setViewportSize({ width: 1366, height: 900 });
    await page.goto(`${hark.url}/outputs`);
    const warn = page.locator('#icecast-section li[data-entry="3"] [data-tls="unverified"]');
    expect(await warn.textContent()).toBe('certificate not checked');
    await page.locator('#icecast-section').screenshot({ path: `${SHOTS}/outputs-tls-1366.png` });
    await page.goto(`${hark.url}/`);
    await page.screenshot({ path: `${SHOTS}/dashboard-tls-1366.png` });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${hark.url}/outputs`);
    await page.locator('#icecast-section').screenshot({ path: `${SHOTS}/outputs-tls-390.png` });
  }, 60_000);
});
