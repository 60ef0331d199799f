import { describe, expect, test } from 'bun:test';
import { schemaLeaves } from './live.ts';
import { parseConfig } from './load.ts';
import { NOT_SECRET, REMOVED, SECRET_KEYS, redactConfig, scrubSecrets } from './secrets.ts';

const LOOKS_SECRET = /pass|token|credential|secret|(^|[._])key($|[._])|url$/;

describe('secret keys', () => {
  test('every key whose name looks secret is declared secret or not, and every declared key exists', () => {
    const leaves = schemaLeaves();
    const undeclared = leaves.filter((k) => LOOKS_SECRET.test(k.split('.').pop()!) && !(k in SECRET_KEYS) && !(k in NOT_SECRET));
    expect(undeclared).toEqual([]);
    const unknown = [...Object.keys(SECRET_KEYS), ...Object.keys(NOT_SECRET)].filter((k) => !leaves.includes(k));
    expect(unknown).toEqual([]);
  });

  const config = parseConfig(`
[admin]
password = "first-boot-pass"
[access]
listener_token = "listen-tok-123"
[webrtc]
token = "whep-tok-456"
[[webrtc.ice_servers]]
url = "turn:turn.example.org:3478?transport=udp"
username = "turnuser"
credential = "turn-cred-789"
[[icecast]]
id = "main"
url = "https://source:p%40ss-w0rd@radio.example.org:8443/live.mp3?key=q-secret"
[[icecast]]
id = "second"
host = "127.0.0.1"
port = 8000
mount = "/b.mp3"
password = "hackme-2"
[[whip]]
id = "cf"
url = "https://customer.example.net/0123abcdkey/webRTC/publish"
token = "bearer-xyz"
`);

  test('a redacted config keeps what helps (hosts, ports, mounts, users) and loses every secret', () => {
    const { config: r, secrets } = redactConfig(config);
    const text = JSON.stringify(r);
    for (const s of ['first-boot-pass', 'listen-tok-123', 'whep-tok-456', 'turn-cred-789', 'p@ss-w0rd', 'p%40ss-w0rd', 'q-secret', 'hackme-2', '0123abcdkey', 'bearer-xyz']) {
      expect(text).not.toContain(s);
    }
    const ice = r.icecast as { url: string; host: string; mount: string; password: string }[];
    expect(ice[0]!.url).toBe(`https://source:${REMOVED}@radio.example.org:8443/live.mp3?key=${REMOVED}`);
    expect(ice[1]!.password).toBe(REMOVED);
    expect(ice[1]!.mount).toBe('/b.mp3');
    expect((r.whip as { url: string }[])[0]!.url).toBe(`https://customer.example.net/${REMOVED}`);
    expect((r.webrtc as { ice_servers: { username: string }[] }).ice_servers[0]!.username).toBe('turnuser');
    // Secrets not set stay empty, so the report shows they were not set.
    const plain = redactConfig(parseConfig(''));
    expect((plain.config.access as { listener_token: string }).listener_token).toBe('');
    expect(plain.secrets).toEqual([]);
    // Every value found, for cleaning other text.
    expect(secrets).toEqual(expect.arrayContaining(['first-boot-pass', 'p@ss-w0rd', 'q-secret', 'hackme-2', '0123abcdkey/webRTC/publish', 'bearer-xyz', 'turn-cred-789']));
  });

  test('scrubSecrets cleans text of each secret, also URL-encoded and JSON-escaped', () => {
    const { secrets } = redactConfig(config);
    const log = 'connecting to https://source:p%40ss-w0rd@radio.example.org:8443/ with "p@ss-w0rd"; token bearer-xyz; path /0123abcdkey/webRTC/publish';
    const out = scrubSecrets(log, secrets);
    expect(out).not.toMatch(/p%40ss|p@ss|bearer-xyz|0123abcdkey/);
    expect(out).toContain('radio.example.org:8443');
    expect(scrubSecrets('a "quote\\"d" b', ['quote"d'])).toBe(`a "${REMOVED}" b`);
  });

  test('a config the redaction does not know (extra fields, odd values) never throws', () => {
    const odd = structuredClone(config) as unknown as Record<string, unknown>;
    (odd.icecast as unknown[]).push(null as unknown as never);
    (odd as { whip: unknown }).whip = 'not a list';
    expect(() => redactConfig(odd as never)).not.toThrow();
    const { config: r } = redactConfig({ ...config, icecast: [{ ...config.icecast[0]!, url: 'not a url with secret' }] });
    expect((r.icecast as { url: string }[])[0]!.url).toBe(REMOVED);
  });
});
