/**
 * Bad `[[srt]]` entries (issue 20, bad input): each is refused naming the key path and why,
 * before any socket is opened. The hostile TS a receiver could be sent is in
 * src/codecs/mpegts.test.ts (the demuxer counts and drops it).
 *
 * Then the same through the admin page's forms against a real hark (POST /ui/srt to add,
 * POST /ui/srt/<n> to edit, DELETE /ui/srt/<n>, and the Input page's POST /ui/config/input
 * with an SRT feed): each refusal is 422 with the reason beside the field it names (or 404 for
 * an entry that is not there), markup comes back escaped, no passphrase ever comes back (the
 * saved one, one typed into the field or into the address), nothing is written, and the daemon
 * goes on serving.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { parse as parseToml } from 'smol-toml';
import { ConfigError, parseConfig } from '../src/config/load.ts';
import { redactConfig } from '../src/config/secrets.ts';
import { srtTarget, takePassphrase } from '../src/config/srt-url.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';

/** [what, [[srt]] body, key path, reason ('' = any)]. */
const CASES: [string, string, string, string][] = [
  ['no URL', '', 'srt.0.url', ''],
  ['an empty URL', 'url = ""', 'srt.0.url', ''],
  ['not a URL', 'url = "studio:9000"', 'srt.0.url', ''],
  ['another scheme', 'url = "udp://127.0.0.1:9000"', 'srt.0.url', 'must start with srt://, got udp://'],
  ['no port', 'url = "srt://studio.example"', 'srt.0.url', 'needs a port: srt://host:9000'],
  ['port 0', 'url = "srt://studio.example:0"', 'srt.0.url', ''],
  ['port 70000', 'url = "srt://studio.example:70000"', 'srt.0.url', ''],
  ['rendezvous mode', 'url = "srt://studio.example:9000?mode=rendezvous"', 'srt.0.url', 'mode must be caller or listener, got "rendezvous" (rendezvous is not supported)'],
  ['a caller without a host', 'url = "srt://:9000?mode=caller"', 'srt.0.url', "caller mode needs the receiver's host: srt://studio.example:9000?mode=caller"],
  ['an unknown query parameter', 'url = "srt://studio.example:9000?mode=caller&foo=1"', 'srt.0.url', 'unknown query parameter "foo" (mode, streamid, passphrase, pbkeylen, latency)'],
  ['a path', 'url = "srt://studio.example:9000/live?mode=caller"', 'srt.0.url', 'an SRT URL has no user, password or path'],
  ['a short passphrase', 'url = "srt://s:9000"\npassphrase = "short"', 'srt.0.passphrase', "a passphrase has 10–79 characters (SRT's rule), this one has 5"],
  ['a long passphrase', `url = "srt://s:9000"\npassphrase = "${'x'.repeat(80)}"`, 'srt.0.passphrase', ''],
  ['a short passphrase in the query', 'url = "srt://s:9000?passphrase=abc"', 'srt.0.url', ''],
  ['pbkeylen 20', 'url = "srt://s:9000"\npbkeylen = 20', 'srt.0.pbkeylen', ''],
  ['pbkeylen 20 in the query', 'url = "srt://s:9000?pbkeylen=20"', 'srt.0.url', 'pbkeylen must be 16, 24 or 32, got 20'],
  ['latency 5 ms', 'url = "srt://s:9000"\nlatency_ms = 5', 'srt.0.latency_ms', ''],
  ['latency 10 s', 'url = "srt://s:9000"\nlatency_ms = 10000', 'srt.0.latency_ms', ''],
  ['latency not a number in the query', 'url = "srt://s:9000?latency=soon"', 'srt.0.url', 'latency must be 20–8000 ms, got soon'],
  ['an unknown payload', 'url = "srt://s:9000"\npayload = "aac"', 'srt.0.payload', ''],
  ['an MP2 bitrate Layer II does not have', 'url = "srt://s:9000"\npayload = "mp2"\nbitrate_kbps = 200', 'srt.0.bitrate_kbps', 'MP2 needs one of 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384 kbit/s, got 200'],
  ['an MP3 bitrate MP3 does not have', 'url = "srt://s:9000"\npayload = "mp3"\nbitrate_kbps = 100', 'srt.0.bitrate_kbps', ''],
  ['an Opus bitrate over 510', 'url = "srt://s:9000"\nbitrate_kbps = 1000', 'srt.0.bitrate_kbps', ''],
  ['a stream ID over 512 bytes', `url = "srt://s:9000"\nstream_id = "${'s'.repeat(513)}"`, 'srt.0.stream_id', ''],
  ['an unknown key', 'url = "srt://s:9000"\nmode = "caller"', 'srt.0.mode', ''],
  ['an unknown program', 'url = "srt://s:9000"\nprogram = "nope"', 'srt.0.program', 'no program "nope": the programs are "main"'],
];

describe('the config file refuses bad [[srt]] entries, naming the key', () => {
  for (const [what, body, path, reason] of CASES) {
    test(what, () => {
      let err: unknown;
      try {
        parseConfig(`[[srt]]\n${body}\n`);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.path).toBe(path);
      if (reason) expect(e.reason).toBe(reason);
    });
  }

  test('MP2 at 256 kbit/s from a mono program', () => {
    expect(() => parseConfig('[input]\nchannels = 1\n[[srt]]\nurl = "srt://s:9000"\npayload = "mp2"\n')).toThrow('srt.0.bitrate_kbps: a mono program in MP2 allows at most 192 kbit/s, got 256');
  });

  test('two listeners on one port; two entries with one id', () => {
    const two = (a: string, b: string) => `[[srt]]\n${a}\n[[srt]]\n${b}\n`;
    expect(() => parseConfig(two('url = "srt://:9000?mode=listener"', 'url = "srt://:9000?mode=listener"'))).toThrow(/port 9000 is already listened on by srt\.0/);
    expect(() => parseConfig(two('id = "a"\nurl = "srt://s:9000"', 'id = "a"\nurl = "srt://t:9000"'))).toThrow(/"a" is already the id of srt\.0/);
  });

  test('good entries: the URL query wins over the keys', () => {
    const c = parseConfig('[[srt]]\nurl = "srt://studio.example:9000?mode=caller&streamid=%23!%3A%3Ar%3Dlive&latency=300&passphrase=0123456789abc&pbkeylen=32"\nlatency_ms = 120\n');
    expect(srtTarget(c.srt[0]!)).toEqual({ mode: 'caller', host: 'studio.example', port: 9000, passphrase: '0123456789abc', pbkeylen: 32, latencyMs: 300, streamId: '#!::r=live' });
    const l = parseConfig('[[srt]]\nurl = "srt://[::1]:9001?mode=listener"\n');
    expect(srtTarget(l.srt[0]!)).toMatchObject({ mode: 'listener', host: '::1', port: 9001, latencyMs: 120, passphrase: '' });
    expect(srtTarget({ ...l.srt[0]!, url: 'srt://:9001' }).mode).toBe('listener');
  });

  test('passphrases never leave in a redacted config (diagnostics, backups)', () => {
    const c = parseConfig('[[srt]]\nurl = "srt://:9000?mode=listener&passphrase=in-the-url-123"\npassphrase = "in-the-key-4567"\n');
    const r = redactConfig(c);
    const text = JSON.stringify(r.config);
    expect(text).not.toContain('in-the-url-123');
    expect(text).not.toContain('in-the-key-4567');
    expect(text).toContain('srt://:9000?mode=listener&passphrase=(removed)');
    expect(r.secrets).toEqual(expect.arrayContaining(['in-the-url-123', 'in-the-key-4567']));
  });
});

describe('a passphrase in an SRT address is taken out of it (the pages keep it in its own key)', () => {
  test.each([
    ['srt://:9000?mode=listener&passphrase=abc%20def&latency=200', 'srt://:9000?mode=listener&latency=200', 'abc def'],
    ['srt://:9000?passphrase=x', 'srt://:9000', 'x'],
    ['srt://h:9000?passphrase=a&passphrase=b', 'srt://h:9000', 'a'],
    ['srt://h:9000?mode=caller', 'srt://h:9000?mode=caller', null],
    ['srt://h:9000', 'srt://h:9000', null],
  ])('%s', (url, rest, passphrase) => {
    expect(takePassphrase(url)).toEqual({ url: rest, passphrase });
  });
});

describe('hostile input on the Outputs page SRT forms and the Input page feed form', () => {
  let hark: HarkProcess;
  /** The saved link's passphrase, and the feed's: never on a page. */
  const SAVED = 'saved-secret-123';
  const TYPED = 'typed-secret-456';

  /** Over the CLI's Unix socket: the owner's way in (no login, no CSRF token). */
  const api = (path: string, init: RequestInit = {}) => fetch(`http://localhost${path}`, { ...init, unix: `${hark.dir}/hark.sock` } as RequestInit);
  const form = (path: string, fields: Record<string, string>) =>
    api(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
  const unescape = (t: string) => t.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  /** The field a refused form marks, and the reason beside it. */
  const fieldError = (page: string) => {
    const m = /<div class="field[^"]* invalid[^"]*" data-field="([^"]+)"[^>]*>[\s\S]*?<span class="err"[^>]*>([^<]*)<\/span>/.exec(page);
    return m ? { field: m[1]!, reason: unescape(m[2]!) } : null;
  };

  beforeAll(async () => {
    hark = await startHark(`[silence]\nenabled = false\n\n[[srt]]\nenabled = false\nurl = "srt://127.0.0.1:9?mode=caller"\npassphrase = "${SAVED}"\n`);
  }, 60_000);

  afterAll(async () => {
    expect(await hark?.stop()).toBe(0);
  });

  /** A valid entry's fields, which each case spoils in one place. */
  const GOOD = { url: 'srt://127.0.0.1:9?mode=caller', passphrase: '', payload: 'opus', bitrate_kbps: '256', latency_ms: '120', stream_id: '', enabled: 'false', id: '', pbkeylen: '16' };

  const cases: { name: string; fields: Record<string, string>; field: string; reason: RegExp; addOnly?: boolean }[] = [
    { name: 'no address', fields: { url: '' }, field: 'url', reason: /./ },
    { name: 'not a URL', fields: { url: 'studio:9000' }, field: 'url', reason: /^not an SRT address: it should look like srt:\/\/studio\.example\.org:9000 \(this box calls\) or srt:\/\/:9000\?mode=listener \(this box waits for the call\)$/ },
    { name: 'not a URL, with a passphrase in it', fields: { url: `studio 9000?passphrase=${TYPED}` }, field: 'url', reason: /^not an SRT address/ },
    { name: 'another scheme', fields: { url: 'udp://127.0.0.1:9000' }, field: 'url', reason: /^must start with srt:\/\/, got udp:\/\/$/ },
    { name: 'rendezvous', fields: { url: 'srt://studio.example:9000?mode=rendezvous' }, field: 'url', reason: /^mode must be caller or listener, got "rendezvous" \(rendezvous is not supported\)$/ },
    { name: 'a caller without a host', fields: { url: 'srt://:9000?mode=caller' }, field: 'url', reason: /^caller mode needs the receiver's host/ },
    { name: 'no port', fields: { url: 'srt://studio.example' }, field: 'url', reason: /^needs a port: srt:\/\/host:9000$/ },
    { name: 'port 70000', fields: { url: 'srt://studio.example:70000' }, field: 'url', reason: /^port 70000 is out of range$/ },
    { name: 'an unknown query parameter', fields: { url: 'srt://studio.example:9000?foo=1' }, field: 'url', reason: /^unknown query parameter "foo"/ },
    { name: 'a path', fields: { url: 'srt://studio.example:9000/live' }, field: 'url', reason: /^an SRT URL has no user, password or path$/ },
    { name: 'a user and password', fields: { url: `srt://user:${TYPED}@studio.example:9000` }, field: 'url', reason: /^an SRT URL has no user, password or path$/ },
    { name: 'markup as the address', fields: { url: '"><script>alert(1)</script>' }, field: 'url', reason: /^not an SRT address/ },
    { name: 'markup as the host', fields: { url: 'srt://<img src=x onerror=alert(1)>:9000' }, field: 'url', reason: /^not a host name or address/ },
    { name: 'an address of 2000 characters', fields: { url: `srt://${'a'.repeat(2000)}:9000` }, field: 'url', reason: /1024/ },
    { name: 'latency not a number in the address', fields: { url: 'srt://studio.example:9000?latency=soon' }, field: 'url', reason: /^latency must be 20–8000 ms, got soon$/ },
    { name: 'a short passphrase', fields: { passphrase: 'tiny-pw' }, field: 'passphrase', reason: /^a passphrase has 10–79 characters \(SRT's rule\), this one has 7$/ },
    { name: 'a passphrase of 80 characters', fields: { passphrase: `${TYPED}${'x'.repeat(64)}` }, field: 'passphrase', reason: /^expected string length less or equal to 79, got 80 characters$/ },
    { name: 'a short passphrase in the address', fields: { url: 'srt://studio.example:9000?passphrase=abc' }, field: 'passphrase', reason: /this one has 3$/ },
    { name: 'a latency of 5 ms', fields: { latency_ms: '5' }, field: 'latency_ms', reason: /20/ },
    { name: 'a latency in words', fields: { latency_ms: 'soon' }, field: 'latency_ms', reason: /./ },
    { name: 'an unknown format', fields: { payload: 'aac' }, field: 'payload', reason: /./ },
    { name: 'markup as the format', fields: { payload: '<script>alert(1)</script>' }, field: 'payload', reason: /./ },
    { name: 'an MP2 bitrate Layer II does not have', fields: { payload: 'mp2', bitrate_kbps: '200' }, field: 'bitrate_kbps', reason: /^MP2 needs one of 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384 kbit\/s, got 200$/ },
    { name: 'an Opus bitrate of 1000', fields: { bitrate_kbps: '1000' }, field: 'bitrate_kbps', reason: /510/ },
    { name: 'a stream ID of 513 characters', fields: { stream_id: 's'.repeat(513) }, field: 'stream_id', reason: /512/ },
    { name: 'a key length of 20', fields: { pbkeylen: '20' }, field: 'pbkeylen', reason: /./ },
    { name: 'enabled "maybe"', fields: { enabled: 'maybe' }, field: 'enabled', reason: /true or false/ },
    { name: 'the id of the link already there', fields: { id: 'srt1' }, field: 'id', reason: /^"srt1" is already the id of srt\.0$/, addOnly: true },
  ];

  test(`the corpus has at least 25 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  test.each(cases.map((c) => [c.name, c] as const))('add and edit: %s → 422, the reason beside the field, nothing written, no secret back', async (_name, c) => {
    const before = await Bun.file(hark.configPath).text();
    for (const path of c.addOnly ? ['/ui/srt'] : ['/ui/srt', '/ui/srt/0']) {
      const res = await form(path, { ...GOOD, ...c.fields });
      const page = await res.text();
      expect(`${path} ${res.status}`).toBe(`${path} 422`);
      const err = fieldError(page);
      expect(err?.field).toBe(c.field);
      expect(err!.reason).toMatch(c.reason);
      expect(page).not.toContain('<script>');
      expect(page).not.toContain('<img');
      expect(page).not.toContain(SAVED);
      expect(page).not.toContain(TYPED);
    }
    expect(await Bun.file(hark.configPath).text()).toBe(before);
  });

  test('a program that does not exist (the form has no program field with one program): refused above the fields', async () => {
    const before = await Bun.file(hark.configPath).text();
    const res = await form('/ui/srt', { ...GOOD, program: 'nope' });
    expect(res.status).toBe(422);
    expect(await res.text()).toContain('<p class="notice bad" role="alert" data-notice="bad">Program: no program &quot;nope&quot;: the programs are &quot;main&quot;</p>');
    expect(await Bun.file(hark.configPath).text()).toBe(before);
  });

  test('the saved passphrase is never on a page: the Outputs page, the list, the edit form, a refused edit', async () => {
    for (const path of ['/outputs', '/ui/srt', '/ui/srt/0/edit']) {
      const res = await api(path);
      expect(`${path} ${res.status}`).toBe(`${path} 200`);
      const page = await res.text();
      expect(page).toMatch(path.endsWith('/edit') ? /value="srt:\/\/127\.0\.0\.1:9\?mode=caller"/ : /calls 127\.0\.0\.1:9, encrypted/);
      expect(page).not.toContain(SAVED);
    }
    expect(await (await api('/ui/srt/0/edit')).text()).toContain('placeholder="(unchanged)"');
    const res = await form('/ui/srt/0', { ...GOOD, latency_ms: '1' });
    expect(res.status).toBe(422);
    expect(await res.text()).not.toContain(SAVED);
  });

  test('a passphrase typed into the address goes into its own key: the address is saved without it, no page shows it; Remove takes the entry away', async () => {
    const res = await form('/ui/srt', { ...GOOD, url: `srt://127.0.0.1:10?mode=caller&passphrase=${TYPED}&latency=200`, id: 'second' });
    expect(res.status).toBe(200);
    expect(await res.text()).not.toContain(TYPED);
    const file = parseToml(await Bun.file(hark.configPath).text()) as { srt: Record<string, unknown>[] };
    expect(file.srt[1]).toMatchObject({ id: 'second', url: 'srt://127.0.0.1:10?mode=caller&latency=200', passphrase: TYPED });
    for (const path of ['/outputs', '/ui/srt/1/edit']) expect(await (await api(path)).text()).not.toContain(TYPED);
    // The edit form, saved as it is (the passphrase field left empty), keeps it.
    expect((await form('/ui/srt/1', { ...GOOD, url: 'srt://127.0.0.1:10?mode=caller&latency=200', id: 'second' })).status).toBe(200);
    expect((parseToml(await Bun.file(hark.configPath).text()) as { srt: Record<string, unknown>[] }).srt[1]!.passphrase).toBe(TYPED);
    const gone = await api('/ui/srt/1', { method: 'DELETE' });
    expect(gone.status).toBe(200);
    expect(await Bun.file(hark.configPath).text()).not.toContain(TYPED);
  });

  test('a passphrase kept in the address in the file: the form shows the address without it, and saving it as shown keeps it', async () => {
    const before = await Bun.file(hark.configPath).text();
    const put = await api('/api/config', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ 'srt.0.url': `srt://127.0.0.1:9?mode=caller&passphrase=${TYPED}` }) });
    expect(put.status).toBe(200);
    const edit = await (await api('/ui/srt/0/edit')).text();
    expect(edit).not.toContain(TYPED);
    expect(edit).toContain('value="srt://127.0.0.1:9?mode=caller"');
    expect((await form('/ui/srt/0', GOOD)).status).toBe(200);
    const e = (parseToml(await Bun.file(hark.configPath).text()) as { srt: Record<string, unknown>[] }).srt[0]!;
    expect(e).toMatchObject({ url: 'srt://127.0.0.1:9?mode=caller', passphrase: TYPED });
    // Back as it was.
    expect((await api('/api/config', { method: 'PUT', headers: { 'content-type': 'application/toml' }, body: before })).status).toBe(200);
  });

  test.each([
    ['POST', '/ui/srt/1'],
    ['POST', '/ui/srt/99'],
    ['POST', '/ui/srt/-1'],
    ['POST', '/ui/srt/abc'],
    ['POST', '/ui/srt/1e400'],
    ['DELETE', '/ui/srt/1'],
    ['DELETE', '/ui/srt/-1'],
    ['DELETE', '/ui/srt/NaN'],
    ['GET', '/ui/srt/7/edit'],
    ['GET', '/ui/srt/%3Cscript%3E/edit'],
  ])('%s %s: no such entry → 404 saying so, nothing written', async (method, path) => {
    const before = await Bun.file(hark.configPath).text();
    const res = method === 'POST' ? await form(path, GOOD) : await api(path, { method });
    expect(res.status).toBe(404);
    const page = await res.text();
    expect(page).toMatch(/That entry is gone|There is no entry/);
    expect(page).not.toContain('<script>');
    expect(page).not.toContain(SAVED);
    expect(await Bun.file(hark.configPath).text()).toBe(before);
  });

  /** The Capture form's fields with an SRT feed, which each case spoils in one place. */
  const FEED = { source: 'srt', url: 'srt://:9000?mode=listener', passphrase: '', buffer_ms: '120', output_device: 'none', channels: '2', latency_frames: '128', relaxed_latency_frames: '2048' };

  test.each([
    ['an RTP address for an SRT feed', { url: 'rtp://:5004' }, 'url', /^must start with srt:\/\/ for input\.source = "srt"$/],
    ['no address', { url: '' }, 'url', /^is empty: a srt input needs one, e\.g\. srt:\/\/:9000\?mode=listener$/],
    ['rendezvous', { url: 'srt://:9000?mode=rendezvous' }, 'url', /^mode=rendezvous is not listener or caller$/],
    ['markup as the address', { url: 'srt://"><script>alert(1)</script>:9000' }, 'url', /./],
    ['a short passphrase', { passphrase: 'tiny-pw' }, 'passphrase', /^SRT needs 10–79 characters \(got 7\), or empty for no encryption$/],
    ['a short passphrase in the address', { url: 'srt://:9000?mode=listener&passphrase=tiny-pw' }, 'passphrase', /got 7/],
    ['a passphrase of 80 characters', { passphrase: `${TYPED}${'x'.repeat(64)}` }, 'passphrase', /79/],
    ['a buffer of 1 ms', { buffer_ms: '1' }, 'buffer_ms', /5/],
    ['an output with a control character', { output_device: 'alsa\u0007out' }, 'output_device', /without control characters/],
    ['an unknown source', { source: '<script>alert(1)</script>' }, 'source', /./],
  ] as const)('the Input page, SRT feed: %s → 422 beside the field, nothing written, no passphrase back', async (_name, fields, field, reason) => {
    const before = await Bun.file(hark.configPath).text();
    const res = await form('/ui/config/input', { ...FEED, ...fields });
    const page = await res.text();
    expect(res.status).toBe(422);
    const err = fieldError(page);
    expect(err?.field).toBe(field);
    expect(err!.reason).toMatch(reason);
    expect(page).not.toContain('<script>');
    expect(page).not.toContain(TYPED);
    expect(page).not.toContain('tiny-pw');
    expect(await Bun.file(hark.configPath).text()).toBe(before);
  });

  test('after all that, the daemon answers and the entry is as it was', async () => {
    const cfg = await (await api('/api/config')).json();
    expect(cfg.srt).toHaveLength(1);
    expect(cfg.srt[0]).toMatchObject({ enabled: false, url: 'srt://127.0.0.1:9?mode=caller', passphrase: SAVED });
    expect(cfg.input.source).toBe('auto');
    expect(hark.output()).not.toMatch(/TypeError|ReferenceError|Maximum call stack/);
    expect((await api('/api/status')).status).toBe(200);
    expect(hark.proc.exitCode).toBeNull();
  });
});
