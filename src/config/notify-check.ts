/**
 * What the schema cannot say about `[[notify]]` entries: the URL's scheme fits the type, it has
 * a host, e-mail addresses look like addresses, headers are sendable, type-only keys stay with
 * their type. A valid entry whose server cannot be reached is not refused here: that is a state
 * the page shows (src/notify).
 */
import type { Config } from './schema.ts';
import type { EntryProblem } from './check.ts';

type NotifyEntry = Config['notify'][number];

const SCHEMES: Record<NotifyEntry['type'], readonly string[]> = {
  webhook: ['http:', 'https:'],
  email: ['smtp:', 'smtps:'],
  mqtt: ['mqtt:', 'mqtts:'],
};

/** What an address looks like, per type: the refusal of an empty one shows it. */
const EXAMPLES: Record<NotifyEntry['type'], string> = {
  webhook: 'the URL to POST to, e.g. https://ntfy.sh/my-topic',
  email: 'the mail server, e.g. smtp://user:password@mail.example.org:587',
  mqtt: 'the broker, e.g. mqtt://user:password@broker.local:1883',
};

/** local@domain: no spaces, quotes, angle brackets or control characters; a dotted domain of LDH labels. */
const ADDRESS = /^[^\s@"<>(),;:\\[\]\x00-\x1f\x7f]{1,64}@(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;
/** RFC 9110 §5.1 field-name: a token. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Headers hark sets itself (or that fetch refuses). */
const OWN_HEADERS = new Set(['content-length', 'host', 'transfer-encoding', 'connection', 'content-type']);
/** An MQTT topic level set hark publishes under: no wildcards, no empty levels, no leading `$`. */
const TOPIC = /^(?!\$)[^#+\x00-\x1f\x7f]+$/;

export function isEmailAddress(s: string): boolean {
  return ADDRESS.test(s);
}

/** The first problem with the `[[notify]]` entries, or null. */
export function checkNotifyEntries(entries: readonly NotifyEntry[]): EntryProblem | null {
  for (const [i, e] of entries.entries()) {
    const at = (k: string, reason: string): EntryProblem => ({ path: `notify.${i}.${k}`, reason });
    if (!e.url.trim()) return at('url', `an address is needed: ${EXAMPLES[e.type]}`);
    let u: URL;
    try {
      u = new URL(e.url);
    } catch {
      return at('url', `not a URL: ${JSON.stringify(e.url.slice(0, 100))}`);
    }
    const ok = SCHEMES[e.type];
    if (!ok.includes(u.protocol)) return at('url', `${e.type === 'email' ? 'an' : 'a'} ${e.type} entry needs ${ok.map((s) => `${s}//`).join(' or ')}, got ${u.protocol}//`);
    if (!u.hostname) return at('url', `names no ${e.type === 'email' ? 'mail server' : e.type === 'mqtt' ? 'broker' : 'host'}`);
    if (u.port && (Number(u.port) < 1 || Number(u.port) > 65535)) return at('url', `port ${u.port} is not 1 to 65535`);
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(e.name)) return at('name', 'a short name without control characters');
    if (e.type !== 'email' && e.to.length) return at('to', 'only an email entry has addresses to write to');
    if (e.type !== 'email' && e.from) return at('from', 'only an email entry has a sender');
    if (e.type !== 'webhook' && Object.keys(e.headers).length) return at('headers', 'only a webhook entry sends headers');
    if (e.type !== 'mqtt' && e.topic) return at('topic', 'only an mqtt entry has a topic');
    if (e.type === 'email') {
      if (!e.to.length) return at('to', 'an email entry needs at least one address to write to, e.g. to = ["ops@example.org"]');
      for (const [j, a] of e.to.entries()) if (!isEmailAddress(a)) return at(`to.${j}`, `not an e-mail address: ${JSON.stringify(a.slice(0, 80))}`);
      if (e.from && !isEmailAddress(e.from)) return at('from', `not an e-mail address: ${JSON.stringify(e.from.slice(0, 80))}`);
      if (u.pathname && u.pathname !== '/') return at('url', 'an SMTP URL has no path: smtp://user:password@host:587');
    }
    if (e.type === 'webhook') {
      for (const [k, v] of Object.entries(e.headers)) {
        if (!HEADER_NAME.test(k)) return at(`headers.${k}`, 'not a header name (letters, digits and -)');
        if (OWN_HEADERS.has(k.toLowerCase())) return at(`headers.${k}`, 'hark sets this header itself');
        // eslint-disable-next-line no-control-regex
        if (/[\x00-\x08\x0a-\x1f\x7f]/.test(v)) return at(`headers.${k}`, 'a header value has no line breaks or control characters');
      }
    }
    if (e.type === 'mqtt') {
      if (u.pathname && u.pathname !== '/') return at('url', 'a broker URL has no path: mqtt://user:password@host:1883 (the topic goes in topic)');
      if (e.topic && (!TOPIC.test(e.topic) || e.topic.split('/').some((l) => l === ''))) return at('topic', 'an MQTT topic without +, #, empty levels or a leading $, e.g. "hark/studio"');
      if (!/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/.test(e.discovery_prefix)) return at('discovery_prefix', 'letters, digits, _ and - (Home Assistant\'s is "homeassistant")');
    }
  }
  return null;
}
