/**
 * The daemon capturing real PipeWire (private pipewire + wireplumber from test/lib/pipewire.ts):
 * input.source = "pipewire" and "auto", /api/devices, and hot-plug with a listener connected.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startPipewire, type PipewireHarness } from './lib/pipewire.ts';
import { startHark, readStreamFor } from './lib/hark.ts';
import { WhepClient } from './lib/whep-client.ts';
import { DeviceRegistry } from '../src/audio/devices.ts';
import { channel, decodeWithFfmpeg, dominantFrequency, peakDbfs, rmsDbfs } from './lib/signal.ts';

let pw: PipewireHarness;

beforeAll(async () => {
  pw = await startPipewire();
});

afterAll(async () => {
  await pw?.stop();
});

const status = async (url: string) => (await (await fetch(`${url}/api/status`)).json()) as {
  input: { source: string; state: string; message: string; device: string; stats: Record<string, number> };
};

describe('input.source = "pipewire"', () => {
  test('captures the sink monitor: /stream.mp3 carries the tone played into PipeWire', async () => {
    const player = pw.play({ frequency: 1000, seconds: 30, levelDbfs: -12 }, { target: pw.sinkName });
    const hark = await startHark(`[input]\nsource = "pipewire"\ndevice = "${pw.sinkName}"\n[webrtc]\nudp_port = 28301\n`, { env: pw.env });
    try {
      let s = await status(hark.url);
      for (let i = 0; i < 40 && s.input.state !== 'running'; i++) {
        await Bun.sleep(100);
        s = await status(hark.url);
      }
      expect(s.input).toMatchObject({ source: 'pipewire', state: 'running', device: pw.sinkName });
      const r = await readStreamFor(`${hark.url}/stream.mp3`, 3000);
      const left = channel(await decodeWithFfmpeg(r.bytes, { channels: 2 }), 2, 0);
      const tail = left.subarray(Math.floor(left.length / 3));
      expect(Math.abs(dominantFrequency(tail) - 1000)).toBeLessThan(2);
      // -12 dBFS through PipeWire and LAME (which reads a pure tone ~0.45 dB low at 128 kbit/s).
      // The median of 50 ms windows: on a loaded machine pw-play itself may miss a cycle, and
      // the silence it leaves is the player's, not capture's (capture's own loss is
      // ringOverruns, checked below).
      const windows: number[] = [];
      for (let i = 0; i + 2400 <= tail.length; i += 2400) windows.push(rmsDbfs(tail.subarray(i, i + 2400)));
      windows.sort((a, b) => a - b);
      expect(Math.abs(windows[windows.length >> 1]! - -12)).toBeLessThan(0.75);
      s = await status(hark.url);
      expect(s.input.stats.callbacks).toBeGreaterThan(50); // 23 cycles a second at the relaxed 2048
      // No WebRTC listener: the relaxed quantum (input.relaxed_latency_frames).
      expect(s.input.stats.quantum).toBe(2048);
      expect(s.input.stats.ringOverruns).toBe(0);
      // A WebRTC listener brings the short quantum (input.latency_frames); when it leaves the
      // relaxed one comes back. A /stream.mp3 listener hears the tone throughout.
      const quantum = async (want: number) => {
        for (let i = 0; i < 40 && (s = await status(hark.url)).input.stats.quantum !== want; i++) await Bun.sleep(100);
        return s.input.stats.quantum;
      };
      const through = readStreamFor(`${hark.url}/stream.mp3`, 5000);
      await Bun.sleep(1000);
      const whep = await WhepClient.open({ url: `${hark.url}/whep`, record: false });
      expect(await quantum(128)).toBe(128);
      await Bun.sleep(1000);
      await whep.close();
      expect(await quantum(2048)).toBe(2048);
      const mp3 = channel(await decodeWithFfmpeg((await through).bytes, { channels: 2 }), 2, 0);
      expect(Math.abs(dominantFrequency(mp3.subarray(Math.floor(mp3.length / 3))) - 1000)).toBeLessThan(2);
      expect(s.input.stats.quantumChanges).toBeGreaterThanOrEqual(2);
      expect(s.input.stats.quantumChangeXruns).toBe(0);
      expect(s.input.stats.ringOverruns).toBe(0);
    } finally {
      await hark.stop();
      await player.stop();
    }
  });

  test('hot-plug while a /stream.mp3 listener is connected: lost, back within 1 s, the listener never dropped', async () => {
    const player = pw.play({ frequency: 440, seconds: 120, levelDbfs: -12 }, { target: pw.sinkName });
    const hark = await startHark(`[input]\nsource = "pipewire"\ndevice = "${pw.sinkName}"\n[webrtc]\nudp_port = 28302\n`, { env: pw.env });
    const CYCLES = 20;
    try {
      let s = await status(hark.url);
      for (let k = 0; k < 100 && s.input.state !== 'running'; k++) {
        await Bun.sleep(50);
        s = await status(hark.url);
      }
      expect(s.input.state).toBe('running');
      const listening = readStreamFor(`${hark.url}/stream.mp3`, 600_000);
      const resumeMs: number[] = [];
      for (let i = 0; i < CYCLES; i++) {
        await pw.destroyNode(pw.sinkName);
        s = await status(hark.url);
        for (let k = 0; k < 50 && s.input.state === 'running'; k++) {
          await Bun.sleep(50);
          s = await status(hark.url);
        }
        expect(s.input.state).toBe('lost');
        expect(s.input.message).toBe('device lost');
        // The loss is an alert too (notifiers, the clip and the fallback act on it).
        const lost = ((await (await fetch(`${hark.url}/api/status`)).json()) as { alerts: { id: string; message: string }[] }).alerts;
        expect(lost.find((a) => a.id === 'input.lost')?.message).toBe('Input lost: device lost.');
        await pw.recreateNode(pw.sinkName);
        const t0 = performance.now();
        while (s.input.state !== 'running' && performance.now() - t0 < 5000) {
          await Bun.sleep(20);
          s = await status(hark.url);
        }
        resumeMs.push(performance.now() - t0);
      }
      const st = (await (await fetch(`${hark.url}/api/status`)).json()) as {
        outputs: { http_mp3: { listeners: number; slow_disconnects: number } };
        alerts: { id: string }[];
      };
      expect(st.alerts.map((a) => a.id)).not.toContain('input.lost');
      expect(st.outputs.http_mp3.listeners).toBe(1);
      expect(st.outputs.http_mp3.slow_disconnects).toBe(0);
      console.log(`[capture test] resume after re-plug: max ${Math.max(...resumeMs).toFixed(0)} ms, all ${resumeMs.map((m) => m.toFixed(0)).join(' ')}`);
      expect(Math.max(...resumeMs)).toBeLessThan(1000);
      await hark.stop();
      const r = await listening;
      // The listener saw the whole run as one response, at full bitrate (silence while lost).
      expect(r.status).toBe(200);
    } finally {
      await hark.stop();
      await player.stop();
    }
  }, 240_000);
});

describe('input.source = "auto"', () => {
  test('without PipeWire the outputs carry silence, never the test tone, and the status says why', async () => {
    const hark = await startHark('[input]\nsource = "auto"\n[webrtc]\nudp_port = 28303\n', {
      env: { XDG_RUNTIME_DIR: '/nonexistent', PIPEWIRE_RUNTIME_DIR: '/nonexistent' },
    });
    try {
      // From the very start: the first seconds are where the tone used to go on air.
      const r = await readStreamFor(`${hark.url}/stream.mp3`, 2500);
      const s = await status(hark.url);
      expect(s.input).toMatchObject({ source: 'pipewire', state: 'unavailable' });
      expect(s.input.message).toContain('no audio system (PipeWire) is running: outputs carry silence');
      const pcm = await decodeWithFfmpeg(r.bytes, { channels: 2 });
      expect(pcm.length).toBeGreaterThan(48_000);
      expect(peakDbfs(pcm)).toBeLessThan(-80);
    } finally {
      await hark.stop();
    }
  });

  test("with a PipeWire default source it captures it, also when it appears after start", async () => {
    const hark = await startHark('[input]\nsource = "auto"\n[webrtc]\nudp_port = 28304\n', { env: pw.env });
    try {
      // With no source yet (WirePlumber may also name a sink's monitor the default source; then
      // auto rightly captures that at once), auto waits with silence.
      using reg = DeviceRegistry.open({ remote: pw.remote });
      await reg.ready(2000);
      if (!reg.snapshot().devices.some((d) => d.isDefault)) {
        await Bun.sleep(500);
        expect((await status(hark.url)).input).toMatchObject({ source: 'pipewire', state: 'waiting' });
      }
      // A virtual source appears (as a USB interface would) and becomes the default.
      await pw.createSink({ name: 'hark-test-mic', channels: 2, props: { 'media.class': 'Audio/Source/Virtual', 'priority.session': '5000' } });
      let s = await status(hark.url);
      const t0 = performance.now();
      while ((s.input.source !== 'pipewire' || s.input.state !== 'running') && performance.now() - t0 < 10_000) {
        await Bun.sleep(100);
        s = await status(hark.url);
      }
      expect(s.input).toMatchObject({ source: 'pipewire', state: 'running' });
    } finally {
      await hark.stop();
      await pw.destroyNode('hark-test-mic');
    }
  }, 60_000);
});
