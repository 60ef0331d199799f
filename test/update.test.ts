/**
 * Updates with rollback, end to end with real hark versions: the launcher (as hark.service runs
 * it, restarted as systemd would), the image's service.ts wrapper and its health probe, the
 * installer behind POST /api/update and `hark update`. Three trees: the "image's" hark (this
 * checkout), a second build (version bumped) and a broken build (exits at start); releases are
 * packed and signed with the test key as script/image does.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Subprocess } from 'bun';
import { packDir } from '../script/release.ts';
import { debianArch } from '../src/system/release.ts';
import { freePort } from './lib/icecast.ts';
import { startHark } from './lib/hark.ts';
import { until } from './lib/wait.ts';
import { launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { loginInPage } from './lib/session.ts';

const ROOT = resolve(import.meta.dir, '..');
const KEY = readFileSync(join(ROOT, 'test/fixtures/release-test-key.pem'), 'utf8');
const PUB = join(ROOT, 'test/fixtures/release-test-key.pub.pem');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const bump = (v: string, n: number) => v.replace(/\d+$/, (x) => String(Number(x) + n));
const V1 = bump(VERSION, 1);
const V2 = bump(VERSION, 2);
const V3 = bump(VERSION, 3);
const PW = 'update-page-password';
const shots = join(ROOT, 'docs/screenshots');

const dir = mkdtempSync(join(tmpdir(), 'hark-update-'));
const U = join(dir, 'update');
const factory = join(dir, 'opt-hark');
const logFile = join(dir, 'journal');

/** A hark tree as /opt/hark holds it: this checkout's code (copied, so its version is its own), Bun and node_modules linked. */
function buildTree(at: string, version: string, broken = false): string {
  mkdirSync(join(at, 'bin'), { recursive: true });
  symlinkSync(process.execPath, join(at, 'bin/bun'));
  symlinkSync(join(ROOT, 'node_modules'), join(at, 'node_modules'));
  for (const p of ['src', 'ffi', 'web', 'bunfig.toml']) cpSync(join(ROOT, p), join(at, p), { recursive: true, filter: (s) => !s.endsWith('.test.ts') });
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(at, 'package.json'), `${JSON.stringify({ ...pkg, version }, null, 2)}\n`);
  if (broken) writeFileSync(join(at, 'src/main.ts'), "console.error('this build is broken: it exits at start');\nprocess.exit(3);\n");
  return at;
}

let port = 0;
let sock = '';
let supervisor: { stop: () => Promise<void>; starts: () => number } | undefined;

/** systemd's part: start the launcher, and again whenever hark exits (Restart=always), a bounded number of times. */
function supervise(): { stop: () => Promise<void>; starts: () => number } {
  let stopping = false;
  let starts = 0;
  let current: Subprocess | undefined;
  const loop = (async () => {
    while (!stopping && starts < 12) {
      starts++;
      // Each start's output straight to a file, as to the journal (no pipe for the trial timer,
      // a child of hark, to hold open).
      const out = `${logFile}.${String(starts).padStart(2, '0')}`;
      writeFileSync(out, `--- start ${starts}\n`);
      current = Bun.spawn(['sh', '-c', 'exec "$@" >>"$OUT" 2>&1', 'sh', 'sh', join(ROOT, 'image/deb/usr/lib/hark/launch'), '--config', join(dir, 'hark.toml')], {
        cwd: dir,
        stdin: 'ignore',
        stdout: 'ignore',
        stderr: 'ignore',
        env: {
          ...process.env,
          OUT: out,
          HARK_UPDATE_DIR: U,
          HARK_FACTORY_ROOT: factory,
          HARK_SERVICE_ENTRY: join(ROOT, 'image/deb/usr/lib/hark/service.ts'),
          HARK_RELEASE_KEY_FILE: PUB,
          HARK_PIPEWIRE_WAIT_MS: '0',
          WATCHDOG_USEC: '3000000',
          HARK_TRIAL_S: '90',
          MIMALLOC_SCAVENGER: '0',
        },
      });
      await current.exited;
      if (!stopping) await Bun.sleep(300);
    }
  })();
  return {
    starts: () => starts,
    stop: async () => {
      stopping = true;
      current?.kill('SIGTERM');
      await loop;
    },
  };
}

const journal = () =>
  readdirSync(dir)
    .filter((f) => f.startsWith('journal.'))
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('');

interface Status {
  version: string;
  update: { running_from: string; available: boolean; trial?: string; previous: string; last?: { outcome: string; from: string; to: string; message: string } };
}
async function status(): Promise<Status | undefined> {
  try {
    const r = await fetch('http://localhost/api/status', { unix: sock, signal: AbortSignal.timeout(2000) } as RequestInit);
    return r.ok ? ((await r.json()) as Status) : undefined;
  } catch {
    return undefined;
  }
}
/** POST /api/update as an administrator (over the CLI's socket: the admin's own login). */
async function post(bytes: Uint8Array | string, query = ''): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`http://localhost/api/update${query}`, {
    unix: sock,
    method: 'POST',
    body: typeof bytes === 'string' ? bytes : new Blob([new Uint8Array(bytes)]),
    headers: { 'content-type': 'application/octet-stream' },
  } as RequestInit);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}
const cli = (...args: string[]) => {
  const r = Bun.spawnSync([process.execPath, join(ROOT, 'src/cli/main.ts'), '--socket', sock, ...args], { stdout: 'pipe', stderr: 'pipe' });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
};

let good: Uint8Array;
let broken: Uint8Array;
let third: Uint8Array;
beforeAll(async () => {
  buildTree(factory, VERSION);
  mkdirSync(join(dir, 'trees'));
  good = await packDir(buildTree(join(dir, 'trees/good'), V1), { keyPem: KEY, arch: debianArch() });
  broken = await packDir(buildTree(join(dir, 'trees/broken'), V2, true), { keyPem: KEY, arch: debianArch() });
  third = await packDir(buildTree(join(dir, 'trees/third'), V3), { keyPem: KEY, arch: debianArch() });
  port = await freePort();
  sock = join(dir, 'hark.sock');
  writeFileSync(join(dir, 'hark.toml'), `[input]\nsource = "tone"\n[http]\nport = ${port}\n[webrtc]\nenabled = false\n[admin]\npassword = "${PW}"\n`);
});
afterAll(async () => {
  await supervisor?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('updates with rollback (real hark versions under the launcher)', () => {
  test(`the image's hark ${VERSION} runs; bad release files are refused with the reason and it keeps running`, async () => {
    supervisor = supervise();
    await until(async () => (await status())?.version === VERSION, 60_000, `hark ${VERSION} serving\n${journal()}`);
    const s = (await status())!;
    expect(s.update).toMatchObject({ running_from: 'image', available: true });

    const refusals: [Uint8Array | string, string, number, string][] = [
      ['GIF89a not a release', '', 422, 'this is not a hark release file (it does not start with "HARKREL1"); download the .hark file of a release. Nothing changed.'],
      [good.slice(0, good.length - 4096), '', 422, `the release file is cut short: `],
      [await packDir(join(dir, 'trees/good'), { keyPem: KEY, arch: debianArch() === 'arm64' ? 'amd64' : 'arm64' }), '', 422, `this release is built for ${debianArch() === 'arm64' ? 'amd64' : 'arm64'}; this box is ${debianArch()}. Nothing changed.`],
      ['', '', 400, 'the request body is empty: send the release file (hark-<version>-arm64.hark)'],
      [good, '?allow_downgrade=maybe', 400, 'allow_downgrade must be 1 or 0'],
    ];
    for (const [body, q, code, message] of refusals) {
      const r = await post(body, q);
      expect(r.status).toBe(code);
      expect(String(r.body.error)).toStartWith(message);
    }
    // An altered payload byte.
    const altered = good.slice();
    altered[altered.length - 100]! ^= 1;
    expect((await post(altered)).body.error).toBe('the release file is corrupted (its checksum does not match): download it again. Nothing changed.');
    expect((await status())?.version).toBe(VERSION);
    expect(supervisor.starts()).toBe(1);
  }, 120_000);

  test(`a second build (${V1}) installs, hark restarts into it and confirms it once it serves`, async () => {
    const r = await post(good);
    expect(r.body).toMatchObject({ ok: true, version: V1 });
    expect(r.status).toBe(202);
    expect(r.body.message).toBe(`hark ${V1} is installed; hark restarts into it now (from ${VERSION}). If it does not start and serve within 90 s, ${VERSION} comes back by itself.`);
    await until(async () => {
      const s = await status();
      return s?.version === V1 && s.update.last?.outcome === 'installed';
    }, 90_000, `${V1} running and confirmed\n${journal()}`);
    const s = (await status())!;
    expect(s.update.running_from).toBe('update');
    expect(s.update.trial).toBeUndefined();
    expect(s.update.previous).toBe(VERSION);
    expect(s.update.last?.message).toBe(`Updated from ${VERSION} to ${V1}: it started and serves audio.`);
    const st = cli('status');
    expect(st.out).toContain(`hark ${V1}:`);
    expect(st.out).toContain(`update    Updated from ${VERSION} to ${V1}: it started and serves audio.`);
    // The same version again, and an older one without --allow-downgrade, through the CLI.
    const again = join(dir, 'again.hark');
    writeFileSync(again, good);
    expect(cli('update', again)).toMatchObject({ code: 1 });
    expect(cli('update', again).out).toContain(`hark: hark ${V1} is already running. Nothing changed.`);
  }, 120_000);

  test(`a broken build (${V2}, exits at start) is rolled back to ${V1} by itself; the status and \`hark status\` say so`, async () => {
    const file = join(dir, 'broken.hark');
    writeFileSync(file, broken);
    const sent = cli('update', file);
    expect(sent.code).toBe(0);
    expect(sent.out).toContain(`hark ${V2} is installed; hark restarts into it now (from ${V1}).`);
    const t0 = Date.now();
    await until(async () => {
      const s = await status();
      return s?.version === V1 && s.update.last?.outcome === 'rolled-back';
    }, 120_000, `${V1} back after the rollback\n${journal()}\n${Bun.spawnSync(['sh', '-c', `ls -la ${U} ${U}/releases; cat ${U}/trial ${U}/last.json; ps -ef | grep -v grep | grep -e launch -e service.ts`]).stdout}`);
    const backAfterS = (Date.now() - t0) / 1000;
    const s = (await status())!;
    expect(s.update.last).toMatchObject({ outcome: 'rolled-back', from: V2, to: V1, message: `hark ${V2} stopped before it served audio (2 starts), so hark went back to ${V1} by itself.` });
    expect(journal()).toContain('this build is broken: it exits at start');
    expect(cli('status').out).toContain(`update    ROLLED BACK: hark ${V2} stopped before it served audio (2 starts), so hark went back to ${V1} by itself.`);
    // Well inside the issue's 2 minutes on this machine (the boot test measures it on the image).
    expect(backAfterS).toBeLessThan(120);
  }, 180_000);
});

describe('the System page’s Software update, in Chromium', () => {
  let chrome: ChromiumHandle;
  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    chrome = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await chrome?.close();
  });

  test(`after the rollback the page says the last update did not work; an older file is refused beside the form; ${V3} installs from the page and the page says so`, async () => {
    const base = `http://127.0.0.1:${port}`;
    const desk = await chrome.browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await desk.newPage();
    await loginInPage(page, base, PW, { next: '/system' });
    const last = page.locator('#update-last');
    await expect(last.textContent()).resolves.toBe(`The last update did not work. hark ${V2} stopped before it served audio (2 starts), so hark went back to ${V1} by itself. ${await last.locator('small').textContent()}`);
    expect(await page.locator('#update').textContent()).toContain(`This box runs hark ${V1}, installed as an update (if it failed, the box would go back to ${VERSION})`);
    await page.locator('#update').screenshot({ path: join(shots, 'system-update-rolled-back-desktop.png') });
    // An older release (the image's own version), without "Allow an older version": refused, nothing changes.
    const older = join(dir, `hark-${VERSION}.hark`);
    writeFileSync(older, await packDir(factory, { keyPem: KEY, arch: debianArch() }));
    await page.setInputFiles('#up-file', older);
    await page.click('#update-install');
    await expect(page.locator('#update-result [role=alert]').textContent({ timeout: 30_000 })).resolves.toBe(`hark ${VERSION} is older than the running ${V1}: allow a downgrade to install it. Nothing changed.`);
    const btn = (await page.locator('#update-install').boundingBox())!;
    expect(btn.height).toBeGreaterThanOrEqual(44);
    await desk.close();

    // On a phone: the third build, through the form.
    const phone = await chrome.browser.newContext({ viewport: { width: 390, height: 844 } });
    const ppage = await phone.newPage();
    await loginInPage(ppage, base, PW, { next: '/system' });
    const file = join(dir, `hark-${V3}.hark`);
    writeFileSync(file, third);
    await ppage.setInputFiles('#up-file', file);
    await ppage.click('#update-install');
    await expect(ppage.locator('#update-result [role=status]', { hasText: 'is installed' }).textContent({ timeout: 60_000 })).resolves.toContain(`hark ${V3} is installed; hark restarts into it now (from ${V1}).`);
    await ppage.locator('#update').screenshot({ path: join(shots, 'system-update-installing-phone.png') });
    await until(async () => {
      const s = await status();
      return s?.version === V3 && s.update.last?.outcome === 'installed';
    }, 90_000, `${V3} running and confirmed\n${journal()}`);
    await loginInPage(ppage, base, PW, { next: '/system' });
    await expect(ppage.locator('#update-last').textContent()).resolves.toContain(`Updated from ${V1} to ${V3}: it started and serves audio.`);
    await ppage.locator('#update').screenshot({ path: join(shots, 'system-update-done-phone.png') });
    await phone.close();
  }, 240_000);
});

describe('updates where hark was not started by the launcher', () => {
  test('POST /api/update says why it cannot update here (409) and reads nothing', async () => {
    const h = await startHark('[input]\nsource = "tone"\n[webrtc]\nenabled = false\n', { env: { HARK_LAUNCHER: '', HARK_RELEASE_KEY_FILE: PUB } });
    try {
      const r = await fetch(`${h.url}/api/update`, { method: 'POST', body: 'x' });
      expect(r.status).toBe(409);
      expect(((await r.json()) as { error: string }).error).toBe('cannot update here: updates are installed on a hark box (this hark was not started by its launcher, /usr/lib/hark/launch)');
      const s = (await (await fetch(`${h.url}/api/update`)).json()) as { available: boolean; running_from: string };
      expect(s).toMatchObject({ available: false, running_from: 'image' });
    } finally {
      await h.stop();
    }
  }, 60_000);
});
