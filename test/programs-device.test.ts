/**
 * A device that comes back with fewer channels than a program needs (issue 18, bad input):
 * the 4-channel interface is unplugged and a 2-channel one with the same name appears. The
 * program made of input 3 goes silent — not PipeWire's copy of another channel — with an alert
 * naming it; the program on input 1 goes on. When the 4-channel device is back, so is the
 * program, and the alert clears. Real PipeWire: null sinks and pw-play.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { startPipewire, type PipewireHarness, type Player } from './lib/pipewire.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { freeUdpPort } from './lib/whep-client.ts';
import { toneDbfs } from './lib/signal.ts';

let pw: PipewireHarness;
let hark: HarkProcess;
let player: Player | undefined;

beforeAll(async () => {
  pw = await startPipewire({ sinkChannels: 4 });
  player = pw.play({ frequency: [440, 660, 1000, 1500], seconds: 600, channels: 4, levelDbfs: -12 });
  const udp = await freeUdpPort();
  hark = await startHark(
    `[input]\nsource = "pipewire"\ndevice = "${pw.sinkName}"\nchannels = 4\n[webrtc]\nudp_port = ${udp}\n[[program]]\nid = "floor"\nname = "Floor"\nchannels = [1]\n[[program]]\nid = "es"\nname = "Español"\nchannels = [3]\n`,
    { env: pw.env, timeoutMs: 60_000 },
  );
}, 90_000);

afterAll(async () => {
  if (process.env.HARK_TEST_VERBOSE) console.log(hark?.output());
  await hark?.stop();
  await player?.stop();
  await pw?.stop();
}, 60_000);

async function pull(url: string, seconds: number): Promise<Float32Array> {
  const p = Bun.spawn(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'mp3', '-t', String(seconds), '-i', url, '-f', 'f32le', '-ac', '1', '-ar', '48000', 'pipe:1'], { stdout: 'pipe', stderr: 'pipe' });
  const timer = setTimeout(() => p.kill(), (seconds + 15) * 1000);
  const out = await new Response(p.stdout).arrayBuffer();
  clearTimeout(timer);
  await p.exited;
  return new Float32Array(out).subarray(24_000);
}

const peak = (x: Float32Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

async function alerts(): Promise<{ id: string; message: string }[]> {
  return (await (await fetch(`${hark.url}/api/status`)).json()).alerts;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}\n${hark.output().slice(-2000)}`);
    await Bun.sleep(250);
  }
}

test('a 2-channel device where the 4-channel one was: the program on input 3 goes silent with an alert naming it; the one on input 1 goes on; both back with the 4-channel device', async () => {
  expect(toneDbfs(await pull(`${hark.url}/stream/es.mp3`, 2), 1000)).toBeGreaterThan(-13);

  await player?.stop();
  await pw.destroyNode(pw.sinkName);
  await pw.createSink({ name: pw.sinkName, channels: 2 });
  player = pw.play({ frequency: [440, 660], seconds: 600, channels: 2, levelDbfs: -12 });

  const alert = await waitFor('the alert for the program on input 3', async () => (await alerts()).find((a) => a.id === 'input.program.es'));
  expect(alert.message).toBe(`The program "Español" is silent: it needs input channel 3, and the device ${pw.sinkName} has fewer channels. The other programs go on.`);
  expect((await alerts()).some((a) => a.id === 'input.program.floor')).toBe(false);
  const [es, floor] = await Promise.all([pull(`${hark.url}/stream/es.mp3`, 3), pull(`${hark.url}/stream/floor.mp3`, 3)]);
  // Silent: not PipeWire's up-mix of the two channels there are.
  expect(20 * Math.log10(peak(es) || 1e-9)).toBeLessThan(-80);
  expect(toneDbfs(floor, 440)).toBeGreaterThan(-13);
  const status = await (await fetch(`${hark.url}/api/status`)).json();
  expect(status.programs.find((p: { id: string }) => p.id === 'es').missing_channels).toEqual([3]);

  await player?.stop();
  await pw.destroyNode(pw.sinkName);
  await pw.createSink({ name: pw.sinkName, channels: 4 });
  player = pw.play({ frequency: [440, 660, 1000, 1500], seconds: 600, channels: 4, levelDbfs: -12 });
  await waitFor('the alert to clear', async () => !(await alerts()).some((a) => a.id === 'input.program.es'));
  expect(toneDbfs(await pull(`${hark.url}/stream/es.mp3`, 2), 1000)).toBeGreaterThan(-13);
}, 90_000);
