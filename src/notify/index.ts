/**
 * The notifiers (issue 17, item 1): the `[[notify]]` entries, built from the config, fed from
 * the one place conditions are raised and cleared (the Alerts) and from the outputs' own
 * `output` events on the bus, plus one notice per start saying why hark started. Each entry's
 * filters (events, min_severity), repeats (repeat_minutes) and output grace (output_grace_s)
 * are applied here; delivery is the notifier's, behind a bounded queue, so nothing here ever
 * waits on a server: audio, outputs and the page go on whatever the network does.
 */
import { resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { ConfigComponent, Reaction } from '../config/live.ts';
import type { AlertEvent, Alerts } from '../outputs/alerts.ts';
import { INPUT_LOST_ALERT } from '../outputs/alerts.ts';
import { SILENCE_ALERT } from '../outputs/silence.ts';
import { clipFile, clipUrlPath } from '../outputs/clip-name.ts';
import { outputKey, type OutputStatus } from '../outputs/link.ts';
import { logger } from '../log.ts';
import { VERSION } from '../version.ts';
import { eventOf, wants, type BoxInfo, type Notice, type Severity } from './notice.ts';
import type { DeliveryOutcome } from './outbox.ts';
import { recordCleanStop, recordStart, type RestartReason } from './restart.ts';
import type { Notifier, NotifierEnv, NotifierStatus, NotifyEntry } from './types.ts';
import { WebhookNotifier } from './webhook.ts';
import { EmailNotifier } from './email.ts';
import { MqttNotifier, type BoxState } from './mqtt.ts';

export type { NotifierStatus } from './types.ts';
export type { BoxState } from './mqtt.ts';

const log = logger('notify');

/** Alerts that have a clip (lg's clip ring writes it; clip-name.ts says where). */
const CLIP_ALERTS = new Set([SILENCE_ALERT, INPUT_LOST_ALERT]);
/** Output kinds that connect on their own: down for output_grace_s is told. The recorder has its own alerts. */
const WATCHED_KINDS = new Set(['icecast', 'whip', 'srt', 'rtp']);
/** States of a watched output that are neither sending nor meant to be quiet. */
const DOWN = new Set(['retrying', 'auth_failed', 'mount_in_use', 'connecting', 'error', 'failed']);

export interface NotifyDeps {
  config(): Config;
  alerts: Alerts;
  box(): BoxInfo;
  /** The box's live state (MQTT publishes it and runs commands through it). */
  state: BoxState;
  /** Where hark-run.json lives (the restart reason). */
  stateDir: string;
  /** Something a page shows changed (the System page's notifier list). */
  changed(): void;
  /** Test seam: build a notifier. */
  build?: (index: number, entry: NotifyEntry, env: NotifierEnv) => Notifier;
}

/** Per entry: the repeat timers of active alerts, and the outputs it was told are down. */
interface EntryState {
  repeats: Map<string, ReturnType<typeof setInterval>>;
  outputs: Map<string, { timer?: ReturnType<typeof setTimeout>; told: boolean; since: string }>;
}

export class Notifiers implements ConfigComponent {
  readonly name = 'notify' as const;
  private list: Notifier[] = [];
  private states: EntryState[] = [];
  private readonly off: (() => void)[] = [];
  private restart?: RestartReason;

  constructor(private readonly deps: NotifyDeps) {
    this.list = this.build(deps.config().notify);
  }

  /** Subscribe to the alerts and outputs, and tell why hark started. */
  start(): void {
    this.off.push(this.deps.alerts.on((e) => this.onAlert(e)));
    this.off.push(this.deps.state.onChange((what, o) => what === 'output' && o && this.onOutput(o)));
    this.restart = recordStart(this.deps.stateDir, VERSION);
    log.info(`start: ${this.restart.message}`);
    const now = new Date().toISOString();
    this.dispatch({ event: 'restart', id: 'restart', state: 'info', severity: this.restart.severity, message: this.restart.message, since: now, at: now, clip: null });
  }

  /** Why this run started (the System page, the API). */
  get startReason(): RestartReason | undefined {
    return this.restart;
  }

  statuses(): NotifierStatus[] {
    return this.list.map((n) => n.status());
  }

  /** "Send a test": one test notice to entry `index`, past its filters; resolves with what happened (at most `timeoutMs`). */
  async test(index: number, timeoutMs = 15_000): Promise<DeliveryOutcome & { status: NotifierStatus }> {
    const n = this.list[index];
    if (!n) throw new RangeError(`no notifier ${index}`);
    const now = new Date().toISOString();
    const box = this.deps.box();
    const notice: Notice = { event: 'test', id: 'test', state: 'info', severity: 'info', message: `This is a test from hark on ${box.name}: alerts reach you here.`, since: now, at: now, clip: null };
    const outcome = n.entry.enabled ? await Promise.race([n.deliver(notice), Bun.sleep(timeoutMs).then(() => ({ ok: false, error: `no answer within ${timeoutMs / 1000} s` }))]) : { ok: false, error: 'this entry is turned off (enabled = false)' };
    return { ...outcome, status: n.status() };
  }

  /** A config change: entries that changed are rebuilt (their queues start afresh); the others keep theirs. */
  async apply(prev: Config, next: Config): Promise<Reaction> {
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    const old = this.list;
    const oldStates = this.states;
    const keep = new Set<number>();
    const list: Notifier[] = [];
    const states: EntryState[] = [];
    for (const [i, e] of next.notify.entries()) {
      if (i < old.length && same(prev.notify[i], e)) {
        list.push(old[i]!);
        states.push(oldStates[i]!);
        keep.add(i);
      } else {
        list.push(this.make(i, e));
        states.push({ repeats: new Map(), outputs: new Map() });
      }
    }
    for (const [i, n] of old.entries()) if (!keep.has(i)) await this.closeOne(n, oldStates[i]);
    this.list = list;
    this.states = states;
    this.deps.changed();
    return 'applied';
  }

  /** A clean stop: queues closed, MQTT says offline, and the next start knows it was clean. */
  async close(): Promise<void> {
    for (const f of this.off.splice(0)) f();
    await Promise.all(this.list.map((n, i) => this.closeOne(n, this.states[i])));
    this.list = [];
    if (this.restart) recordCleanStop(this.deps.stateDir, VERSION);
  }

  private async closeOne(n: Notifier, st?: EntryState): Promise<void> {
    for (const t of st?.repeats.values() ?? []) clearInterval(t);
    for (const o of st?.outputs.values() ?? []) clearTimeout(o.timer);
    await n.close().catch((e) => log.warn(`closing ${n.status().label}: ${(e as Error).message}`));
  }

  private build(entries: readonly NotifyEntry[]): Notifier[] {
    this.states = entries.map(() => ({ repeats: new Map(), outputs: new Map() }));
    return entries.map((e, i) => this.make(i, e));
  }

  private make(index: number, entry: NotifyEntry): Notifier {
    const env: NotifierEnv = { box: () => this.deps.box(), changed: () => this.deps.changed() };
    if (this.deps.build) return this.deps.build(index, entry, env);
    switch (entry.type) {
      case 'webhook':
        return new WebhookNotifier(index, entry, env);
      case 'email':
        return new EmailNotifier(index, entry, env);
      case 'mqtt':
        return new MqttNotifier(index, entry, env, this.deps.state);
    }
  }

  /** Hand a notice to every enabled entry that wants it. */
  private dispatch(n: Notice, only?: number): void {
    for (const [i, nf] of this.list.entries()) {
      if (only !== undefined && i !== only) continue;
      if (!nf.entry.enabled || !wants(nf.entry, n)) continue;
      void nf.deliver(n).then((o) => {
        if (!o.ok) log.warn(`${nf.status().label}: ${n.id} ${n.state} not delivered: ${o.error}`);
      });
    }
  }

  private clip(id: string, since: string): { clip: string | null; clipFile?: string } {
    if (!CLIP_ALERTS.has(id)) return { clip: null };
    return { clip: `${this.deps.box().url.replace(/\/$/, '')}${clipUrlPath(id, since)}`, clipFile: resolve(clipFile(this.deps.config().recording.dir, id, since)) };
  }

  private onAlert(e: AlertEvent): void {
    const a = e.alert;
    const now = new Date().toISOString();
    const sev: Severity = a.severity;
    const base = { event: eventOf(a.id), id: a.id, severity: sev, since: a.since, at: now, ...this.clip(a.id, a.since) };
    if (e.type === 'raised') {
      // A raise of an alert already active only changes its message: not told again.
      if (this.active.has(a.id)) return;
      this.active.add(a.id);
      this.dispatch({ ...base, state: 'began', message: a.message });
      for (const [i, nf] of this.list.entries()) this.armRepeat(i, nf, a.id, () => ({ ...base, at: new Date().toISOString(), state: 'still', message: this.deps.alerts.list().find((x) => x.id === a.id)?.message ?? a.message }));
    } else {
      this.active.delete(a.id);
      for (const st of this.states) {
        clearInterval(st.repeats.get(a.id));
        st.repeats.delete(a.id);
      }
      this.dispatch({ ...base, state: 'ended', message: endedMessage(a.id, a.message, e.after_s) });
    }
  }

  /** Alerts told as begun and not yet ended. */
  private readonly active = new Set<string>();

  private armRepeat(i: number, nf: Notifier, id: string, make: () => Notice): void {
    const st = this.states[i];
    if (!st || st.repeats.has(id)) return;
    const minutes = nf.entry.repeat_minutes;
    if (!minutes) return;
    st.repeats.set(id, setInterval(() => this.dispatch(make(), i), minutes * 60_000));
  }

  private onOutput(o: OutputStatus): void {
    if (!WATCHED_KINDS.has(o.kind)) return;
    const key = outputKey(o);
    const down = o.enabled && DOWN.has(o.state);
    const name = `${o.kind === 'icecast' ? 'Icecast' : o.kind.toUpperCase()} ${o.id || o.where}`.trim();
    for (const [i, nf] of this.list.entries()) {
      const st = this.states[i]!;
      const cur = st.outputs.get(key);
      if (down) {
        if (cur) continue;
        const since = new Date().toISOString();
        const entry = { told: false, since, timer: undefined as ReturnType<typeof setTimeout> | undefined };
        st.outputs.set(key, entry);
        entry.timer = setTimeout(() => {
          entry.told = true;
          const now = new Date().toISOString();
          const detail = this.deps.state.outputs().find((x) => outputKey(x) === key)?.detail ?? o.detail;
          this.dispatch({ event: 'output', id: `output:${key}`, state: 'began', severity: 'warning', message: `${name} has been down for ${nf.entry.output_grace_s} s: ${detail}`, since, at: now, clip: null }, i);
          if (nf.entry.repeat_minutes) {
            const rep = setInterval(() => {
              if (!st.outputs.get(key)?.told) return clearInterval(rep);
              this.dispatch({ event: 'output', id: `output:${key}`, state: 'still', severity: 'warning', message: `${name} is still down: ${this.deps.state.outputs().find((x) => outputKey(x) === key)?.detail ?? ''}`, since, at: new Date().toISOString(), clip: null }, i);
            }, nf.entry.repeat_minutes * 60_000);
            st.repeats.set(`output:${key}`, rep);
          }
        }, nf.entry.output_grace_s * 1000);
      } else if (cur) {
        clearTimeout(cur.timer);
        clearInterval(st.repeats.get(`output:${key}`));
        st.repeats.delete(`output:${key}`);
        st.outputs.delete(key);
        if (cur.told) {
          const what = o.state === 'live' ? 'is sending again' : o.state === 'removed' ? 'was removed from the settings' : `stopped (${o.detail || o.state})`;
          this.dispatch({ event: 'output', id: `output:${key}`, state: 'ended', severity: 'warning', message: `${name} ${what}.`, since: cur.since, at: new Date().toISOString(), clip: null }, i);
        }
      }
    }
  }
}

function endedMessage(id: string, message: string, afterS: number): string {
  const dur = afterS >= 120 ? `${Math.round(afterS / 60)} min` : `${Math.round(afterS)} s`;
  if (id === SILENCE_ALERT) return `Sound is back on the input (silent for ${dur}).`;
  if (id === INPUT_LOST_ALERT) return `The input is back (lost for ${dur}).`;
  return `Over after ${dur}: ${message}`;
}
