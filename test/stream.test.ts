/**
 * GET /stream.mp3 and the HTTP surface of a real daemon playing its test tone.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startHark, readStreamFor, type HarkProcess } from './lib/hark.ts';
import { decodeWithFfmpeg, dominantFrequency, rmsDbfs } from './lib/signal.ts';

let hark: HarkProcess;

beforeAll(async () => {
  hark = await startHark(`
[input]
source = "tone"
[tone]
frequency = 1000
level_dbfs = -12
[stream]
queue_kb = 64
`);
});

afterAll(async () => {
  expect(await hark.stop()).toBe(0);
});

describe('/stream.mp3', () => {
  test('three concurrent listeners each decode the 1 kHz tone at its level', async () => {
    const results = await Promise.all([0, 1, 2].map(() => readStreamFor(`${hark.url}/stream.mp3`, 3000)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('audio/mpeg');
      // 128 kbit/s for ~3 s is ~48 kB.
      expect(r.bytes.byteLength).toBeGreaterThan(30_000);
      const pcm = await decodeWithFfmpeg(r.bytes, { channels: 1 });
      const tail = pcm.subarray(Math.floor(pcm.length / 4)); // skip the decoder's start
      expect(Math.abs(dominantFrequency(tail, 48000) - 1000)).toBeLessThan(2);
      // A -12 dBFS sine has an RMS of -15.0 dBFS.
      expect(Math.abs(rmsDbfs(tail) - -15.05)).toBeLessThan(0.5);
    }
  });

  test('playback starts within 300 ms, with no burst of old audio', async () => {
    const r = await readStreamFor(`${hark.url}/stream.mp3`, 1000);
    expect(r.firstByteMs).toBeGreaterThanOrEqual(0);
    expect(r.firstByteMs).toBeLessThan(300);
    // In 1 s a live 128 kbit/s stream carries ~16 kB; a burst on connect would show as much more.
    expect(r.bytes.byteLength).toBeLessThan(16_000 * 1.6);
    expect(r.bytes.byteLength).toBeGreaterThan(8_000);
  });

  test('a stalled listener is disconnected and counted; memory stays bounded; others keep playing', async () => {
    const before = (await (await fetch(`${hark.url}/api/status`)).json()).outputs.http_mp3;
    // A client that connects, asks for the stream and never reads: a tiny receive buffer
    // makes the server side fill up in seconds instead of minutes.
    const stalled = Bun.spawn(
      [
        'python3',
        '-c',
        `import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(('127.0.0.1', ${hark.port}))
s.sendall(b'GET /stream.mp3 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')
time.sleep(60)`,
      ],
      { stdout: 'ignore', stderr: 'inherit' },
    );
    const rss0 = hark.rssKb();
    const healthy = readStreamFor(`${hark.url}/stream.mp3`, 12_000);
    let after = before;
    const deadline = performance.now() + 40_000;
    while (performance.now() < deadline) {
      await Bun.sleep(500);
      after = (await (await fetch(`${hark.url}/api/status`)).json()).outputs.http_mp3;
      if (after.slow_disconnects > before.slow_disconnects) break;
    }
    stalled.kill();
    expect(after.slow_disconnects).toBe(before.slow_disconnects + 1);
    expect(hark.output()).toMatch(/\[http stream\.mp3\] listener \d+ from 127\.0\.0\.1 fell \d+ bytes behind: disconnected/);
    // The queue is 64 kB; RSS may not grow by more than a few MB while the client stalls.
    expect(hark.rssKb() - rss0).toBeLessThan(8 * 1024);
    const h = await healthy;
    expect(h.status).toBe(200);
    // 12 s at 16 kB/s: the healthy listener kept getting the live stream meanwhile.
    expect(h.bytes.byteLength).toBeGreaterThan(16_000 * 10);
  }, 60_000);
});

describe('HTTP', () => {
  test('GET /api/status reports version, uptime, input, levels and outputs', async () => {
    const res = await fetch(`${hark.url}/api/status`);
    expect(res.status).toBe(200);
    const s = await res.json();
    expect(s.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(s.uptime_s).toBeGreaterThanOrEqual(0);
    expect(s.input).toMatchObject({ source: 'tone', state: 'running', format: { rate: 48000, channels: 2, sampleFormat: 'f32' } });
    expect(s.levels.peak_dbfs).toHaveLength(2);
    expect(s.levels.peak_dbfs[0]).toBeCloseTo(-12, 0);
    expect(s.levels.rms_dbfs[0]).toBeCloseTo(-15, 0);
    expect(s.outputs.http_mp3).toMatchObject({ path: '/stream.mp3' });
    expect(typeof s.outputs.http_mp3.bytes).toBe('number');
    expect(typeof s.outputs.http_mp3.listeners).toBe('number');
  });

  test('an unknown route is a 404 with a JSON reason', async () => {
    const res = await fetch(`${hark.url}/no/such/thing?x=1`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.json()).toEqual({ error: 'no such resource: GET /no/such/thing', path: '/no/such/thing' });
  });

  test('hostile requests never crash the daemon', async () => {
    const reqs: [string, RequestInit][] = [
      ['/api/status', { method: 'POST', body: 'x'.repeat(100_000) }],
      ['/stream.mp3', { method: 'DELETE' }],
      ['/%00%ff', {}],
      ['/api/status', { method: 'GET', headers: { 'content-type': 'application/json' }, body: undefined }],
      [`/${'a/'.repeat(2000)}`, {}],
    ];
    for (const [path, init] of reqs) {
      const res = await fetch(`${hark.url}${path}`, init);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    expect((await fetch(`${hark.url}/api/status`)).status).toBe(200);
  });
});
