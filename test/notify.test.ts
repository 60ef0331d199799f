/**
 * Alerts that reach a person (issue 17, item 1), with real parts, in one hark start: a webhook
 * receiver (Bun.serve), two SMTP servers (Debian's python3-aiosmtpd: plain, and STARTTLS with a
 * required login), Mosquitto brokers on loopback, PipeWire playing a tone into hark's input.
 * The tone stops → every notifier gets the silence alert within silence.after_s + 2 s, with the
 * clip's link; it comes back → the recovery. A broker that refuses the login, one that is down
 * and a refused SMTP login are states on the page and in /api/notify, never an error: the down
 * broker's alert waits and goes out when the broker comes; /stream.mp3 flows throughout. Home
 * Assistant discovery validates against HA's documented rules, and a command on the command
 * topic goes live.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Subprocess } from 'bun';
import mqtt, { type MqttClient } from 'mqtt';
import { startPipewire, type PipewireHarness, type Player } from './lib/pipewire.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { session } from './lib/session.ts';
import { until } from './lib/wait.ts';
import { injectAxe, launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { loginInPage } from './lib/session.ts';
import { CLIPS_DIR, clipFile } from '../src/outputs/clip-name.ts';

const PASSWORD = 'notify test password';
const AFTER_S = 1;
const ROOT = resolve(import.meta.dir, '..');
const SHOTS = '/tmp/shots-n2';
const CLIP_BYTES = new Uint8Array(4000).fill(7);

let pw: PipewireHarness;
let tone: Player | undefined;
let hark: HarkProcess;
let smtp: Subprocess<'pipe', 'pipe', 'pipe'>;
const brokers: Subprocess[] = [];
let webhook: ReturnType<typeof Bun.serve>;
let sub: MqttClient;
let chrome: ChromiumHandle | undefined;
let auth: { cookie: string; csrf: string };

type Doc = { event: string; id: string; state: string; severity: string; message: string; since: string; clip: string | null; box: { name: string; address: string; url: string }; text: string };
const hooks: { at: number; doc: Doc; headers: Headers }[] = [];
const mails: { at: number; server: string; to: string[]; subject: string; text: string; attachments: { name: string; type: string; bytes: number }[] }[] = [];
const mq: { at: number; topic: string; payload: string; retain: boolean }[] = [];
const retained = new Map<string, string>();
let ports: { good: number; late: number; closed: number };
let work: string;
/** /stream.mp3: when each chunk arrived, and the bytes. */
const stream = { chunks: [] as number[], bytes: 0, ac: new AbortController() };

/** A free TCP port in this file's range (32000–32099), found by binding it. */
function freePort(skip: number[] = []): number {
  for (let p = 32010; p < 32100; p++) {
    if (skip.includes(p)) continue;
    try {
      const s = Bun.listen({ hostname: '127.0.0.1', port: p, socket: { data() {} } });
      s.stop(true);
      return p;
    } catch {
      // taken
    }
  }
  throw new Error('no free port in 32010–32099');
}

async function startBroker(port: number, users: Record<string, string> | null): Promise<Subprocess> {
  const dir = join(work, `mosquitto-${port}`);
  mkdirSync(dir, { recursive: true });
  const lines = [`listener ${port} 127.0.0.1`, 'persistence false', 'log_dest stdout', `allow_anonymous ${users ? 'false' : 'true'}`];
  if (process.getuid?.() === 0) lines.push('user root');
  if (users) {
    const file = join(dir, 'passwd');
    writeFileSync(file, '');
    for (const [u, p] of Object.entries(users)) {
      const r = Bun.spawnSync(['mosquitto_passwd', '-b', file, u, p]);
      if (r.exitCode !== 0) throw new Error(`mosquitto_passwd: ${r.stderr}`);
    }
    lines.push(`password_file ${file}`);
  }
  writeFileSync(join(dir, 'mosquitto.conf'), `${lines.join('\n')}\n`);
  const proc = Bun.spawn(['/usr/sbin/mosquitto', '-c', join(dir, 'mosquitto.conf')], { stdout: 'pipe', stderr: 'pipe' });
  brokers.push(proc);
  await until(async () => {
    try {
      const s = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } });
      s.end();
      return true;
    } catch {
      return proc.exitCode !== null ? Promise.reject(new Error(`mosquitto exited: ${await new Response(proc.stderr).text()}`)) : false;
    }
  }, 10_000, `mosquitto on ${port}`);
  return proc;
}

const api = async (path: string, init: RequestInit = {}) =>
  fetch(`${hark.url}${path}`, { ...init, headers: { cookie: auth.cookie, 'x-csrf-token': auth.csrf, origin: hark.url, ...(init.headers ?? {}) } });
const notifiers = async () => ((await (await api('/api/notify')).json()) as { notifiers: { index: number; state: string; last_error: string | null; connection?: string; queued: number; sent: number; label: string }[]; start_reason: { kind: string } }).notifiers;
const state = async () => ((await (await fetch(`${hark.url}/api/status`)).json()) as { control: { state: string } }).control.state;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hark-notify-'));
  pw = await startPipewire();
  tone = pw.play({ frequency: 1000, seconds: 600, levelDbfs: -12 }, { target: pw.sinkName });

  // SMTP: a self-signed certificate for STARTTLS, one good login.
  const cert = join(work, 'cert.pem');
  const key = join(work, 'key.pem');
  const ssl = Bun.spawnSync(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost']);
  if (ssl.exitCode !== 0) throw new Error(`openssl: ${ssl.stderr}`);
  smtp = Bun.spawn(['/usr/bin/python3', join(ROOT, 'test/fixtures/smtp-server.py'), 'alerts:s3cret', cert, key], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
  const smtpPorts = await new Promise<{ plain: number; secure: number; tls: number }>((res, rej) => {
    const t = setTimeout(() => rej(new Error('the SMTP servers did not start')), 15_000);
    void (async () => {
      let buf = '';
      let first = true;
      const dec = new TextDecoder();
      for await (const chunk of smtp.stdout) {
        buf += dec.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          let line;
          try {
            line = JSON.parse(buf.slice(0, nl));
          } catch {
            throw new Error(`the SMTP server printed: ${buf.slice(0, nl)}`);
          }
          buf = buf.slice(nl + 1);
          if (first) {
            first = false;
            clearTimeout(t);
            res(line);
          } else mails.push({ at: Date.now(), ...line });
        }
      }
    })();
  });

  ports = { good: 0, late: 0, closed: 0 };
  ports.good = freePort();
  ports.late = freePort([ports.good]);
  ports.closed = freePort([ports.good, ports.late]);
  await startBroker(ports.good, { hark: 'brokerpw', watcher: 'watchpw' });

  webhook = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: async (req) => {
      hooks.push({ at: Date.now(), doc: (await req.json()) as Doc, headers: req.headers });
      return new Response('ok');
    },
  });

  sub = mqtt.connect(`mqtt://127.0.0.1:${ports.good}`, { username: 'watcher', password: 'watchpw', reconnectPeriod: 500 });
  sub.on('message', (topic, payload, packet) => {
    mq.push({ at: Date.now(), topic, payload: payload.toString(), retain: packet.retain });
    if (packet.retain || !retained.has(topic)) retained.set(topic, payload.toString());
    if (['hark/test/live', 'hark/test/state', 'hark/test/muted', 'hark/test/alerts', 'hark/test/availability', 'hark/test/listeners'].includes(topic)) retained.set(topic, payload.toString());
  });
  await until(() => sub.connected, 10_000, 'the test subscriber connected');
  await sub.subscribeAsync(['#'], { qos: 1 });

  hark = await startHark(
    `[input]
source = "pipewire"
device = "${pw.sinkName}"
[silence]
threshold_dbfs = -50
after_s = ${AFTER_S}
[webrtc]
udp_port = 32001
[control]
on_boot = "live"
[admin]
password = "${PASSWORD}"
[[icecast]]
url = "http://source:x@127.0.0.1:${ports.closed}/live"

[[notify]]
type = "webhook"
url = "http://127.0.0.1:${webhook.port}/hook/secret-key"
headers = { Authorization = "Bearer hook-token", Title = "hark" }
min_severity = "info"
output_grace_s = 2

[[notify]]
type = "email"
url = "smtp://127.0.0.1:${smtpPorts.plain}"
to = ["ops@example.org"]

[[notify]]
type = "email"
url = "smtp://alerts:s3cret@127.0.0.1:${smtpPorts.secure}"
to = ["verger@example.org", "vicar@example.org"]
from = "alerts@example.org"
tls_verify = false

[[notify]]
type = "email"
name = "Wrong password"
url = "smtp://alerts:wrong@127.0.0.1:${smtpPorts.secure}"
to = ["ops@example.org"]
tls_verify = false

[[notify]]
type = "mqtt"
url = "mqtt://hark:brokerpw@127.0.0.1:${ports.good}"
topic = "hark/test"

[[notify]]
type = "email"
url = "smtps://alerts:s3cret@127.0.0.1:${smtpPorts.tls}"
to = ["warden@example.org"]
events = ["silence"]
tls_verify = false

[[notify]]
type = "mqtt"
url = "mqtt://hark:nope@127.0.0.1:${ports.good}"
topic = "hark/refused"
discovery = false

[[notify]]
type = "mqtt"
url = "mqtt://127.0.0.1:${ports.late}"
topic = "hark/late"
discovery = false
`,
    { env: pw.env },
  );
  auth = await session(hark.url, PASSWORD);
  await until(async () => ((await (await fetch(`${hark.url}/api/status`)).json()) as { input: { state: string } }).input.state === 'running', 15_000, 'capture running');
  // A /stream.mp3 listener for the whole file: nothing here may stop it.
  void (async () => {
    const res = await fetch(`${hark.url}/stream.mp3`, { signal: stream.ac.signal });
    try {
      for await (const c of res.body!) {
        stream.chunks.push(Date.now());
        stream.bytes += c.byteLength;
      }
    } catch {
      // aborted at the end
    }
  })();
}, 90_000);

afterAll(async () => {
  stream.ac.abort();
  await chrome?.close();
  await sub?.endAsync(true).catch(() => {});
  await hark?.stop();
  webhook?.stop(true);
  smtp?.stdin.end();
  smtp?.kill();
  for (const b of brokers) b.kill();
  await tone?.stop();
  await pw?.stop();
});

describe('notifiers with real servers (one hark)', () => {
  test('hark says why it started; Home Assistant discovery is valid and consistent with what hark publishes', async () => {
    await until(() => hooks.some((h) => h.doc.event === 'restart'), 15_000, 'the restart notice at the webhook');
    const r = hooks.find((h) => h.doc.event === 'restart')!;
    expect(r.doc).toMatchObject({ id: 'restart', state: 'info', severity: 'info', clip: null });
    expect(r.doc.message).toMatch(/^hark .* started \(no earlier run recorded on this box\)\.$/);
    expect(r.headers.get('authorization')).toBe('Bearer hook-token');
    expect(r.doc.box.url).toMatch(new RegExp(`^http://[^/]+:${hark.port}/$`));

    const configs = () => [...retained.entries()].filter(([t]) => t.startsWith('homeassistant/') && t.endsWith('/config'));
    await until(() => configs().length >= 8 && retained.get('hark/test/state') === 'live', 15_000, 'discovery and state retained on the broker');
    const REQUIRED: Record<string, string[]> = { switch: ['command_topic'], sensor: ['state_topic'], binary_sensor: ['state_topic'], button: ['command_topic'] };
    const uniques = new Set<string>();
    const published = new Set(mq.map((m) => m.topic));
    for (const [topic, payload] of configs()) {
      // <discovery_prefix>/<component>/[<node_id>/]<object_id>/config, ids from [a-zA-Z0-9_-].
      const m = /^homeassistant\/(switch|sensor|binary_sensor|button)\/([a-zA-Z0-9_-]+)\/([a-zA-Z0-9_-]+)\/config$/.exec(topic);
      expect({ topic, ok: !!m }).toEqual({ topic, ok: true });
      const c = JSON.parse(payload) as Record<string, unknown>;
      for (const k of [...REQUIRED[m![1]!]!, 'unique_id', 'name', 'device', 'availability_topic']) expect({ topic, k, has: k in c }).toEqual({ topic, k, has: true });
      expect(uniques.has(c.unique_id as string)).toBe(false);
      uniques.add(c.unique_id as string);
      const dev = c.device as { identifiers: string[]; name: string };
      expect(dev.identifiers.length).toBe(1);
      expect(c.availability_topic).toBe('hark/test/availability');
      // Every state topic it names is one hark publishes (retained), every command topic is under hark's.
      if (c.state_topic) expect({ topic, state: c.state_topic, published: published.has(c.state_topic as string) }).toEqual({ topic, state: c.state_topic, published: true });
      if (c.command_topic) expect(c.command_topic as string).toStartWith('hark/test/');
    }
    expect(new Set(configs().map(([, p]) => JSON.stringify((JSON.parse(p) as { device: unknown }).device))).size).toBe(1);
    expect(retained.get('hark/test/availability')).toBe('online');
    expect(retained.get('hark/test/live')).toBe('ON');
    // Each output's state, retained, under outputs/<kind>_<id>.
    await until(() => retained.has('hark/test/outputs/icecast_live'), 5000, "the Icecast output's state");
    expect(JSON.parse(retained.get('hark/test/outputs/icecast_live')!)).toMatchObject({ kind: 'icecast', id: 'live' });
    expect(JSON.parse(retained.get('hark/test/outputs/http_mp3')!)).toMatchObject({ kind: 'http_mp3' });
    // Levels once a second, not retained, with the tone's level.
    // About once a second: five in a row average 0.8–2 s apart (a loaded machine's timers slip, never run ahead).
    await until(() => mq.filter((m) => m.topic === 'hark/test/levels').length >= 6, 15_000, 'six level messages');
    const lv = mq.filter((m) => m.topic === 'hark/test/levels').slice(-6);
    const mean = (lv.at(-1)!.at - lv[0]!.at) / 5;
    expect(mean).toBeGreaterThan(800);
    expect(mean).toBeLessThan(2000);
    expect((JSON.parse(lv.at(-1)!.payload) as { peak_dbfs: number }).peak_dbfs).toBeGreaterThan(-20);
  }, 60_000);

  test('an Icecast server that stays down is told after output_grace_s', async () => {
    await until(() => hooks.some((h) => h.doc.event === 'output'), 15_000, 'the output notice');
    const o = hooks.find((h) => h.doc.event === 'output')!.doc;
    expect(o).toMatchObject({ id: 'output:icecast:live', state: 'began', severity: 'warning' });
    expect(o.message).toMatch(/^Icecast live has been down for 2 s: /);
  }, 30_000);

  test('silence: each notifier gets it within after_s + 2 s, with the clip link; the refused and the down ones show why', async () => {
    // Stands in for the clip ring (another part of issue 17): a clip file where clip-name.ts puts
    // it, for each second the silence alert may begin in, so the e-mail finds one to attach.
    mkdirSync(join(hark.dir, 'recordings', CLIPS_DIR), { recursive: true });
    for (let s = -1; s <= 8; s++) writeFileSync(clipFile(join(hark.dir, 'recordings'), 'silence', new Date(Date.now() + s * 1000).toISOString()), CLIP_BYTES);
    await tone!.stop();
    tone = undefined;
    const t0 = Date.now();
    const budget = (AFTER_S + 2) * 1000;
    await until(() => hooks.some((h) => h.doc.id === 'silence') && mails.filter((m) => m.subject.includes('silent')).length >= 3 && mq.some((m) => m.topic === 'hark/test/event' && m.payload.includes('"silence"')), budget + 3000, 'the silence alert everywhere');
    const hook = hooks.find((h) => h.doc.id === 'silence')!;
    const mailPlain = mails.find((m) => m.server === 'plain' && m.subject.includes('silent'))!;
    const mailSecure = mails.find((m) => m.server === 'secure' && m.subject.includes('silent'))!;
    const mailTls = mails.find((m) => m.server === 'tls' && m.subject.includes('silent'))!;
    const ev = mq.find((m) => m.topic === 'hark/test/event' && m.payload.includes('"silence"'))!;
    const took = { webhook: hook.at - t0, email: mailPlain.at - t0, starttls: mailSecure.at - t0, smtps: mailTls.at - t0, mqtt: ev.at - t0 };
    expect(Object.entries(took).filter(([, ms]) => ms > budget)).toEqual([]);
    expect(hook.doc).toMatchObject({ event: 'silence', state: 'began', severity: 'warning', message: `The input has been silent for ${AFTER_S} s (below -50 dBFS).` });
    expect(hook.doc.clip).toMatch(new RegExp(`^http://[^/]+:${hark.port}/api/clips/silence-\\d{8}-\\d{6}\\.opus$`));
    expect(hook.doc.text).toBe(`${hook.doc.box.name}: The input has been silent for ${AFTER_S} s (below -50 dBFS).`);
    expect(mailSecure.to).toEqual(['verger@example.org', 'vicar@example.org']);
    expect(mailTls.to).toEqual(['warden@example.org']);
    expect(mailSecure.subject).toBe(hook.doc.text);
    expect(mailPlain.text).toContain(`Listen to what happened: ${hook.doc.clip} (also attached)`);
    expect(mailPlain.attachments).toEqual([{ name: hook.doc.clip!.split('/').pop()!, type: 'audio/ogg', bytes: CLIP_BYTES.length }]);
    expect(JSON.parse(ev.payload)).toMatchObject({ event: 'silence', clip: hook.doc.clip });
    await until(() => JSON.parse(retained.get('hark/test/alerts') ?? '{"count":0}').count >= 1, 3000, 'the retained alerts list');

    // The refused and the unreachable: states, with the reason in words.
    await until(async () => (await notifiers()).filter((n) => n.state === 'failing').length >= 3, 10_000, 'three failing notifiers');
    const ns = await notifiers();
    expect(ns.map((n) => n.state)).toEqual(['ok', 'ok', 'ok', 'failing', 'ok', 'ok', 'failing', 'failing']);
    expect(ns[3]!.last_error).toStartWith(`login refused by the mail server 127.0.0.1:`);
    expect(ns[6]!.connection).toStartWith(`login refused by the broker 127.0.0.1:${ports.good}: check the user name and password in the URL (the broker said: `);
    expect(ns[7]!.connection).toStartWith(`cannot reach the broker 127.0.0.1:${ports.late}: ECONNREFUSED`);
    expect(ns[7]!.queued).toBe(1);
    const metrics = await (await fetch(`${hark.url}/metrics`)).text();
    expect(metrics).toContain('hark_notify_ok{index="0",type="webhook"} 1');
    expect(metrics).toContain('hark_notify_ok{index="3",type="email"} 0');
    expect(metrics).toContain('hark_notify_queued{index="7",type="mqtt"} 1');
  }, 30_000);

  test('the down broker comes: its queued alert goes out; the stream flowed throughout', async () => {
    await startBroker(ports.late, null);
    await until(async () => (await notifiers())[7]!.sent >= 1, 45_000, 'the queued alert delivered to the broker that came back');
    const late = (await notifiers())[7]!;
    expect(late).toMatchObject({ state: 'ok', queued: 0, connection: 'connected' });
    // /stream.mp3 never waited for any of it: it kept coming at 128 kbit/s (no pause longer than
    // a loaded machine's scheduling; hark's own buffering sends every 100 ms).
    const c = stream.chunks;
    const gaps = c.slice(1).map((t, i) => t - c[i]!);
    expect(Math.max(...gaps)).toBeLessThan(3000);
    expect(stream.bytes).toBeGreaterThan(((c.at(-1)! - c[0]!) / 1000) * 16_000 * 0.8);
  }, 60_000);

  test('the sound returns: the recovery reaches everyone', async () => {
    tone = pw.play({ frequency: 1000, seconds: 600, levelDbfs: -12 }, { target: pw.sinkName });
    await until(
      () => hooks.some((h) => h.doc.id === 'silence' && h.doc.state === 'ended') && mails.filter((m) => m.subject.includes('Over:')).length >= 2 && mq.some((m) => m.topic === 'hark/test/event' && m.payload.includes('"ended"')),
      10_000,
      'the recovery everywhere',
    );
    expect(hooks.find((h) => h.doc.state === 'ended')!.doc.message).toMatch(/^Sound is back on the input \(silent for \d+ s\)\.$/);
  }, 30_000);

  test('the interface unplugged and back: input lost (critical, with the clip link) and back reach the notifiers', async () => {
    const before = hooks.length;
    await pw.destroyNode(pw.sinkName);
    await until(() => hooks.slice(before).some((h) => h.doc.id === 'input.lost'), 10_000, 'input.lost at the webhook');
    const lost = hooks.slice(before).find((h) => h.doc.id === 'input.lost')!.doc;
    expect(lost).toMatchObject({ event: 'input', state: 'began', severity: 'critical' });
    expect(lost.message).toStartWith('Input lost: ');
    expect(lost.clip).toMatch(/\/api\/clips\/input-lost-\d{8}-\d{6}\.opus$/);
    await until(() => mails.some((m) => m.server === 'plain' && m.subject.includes('Input lost')), 10_000, 'input.lost by e-mail');
    await pw.recreateNode(pw.sinkName);
    await tone?.stop();
    tone = pw.play({ frequency: 1000, seconds: 600, levelDbfs: -12 }, { target: pw.sinkName });
    await until(() => hooks.slice(before).some((h) => h.doc.id === 'input.lost' && h.doc.state === 'ended'), 15_000, 'input back at the webhook');
    expect(hooks.slice(before).find((h) => h.doc.id === 'input.lost' && h.doc.state === 'ended')!.doc.message).toMatch(/^The input is back \(lost for \d+ s\)\.$/);
    // The silence the loss left behind ends too, before the next test.
    await until(async () => ((await (await fetch(`${hark.url}/api/status`)).json()) as { alerts: unknown[] }).alerts.length === 0, 10_000, 'no alert active');
  }, 40_000);

  test('commands on the command topics run the control actions; refusals answer on command/result', async () => {
    await sub.publishAsync('hark/test/live/set', 'OFF');
    await until(async () => (await state()) === 'idle', 5000, 'idle after OFF');
    await until(() => retained.get('hark/test/live') === 'OFF', 3000, 'live OFF retained');
    await sub.publishAsync('hark/test/live/set', 'ON');
    await until(async () => (await state()) === 'live', 5000, 'live after ON');
    await sub.publishAsync('hark/test/command', 'mark');
    await sub.publishAsync('hark/test/command', '{"action": "set_input", "device": "evil"}');
    await sub.publishAsync('hark/test/command', 'x'.repeat(5000));
    await until(() => mq.filter((m) => m.topic === 'hark/test/command/result').length >= 5, 5000, 'five command results (OFF, ON and three commands)');
    // Each answer, in whatever order the actions finished.
    const results = mq.filter((m) => m.topic === 'hark/test/command/result').map((m) => JSON.parse(m.payload) as Record<string, unknown>);
    expect(results.find((r) => r.action === 'mark')).toMatchObject({ ok: true, action: 'mark' });
    expect(results.find((r) => r.action === 'set_input')).toEqual({ ok: false, action: 'set_input', error: 'set_input is not taken over MQTT' });
    expect(results.find((r) => !r.action)).toMatchObject({ ok: false, error: 'a command is at most 1024 bytes' });
    expect(hark.output()).toContain('go_live by mqtt: live');
  }, 30_000);

  test('Send a test: through the API (200 when it arrived, 502 with the reason), refused configs name their key', async () => {
    const before = hooks.length;
    const ok = await api('/api/notify/0/test', { method: 'POST' });
    expect(ok.status).toBe(200);
    expect(hooks.slice(before).filter((h) => h.doc.event === 'test')).toHaveLength(1);
    const bad = await api('/api/notify/6/test', { method: 'POST' });
    expect(bad.status).toBe(502);
    expect(((await bad.json()) as { error: string }).error).toStartWith(`login refused by the broker 127.0.0.1:${ports.good}: check the user name and password`);
    expect((await api('/api/notify/99/test', { method: 'POST' })).status).toBe(404);
    const refused = await api('/api/config', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ 'notify.1.to.0': 'nobody' }) });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({ field: 'notify.1.to.0', error: expect.stringContaining('not an e-mail address: "nobody"') });
    const scheme = await api('/api/config', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ 'notify.4.url': 'http://127.0.0.1:1883' }) });
    expect(await scheme.json()).toMatchObject({ field: 'notify.4.url' });
  }, 30_000);

  test('the System page shows each notifier in words, and its Send a test button works (phone and desktop)', async () => {
    mkdirSync(SHOTS, { recursive: true });
    chrome = await launchChromium();
    const page = await chrome.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await loginInPage(page, hark.url, PASSWORD, { next: '/system' });
    const panel = page.locator('#notify');
    await panel.waitFor();
    const item = (i: number) => panel.locator(`[data-notifier="${i}"]`);
    expect(await item(0).getAttribute('data-state')).toBe('ok');
    expect(await item(3).locator('[data-error]').textContent()).toStartWith('login refused by the mail server');
    expect(await item(6).locator('[data-error]').textContent()).toContain('login refused by the broker');
    expect(await item(3).locator('.pill').textContent()).toBe('Problem');
    await panel.locator('#notify-test-0').click();
    await page.locator('#notify-result .notice.ok').waitFor({ timeout: 20_000 });
    expect(await page.locator('#notify-result').textContent()).toContain('Test sent to Webhook to 127.0.0.1');
    // Read in one go in the page: the list is re-rendered by its SSE event whenever a delivery ends.
    const heights = await page.evaluate(() => [...document.querySelectorAll('#notify li.notifier > button')].map((b) => b.getBoundingClientRect().height));
    expect(heights.length).toBe(8);
    expect(Math.min(...heights)).toBeGreaterThanOrEqual(44);
    await panel.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/notify-phone.png` });
    // axe: nothing serious or critical in the panel (contrast of the pills and the error, names of the buttons).
    await injectAxe(page);
    const findings = await page.evaluate(async () => {
      const r = await window.axe.run('#notify', { resultTypes: ['violations'] });
      return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    });
    expect(findings).toEqual([]);
    // Every id on the page once (the panel's buttons carry the entry's index).
    const ids = await page.evaluate(() => [...document.querySelectorAll('[id]')].map((e) => e.id));
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    await page.setViewportSize({ width: 1366, height: 900 });
    await panel.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/notify-desktop.png` });
  }, 60_000);

  test('a clean stop: MQTT says offline (retained), and hark-run.json says the next start follows a clean stop', async () => {
    expect(await hark.stop()).toBe(0);
    await until(() => retained.get('hark/test/availability') === 'offline', 5000, 'availability offline');
    const run = JSON.parse(readFileSync(join(hark.dir, 'hark-run.json'), 'utf8')) as { clean: boolean; version: string };
    expect(run.clean).toBe(true);
  }, 20_000);
});
