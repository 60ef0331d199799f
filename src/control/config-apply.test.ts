import { sourceSettings } from '../audio/source-settings.ts';
import { describe, expect, test } from 'bun:test';
import { CONFIG_KEYS, type ComponentName, type KeyRule } from '../config/live.ts';
import { defaultConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { snapshot } from '../config/store.ts';
import type { AppContext } from './context.ts';
import { configComponents } from './config-apply.ts';

type Parts = Pick<AppContext, 'config' | 'pipeline' | 'broadcast' | 'mp3' | 'webrtc'>;

/** The parts the components touch, recording what is done to them. */
function fakeParts(config: Config) {
  const did: string[] = [];
  // BroadcastOutputs applies its own part (its tests: src/control/output-events.test.ts).
  const broadcast = {
    metadata: { set: (t: string) => did.push(`title ${t}`) },
    applyOutputs: async (kind: string, prev: Config, next: Config) => (did.push(`${kind} ${next[kind as 'icecast'].length} entries`), prev.input.channels === next.input.channels ? 'applied' : 'restart'),
    applyRecording: (_prev: Config, next: Config) => (did.push(`recording ${next.recording.enabled}`), 'applied'),
    applySilence: (_prev: Config, next: Config) => (did.push(`silence ${next.silence.enabled}`), 'applied'),
  };
  const pipeline = {
    setSource: (s: { source: string; gainDb: number }) => did.push(`source ${s.source} ${s.gainDb} dB`),
    setOffAir: (on: boolean) => did.push(`off air silenced ${on}`),
  };
  // Stand-ins for the few methods the components call; a real pipeline needs PipeWire.
  const parts = { config, pipeline, broadcast, mp3: {}, webrtc: undefined } as unknown as Parts;
  return { parts, did, broadcast };
}


const change = (c: Config, edit: (d: Config) => void): Config => {
  const d = structuredClone(c) as Config;
  edit(d);
  return snapshot(d);
};

describe('the components that apply config changes', () => {
  test('every component live.ts names is registered: the control plane\'s, tls and notify (the HTTPS server and the notifiers, by the daemon) and automation (by the plane)', () => {
    const names = configComponents(fakeParts(defaultConfig()).parts, { live: () => false, sourceSettings }).map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    const rules = Object.values(CONFIG_KEYS).flatMap((r) => ('live' in r || 'restart' in r ? [r as KeyRule] : (Object.values(r) as KeyRule[])));
    const owners = new Set(rules.flatMap((r) => ('live' in r ? [r.live] : [])));
    expect([...owners].filter((o) => o !== 'tls' && o !== 'notify' && o !== 'automation' && !names.includes(o))).toEqual([]);
    expect(names.filter((n) => !owners.has(n))).toEqual([]);
  });

  test('each is given the previous and the next snapshot and applies the difference, or says restart', async () => {
    const prev = snapshot(defaultConfig());
    const { parts, did } = fakeParts(prev);
    const byName = new Map(configComponents(parts, { live: () => true, sourceSettings }).map((c) => [c.name, c] as [ComponentName, (typeof c)]));
    const apply = (name: ComponentName, next: Config) => byName.get(name)!.apply(prev, next);

    expect(await apply('source', change(prev, (d) => (d.input.gain_db = -6)))).toBe('applied');
    // A tone setting means nothing while an interface is captured: the source is not re-opened.
    expect(await apply('source', change(prev, (d) => (d.tone.frequency = 880)))).toBe('applied');
    // The pipeline is built for its channel count.
    expect(await apply('source', change(prev, (d) => ((d.input.channels = 1), (d.input.gain_db = 3))))).toBe('restart');
    expect(await apply('title', change(prev, (d) => (d.metadata.title = 'Evensong')))).toBe('applied');
    expect(await apply('off-air', change(prev, (d) => (d.control.local_listeners_off_air = 'audio')))).toBe('applied');
    const recOn = change(prev, (d) => (d.recording.enabled = true));
    expect(await apply('recording', recOn)).toBe('applied');
    expect(await apply('silence', change(prev, (d) => (d.silence.enabled = false)))).toBe('applied');
    expect(await apply('icecast', change(prev, (d) => (d.input.channels = 1)))).toBe('restart');
    expect(await apply('whip', change(prev, (d) => (d.whip = [])))).toBe('applied');
    expect(did).toEqual(['source auto -6 dB', 'title Evensong', 'off air silenced false', 'recording true', 'silence false', 'icecast 0 entries', 'whip 0 entries']);
  });
});
