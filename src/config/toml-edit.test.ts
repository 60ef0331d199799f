import { describe, expect, test } from 'bun:test';
import { parse } from 'smol-toml';
import { Value } from '@sinclair/typebox/value';
import { editToml, renderToml } from './toml-edit.ts';
import { parseConfig, validateConfig } from './load.ts';
import { ConfigSchema, type Config } from './schema.ts';

const HAND = `# The studio box. Call Sam before changing the mount.

[input]
source = "pipewire"   # the USB desk
device = "alsa_input.usb-desk"

# Main stream
[[icecast]]
host = "radio.example.org"
mount = "/live.mp3"  # do not rename
password = "hackme"

[[icecast]]
url = "http://source:pw@backup.example.org:8000/backup.mp3"
`;

function change(text: string, mutate: (c: Config) => void): { text: string; preserved: boolean; old: Config; next: Config } {
  const old = parseConfig(text);
  const draft = Value.Clone(old);
  mutate(draft);
  const next = validateConfig(draft);
  return { ...editToml(text, old, next), old, next };
}

describe('editToml keeps what a person wrote', () => {
  const cases: [string, (c: Config) => void, (t: string) => void][] = [
    [
      'a changed value keeps its line and trailing comment',
      (c) => (c.input.source = 'tone'),
      (t) => expect(t).toContain('source = "tone"   # the USB desk'),
    ],
    [
      'a new key goes after the last key of its table',
      (c) => (c.input.channels = 1),
      (t) => expect(t).toContain('device = "alsa_input.usb-desk"\nchannels = 1\n'),
    ],
    [
      'a new table is appended',
      (c) => (c.tone.frequency = 1000),
      (t) => expect(t.trimEnd().endsWith('[tone]\nfrequency = 1000')).toBe(true),
    ],
    [
      'a key inside an array entry changes in place',
      (c) => (c.icecast[0]!.port = 8443),
      (t) => expect(t).toContain('mount = "/live.mp3"  # do not rename\npassword = "hackme"\nport = 8443'),
    ],
    [
      'a string needing escapes is written as TOML',
      (c) => (c.metadata.title = 'He said "hi"\\'),
      (t) => expect(parse(t).metadata).toEqual({ title: 'He said "hi"\\' }),
    ],
    [
      'an added entry rewrites that array only',
      (c) => c.icecast.push({ ...c.icecast[0]!, host: 'third.example.org', mount: '/3.mp3', password: '' }),
      (t) => {
        expect(t).toContain('# The studio box');
        expect(t).toContain('source = "pipewire"   # the USB desk');
        expect(t.match(/\[\[icecast\]\]/g)).toHaveLength(3);
      },
    ],
    [
      'a removed entry too',
      (c) => c.icecast.splice(0, 1),
      (t) => {
        expect(t).toContain('# The studio box');
        expect(t.match(/\[\[icecast\]\]/g)).toHaveLength(1);
        expect(t).toContain('backup.example.org');
      },
    ],
  ];
  for (const [name, mutate, check] of cases) {
    test(name, () => {
      const r = change(HAND, mutate);
      expect(r.preserved).toBe(true);
      check(r.text);
      // Whatever the edit, the text says exactly the new config.
      expect(Value.Equal(parseConfig(r.text), r.next)).toBe(true);
      expect(r.text).toContain('# The studio box. Call Sam before changing the mount.');
    });
  }

  test('text it cannot edit line by line is rendered whole, still exact', () => {
    const multi = '[webrtc]\ncodecs = [\n  "opus",\n  "pcmu",\n]\n# gone after the rewrite\n';
    const r = change(multi, (c) => (c.webrtc.stereo = false));
    expect(r.preserved).toBe(false);
    expect(r.text).not.toContain('gone after the rewrite');
    expect(Value.Equal(parseConfig(r.text), r.next)).toBe(true);
  });

  test('renderToml writes only what differs from the defaults', () => {
    const c = validateConfig({ input: { source: 'tone' }, icecast: [{ host: 'h', mount: '/m' }] });
    const t = renderToml(c);
    expect(parse(t)).toEqual({ input: { source: 'tone' }, icecast: [{ host: 'h', mount: '/m' }] });
    expect(Value.Equal(Value.Default(ConfigSchema, parse(t)), c)).toBe(true);
  });
});
