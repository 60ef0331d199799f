import { sourceSettings } from '../audio/source-settings.ts';
import { describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Auth, LOGIN_BACKOFF_MS, LOGIN_FREE_FAILURES, LOGIN_MAX_BACKOFF_MS, addressKey, loginBackoffMs } from './auth.ts';
import { StateFile, bootState, bootTitle } from './state-file.ts';
import { Control } from './control.ts';
import { EventBus, type HarkEvent } from './events.ts';
import { ControlPlane } from './plane.ts';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { SourceSettings } from '../audio/protocol.ts';

describe('the run state across boots', () => {
  test('on_boot: last restores live and muted; live and idle force them; a fresh box starts live', () => {
    const f = new StateFile(join(mkdtempSync(join(tmpdir(), 'hark-state-')), 'state.json'));
    expect(bootState('last', f.load())).toEqual({ live: true, muted: false });
    f.save({ live: true, muted: true });
    expect(bootState('last', f.load())).toEqual({ live: true, muted: true });
    f.save({ live: false, muted: false });
    expect(bootState('last', f.load())).toEqual({ live: false, muted: false });
    expect(bootState('live', f.load())).toEqual({ live: true, muted: false });
    expect(bootState('idle', { live: true, muted: true, at: '' })).toEqual({ live: false, muted: false });
  });

  test('the title last set comes back at the next boot, unless the config file\'s title changed since', () => {
    const f = new StateFile(join(mkdtempSync(join(tmpdir(), 'hark-state-')), 'state.json'));
    expect(bootTitle('From the file', f.load())).toBe('From the file');
    f.save({ live: true, muted: false, title: 'Evening prayer', configTitle: 'From the file' });
    expect(f.load()).toMatchObject({ live: true, muted: false, title: 'Evening prayer', configTitle: 'From the file' });
    expect(bootTitle('From the file', f.load())).toBe('Evening prayer');
    expect(bootTitle('Edited by hand', f.load())).toBe('Edited by hand');
    // A state file from before titles were kept.
    f.save({ live: true, muted: false });
    expect(bootTitle('From the file', f.load())).toBe('From the file');
  });

  test('every state change is saved through the onState hook; live drives the outputs', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'hark-state-')), 'state.json');
    const f = new StateFile(path);
    const outputs: boolean[] = [];
    const c = new Control(new EventBus(), { onState: (s) => f.save(s), setLive: (l) => void outputs.push(l) });
    await c.run('go_live', {}, 'gpio');
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ live: true, muted: false });
    await c.run('toggle_mute', {}, 'web');
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ live: true, muted: true });
    await c.run('stop', {}, 'cli');
    expect(outputs).toEqual([true, false]);
  });

  test('a failing output start refuses go_live and leaves the state idle', async () => {
    const c = new Control(new EventBus(), {
      setLive: (l) => {
        if (l) throw new Error('no route to host');
      },
    });
    await expect(c.run('go_live')).rejects.toThrow('could not go live: no route to host');
    expect(c.state).toBe('idle');
  });

  test('actions run one at a time, in order', async () => {
    const order: string[] = [];
    const c = new Control(new EventBus(), {
      setLive: async (l) => {
        await Bun.sleep(l ? 30 : 1);
        order.push(l ? 'up' : 'down');
      },
    });
    await Promise.all([c.run('go_live'), c.run('stop'), c.run('go_live')]);
    expect(order).toEqual(['up', 'down', 'up']);
    expect(c.state).toBe('live');
  });
});

describe('Auth', () => {
  test('sessions expire on the injected clock; a password change ends them all', async () => {
    let now = 1_000_000;
    const a = new Auth(join(mkdtempSync(join(tmpdir(), 'hark-auth-')), 'auth.json'), { now: () => now, sessionHours: () => 1 });
    await a.setPassword('first password');
    const s = a.createSession();
    expect(a.session(s.id)).not.toBeNull();
    now += 3599_000;
    expect(a.session(s.id)).not.toBeNull();
    now += 2000;
    expect(a.session(s.id)).toBeNull();
    const t = a.createSession();
    await a.setPassword('second password');
    expect(a.session(t.id)).toBeNull();
    expect(await a.verifyPassword('first password')).toBe(false);
    expect(await a.verifyPassword('second password')).toBe(true);
  });

  test('the login limit: attempts counted when they start, per address, backing off exponentially', () => {
    let now = 0;
    const a = new Auth(join(mkdtempSync(join(tmpdir(), 'hark-auth-')), 'auth.json'), { now: () => now });
    const l = a.limiter;
    // At most LOGIN_MAX_INFLIGHT checks at once from one address; the next is told to wait.
    const first = l.begin('10.0.0.9');
    const second = l.begin('10.0.0.9');
    expect(first.ok && second.ok).toBe(true);
    expect(l.begin('10.0.0.9')).toEqual({ ok: false, retryAfterMs: 1000, reason: 'busy' });
    // Another address is not affected.
    const other = l.begin('10.0.0.10');
    expect(other.ok).toBe(true);
    if (first.ok) first.done(false);
    if (second.ok) second.done(false);
    if (other.ok) other.done(false);
    // Failures plus attempts in progress never pass LOGIN_FREE_FAILURES before the wait starts.
    const a3 = l.begin('10.0.0.9');
    const a4 = l.begin('10.0.0.9');
    expect(a3.ok && a4.ok).toBe(true);
    if (a3.ok) a3.done(false);
    const a5 = l.begin('10.0.0.9');
    expect(a5.ok).toBe(true);
    expect(l.begin('10.0.0.9')).toMatchObject({ ok: false, reason: 'busy' });
    if (a4.ok) a4.done(false);
    if (a5.ok) a5.done(false);
    expect(l.failures('10.0.0.9')).toBe(LOGIN_FREE_FAILURES);
    expect(l.begin('10.0.0.9')).toEqual({ ok: false, retryAfterMs: 1000, reason: 'locked' });
    // 1 s, then 2 s, 4 s … after each further failure, up to 15 minutes.
    const waits: number[] = [];
    for (let i = 0; i < 14; i++) {
      now += l.retryAfterMs('10.0.0.9');
      const t = l.begin('10.0.0.9');
      expect(t.ok).toBe(true);
      if (t.ok) t.done(false);
      waits.push(l.retryAfterMs('10.0.0.9'));
    }
    expect(waits.slice(0, 5)).toEqual([2000, 4000, 8000, 16000, 32000]);
    expect(waits.at(-1)).toBe(LOGIN_MAX_BACKOFF_MS);
    expect(loginBackoffMs(LOGIN_FREE_FAILURES)).toBe(LOGIN_BACKOFF_MS);
    // The other address had one failure: no wait. A right password clears the record.
    expect(l.retryAfterMs('10.0.0.10')).toBe(0);
    now += LOGIN_MAX_BACKOFF_MS;
    const ok = l.begin('10.0.0.9');
    if (ok.ok) ok.done(true);
    expect(l.failures('10.0.0.9')).toBe(0);
    expect(l.begin('10.0.0.9').ok).toBe(true);
  });

  test('addresses are counted one by one: IPv4-mapped IPv6 as IPv4, never a whole IPv6 /64 (a LAN shares one)', () => {
    expect(addressKey('::ffff:192.168.1.7')).toBe('192.168.1.7');
    expect(addressKey('2001:DB8:1:2::1')).toBe('2001:db8:1:2::1');
    expect(addressKey('fe80::1%eth0')).toBe('fe80::1');
    expect(addressKey('127.0.0.5')).toBe('127.0.0.5');
    const a = new Auth(join(mkdtempSync(join(tmpdir(), 'hark-auth-')), 'auth.json'));
    for (let i = 0; i < LOGIN_FREE_FAILURES; i++) {
      const t = a.limiter.begin('2001:db8:1:2::bad');
      if (t.ok) t.done(false);
    }
    expect(a.limiter.retryAfterMs('2001:db8:1:2::bad')).toBeGreaterThan(0);
    expect(a.limiter.retryAfterMs('2001:db8:1:2::beef')).toBe(0);
    expect(a.limiter.begin('2001:db8:1:2::beef').ok).toBe(true);
  });

  test('another process writing auth.json (hark passwd --config) is seen at once', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'hark-auth-')), 'auth.json');
    const daemon = new Auth(file);
    expect(daemon.hasPassword()).toBe(false);
    await Bun.sleep(10); // a different mtime
    await new Auth(file).setPassword('set over ssh');
    expect(daemon.hasPassword()).toBe(true);
    expect(await daemon.verifyPassword('set over ssh')).toBe(true);
  });
});

// ---- ControlPlane: the daemon's control side, on fakes of the audio and output parts.

/** What the plane calls on the audio and output parts, recorded. */
function fakeParts(config: Config) {
  const calls: string[] = [];
  const titleListeners: ((t: string) => void)[] = [];
  const alertListeners: ((e: { type: 'raised' | 'cleared'; alert: { id: string; severity: string; message: string } }) => void)[] = [];
  const recorder = {
    state: 'stopped' as string,
    marks: [] as { label: string; at: number }[],
    start() {
      calls.push('recorder.start');
      recorder.state = 'recording';
    },
    async close() {
      calls.push('recorder.close');
      recorder.state = 'stopped';
    },
    status: () => ({ state: recorder.state, file: 'rec.mp3', continued: false, last_error: null as string | null }),
    mark: async (label: string, at: number) => void recorder.marks.push({ label, at }),
  };
  const metadata = {
    title: '',
    set(t: string) {
      metadata.title = t;
      for (const l of titleListeners) l(t);
    },
    onChange: (fn: (t: string) => void) => void titleListeners.push(fn),
  };
  const broadcast = {
    metadata,
    recorder,
    icecast: [] as never[],
    whip: [] as never[],
    alerts: { on: (fn: (typeof alertListeners)[number]) => void alertListeners.push(fn) },
    silence: { start: () => void calls.push('silence.start'), close: () => void calls.push('silence.close') },
    start: () => void calls.push('outputs.start'),
    // Going idle stops the recorder (BroadcastOutputs.stop); no sending outputs in this config.
    stop: () => recorder.close(),
    status: () => ({ icecast: [], whip: [], recording: recorder.status() }),
    statuses: () => [],
    onOutput: () => () => {},
    recordingApart: false,
    // Recording apart from live (BroadcastOutputs.setRecordApart): the recorder runs while it is on.
    setRecordApart(on: boolean) {
      calls.push(`record apart ${on}`);
      broadcast.recordingApart = on;
      if (on && recorder.state === 'stopped') recorder.start();
      else if (!on) void recorder.close();
    },
  };
  const pipeline = {
    setMuted: (m: boolean) => void calls.push(`muted ${m}`),
    setOffAir: (s: boolean) => void calls.push(`off air ${s}`),
    setSource: (s: SourceSettings) => void calls.push(`source ${s.device}`),
    onInput: () => () => {},
  };
  const mp3 = {
    state: 'idle',
    listenerCount: 0,
    outputStatus: () => ({ kind: 'http_mp3', id: '', state: 'idle', detail: '0 listening', bytes: 0, listeners: 0, since: null, last_error: null, where: '/stream.mp3', retry_at: null, enabled: true }),
    onChange: () => () => {},
  };
  // A fake with only what the plane calls: the real parts need PipeWire, codecs and sockets.
  const parts = { config, pipeline, broadcast, mp3, webrtc: null } as unknown as ConstructorParameters<typeof ControlPlane>[0];
  return { parts, calls, recorder, metadata, raise: (id: string, message: string) => alertListeners.forEach((l) => l({ type: 'raised', alert: { id, severity: 'warning', message } })) };
}


/** A plane over a config file in a fresh directory; its events collected. */
function plane(toml = '[control]\non_boot = "idle"\n', opts: { onRestart?: () => void; state?: object } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hark-plane-'));
  const configPath = join(dir, 'hark.toml');
  writeFileSync(configPath, toml);
  if (opts.state) writeFileSync(join(dir, 'state.json'), JSON.stringify(opts.state));
  const fake = fakeParts(loadConfig(configPath));
  const p = new ControlPlane(fake.parts, { configPath, sourceSettings, onRestart: opts.onRestart });
  const events: HarkEvent[] = [];
  p.events.on('*', (e) => void events.push(e));
  const saved = () => JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
  return { p, dir, configPath, events, saved, ...fake };
}

describe('ControlPlane', () => {
  test('go_live starts the outputs and lifts off-air silence; stop closes them; each change is a state event and saved', async () => {
    const { p, calls, events, saved } = plane();
    expect(p.control.state).toBe('idle');
    expect(await p.control.run('go_live', {}, 'web')).toEqual({ ok: true, state: 'live', message: 'live' });
    expect(calls).toEqual(['off air false', 'outputs.start']);
    expect(saved()).toMatchObject({ live: true, muted: false });
    calls.length = 0;
    expect((await p.control.run('stop', {}, 'gpio')).state).toBe('idle');
    expect(calls).toEqual(['off air true', 'recorder.close']);
    expect(saved()).toMatchObject({ live: false, muted: false });
    expect(events.filter((e) => e.type === 'state')).toEqual([
      { type: 'state', state: 'live', live: true, muted: false },
      { type: 'state', state: 'idle', live: false, muted: false },
    ]);
    expect(events.filter((e) => e.type === 'action').map((e) => e.type === 'action' && `${e.action} by ${e.origin}: ${e.ok}`)).toEqual(['go_live by web: true', 'stop by gpio: true']);
    await p.close();
  });

  test('mute silences the pipeline and is saved; the title set is kept for the next start and announced', async () => {
    const { p, calls, events, saved, metadata } = plane();
    await p.control.run('go_live');
    await p.control.run('mute');
    expect(calls).toContain('muted true');
    expect(saved()).toMatchObject({ live: true, muted: true });
    expect(await p.control.run('set_metadata', { title: 'Evening prayer' })).toMatchObject({ ok: true, message: 'title "Evening prayer"' });
    expect(metadata.title).toBe('Evening prayer');
    expect(saved()).toMatchObject({ title: 'Evening prayer' });
    expect(events).toContainEqual({ type: 'metadata', title: 'Evening prayer' });
    await p.close();
  });

  test('refusals name the field and change nothing: unknown action, a bad title, a bad device', async () => {
    const { p, calls, events, configPath } = plane();
    const before = readFileSync(configPath, 'utf8');
    await expect(p.control.run('explode')).rejects.toMatchObject({ field: 'action', message: expect.stringContaining('unknown action "explode"') });
    await expect(p.control.run('set_metadata', {})).rejects.toMatchObject({ field: 'title', message: 'title: required, a string' });
    await expect(p.control.run('set_metadata', { title: 'a\u0007b' })).rejects.toMatchObject({ field: 'title', message: 'title: no control characters' });
    await expect(p.control.run('set_input', { device: 'x\ny' })).rejects.toMatchObject({ field: 'device', message: 'device: not a valid node.name' });
    await expect(p.control.run('mark', { label: 'x'.repeat(201) })).rejects.toMatchObject({ field: 'label' });
    expect(p.control.state).toBe('idle');
    expect(calls).toEqual([]);
    expect(readFileSync(configPath, 'utf8')).toBe(before);
    // Each refused action (not the unknown one) is an action event that says why.
    expect(events.filter((e) => e.type === 'action' && !e.ok).map((e) => e.type === 'action' && e.message)).toEqual([
      'title: required, a string',
      'title: no control characters',
      'device: not a valid node.name',
      'label: at most 200 characters',
    ]);
    await p.close();
  });

  test('set_input writes input.device to the config file and re-opens the source; a config event says which section', async () => {
    const { p, calls, events, configPath } = plane();
    expect(await p.control.run('set_input', { device: 'alsa_input.usb-mic' })).toMatchObject({ message: 'input alsa_input.usb-mic' });
    expect(readFileSync(configPath, 'utf8')).toContain('device = "alsa_input.usb-mic"');
    expect(calls).toEqual(['source alsa_input.usb-mic']);
    expect(events).toContainEqual({ type: 'config', keys: ['input'] });
    await p.close();
  });

  test('record records now, apart from going live (idle too), and is kept in state.json; stop_recording stops it and turns recording.enabled off', async () => {
    const { p, configPath, recorder, calls, dir } = plane('[control]\non_boot = "idle"\n[recording]\nenabled = true\n');
    const state = () => JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
    expect(p.control.state).toBe('idle');
    expect((await p.control.run('record')).message).toBe('recording to rec.mp3');
    expect(recorder.state).toBe('recording');
    expect(p.control.state).toBe('idle');
    expect(state().recording).toBe(true);
    // toggle_record (a GPIO button) stops it; recording.enabled ("record whenever live") goes off too.
    expect((await p.control.run('toggle_record', {}, 'gpio')).message).toBe('recording stopped');
    expect(recorder.state).toBe('stopped');
    expect(state().recording).toBeUndefined();
    expect(readFileSync(configPath, 'utf8')).not.toMatch(/enabled = true/);
    expect((await p.control.run('toggle_record', {}, 'gpio')).message).toBe('recording to rec.mp3');
    // The recorder failed and waits to retry: record tries again now.
    recorder.state = 'retrying';
    calls.length = 0;
    expect((await p.control.run('record')).message).toBe('recording to rec.mp3');
    expect(calls).toEqual(['recorder.close', 'record apart true', 'recorder.start']);
    await p.close();
  });

  test('a recording apart from live goes on after a restart with on_boot = "last" (state.json), not with "idle"', async () => {
    const last = plane('[control]\non_boot = "last"\n[silence]\nenabled = false\n', { state: { live: false, muted: false, recording: true, at: '' } });
    await last.p.start(() => new Response(''));
    expect(last.p.control.state).toBe('idle');
    expect(last.calls).toContain('record apart true');
    expect(last.recorder.state).toBe('recording');
    await last.p.close();
    const idle = plane('[control]\non_boot = "idle"\n[silence]\nenabled = false\n', { state: { live: false, muted: false, recording: true, at: '' } });
    await idle.p.start(() => new Response(''));
    expect(idle.calls).not.toContain('record apart true');
    await idle.p.close();
  }, 30_000);

  test('recording.max_minutes: a Record stops by itself after it (origin timer); a schedule\'s or VOX\'s record does not', async () => {
    // 0.002 minutes = 120 ms: the schema takes fractions.
    const { p, recorder, events } = plane('[control]\non_boot = "idle"\n[recording]\nmax_minutes = 0.002\n');
    const t0 = performance.now();
    expect((await p.control.run('record')).message).toBe('recording to rec.mp3 (stops by itself after 0.002 min)');
    for (let i = 0; i < 100 && recorder.state !== 'stopped'; i++) await Bun.sleep(20);
    expect(recorder.state).toBe('stopped');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(115);
    expect(events).toContainEqual({ type: 'action', action: 'stop_recording', origin: 'timer', ok: true, message: 'recording stopped' });
    expect((await p.control.run('record', {}, 'schedule')).message).toBe('recording to rec.mp3');
    await Bun.sleep(250);
    expect(recorder.state).toBe('recording');
    await p.close();
  });

  test('a mark is kept with the recording; an alert is an event with its level', async () => {
    const { p, recorder, events, raise } = plane();
    await p.control.run('mark', { label: 'sermon' });
    expect(recorder.marks).toHaveLength(1);
    expect(recorder.marks[0]!.label).toBe('sermon');
    raise('silence', 'The input has been silent for 10 s');
    expect(events).toContainEqual({ type: 'alert', id: 'silence', level: 'warn', message: 'The input has been silent for 10 s', active: true });
    await p.close();
  });

  test('a restart is asked for once, and only where the daemon can restart', async () => {
    expect(plane().p.requestRestart('test')).toBe(false);
    let restarts = 0;
    const { p } = plane(undefined, { onRestart: () => restarts++ });
    expect(p.canRestart).toBe(true);
    expect(p.requestRestart('the System page')).toBe(true);
    expect(p.requestRestart('hark restart')).toBe(false);
    for (let i = 0; i < 50 && restarts === 0; i++) await Bun.sleep(20);
    expect(restarts).toBe(1);
    await p.close();
  });

  test('start: the saved state comes back (live and muted), the first-boot password is hashed and leaves the file, the socket answers; close removes it', async () => {
    const { p, calls, configPath, dir } = plane('[control]\non_boot = "last"\n[silence]\nenabled = false\n[admin]\npassword = "a first boot password"\n', { state: { live: true, muted: true, at: '' } });
    expect(p.control.state).toBe('muted');
    await p.start(() => new Response('hello over the socket'));
    expect(calls.slice(0, 3)).toEqual(['muted true', 'off air false', 'off air false']);
    expect(calls).toContain('outputs.start');
    expect(p.auth.hasPassword()).toBe(true);
    expect(await p.auth.verifyPassword('a first boot password')).toBe(true);
    expect(readFileSync(configPath, 'utf8')).not.toContain('a first boot password');
    expect(existsSync(`${configPath}.bak`)).toBe(false);
    expect(p.socketPath.startsWith(dir)).toBe(true);
    const res = await fetch('http://localhost/', { unix: p.socketPath } as RequestInit);
    expect(await res.text()).toBe('hello over the socket');
    await p.close();
    expect(existsSync(p.socketPath)).toBe(false);
  }, 30_000);
});
