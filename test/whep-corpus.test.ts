/**
 * WHEP against hostile and broken clients: a corpus of malformed requests, each of which must
 * get its documented 4xx and a reason naming what was wrong, with the daemon serving real
 * listeners afterwards. Also the protocol's happy paths: OPTIONS, ETag/If-Match on PATCH,
 * DELETE, the listener limit, Bearer tokens, ICE server Links and additional hosts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { freeUdpPort, WhepClient } from './lib/whep-client.ts';

const OFFER = readFileSync(join(import.meta.dir, 'fixtures/webrtc/chromium-offer.sdp'), 'utf8');
const TOKEN = 'listen-s3cret';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const SDP = { 'content-type': 'application/sdp', ...AUTH };
const FRAG = { 'content-type': 'application/trickle-ice-sdpfrag', ...AUTH };
const UFRAG = /a=ice-ufrag:(\S+)/.exec(OFFER)![1]!;
const PWD = /a=ice-pwd:(\S+)/.exec(OFFER)![1]!;
const CANDIDATE_FRAG = `a=ice-ufrag:${UFRAG}\r\na=ice-pwd:${PWD}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2113937151 127.0.0.1 9 typ host\r\n`;

let hark: HarkProcess;
/** A session made from the fixture offer (never connects: its peer is a file). */
let session: { location: string; etag: string };

async function post(body: BodyInit, headers: Record<string, string> = SDP) {
  return fetch(`${hark.url}/whep`, { method: 'POST', headers, body });
}

beforeAll(async () => {
  const udp = await freeUdpPort();
  hark = await startHark(`[input]\nsource = "tone"\n[webrtc]\nudp_port = ${udp}\nmax_listeners = 3\ntoken = "${TOKEN}"\n`, { timeoutMs: 60_000 });
  // The fixture offer uses the fixture's ICE credentials, which the PATCH cases reuse.
  const res = await post(OFFER);
  expect(res.status).toBe(201);
  session = { location: new URL(res.headers.get('location')!, hark.url).href, etag: res.headers.get('etag')! };
}, 60_000);

afterAll(async () => {
  await hark?.stop();
}, 30_000);

/** One hostile request: what is sent, the status it must get, and words the reason must contain. */
interface Case {
  name: string;
  send: () => Promise<Response>;
  status: number;
  reason: RegExp;
  headers?: Record<string, RegExp>;
}

const lines10k = 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n' + 'a=x\r\n'.repeat(10_000);
const cases: Case[] = [
  { name: 'no Authorization header', send: () => post(OFFER, { 'content-type': 'application/sdp' }), status: 401, reason: /Bearer token is required/, headers: { 'www-authenticate': /^Bearer/ } },
  { name: 'the wrong token', send: () => post(OFFER, { 'content-type': 'application/sdp', authorization: 'Bearer nope' }), status: 401, reason: /not the one configured/ },
  { name: 'Basic instead of Bearer', send: () => post(OFFER, { 'content-type': 'application/sdp', authorization: 'Basic dTpw' }), status: 401, reason: /not "Bearer <token>"/ },
  { name: 'text/plain', send: () => post(OFFER, { 'content-type': 'text/plain', ...AUTH }), status: 415, reason: /application\/sdp, not text\/plain/ },
  { name: 'JSON', send: () => post(JSON.stringify({ sdp: OFFER }), { 'content-type': 'application/json', ...AUTH }), status: 415, reason: /not application\/json/ },
  { name: 'no Content-Type', send: () => post(new Blob([OFFER]), AUTH), status: 415, reason: /without Content-Type/ },
  { name: 'an empty body', send: () => post(''), status: 400, reason: /offer is empty/ },
  { name: 'only "v=0"', send: () => post('v=0\r\n'), status: 400, reason: /lacks its o=, s=, t= lines/ },
  { name: 'a truncated offer', send: () => post(OFFER.slice(0, 700)), status: 400, reason: /malformed SDP/ },
  { name: 'no audio m= line (session part only)', send: () => post(OFFER.slice(0, OFFER.indexOf('m=audio'))), status: 400, reason: /no m= section/ },
  { name: 'video only', send: () => post(OFFER.replace('m=audio', 'm=video').replace(/m=application[\s\S]*$/, '')), status: 406, reason: /no audio m= section \(only video\)/ },
  { name: 'no codec hark sends', send: () => post(OFFER.replace('SAVPF 111 63 9 0 8 13 110 126', 'SAVPF 13').replace(/m=application[\s\S]*$/, '')), status: 406, reason: /no acceptable audio codec: the offer has cn/ },
  { name: 'a sendonly (publishing) offer', send: () => post(OFFER.replace('a=recvonly', 'a=sendonly').replace(/m=application[\s\S]*$/, '')), status: 406, reason: /sendonly: a WHEP offer must be recvonly/ },
  { name: 'no ICE credentials', send: () => post(OFFER.replace(/a=ice-(ufrag|pwd):[^\r\n]*\r\n/g, '')), status: 400, reason: /no a=ice-ufrag\/a=ice-pwd/ },
  { name: 'no DTLS fingerprint', send: () => post(OFFER.replace(/a=fingerprint:[^\r\n]*\r\n/g, '')), status: 400, reason: /no a=fingerprint/ },
  { name: 'plain RTP/AVP', send: () => post(OFFER.replace('UDP/TLS/RTP/SAVPF', 'RTP/AVP')), status: 400, reason: /RTP\/AVP; WebRTC media needs/ },
  { name: 'payload type 300', send: () => post(OFFER.replace('SAVPF 111', 'SAVPF 300')), status: 400, reason: /payload type 300 is outside 0–127/ },
  { name: 'a NUL byte', send: () => post(OFFER.replace('s=-', 's=\0')), status: 400, reason: /control character 0x00/ },
  { name: 'bytes that are not UTF-8', send: () => post(new Uint8Array([0x76, 0x3d, 0x30, 0x0d, 0x0a, 0xff, 0xfe, 0xc3])), status: 400, reason: /not UTF-8/ },
  { name: 'a 40 KiB body (Content-Length)', send: () => post(OFFER + 'a=x\r\n'.repeat(8000)), status: 413, reason: /at most 32768/ },
  { name: 'a 10,000-line SDP', send: () => post(lines10k), status: 413, reason: /at most 32768/ },
  {
    name: 'a chunked body over 32 KiB (no Content-Length)',
    send: () =>
      post(
        new ReadableStream({
          start(c) {
            for (let i = 0; i < 40; i++) c.enqueue(new TextEncoder().encode('a=' + 'y'.repeat(1022)));
            c.close();
          },
        }),
      ),
    status: 413,
    reason: /over 32768 bytes/,
  },
  { name: '1,200 short lines (under 32 KiB)', send: () => post(OFFER + 'a=x\r\n'.repeat(1200)), status: 400, reason: /hark accepts at most 1000/ },
  { name: 'a 5,000-character line', send: () => post(OFFER.replace('s=-', `s=${'x'.repeat(5000)}`)), status: 400, reason: /characters long; at most 4096/ },
  { name: 'two sections with one mid', send: () => post(OFFER.replace('a=mid:1', 'a=mid:0')), status: 400, reason: /a=mid:0 is used by two/ },
  { name: 'an ice-pwd of 3 characters', send: () => post(OFFER.replace(/a=ice-pwd:[^\r\n]*/g, 'a=ice-pwd:abc')), status: 400, reason: /ice-pwd must be 22–256/ },
  { name: 'GET /whep', send: () => fetch(`${hark.url}/whep`), status: 405, reason: /use POST or OPTIONS/ },
  { name: 'PATCH an unknown session', send: () => fetch(`${hark.url}/whep/no-such-id`, { method: 'PATCH', headers: { ...FRAG, 'if-match': '"x"' }, body: CANDIDATE_FRAG }), status: 404, reason: /no WHEP session no-such-id/ },
  { name: 'DELETE an unknown session', send: () => fetch(`${hark.url}/whep/no-such-id.no-secret`, { method: 'DELETE', headers: AUTH }), status: 404, reason: /no WHEP session no-such-id/ },
  { name: 'DELETE by the id alone (not the Location)', send: () => fetch(`${hark.url}/whep/no-such-id`, { method: 'DELETE', headers: AUTH }), status: 403, reason: /needs its own address \(the Location of its POST \/whep\) or an admin login/ },
  { name: 'an offer from another site\'s page', send: () => post(OFFER, { ...SDP, origin: 'https://evil.example' }), status: 403, reason: /another site's page is refused/ },
  { name: 'PATCH without If-Match', send: () => fetch(session.location, { method: 'PATCH', headers: FRAG, body: CANDIDATE_FRAG }), status: 428, reason: /If-Match with the ETag/ },
  { name: 'PATCH with a stale ETag', send: () => fetch(session.location, { method: 'PATCH', headers: { ...FRAG, 'if-match': '"0000"' }, body: CANDIDATE_FRAG }), status: 412, reason: /does not match the session's ETag/ },
  { name: 'PATCH for an ICE restart (If-Match: *)', send: () => fetch(session.location, { method: 'PATCH', headers: { ...FRAG, 'if-match': '*' }, body: CANDIDATE_FRAG }), status: 422, reason: /ICE restarts are not supported/ },
  { name: 'PATCH with new ICE credentials', send: () => fetch(session.location, { method: 'PATCH', headers: { ...FRAG, 'if-match': session.etag }, body: CANDIDATE_FRAG.replace(UFRAG, 'zzzzzz') }), status: 422, reason: /ICE restarts/ },
  { name: 'PATCH as application/sdp', send: () => fetch(session.location, { method: 'PATCH', headers: { ...SDP, 'if-match': session.etag }, body: CANDIDATE_FRAG }), status: 415, reason: /trickle-ice-sdpfrag/ },
  { name: 'PATCH with a broken candidate', send: () => fetch(session.location, { method: 'PATCH', headers: { ...FRAG, 'if-match': session.etag }, body: 'a=candidate:1 1 udp\r\n' }), status: 400, reason: /malformed a=candidate/ },
  { name: 'PATCH with a 33 KiB fragment', send: () => fetch(session.location, { method: 'PATCH', headers: { ...FRAG, 'if-match': session.etag }, body: 'a=x\r\n'.repeat(7000) }), status: 413, reason: /at most 32768/ },
];

describe('WHEP refusals', () => {
  test(`the corpus has at least 25 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const res = await c.send();
    const body = await res.text();
    expect(`${res.status} ${body}`).toMatch(new RegExp(`^${c.status} `));
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(JSON.parse(body).error).toMatch(c.reason);
    // Browsers must be able to read every refusal (CORS).
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    for (const [h, re] of Object.entries(c.headers ?? {})) expect(res.headers.get(h) ?? '').toMatch(re);
  }, 15_000);
});

describe('WHEP resources', () => {
  test('OPTIONS announces application/sdp and CORS', async () => {
    const res = await fetch(`${hark.url}/whep`, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('accept-post')).toBe('application/sdp');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')).toContain('Authorization');
    expect(res.headers.get('access-control-expose-headers')).toContain('Location');
    expect(res.headers.get('link')).toBeNull(); // no ICE servers configured here
  });

  test('a PATCH with the ETag (alone or in a list) is 204', async () => {
    const ok = await fetch(session.location, { method: 'PATCH', headers: { ...FRAG, 'if-match': session.etag }, body: CANDIDATE_FRAG });
    expect(ok.status).toBe(204);
    const list = await fetch(session.location, { method: 'PATCH', headers: { ...FRAG, 'if-match': `"other", ${session.etag}` }, body: 'a=end-of-candidates\r\n' });
    expect(list.status).toBe(204);
  });

  test('max_listeners: past 3 listeners, 503 with Retry-After; DELETE frees a place', async () => {
    const made: Response[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 4 && !refused; i++) {
      const r = await post(OFFER);
      if (r.status === 201) made.push(r);
      else refused = r;
    }
    expect(refused?.status).toBe(503);
    const count = ((await (await fetch(`${hark.url}/api/listeners`)).json()) as { webrtc: unknown[] }).webrtc.length;
    expect(count).toBe(3);
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await refused!.json()).error).toMatch(/maximum of 3 WebRTC listeners \(webrtc.max_listeners\)/);
    for (const r of made) {
      const del = await fetch(new URL(r.headers.get('location')!, hark.url), { method: 'DELETE', headers: AUTH });
      expect(del.status).toBe(200);
    }
    const again = await fetch(new URL(made[0]!.headers.get('location')!, hark.url), { method: 'DELETE', headers: AUTH });
    expect(again.status).toBe(404);
    expect((await post(OFFER)).status).toBe(201);
  }, 30_000);

  test('after all that, a real listener still connects and receives audio', async () => {
    const client = await WhepClient.open({ url: `${hark.url}/whep`, token: TOKEN });
    await Bun.sleep(1000);
    expect(client.packetCount).toBeGreaterThan(50);
    const listeners = (await (await fetch(`${hark.url}/api/listeners`)).json()) as { webrtc: { state: string }[] };
    expect(listeners.webrtc.map((l) => l.state)).toContain('connected');
    expect(await client.close()).toBe(200);
    expect(hark.proc.exitCode).toBeNull();
  }, 30_000);
});

describe('ICE servers and additional hosts', () => {
  let h2: HarkProcess;
  let udp = 0;
  beforeAll(async () => {
    udp = await freeUdpPort();
    // A STUN server that answers nothing: gathering gives up on it, the answer still comes.
    h2 = await startHark(
      `[input]\nsource = "tone"\n[webrtc]\nudp_port = ${udp}\nadditional_hosts = ["203.0.113.7"]\n` +
        `[[webrtc.ice_servers]]\nurl = "stun:127.0.0.1:9"\n[[webrtc.ice_servers]]\nurl = "turn:127.0.0.1:9?transport=udp"\nusername = "u"\ncredential = "p"\n`,
      { timeoutMs: 60_000 },
    );
  }, 60_000);
  afterAll(async () => {
    await h2?.stop();
  }, 30_000);

  test('OPTIONS and the 201 carry Link rel="ice-server"; the answer has the extra host on the shared port', async () => {
    const opt = await fetch(`${h2.url}/whep`, { method: 'OPTIONS' });
    expect(opt.headers.get('link')).toBe('<stun:127.0.0.1:9>; rel="ice-server", <turn:127.0.0.1:9?transport=udp>; rel="ice-server"; username="u"; credential="p"; credential-type="password"');
    const t0 = performance.now();
    const res = await fetch(`${h2.url}/whep`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: OFFER });
    expect(res.status).toBe(201);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(res.headers.get('link')).toContain('rel="ice-server"');
    const answer = await res.text();
    expect(answer).toMatch(new RegExp(`a=candidate:h1 1 UDP \\d+ 203\\.0\\.113\\.7 ${udp} typ host`));
    // Every host candidate is on the one shared port.
    const ports = [...answer.matchAll(/a=candidate:\S+ 1 UDP \d+ \S+ (\d+) typ host/g)].map((m) => Number(m[1]));
    expect(ports.length).toBeGreaterThan(1);
    expect(new Set(ports)).toEqual(new Set([udp]));
  }, 30_000);
});
