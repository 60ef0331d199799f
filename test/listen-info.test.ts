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
    const get = async () => (await (await fetch(`${hark.url}/listen/info?token=sesame`)).json()) as Record<string, string>;
    const first = await get();
    expect(first.station).toBe('Radio St. Mary');
    expect(Object.keys(first).sort()).toEqual(['instance', 'state', 'station', 'title']);
    for (const [action, state] of [['go_live', 'live'], ['mute', 'muted'], ['stop', 'idle']] as const) {
      expect((await fetch(`${hark.url}/api/actions/${action}`, { method: 'POST' })).status).toBe(200);
      expect((await get()).state).toBe(state);
    }
    expect((await get()).instance).toBe(first.instance);
  });
});
