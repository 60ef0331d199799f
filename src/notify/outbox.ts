/**
 * One notifier's delivery queue: notices are sent one at a time, in order; a failure waits
 * with the shared backoff (src/outputs/backoff.ts) and tries the same notice again. Bounded:
 * past MAX_QUEUED the oldest is dropped (counted), and a notice older than MAX_AGE_MS is
 * dropped unsent. Nothing here waits on the caller: push() returns at once, so an alert is
 * never held up by a server that does not answer.
 */
import { Backoff, DEFAULT_BACKOFF, type FailureKind } from '../outputs/backoff.ts';
import type { Notice } from './notice.ts';

export const MAX_QUEUED = 50;
export const MAX_AGE_MS = 24 * 3600_000;

/** A refused or failed delivery: the reason in words, and how the backoff should treat it. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly kind: FailureKind = 'transient',
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

export interface DeliveryOutcome {
  ok: boolean;
  error?: string;
}

/** What the page, the API and the log show about one notifier's deliveries. */
export interface OutboxStatus {
  /** Delivered since start. */
  sent: number;
  /** Waiting to be delivered. */
  queued: number;
  /** Dropped unsent (queue full, or too old). */
  dropped: number;
  last_ok_at: string | null;
  /** What the last delivered notice was about. */
  last_ok_event: string | null;
  last_error: string | null;
  last_error_at: string | null;
  /** While waiting to try again. */
  retry_at: string | null;
}

interface Item {
  notice: Notice;
  done: ((o: DeliveryOutcome) => void)[];
}

export class Outbox {
  private readonly queue: Item[] = [];
  private readonly backoff: Backoff;
  private busy = false;
  private timer?: ReturnType<typeof setTimeout>;
  private closed = false;
  private readonly st: OutboxStatus = { sent: 0, queued: 0, dropped: 0, last_ok_at: null, last_ok_event: null, last_error: null, last_error_at: null, retry_at: null };

  constructor(
    private readonly send: (n: Notice) => Promise<void>,
    private readonly onChange: () => void = () => {},
    opts: { backoff?: Backoff; now?: () => number } = {},
  ) {
    this.backoff = opts.backoff ?? new Backoff(DEFAULT_BACKOFF);
    this.now = opts.now ?? Date.now;
  }

  private readonly now: () => number;

  /** Queue a notice; the promise says how its delivery ended (delivered, or dropped with why). A test is one attempt, now. */
  push(notice: Notice): Promise<DeliveryOutcome> {
    if (this.closed) return Promise.resolve({ ok: false, error: 'this notifier is closed' });
    if (notice.event === 'test') return this.once(notice);
    return new Promise((res) => {
      this.queue.push({ notice, done: [res] });
      while (this.queue.length > MAX_QUEUED) this.drop(this.queue.shift()!, `more than ${MAX_QUEUED} waiting; the oldest was dropped`);
      this.st.queued = this.queue.length;
      this.onChange();
      this.pump();
    });
  }

  /**
   * "Send a test": one attempt now, past the queue (a test must not wait behind alerts that wait
   * for a server, nor be retried); its outcome is the notifier's last result like any other.
   */
  private async once(notice: Notice): Promise<DeliveryOutcome> {
    try {
      await this.send(notice);
      this.st.sent++;
      this.st.last_ok_at = new Date(this.now()).toISOString();
      this.st.last_ok_event = 'test';
      this.st.last_error = null;
      this.onChange();
      // It works now: what waits need not wait for its timer.
      this.kick();
      return { ok: true };
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.st.last_error = msg;
      this.st.last_error_at = new Date(this.now()).toISOString();
      this.onChange();
      return { ok: false, error: msg };
    }
  }

  /** Try now instead of waiting for the retry (the broker came back, a test was asked for). */
  kick(): void {
    if (this.timer && !this.busy) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.st.retry_at = null;
      this.pump();
    }
  }

  status(): OutboxStatus {
    return { ...this.st, queued: this.queue.length };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const it of this.queue.splice(0)) for (const d of it.done) d({ ok: false, error: 'hark stopped before it was delivered' });
  }

  private drop(it: Item, why: string): void {
    this.st.dropped++;
    for (const d of it.done) d({ ok: false, error: why });
  }

  private pump(): void {
    if (this.busy || this.timer || this.closed) return;
    const it = this.queue[0];
    if (!it) return;
    if (this.now() - Date.parse(it.notice.at) > MAX_AGE_MS) {
      this.queue.shift();
      this.drop(it, 'not delivered within a day; dropped');
      this.pump();
      return;
    }
    this.busy = true;
    this.send(it.notice).then(
      () => {
        this.busy = false;
        if (this.queue[0] === it) this.queue.shift();
        this.backoff.reset();
        this.st.sent++;
        this.st.last_ok_at = new Date(this.now()).toISOString();
        this.st.last_ok_event = it.notice.event === 'test' ? 'test' : `${it.notice.id} ${it.notice.state}`;
        this.st.last_error = null;
        this.st.retry_at = null;
        for (const d of it.done) d({ ok: true });
        this.onChange();
        this.pump();
      },
      (e: unknown) => {
        this.busy = false;
        if (this.closed) return;
        const err = e instanceof DeliveryError ? e : new DeliveryError((e as Error)?.message ?? String(e));
        const wait = this.backoff.next(err.kind);
        this.st.last_error = err.message;
        this.st.last_error_at = new Date(this.now()).toISOString();
        this.st.retry_at = new Date(this.now() + wait).toISOString();
        this.onChange();
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.st.retry_at = null;
          this.pump();
        }, wait);
      },
    );
  }
}
