/**
 * The SSE hub pushes what the bus publishes: a widget's update reaches an open page inside the
 * event's own emit, with no polling tick in between, and a page without clock-driven widgets
 * (meters, counters) gets no 15 Hz timer at all.
 */
import { afterEach, expect, test } from 'bun:test';
import { SseHub } from './sse.ts';
import type { AppContext } from '../control/context.ts';
import type { Devices } from '../audio/devices.ts';
import { MeterState } from '../audio/meter.ts';
import { EventBus } from '../control/events.ts';
import { Control } from '../control/control.ts';
import { Alerts } from '../outputs/alerts.ts';
import { defaultConfig } from '../config/load.ts';

const dec = new TextDecoder();
let hub: SseHub | undefined;
afterEach(() => hub?.close());

function daemon(opts: { devices?: { name: string; description: string; kind: string; channels: number; isDefault: boolean }[]; source?: object } = {}) {
  const events = new EventBus();
  const control = new Control(events);
  const alerts = new Alerts();
  const store = { lastRefusal: null as { message: string } | null };
  let mp3Listeners = 0;
  // No PipeWire here: an empty device list.
  const devices = { list: () => ({ devices: opts.devices ?? [], version: 0, error: '' }) } as unknown as Devices; // only list() is read by the widgets
  const mp3 = {
    get listenerCount() {
      return mp3Listeners;
    },
    listenerInfo: () => [],
    outputStatus: () => ({ kind: 'http_mp3', id: '', state: mp3Listeners ? 'streaming' : 'idle', detail: `${mp3Listeners} listening`, bytes: 0, listeners: mp3Listeners, since: null, last_error: null, where: '/stream.mp3', retry_at: null, enabled: true }),
  };
  const ctx = {
    devices,
    meter: new MeterState(),
    config: defaultConfig(),
    events,
    control,
    store,
    broadcast: {
      alerts,
      status: () => ({ icecast: [], whip: [], recording: { state: 'stopped', file: null, file_bytes: 0, free_mb: null, last_error: null } }),
      statuses: () => [],
      recorder: { status: () => ({ state: 'stopped', file: null, file_bytes: 0, free_mb: null, last_error: null }) },
    },
    mp3,
    // Without [[program]] the one stream is main's, /stream.mp3.
    streams: { all: () => [{ id: 'main', out: mp3 }] },
    pipeline: { need: () => () => {}, stats: () => (opts.source ? { source: opts.source } : undefined), currentLevels: () => ({ peak_dbfs: [], rms_dbfs: [], clips: [] }) },
  } as unknown as AppContext; // a stand-in with only what the Listeners and Input pages' widgets read (the real one needs the audio worker)
  return { ctx, events, control, alerts, store, devices, setListeners: (n: number) => (mp3Listeners = n) };
}

/** A page's stream as text: `take()` returns what arrived since the last take. */
function page(res: Response) {
  const reader = res.body!.getReader();
  let text = '';
  void (async () => {
    for (;;) {
      const r = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (r.done) return;
      text += dec.decode(r.value);
    }
  })();
  return {
    reader,
    /** The hub enqueues synchronously; a few turns of the event loop let the reads catch up. */
    async take(): Promise<string> {
      for (let i = 0; i < 5; i++) await Bun.sleep(0);
      const t = text;
      text = '';
      return t;
    },
  };
}

test('a state change, a listener and an alert reach an open page within the emit, no timer involved', async () => {
  const d = daemon();
  hub = new SseHub(d.ctx);
  const p = page(hub.connect('listeners'));
  const first = await p.take();
  expect(first).toContain('event: state-badge\ndata: <span class="badge state-idle" data-state="idle">');
  expect(first).toContain('data-listeners="0"');

  // Listeners run in order: this one, subscribed after the hub, sees what the hub sent during the emit.
  const sentInEmit: number[] = [];
  for (const type of ['state', 'listeners', 'alert'] as const) d.events.on(type, () => sentInEmit.push(hub!.sent));
  const before = hub.sent;
  await d.control.run('go_live', {}, 'cli');
  expect(sentInEmit[0]).toBeGreaterThan(before);
  d.setListeners(2);
  d.events.emit({ type: 'listeners', count: 2 });
  expect(sentInEmit[1]).toBeGreaterThan(sentInEmit[0]!);
  d.alerts.raise('silence', 'warning', 'No sound from the input for 30 s');
  d.events.emit({ type: 'alert', id: 'silence', level: 'warn', message: 'No sound from the input for 30 s', active: true });
  expect(sentInEmit[2]).toBeGreaterThan(sentInEmit[1]!);

  const pushed = await p.take();
  expect(pushed).toContain('event: state-badge\ndata: <span class="badge state-live" data-state="live">Live</span>');
  expect(pushed).toContain('event: listeners\ndata: <span class="count" data-listeners="2">2</span> <span>listeners</span>');
  expect(pushed).toContain('event: alerts\ndata: <div class="alert warning" role="alert" data-alert="silence">No sound from the input for 30 s</div>');
  // The same value twice is sent once.
  const sent = hub.sent;
  d.events.emit({ type: 'listeners', count: 2 });
  expect(hub.sent).toBe(sent);
});

test('a refused config edit reaches the alerts by its config event', async () => {
  const d = daemon();
  hub = new SseHub(d.ctx);
  const p = page(hub.connect('listeners'));
  await p.take();
  d.store.lastRefusal = { message: 'tone.frequency: must be between 20 and 20000, got 5' };
  d.events.emit({ type: 'config', keys: [], refused: d.store.lastRefusal.message });
  expect(await p.take()).toContain('data-alert="config">A change to the configuration file was refused, so the running settings stay: tone.frequency: must be between 20 and 20000, got 5</div>');
});

test('the timer runs at the pace of the clock-driven widgets the open pages show; none when nobody is connected', async () => {
  const d = daemon();
  hub = new SseHub(d.ctx);
  expect(hub.timerMs).toBe(0);
  const listeners = hub.connect('listeners').body!.getReader();
  // The listener rows count bytes and time as they go (1 s); no 15 Hz meter tick.
  expect(hub.timerMs).toBe(1000);
  const input = hub.connect('input').body!.getReader();
  expect(hub.timerMs).toBe(66);
  await input.cancel();
  expect(hub.timerMs).toBe(1000);
  await listeners.cancel();
  expect(hub.timerMs).toBe(0);
});

test('a device the registry names later: the input status follows the device list (its timer), no input event needed', async () => {
  const list: { name: string; description: string; kind: string; channels: number; isDefault: boolean }[] = [];
  const node = 'alsa_input.usb-Focusrite_Scarlett_2i2';
  const d = daemon({ devices: list, source: { kind: 'pipewire', state: 'running', message: '', device: node, format: { rate: 48000, channels: 2, sampleFormat: 'f32' }, stats: {} } });
  hub = new SseHub(d.ctx);
  const p = page(hub.connect('input'));
  expect(await p.take()).toContain(`<dd data-device="${node}">${node}</dd>`);
  list.push({ name: node, description: 'Scarlett 2i2 USB', kind: 'source', channels: 2, isDefault: true });
  let got = '';
  for (let i = 0; i < 40 && !got.includes('event: input-status'); i++) {
    await Bun.sleep(50);
    got += await p.take();
  }
  expect(got).toContain(`event: input-status\ndata: <dl class="facts">\ndata: <dt>Device</dt><dd data-device="${node}">Scarlett 2i2 USB <small>${node}</small></dd>`);
});
