import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { DeviceRegistry, listDevices, parseSnapshot } from './devices.ts';
import { startPipewire, type PipewireHarness } from '../../test/lib/pipewire.ts';

let pw: PipewireHarness;
beforeAll(async () => {
  pw = await startPipewire();
}, 30_000);
afterAll(async () => {
  await pw?.stop();
}, 15_000);

describe('parseSnapshot', () => {
  test('sources first, monitors described as such, default flagged', () => {
    const snap = parseSnapshot(
      'mic\tspk\t1\n' +
        '40\tspk\tSpeakers\tAudio/Sink\t2\t0\t[ FL FR ]\n' +
        '41\tmic\tUSB Mic\tAudio/Source\t1\t48000\tMONO\n',
      7,
    );
    expect(snap).toMatchObject({ version: 7, complete: true, defaultSource: 'mic', defaultSink: 'spk' });
    expect(snap.devices.map((d) => [d.name, d.kind, d.description, d.channels, d.rates, d.positions, d.isDefault])).toEqual([
      ['mic', 'source', 'USB Mic', 1, [48000], ['MONO'], true],
      ['spk', 'monitor', 'Monitor of Speakers', 2, null, ['FL', 'FR'], false],
    ]);
  });
});

describe('DeviceRegistry', () => {
  test('lists the sink as a monitor with its channels and the default from the metadata', async () => {
    using reg = DeviceRegistry.open({ remote: pw.remote });
    expect(await reg.ready(3000)).toBe(true);
    const d = reg.find(pw.sinkName);
    expect(d).toMatchObject({ kind: 'monitor', mediaClass: 'Audio/Sink', channels: 2, positions: ['FL', 'FR'] });
    // With no real source, WirePlumber names the sink (its monitor) the default source.
    const snap = reg.snapshot();
    expect(snap.defaultSource).toBe(pw.sinkName);
    expect(d!.isDefault).toBe(true);
  });

  test('tracks add and remove; waitFor a device that appears later; null on timeout', async () => {
    using reg = DeviceRegistry.open({ remote: pw.remote });
    await reg.ready(3000);
    const v0 = reg.version;
    const waiting = reg.waitFor('reg-quad', 5000);
    await pw.createSink({ name: 'reg-quad', channels: 4, props: { 'node.description': 'Quad Test' } });
    const d = await waiting;
    expect(d).toMatchObject({ name: 'reg-quad', channels: 4, positions: ['FL', 'FR', 'RL', 'RR'], description: 'Monitor of Quad Test' });
    expect(reg.version).toBeGreaterThan(v0);
    const v1 = reg.version;
    await pw.destroyNode('reg-quad');
    await reg.waitForChange(v1, 2000);
    const end = performance.now() + 2000;
    while (reg.find('reg-quad') && performance.now() < end) await Bun.sleep(10);
    expect(reg.find('reg-quad')).toBeUndefined();
    expect(await reg.waitFor('never-there', 200)).toBeNull();
  });

  test('a real source becomes the default and is listed first, as a source', async () => {
    await pw.createSink({ name: 'reg-mic', channels: 1, props: { 'media.class': 'Audio/Source/Virtual', 'node.description': 'Test Mic' } });
    try {
      using reg = DeviceRegistry.open({ remote: pw.remote });
      await reg.ready(3000);
      const end = performance.now() + 3000;
      while (reg.snapshot().defaultSource !== 'reg-mic' && performance.now() < end) await reg.waitForChange(reg.version, 200);
      const list = reg.list();
      expect(list[0]).toMatchObject({ name: 'reg-mic', kind: 'source', description: 'Test Mic', channels: 1, isDefault: true });
      expect(list.find((x) => x.name === pw.sinkName)?.isDefault).toBe(false);
      expect(await reg.waitFor('', 100)).toMatchObject({ name: 'reg-mic' });
    } finally {
      await pw.destroyNode('reg-mic');
    }
  });

  test('listDevices() is a one-shot listing', async () => {
    const list = await listDevices({ remote: pw.remote });
    expect(list.map((d) => d.name)).toContain(pw.sinkName);
  });

  test('notices when PipeWire goes away', async () => {
    using reg = DeviceRegistry.open({ remote: pw.remote });
    await reg.ready(3000);
    expect(reg.connected).toBe(true);
    await pw.stopDaemons();
    try {
      const end = performance.now() + 3000;
      while (reg.connected && performance.now() < end) await Bun.sleep(20);
      expect(reg.connected).toBe(false);
    } finally {
      await pw.startDaemons();
    }
  });
});
