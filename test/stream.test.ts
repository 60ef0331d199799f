/**
 * GET /stream.mp3 and the HTTP surface of a real daemon playing its test tone.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startHark, readStreamFor, type HarkProcess } from './lib/hark.ts';
import { channel, decodeWithFfmpeg, dominantFrequency, rmsDbfs } from './lib/signal.ts';

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
      const left = channel(await decodeWithFfmpeg(r.bytes, { channels: 2 }), 2, 0);
      const tail = left.subarray(Math.floor(left.length / 4)); // skip the decoder's start
      expect(Math.abs(dominantFrequency(tail, 48000) - 1000)).toBeLessThan(2);
      // A -12 dBFS sine is -12 dBFS RMS by AES17. LAME at 128 kbit/s comes out 0.45 dB low
      // (the lame CLI does the same on the same tone), so allow 0.75 dB.
      expect(Math.abs(rmsDbfs(tail) - -12)).toBeLessThan(0.75);
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
    // A private network namespace with a 32 kB TCP send buffer: the kernel cannot absorb
    // minutes of stream for the stalled client, so hark's own bounded queue is what fills.
    const inner = 'ip link set lo up && echo "4096 16384 32768" > /proc/sys/net/ipv4/tcp_wmem && exec "$0" test/fixtures/stalled-listener.ts';
    const ns = process.getuid?.() === 0 ? ['unshare', '-n'] : ['unshare', '-rn'];
    const p = Bun.spawn([...ns, 'sh', '-c', inner, process.execPath], { stdout: 'pipe', stderr: 'inherit' });
    const out = await new Response(p.stdout).text();
    expect(await p.exited).toBe(0);
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.after).toBe(r.before + 1);
    expect(r.log).toMatch(/listener \d+ from 127\.0\.0\.1 fell \d+ bytes behind: disconnected/);
    // 64 kB queue + 32 kB socket buffer at 40 kB/s: dropped within a few seconds.
    expect(r.droppedAfterMs).toBeLessThan(10_000);
    expect(r.rssGrowthKb).toBeLessThan(8 * 1024);
    expect(r.healthyStatus).toBe(200);
    // 15 s at 320 kbit/s is 600 kB: the healthy listener kept getting the live stream.
    expect(r.healthyBytes).toBeGreaterThan(40_000 * 13);
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
