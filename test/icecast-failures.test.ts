/**
 * Icecast failures against a real icecast2: a wrong password shows "auth failed" and does not
 * hammer; a taken mount shows as such; and icecast killed 10 times mid-stream — each time it
 * comes back hark reconnects within its backoff, while /stream.mp3 keeps playing without a
 * gap and the recording goes on.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SourceConnection } from '../src/outputs/icecast/connection.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { startIcecast, type IcecastServer } from './lib/icecast.ts';
import { channel, decodeWithFfmpeg, dominantFrequency } from './lib/signal.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

async function outputStatus(h: HarkProcess, id: string) {
  const s = await (await fetch(`${h.url}/api/status`)).json();
  return s.outputs.icecast.find((o: { id: string }) => o.id === id);
}

async function until<T>(f: () => Promise<T>, pred: (v: T) => boolean, ms: number, what: string): Promise<T> {
  const end = performance.now() + ms;
  let v: T;
  do {
    v = await f();
    if (pred(v)) return v;
    await Bun.sleep(50);
  } while (performance.now() < end);
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
}

describe('refusals', () => {
  test('wrong password: "auth failed", next try ≥ 30 s away, no hammering; a taken mount shows "mount in use"', async () => {
    const ice = await startIcecast();
    cleanup.push(() => ice.stop());
    // Someone else holds /taken.mp3.
    const other = await SourceConnection.open(
      { host: '127.0.0.1', port: ice.port, mount: '/taken.mp3', user: 'source', password: ice.sourcePassword },
      'PUT',
      { name: 'other', description: '', genre: '', url: '', public: false, format: 'mp3', bitrateKbps: 128, channels: 2, sampleRate: 48000 },
    );
    cleanup.push(async () => other.close());
    const h = await startHark(`
[input]
source = "tone"
[[icecast]]
id = "badpw"
url = "http://source:wrong@127.0.0.1:${ice.port}/bad.mp3"
[[icecast]]
id = "taken"
url = "http://source:${ice.sourcePassword}@127.0.0.1:${ice.port}/taken.mp3"
`);
    cleanup.push(() => h.stop());

    const bad = await until(() => outputStatus(h, 'badpw'), (o) => o.state === 'auth_failed', 5000, 'auth_failed');
    expect(bad.status).toMatch(/^auth failed: check user and password \(retrying in \d+ s\)$/);
    expect(bad.last_error).toContain('401');
    expect(bad.retry_in_s).toBeGreaterThanOrEqual(30);
    expect(Date.parse(bad.next_retry_at) - Date.now()).toBeGreaterThanOrEqual(29_000);
    expect(h.output()).toMatch(/\[icecast badpw\] auth failed \(401[^)]*\); retrying in \d+\.\d s/);

    const taken = await until(() => outputStatus(h, 'taken'), (o) => o.state === 'mount_in_use', 5000, 'mount_in_use');
    expect(taken.status).toMatch(/^mount in use: another source is connected to \/taken\.mp3 \(retrying in \d+ s\)$/);
    expect(taken.retry_in_s).toBeGreaterThanOrEqual(30);

    // Three seconds later: still one attempt each, the same scheduled retry, nothing streamed.
    await Bun.sleep(3000);
    const bad2 = await outputStatus(h, 'badpw');
    const taken2 = await outputStatus(h, 'taken');
    expect(bad2.attempts).toBe(1);
    expect(bad2.next_retry_at).toBe(bad.next_retry_at);
    expect(taken2.attempts).toBe(1);
    expect(bad2.bytes + taken2.bytes).toBe(0);
    expect((await ice.sources()).has('/bad.mp3')).toBe(false);
  }, 30_000);
});

describe('icecast killed 10 times mid-stream', () => {
  test('hark reconnects within its backoff each time; /stream.mp3 and the recording never stop', async () => {
    const ice = await startIcecast();
    cleanup.push(() => ice.stop());
    const recDir = mkdtempSync(join(tmpdir(), 'hark-kill-rec-'));
    const h = await startHark(`
[input]
source = "tone"
[tone]
frequency = 997
[[icecast]]
id = "main"
url = "http://source:${ice.sourcePassword}@127.0.0.1:${ice.port}/k.mp3"
[recording]
enabled = true
dir = "${recDir}"
format = "mp3"
# One file for the whole test, even across a full hour.
rotate_minutes = 0
`);
    cleanup.push(() => h.stop());
    await ice.waitForSource('/k.mp3');

    // An HTTP listener on hark for the whole test: when each chunk arrived.
    const ac = new AbortController();
    const res = await fetch(`${h.url}/stream.mp3`, { signal: ac.signal });
    const arrivals: number[] = [];
    let bytes = 0;
    const listenStart = performance.now();
    const listening = (async () => {
      try {
        for await (const c of res.body!) {
          arrivals.push(performance.now());
          bytes += c.byteLength;
        }
      } catch {}
    })();

    const reconnectMs: number[] = [];
    for (let i = 0; i < 10; i++) {
      // Stay up past the backoff's "stable" time, so each outage starts the sequence afresh.
      await Bun.sleep(2300);
      await ice.kill();
      const noticed = await until(() => outputStatus(h, 'main'), (o) => o.state !== 'live', 3000, 'hark to notice the kill');
      expect(['retrying', 'connecting']).toContain(noticed.state);
      await Bun.sleep(700); // the outage
      await ice.restart();
      const back = performance.now();
      const o = await outputStatus(h, 'main');
      // Its next try is scheduled no later than 1 s away (first backoff step) — or it is
      // connecting right now; either way it must be live within that plus a connect.
      const dueIn = o.next_retry_at ? Math.max(0, Date.parse(o.next_retry_at) - Date.now()) : 0;
      expect(dueIn).toBeLessThanOrEqual(2000);
      await ice.waitForSource('/k.mp3', dueIn + 3000);
      reconnectMs.push(Math.round(performance.now() - back));
      const rec = (await (await fetch(`${h.url}/api/status`)).json()).outputs.recording;
      expect(rec.state).toBe('recording');
    }
    const live = await until(() => outputStatus(h, 'main'), (o) => o.state === 'live', 3000, 'live');
    expect(live.connects).toBe(11);
    ac.abort();
    await listening;
    const listenedMs = performance.now() - listenStart;

    // The listener: no gap (MP3 frames come every 24 ms), and the full bitrate.
    let maxGap = 0;
    for (let i = 1; i < arrivals.length; i++) maxGap = Math.max(maxGap, arrivals[i]! - arrivals[i - 1]!);
    console.log(`[kill x10] reconnect after restart (ms): ${reconnectMs.join(' ')}; listener max gap ${maxGap.toFixed(0)} ms over ${(listenedMs / 1000).toFixed(1)} s`);
    expect(maxGap).toBeLessThan(500);
    expect(bytes).toBeGreaterThan((128_000 / 8) * (listenedMs / 1000) * 0.9);
    expect(Math.max(...reconnectMs)).toBeLessThan(3500);

    // The recording: one file, still growing, the whole time in it.
    const st = (await (await fetch(`${h.url}/api/status`)).json()).outputs.recording;
    expect(st.files_started).toBe(1);
    const started = Date.parse(st.file_started_at);
    await h.stop();
    const pcm = await decodeWithFfmpeg(join(recDir, st.file), { channels: 2 });
    const seconds = pcm.length / 2 / 48000;
    expect(seconds).toBeGreaterThanOrEqual((Date.now() - started) / 1000 - 2);
    expect(Math.abs(dominantFrequency(channel(pcm, 2, 0).subarray(48000, 48000 * 4)) - 997)).toBeLessThan(2);
  }, 120_000);
});
