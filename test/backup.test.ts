/**
 * Backup and restore as a user does it: `hark backup` on one box, `hark restore` onto a fresh
 * one (default config, no password) that then answers with the first box's password, tokens,
 * settings, title and certificate authority (curl trusts it with the first box's CA); the
 * System page's Make a backup (downloaded at once) and Restore (upload, passphrase, confirm),
 * on a phone and a desktop; and every bad file refused with its reason while nothing changes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { loginInPage, session } from './lib/session.ts';

const CLI = resolve(import.meta.dir, '../src/cli/main.ts');
const FIXTURES = resolve(import.meta.dir, 'fixtures/backups');
/** The first box's HTTPS port (this file's range: 31450–31459). */
const TLS_PORT = 31450;
const PW_A = 'first-box-password';
const PASSPHRASE = 'a long backup passphrase';
const shots = process.env.HARK_SHOTS_DIR ?? '/tmp/shots-backup';
const work = mkdtempSync(join(tmpdir(), 'hark-backup-e2e-'));

async function cli(args: string[], socket: string, stdin?: string) {
  const p = Bun.spawn([process.execPath, CLI, '--socket', socket, ...args], { cwd: work, stdin: stdin === undefined ? 'ignore' : new Blob([stdin]), stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

const viaSocket = (h: HarkProcess, path: string, init: RequestInit = {}) => fetch(`http://localhost${path}`, { ...init, unix: join(h.dir, 'hark.sock') } as RequestInit);

function curl(args: string[]): { code: number; out: string } {
  const r = Bun.spawnSync(['curl', '-sS', '--max-time', '20', ...args], { stdout: 'pipe', stderr: 'pipe' });
  return { code: r.exitCode ?? -1, out: r.stdout.toString() + r.stderr.toString() };
}

describe('from one box to a fresh one, over SSH', () => {
  let a: HarkProcess;
  let b: HarkProcess | undefined;
  let backupFile = '';
  let caPem = '';
  let token = '';
  let configA = '';

  beforeAll(async () => {
    a = await startHark(
      `# the first box
[input]
source = "tone"
[admin]
password = "${PW_A}"
[metadata]
title = "Evensong"
[[icecast]]
id = "main"
enabled = false
url = "http://source:ice-secret-pw@127.0.0.1:9/live.mp3"
[tls]
enabled = true
port = ${TLS_PORT}
`,
      { timeoutMs: 60_000 },
    );
    await a.waitFor(/serving https on port \d+/, 30_000);
    caPem = await (await fetch(`${a.url}/ca.crt`)).text();
    expect(caPem).toContain('BEGIN CERTIFICATE');
    token = (await cli(['token', 'create', '--scope', 'read', 'monitor'], join(a.dir, 'hark.sock'))).out.match(/[A-Za-z0-9_-]{20,}/)![0];
    configA = readFileSync(a.configPath, 'utf8');
  }, 90_000);

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  test('hark backup without a passphrase is refused (it holds the password), with the way to give one', async () => {
    const r = await cli(['backup'], join(a.dir, 'hark.sock'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('this backup holds the admin password, API tokens');
    expect(r.err).toContain('(run it in a terminal to be asked, or give it with --stdin)');
  });

  test('hark backup --stdin saves a locked file (0600) that shows no secret', async () => {
    const r = await cli(['backup', '--stdin'], join(a.dir, 'hark.sock'), `${PASSPHRASE}\n`);
    expect(r.code).toBe(0);
    backupFile = r.out.match(/saved the backup to (\S+), locked with your passphrase\./)![1]!;
    expect(backupFile).toMatch(/\/hark-backup-.+-\d{8}-\d{4}\.json$/);
    const text = readFileSync(backupFile, 'utf8');
    for (const s of ['ice-secret-pw', 'argon2', 'Evensong', 'BEGIN', 'monitor']) expect(text).not.toContain(s);
    expect(JSON.parse(text).contains).toEqual(['settings', 'the admin password', '1 API token', 'the last state and title', "the box's certificate authority"]);
  });

  test('a fresh box (default config, no password) refuses bad files, each with its reason, and nothing changes', async () => {
    await a.stop(); // the restored box takes its HTTPS port
    b = await startHark('', { timeoutMs: 60_000 });
    const plain = await cli(['backup', '-'], join(b.dir, 'hark.sock'));
    expect(plain.code).toBe(0);
    expect(JSON.parse(plain.out).encrypted).toBe(false); // nothing secret on a fresh box
    const before = await (await viaSocket(b, '/api/config/text')).text();
    const text = readFileSync(backupFile, 'utf8');
    const env = JSON.parse(text);
    const cases: [string, unknown, number, RegExp][] = [
      ['wrong passphrase', { backup: text, passphrase: 'not the passphrase' }, 422, /^wrong passphrase \(or the file was changed since it was made\)$/],
      ['no passphrase', { backup: text }, 422, /^this backup is locked: give the passphrase it was made with$/],
      ['cut short', { backup: text.slice(0, 300), passphrase: PASSPHRASE }, 422, /^not a hark backup: it is not the JSON file/],
      ['another program', { backup: JSON.stringify({ ...env, product: 'other-appliance' }), passphrase: PASSPHRASE }, 422, /^not a hark backup: it says it is "other-appliance", from another program$/],
      ['a newer hark', { backup: JSON.stringify({ ...env, format: 7 }), passphrase: PASSPHRASE }, 422, /made by a newer hark .*update hark first$/],
      ['not a string', { backup: 42 }, 400, /backup/],
    ];
    for (const [name, body, status, re] of cases) {
      const res = await viaSocket(b, '/api/restore', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const j = (await res.json()) as { error?: string; message?: string };
      expect({ name, status: res.status }).toEqual({ name, status });
      expect(j.error ?? j.message ?? '').toMatch(re);
    }
    expect(await (await viaSocket(b, '/api/config/text')).text()).toBe(before);
    // hark goes on: its audio clock moves (silence here: the default input finds no PipeWire).
    const frames = async () => ((await (await fetch(`${b!.url}/api/status`)).json()) as { audio: { frames: number } }).audio.frames;
    const f0 = await frames();
    for (let i = 0; i < 50 && (await frames()) <= f0; i++) await Bun.sleep(50);
    expect(await frames()).toBeGreaterThan(f0);
    const r = await cli(['restore', join(work, 'no-such.json'), '--stdin'], join(b.dir, 'hark.sock'), `${PASSPHRASE}\n`);
    expect(r.code).toBe(1);
    expect(r.err).toContain('cannot read');
  }, 90_000);

  test('hark restore puts it all back: the password, the token, the settings, the title, and a certificate the first CA vouches for', async () => {
    const r = await cli(['restore', backupFile, '--stdin'], join(b!.dir, 'hark.sock'), `${PASSPHRASE}\n`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Restored the backup of .+ made \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC \(hark .+\): settings, the admin password, 1 API token, the last state and title, the box's certificate authority\. hark restarts now; log in again with the backup's password\.\n$/);
    await b!.waitFor(/serving https on port 31450/, 60_000);
    // Its port stays; it answers with the first box's password and token.
    for (let i = 0; i < 100; i++) {
      if ((await fetch(`${b!.url}/api/status`).catch(() => null))?.status === 200) break;
      await Bun.sleep(100);
    }
    // The admin pages and the API are on HTTPS now (the first box's [tls]), with a certificate its CA signed.
    const https = `https://localhost:${TLS_PORT}`;
    const trusted = (req: Request) => fetch(req, { redirect: 'manual', tls: { ca: caPem } } as RequestInit);
    const { cookie } = await session(https, PW_A, { via: trusted });
    expect(cookie).toBeTruthy();
    expect((await fetch(`${b!.url}/api/status`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await trusted(new Request(`${https}/api/config`, { headers: { authorization: `Bearer ${token}` } }))).status).toBe(403);
    const st = (await (await fetch(`${b!.url}/api/status`)).json()) as { control: { title: string } };
    expect(st.control.title).toBe('Evensong');
    expect(readFileSync(b!.configPath, 'utf8')).toBe(configA);
    const caFile = join(work, 'first-ca.crt');
    writeFileSync(caFile, caPem);
    const ok = curl(['--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code}', `https://localhost:${TLS_PORT}/login`]);
    expect(ok.out).toBe('200');
  }, 120_000);
});

/** Starts of the daemon so far (each start, the in-place restart too, logs "listening on"). */
const starts = (h: HarkProcess) => (h.output().match(/listening on http:/g) ?? []).length;

/** Wait until hark has started again since `before` starts, and answers its login page. */
async function restarted(h: HarkProcess, before: number): Promise<void> {
  for (let i = 0; i < 600 && starts(h) <= before; i++) await Bun.sleep(100);
  expect(starts(h)).toBeGreaterThan(before);
  for (let i = 0; i < 150; i++) {
    if ((await fetch(`${h.url}/login`).catch(() => null))?.status === 200) return;
    await Bun.sleep(100);
  }
  throw new Error(`${h.url}/login does not answer after the restart`);
}

describe('the System page', () => {
  let c: HarkProcess;
  let chrome: ChromiumHandle;
  const PW = 'system-page-password';
  /** Starts before the first test's restore (the second test waits for that restart). */
  let startsBefore = 0;

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    c = await startHark(`[input]\nsource = "tone"\n[admin]\npassword = "${PW}"\n[metadata]\ntitle = "Morning prayer"\n`, { timeoutMs: 60_000 });
    chrome = await launchChromium();
  }, 90_000);

  afterAll(async () => {
    await chrome?.close();
    await c?.stop();
  });

  test('a backup made on a phone downloads at once; the desktop restores it (a wrong passphrase first: refused beside the field, nothing changed)', async () => {
    const phone = await chrome.browser.newContext({ viewport: { width: 390, height: 844 }, acceptDownloads: true });
    const page = await phone.newPage();
    await loginInPage(page, c.url, PW, { next: '/system' });
    // Without a passphrase: refused beside the field.
    await page.locator('#backup-form button[type=submit]').click();
    await expect(page.locator('#bk-passphrase-err').textContent()).resolves.toContain('give a passphrase');
    await page.fill('#bk-passphrase', PASSPHRASE);
    await page.fill('#bk-confirm', PASSPHRASE);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.locator('#backup-form button[type=submit]').click()]);
    expect(download.suggestedFilename()).toMatch(/^hark-backup-.+\.json$/);
    const file = join(work, download.suggestedFilename());
    await download.saveAs(file);
    expect(JSON.parse(readFileSync(file, 'utf8')).encrypted).toBe(true);
    await expect(page.locator('#backup [role=status]').textContent()).resolves.toContain('Backup made, locked with your passphrase.');
    const btn = (await page.locator('#backup-form button[type=submit]').boundingBox())!;
    expect(btn.height).toBeGreaterThanOrEqual(44);
    await page.locator('#backup').screenshot({ path: join(shots, 'system-backup-phone.png') });
    await phone.close();

    // The title changes; the restore brings the backup's back.
    const { cookie, csrf } = await session(c.url, PW);
    const patched = await fetch(`${c.url}/api/config`, { method: 'PATCH', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json', origin: c.url }, body: JSON.stringify({ 'metadata.title': 'Changed since' }) });
    expect(patched.status).toBe(200);

    const desk = await chrome.browser.newContext({ viewport: { width: 1366, height: 900 } });
    const dpage = await desk.newPage();
    dpage.on('dialog', (d) => void d.accept());
    await loginInPage(dpage, c.url, PW, { next: '/system' });
    await dpage.setInputFiles('#bk-file', file);
    await dpage.fill('#bk-restore_passphrase', 'the wrong one!');
    await dpage.locator('#restore-form button[type=submit]').click();
    await expect(dpage.locator('#bk-restore_passphrase-err').textContent()).resolves.toBe('wrong passphrase (or the file was changed since it was made). Nothing changed.');
    expect(readFileSync(c.configPath, 'utf8')).toContain('Changed since');
    await dpage.locator('#backup').screenshot({ path: join(shots, 'system-backup-refused-desktop.png') });
    await dpage.setInputFiles('#bk-file', file);
    await dpage.fill('#bk-restore_passphrase', PASSPHRASE);
    startsBefore = starts(c);
    await dpage.locator('#restore-form button[type=submit]').click();
    await expect(dpage.locator('#backup .notice').first().textContent({ timeout: 30_000 })).resolves.toContain('Restored the backup of');
    await dpage.locator('#backup').screenshot({ path: join(shots, 'system-backup-restored-desktop.png') });
    expect(readFileSync(c.configPath, 'utf8')).toContain('title = "Morning prayer"');
    await desk.close();
  }, 120_000);

  test('the backup a hark 0.1.0 made restores through the page (older backups read into newer harks)', async () => {
    await restarted(c, startsBefore);
    const ctx = await chrome.browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await ctx.newPage();
    page.on('dialog', (d) => void d.accept());
    await loginInPage(page, c.url, PW, { next: '/system' });
    await page.setInputFiles('#bk-file', join(FIXTURES, 'hark-0.1.0-locked.json'));
    await page.fill('#bk-restore_passphrase', 'fixture passphrase');
    const before = starts(c);
    await page.locator('#restore-form button[type=submit]').click();
    await expect(page.locator('#backup .notice').first().textContent({ timeout: 30_000 })).resolves.toContain('(hark 0.1.0): settings, the admin password, 1 API token');
    await ctx.close();
    // After the restart the fixture's password is the box's.
    await restarted(c, before);
    expect((await session(c.url, 'fixture admin password')).cookie).toBeTruthy();
    expect(readFileSync(c.configPath, 'utf8')).toContain('title = "Evensong"');
  }, 120_000);
});
