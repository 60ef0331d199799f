import { describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore, coerce, snapshot } from './store.ts';
import { ConfigError, defaultConfig, loadConfig, parseConfig } from './load.ts';
import type { Config } from './schema.ts';
import type { ComponentName, Reaction } from './live.ts';
import { forceLogLevel } from '../log.ts';

forceLogLevel('error');

function fresh(text = '# mine\n[input]\nsource = "tone"\n'): { store: ConfigStore; path: string; applied: string[][] } {
  const dir = mkdtempSync(join(tmpdir(), 'hark-store-'));
  const path = join(dir, 'hark.toml');
  writeFileSync(path, text);
  const store = new ConfigStore(path, loadConfig(path));
  const applied: string[][] = [];
  // The component that applies the tone (src/config/live.ts: tone → source).
  store.use({
    name: 'source',
    apply: (prev, next) => {
      applied.push(Object.keys(next).filter((k) => JSON.stringify(prev[k as keyof typeof prev]) !== JSON.stringify(next[k as keyof typeof next])));
      return 'applied';
    },
  });
  return { store, path, applied };
}

describe('ConfigStore', () => {
  test('a change is written (with .bak), swapped in as a new snapshot and applied', async () => {
    const { store, path, applied } = fresh();
    const before = store.config;
    const r = await store.set({ 'tone.frequency': '880' });
    expect(r.changed).toEqual(['tone.frequency']);
    expect(r.applied).toEqual(['tone']);
    expect(store.config.tone.frequency).toBe(880);
    // A new object: whoever held the old snapshot still sees the old values, unchanged.
    expect(store.config).not.toBe(before);
    expect(before.tone.frequency).toBe(440);
    expect(readFileSync(path, 'utf8')).toContain('# mine');
    expect(readFileSync(`${path}.bak`, 'utf8')).toBe('# mine\n[input]\nsource = "tone"\n');
    expect(applied).toEqual([['tone']]);
  });

  test('a refused change leaves the file and the running config untouched', async () => {
    const { store, path, applied } = fresh();
    const before = readFileSync(path, 'utf8');
    await expect(store.set({ 'input.channels': '0' })).rejects.toMatchObject({ path: 'input.channels' });
    await expect(store.set({ 'input.nope': 'x' })).rejects.toBeInstanceOf(ConfigError);
    await expect(store.replaceText('[input]\nsource = "jack"\n')).rejects.toMatchObject({ path: 'input.source' });
    expect(readFileSync(path, 'utf8')).toBe(before);
    expect(existsSync(`${path}.bak`)).toBe(false);
    expect(store.config.input.channels).toBe(2);
    expect(applied).toEqual([]);
  });

  test('50 concurrent changes: none lost, the file parses, no temp files left', async () => {
    const { store, path } = fresh();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.update((c) => {
          c.metadata.title = `${c.metadata.title}${i % 10}`;
        }),
      ),
    );
    expect(store.config.metadata.title).toHaveLength(50);
    expect(parseConfig(readFileSync(path, 'utf8')).metadata.title).toBe(store.config.metadata.title);
    expect(readdirSync(join(path, '..')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 60_000);

  test('a hand edit is reloaded; an invalid one is refused naming the key, the running config stays', async () => {
    const { store, path } = fresh();
    writeFileSync(path, '# edited\n[input]\nsource = "tone"\n[tone]\nfrequency = 300\n');
    const ok = await store.reload('SIGHUP');
    expect(ok).toMatchObject({ ok: true, changed: ['tone.frequency'] });
    expect(store.config.tone.frequency).toBe(300);
    writeFileSync(path, '[tone]\nfrequency = 3\n');
    const bad = await store.reload('SIGHUP');
    expect(bad).toMatchObject({ ok: false, path: 'tone.frequency' });
    expect(bad.error).toContain('tone.frequency: must be between 20 and 20000, got 3');
    expect(store.config.tone.frequency).toBe(300);
    expect(store.lastRefusal?.path).toBe('tone.frequency');
  });

  test('a refusal is told to onRefusal when it comes and when a good edit ends it (the alerts show it)', async () => {
    const { store, path } = fresh();
    const told: (string | null)[] = [];
    store.onRefusal((r) => told.push(r?.path ?? null));
    writeFileSync(path, '[tone]\nfrequency = 3\n');
    await store.reload('SIGHUP');
    writeFileSync(path, '[input]\nchannels = 9\n');
    await store.reload('SIGHUP'); // another refusal: told again, with its own key
    writeFileSync(path, '[tone]\nfrequency = 300\n');
    await store.reload('SIGHUP');
    await store.set({ 'tone.frequency': 400 }); // no refusal to end: nothing told
    expect(told).toEqual(['tone.frequency', 'input.channels', null]);
  });

  test('a hand edit not yet reloaded is taken in before a change is written on top', async () => {
    const { store, path } = fresh();
    writeFileSync(path, '# hand\n[input]\nsource = "tone"\n[mp3]\nbitrate_kbps = 192\n');
    await store.set({ 'tone.frequency': 500 });
    const t = readFileSync(path, 'utf8');
    expect(t).toContain('bitrate_kbps = 192');
    expect(t).toContain('frequency = 500');
    expect(store.config.mp3.bitrate_kbps).toBe(192);
  });

  test('the file watcher picks up an edit', async () => {
    const { store, path } = fresh();
    store.watch();
    try {
      writeFileSync(path, '[input]\nsource = "tone"\n[tone]\nfrequency = 1234\n');
      const until = performance.now() + 3000;
      while (store.config.tone.frequency !== 1234 && performance.now() < until) await Bun.sleep(50);
      expect(store.config.tone.frequency).toBe(1234);
    } finally {
      store.close();
    }
  });

  test('typed-in values are converted as the schema says', () => {
    expect(coerce('http.port', '8080')).toBe(8080);
    expect(coerce('webrtc.stereo', 'off')).toBe(false);
    expect(coerce('metadata.title', '123')).toBe('123');
    expect(coerce('metadata.title', '"quoted"')).toBe('quoted');
    expect(coerce('webrtc.codecs', '["opus", "pcmu"]')).toEqual(['opus', 'pcmu']);
    expect(coerce('mp3.bitrate_kbps', '192')).toBe(192);
    expect(() => coerce('input.nope', 'x')).toThrow(ConfigError);
  });

  test('a snapshot cannot be changed: assigning into it throws (strict mode), at any depth', async () => {
    const { store } = fresh();
    const c = store.config;
    expect(() => {
      (c.tone as { frequency: number }).frequency = 1;
    }).toThrow(TypeError);
    expect(() => {
      (c as { tone: unknown }).tone = {};
    }).toThrow(TypeError);
    expect(() => (c.gpio.button as unknown[]).push({ line: 'GPIO5', action: 'mark' })).toThrow(TypeError);
    expect(() => {
      (c.webrtc.codecs as string[])[0] = 'pcmu';
    }).toThrow(TypeError);
    expect(c.tone.frequency).toBe(440);
    // Each new snapshot is frozen too.
    await store.set({ 'tone.frequency': 500 });
    expect(() => {
      (store.config.tone as { frequency: number }).frequency = 1;
    }).toThrow(TypeError);
    // The object a snapshot is made from stays the caller's, unfrozen.
    const mine = defaultConfig();
    const snap = snapshot(mine);
    expect(snap).not.toBe(mine);
    expect(Object.isFrozen(mine.tone)).toBe(false);
    expect(snapshot(snap)).toBe(snap);
  });

  test('each component whose keys changed is handed the previous and the next snapshot, once, and says applied or restart', async () => {
    const { store } = fresh();
    const calls: { name: ComponentName; prev: Config; next: Config }[] = [];
    const answer: Partial<Record<ComponentName, Reaction | Error>> = { silence: 'applied', whip: 'restart', log: new Error('the log is on fire') };
    for (const name of ['source', 'silence', 'whip', 'log', 'title'] as ComponentName[]) {
      store.use({
        name,
        apply: (prev, next) => {
          calls.push({ name, prev, next });
          const a = answer[name] ?? 'applied';
          if (a instanceof Error) throw a;
          return a;
        },
      });
    }
    const before = store.config;
    const r = await store.set({
      'tone.frequency': 660,
      'input.gain_db': -3,
      'silence.enabled': false,
      'silence.after_s': 20,
      'whip.0': { url: 'https://whip.example.org/live' },
      'log.level': 'warn',
      'mp3.bitrate_kbps': 192,
      'input.channels': 1,
    });
    // Each component once, with the snapshots before and after; restart-only keys reach none.
    expect(calls.map((c) => c.name)).toEqual(['source', 'log', 'silence', 'whip']);
    for (const c of calls) {
      expect(c.prev).toBe(before);
      expect(c.next).toBe(store.config);
      expect(Object.isFrozen(c.next.input)).toBe(true);
    }
    expect(calls[0]!.prev.tone.frequency).toBe(440);
    expect(calls[0]!.next.tone.frequency).toBe(660);
    expect(r.applied).toEqual(['input', 'tone', 'silence']);
    // Declared restart keys (by section or by key), a component's 'restart', and one that threw.
    expect(r.restart_required.sort()).toEqual(['input.channels', 'log', 'mp3', 'silence', 'whip']);
    // A change only to keys nobody applies: no component is called.
    calls.length = 0;
    const only = await store.set({ 'http.port': 8081 });
    expect(calls).toEqual([]);
    expect(only).toMatchObject({ changed: ['http.port'], applied: [], restart_required: ['http'] });
  });

  test('a key whose component does not run here needs a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-store-'));
    const store = new ConfigStore(join(dir, 'hark.toml'), defaultConfig());
    const r = await store.set({ 'metadata.title': 'Evensong', 'metadata.icy_metaint': 8192 });
    expect(r).toMatchObject({ applied: [], restart_required: ['metadata.icy_metaint', 'metadata'] });
  });
});
