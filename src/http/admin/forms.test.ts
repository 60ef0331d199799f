import { describe, expect, test } from 'bun:test';
import { ConfigError } from '../../config/load.ts';
import { entryForm, entryValues, parseServerUrl, sectionForm, sectionValues, splitIcecastUrl } from './forms.ts';
import { defaultConfig } from '../../config/load.ts';

describe('the URL an Icecast host gives', () => {
  test.each([
    ['icecast://source:s3cret@radio.example.org:8000/live', { host: 'radio.example.org', port: 8000, mount: '/live', user: 'source', password: 's3cret' }],
    ['http://radio.example.org:8010/live.mp3', { host: 'radio.example.org', port: 8010, mount: '/live.mp3', user: undefined, password: undefined, tls: false }],
    ['https://source:pw@radio.example.org:8443/live', { host: 'radio.example.org', port: 8443, mount: '/live', user: 'source', password: 'pw', tls: true }],
    ['https://radio.example.org/live', { host: 'radio.example.org', port: 443, mount: '/live', user: undefined, password: undefined, tls: true }],
    ['radio.example.org:8000/live', { host: 'radio.example.org', port: 8000, mount: '/live', user: undefined, password: undefined }],
    ['icecast://me:p%40ss@[::1]/x', { host: '::1', port: 8000, mount: '/x', user: 'me', password: 'p@ss' }],
    ['http://radio.example.org/live', { host: 'radio.example.org', port: 80, mount: '/live', user: undefined, password: undefined, tls: false }],
  ])('%s', (text, want) => {
    expect(parseServerUrl(text)).toEqual(want);
  });

  test.each(['ftp://x/y', 'not a url at all', 'http://h/%E0%A4%A', 'https://u:%ZZ@h/m'])('%s is refused', (text) => {
    expect(parseServerUrl(text)).toBeNull();
  });

  test('a pasted address fills host, port, mount and the credentials it holds, over what the fields say', () => {
    const v = entryValues('icecast', { url: 'icecast://source:pw@radio.example.org:8002/live', host: 'typed.example', port: '8000', mount: '/typed', password: '' }, 'icecast.0', {});
    expect(v).toMatchObject({ url: '', host: 'radio.example.org', port: 8002, mount: '/live', user: 'source', password: 'pw' });
  });

  test('an address without a password keeps the one typed; a bad one is refused on the paste field', () => {
    expect(entryValues('icecast', { url: 'http://h:8000/m', password: 'typed' }, 'icecast.0', {})).toMatchObject({ host: 'h', password: 'typed' });
    expect(() => entryValues('icecast', { url: 'ftp://h/m' }, 'icecast.3', {})).toThrow(ConfigError);
    try {
      entryValues('icecast', { url: 'ftp://h/m' }, 'icecast.3', {});
    } catch (e) {
      expect((e as ConfigError).path).toBe('icecast.3.url');
      expect((e as ConfigError).reason).toContain('https://radio.example.org:8443/live');
    }
  });

  test('an https:// address turns on the secure connection; an http:// one turns it off; icecast:// leaves it', () => {
    expect(entryValues('icecast', { url: 'https://h:8443/m' }, 'icecast.0', {})).toMatchObject({ url: '', host: 'h', port: 8443, mount: '/m', tls: true });
    expect(entryValues('icecast', { url: 'http://h:8000/m' }, 'icecast.0', { tls: true })).toMatchObject({ port: 8000, tls: false });
    expect(entryValues('icecast', { url: 'icecast://h:8000/m', tls: 'true' }, 'icecast.0', {})).toMatchObject({ tls: true });
    // An entry written in the file with an https:// url shows as fields with the box ticked.
    expect(splitIcecastUrl({ url: 'https://source:pw@h/m', host: '', port: 8000, mount: '', user: '', password: '', tls: false })).toMatchObject({ url: '', host: 'h', port: 443, tls: true, password: 'pw' });
  });

  test('an entry written with url = … is shown and kept as fields; its password survives an edit that leaves it empty', () => {
    const old = { url: 'http://source:hidden@radio.example.org:8000/live', host: '', port: 8000, mount: '', user: '', password: '' };
    expect(splitIcecastUrl(old)).toMatchObject({ url: '', host: 'radio.example.org', mount: '/live', user: 'source', password: 'hidden' });
    const v = entryValues('icecast', { url: '', host: 'radio.example.org', port: '8000', mount: '/live', password: '', name: 'Parish radio' }, 'icecast.0', old);
    expect(v).toMatchObject({ url: '', host: 'radio.example.org', mount: '/live', password: 'hidden', name: 'Parish radio' });
  });
});

describe('section forms', () => {
  test('words instead of keys; the rest under a closed Advanced fold; unique ids; the notice beside Save', () => {
    const html = sectionForm('webrtc', defaultConfig(), {}, 'NOTICE').value;
    expect(html).toContain('<h2>Listen page</h2>');
    expect(html).not.toContain('[[');
    expect(html).toMatch(/<label for="f-webrtc-enabled">Listen page on<\/label>/);
    const [main, advanced] = html.split('<details class="advanced" >');
    expect(main).not.toContain('useinbandfec');
    expect(advanced).toContain('name="useinbandfec"');
    expect(html).toMatch(/<div class="actions"><button type="submit" id="save-webrtc">Save<\/button>NOTICE<\/div>/);
  });

  test('a refused advanced field opens the fold', () => {
    const html = sectionForm('stream', defaultConfig(), { queue_kb: 'must be between 16 and 4096, got 1' }).value;
    expect(html).toContain('<details class="advanced" open>');
  });

  test('quality is a choice in words', () => {
    const html = sectionForm('mp3', defaultConfig()).value;
    expect(html).toMatch(/<option value="128" selected>Good \(128 kbit\/s\)<\/option>/);
  });
});

describe('entry forms', () => {
  test('WHIP: its address and stream key in words; the Icecast test result comes after its buttons', async () => {
    const { entryForm } = await import('./forms.ts');
    const whip = entryForm('whip', null, {}).value;
    expect(whip).toContain('>Server address</label>');
    expect(whip).toContain('>Stream key</label>');
    const ice = entryForm('icecast', null, { host: 'h', mount: '/m' }, {}, '', { ok: false, message: 'refused' }).value;
    expect(ice.indexOf('data-test-result')).toBeGreaterThan(ice.indexOf('id="test-icecast-new"'));
  });
});

describe('every setting a page shows has words of its own', () => {
  // The sections the Input, Outputs and System pages show (src/http/admin/*-page.ts).
  const SHOWN = ['input', 'silence', 'tone', 'recording', 'webrtc', 'metadata', 'mp3', 'stream', 'access', 'control', 'log', 'http'];
  test.each(SHOWN)('[%s]: no label is a config key', (section) => {
    const page = sectionForm(section, defaultConfig()).value;
    const labels = [...page.matchAll(/<label for="[^"]+">([^<]*)</g)].map((m) => m[1]!);
    expect(labels.length).toBeGreaterThan(0);
    for (const l of labels) {
      // A key shown as-is ("local listeners off air", "queue_kb"): lower-case words only, or an underscore.
      expect(l).not.toMatch(/_/);
      expect(l).toMatch(/^[A-Z0-9"(]/);
    }
  });
});

describe('[[notify]] entries on the form', () => {
  const old = { type: 'webhook', url: 'https://hooks.example.org/in/T0K3N?x=1', headers: { Authorization: 'Bearer tk_secret' }, to: [], events: ['silence'] };

  test('the events come back as the ticked checkboxes (none ticked: none)', () => {
    expect(entryValues('notify', { type: 'webhook', url: 'http://h/x', events: ['', 'silence', 'disk'] }, 'notify.0', {})).toMatchObject({ events: ['silence', 'disk'] });
    expect(entryValues('notify', { type: 'webhook', url: 'http://h/x', events: '' }, 'notify.0', {})).toMatchObject({ events: [] });
  });

  test('an edit keeps the headers (never on the form); a change of type clears the keys of the old one', () => {
    const same = entryValues('notify', { type: 'webhook', url: old.url, events: ['', 'silence'] }, 'notify.0', old);
    expect({ ...old, ...same }.headers).toEqual({ Authorization: 'Bearer tk_secret' });
    const mail = entryValues('notify', { type: 'email', url: 'smtp://mail.example.org:587', to: 'a@example.org' }, 'notify.0', old);
    expect(mail).toMatchObject({ headers: {}, to: ['a@example.org'], topic: '' });
    const hook = entryValues('notify', { type: 'webhook', url: 'http://h/x' }, 'notify.0', { type: 'email', to: ['a@example.org'], from: 'b@example.org' });
    expect(hook).toMatchObject({ to: [], from: '' });
  });

  test('an address typed without its password keeps the saved one for the same user; a new password or user replaces it', () => {
    const saved = { type: 'email', url: 'smtp://ops:s3cret@mail.example.org:587', to: ['a@example.org'] };
    expect(entryValues('notify', { type: 'email', url: 'smtp://ops@mail.example.org:587' }, 'notify.0', saved).url).toBe('smtp://ops:s3cret@mail.example.org:587');
    expect(entryValues('notify', { type: 'email', url: 'smtp://ops@smtp.example.net:465' }, 'notify.0', saved).url).toBe('smtp://ops:s3cret@smtp.example.net:465');
    expect(entryValues('notify', { type: 'email', url: 'smtp://ops:n3w@mail.example.org:587' }, 'notify.0', saved).url).toBe('smtp://ops:n3w@mail.example.org:587');
    expect(entryValues('notify', { type: 'email', url: 'smtp://other@mail.example.org:587' }, 'notify.0', saved).url).toBe('smtp://other@mail.example.org:587');
    const anon = { type: 'mqtt', url: 'mqtt://:pw@broker.local:1883' };
    expect(entryValues('notify', { type: 'mqtt', url: 'mqtt://broker.local:1883' }, 'notify.0', anon).url).toBe('mqtt://:pw@broker.local:1883');
  });

  test('the form and the list never show a password or a webhook token', async () => {
    const { entryForm } = await import('./forms.ts');
    const { urlWithoutPassword, notifyWhere } = await import('../../config/notify-url.ts');
    const page = entryForm('notify', 0, { type: 'email', url: 'smtps://ops:s3cret@mail.example.org:465', to: ['a@example.org'], events: [] }).value;
    expect(page).toContain('value="smtps://ops@mail.example.org:465"');
    expect(page).not.toContain('s3cret');
    expect(page).not.toContain('name="headers"');
    expect(urlWithoutPassword('smtp://u:p@ss@h:25')).toBe('smtp://u@h:25');
    expect(urlWithoutPassword('smtp://u:pa/ss@h')).toBe('smtp://u@h');
    expect(notifyWhere('webhook', old.url)).toBe('https://hooks.example.org/…');
    expect(notifyWhere('webhook', 'http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
  });
});

describe('an SRT passphrase on the forms', () => {
  const fields = { url: 'srt://h:9000', passphrase: '', payload: 'opus', bitrate_kbps: '256', latency_ms: '120' };

  test('left empty it keeps the saved one; the "remove" box empties it; one typed replaces it', () => {
    const old = { url: 'srt://h:9000', passphrase: 'saved-secret-1' };
    expect(entryValues('srt', fields, 'srt.0', old).passphrase).toBe('saved-secret-1');
    expect(entryValues('srt', { ...fields, passphrase__clear: 'true' }, 'srt.0', old).passphrase).toBe('');
    expect(entryValues('srt', { ...fields, passphrase: 'typed-secret-2' }, 'srt.0', old).passphrase).toBe('typed-secret-2');
  });

  test("one in the address goes into its own key (for [[srt]] the address's wins, for the input the field's); the saved address's is kept when the form sends the address without it", () => {
    expect(entryValues('srt', { ...fields, url: 'srt://h:9000?passphrase=in-the-url-3', passphrase: 'typed-secret-2' }, 'srt.0', {})).toMatchObject({ url: 'srt://h:9000', passphrase: 'in-the-url-3' });
    expect(entryValues('srt', fields, 'srt.0', { url: 'srt://h:9000?passphrase=in-the-url-3' })).toMatchObject({ url: 'srt://h:9000', passphrase: 'in-the-url-3' });
    expect(entryValues('srt', { ...fields, passphrase__clear: 'true' }, 'srt.0', { url: 'srt://h:9000?passphrase=in-the-url-3' })).toMatchObject({ url: 'srt://h:9000', passphrase: '' });
    const input = { source: 'srt', url: 'srt://:9000?mode=listener&passphrase=in-the-url-3', passphrase: 'typed-secret-2' };
    expect(sectionValues('input', input, defaultConfig().input as unknown as Record<string, unknown>)).toMatchObject({ url: 'srt://:9000?mode=listener', passphrase: 'typed-secret-2' });
  });

  test('never written into the page: not the saved one, not one just typed into a refused form', () => {
    const c = defaultConfig();
    c.input.passphrase = 'saved-secret-1';
    const saved = sectionForm('input', c).value;
    expect(saved).not.toContain('saved-secret-1');
    expect(saved).toContain('placeholder="(unchanged)"');
    const refused = sectionForm('input', c, { url: 'bad' }, '', { ...c.input, passphrase: 'typed-secret-2' }).value;
    expect(refused).not.toContain('typed-secret-2');
    expect(refused).toContain('Type it again: a passphrase is never sent back to this page.');
    const added = entryForm('srt', null, { url: 'srt://h:9000?passphrase=typed-secret-2' }, { url: 'x' }).value;
    expect(added).not.toContain('typed-secret-2');
    expect(added).toContain('value="srt://h:9000"');
  });
});
