/**
 * DNS rebinding, forged Origins, a proxy on the box and the first-run page, as a LAN attacker
 * (or a web page in a visitor's browser) would try them, over raw sockets against a real hark:
 *
 *  - a Host that is not one of the box's names is refused (421, naming it) before any route;
 *    the box's names, addresses and http.allowed_hosts pass; the CLI socket is not checked;
 *  - a mutating request whose Origin is not one of the box's names is refused (403), even when
 *    it matches the Host the attacker also chose;
 *  - the loopback exemptions (no password yet: loopback is admin; status on loopback) do not
 *    hold for requests carrying a proxy's forwarding headers;
 *  - /setup from anywhere but the box itself needs the setup code, which is logged, written to
 *    the setup file, kept across a restart, limited against guessing, and works once.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { FORM, formToken } from './lib/session.ts';

/** This machine's first non-loopback IPv4 address, if it has one (a peer that is not loopback). */
const LAN_IP = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

const PASSWORD = 'a good long password';
let hark: HarkProcess;
let codeFile: string;

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  setCookies: string[];
}

/** One HTTP/1.1 request over a raw socket, exactly as written (Host included or left out). */
function raw(request: string, addr = '127.0.0.1', port = hark.port): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: addr, port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer in 10 s to ${request.split('\r\n')[0]}`));
    }, 10_000);
    sock.on('connect', () => sock.write(request));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const [head, ...rest] = text.split('\r\n\r\n');
      const lines = head!.split('\r\n');
      const headers: Record<string, string> = {};
      const setCookies: string[] = [];
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        const k = l.slice(0, i).toLowerCase();
        const v = l.slice(i + 1).trim();
        if (k === 'set-cookie') setCookies.push(v);
        headers[k] = v;
      }
      let body = rest.join('\r\n\r\n');
      if (headers['transfer-encoding'] === 'chunked') {
        let out = '';
        let s = body;
        for (;;) {
          const nl = s.indexOf('\r\n');
          const n = parseInt(s.slice(0, nl), 16);
          if (!n) break;
          out += s.slice(nl + 2, nl + 2 + n);
          s = s.slice(nl + 2 + n + 2);
        }
        body = out;
      }
      resolve({ status: Number(lines[0]!.split(' ')[1]), headers, body: Buffer.from(body, 'latin1').toString('utf8'), setCookies });
    });
  });
}

/** A request with these headers (`host: null` leaves Host out). */
function req(method: string, path: string, headers: Record<string, string | null> = {}, body = '', addr = '127.0.0.1'): Promise<RawResponse> {
  const h: Record<string, string | null> = { host: `${addr}:${hark.port}`, connection: 'close', ...headers };
  if (body || method === 'POST') h['content-length'] = String(Buffer.byteLength(body));
  const lines = Object.entries(h)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k}: ${v}`);
  return raw(`${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${body}`, addr);
}

const cookieOf = (r: RawResponse, name: string) => r.setCookies.find((c) => c.startsWith(`${name}=`))?.split(';')[0]!.slice(name.length + 1) ?? '';

beforeAll(async () => {
  codeFile = join(mkdtempSync(join(tmpdir(), 'hark-setup-file-')), 'hark-setup.txt');
  hark = await startHark(
    '[input]\nsource = "tone"\n[control]\non_boot = "idle"\n[webrtc]\nenabled = false\n[http]\nallowed_hosts = ["radio.example.org", "2001:db8::7"]\n[access]\npublic_status = false\n',
    { env: { HARK_SETUP_CODE_FILE: codeFile, RUNTIME_DIRECTORY: '' }, timeoutMs: 60_000 },
  );
}, 60_000);

afterAll(async () => {
  await hark?.stop();
}, 30_000);

describe('the Host allow-list', () => {
  const refused = [
    'evil.example',
    'evil.example:80',
    `attacker.example:${0}`,
    'hark.local.evil.example',
    `${hostname()}.evil.example`,
    'localhost.evil.example',
    '127.0.0.1.nip.io',
    '[::2]',
    'a@127.0.0.1',
    '127.0.0.1/x',
    '',
    '[::1',
    'évil.example',
    'localhost:99999',
    '127.0.0.1:',
    'localhost:80:80',
    `${'a'.repeat(63)}.`.repeat(80),
  ];
  for (const host of refused) {
    test(`Host "${host.slice(0, 40)}" is refused (421, naming it) before any route`, async () => {
      for (const [method, path] of [
        ['GET', '/'],
        ['GET', '/api/status'],
        ['GET', '/listen'],
        ['GET', '/setup'],
        ['POST', '/api/live'],
        ['GET', '/static/admin.css'],
      ] as const) {
        const r = await req(method, path, { host });
        expect(r.status, `${method} ${path}`).toBe(421);
        expect(r.body).toContain('does not answer to the name');
        if (/^[\x20-\x7e]{0,100}$/.test(host)) expect(r.body).toContain(`"${host}"`);
        expect(r.body.length).toBeLessThan(400);
        expect(r.headers['content-type']).toStartWith('text/plain');
        expect(r.headers['content-security-policy']).toContain("default-src 'self'");
      }
    });
  }

  test("the box's own names and addresses, and http.allowed_hosts, pass (any port, any case)", async () => {
    const h = hostname();
    const ok = [
      `127.0.0.1:${hark.port}`,
      '127.0.0.1',
      'localhost',
      `LOCALHOST:${hark.port}`,
      `[::1]:${hark.port}`,
      h,
      `${h}.local`,
      `${h.toUpperCase()}.LOCAL.`,
      `${h}-2.local`,
      'radio.example.org',
      'Radio.Example.Org:443',
      '[2001:db8::7]',
      '[2001:0db8:0:0:0:0:0:7]:8443',
    ];
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) ok.push(a.family === 'IPv6' ? `[${a.address.replace(/%.*/, '')}]:${hark.port}` : `${a.address}:${hark.port}`);
    for (const host of ok) {
      const r = await req('GET', '/listen', { host });
      expect(r.status, host).toBe(200);
      expect(r.body).toContain('Listen live');
    }
  });

  test('a request without a Host header is refused (400, saying so), and hark goes on serving', async () => {
    const r = await raw('GET /listen HTTP/1.0\r\n\r\n');
    expect(r.status).toBe(400);
    expect(r.body).toContain('no Host header');
    // HTTP/1.1 without Host: Bun answers 400 itself.
    expect((await raw('GET /listen HTTP/1.1\r\n\r\n')).status).toBe(400);
    expect((await req('GET', '/listen')).status).toBe(200);
  });

  test('the CLI socket is not checked', async () => {
    const res = await fetch('http://evil.example/api/status', { unix: join(hark.dir, 'hark.sock'), headers: { host: 'evil.example' } } as RequestInit);
    expect(res.status).toBe(200);
  });

  test('a rebinding page (Host and Origin both its own name) reaches nothing, not even /setup', async () => {
    const page = await req('GET', '/setup', { host: 'rebind.attacker.example', origin: 'http://rebind.attacker.example' });
    expect(page.status).toBe(421);
    const post = await req('POST', '/setup', { host: 'rebind.attacker.example:8080', origin: 'http://rebind.attacker.example:8080', 'content-type': FORM }, 'password=x&confirm=x');
    expect(post.status).toBe(421);
    expect(post.body).toContain('"rebind.attacker.example:8080"');
  });
});

describe('the Origin check', () => {
  test("a mutating request whose Origin is not one of the box's names is refused, even from loopback", async () => {
    for (const origin of ['http://evil.example', `http://evil.example:${hark.port}`, 'null', 'file://', 'http://127.0.0.1.evil.example', 'http://localhost@evil.example', 'http://[::1', 'chrome-extension://abc']) {
      const r = await req('POST', '/api/live', { origin });
      expect(r.status, origin).toBe(403);
      expect(r.body).toContain('cross-site request refused');
    }
    // Sent by hark's own pages, or through a proxy whose name is configured: the gate lets it on.
    for (const origin of [`http://127.0.0.1:${hark.port}`, `http://localhost:${hark.port}`, 'https://radio.example.org', `http://${hostname()}.local`]) {
      const r = await req('POST', '/api/stop', { origin });
      expect(r.status, origin).toBe(200);
    }
  });
});

describe('the loopback exemptions hold only without forwarding headers', () => {
  const FORWARDED: Record<string, string>[] = [
    { 'x-forwarded-for': '203.0.113.9' },
    { forwarded: 'for=203.0.113.9;proto=https' },
    { 'x-real-ip': '203.0.113.9' },
    { 'x-forwarded-host': 'hark.local' },
    { 'x-forwarded-proto': 'https' },
    { via: '1.1 caddy' },
  ];

  test('no password yet: loopback may act; the same request through a proxy may not (401)', async () => {
    const direct = await req('POST', '/api/stop');
    expect(direct.status).toBe(200);
    for (const h of FORWARDED) {
      const r = await req('POST', '/api/stop', h);
      expect(r.status, JSON.stringify(h)).toBe(401);
      expect(r.body).toContain('no admin password is set yet');
    }
    // A proxy that passes the public name as Host is not the box either.
    expect((await req('POST', '/api/stop', { host: 'radio.example.org' })).status).toBe(401);
  });

  test('status is public on loopback only (access.public_status = false)', async () => {
    expect((await req('GET', '/api/status')).status).toBe(200);
    for (const h of FORWARDED) expect((await req('GET', '/api/status', h)).status, JSON.stringify(h)).toBe(401);
    expect((await req('GET', '/metrics', { 'x-forwarded-for': '10.0.0.2' })).status).toBe(401);
  });

  test.skipIf(!LAN_IP)('from the LAN address, neither exemption holds', async () => {
    expect((await req('POST', '/api/stop', {}, '', LAN_IP)).status).toBe(401);
    expect((await req('GET', '/api/status', {}, '', LAN_IP)).status).toBe(401);
  });
});

describe('the first-run setup code', () => {
  let code = '';

  test('is logged and written to the setup file, and kept across a restart', async () => {
    const text = readFileSync(codeFile, 'utf8');
    const m = /hark setup code: ([A-Z2-9]{4}-[A-Z2-9]{4})/.exec(text);
    expect(m).not.toBeNull();
    code = m![1]!;
    expect(hark.output()).toContain(`Setup code: ${code}`);
    expect(existsSync(join(hark.dir, 'setup-code'))).toBe(true);
    // A restart (or a reboot after the card was read on a PC) keeps the same code.
    await hark.stop();
    hark = await startHark('', { dir: hark.dir, env: { HARK_SETUP_CODE_FILE: codeFile, RUNTIME_DIRECTORY: '' }, timeoutMs: 60_000 });
    expect(readFileSync(codeFile, 'utf8')).toContain(code);
    expect(hark.output()).toContain(`Setup code: ${code}`);
  }, 90_000);

  async function setupForm(headers: Record<string, string> = {}, addr = '127.0.0.1') {
    const page = await req('GET', '/setup', headers, '', addr);
    expect(page.status).toBe(200);
    return { page, pre: cookieOf(page, 'hark_csrf'), field: formToken(page.body) };
  }

  test('the box itself is not asked for it; a proxied request is', async () => {
    const local = await setupForm();
    expect(local.page.body).not.toContain('name="code"');
    const proxied = await setupForm({ 'x-forwarded-for': '203.0.113.9' });
    expect(proxied.page.body).toContain('name="code"');
    expect(proxied.page.body).toContain('hark-setup.txt');
  });

  test.skipIf(!LAN_IP)('from the LAN: no code or a wrong code is refused, and guessing is limited', async () => {
    const { page, pre, field } = await setupForm({}, LAN_IP);
    expect(page.body).toContain('name="code"');
    const post = (body: Record<string, string>) =>
      req('POST', '/setup', { 'content-type': FORM, cookie: `hark_csrf=${pre}`, origin: `http://${LAN_IP}:${hark.port}` }, new URLSearchParams({ _csrf: field, password: PASSWORD, confirm: PASSWORD, ...body }).toString(), LAN_IP);
    const none = await post({});
    expect(none.status).toBe(403);
    expect(none.body).toContain('Type the setup code.');
    const wrongs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await post({ code: 'AAAA-AAAA' });
      wrongs.push(r.status);
      expect(r.body).toContain('not the setup code');
    }
    expect(wrongs).toEqual([403, 403, 403, 403, 403]);
    // Now this address waits, even with the right code: guessing stops here.
    const limited = await post({ code });
    expect(limited.status).toBe(429);
    expect(limited.body).toContain('Too many wrong codes');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await req('GET', '/setup', {}, '', LAN_IP)).status).toBe(200);
  });

  test('the right code sets the password once; then the code and the page are gone, and the file says so', async () => {
    // Through a proxy on the box (forwarding headers): the code is needed, and it works.
    const hdr = { 'x-forwarded-for': '203.0.113.9' };
    const { pre, field } = await setupForm(hdr);
    const ok = await req('POST', '/setup', { ...hdr, 'content-type': FORM, cookie: `hark_csrf=${pre}` }, new URLSearchParams({ _csrf: field, code: code.toLowerCase().replace('-', ' '), password: PASSWORD, confirm: PASSWORD }).toString());
    expect(ok.status).toBe(303);
    expect(cookieOf(ok, 'hark_session')).not.toBe('');
    const text = readFileSync(codeFile, 'utf8');
    expect(text).not.toContain(code);
    expect(text).toContain('password is set');
    expect(existsSync(join(hark.dir, 'setup-code'))).toBe(false);
    // Works once: the page is gone, and loopback is no longer admin.
    expect((await req('GET', '/setup', hdr)).status).toBe(404);
    const again = await req('POST', '/setup', { ...hdr, 'content-type': FORM, cookie: `hark_csrf=${pre}` }, new URLSearchParams({ _csrf: field, code, password: 'another password', confirm: 'another password' }).toString());
    expect(again.status).toBe(404);
    expect((await req('POST', '/api/stop')).status).toBe(401);
  });
});
