/**
 * `type = "mqtt"`: one connection to a broker through MQTT.js (loaded at start only when an
 * entry asks for it). Under `<topic>` (default hark/<host name>) it keeps retained: the
 * availability (online; offline by its last will and at a clean stop), `state`, `live`, `muted`,
 * `listeners`, `alerts` and each output's `outputs/<kind>_<id>`; it sends `levels` once a second
 * (not retained) and each notice to `event` (QoS 1, queued and retried while the broker is
 * away). Home Assistant discovery (ha-discovery.ts) is published retained at every connect and
 * again when Home Assistant says `online` on `<prefix>/status`. Commands on `command` (an action
 * name, or JSON {"action", "title", "label"}), `live/set` and `muted/set` (ON/OFF) run the
 * control actions the page runs, as origin `mqtt`; the answer goes to `command/result`.
 *
 * Reconnects follow the shared backoff (MQTT.js's own fixed-period reconnect is off): a refused
 * login waits a minute and more, a broker that is down 1, 2, 4 … 30 s.
 */
import { hostname } from 'node:os';
import type { MqttClient } from 'mqtt';
import type { Notice } from './notice.ts';
import { noticeDocument } from './notice.ts';
import { DeliveryError, Outbox } from './outbox.ts';
import { baseStatus, hostPort, type Notifier, type NotifierEnv, type NotifyEntry } from './types.ts';
import { Backoff } from '../outputs/backoff.ts';
import { discoveryMessages, topics } from './ha-discovery.ts';
import type { Alert } from '../outputs/alerts.ts';
import type { OutputStatus } from '../outputs/link.ts';
import { outputKey } from '../outputs/link.ts';
import { VERSION } from '../version.ts';
import { logger } from '../log.ts';

/** The box's live state, as the MQTT notifier publishes it and runs commands on it. */
export interface BoxState {
  control(): { state: string; live: boolean; muted: boolean; title: string };
  levels(): { peak_dbfs: number[]; rms_dbfs: number[] };
  listeners(): number;
  alerts(): Alert[];
  outputs(): OutputStatus[];
  /** Run a control action as origin `mqtt`; rejects with the reason when refused. */
  run(action: string, args: { title?: string; label?: string }): Promise<{ message: string; state: string }>;
  /** Called on every change of state, listeners, alerts or an output. */
  onChange(fn: (what: 'state' | 'listeners' | 'alerts' | 'output', output?: OutputStatus) => void): () => void;
}

const MAX_COMMAND_BYTES = 1024;
const PUBLISH_TIMEOUT_MS = 10_000;

const r1 = (x: number) => (Number.isFinite(x) ? Math.round(Math.max(-120, x) * 10) / 10 : -120);

export class MqttNotifier implements Notifier {
  private readonly outbox: Outbox;
  private readonly url: URL;
  private readonly base: string;
  private readonly t: ReturnType<typeof topics>;
  private client?: MqttClient;
  private connected = false;
  private connection = 'connecting';
  private readonly backoff = new Backoff();
  private retryTimer?: ReturnType<typeof setTimeout>;
  private levelTimer?: ReturnType<typeof setInterval>;
  private offChange?: () => void;
  private closed = false;
  private readonly log;
  readonly label: string;

  constructor(
    readonly index: number,
    readonly entry: NotifyEntry,
    private readonly env: NotifierEnv,
    private readonly box: BoxState,
  ) {
    this.url = new URL(entry.url);
    this.base = entry.topic || `hark/${hostname().toLowerCase().replace(/[^a-z0-9_-]+/g, '_')}`;
    this.t = topics(this.base);
    this.label = entry.name || `MQTT broker ${this.server}`;
    this.log = logger(`notify mqtt ${this.server}`);
    this.outbox = new Outbox((n) => this.publishNotice(n), env.changed);
    if (entry.enabled) void this.start();
  }

  private get server(): string {
    return hostPort(this.url, this.url.protocol === 'mqtts:' ? 8883 : 1883);
  }

  deliver(n: Notice) {
    return this.outbox.push(n);
  }

  status() {
    const s = baseStatus(this.index, this.entry, this.label, this.outbox.status());
    if (this.entry.enabled && !this.connected) s.state = this.connection === 'connecting' && !s.last_error ? 'waiting' : 'failing';
    if (this.entry.enabled && this.connected && s.state === 'waiting') s.state = 'ok';
    return { ...s, connection: this.connection };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.outbox.close();
    clearTimeout(this.retryTimer);
    clearInterval(this.levelTimer);
    this.offChange?.();
    const c = this.client;
    if (!c) return;
    if (this.connected) {
      // A clean stop says so (the last will is for a vanished box).
      await Promise.race([c.publishAsync(this.t.availability, 'offline', { qos: 1, retain: true }).catch(() => {}), Bun.sleep(1000)]);
    }
    await Promise.race([c.endAsync(true).catch(() => {}), Bun.sleep(1000)]);
  }

  private async start(): Promise<void> {
    const { connect } = await import('mqtt');
    if (this.closed) return;
    const c = connect(this.url.toString().replace(/^(mqtts?:\/\/)[^@/]*@/, '$1'), {
      username: this.url.username ? decodeURIComponent(this.url.username) : undefined,
      password: this.url.password ? decodeURIComponent(this.url.password) : undefined,
      clientId: `hark_${hostname().replace(/[^A-Za-z0-9_-]/g, '')}_${this.index}_${Math.random().toString(36).slice(2, 8)}`,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: 30,
      rejectUnauthorized: this.entry.tls_verify,
      will: { topic: this.t.availability, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    this.client = c;
    c.on('connect', () => void this.onConnect());
    c.on('error', (e: Error & { code?: string | number }) => this.failed(e));
    c.on('close', () => this.onClose());
    c.on('message', (topic, payload) => void this.onMessage(topic, payload));
    this.offChange = this.box.onChange((what, out) => this.publishChange(what, out));
  }

  private async onConnect(): Promise<void> {
    const c = this.client!;
    this.connected = true;
    this.connection = 'connected';
    this.backoff.reset();
    this.log.info(`connected; publishing under ${this.base}/`);
    this.env.changed();
    try {
      await c.publishAsync(this.t.availability, 'online', { qos: 1, retain: true });
      if (this.entry.discovery) await this.publishDiscovery();
      this.publishAll();
      const subs = [`${this.entry.discovery_prefix}/status`];
      if (this.entry.commands) subs.push(this.t.command, this.t.liveSet, this.t.mutedSet);
      await c.subscribeAsync(subs, { qos: 1 });
    } catch (e) {
      this.log.warn(`after connecting: ${(e as Error).message}`);
    }
    clearInterval(this.levelTimer);
    this.levelTimer = setInterval(() => this.publishLevels(), 1000);
    this.outbox.kick();
  }

  private async publishDiscovery(): Promise<void> {
    const msgs = discoveryMessages({ prefix: this.entry.discovery_prefix, base: this.base, name: hostname(), version: VERSION, url: this.env.box().url, commands: this.entry.commands });
    await Promise.all(msgs.map((m) => this.client!.publishAsync(m.topic, JSON.stringify(m.payload), { qos: 1, retain: true })));
  }

  private pub(topic: string, payload: string, retain: boolean): void {
    if (!this.connected) return;
    this.client?.publish(topic, payload, { qos: 0, retain }, () => {});
  }

  private publishAll(): void {
    this.publishChange('state');
    this.publishChange('listeners');
    this.publishChange('alerts');
    for (const o of this.box.outputs()) this.publishChange('output', o);
    this.publishLevels();
  }

  private publishChange(what: 'state' | 'listeners' | 'alerts' | 'output', out?: OutputStatus): void {
    if (!this.connected) return;
    if (what === 'state') {
      const s = this.box.control();
      this.pub(this.t.state, s.state, true);
      this.pub(this.t.live, s.live ? 'ON' : 'OFF', true);
      this.pub(this.t.muted, s.muted ? 'ON' : 'OFF', true);
    } else if (what === 'listeners') this.pub(this.t.listeners, String(this.box.listeners()), true);
    else if (what === 'alerts') {
      const active = this.box.alerts();
      this.pub(this.t.alerts, JSON.stringify({ count: active.length, active: active.map((a) => ({ id: a.id, severity: a.severity, message: a.message, since: a.since })) }), true);
    } else if (out) {
      this.pub(this.t.output(outputKey(out)), JSON.stringify({ kind: out.kind, id: out.id, state: out.state, detail: out.detail, since: out.since, last_error: out.last_error }), out.state !== 'removed');
    }
  }

  private publishLevels(): void {
    const l = this.box.levels();
    this.pub(this.t.levels, JSON.stringify({ peak_dbfs: r1(Math.max(-120, ...l.peak_dbfs)), rms_dbfs: r1(Math.max(-120, ...l.rms_dbfs)), channels: { peak_dbfs: l.peak_dbfs.map(r1), rms_dbfs: l.rms_dbfs.map(r1) } }), false);
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    if (topic === `${this.entry.discovery_prefix}/status`) {
      // Home Assistant (re)started: it forgets entities whose config was not retained.
      if (payload.toString() === 'online' && this.entry.discovery) await this.publishDiscovery().catch(() => {});
      if (payload.toString() === 'online') this.publishAll();
      return;
    }
    if (!this.entry.commands) return;
    let action = '';
    let args: { title?: string; label?: string } = {};
    const text = payload.length > MAX_COMMAND_BYTES ? '' : payload.toString('utf8').trim();
    if (topic === this.t.liveSet) action = text.toUpperCase() === 'ON' ? 'go_live' : text.toUpperCase() === 'OFF' ? 'stop' : '';
    else if (topic === this.t.mutedSet) action = text.toUpperCase() === 'ON' ? 'mute' : text.toUpperCase() === 'OFF' ? 'unmute' : '';
    else if (topic === this.t.command) {
      if (text.startsWith('{')) {
        try {
          const j = JSON.parse(text) as Record<string, unknown>;
          action = typeof j.action === 'string' ? j.action : '';
          if (typeof j.title === 'string') args.title = j.title;
          if (typeof j.label === 'string') args.label = j.label;
        } catch {
          action = '';
        }
      } else action = text;
    }
    if (!action) {
      this.pub(this.t.commandResult, JSON.stringify({ ok: false, topic, error: payload.length > MAX_COMMAND_BYTES ? `a command is at most ${MAX_COMMAND_BYTES} bytes` : 'not a command: send ON or OFF to the switches, an action name or {"action": …} to command' }), false);
      return;
    }
    // Choosing the capture device stays with the page, the API and the CLI.
    if (action === 'set_input') args = {};
    try {
      if (action === 'set_input') throw new Error('set_input is not taken over MQTT');
      const r = await this.box.run(action, args);
      this.pub(this.t.commandResult, JSON.stringify({ ok: true, action, state: r.state, message: r.message }), false);
    } catch (e) {
      this.pub(this.t.commandResult, JSON.stringify({ ok: false, action, error: (e as Error).message }), false);
    }
  }

  private failed(e: Error & { code?: string | number }): void {
    const code = e.code;
    const auth = code === 4 || code === 5 || code === 134 || code === 135;
    const why = auth ? `login refused by the broker ${this.server}: check the user name and password in the URL (the broker said: ${e.message.replace(/^Connection refused: /, '')})` : `cannot reach the broker ${this.server}: ${typeof code === 'string' ? `${code} ` : ''}${e.message.replace(/^connect /, '')}`;
    if (why !== this.connection) this.log.warn(why);
    this.connection = why;
    this.pendingKind = auth ? 'auth' : 'transient';
    this.env.changed();
  }

  private pendingKind: 'auth' | 'transient' = 'transient';

  private onClose(): void {
    const was = this.connected;
    this.connected = false;
    clearInterval(this.levelTimer);
    if (this.closed) return;
    if (was && this.connection === 'connected') this.connection = `cannot reach the broker ${this.server}: the connection closed`;
    this.env.changed();
    if (this.retryTimer) return;
    const wait = this.backoff.next(this.pendingKind);
    this.pendingKind = 'transient';
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.client?.reconnect();
    }, wait);
  }

  private async publishNotice(n: Notice): Promise<void> {
    const c = this.client;
    if (!c || !this.connected) throw new DeliveryError(this.connection === 'connecting' || this.connection === 'connected' ? `not connected to the broker ${this.server} yet` : this.connection, 'transient');
    const body = JSON.stringify(noticeDocument(n, this.env.box()));
    await Promise.race([
      c.publishAsync(this.t.event, body, { qos: 1, retain: false }),
      Bun.sleep(PUBLISH_TIMEOUT_MS).then(() => {
        throw new DeliveryError(`the broker ${this.server} did not acknowledge within ${PUBLISH_TIMEOUT_MS / 1000} s`);
      }),
    ]).catch((e: Error) => {
      throw e instanceof DeliveryError ? e : new DeliveryError(`publishing to ${this.server} failed: ${e.message}`);
    });
  }
}
