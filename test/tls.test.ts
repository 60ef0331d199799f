/**
 * HTTPS for the admin pages, checked with real clients: curl against the box's own CA, and
 * Chromium that trusts the CA through an NSS database in a temporary HOME (no
 * --ignore-certificate-errors). Admin pages asked for over plain HTTP go to HTTPS; the listen
 * page plays over both; the session cookie is `__Host-` and Secure; a certificate of one's own
 * is checked on upload and refused with the reason.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { chromiumAvailable, launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { freeUdpPort } from './lib/whep-client.ts';
import { pageCsrf, sessionOf } from './lib/session.ts';

const TONE_HZ = 1000;
const TONE_DBFS = -12;
const PASSWORD = 'a long enough password';
/** The HTTPS port (this file's share of 24000-24999). */
const TLS_PORT = 24000 + (process.pid % 400);

let hark: HarkProcess;
let chrome: ChromiumHandle | undefined;
let work: string;
let caFile: string;
let https: string;

function sh(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): { code: number; out: string } {
  const r = Bun.spawnSync(cmd, { cwd: opts.cwd, env: opts.env ?? (process.env as Record<string, string>), stdout: 'pipe', stderr: 'pipe' });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

function openssl(args: string[], cwd = work): void {
  const r = sh(['openssl', ...args], { cwd });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.out}`);
}

/**
 * A test CA of its own and certificates from it: good (localhost), expired, and a stray key.
 * `openssl ca` because only it sets arbitrary dates on OpenSSL 3.0.
 */
function makeOwnCertificates(dir: string) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      'CN = test-own-ca',
      '[v3_ca]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign',
      '[ca]',
      'default_ca = d',
      '[d]',
      'database = index.txt',
      'new_certs_dir = .',
      'serial = serial',
      'default_md = sha256',
      'policy = p',
      'unique_subject = no',
      'x509_extensions = leaf',
      '[p]',
      'commonName = supplied',
      '[leaf]',
      'basicConstraints = CA:FALSE',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = DNS:localhost, IP:127.0.0.1',
      '',
    ].join('\n'),
  );
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-config', 'ca.cnf', '-extensions', 'v3_ca', '-days', '30', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
  for (const name of ['good', 'expired', 'stray']) {
    openssl(['req', '-new', ...ec, '-subj', `/CN=${name === 'good' ? 'localhost' : name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
  }
  openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', 'good.csr', '-out', 'good.crt', '-days', '20', '-notext'], dir);
  openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', 'expired.csr', '-out', 'expired.crt', '-startdate', '20200101000000Z', '-enddate', '20210101000000Z', '-notext'], dir);
  writeFileSync(join(dir, 'not-a-cert.crt'), 'hello, this is not a certificate\n');
}

function curl(args: string[]): { code: number; out: string } {
  return sh(['curl', '-sS', '--max-time', '20', ...args]);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hark-tls-'));
  const udp = await freeUdpPort();
  hark = await startHark(
    `[input]\nsource = "tone"\n[tone]\nfrequency = ${TONE_HZ}\nlevel_dbfs = ${TONE_DBFS}\n[webrtc]\nudp_port = ${udp}\n[control]\non_boot = "live"\n[admin]\npassword = "${PASSWORD}"\n[tls]\nenabled = true\nport = ${TLS_PORT}\n`,
    { timeoutMs: 60_000 },
  );
  await hark.waitFor(/serving https on port \d+/, 30_000);
  https = `https://localhost:${TLS_PORT}`;
  // The CA as a user gets it: over plain HTTP.
  const ca = await fetch(`${hark.url}/ca.crt`);
  expect(ca.status).toBe(200);
  caFile = join(work, 'hark-ca.crt');
  writeFileSync(caFile, await ca.text());
  makeOwnCertificates(join(work, 'own'));
}, 90_000);

afterAll(async () => {
  if (process.env.HARK_TEST_VERBOSE) console.log(hark?.output());
  await chrome?.close();
  await hark?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
}, 30_000);

describe('the box\'s own certificate', () => {
  test('curl --cacert with the CA from /ca.crt talks HTTPS to the box; without it curl refuses the certificate', () => {
    const ok = curl(['--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code} %{ssl_verify_result}', `${https}/api/status`]);
    expect(ok.out).toBe('200 0');
    expect(ok.code).toBe(0);
    const by127 = curl(['--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${TLS_PORT}/api/status`]);
    expect(by127.out).toBe('200');
    const bare = curl(['-o', '/dev/null', `${https}/api/status`]);
    expect(bare.code).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
    expect(bare.out).toContain('self-signed certificate in certificate chain');
  });

  test('the CA and the certificate: CA key 0600 in the state dir, server certificate for localhost, the host name, 127.0.0.1, signed by the CA', () => {
    const tls = join(hark.dir, 'tls');
    expect(statSync(join(tls, 'ca.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(tls, 'server.key')).mode & 0o777).toBe(0o600);
    expect(statSync(tls).mode & 0o777).toBe(0o700);
    expect(readFileSync(caFile, 'utf8')).toBe(readFileSync(join(tls, 'ca.crt'), 'utf8'));
    const text = sh(['openssl', 'x509', '-in', join(tls, 'server.crt'), '-noout', '-text']).out;
    expect(text).toContain('DNS:localhost');
    expect(text).toContain('IP Address:127.0.0.1');
    expect(text).toContain(`DNS:${require('node:os').hostname().toLowerCase()}`);
    expect(text).toContain('TLS Web Server Authentication');
    expect(sh(['openssl', 'verify', '-CAfile', caFile, join(tls, 'server.crt')]).out.trim()).toEndWith(': OK');
  });

  test('a restart keeps the CA and the certificate: nothing is made again', async () => {
    expect(hark.output().match(/issuing the box's certificate/g)?.length).toBe(1);
    const before = readFileSync(join(hark.dir, 'tls/server.crt'), 'utf8');
    await hark.stop();
    hark = await startHark('', { dir: hark.dir, timeoutMs: 60_000 });
    await hark.waitFor(/serving https on port \d+/, 30_000);
    expect(hark.output()).not.toContain('issuing');
    expect(hark.output()).not.toContain('made the box');
    expect(readFileSync(join(hark.dir, 'tls/server.crt'), 'utf8')).toBe(before);
    expect(readFileSync(join(hark.dir, 'tls/ca.crt'), 'utf8')).toBe(readFileSync(caFile, 'utf8'));
  }, 90_000);
});

describe('HTTPS off (a dev box)', () => {
  test('the System page says so and turns it on: saved, and after the restart it asks for HTTPS', async () => {
    const off = await startHark(`[input]\nsource = "tone"\n[tls]\nport = ${TLS_PORT + 1}\n`, { timeoutMs: 60_000 });
    const sock = (path: string, method = 'GET') => fetch(`http://localhost${path}`, { method, unix: `${off.dir}/hark.sock` } as RequestInit);
    try {
      const page = await (await sock('/system')).text();
      expect(page).toContain('HTTPS is off: the admin password crosses the network unprotected.');
      expect(page).toContain('id="tls-enable"');
      expect((await fetch(`${off.url}/ca.crt`)).status).toBe(404);
      const on = await sock('/ui/tls/enable', 'POST');
      expect(on.status).toBe(200);
      const text = await on.text();
      expect(text).toContain('HTTPS turns on at the next restart of hark.');
      expect(text).not.toContain('could not start');
      expect(text).toContain('Restart now');
      expect(readFileSync(off.configPath, 'utf8')).toMatch(/\[tls\][^[]*enabled = true/);
      expect((await sock('/api/restart', 'POST')).status).toBe(200);
      await off.waitFor(/serving https on port \d+/, 60_000);
      // Restarted in place: the same HTTP port.
      const r = await fetch(`${off.url}/login`, { redirect: 'manual' });
      expect(r.status).toBe(308);
      expect(r.headers.get('location')).toBe(`https://127.0.0.1:${TLS_PORT + 1}/login`);
      // A restart in place with HTTPS on takes its port over again.
      const served = off.output().match(/serving https on port/g)!.length;
      expect((await sock('/api/restart', 'POST')).status).toBe(200);
      await off.waitFor(new RegExp(`(serving https on port[\\s\\S]*){${served + 1}}`), 60_000);
      expect(curl(['-k', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${TLS_PORT + 1}/api/status`]).out).toBe('200');
      expect(off.output()).not.toContain('https is not served');
    } finally {
      await off.stop();
    }
  }, 120_000);
});

describe('HTTPS that cannot start', () => {
  test('its port taken: hark says why, runs on, and keeps the admin pages on plain HTTP (no redirect to nowhere)', async () => {
    const other = await startHark(`[input]\nsource = "tone"\n[tls]\nenabled = true\nport = ${TLS_PORT}\n`, { timeoutMs: 60_000 });
    try {
      await other.waitFor(/https is not served: .+/, 30_000);
      const r = await fetch(`${other.url}/login`, { redirect: 'manual' });
      expect(r.status).not.toBe(308);
      expect((await fetch(`${other.url}/api/status`)).status).toBe(200);
    } finally {
      await other.stop();
    }
  }, 90_000);
});

describe('plain HTTP while HTTPS is on', () => {
  test('admin pages, the login form and the API answer 308 to the same path on HTTPS; a login over HTTP is never checked', async () => {
    for (const path of ['/', '/system', '/login?next=%2Fsystem', '/api/config', '/setup']) {
      const r = await fetch(`http://localhost:${hark.port}${path}`, { redirect: 'manual', headers: { accept: 'text/html' } });
      // The gate may send a browser to /login first; that, too, goes to HTTPS.
      const to = r.headers.get('location') ?? '';
      if (r.status === 303) {
        const r2 = await fetch(`http://localhost:${hark.port}${to}`, { redirect: 'manual' });
        expect(r2.status).toBe(308);
        expect(r2.headers.get('location')).toStartWith(`${https}/login`);
        continue;
      }
      expect(r.status).toBe(308);
      expect(to).toBe(`${https}${path}`);
    }
    const login = await fetch(`http://localhost:${hark.port}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `password=${encodeURIComponent(PASSWORD)}&_csrf=x`,
    });
    expect(login.status).toBe(308);
    expect(login.headers.get('location')).toBe(`${https}/login`);
    expect(login.headers.get('set-cookie')).toBeNull();
  });

  test('what listeners and monitors use stays on plain HTTP: /listen, /listen/info, /whep, /stream.mp3, /static, /api/status, /metrics, /ca.crt', async () => {
    for (const [method, path, status] of [
      ['GET', '/listen', 200],
      ['GET', '/listen/info', 200],
      ['OPTIONS', '/whep', 204],
      ['GET', '/static/listen.js', 200],
      ['GET', '/api/status', 200],
      ['GET', '/metrics', 200],
      ['GET', '/ca.crt', 200],
    ] as const) {
      const r = await fetch(`${hark.url}${path}`, { method, redirect: 'manual' });
      expect(`${method} ${path} ${r.status}`).toBe(`${method} ${path} ${status}`);
      await r.arrayBuffer();
    }
    const ac = new AbortController();
    const mp3 = await fetch(`${hark.url}/stream.mp3`, { signal: ac.signal, redirect: 'manual' });
    expect(mp3.status).toBe(200);
    expect(mp3.headers.get('content-type')).toContain('audio/mpeg');
    ac.abort();
  });
});

/** What the page's L/R analysers hear: the strongest frequency and the peak level. */
async function heard(page: Page): Promise<{ frequency: number; peakDbfs: number }[]> {
  return page.evaluate(() => {
    const h = window.hark;
    return h.analysers.map((a) => {
      const time = new Float32Array(a.fftSize);
      a.getFloatTimeDomainData(time);
      let peak = 0;
      for (const x of time) peak = Math.max(peak, Math.abs(x));
      const spec = new Float32Array(a.frequencyBinCount);
      a.getFloatFrequencyData(spec);
      let k = 1;
      for (let i = 2; i < spec.length - 1; i++) if (spec[i]! > spec[k]!) k = i;
      const [l, c, r] = [spec[k - 1]!, spec[k]!, spec[k + 1]!];
      const offset = (0.5 * (l - r)) / (l - 2 * c + r);
      return { frequency: ((k + offset) * h.context.sampleRate) / a.fftSize, peakDbfs: 20 * Math.log10(peak) };
    });
  });
}

/** Open a listen page, wait for 150 RTP packets, and check the tone. */
async function playsTone(url: string): Promise<void> {
  const page = await chrome!.newPage();
  try {
    await page.goto(url);
    try {
      await page.waitForFunction(() => Number(window.hark?.stats?.packets) > 150, undefined, { timeout: 20_000, polling: 250 });
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${chrome!.logs.slice(-20).join('\n')}\n${hark.output().slice(-3000)}`);
    }
    await page.waitForTimeout(500);
    const h = await heard(page);
    expect(h).toHaveLength(2);
    for (const c of h) {
      expect(Math.abs(c.frequency - TONE_HZ)).toBeLessThan(8);
      expect(Math.abs(c.peakDbfs - TONE_DBFS)).toBeLessThan(1.5);
    }
    expect(new URL(page.url()).protocol).toBe(new URL(url).protocol);
    await page.click('#play');
  } finally {
    await page.close();
  }
}

describe.skipIf(!chromiumAvailable())('Chromium trusting the CA (an NSS database in its HOME)', () => {
  let page: Page;

  beforeAll(async () => {
    const home = join(work, 'home');
    const db = join(home, '.pki/nssdb');
    mkdirSync(db, { recursive: true });
    const env = { ...(process.env as Record<string, string>), HOME: home };
    for (const cmd of [
      ['certutil', '-d', `sql:${db}`, '-N', '--empty-password'],
      ['certutil', '-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'hark', '-i', caFile],
    ]) {
      const r = sh(cmd, { env });
      if (r.code !== 0) throw new Error(`${cmd.join(' ')}: ${r.out}`);
    }
    chrome = await launchChromium({ env });
    for (const a of process.argv) expect(a).not.toContain('ignore-certificate-errors');
  }, 60_000);

  test('http://…/ leads to the HTTPS login; logging in shows the dashboard; the session cookie is __Host-, Secure, HttpOnly', async () => {
    page = await chrome!.newPage();
    const resp = await page.goto(`http://localhost:${hark.port}/`);
    expect(resp?.status()).toBe(200);
    expect(page.url()).toBe(`${https}/login`);
    await page.fill('input[name=password]', PASSWORD);
    await Promise.all([page.waitForURL(`${https}/`), page.click('button[type=submit]')]);
    await page.waitForSelector('h1, main', { timeout: 15_000 });
    expect(await page.title()).toContain('Dashboard');
    // The client's address is known over HTTPS as well (the login limit counts by it).
    expect(hark.output()).toMatch(/login from (::ffff:)?127\.0\.0\.1\n/);
    // The Share card gives the listen page's plain HTTP address (phones: no certificate warning).
    expect(await page.textContent('#share-url-0')).toBe(`http://${require('node:os').hostname().replace(/\.local$/, '')}.local:${hark.port}/listen`);
    const cookies = await chrome!.context.cookies();
    const session = cookies.find((c) => c.name === '__Host-hark_session');
    expect(session).toBeDefined();
    expect(session!.secure).toBe(true);
    expect(session!.httpOnly).toBe(true);
    expect(session!.sameSite).toBe('Strict');
    expect(cookies.find((c) => c.name === 'hark_session')).toBeUndefined();
    // The same session over plain HTTP is neither sent by the browser nor honoured by hark.
    const http = await fetch(`${hark.url}/api/config`, { redirect: 'manual', headers: { cookie: `hark_session=${session!.value}; __Host-hark_session=${session!.value}` } });
    expect(http.status).toBe(308);
    expect(await http.text()).toBe('');
    // Over HTTPS it is the login.
    const ok = await fetch(`${https}/api/config`, { headers: { cookie: `__Host-hark_session=${session!.value}` }, tls: { ca: readFileSync(caFile, 'utf8') } } as RequestInit);
    expect(ok.status).toBe(200);
  }, 60_000);

  test('the System page names the certificate and offers the CA with help on trusting it', async () => {
    await page.goto(`${https}/system`);
    const panel = await page.textContent('#tls');
    expect(panel).toContain('served over HTTPS');
    expect(panel).toContain("This box's own certificate");
    expect(panel).toContain('localhost');
    expect(await page.getAttribute('#tls-ca-download', 'href')).toBe('/ca.crt');
    expect(await page.textContent('#tls-trust-help')).toContain('iPhone');
  }, 30_000);

  test('an upload that is not a certificate, an expired one, or a key of another pair is refused, saying why; nothing changes', async () => {
    const own = join(work, 'own');
    const cases: [string, string, string, string][] = [
      ['not-a-cert.crt', 'good.key', '#tls-cert-error', 'this is not a certificate in PEM form'],
      ['expired.crt', 'expired.key', '#tls-cert-error', 'the certificate expired on 2021-01-01'],
      ['good.crt', 'stray.key', '#tls-key-error', 'this key does not belong to the certificate'],
    ];
    for (const [cert, key, where, why] of cases) {
      await page.goto(`${https}/system`);
      await page.setInputFiles('#tls-cert', join(own, cert));
      await page.setInputFiles('#tls-key', join(own, key));
      const [answer] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/ui/tls/own')), page.click('#tls-own-form button[type=submit]')]);
      expect(answer.status()).toBe(422);
      // The answer is in; wait for htmx to put it in the page before reading it.
      await page.waitForFunction(([w, y]) => document.querySelector(w)?.textContent?.includes(y) && document.querySelector('#tls [role=alert]')?.textContent?.includes(y), [where, why] as const, { timeout: 10_000, polling: 50 }).catch(() => null);
      expect(await page.locator(where).textContent({ timeout: 10_000 })).toContain(why);
      expect(await page.textContent('#tls [role=alert]')).toContain(why);
    }
    expect(readFileSync(hark.configPath, 'utf8')).not.toContain('cert_file');
    // Still the box's own certificate.
    expect(curl(['--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code}', `${https}/api/status`]).out).toBe('200');
  }, 60_000);

  test('hostile uploads: no files, a file too large, binary junk, no CSRF token, over plain HTTP — each refused, nothing written', async () => {
    const sid = await sessionOf(chrome!.context, '__Host-hark_session');
    const ca = readFileSync(caFile, 'utf8');
    const system = await (await fetch(`${https}/system`, { headers: { cookie: `__Host-hark_session=${sid}` }, tls: { ca } } as RequestInit)).text();
    const csrf = pageCsrf(system);
    const good = readFileSync(join(work, 'own/good.crt'), 'utf8');
    const key = readFileSync(join(work, 'own/good.key'), 'utf8');
    const upload = async (files: Record<string, Blob>, opts: { csrf?: boolean; base?: string } = {}) => {
      const form = new FormData();
      for (const [k, v] of Object.entries(files)) form.append(k, v, `${k}.pem`);
      const r = await fetch(`${opts.base ?? https}/ui/tls/own`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: `__Host-hark_session=${sid}`, ...(opts.csrf === false ? {} : { 'x-csrf-token': csrf }) },
        body: form,
        tls: { ca },
      } as RequestInit);
      return `${r.status} ${(await r.text()).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ')}`;
    };
    expect(await upload({})).toMatch(/^422 .*Not used: no certificate was given/);
    expect(await upload({ cert: new Blob([good]) })).toMatch(/^422 .*Not used: no private key was given/);
    expect(await upload({ cert: new Blob(['-----BEGIN CERTIFICATE-----\n' + 'A'.repeat(100 * 1024)]), key: new Blob([key]) })).toMatch(/^422 .*the file is too large \(over 64 KiB\)/);
    expect(await upload({ cert: new Blob([new Uint8Array(4096).map((_, i) => (i * 37) & 255)]), key: new Blob([key]) })).toMatch(/^422 .*this is not a certificate in PEM form/);
    expect(await upload({ cert: new Blob([good]), key: new Blob([good]) })).toMatch(/^422 .*this is not a private key in PEM form/);
    expect(await upload({ cert: new Blob([good]), key: new Blob([key]) }, { csrf: false })).toMatch(/^403 /);
    // Over plain HTTP the HTTPS session's cookie is nobody's login.
    expect(await upload({ cert: new Blob([good]), key: new Blob([key]) }, { base: hark.url })).toMatch(/^401 /);
    expect(readFileSync(hark.configPath, 'utf8')).not.toContain('cert_file');
    expect(hark.proc.exitCode).toBeNull();
  }, 60_000);

  test('an HTTPS listen page plays the tone over WebRTC (WHEP over HTTPS)', async () => {
    await playsTone(`${https}/listen?autoplay=1`);
  }, 60_000);

  test('a listen page loaded over plain HTTP still plays the tone (WHEP over HTTP, no redirect)', async () => {
    await playsTone(`${hark.url}/listen?autoplay=1`);
  }, 60_000);

  test('a good certificate of one\'s own is taken at once (the server presents it), and the box\'s own comes back on request', async () => {
    const own = join(work, 'own');
    await page.goto(`${https}/system`);
    await page.setInputFiles('#tls-cert', join(own, 'good.crt'));
    await page.setInputFiles('#tls-key', join(own, 'good.key'));
    const [answer] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/ui/tls/own')), page.click('#tls-own-form button[type=submit]')]);
    expect(answer.status()).toBe(200);
    // The answer is in; htmx puts it in the page a moment later (this read once came first).
    await page.waitForFunction(() => document.getElementById('tls')?.textContent?.includes('Certificate saved'), null, { timeout: 10_000, polling: 50 }).catch(() => null);
    expect(await page.textContent('#tls')).toContain('Certificate saved: localhost');
    expect(readFileSync(hark.configPath, 'utf8')).toContain('cert_file');
    expect(statSync(join(hark.dir, 'tls/own.key')).mode & 0o777).toBe(0o600);
    // The server now presents the test CA's certificate, and no longer the box's.
    expect(curl(['--cacert', join(own, 'ca.crt'), '-o', '/dev/null', '-w', '%{http_code}', `${https}/api/status`]).out).toBe('200');
    expect(curl(['--cacert', caFile, '-o', '/dev/null', `${https}/api/status`]).code).toBe(60);

    // Back to the box's own, as the page's button does (this browser does not trust the test CA).
    const sid = await sessionOf(chrome!.context, '__Host-hark_session');
    const ca = readFileSync(join(own, 'ca.crt'), 'utf8');
    const system = await (await fetch(`${https}/system`, { headers: { cookie: `__Host-hark_session=${sid}` }, tls: { ca } } as RequestInit)).text();
    const csrf = pageCsrf(system);
    const back = await fetch(`${https}/ui/tls/box`, { method: 'POST', headers: { cookie: `__Host-hark_session=${sid}`, 'x-csrf-token': csrf }, tls: { ca } } as RequestInit);
    expect(back.status).toBe(200);
    expect(curl(['--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code}', `${https}/api/status`]).out).toBe('200');
  }, 60_000);
});
