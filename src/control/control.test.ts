import { expect, test } from 'bun:test';
import { Control, ActionError } from './control.ts';
import { EventBus, type HarkEvent } from './events.ts';

test('actions move idle → live → muted → live → idle and publish each change once', async () => {
  const events = new EventBus();
  const seen: HarkEvent[] = [];
  events.on('*', (e) => seen.push(e));
  const muted: boolean[] = [];
  const c = new Control(events, { setMuted: (m) => muted.push(m) });
  expect(c.state).toBe('idle');
  await c.run('go_live', {}, 'web');
  expect(c.state).toBe('live');
  await c.run('mute', {}, 'gpio');
  expect(c.state).toBe('muted');
  await c.run('toggle_mute', {}, 'cli');
  expect(c.state).toBe('live');
  await c.run('go_live');
  await c.run('toggle_live');
  expect(c.state).toBe('idle');
  expect(muted).toEqual([true, false]);
  const states = seen.filter((e) => e.type === 'state').map((e) => (e as { state: string }).state);
  expect(states).toEqual(['live', 'muted', 'live', 'idle']);
  expect(seen.filter((e) => e.type === 'action')).toHaveLength(5);
});

test('refusals name the argument', async () => {
  const c = new Control(new EventBus());
  await expect(c.run('explode')).rejects.toMatchObject({ field: 'action' });
  await expect(c.run('set_metadata', {})).rejects.toBeInstanceOf(ActionError);
  await expect(c.run('set_metadata', { title: 'x'.repeat(1100) })).rejects.toMatchObject({ field: 'title' });
  const r = await c.run('set_metadata', { title: 'Evensong' });
  expect(r.message).toBe('title "Evensong"');
  expect(c.title).toBe('Evensong');
});

test('muting while idle publishes a state event with muted, and it is what the onState hook saves', async () => {
  const events = new EventBus();
  const seen: HarkEvent[] = [];
  events.on('state', (e) => seen.push(e));
  const saved: { live: boolean; muted: boolean }[] = [];
  const c = new Control(events, { onState: (s) => saved.push({ live: s.live, muted: s.muted }) });
  await c.run('mute', {}, 'cli');
  expect(c.state).toBe('idle');
  expect(seen).toEqual([{ type: 'state', state: 'idle', live: false, muted: true }]);
  await c.run('mute', {}, 'cli'); // already muted: nothing changed, nothing published
  await c.run('unmute', {}, 'web');
  expect(seen.map((e) => (e as { muted: boolean }).muted)).toEqual([true, false]);
  expect(saved).toEqual([
    { live: false, muted: true },
    { live: false, muted: false },
  ]);
});
