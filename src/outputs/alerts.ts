/**
 * Conditions a broadcaster must hear about (silence, a full disk), raised while they last
 * and cleared when they end. Every change is an event; the status shows the active ones.
 */
import { logger } from '../log.ts';

/** The capture device went away (or became unusable) after it had captured: raised by the control plane. */
export const INPUT_LOST_ALERT = 'input.lost';

export type AlertSeverity = 'warning' | 'critical';

export interface Alert {
  /** Stable key, e.g. "silence" or "recording.disk". */
  id: string;
  severity: AlertSeverity;
  message: string;
  since: string;
}

export type AlertEvent = { type: 'raised'; alert: Alert } | { type: 'cleared'; alert: Alert; after_s: number };

const log = logger('alert');

export class Alerts {
  private readonly active = new Map<string, Alert>();
  private readonly listeners = new Set<(e: AlertEvent) => void>();

  /** Raise (or update the message of) an alert. */
  raise(id: string, severity: AlertSeverity, message: string): void {
    const cur = this.active.get(id);
    if (cur && cur.message === message && cur.severity === severity) return;
    const alert: Alert = { id, severity, message, since: cur?.since ?? new Date().toISOString() };
    this.active.set(id, alert);
    (severity === 'critical' ? log.error : log.warn).call(log, `${id}: ${message}`);
    this.emit({ type: 'raised', alert });
  }

  clear(id: string, message = 'cleared'): void {
    const alert = this.active.get(id);
    if (!alert) return;
    this.active.delete(id);
    const after_s = Math.round((Date.now() - Date.parse(alert.since)) / 100) / 10;
    log.info(`${id}: ${message} (after ${after_s} s)`);
    this.emit({ type: 'cleared', alert, after_s });
  }

  isActive(id: string): boolean {
    return this.active.has(id);
  }

  list(): Alert[] {
    return [...this.active.values()];
  }

  on(listener: (e: AlertEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: AlertEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        log.error(`alert listener threw: ${(err as Error).message}`);
      }
    }
  }
}
