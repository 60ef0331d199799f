/**
 * node-datachannel is loaded at the first WHEP offer, not at start (idle RSS). What that must
 * not cost: the UDP port is still claimed at start, and an addon that cannot load still shows
 * in the status at start, with its reason.
 */
import { describe, expect, test } from 'bun:test';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startHark } from './lib/hark.ts';
import { freeUdpPort, WhepClient } from './lib/whep-client.ts';

const ROOT = resolve(import.meta.dir, '..');
const OFFER = readFileSync(join(import.meta.dir, 'fixtures/webrtc/chromium-offer.sdp'), 'utf8');

type WebRtcStatus = { status: string; reason: string | null };
/** Whether this process could bind `port` now (the socket is closed again at once). */
async function bindable(port: number): Promise<boolean> {
  try {
    (await Bun.udpSocket({ port, hostname: '0.0.0.0' })).close();
    return true;
  } catch {
    return false;
  }
}

const webrtcStatus = async (url: string) => ((await (await fetch(`${url}/api/status`)).json()) as { outputs: { webrtc: WebRtcStatus } }).outputs.webrtc;

describe('WebRTC with node-datachannel loaded lazily', () => {
  test('the UDP port is claimed at start, before any listener, and handed over at the first offer', async () => {
    const udp = await freeUdpPort();
    const hark = await startHark(`[input]\nsource = "tone"\n[webrtc]\nudp_port = ${udp}\n`);
    try {
      await hark.waitFor(new RegExp(`WebRTC on UDP port ${udp}`));
      expect(await bindable(udp)).toBe(false);
      expect((await webrtcStatus(hark.url)).status).toBe('idle');
      const c = await WhepClient.open({ url: `${hark.url}/whep`, record: false });
      await c.close();
      expect(await webrtcStatus(hark.url)).toMatchObject({ reason: null });
      expect(await bindable(udp)).toBe(false);
    } finally {
      await hark.stop();
    }
  }, 60_000);

  test('a UDP port another program holds: hark starts and serves, WebRTC is unavailable and says why', async () => {
    const udp = await freeUdpPort();
    const squatter = await Bun.udpSocket({ port: udp, hostname: '0.0.0.0' });
    try {
      const hark = await startHark(`[input]\nsource = "tone"\n[webrtc]\nudp_port = ${udp}\n`);
      try {
        await hark.waitFor(/WebRTC unavailable/);
        const st = await webrtcStatus(hark.url);
        expect(st.status).toBe('unavailable');
        expect(st.reason).toContain(`UDP port ${udp} cannot be bound`);
        const res = await fetch(`${hark.url}/whep`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: OFFER });
        expect(res.status).toBe(503);
        // Everything else serves.
        const mp3 = await fetch(`${hark.url}/stream.mp3`);
        expect(mp3.status).toBe(200);
        await mp3.body?.cancel();
      } finally {
        await hark.stop();
      }
    } finally {
      squatter.close();
    }
  });

  test('an addon that cannot load: "unavailable" with its reason from start, and WHEP answers 503', async () => {
    // A copy of hark whose node-datachannel addon is not a shared object.
    const root = mkdtempSync(join(tmpdir(), 'hark-broken-addon-'));
    try {
      for (const d of ['src', 'ffi', 'web']) cpSync(join(ROOT, d), join(root, d), { recursive: true });
      cpSync(join(ROOT, 'package.json'), join(root, 'package.json'));
      mkdirSync(join(root, 'node_modules'));
      for (const e of readdirSync(join(ROOT, 'node_modules'))) {
        if (e === 'node-datachannel' || e === '@node-datachannel') cpSync(join(ROOT, 'node_modules', e), join(root, 'node_modules', e), { recursive: true, dereference: true });
        else symlinkSync(join(ROOT, 'node_modules', e), join(root, 'node_modules', e));
      }
      const addons = [...new Bun.Glob('**/*.node').scanSync({ cwd: join(root, 'node_modules/@node-datachannel'), absolute: true })];
      expect(addons.length).toBeGreaterThan(0);
      for (const f of addons) writeFileSync(f, 'not a shared object');

      const hark = await startHark(`[input]\nsource = "tone"\n[webrtc]\nudp_port = ${await freeUdpPort()}\n`, { root });
      try {
        await hark.waitFor(/WebRTC unavailable: node-datachannel cannot be loaded/, 15_000);
        const s = await webrtcStatus(hark.url);
        expect(s.status).toBe('unavailable');
        expect(s.reason).toMatch(/node-datachannel cannot be loaded: .*node_datachannel\.node/);
        const res = await fetch(`${hark.url}/whep`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: OFFER });
        expect(res.status).toBe(503);
        expect(await res.text()).toMatch(/node-datachannel cannot be loaded/);
        // The rest of hark runs on.
        expect((await fetch(`${hark.url}/api/status`)).status).toBe(200);
      } finally {
        await hark.stop();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});
