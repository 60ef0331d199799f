import { describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore, coerce } from './store.ts';
import { ConfigError, loadConfig, parseConfig } from './load.ts';
import { forceLogLevel } from '../log.ts';

forceLogLevel('error');

function fresh(text = '# mine\n[input]\nsource = "tone"\n'): { store: ConfigStore; path: string; applied: string[][] } {
  const dir = mkdtempSync(join(tmpdir(), 'hark-store-'));
  const path = join(dir, 'hark.toml');
  writeFileSync(path, text);
  const store = new ConfigStore(path, loadConfig(path));
  const applied: string[][] = [];
  store.setApplier((prev, next) => {
    applied.push(Object.keys(next).filter((k) => JSON.stringify(prev[k as keyof typeof prev]) !== JSON.stringify(next[k as keyof typeof next])));
    return { applied: ['x'], restart: [] };
  });
  return { store, path, applied };
}

describe('ConfigStore', () => {
  test('a change is written (with .bak), swapped into the live object and applied', async () => {
    const { store, path, applied } = fresh();
    const live = store.config;
    const r = await store.set({ 'tone.frequency': '880' });
    expect(r.changed).toEqual(['tone.frequency']);
    expect(live.tone.frequency).toBe(880); // the same object every component holds
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
});
