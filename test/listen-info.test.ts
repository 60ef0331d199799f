/**
 * GET /listen/info is what the listen page shows besides the audio: public when listening is
 * public, behind the listener token when one is set (like /listen, /whep and /stream.mp3), and
 * read-only: the station name, the title and the broadcast state, nothing about listeners.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startHark, type HarkProcess } from './lib/hark.ts';

let hark: HarkProcess;

beforeAll(async () => {
  hark = await startHark(`[access]\nlistener_token = "sesame"\n[webrtc]\nenabled = false\n[[icecast]]\nurl = "http://source:pw@127.0.0.1:9/live.mp3"\nname = "Radio St. Mary"\nenabled = false\n`, { timeoutMs: 60_000 });
}, 60_000);

afterAll(async () => {
  await hark?.stop();
});

describe('GET /listen/info', () => {
  test('needs the listener token when one is set', async () => {
    expect((await fetch(`${hark.url}/listen/info`)).status).toBe(401);
    expect((await fetch(`${hark.url}/listen/info`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const res = await fetch(`${hark.url}/listen/info`, { headers: { authorization: 'Bearer sesame' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  test('the station is the Icecast stream name someone set; the state follows the actions; nothing else', async () => {
    const get = async () => (await (await fetch(`${hark.url}/listen/info?token=sesame`)).json()) as Record<string, string> & { programs: unknown };
    const first = await get();
    expect(first.station).toBe('Radio St. Mary');
    expect(Object.keys(first).sort()).toEqual(['instance', 'main', 'programs', 'state', 'station', 'title']);
    expect(first.programs).toEqual([{ id: 'main', name: 'Main', language: '', muted: false }]);
    for (const [action, state] of [['go_live', 'live'], ['mute', 'muted'], ['stop', 'idle']] as const) {
      expect((await fetch(`${hark.url}/api/actions/${action}`, { method: 'POST' })).status).toBe(200);
      expect((await get()).state).toBe(state);
    }
    expect((await get()).instance).toBe(first.instance);
  });

  test('GET /listen/events: the info at once, then each change of state and title', async () => {
    expect((await fetch(`${hark.url}/listen/events`)).status).toBe(401);
    const res = await fetch(`${hark.url}/listen/events?token=sesame`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toStartWith('text/event-stream');
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    const next = async (): Promise<Record<string, string>> => {
      const t0 = Date.now();
      while (Date.now() - t0 < 5000) {
        const m = /event: info\ndata: (.*)\n\n/.exec(buf);
        if (m) {
          buf = buf.slice(m.index + m[0].length);
          return JSON.parse(m[1]!);
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('the stream ended');
        buf += dec.decode(value, { stream: true });
      }
      throw new Error('no info event within 5 s');
    };
    const first = await next();
    expect(first.station).toBe('Radio St. Mary');
    expect(first.state).toBe('idle');
    await fetch(`${hark.url}/api/actions/go_live`, { method: 'POST' });
    // Live again (still muted from the test before: hark keeps the mute across stop and go).
    expect((await next()).state).toBe('muted');
    await fetch(`${hark.url}/api/actions/unmute`, { method: 'POST' });
    expect((await next()).state).toBe('live');
    await fetch(`${hark.url}/api/metadata`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Evensong' }) });
    let e = await next();
    // A title change may come with or after the state event of the same instant.
    while (e.title !== 'Evensong') e = await next();
    expect(e.state).toBe('live');
    await reader.cancel();
  });
});
