/**
 * Many listeners: 20 node-datachannel listeners in a process of their own get every packet
 * with consecutive sequence numbers and sample-clock timestamps from one shared encoder; then
 * 300 join/leave cycles leave no peer connection, thread or significant memory behind.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { freeUdpPort, WhepClient, type SwarmResult } from './lib/whep-client.ts';

let hark: HarkProcess;

interface Status {
  outputs: { webrtc: { listeners: number; peer_connections: number; encoders: string[]; listeners_served: number } };
}
const status = async () => ((await (await fetch(`${hark.url}/api/status`)).json()) as Status).outputs.webrtc;
const listeners = async () => ((await (await fetch(`${hark.url}/api/listeners`)).json()) as { webrtc: Record<string, unknown>[] }).webrtc;
const threads = () => readdirSync(`/proc/${hark.proc.pid}/task`).length;

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await Bun.sleep(100);
  }
}

beforeAll(async () => {
  const udp = await freeUdpPort();
  hark = await startHark(`[input]\nsource = "tone"\n[webrtc]\nudp_port = ${udp}\nmax_listeners = 200\nmax_listeners_per_address = 0\n`, { env: { HARK_LOG_LEVEL: 'info' }, timeoutMs: 60_000 });
}, 60_000);

afterAll(async () => {
  await hark?.stop();
}, 30_000);

describe('WebRTC under load', () => {
  test('20 concurrent listeners from another process: every packet, in order, on the sample clock', async () => {
    const SECONDS = 5;
    const swarm = Bun.spawn(['bun', join(import.meta.dir, 'lib/whep-client.ts'), '--url', `${hark.url}/whep`, '--n', '20', '--seconds', String(SECONDS)], {
      stdout: 'pipe',
      stderr: 'pipe',
    });
    // While they play: the server sees 20 connected listeners sharing one encoder.
    await until(async () => (await listeners()).filter((l) => l.state === 'connected').length === 20, 15_000, '20 listeners connected');
    await Bun.sleep(2500);
    const live = await listeners();
    expect(new Set(live.map((l) => l.codec))).toEqual(new Set(['opus/111 96 kbit/s stereo 10 ms fec']));
    expect((await status()).encoders).toHaveLength(1);
    // Receiver reports have come back (SR → RR with LSR): every listener has an RTT.
    for (const l of live) {
      expect(Number(l.packets)).toBeGreaterThan(100);
      expect(l.rtt_ms).not.toBeNull();
    }

    const [out, err, code] = await Promise.all([new Response(swarm.stdout).text(), new Response(swarm.stderr).text(), swarm.exited]);
    expect(code, err).toBe(0);
    const results = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r): r is SwarmResult => 'index' in r);
    expect(results).toHaveLength(20);
    for (const r of results) {
      expect(r.error).toBeUndefined();
      expect(r).toMatchObject({ status: 201, payloadTypes: [111], seqErrors: 0, tsErrors: 0, tsStep: 480 });
      // About SECONDS × 100 packets (the connection takes a moment).
      expect(r.packets).toBeGreaterThan(SECONDS * 100 * 0.85);
      expect(r.packets).toBeLessThan(SECONDS * 100 * 1.3); // counted until each listener's DELETE
      // Timestamps advance with the sample clock: RTP time over arrival time ≈ 1.
      expect(r.clockRatio!).toBeGreaterThan(0.97);
      expect(r.clockRatio!).toBeLessThan(1.03);
    }
    // One SSRC per listener.
    expect(new Set(results.map((r) => r.ssrc)).size).toBe(20);
    await until(async () => (await status()).listeners === 0, 5000, 'swarm sessions deleted');
  }, 60_000);

  test('300 join/leave cycles: no peer connection, thread or memory left behind', async () => {
    const url = `${hark.url}/whep`;
    const clientFailures: string[] = [];
    const cycle = async (i: number, attempt = 0): Promise<void> => {
      const c = new WhepClient({ url, record: false });
      try {
        await c.connect();
        await c.waitFor('connected');
      } catch (e) {
        // libdatachannel's client side now and then gives up before it has the answer on a
        // loaded machine; that listener's try is repeated, and counted.
        await c.close();
        clientFailures.push((e as Error).message);
        if (attempt < 2) return cycle(i, attempt + 1);
        throw e;
      }
      // Every fifth listener leaves without DELETE (just closing its connection).
      await c.close({ abandon: i % 5 === 0 });
    };
    const batch = async (from: number, n: number) => Promise.all(Array.from({ length: n }, (_, k) => cycle(from + k)));

    // Warm-up in the same pattern: allocators, JIT and thread pools reach their working size.
    for (let i = 0; i < 60; i += 10) await batch(i, 10);
    await until(async () => (await status()).listeners === 0, 15_000, 'warm-up sessions gone');
    await Bun.sleep(6000); // the output collects and trims 5 s after the last listener left
    clientFailures.length = 0;
    const before = { rssKb: hark.rssKb(), threads: threads(), served: (await status()).listeners_served };

    for (let i = 0; i < 300; i += 10) await batch(i, 10);
    await until(async () => (await status()).listeners === 0, 15_000, 'all 300 sessions gone');
    await Bun.sleep(6000);
    const s = await status();
    const after = { rssKb: hark.rssKb(), threads: threads() };
    console.log(`churn: RSS ${before.rssKb} → ${after.rssKb} kB (${((after.rssKb - before.rssKb) / 1024).toFixed(1)} MB), threads ${before.threads} → ${after.threads}`);
    expect(clientFailures.length, clientFailures.join('\n')).toBeLessThanOrEqual(6);
    expect(s.listeners_served - before.served).toBe(300 + clientFailures.length);
    expect(s.peer_connections).toBe(0);
    expect(after.threads).toBeLessThanOrEqual(before.threads + 1);
    expect(after.rssKb - before.rssKb).toBeLessThan(10 * 1024);
    expect(hark.proc.exitCode).toBeNull();
  }, 180_000);
});
