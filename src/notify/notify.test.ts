import { afterEach, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Alerts } from '../outputs/alerts.ts';
import { Backoff } from '../outputs/backoff.ts';
import { defaultConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { OutputStatus } from '../outputs/link.ts';
import { Notifiers, type BoxState } from './index.ts';
import type { Notice } from './notice.ts';
import { DeliveryError, MAX_QUEUED, Outbox } from './outbox.ts';
import { restartReason, recordCleanStop, recordStart, RUN_FILE, LAST_EXIT_FILE } from './restart.ts';
import type { Notifier, NotifyEntry } from './types.ts';
import { WebhookNotifier } from './webhook.ts';
import { discoveryMessages } from './ha-discovery.ts';

const BOX = { name: 'studio', address: '192.0.2.10', url: 'http://192.0.2.10:8080/' };
const entry = (e: Partial<NotifyEntry>): NotifyEntry => ({ ...defaultConfig().notify[0], type: 'webhook', enabled: true, name: '', url: 'http://127.0.0.1:1/', to: [], from: '', events: ['silence', 'input', 'output', 'disk', 'recording', 'fallback', 'restart', 'other'], min_severity: 'warning', repeat_minutes: 0, output_grace_s: 60, headers: {}, topic: '', discovery: true, discovery_prefix: 'homeassistant', commands: true, tls_verify: true, ...e });

function harness(entries: Partial<NotifyEntry>[]) {
  const config: Config = { ...defaultConfig(), notify: entries.map(entry) };
  const alerts = new Alerts();
  const got: { i: number; n: Notice }[] = [];
  const outputFns: ((w: 'output', o: OutputStatus) => void)[] = [];
  const state: BoxState = {
    control: () => ({ state: 'live', live: true, muted: false, title: '' }),
    levels: () => ({ peak_dbfs: [-10], rms_dbfs: [-20] }),
    listeners: () => 0,
    alerts: () => alerts.list(),
    outputs: () => [],
    run: async () => ({ message: 'ok', state: 'live' }),
    onChange: (fn) => {
      outputFns.push(fn as never);
      return () => {};
    },
  };
  const dir = mkdtempSync(join(tmpdir(), 'hark-notify-'));
  const hub = new Notifiers({
    config: () => config,
    alerts,
    box: () => BOX,
    state,
    stateDir: dir,
    changed: () => {},
    build: (i, e): Notifier => ({
      index: i,
      entry: e,
      deliver: async (n) => {
        got.push({ i, n });
        return { ok: true };
      },
      status: () => ({ index: i, type: e.type, label: `n${i}`, state: 'ok', sent: 0, queued: 0, dropped: 0, last_ok_at: null, last_ok_event: null, last_error: null, last_error_at: null, retry_at: null }),
      close: async () => {},
    }),
  });
  const output = (o: Partial<OutputStatus>) => outputFns.forEach((f) => f('output', { kind: 'icecast', id: 'main', state: 'live', detail: '', bytes: 0, listeners: null, since: null, last_error: null, where: 'radio.example.org:8000/live', retry_at: null, enabled: true, ...o }));
  return { hub, alerts, got, output, dir, config };
}

let hubs: Notifiers[] = [];
afterEach(async () => {
  for (const h of hubs.splice(0)) await h.close();
});

describe('the notifiers hub', () => {
  test('an alert goes to the entries whose events and min_severity want it; its end too, with the clip link', () => {
    const h = harness([{}, { events: ['disk'] }, { min_severity: 'critical' }]);
    hubs.push(h.hub);
    h.hub.start();
    h.got.length = 0; // the restart notice
    h.alerts.raise('silence', 'warning', 'The input has been silent for 10 s (below -50 dBFS).');
    h.alerts.raise('silence', 'warning', 'The input has been silent for 10 s (below -50 dBFS), again.');
    h.alerts.clear('silence', 'signal returned');
    expect(h.got.map((g) => [g.i, g.n.id, g.n.state])).toEqual([
      [0, 'silence', 'began'],
      [0, 'silence', 'ended'],
    ]);
    const began = h.got[0]!.n;
    expect(began.clip).toMatch(/^http:\/\/192\.0\.2\.10:8080\/api\/clips\/silence-\d{8}-\d{6}\.opus$/);
    expect(began.clipFile).toEndWith(`/recordings/clips/${began.clip!.split('/').pop()}`);
    expect(h.got[1]!.n.message).toMatch(/^Sound is back on the input \(silent for \d+ s\)\.$/);
    h.got.length = 0;
    h.alerts.raise('input.lost', 'critical', 'Input lost: unplugged.');
    h.alerts.raise('recording.disk', 'warning', 'Disk full.');
    expect(h.got.map((g) => [g.i, g.n.event, g.n.id])).toEqual([
      [0, 'input', 'input.lost'],
      [2, 'input', 'input.lost'],
      [0, 'disk', 'recording.disk'],
      [1, 'disk', 'recording.disk'],
    ]);
    // An alert nobody named (another engineer's new one) is "other"; fallback maps to its own group.
    h.got.length = 0;
    h.alerts.raise('fallback', 'warning', 'Playing the fallback.');
    h.alerts.raise('time.unsynced', 'warning', 'Clock not synchronised.');
    expect(h.got.filter((g) => g.i === 0).map((g) => g.n.event)).toEqual(['fallback', 'other']);
  });

  test('hark restarted: why, once, at start (a clean stop, then a crash)', async () => {
    const h = harness([{ min_severity: 'info' }]);
    h.hub.start();
    expect(h.got.map((g) => [g.n.event, g.n.state, g.n.severity])).toEqual([['restart', 'info', 'info']]);
    expect(h.got[0]!.n.message).toContain('no earlier run');
    await h.hub.close();
    // The next start after a clean stop in this process: in place.
    expect(recordStart(h.dir, '0.1.0').kind).toBe('in-place');
    // ... and with nothing recording a clean stop: a crash.
    expect(recordStart(h.dir, '0.1.0', process.pid + 1).kind).toBe('crash');
  });

  test('an output down for output_grace_s is told (each entry its own grace), and its return', async () => {
    const h = harness([{ output_grace_s: 0 }, { output_grace_s: 3600 }]);
    hubs.push(h.hub);
    h.hub.start();
    h.got.length = 0;
    h.output({ state: 'retrying', detail: 'retrying in 2 s: connection refused' });
    h.output({ state: 'retrying', detail: 'retrying in 4 s: connection refused' });
    await Bun.sleep(20);
    expect(h.got.map((g) => [g.i, g.n.event, g.n.id, g.n.state])).toEqual([[0, 'output', 'output:icecast:main', 'began']]);
    expect(h.got[0]!.n.message).toBe('Icecast main has been down for 0 s: retrying in 2 s: connection refused');
    h.output({ state: 'live' });
    expect(h.got.map((g) => [g.i, g.n.state, g.n.message])).toEqual([
      [0, 'began', 'Icecast main has been down for 0 s: retrying in 2 s: connection refused'],
      [0, 'ended', 'Icecast main is sending again.'],
    ]);
    // Down and back within the grace: nothing.
    h.got.length = 0;
    h.output({ state: 'auth_failed', kind: 'whip', id: 'w1' });
    h.output({ state: 'live', kind: 'whip', id: 'w1' });
    h.output({ kind: 'recording', id: '', state: 'retrying' });
    await Bun.sleep(20);
    expect(h.got.filter((g) => g.i === 1)).toEqual([]);
    expect(h.got.filter((g) => g.n.id.includes('recording'))).toEqual([]);
  });

  test('repeat_minutes repeats an active alert until it ends; 0 never', async () => {
    const h = harness([{ repeat_minutes: 1 }, {}]);
    hubs.push(h.hub);
    h.hub.start();
    h.got.length = 0;
    const real = globalThis.setInterval;
    let fire: (() => void) | undefined;
    globalThis.setInterval = ((fn: () => void, ms: number) => {
      expect(ms).toBe(60_000);
      fire = fn;
      return real(() => {}, 1e9);
    }) as typeof setInterval;
    try {
      h.alerts.raise('silence', 'warning', 'silent');
    } finally {
      globalThis.setInterval = real;
    }
    fire!();
    fire!();
    expect(h.got.map((g) => [g.i, g.n.state])).toEqual([
      [0, 'began'],
      [1, 'began'],
      [0, 'still'],
      [0, 'still'],
    ]);
  });

  test('a config change rebuilds the entries that changed and keeps the others (and their state)', async () => {
    const h = harness([{ url: 'http://a.example/' }, { url: 'http://b.example/' }]);
    hubs.push(h.hub);
    const before = h.hub.statuses();
    const prev = h.config;
    const next: Config = { ...prev, notify: [prev.notify[0]!, { ...prev.notify[1]!, url: 'http://c.example/' }, { ...prev.notify[1]!, type: 'webhook' }] };
    const keep0 = (h.hub as unknown as { list: Notifier[] }).list[0]; // the hub's own list, read to compare identities
    expect(await h.hub.apply(prev, next)).toBe('applied');
    const list = (h.hub as unknown as { list: Notifier[] }).list; // as above
    expect(list).toHaveLength(3);
    expect(list[0]).toBe(keep0!);
    expect(list[1]!.entry.url).toBe('http://c.example/');
    expect(before).toHaveLength(2);
  });

  test('a test goes past the filters', async () => {
    const h = harness([{ events: ['disk'], min_severity: 'critical' }]);
    hubs.push(h.hub);
    const r = await h.hub.test(0);
    expect(r.ok).toBe(true);
    expect(h.got[0]!.n).toMatchObject({ event: 'test', severity: 'info' });
    expect(() => h.hub.test(5)).toThrow();
  });
});

describe('why hark started', () => {
  const now = { boot_id: 'b2', version: '0.2.0', pid: 20 };
  const prev = (p: object) => ({ boot_id: 'b1', version: '0.2.0', pid: 10, started_at: '', clean: false, ...p });
  const CASES: [string, ReturnType<typeof prev> | null, string | null, string, string][] = [
    ['no marker', null, null, 'first', 'info'],
    ['clean, same boot', prev({ clean: true, boot_id: 'b2' }), null, 'restart', 'info'],
    ['clean, same process', prev({ clean: true, boot_id: 'b2', pid: 20 }), null, 'in-place', 'info'],
    ['clean, older version', prev({ clean: true, version: '0.1.0' }), null, 'update', 'info'],
    ['clean, new boot', prev({ clean: true }), null, 'reboot', 'info'],
    ['unclean, new boot', prev({}), null, 'power', 'warning'],
    ['unclean, same boot', prev({ boot_id: 'b2' }), null, 'crash', 'warning'],
    ['unclean, systemd says watchdog', prev({ boot_id: 'b2' }), 'watchdog signal 6', 'watchdog', 'warning'],
    ['unclean, systemd says signal', prev({ boot_id: 'b2' }), 'signal killed 9', 'crash', 'warning'],
  ];
  for (const [what, p, exit, kind, severity] of CASES) {
    test(`${what} → ${kind}`, () => {
      const r = restartReason(p, now, exit);
      expect([r.kind, r.severity] as string[]).toEqual([kind, severity]);
    });
  }

  test('the files: last-exit is read once; a clean stop is recorded', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-run-'));
    recordStart(dir, '1');
    writeFileSync(join(dir, LAST_EXIT_FILE), 'watchdog signal 6\n');
    const r = recordStart(dir, '1', 4242);
    expect(r.kind).toBe('watchdog');
    expect(r.message).toBe('hark stopped responding; the watchdog restarted it.');
    expect(recordStart(dir, '1', 4243).kind).toBe('crash');
    recordCleanStop(dir, '1', 4243);
    expect(JSON.parse(readFileSync(join(dir, RUN_FILE), 'utf8')).clean).toBe(true);
  });
});

describe('the outbox', () => {
  const notice = (id: string): Notice => ({ event: 'silence', id, state: 'began', severity: 'warning', message: id, since: new Date().toISOString(), at: new Date().toISOString(), clip: null });
  const fast = () => new Backoff({ initialMs: 5, maxMs: 20, jitter: 0, authMs: 30, authMaxMs: 60, busyMs: 10, busyMaxMs: 20, stableMs: 1 });

  test('a failure is retried with the backoff and the reason kept; order is kept; success clears the error', async () => {
    const sent: string[] = [];
    let fail = 2;
    const o = new Outbox(
      async (n) => {
        if (fail-- > 0) throw new DeliveryError('cannot reach x:1: ECONNREFUSED');
        sent.push(n.id);
      },
      () => {},
      { backoff: fast() },
    );
    const a = o.push(notice('a'));
    const b = o.push(notice('b'));
    expect(o.status().queued).toBe(2);
    await Bun.sleep(2);
    expect(o.status().last_error).toBe('cannot reach x:1: ECONNREFUSED');
    expect(await a).toEqual({ ok: true });
    expect(await b).toEqual({ ok: true });
    expect(sent).toEqual(['a', 'b']);
    expect(o.status()).toMatchObject({ sent: 2, queued: 0, last_error: null, last_ok_event: 'b began' });
  });

  test('bounded: past MAX_QUEUED the oldest is dropped and counted', async () => {
    const o = new Outbox(async () => {
      throw new DeliveryError('down');
    }, () => {}, { backoff: new Backoff({ initialMs: 60_000, maxMs: 60_000, jitter: 0, authMs: 1, authMaxMs: 1, busyMs: 1, busyMaxMs: 1, stableMs: 1 }) });
    const first = o.push(notice('0'));
    for (let i = 1; i <= MAX_QUEUED; i++) void o.push(notice(String(i)));
    expect(await first).toEqual({ ok: false, error: `more than ${MAX_QUEUED} waiting; the oldest was dropped` });
    expect(o.status()).toMatchObject({ queued: MAX_QUEUED, dropped: 1 });
    o.close();
  });
});

describe('webhook', () => {
  test('POSTs the JSON document with the headers; a 503 is retried, a 2xx is delivered', async () => {
    const bodies: { path: string; headers: Record<string, string>; body: Record<string, unknown> }[] = [];
    let status = 503;
    const server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: async (req): Promise<Response> => {
        bodies.push({ path: new URL(req.url).pathname, headers: Object.fromEntries(req.headers), body: (await req.json()) as Record<string, unknown> });
        const s = status;
        status = 200;
        return new Response('', { status: s, headers: s === 302 ? { location: `http://${new URL(req.url).host}/new` } : {} });
      },
    });
    try {
      const w = new WebhookNotifier(0, entry({ url: `http://127.0.0.1:${server.port}/hook`, headers: { Authorization: 'Bearer t0k', Title: 'hark' } }), { box: () => BOX, changed: () => {} });
      // Dated now: a notice older than a day is dropped unsent (outbox MAX_AGE_MS), and a fixed
      // date made this test fail from the day after it was written.
      const at = new Date();
      const n: Notice = { event: 'silence', id: 'silence', state: 'began', severity: 'warning', message: 'silent', since: new Date(at.getTime() - 10_000).toISOString(), at: at.toISOString(), clip: 'http://192.0.2.10:8080/api/clips/silence-20261203-100000.opus' };
      const r = w.deliver(n);
      // The first answer (503) is in when the state says so; a process's first fetch may take
      // longer than a fixed sleep (seen: over 100 ms on a fresh machine).
      for (let i = 0; i < 100 && w.status().state !== 'failing'; i++) await Bun.sleep(20);
      expect(w.status()).toMatchObject({ state: 'failing', last_error: `127.0.0.1:${server.port} answered 503 Service Unavailable` });
      expect(await r).toEqual({ ok: true });
      expect(bodies).toHaveLength(2);
      expect(bodies[1]!.headers).toMatchObject({ authorization: 'Bearer t0k', title: 'hark', 'content-type': 'application/json' });
      expect(bodies[1]!.body).toEqual({ event: 'silence', id: 'silence', state: 'began', severity: 'warning', message: 'silent', since: n.since, at: n.at, box: BOX, clip: n.clip, text: 'studio: silent' });
      expect(w.status()).toMatchObject({ state: 'ok', sent: 1 });
      await w.close();
      // A redirect is not followed (the token would go with it): a failure that says where to.
      status = 302;
      const moved = new WebhookNotifier(1, entry({ url: `http://127.0.0.1:${server.port}/old`, headers: { Authorization: 'Bearer t0k' } }), { box: () => BOX, changed: () => {} });
      void moved.deliver(n);
      for (let i = 0; i < 50 && !moved.status().last_error; i++) await Bun.sleep(20);
      expect(moved.status().last_error).toBe(`127.0.0.1:${server.port} answered 302 Found (a redirect to http://127.0.0.1:${server.port}/new): give that address as the url`);
      expect(bodies.map((b) => b.path)).toEqual(['/hook', '/hook', '/old']);
      await moved.close();
    } finally {
      server.stop(true);
    }
  });
});

describe('Home Assistant discovery', () => {
  test('every config is on a valid topic, unique, names one device, and has what its component requires', () => {
    const msgs = discoveryMessages({ prefix: 'homeassistant', base: 'hark/studio', name: 'Studio.local', version: '0.1.0', url: 'http://192.0.2.10/', commands: true });
    const REQUIRED: Record<string, string[]> = { switch: ['command_topic'], sensor: ['state_topic'], binary_sensor: ['state_topic'], button: ['command_topic'] };
    const ids = new Set<string>();
    for (const m of msgs) {
      const match = /^homeassistant\/(\w+)\/([a-zA-Z0-9_-]+)\/([a-zA-Z0-9_-]+)\/config$/.exec(m.topic);
      expect(match).not.toBeNull();
      for (const k of REQUIRED[match![1]!]!) expect(typeof m.payload[k]).toBe('string');
      expect(ids.has(m.payload.unique_id as string)).toBe(false);
      ids.add(m.payload.unique_id as string);
      expect(m.payload.device).toMatchObject({ identifiers: ['hark_studio_local'], name: 'hark Studio.local' });
      expect(m.payload.availability_topic).toBe('hark/studio/availability');
    }
    expect(msgs.map((m) => m.topic.split('/')[1] + ':' + m.topic.split('/')[3])).toEqual(['switch:live', 'switch:mute', 'button:mark', 'sensor:state', 'sensor:level', 'sensor:listeners', 'sensor:alerts', 'binary_sensor:problem']);
  });
});
