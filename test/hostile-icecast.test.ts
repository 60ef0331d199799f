/**
 * [[icecast]] entries against hostile and broken input, as the API (`PATCH /api/config`) and
 * the Outputs page's forms (add an entry, "Test connection") receive it: each case is refused
 * with 422 naming the field and saying why, nothing is saved, and the daemon goes on serving.
 * Also what the connection test says for addresses that lead nowhere secure.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { freePort, makeTestCa, type TestCa } from './lib/icecast.ts';

let hark: HarkProcess;
let ca: TestCa;

/** Over the CLI's Unix socket: the owner's way in (no login, no CSRF token). */
function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://localhost${path}`, { ...init, unix: `${hark.dir}/hark.sock` } as RequestInit);
}

const patch = (body: Record<string, unknown>) => api('/api/config', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const form = (path: string, fields: Record<string, string>) =>
  api(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });

/** The field a refused form marks, and the reason beside it. */
function fieldError(page: string): { field: string; reason: string } | null {
  const m = /<div class="field invalid[^"]*" data-field="([^"]+)">[\s\S]*?<span class="err"[^>]*>([^<]*)<\/span>/.exec(page);
  return m ? { field: m[1]!, reason: m[2]!.replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&') } : null;
}

beforeAll(async () => {
  ca = makeTestCa();
  hark = await startHark(`
[admin]
password = "correct horse battery"
[input]
source = "tone"

[[icecast]]
id = "hosty"
enabled = false
host = "127.0.0.1"
port = 9
mount = "/h.mp3"
password = "pw"

[[icecast]]
id = "urly"
enabled = false
url = "http://source:pw@127.0.0.1:9/u.mp3"
`);
}, 60_000);

afterAll(async () => {
  expect(await hark?.stop()).toBe(0);
  if (ca) Bun.spawnSync(['rm', '-rf', ca.dir]);
});

/** One hostile PATCH: the keys sent, the field the refusal names, and words of its reason. */
interface ApiCase {
  name: string;
  body: Record<string, unknown>;
  field: string;
  reason: RegExp;
}

const apiCases: ApiCase[] = [
  { name: 'an ftp:// url', body: { 'icecast.1.url': 'ftp://h/m' }, field: 'icecast.1.url', reason: /must start with http:\/\/ or https:\/\/ \(got ftp:\/\/\)/ },
  { name: 'a malformed %-escape in the mount', body: { 'icecast.1.url': 'https://h/%E0%A4%A' }, field: 'icecast.1.url', reason: /the mount point has a malformed %-escape/ },
  { name: 'a malformed %-escape in the password', body: { 'icecast.1.url': 'https://source:%ZZ@h/m' }, field: 'icecast.1.url', reason: /the password has a malformed %-escape/ },
  { name: 'port 0 in the url', body: { 'icecast.1.url': 'https://h:0/m' }, field: 'icecast.1.url', reason: /the port must be 1 to 65535, got 0/ },
  { name: 'not a URL', body: { 'icecast.1.url': 'https://[::1/m' }, field: 'icecast.1.url', reason: /not a URL/ },
  { name: 'a 600-character url', body: { 'icecast.1.url': `https://${'a'.repeat(600)}/m` }, field: 'icecast.1.url', reason: /512/ },
  { name: 'http:// with tls = true', body: { 'icecast.1.tls': true }, field: 'icecast.1.url', reason: /starts with http:\/\/ while tls = true; write https:\/\// },
  { name: 'a CA file without TLS', body: { 'icecast.0.ca_file': '/etc/ssl/ca.pem' }, field: 'icecast.0.ca_file', reason: /is only used over TLS/ },
  { name: 'a CA file path with a newline', body: { 'icecast.0.tls': true, 'icecast.0.ca_file': '/tmp/ca\n.pem' }, field: 'icecast.0.ca_file', reason: /without control characters/ },
  { name: 'a 2000-character CA file path', body: { 'icecast.0.tls': true, 'icecast.0.ca_file': `/${'a'.repeat(2000)}` }, field: 'icecast.0.ca_file', reason: /1024/ },
  { name: 'tls_verify "maybe"', body: { 'icecast.0.tls_verify': 'maybe' }, field: 'icecast.0.tls_verify', reason: /must be true or false/ },
  { name: 'tls as a number', body: { 'icecast.0.tls': 2 }, field: 'icecast.0.tls', reason: /boolean|true or false/ },
  { name: 'a host with CR LF and a header', body: { 'icecast.0.host': 'h\r\nX-Evil: 1' }, field: 'icecast.0.host', reason: /not a host name or IP address/ },
  { name: 'a host with a space', body: { 'icecast.0.host': 'radio example.org' }, field: 'icecast.0.host', reason: /not a host name or IP address/ },
  { name: 'a host that looks like an option', body: { 'icecast.0.host': '-oProxyCommand=x' }, field: 'icecast.0.host', reason: /not a host name or IP address/ },
  { name: 'a host with a slash and a path', body: { 'icecast.0.host': 'h/../admin' }, field: 'icecast.0.host', reason: /not a host name or IP address/ },
  { name: 'a user with ":"', body: { 'icecast.0.user': 'a:b' }, field: 'icecast.0.user', reason: /may not contain ":"/ },
  { name: 'a short name with a terminal escape', body: { 'icecast.0.id': '\u001b[31mred' }, field: 'icecast.0.id', reason: /without control characters/ },
  { name: 'mount "/"', body: { 'icecast.0.mount': '/' }, field: 'icecast.0.mount', reason: /give a mount point/ },
  { name: 'port 70000', body: { 'icecast.0.port': 70000 }, field: 'icecast.0.port', reason: /65535/ },
  { name: 'an unknown key', body: { 'icecast.0.insecure': true }, field: 'icecast.0.insecure', reason: /unknown|not allowed|no such/i },
];

describe('hostile [[icecast]] values through PATCH /api/config', () => {
  test(`the corpus has at least 20 cases (${apiCases.length})`, () => {
    expect(apiCases.length).toBeGreaterThanOrEqual(20);
  });

  test.each(apiCases.map((c) => [c.name, c] as const))('%s: 422 naming the field', async (_name, c) => {
    const before = await Bun.file(hark.configPath).text();
    const res = await patch(c.body);
    const body = await res.json();
    expect({ status: res.status, field: body.field }).toEqual({ status: 422, field: c.field });
    expect(body.error).toMatch(c.reason);
    expect(await Bun.file(hark.configPath).text()).toBe(before);
  });

  test('after all that, the daemon answers and the entries are as they were', async () => {
    const cfg = await (await api('/api/config')).json();
    expect(cfg.icecast[0]).toMatchObject({ id: 'hosty', host: '127.0.0.1', mount: '/h.mp3', tls: false, ca_file: '', tls_verify: true });
    expect(cfg.icecast[1]).toMatchObject({ id: 'urly', url: 'http://source:pw@127.0.0.1:9/u.mp3', tls: false });
    expect(hark.proc.exitCode).toBeNull();
  });
});

/** One hostile form: the fields posted to add an entry, the field marked, and words of its reason. */
const formCases: { name: string; fields: Record<string, string>; field: string; reason: RegExp }[] = [
  { name: 'an ftp:// address pasted', fields: { url: 'ftp://h/m' }, field: 'url', reason: /not a server address: it should look like https:\/\/radio\.example\.org:8443\/live/ },
  { name: 'a pasted address with a malformed %-escape', fields: { url: 'https://h/%ZZ' }, field: 'url', reason: /not a server address/ },
  { name: 'a pasted http:// address with a malformed %-escape (was a 500)', fields: { url: 'http://h/%E0%A4%A' }, field: 'url', reason: /not a server address/ },
  { name: 'a host with a space', fields: { host: 'radio example.org', mount: '/m' }, field: 'host', reason: /not a host name or IP address/ },
  { name: 'a CA file that does not exist', fields: { url: 'https://h/m', ca_file: '/nonexistent/ca.pem' }, field: 'ca_file', reason: /the CA file \/nonexistent\/ca\.pem cannot be read: no such file/ },
  { name: 'a CA file that is a directory', fields: { url: 'https://h/m', ca_file: '/etc' }, field: 'ca_file', reason: /the CA file \/etc is not a file/ },
  { name: 'a CA file that holds no certificate', fields: { url: 'https://h/m', ca_file: '/etc/hostname' }, field: 'ca_file', reason: /holds no certificate/ },
  { name: 'a CA file on a plain http:// server', fields: { url: 'http://h/m', ca_file: '__CA__' }, field: 'ca_file', reason: /^only for a secure connection: tick “Secure connection \(https\)”, or leave this empty$/ },
  { name: 'a secure box ticked with an http:// address', fields: { url: '', host: 'h', mount: '/m', tls: 'maybe' }, field: 'tls', reason: /true or false/ },
];

describe('hostile input on the Outputs page forms', () => {
  test.each(formCases.map((c) => [c.name, c] as const))('add: %s → 422, the reason beside the field', async (_name, c) => {
    const fields = Object.fromEntries(Object.entries(c.fields).map(([k, v]) => [k, v === '__CA__' ? ca.caFile : v]));
    const before = await Bun.file(hark.configPath).text();
    for (const path of ['/ui/icecast', '/ui/icecast/test']) {
      const res = await form(path, { password: 'pw', ...fields });
      expect(`${path} ${res.status}`).toBe(`${path} 422`);
      const err = fieldError(await res.text());
      expect(err?.field).toBe(c.field);
      expect(err!.reason).toMatch(c.reason);
    }
    expect(await Bun.file(hark.configPath).text()).toBe(before);
  });

  test('a damaged certificate in the CA file is refused beside the field', async () => {
    const bad = join(ca.dir, 'damaged.pem');
    writeFileSync(bad, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const res = await form('/ui/icecast', { url: 'https://h/m', password: 'pw', ca_file: bad });
    expect(res.status).toBe(422);
    expect(fieldError(await res.text())).toMatchObject({ field: 'ca_file', reason: expect.stringContaining(`the CA file ${bad}: certificate 1 is damaged`) });
  });

  test('"Test connection" to hark\'s own plain-HTTP port as https://: "does not answer in TLS"', async () => {
    const res = await form('/ui/icecast/test', { url: `https://source:pw@127.0.0.1:${hark.port}/m.mp3` });
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('data-test-result="failed"');
    expect(/data-test-result="failed">([^<]*)</.exec(page)![1]).toBe(
      `127.0.0.1:${hark.port}/m.mp3: no secure (TLS) connection with 127.0.0.1:${hark.port}: the server there does not answer in TLS; is this port for https://?`,
    );
  });

  test('"Test connection" to a closed port as https://: "connection refused", not a certificate problem', async () => {
    const port = await freePort();
    const res = await form('/ui/icecast/test', { url: `https://source:pw@127.0.0.1:${port}/m.mp3` });
    const page = await res.text();
    expect(/data-test-result="failed">([^<]*)</.exec(page)![1]).toBe(`127.0.0.1:${port}/m.mp3: connection refused by 127.0.0.1:${port}`);
  });

  test('"Test connection" to a TLS server with a self-signed certificate: "it is self-signed"', async () => {
    const cert = ca.selfSigned('selfie', ['127.0.0.1']);
    const srv = Bun.listen({ hostname: '127.0.0.1', port: 0, tls: { cert: Bun.file(cert.certFile), key: Bun.file(cert.keyFile) }, socket: { data() {} } });
    try {
      const res = await form('/ui/icecast/test', { url: `https://source:pw@127.0.0.1:${srv.port}/m.mp3` });
      const page = (await res.text()).replace(/&#39;/g, "'");
      expect(/data-test-result="failed">([^<]*)</.exec(page)![1]).toBe(
        `127.0.0.1:${srv.port}/m.mp3: the server's certificate is not trusted: it is self-signed (DEPTH_ZERO_SELF_SIGNED_CERT)`,
      );
    } finally {
      srv.stop(true);
    }
  });
});
