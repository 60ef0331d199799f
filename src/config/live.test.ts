import { describe, expect, test } from 'bun:test';
import { Type as T } from '@sinclair/typebox';
import { applyChange, CONFIG_KEYS, ruleFor, schemaLeaves, undeclaredKeys, type ComponentName, type ConfigComponent } from './live.ts';
import { defaultConfig } from './load.ts';
import { ConfigSchema } from './schema.ts';

describe('which keys apply live (src/config/live.ts)', () => {
  test('every key of the schema is applied live by a named component or flagged as needing a restart', () => {
    const leaves = schemaLeaves();
    // The walk reaches the leaves, inside lists of tables too.
    expect(leaves).toContain('input.channels');
    expect(leaves).toContain('icecast.*.url');
    expect(leaves).toContain('gpio.button.*.long_action');
    expect(leaves).toContain('webrtc.codecs');
    expect(undeclaredKeys()).toEqual([]);
  });

  test('a key added to the schema without a rule is reported', () => {
    const grown = T.Object({ ...ConfigSchema.properties, input: T.Object({ ...ConfigSchema.properties.input.properties, boost: T.Boolean() }), radio: T.Object({ band: T.String() }) });
    expect(undeclaredKeys(grown)).toEqual(['input.boost', 'radio.band']);
    // A section declared whole covers a new key of its own.
    const tone = T.Object({ ...ConfigSchema.properties, tone: T.Object({ ...ConfigSchema.properties.tone.properties, shape: T.String() }) });
    expect(undeclaredKeys(tone)).toEqual([]);
  });

  test('the rules answer for keys as the store sees them changed', () => {
    expect(ruleFor('tone.frequency')).toEqual({ live: 'source' });
    expect(ruleFor('input.gain_db')).toEqual({ live: 'source' });
    expect(ruleFor('input.channels')).toEqual({ restart: 'key' });
    expect(ruleFor('mp3.bitrate_kbps')).toEqual({ restart: 'section' });
    expect(ruleFor('icecast')).toEqual({ live: 'icecast' });
    expect(ruleFor('icecast.2.port')).toEqual({ live: 'icecast' });
    expect(ruleFor('silence.after_s')).toEqual({ restart: 'section' });
    expect(ruleFor('control.state_dir')).toEqual({ restart: 'key' });
    expect(ruleFor('input.nope')).toBeUndefined();
    expect(ruleFor('nope')).toBeUndefined();
    expect(Object.keys(CONFIG_KEYS).sort()).toEqual(Object.keys(ConfigSchema.properties).sort());
  });

  test.each([
    ['tone.frequency', { applied: ['tone'], restart: [] }],
    ['input.gain_db', { applied: ['input'], restart: [] }],
    ['input.channels', { applied: [], restart: ['input.channels'] }],
    ['mp3.bitrate_kbps', { applied: [], restart: ['mp3'] }],
    ['silence.after_s', { applied: [], restart: ['silence'] }],
    ['silence.enabled', { applied: ['silence'], restart: [] }],
    ['recording.dir', { applied: [], restart: ['recording'] }],
    ['metadata.icy_metaint', { applied: [], restart: ['metadata.icy_metaint'] }],
    ['metadata.title', { applied: ['metadata'], restart: [] }],
    ['tls.port', { applied: [], restart: ['tls'] }],
    ['tls.cert_file', { applied: ['tls'], restart: [] }],
    ['http.port', { applied: [], restart: ['http'] }],
    ['http.allowed_hosts', { applied: ['http'], restart: [] }],
    ['webrtc.token', { applied: [], restart: ['webrtc'] }],
    ['gpio.button.0.line', { applied: [], restart: ['gpio'] }],
    ['icecast.0.port', { applied: ['icecast'], restart: [] }],
    ['control.on_boot', { applied: ['control'], restart: [] }],
    ['control.state_dir', { applied: [], restart: ['control.state_dir'] }],
    ['access.session_hours', { applied: ['access'], restart: [] }],
  ])('what the answer tells the user when %s changes (every component applying)', async (key, want) => {
    const names = new Set<ComponentName>(['log', 'source', 'title', 'icecast', 'whip', 'recording', 'silence', 'off-air', 'tls', 'on-use']);
    const all = new Map<ComponentName, ConfigComponent>([...names].map((name) => [name, { name, apply: () => 'applied' as const }]));
    const c = defaultConfig();
    expect(await applyChange(all, c, c, [key])).toEqual(want);
  });
});
