import { describe, expect, test } from 'bun:test';
import { Type as T } from '@sinclair/typebox';
import { CONFIG_KEYS, ruleFor, schemaLeaves, undeclaredKeys } from './live.ts';
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
});
