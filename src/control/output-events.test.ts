/**
 * State is pushed, not polled: an output's state change reaches the bus as an `output` event
 * (with its OutputStatus) inside the call that changed it, a listener coming or going as
 * `listeners`, and BroadcastOutputs reconciles its own outputs from two configs.
 */
import { afterAll, afterEach, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TCPSocketListener } from 'bun';
import { parseConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { BroadcastOutputs } from '../outputs/broadcast.ts';
import type { HttpStreamOutput } from '../outputs/http-stream.ts';
import type { OutputStatus } from '../outputs/link.ts';
import { EventBus, type EventOf } from './events.ts';
import { OutputEvents, outputStatuses } from './outputs.ts';

const source = {
  subscribe: () => () => {},
  currentLevels: () => ({ peak_dbfs: [-120, -120], rms_dbfs: [-120, -120], clips: [0, 0] }),
  stats: () => undefined,
};

/** /stream.mp3 as OutputEvents sees it: a count that changes and says so. */
class FakeMp3 {
  listenerCount = 0;
  private fns = new Set<() => void>();
  onChange(fn: () => void) {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
  outputStatus(): OutputStatus {
    const n = this.listenerCount;
    return { kind: 'http_mp3', id: '', state: n ? 'streaming' : 'idle', detail: `${n} listening`, bytes: 0, listeners: n, since: null, last_error: null, where: '/stream.mp3', retry_at: null, enabled: true };
  }
  set(n: number) {
    this.listenerCount = n;
    for (const fn of this.fns) fn();
  }
}

let cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** An Icecast server that refuses every source password (401). */
function refusingIcecast(): number {
  const srv: TCPSocketListener<unknown> = Bun.listen({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      data(s, d) {
        if (Buffer.from(d).toString('latin1').includes('\r\n\r\n')) s.end('HTTP/1.0 401 Unauthorized\r\n\r\n');
      },
    },
  });
  cleanup.push(() => srv.stop(true));
  return srv.port;
}

const dir = mkdtempSync(join(tmpdir(), 'hark-oe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(port: number, entries: string[]): Config {
  const icecast = entries.map((id) => `[[icecast]]\nid = "${id}"\nhost = "127.0.0.1"\nport = ${port}\nmount = "/${id}.mp3"\npassword = "x"\n`).join('');
  return parseConfig(`[recording]\nenabled = false\ndir = "${dir}"\n[silence]\nenabled = false\n${icecast}`);
}

function setup(c: Config) {
  const broadcast = new BroadcastOutputs(c, source);
  cleanup.push(() => broadcast.close());
  const fake = new FakeMp3();
  // OutputEvents reads only onChange, outputStatus and listenerCount of /stream.mp3: the fake has them.
  const mp3 = fake as unknown as HttpStreamOutput;
  const events = new EventBus();
  const outputs: EventOf<'output'>[] = [];
  const listeners: number[] = [];
  events.on('output', (e) => outputs.push(e));
  events.on('listeners', (e) => listeners.push(e.count));
  const oe = new OutputEvents({ broadcast, mp3, webrtc: undefined }, events);
  cleanup.push(() => oe.close());
  return { broadcast, mp3, fake, outputs, listeners };
}

async function until(pred: () => boolean, ms = 5000) {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error('condition not reached');
    await Bun.sleep(10);
  }
}

test('a state change is an `output` event at once, carrying the OutputStatus: no poller', async () => {
  const port = refusingIcecast();
  const { broadcast, outputs } = setup(config(port, ['main']));
  expect(outputs).toEqual([]);
  broadcast.start();
  // Inside the call: nothing could have polled yet.
  expect(outputs.map((e) => [e.id, e.status])).toEqual([['icecast:main', 'connecting']]);
  expect(outputs[0]!.output).toMatchObject({ kind: 'icecast', id: 'main', state: 'connecting', detail: `connecting to 127.0.0.1:${port}/main.mp3`, enabled: true });
  await until(() => outputs.length === 2);
  expect(outputs[1]).toMatchObject({ id: 'icecast:main', status: 'auth_failed' });
  // 60 s, jittered upwards only (backoff.ts).
  expect(outputs[1]!.detail).toMatch(/^auth failed: check user and password \(retrying in (6\d|7[0-5]) s\)$/);
  expect(outputs[1]!.output).toMatchObject({ last_error: 'auth failed (401 Unauthorized)', state: 'auth_failed' });
  // Nothing else changes while it waits: no events repeat.
  await Bun.sleep(600);
  expect(outputs).toHaveLength(2);
  await broadcast.stop();
  expect(outputs.map((e) => e.status)).toEqual(['connecting', 'auth_failed', 'stopped']);
});

test('listeners coming and going are `listeners` events, with the total', () => {
  const { fake, listeners, outputs } = setup(config(1, []));
  fake.set(1);
  fake.set(1);
  fake.set(0);
  expect(listeners).toEqual([1, 0]);
  expect(outputs.map((e) => [e.id, e.status])).toEqual([
    ['http_mp3', 'streaming'],
    ['http_mp3', 'idle'],
  ]);
});

test('BroadcastOutputs.applyOutputs reconciles its own outputs: kept, removed (an event), added and started when live', async () => {
  const port = refusingIcecast();
  const prev = config(port, ['a', 'b']);
  const { broadcast, outputs } = setup(prev);
  broadcast.start();
  await until(() => broadcast.icecast.every((o) => o.state === 'auth_failed'));
  const a = broadcast.icecast[0];
  const next = config(port, ['a', 'c']);
  expect(await broadcast.applyOutputs('icecast', prev, next)).toBe('applied');
  expect(broadcast.icecast[0]).toBe(a!);
  expect(broadcast.icecast.map((o) => o.id)).toEqual(['a', 'c']);
  expect(outputs.filter((e) => e.id === 'icecast:b').map((e) => e.status)).toEqual(['connecting', 'auth_failed', 'stopped', 'removed']);
  expect(outputs.some((e) => e.id === 'icecast:c' && e.status === 'connecting')).toBe(true);
  expect(broadcast.statuses().map((s) => `${s.kind}:${s.id}`)).toEqual(['icecast:a', 'icecast:c', 'recording:']);
  // A change of the channel count needs a restart; the outputs stay as they are.
  const stereo = { ...next, input: { ...next.input, channels: next.input.channels === 1 ? 2 : 1 }, icecast: [next.icecast[0]!] };
  expect(await broadcast.applyOutputs('icecast', next, stereo)).toBe('restart');
  expect(broadcast.icecast).toHaveLength(2);
});

test('outputStatuses: one list for every reader, the listener outputs first', () => {
  const { broadcast, mp3 } = setup(config(1, ['main']));
  const list = outputStatuses({ broadcast, mp3, webrtc: undefined });
  expect(list.map((s) => [s.kind, s.id, s.state])).toEqual([
    ['http_mp3', '', 'idle'],
    ['webrtc', '', 'disabled'],
    ['icecast', 'main', 'stopped'],
    ['recording', '', 'stopped'],
  ]);
  expect(list.find((s) => s.kind === 'recording')!.enabled).toBe(false);
});
