/**
 * Pages and their assets go out gzipped to a client that accepts it (with Vary), and decode to
 * the same bytes as the plain answer; the audio stream and the SSE stream never are (they must
 * flow as they are made).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { gunzipSync } from 'node:zlib';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { postLogin } from './lib/session.ts';

const PASSWORD = 'correct horse battery';
let hark: HarkProcess;
let session = '';

/** A GET without Bun's own decompression, so the test sees what went over the wire. */
function get(path: string, encoding: string, extra: Record<string, string> = {}): Promise<Response> {
  return fetch(`${hark.url}${path}`, { headers: { 'accept-encoding': encoding, cookie: session, ...extra }, decompress: false, redirect: 'manual' } as RequestInit);
}

/** Log in through the login form, as a browser would (its CSRF cookie and field). */
async function login(): Promise<string> {
  const res = await postLogin(hark.url, PASSWORD, { origin: hark.url });
  expect(res.status).toBe(303);
  return res.headers.getSetCookie().map((c) => c.split(';')[0]!).filter((c) => !c.endsWith('=')).join('; ');
}

beforeAll(async () => {
  hark = await startHark(`[webrtc]\nudp_port = 29350\n[admin]\npassword = "${PASSWORD}"\n`);
  session = await login();
}, 60_000);

afterAll(async () => {
  expect(await hark?.stop()).toBe(0);
});

describe('compression', () => {
  const PATHS = ['/', '/input', '/outputs', '/system', '/login', '/listen', '/static/listen.js', '/static/listen.css', '/static/admin.css', '/static/admin.js', '/static/htmx.min.js'];
  for (const path of PATHS) {
    test(`${path}: gzip when accepted, the same bytes once decoded, Vary: Accept-Encoding`, async () => {
      const plain = await get(path, 'identity');
      expect(plain.status).toBe(200);
      expect(plain.headers.get('content-encoding')).toBeNull();
      const body = new Uint8Array(await plain.arrayBuffer());
      const gz = await get(path, 'gzip, deflate, br');
      expect(gz.status).toBe(200);
      expect(gz.headers.get('content-encoding')).toBe('gzip');
      expect(gz.headers.get('vary') ?? '').toMatch(/accept-encoding/i);
      const wire = new Uint8Array(await gz.arrayBuffer());
      const decoded = new Uint8Array(gunzipSync(wire));
      // Pages embed per-request values: the login form's CSRF token, uptimes, the dashboard's clock.
      const same = (b: Uint8Array) => Buffer.from(b).toString('utf8').replace(/name="_csrf" value="[^"]*"/g, '').replace(/\d+ s\b|\d+ min/g, '').replace(/data-now="\d+"/g, '');
      expect(same(decoded)).toBe(same(body));
      expect(wire.byteLength).toBeLessThan(body.byteLength * 0.75);
    }, 20_000);
  }

  test('/stream.mp3 and /events are not compressed and start flowing at once', async () => {
    for (const [path, type] of [
      ['/stream.mp3', 'audio/mpeg'],
      ['/events?page=dashboard', 'text/event-stream'],
    ] as const) {
      const ac = new AbortController();
      const t0 = performance.now();
      const res = await fetch(`${hark.url}${path}`, { headers: { 'accept-encoding': 'gzip, br', cookie: session }, decompress: false, signal: ac.signal } as RequestInit);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toStartWith(type);
      expect(res.headers.get('content-encoding')).toBeNull();
      const reader = res.body!.getReader();
      const first = await reader.read();
      const ms = performance.now() - t0;
      expect(first.value!.byteLength).toBeGreaterThan(0);
      if (type === 'text/event-stream') expect(new TextDecoder().decode(first.value!)).toStartWith('retry: 2000');
      else expect(first.value![0]).toBe(0xff); // an MPEG frame sync, not a gzip header (0x1f)
      expect(ms).toBeLessThan(3000);
      ac.abort();
      await reader.cancel().catch(() => {});
    }
  }, 30_000);
});
