/**
 * Bad `[[srt]]` entries (issue 20, bad input): each is refused naming the key path and why,
 * before any socket is opened. The hostile TS a receiver could be sent is in
 * src/codecs/mpegts.test.ts (the demuxer counts and drops it).
 */
import { describe, expect, test } from 'bun:test';
import { ConfigError, parseConfig } from '../src/config/load.ts';
import { redactConfig } from '../src/config/secrets.ts';
import { srtTarget } from '../src/config/srt-url.ts';

/** [what, [[srt]] body, key path, reason ('' = any)]. */
const CASES: [string, string, string, string][] = [
  ['no URL', '', 'srt.0.url', ''],
  ['an empty URL', 'url = ""', 'srt.0.url', ''],
  ['not a URL', 'url = "studio:9000"', 'srt.0.url', ''],
  ['another scheme', 'url = "udp://127.0.0.1:9000"', 'srt.0.url', 'must start with srt://, got udp://'],
  ['no port', 'url = "srt://studio.example"', 'srt.0.url', 'needs a port: srt://host:9000'],
  ['port 0', 'url = "srt://studio.example:0"', 'srt.0.url', ''],
  ['port 70000', 'url = "srt://studio.example:70000"', 'srt.0.url', ''],
  ['rendezvous mode', 'url = "srt://studio.example:9000?mode=rendezvous"', 'srt.0.url', 'mode must be caller or listener, got "rendezvous" (rendezvous is not supported)'],
  ['a caller without a host', 'url = "srt://:9000?mode=caller"', 'srt.0.url', "caller mode needs the receiver's host: srt://studio.example:9000?mode=caller"],
  ['an unknown query parameter', 'url = "srt://studio.example:9000?mode=caller&foo=1"', 'srt.0.url', 'unknown query parameter "foo" (mode, streamid, passphrase, pbkeylen, latency)'],
  ['a path', 'url = "srt://studio.example:9000/live?mode=caller"', 'srt.0.url', 'an SRT URL has no user, password or path'],
  ['a short passphrase', 'url = "srt://s:9000"\npassphrase = "short"', 'srt.0.passphrase', "a passphrase has 10–79 characters (SRT's rule), this one has 5"],
  ['a long passphrase', `url = "srt://s:9000"\npassphrase = "${'x'.repeat(80)}"`, 'srt.0.passphrase', ''],
  ['a short passphrase in the query', 'url = "srt://s:9000?passphrase=abc"', 'srt.0.url', ''],
  ['pbkeylen 20', 'url = "srt://s:9000"\npbkeylen = 20', 'srt.0.pbkeylen', ''],
  ['pbkeylen 20 in the query', 'url = "srt://s:9000?pbkeylen=20"', 'srt.0.url', 'pbkeylen must be 16, 24 or 32, got 20'],
  ['latency 5 ms', 'url = "srt://s:9000"\nlatency_ms = 5', 'srt.0.latency_ms', ''],
  ['latency 10 s', 'url = "srt://s:9000"\nlatency_ms = 10000', 'srt.0.latency_ms', ''],
  ['latency not a number in the query', 'url = "srt://s:9000?latency=soon"', 'srt.0.url', 'latency must be 20–8000 ms, got soon'],
  ['an unknown payload', 'url = "srt://s:9000"\npayload = "aac"', 'srt.0.payload', ''],
  ['an MP2 bitrate Layer II does not have', 'url = "srt://s:9000"\npayload = "mp2"\nbitrate_kbps = 200', 'srt.0.bitrate_kbps', 'MP2 needs one of 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384 kbit/s, got 200'],
  ['an MP3 bitrate MP3 does not have', 'url = "srt://s:9000"\npayload = "mp3"\nbitrate_kbps = 100', 'srt.0.bitrate_kbps', ''],
  ['an Opus bitrate over 510', 'url = "srt://s:9000"\nbitrate_kbps = 1000', 'srt.0.bitrate_kbps', ''],
  ['a stream ID over 512 bytes', `url = "srt://s:9000"\nstream_id = "${'s'.repeat(513)}"`, 'srt.0.stream_id', ''],
  ['an unknown key', 'url = "srt://s:9000"\nmode = "caller"', 'srt.0.mode', ''],
  ['an unknown program', 'url = "srt://s:9000"\nprogram = "nope"', 'srt.0.program', 'no program "nope": the programs are "main"'],
];

describe('the config file refuses bad [[srt]] entries, naming the key', () => {
  for (const [what, body, path, reason] of CASES) {
    test(what, () => {
      let err: unknown;
      try {
        parseConfig(`[[srt]]\n${body}\n`);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.path).toBe(path);
      if (reason) expect(e.reason).toBe(reason);
    });
  }

  test('MP2 at 256 kbit/s from a mono program', () => {
    expect(() => parseConfig('[input]\nchannels = 1\n[[srt]]\nurl = "srt://s:9000"\npayload = "mp2"\n')).toThrow('srt.0.bitrate_kbps: a mono program in MP2 allows at most 192 kbit/s, got 256');
  });

  test('two listeners on one port; two entries with one id', () => {
    const two = (a: string, b: string) => `[[srt]]\n${a}\n[[srt]]\n${b}\n`;
    expect(() => parseConfig(two('url = "srt://:9000?mode=listener"', 'url = "srt://:9000?mode=listener"'))).toThrow(/port 9000 is already listened on by srt\.0/);
    expect(() => parseConfig(two('id = "a"\nurl = "srt://s:9000"', 'id = "a"\nurl = "srt://t:9000"'))).toThrow(/"a" is already the id of srt\.0/);
  });

  test('good entries: the URL query wins over the keys', () => {
    const c = parseConfig('[[srt]]\nurl = "srt://studio.example:9000?mode=caller&streamid=%23!%3A%3Ar%3Dlive&latency=300&passphrase=0123456789abc&pbkeylen=32"\nlatency_ms = 120\n');
    expect(srtTarget(c.srt[0]!)).toEqual({ mode: 'caller', host: 'studio.example', port: 9000, passphrase: '0123456789abc', pbkeylen: 32, latencyMs: 300, streamId: '#!::r=live' });
    const l = parseConfig('[[srt]]\nurl = "srt://[::1]:9001?mode=listener"\n');
    expect(srtTarget(l.srt[0]!)).toMatchObject({ mode: 'listener', host: '::1', port: 9001, latencyMs: 120, passphrase: '' });
    expect(srtTarget({ ...l.srt[0]!, url: 'srt://:9001' }).mode).toBe('listener');
  });

  test('passphrases never leave in a redacted config (diagnostics, backups)', () => {
    const c = parseConfig('[[srt]]\nurl = "srt://:9000?mode=listener&passphrase=in-the-url-123"\npassphrase = "in-the-key-4567"\n');
    const r = redactConfig(c);
    const text = JSON.stringify(r.config);
    expect(text).not.toContain('in-the-url-123');
    expect(text).not.toContain('in-the-key-4567');
    expect(text).toContain('srt://:9000?mode=listener&passphrase=(removed)');
    expect(r.secrets).toEqual(expect.arrayContaining(['in-the-url-123', 'in-the-key-4567']));
  });
});
