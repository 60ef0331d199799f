import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Auth, LOGIN_MAX_FAILURES } from './auth.ts';
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

  test('the login limit counts failures per address in a sliding window', () => {
    let now = 0;
    const a = new Auth(join(mkdtempSync(join(tmpdir(), 'hark-auth-')), 'auth.json'), { now: () => now });
    for (let i = 0; i < LOGIN_MAX_FAILURES; i++) a.limiter.fail('10.0.0.9');
    expect(a.limiter.retryAfterMs('10.0.0.9')).toBeGreaterThan(0);
    expect(a.limiter.retryAfterMs('10.0.0.10')).toBe(0);
    now += 15 * 60_000 + 1;
    expect(a.limiter.retryAfterMs('10.0.0.9')).toBe(0);
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
