/**
 * Bad [[program]] entries and outputs naming programs (issue 18, bad input), the same refusal
 * from the config file, the JSON API and a TOML upload: each names the key path and why, the
 * running config and its file stay as they were, and hark goes on serving. Plus hostile
 * program ids in the URLs and in the mute action.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, ConfigError } from '../src/config/load.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { freeUdpPort } from './lib/whep-client.ts';

const GOOD = `[input]\nsource = "tone"\nchannels = 4\n[[program]]\nid = "floor"\nchannels = [1, 2]\n[[program]]\nid = "es"\nchannels = [3]\n`;

/** [what, TOML appended to `[input] channels = 4`, key path, reason]. */
const CASES: [string, string, string, string][] = [
  ['a channel the input does not have', '[[program]]\nid = "x"\nchannels = [5]\n', 'program.0.channels.0', 'the input has no channel 5: it captures 4 (input.channels)'],
  ['a mix naming a channel the input does not have', '[[program]]\nid = "x"\nmix = { 1 = 0.0, 6 = -3.0 }\n', 'program.0.mix.6', 'the input has no channel 6: it captures 4 (input.channels)'],
  ['a duplicate id', '[[program]]\nid = "x"\nchannels = [1]\n[[program]]\nid = "x"\nchannels = [2]\n', 'program.1.id', '"x" is used by another program; give each a distinct id'],
  ['a mix with no channels', '[[program]]\nid = "x"\nmix = {}\n', 'program.0.channels', 'give the input channels that make this program (e.g. [1, 2]) or a mix (e.g. { 1 = 0.0, 3 = -6.0 })'],
  ['channels and a mix', '[[program]]\nid = "x"\nchannels = [1]\nmix = { 2 = 0.0 }\n', 'program.0.mix', 'give channels or a mix, not both'],
  ['three channels without mono', '[[program]]\nid = "x"\nchannels = [1, 2, 3]\n', 'program.0.mono', '3 channels make no stereo pair: set mono = true to sum them, or give one or two channels'],
  ['an output naming an unknown program', '[[program]]\nid = "x"\nchannels = [1]\n[[icecast]]\nurl = "http://source:pw@127.0.0.1:8000/a.mp3"\nprogram = "nope"\n', 'icecast.0.program', 'no program "nope": the programs are "main", "x"'],
  ['the recording naming an unknown program', '[recording]\nprogram = "nope"\n', 'recording.program', 'no program "nope": the programs are "main"'],
  ['a WHIP entry naming an unknown program', '[[whip]]\nurl = "https://example.org/whip"\nprogram = "es"\n', 'whip.0.program', 'no program "es": the programs are "main"'],
  ['a button muting an unknown program', '[[gpio.button]]\nline = "GPIO5"\naction = "toggle_mute"\nprogram = "es"\n', 'gpio.button.0.program', 'no program "es": the programs are "main"'],
  ['a program on a button that does not mute', '[[program]]\nid = "es"\nchannels = [3]\n[[gpio.button]]\nline = "GPIO5"\naction = "go_live"\nprogram = "es"\n', 'gpio.button.0.program', 'only mute, unmute and toggle_mute act on one program; leave program empty for the other actions'],
  ['a high-pass below 20 Hz', '[[program]]\nid = "x"\nchannels = [1]\nhighpass_hz = 5\n', 'program.0.highpass_hz', 'between 20 and 300 Hz, or 0 for off; got 5'],
  ['a high-pass above 300 Hz', '[[program]]\nid = "x"\nchannels = [1]\nhighpass_hz = 1000\n', 'program.0.highpass_hz', ''],
  ['a limiter above 0 dBFS', '[[program]]\nid = "x"\nchannels = [1]\nlimiter_dbfs = 3\n', 'program.0.limiter_dbfs', ''],
  ['a delay over 500 ms', '[[program]]\nid = "x"\nchannels = [1]\ndelay_ms = 501\n', 'program.0.delay_ms', ''],
  ['seven EQ bands', `[[program]]\nid = "x"\nchannels = [1]\n${'[[program.eq]]\nhz = 1000\n'.repeat(7)}`, 'program.0.eq', ''],
  ['an EQ band at 30 kHz', '[[program]]\nid = "x"\nchannels = [1]\n[[program.eq]]\nhz = 30000\n', 'program.0.eq.0.hz', ''],
  ['an EQ band of an unknown type', '[[program]]\nid = "x"\nchannels = [1]\n[[program.eq]]\ntype = "notch"\n', 'program.0.eq.0.type', ''],
  ['an EQ Q of 0', '[[program]]\nid = "x"\nchannels = [1]\n[[program.eq]]\nq = 0\n', 'program.0.eq.0.q', ''],
  ['an id with spaces and capitals', '[[program]]\nid = "Floor 1"\nchannels = [1]\n', 'program.0.id', ''],
  ['an id with a path in it', '[[program]]\nid = "../admin"\nchannels = [1]\n', 'program.0.id', ''],
  ['an id the listen page uses', '[[program]]\nid = "events"\nchannels = [1]\n', 'program.0.id', '"events" is a word the listen page\'s own addresses use; choose another id'],
  ['a language that is not a tag', '[[program]]\nid = "x"\nchannels = [1]\nlanguage = "<script>"\n', 'program.0.language', ''],
  ['channel 0', '[[program]]\nid = "x"\nchannels = [0]\n', 'program.0.channels.0', ''],
  ['a mix key that is not a channel', '[[program]]\nid = "x"\nmix = { left = 0.0 }\n', 'program.0.mix.left', ''],
  ['nine programs', Array.from({ length: 9 }, (_, i) => `[[program]]\nid = "p${i}"\nchannels = [1]\n`).join(''), 'program', ''],
];

describe('the config file refuses bad programs, naming the key', () => {
  for (const [what, toml, path, reason] of CASES) {
    test(what, () => {
      let err: unknown;
      try {
        parseConfig(`[input]\nchannels = 4\n${toml}`);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.path).toBe(path);
      if (reason) expect(e.reason).toBe(reason);
    });
  }
  test('a good one passes, and an entry called main is the default program', () => {
    expect(parseConfig(GOOD).program.map((p) => p.id)).toEqual(['floor', 'es']);
  });
});

let hark: HarkProcess;

beforeAll(async () => {
  hark = await startHark(`${GOOD}[webrtc]\nudp_port = ${await freeUdpPort()}\n`);
});

afterAll(async () => {
  await hark?.stop();
});

describe('the API refuses the same, and nothing changes', () => {
  test('PUT /api/config (TOML) and PATCH /api/config: 422 with the key path; the file and the programs stay', async () => {
    const file = join(hark.dir, 'hark.toml');
    const before = readFileSync(file, 'utf8');
    for (const [what, toml, path] of CASES) {
      const put = await fetch(`${hark.url}/api/config`, { method: 'PUT', headers: { 'content-type': 'application/toml' }, body: `[input]\nsource = "tone"\nchannels = 4\n${toml}` });
      const body = (await put.json()) as { error: string; field?: string };
      if (put.status !== 422) throw new Error(`${what}: ${put.status} ${JSON.stringify(body)}`);
      expect(body.field ?? body.error).toContain(path);
    }
    const patch = await fetch(`${hark.url}/api/config`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ program: [{ id: 'x', channels: [7] }] }) });
    expect(patch.status).toBe(422);
    expect((await patch.json()).error).toContain('program.0.channels.0: the input has no channel 7: it captures 4 (input.channels)');
    expect(readFileSync(file, 'utf8')).toBe(before);
    const info = await (await fetch(`${hark.url}/listen/info`)).json();
    expect(info.programs.map((p: { id: string }) => p.id)).toEqual(['floor', 'es']);
  }, 60_000);

  test('hostile program ids in URLs and actions: refused by name, never a crash', async () => {
    const ids = ['../etc/passwd', '%2e%2e', 'a'.repeat(5000), '<script>', 'ES', 'info', 'es.mp3', '\u0000', 'es%00'];
    for (const id of ids) {
      for (const [method, path] of [['GET', `/stream/${encodeURIComponent(id)}.mp3`], ['GET', `/listen/${encodeURIComponent(id)}`], ['POST', `/whep/${encodeURIComponent(id)}`]] as const) {
        const r = await fetch(`${hark.url}${path}`, { method, headers: { 'content-type': 'application/sdp' }, ...(method === 'POST' ? { body: 'v=0\r\n' } : {}) });
        expect([200, 400, 404, 405, 414, 431]).toContain(r.status);
        const text = await r.text();
        // Echoed only in JSON (never as markup), or escaped in the HTML page.
        if ((r.headers.get('content-type') ?? '').startsWith('text/html')) expect(text).not.toContain('<script>');
        else if (text) expect(r.headers.get('content-type') ?? '').toStartWith('application/json');
      }
    }
    for (const program of [5, null, ['es'], { id: 'es' }, 'x'.repeat(100), '']) {
      const r = await fetch(`${hark.url}/api/actions/mute`, { method: 'POST', body: JSON.stringify({ program }) });
      if (program === '') {
        // No program: the whole box (then unmute it again).
        expect(r.status).toBe(200);
        await fetch(`${hark.url}/api/actions/unmute`, { method: 'POST' });
      } else {
        expect(r.status).toBe(422);
        expect((await r.json()).field).toBe('program');
      }
    }
    expect((await fetch(`${hark.url}/api/status`)).status).toBe(200);
  }, 60_000);
});

describe('the hark command', () => {
  const run = async (...args: string[]) => {
    const p = Bun.spawn([process.execPath, join(import.meta.dir, '../src/cli/main.ts'), '--socket', join(hark.dir, 'hark.sock'), ...args], { stdout: 'pipe', stderr: 'pipe' });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { out, err, code };
  };

  test('hark mute es mutes that program alone; hark status lists the programs; a bad id or an unknown one is refused', async () => {
    const m = await run('mute', 'es');
    expect(m.code).toBe(0);
    expect(m.out.trim()).toBe('es muted');
    const st = await run('status');
    expect(st.out).toMatch(/programs\n\s+floor \(main\)\s+.*dBFS peak\s+0 listening\s+floor\n\s+es\s+MUTED/);
    expect(st.out).toContain('LIVE');
    expect((await run('unmute', 'es')).out.trim()).toBe('es unmuted');
    const bad = await run('mute', 'Bad Id');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('not a program id: "Bad Id"');
    const unknown = await run('mute', 'nope');
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toContain('no program "nope": the programs are floor, es');
    expect((await run('live', 'es')).code).toBe(2);
  }, 30_000);
});
