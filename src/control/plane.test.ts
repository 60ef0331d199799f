import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Auth, LOGIN_BACKOFF_MS, LOGIN_FREE_FAILURES, LOGIN_MAX_BACKOFF_MS, addressKey, loginBackoffMs } from './auth.ts';
import { StateFile, bootState, bootTitle } from './state-file.ts';
import { Control } from './control.ts';
import { EventBus } from './events.ts';

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
