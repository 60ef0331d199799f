import { expect, test } from 'bun:test';
import { checkBroadcastConfig } from './check.ts';
import { defaultConfig, parseConfig } from './load.ts';
import { MP3_BITRATES_KBPS } from './mp3-bitrates.ts';
import { Value } from '@sinclair/typebox/value';
import { ConfigSchema, Mp3Schema, type Config } from './schema.ts';

const ice = (over: string) => `[[icecast]]\nhost = "ice.example"\nmount = "/live.mp3"\n${over}`;

test.each([
  ['an Icecast entry without host or url', '[[icecast]]\nmount = "/a"', 'icecast.0.host', 'give url or host'],
  ['an Icecast url that is not http(s)', '[[icecast]]\nurl = "ftp://h/a"', 'icecast.0.url', 'must start with http:// or https:// (got ftp://)'],
  ['two Icecast entries with one id', `${ice('')}\n${ice('')}`, 'icecast.1.id', '"live.mp3" is used by another entry; give each a distinct id'],
  ['an MP3 Icecast bitrate LAME cannot carry', ice('format = "mp3"\nbitrate_kbps = 100'), 'icecast.0.bitrate_kbps', `an MP3 stream needs one of ${MP3_BITRATES_KBPS.join(', ')}, got 100`],
  ['an MP3 recording bitrate LAME cannot carry', '[recording]\nformat = "mp3"\nbitrate_kbps = 100', 'recording.bitrate_kbps', `an MP3 recording needs one of ${MP3_BITRATES_KBPS.join(', ')}, got 100`],
  ['a WHIP url that is not a URL', '[[whip]]\nurl = "nowhere"', 'whip.0.url', 'not a URL: "nowhere"'],
])('refused: %s', (_what, toml, path, reason) => {
  expect(() => parseConfig(toml)).toThrow(reason);
  // The check itself is pure code on a config value (no codec, no output, no file).
  const c = Value.Default(ConfigSchema, Bun.TOML.parse(toml)) as Config;
  expect(checkBroadcastConfig(c)).toEqual({ path, reason });
});

test('the defaults and a plain Icecast entry pass', () => {
  expect(checkBroadcastConfig(defaultConfig())).toBeNull();
  expect(() => parseConfig(ice('format = "mp3"\nbitrate_kbps = 128'))).not.toThrow();
});

test('the [mp3] bitrates the schema accepts are the one MP3 bitrate list', () => {
  const union = Mp3Schema.properties.bitrate_kbps.anyOf.map((s) => s.const);
  expect(union).toEqual([...MP3_BITRATES_KBPS]);
});
