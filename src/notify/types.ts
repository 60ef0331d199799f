/** What every notifier (webhook, e-mail, MQTT) offers the hub and the page. */
import type { Config } from '../config/schema.ts';
import type { BoxInfo, Notice } from './notice.ts';
import type { DeliveryOutcome, OutboxStatus } from './outbox.ts';

export type NotifyEntry = Config['notify'][number];

/** One notifier's state for the page, the API and the log. */
export interface NotifierStatus extends OutboxStatus {
  index: number;
  type: NotifyEntry['type'];
  /** As a person reads it: "E-mail to ops@example.org", "Webhook to ntfy.example", "MQTT broker 192.168.1.5:1883". */
  label: string;
  /** ok: the last delivery went through (or the broker is connected); failing: the last one did not; waiting: nothing sent yet; off: enabled = false. */
  state: 'ok' | 'failing' | 'waiting' | 'off';
  /** MQTT only: the connection, in words ("connected", "cannot reach broker …"). */
  connection?: string;
}

export interface Notifier {
  readonly index: number;
  readonly entry: NotifyEntry;
  /** Queue a notice; resolves when it was delivered or given up. Never throws, never waits on the network to return. */
  deliver(n: Notice): Promise<DeliveryOutcome>;
  status(): NotifierStatus;
  close(): Promise<void>;
}

/** What the hub hands each notifier. */
export interface NotifierEnv {
  box(): BoxInfo;
  /** Something in its status changed (the page re-renders). */
  changed(): void;
}

/** "smtp://user:pass@mail.example.org:587" → "mail.example.org:587" (never the login). */
export function hostPort(url: URL, defaultPort: number): string {
  return `${url.hostname}:${url.port || defaultPort}`;
}

export function baseStatus(index: number, entry: NotifyEntry, label: string, o: OutboxStatus): NotifierStatus {
  const state = !entry.enabled ? 'off' : o.last_error && (!o.last_ok_at || (o.last_error_at ?? '') > o.last_ok_at) ? 'failing' : o.last_ok_at ? 'ok' : 'waiting';
  return { index, type: entry.type, label, state, ...o };
}
