/**
 * The hostile and mistaken [[notify]] corpus: every entry is refused when the config is read,
 * naming its key path and why; the good ones load.
 */
import { describe, expect, test } from 'bun:test';
import { ConfigError, parseConfig } from './load.ts';

const refusal = (toml: string): { path: string; reason: string } | null => {
  try {
    parseConfig(toml);
    return null;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { path: e.path, reason: e.reason };
  }
};

const CORPUS: [string, string, string, RegExp][] = [
  ['no type', 'url = "https://x.example/h"', 'notify.0.type', /must be one of "webhook", "email", "mqtt"/],
  ['unknown type', 'type = "sms"\nurl = "https://x.example/h"', 'notify.0.type', /must be one of/],
  ['no url', 'type = "webhook"', 'notify.0.url', /./],
  ['empty url (webhook)', 'type = "webhook"\nurl = ""', 'notify.0.url', /^an address is needed: the URL to POST to, e\.g\. https:\/\/ntfy\.sh\/my-topic$/],
  ['empty url (email)', 'type = "email"\nurl = " "\nto = ["a@example.org"]', 'notify.0.url', /^an address is needed: the mail server, e\.g\. smtp:\/\//],
  ['empty url (mqtt)', 'type = "mqtt"\nurl = ""', 'notify.0.url', /^an address is needed: the broker, e\.g\. mqtt:\/\//],
  ['not a URL', 'type = "webhook"\nurl = "ntfy.sh/topic"', 'notify.0.url', /not a URL/],
  ['webhook over smtp', 'type = "webhook"\nurl = "smtp://mail.example.org"', 'notify.0.url', /needs http:\/\/ or https:\/\//],
  ['webhook file URL', 'type = "webhook"\nurl = "file:///etc/passwd"', 'notify.0.url', /needs http/],
  ['webhook javascript URL', 'type = "webhook"\nurl = "javascript:alert(1)"', 'notify.0.url', /needs http/],
  ['email over https', 'type = "email"\nurl = "https://mail.example.org"\nto = ["a@example.org"]', 'notify.0.url', /needs smtp:\/\/ or smtps:\/\//],
  ['email without host', 'type = "email"\nurl = "smtp://"\nto = ["a@example.org"]', 'notify.0.url', /./],
  ['email without to', 'type = "email"\nurl = "smtp://mail.example.org:587"', 'notify.0.to', /at least one address/],
  ['email bad address', 'type = "email"\nurl = "smtp://mail.example.org"\nto = ["ops"]', 'notify.0.to.0', /not an e-mail address: "ops"/],
  ['email header injection', 'type = "email"\nurl = "smtp://mail.example.org"\nto = ["a@example.org\\r\\nBcc: x@evil.example"]', 'notify.0.to.0', /not an e-mail address/],
  ['email two addresses in one', 'type = "email"\nurl = "smtp://mail.example.org"\nto = ["a@example.org, b@example.org"]', 'notify.0.to.0', /not an e-mail address/],
  ['email bad from', 'type = "email"\nurl = "smtp://mail.example.org"\nto = ["a@example.org"]\nfrom = "hark <x@y>"', 'notify.0.from', /not an e-mail address/],
  ['email with a path', 'type = "email"\nurl = "smtp://mail.example.org/inbox"\nto = ["a@example.org"]', 'notify.0.url', /no path/],
  ['mqtt over http', 'type = "mqtt"\nurl = "http://broker.example.org:1883"', 'notify.0.url', /needs mqtt:\/\/ or mqtts:\/\//],
  ['mqtt websocket', 'type = "mqtt"\nurl = "ws://broker.example.org:9001"', 'notify.0.url', /needs mqtt/],
  ['mqtt with a path', 'type = "mqtt"\nurl = "mqtt://broker.example.org/hark"', 'notify.0.url', /no path/],
  ['mqtt bad port', 'type = "mqtt"\nurl = "mqtt://broker.example.org:99999"', 'notify.0.url', /not a URL/],
  ['mqtt wildcard topic', 'type = "mqtt"\nurl = "mqtt://b.example.org"\ntopic = "hark/#"', 'notify.0.topic', /without \+, #/],
  ['mqtt empty topic level', 'type = "mqtt"\nurl = "mqtt://b.example.org"\ntopic = "hark//studio"', 'notify.0.topic', /empty levels/],
  ['mqtt $SYS topic', 'type = "mqtt"\nurl = "mqtt://b.example.org"\ntopic = "$SYS/hark"', 'notify.0.topic', /leading \$/],
  ['mqtt bad discovery prefix', 'type = "mqtt"\nurl = "mqtt://b.example.org"\ndiscovery_prefix = "home assistant"', 'notify.0.discovery_prefix', /letters, digits/],
  ['to on a webhook', 'type = "webhook"\nurl = "https://x.example/h"\nto = ["a@example.org"]', 'notify.0.to', /only an email entry/],
  ['headers on mqtt', 'type = "mqtt"\nurl = "mqtt://b.example.org"\nheaders = { A = "b" }', 'notify.0.headers', /only a webhook/],
  ['topic on email', 'type = "email"\nurl = "smtp://m.example.org"\nto = ["a@example.org"]\ntopic = "x"', 'notify.0.topic', /only an mqtt entry/],
  ['header name with a space', 'type = "webhook"\nurl = "https://x.example/h"\nheaders = { "X Bad" = "1" }', 'notify.0.headers.X Bad', /not a header name/],
  ['header value with a line break', 'type = "webhook"\nurl = "https://x.example/h"\nheaders = { X-A = "1\\r\\nHost: evil" }', 'notify.0.headers.X-A', /no line breaks/],
  ['header hark sets', 'type = "webhook"\nurl = "https://x.example/h"\nheaders = { Content-Length = "0" }', 'notify.0.headers.Content-Length', /sets this header itself/],
  ['unknown event', 'type = "webhook"\nurl = "https://x.example/h"\nevents = ["silence", "weather"]', 'notify.0.events.1', /must be one of/],
  ['repeated event', 'type = "webhook"\nurl = "https://x.example/h"\nevents = ["silence", "silence"]', 'notify.0.events', /./],
  ['severity', 'type = "webhook"\nurl = "https://x.example/h"\nmin_severity = "debug"', 'notify.0.min_severity', /"info", "warning", "critical"/],
  ['negative repeat', 'type = "webhook"\nurl = "https://x.example/h"\nrepeat_minutes = -1', 'notify.0.repeat_minutes', /between 0 and 10080/],
  ['grace as text', 'type = "webhook"\nurl = "https://x.example/h"\noutput_grace_s = "60"', 'notify.0.output_grace_s', /must be an integer/],
  ['unknown key', 'type = "webhook"\nurl = "https://x.example/h"\npassword = "x"', 'notify.0.password', /unknown key/],
  ['control characters in the name', 'type = "webhook"\nurl = "https://x.example/h"\nname = "a\\u001b[31m"', 'notify.0.name', /control characters/],
];

describe('[[notify]] entries that are refused name their key path', () => {
  for (const [what, body, path, reason] of CORPUS) {
    test(what, () => {
      const r = refusal(`[[notify]]\n${body}\n`);
      expect(r?.path).toBe(path);
      expect(r!.reason).toMatch(reason);
    });
  }

  test('a bad second entry is named by its index', () => {
    const r = refusal('[[notify]]\ntype = "webhook"\nurl = "https://x.example/h"\n[[notify]]\ntype = "email"\nurl = "smtp://m.example.org"\nto = ["nobody"]\n');
    expect(r).toEqual({ path: 'notify.1.to.0', reason: 'not an e-mail address: "nobody"' });
  });

  test('valid entries load, unreachable or not', () => {
    const c = parseConfig(`[[notify]]
type = "webhook"
url = "https://ntfy.sh/my-church"
headers = { Authorization = "Bearer x", Title = "hark" }
[[notify]]
type = "email"
url = "smtps://alerts%40example.org:p%40ss@mail.example.org:465"
to = ["ops@example.org", "Jan.de-Vries+hark@kerk.example.nl"]
min_severity = "critical"
repeat_minutes = 30
[[notify]]
type = "mqtt"
url = "mqtt://hark:secret@192.0.2.1:1883"
topic = "church/hark"
events = ["silence", "restart"]
`);
    expect(c.notify.map((n) => n.type)).toEqual(['webhook', 'email', 'mqtt']);
    expect(c.notify[0]!.events).toContain('other');
    expect(c.notify[2]!.output_grace_s).toBe(60);
  });
});

describe('[[notify]] secrets stay out of the diagnostic report', () => {
  test('URLs keep only scheme, host and port; header values are removed, their names kept', async () => {
    const { redactConfig, REMOVED } = await import('./secrets.ts');
    const c = parseConfig(`[[notify]]
type = "webhook"
url = "https://hooks.example.org/api/webhook/s3cr3t-hook-id?key=k3y"
headers = { Authorization = "Bearer tok3n" }
[[notify]]
type = "email"
url = "smtps://alerts%40example.org:p4ssw0rd@mail.example.org:465"
to = ["ops@example.org"]
[[notify]]
type = "mqtt"
url = "mqtt://hark:br0ker@192.0.2.5:1883"
`);
    const r = redactConfig(c);
    const n = r.config.notify as { url: string; headers: Record<string, string> }[];
    expect(n.map((e) => e.url)).toEqual([`https://hooks.example.org/${REMOVED}`, 'smtps://mail.example.org:465', 'mqtt://192.0.2.5:1883']);
    expect(n[0]!.headers).toEqual({ Authorization: REMOVED });
    for (const s of ['Bearer tok3n', 'p4ssw0rd', 'br0ker', 'k3y']) expect(r.secrets).toContain(s);
    expect(JSON.stringify(r.config)).not.toMatch(/tok3n|p4ssw0rd|br0ker|s3cr3t/);
  });
});
