/**
 * The System page's notifier forms (`[[notify]]`: POST /ui/notify to add, POST /ui/notify/<n>
 * to edit, DELETE /ui/notify/<n> to remove) against hostile and broken input: each refusal is
 * 422 with the reason beside the field it names (or 404 for an entry that is not there),
 * markup comes back escaped, a password in an address never comes back, nothing is written,
 * and the daemon goes on serving.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startHark, type HarkProcess } from './lib/hark.ts';

let hark: HarkProcess;

/** Over the CLI's Unix socket: the owner's way in (no login, no CSRF token). */
function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://localhost${path}`, { ...init, unix: `${hark.dir}/hark.sock` } as RequestInit);
}

/** A form as the page posts it; a field given as a list repeats (the events' checkboxes). */
function form(path: string, fields: Record<string, string | string[]>): Promise<Response> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
  return api(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
}

const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&');

/** The field a refused form marks (a field or a group of checkboxes), and the reason beside it. */
function fieldError(page: string): { field: string; reason: string } | null {
  const m = /<(?:div|fieldset) class="field[^"]* invalid[^"]*" data-field="([^"]+)"[^>]*>[\s\S]*?<span class="err"[^>]*>([^<]*)<\/span>/.exec(page);
  return m ? { field: m[1]!, reason: unescape(m[2]!) } : null;
}

const SECRET = 'topsecret-pw';
const TYPED = 'typed-secret-pw';

beforeAll(async () => {
  hark = await startHark(`
[input]
source = "tone"

[silence]
enabled = false

[[notify]]
type = "email"
enabled = false
url = "smtp://ops:${SECRET}@127.0.0.1:9"
to = ["ops@example.org"]
`);
}, 60_000);

afterAll(async () => {
  expect(await hark?.stop()).toBe(0);
});

/** A valid new notifier's fields, which each case spoils in one place. */
const GOOD = { type: 'webhook', url: 'http://127.0.0.1:9/hook', to: '', events: ['', 'silence', 'input'], min_severity: 'warning', repeat_minutes: '0', name: '', enabled: 'true' };

const cases: { name: string; fields: Record<string, string | string[]>; field: string; reason: RegExp }[] = [
  { name: 'an unknown type', fields: { type: 'carrier-pigeon' }, field: 'type', reason: /./ },
  { name: 'markup as the type', fields: { type: '<script>alert(1)</script>' }, field: 'type', reason: /./ },
  { name: 'an address that is no URL', fields: { url: 'not a web address' }, field: 'url', reason: /^not a web address: it should look like https:\/\/example\.org\/hook/ },
  { name: 'markup as the address', fields: { url: '"><script>alert(1)</script>' }, field: 'url', reason: /^not a web address/ },
  { name: 'an empty address', fields: { url: '' }, field: 'url', reason: /^an address is needed: the URL to POST to, e\.g\. https:\/\/ntfy\.sh\/my-topic$/ },
  { name: 'an smtp:// address for a webhook', fields: { url: 'smtp://mail.example.org:587' }, field: 'url', reason: /a webhook entry needs http:\/\/ or https:\/\/, got smtp:\/\// },
  { name: 'an https:// address for an e-mail', fields: { type: 'email', url: 'https://mail.example.org', to: 'ops@example.org' }, field: 'url', reason: /an email entry needs smtp:\/\/ or smtps:\/\// },
  { name: 'port 70000', fields: { url: 'http://127.0.0.1:70000/hook' }, field: 'url', reason: /./ },
  { name: 'an address of 3000 characters', fields: { url: `https://${'a'.repeat(3000)}.org/` }, field: 'url', reason: /2048/ },
  { name: 'an MQTT address with a path', fields: { type: 'mqtt', url: 'mqtt://broker.local:1883/topic' }, field: 'url', reason: /a broker URL has no path/ },
  { name: 'an e-mail with nobody to write to', fields: { type: 'email', url: 'smtp://mail.example.org:587', to: '' }, field: 'to', reason: /^write at least one e-mail address to send to/ },
  { name: 'markup as the e-mail address', fields: { type: 'email', url: 'smtp://mail.example.org:587', to: '<img src=x onerror=alert(1)>@example.org' }, field: 'to', reason: /not an e-mail address: "<img src=x onerror=alert\(1\)>@example\.org"/ },
  { name: 'an unknown event', fields: { events: ['', 'silence', 'everything'] }, field: 'events', reason: /./ },
  { name: 'an unknown severity', fields: { min_severity: 'panic' }, field: 'min_severity', reason: /./ },
  { name: 'a negative repeat', fields: { repeat_minutes: '-5' }, field: 'repeat_minutes', reason: /0/ },
  { name: 'a repeat in words', fields: { repeat_minutes: 'soon' }, field: 'repeat_minutes', reason: /./ },
  { name: 'a name with a terminal escape', fields: { name: '\u001b[31mred' }, field: 'name', reason: /without control characters/ },
  { name: 'enabled "maybe"', fields: { enabled: 'maybe' }, field: 'enabled', reason: /true or false/ },
];

describe('hostile input on the System page notifier forms', () => {
  test(`the corpus has at least 15 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(15);
  });

  test.each(cases.map((c) => [c.name, c] as const))('add and edit: %s → 422, the reason beside the field, nothing written', async (_name, c) => {
    const before = await Bun.file(hark.configPath).text();
    for (const path of ['/ui/notify', '/ui/notify/0']) {
      const res = await form(path, { ...GOOD, ...c.fields });
      const page = await res.text();
      expect(`${path} ${res.status}`).toBe(`${path} 422`);
      const err = fieldError(page);
      expect(err?.field).toBe(c.field);
      expect(err!.reason).toMatch(c.reason);
      expect(page).not.toContain('<script>');
      expect(page).not.toContain('<img');
      expect(page).not.toContain(SECRET);
    }
    expect(await Bun.file(hark.configPath).text()).toBe(before);
  });

  test('a password typed into a refused address does not come back (neither in the field nor in the reason)', async () => {
    const before = await Bun.file(hark.configPath).text();
    for (const url of [`smtp://ops:${TYPED}@mail.example.org:587`, `smtp://ops:${TYPED}@mail example.org`, `smtp://ops:${TYPED}/x@mail.example.org`, `smtp://ops:${TYPED}@${'a'.repeat(2100)}.org`]) {
      const res = await form('/ui/notify', { ...GOOD, url });
      expect(res.status).toBe(422);
      const page = await res.text();
      expect(fieldError(page)?.field).toBe('url');
      expect(page).not.toContain(TYPED);
    }
    expect(await Bun.file(hark.configPath).text()).toBe(before);
  });

  test('the saved password is never on the page: the list, the edit form, a refused edit', async () => {
    for (const path of ['/system', '/ui/notify', '/ui/notify/0/edit']) {
      const res = await api(path);
      expect(`${path} ${res.status}`).toBe(`${path} 200`);
      const page = await res.text();
      expect(page).toContain('smtp://ops@127.0.0.1:9');
      expect(page).not.toContain(SECRET);
    }
    const res = await form('/ui/notify/0', { type: 'email', url: 'smtp://ops@127.0.0.1:9', to: 'nobody', events: [''], min_severity: 'warning', repeat_minutes: '0', enabled: 'false' });
    expect(res.status).toBe(422);
    expect(await res.text()).not.toContain(SECRET);
    expect(await Bun.file(hark.configPath).text()).toContain(`smtp://ops:${SECRET}@127.0.0.1:9`);
  });

  test('markup in a name is saved as text: the list shows it escaped, and Remove takes it away again', async () => {
    const name = '<img src=x onerror=alert(1)>';
    const res = await form('/ui/notify', { ...GOOD, name });
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page).not.toContain('<img');
    expect((await (await api('/system')).text())).not.toContain('<img');
    const gone = await api('/ui/notify/1', { method: 'DELETE' });
    expect(gone.status).toBe(200);
    expect((await (await api('/api/config')).json()).notify).toHaveLength(1);
  });

  test.each([
    ['POST', '/ui/notify/1'],
    ['POST', '/ui/notify/99'],
    ['POST', '/ui/notify/-1'],
    ['POST', '/ui/notify/abc'],
    ['POST', '/ui/notify/1e400'],
    ['DELETE', '/ui/notify/1'],
    ['DELETE', '/ui/notify/-1'],
    ['DELETE', '/ui/notify/abc'],
    ['DELETE', '/ui/notify/NaN'],
    ['GET', '/ui/notify/7/edit'],
    ['GET', '/ui/notify/%3Cscript%3E/edit'],
  ])('%s %s: no such entry → 404 saying so, nothing written', async (method, path) => {
    const before = await Bun.file(hark.configPath).text();
    const res = method === 'POST' ? await form(path, GOOD) : await api(path, { method });
    expect(res.status).toBe(404);
    const page = await res.text();
    expect(page).toMatch(/That entry is gone|There is no entry/);
    expect(page).not.toContain('<script>');
    expect(await Bun.file(hark.configPath).text()).toBe(before);
  });

  test.each(['toString', 'constructor', '__proto__', 'hasOwnProperty'])('/ui/%s is no kind of entry: 404, no crash', async (kind) => {
    for (const [method, path] of [['GET', `/ui/${kind}`], ['GET', `/ui/${kind}/new`], ['POST', `/ui/${kind}`], ['POST', `/ui/${kind}/0`], ['DELETE', `/ui/${kind}/0`]] as const) {
      const res = method === 'POST' ? await form(path, GOOD) : await api(path, { method });
      expect(`${method} ${path} ${res.status}`).toBe(`${method} ${path} 404`);
    }
  });

  test('after all that, the daemon answers and the entry is as it was', async () => {
    const cfg = await (await api('/api/config')).json();
    expect(cfg.notify).toHaveLength(1);
    expect(cfg.notify[0]).toMatchObject({ type: 'email', enabled: false, to: ['ops@example.org'] });
    expect(hark.output()).not.toMatch(/TypeError|ReferenceError|Maximum call stack/);
    expect((await api('/api/status')).status).toBe(200);
    expect(hark.proc.exitCode).toBeNull();
  });
});
