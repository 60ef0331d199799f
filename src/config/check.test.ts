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
  ['a network input without a URL', '[input]\nsource = "rtp"', 'input.url', 'is empty: a rtp input needs one, e.g. rtp://:5004'],
  ['an rtp input with an srt URL', '[input]\nsource = "rtp"\nurl = "srt://:9000"', 'input.url', 'must start with rtp:// for input.source = "rtp"'],
  ['an rtp input without a port', '[input]\nsource = "rtp"\nurl = "rtp://239.1.1.1"', 'input.url', 'expected host:port after the scheme, got "239.1.1.1"'],
  ['an rtp port out of range', '[input]\nsource = "rtp"\nurl = "rtp://:70000"', 'input.url', 'needs a port 1–65535, as in rtp://:5004'],
  ['"@" before a unicast address', '[input]\nsource = "rtp"\nurl = "rtp://@10.0.0.1:5004"', 'input.url', '"@10.0.0.1" is not a multicast group (224.0.0.0–239.255.255.255)'],
  ['an unknown rtp payload', '[input]\nsource = "rtp"\nurl = "rtp://:5004?payload=aac"', 'input.url', 'payload=aac is not one of l16, l24, opus'],
  ['an srt caller without a host', '[input]\nsource = "srt"\nurl = "srt://:9000?mode=caller"', 'input.url', 'a caller needs the host to call, as in srt://studio.example:9000?mode=caller'],
  ['an srt mode that is neither', '[input]\nsource = "srt"\nurl = "srt://:9000?mode=rendezvous"', 'input.url', 'mode=rendezvous is not listener or caller'],
  ['a short SRT passphrase', '[input]\nsource = "srt"\nurl = "srt://:9000"\npassphrase = "short"', 'input.passphrase', 'SRT needs 10–79 characters (got 5), or empty for no encryption'],
  ['an output device with a newline', '[input]\nsource = "srt"\nurl = "srt://:9000"\noutput_device = "a\\nb"', 'input.output_device', 'a PipeWire node name without control characters'],
])('refused: %s', (_what, toml, path, reason) => {
  expect(() => parseConfig(toml)).toThrow(reason);
  // The check itself is pure code on a config value (no codec, no output, no file).
  const c = Value.Default(ConfigSchema, Bun.TOML.parse(toml)) as Config;
  expect(checkBroadcastConfig(c)).toEqual({ path, reason });
});

test('network inputs that pass', () => {
  for (const toml of [
    '[input]\nsource = "rtp"\nurl = "rtp://:5004"',
    '[input]\nsource = "rtp"\nurl = "rtp://@239.69.1.10:5004?payload=l24&channels=2&pt=96"',
    '[input]\nsource = "srt"\nurl = "srt://:9000?mode=listener"\npassphrase = "0123456789"',
    '[input]\nsource = "srt"\nurl = "srt://studio.example:9000?mode=caller&streamid=live&latency=200"\noutput_device = "none"',
    // a URL is only checked when the source is a network one
    '[input]\nsource = "tone"\nurl = "nonsense"',
  ]) {
    expect(() => parseConfig(toml)).not.toThrow();
  }
});

test('the defaults and a plain Icecast entry pass', () => {
  expect(checkBroadcastConfig(defaultConfig())).toBeNull();
  expect(() => parseConfig(ice('format = "mp3"\nbitrate_kbps = 128'))).not.toThrow();
});

test('the [mp3] bitrates the schema accepts are the one MP3 bitrate list', () => {
  const union = Mp3Schema.properties.bitrate_kbps.anyOf.map((s) => s.const);
  expect(union).toEqual([...MP3_BITRATES_KBPS]);
});
