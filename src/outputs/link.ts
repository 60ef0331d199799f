/**
 * The one output contract and the one reconnect handler (after mediamtx's forward/dest.go
 * with dest_handler.go).
 *
 * An output that sends on its own (an Icecast mount, a WHIP publisher, the recorder, SRT/RTP
 * to come) is a `Connector`: `connect(signal)` opens a `Link` that sends until it fails.
 * `LinkHandler` owns everything around it — the state, retries with the shared backoff policy,
 * the last error, bytes and connected-since — and says when the state changes. The recorder's
 * link is the open recording: it opens at once (connect returns it, no `connecting`), its
 * states keep their own names (`states`: live is `recording`), and a full disk waits as
 * `disk_full` at a fixed period rather than backing off (LinkFailure `state` and `waitMs`).
 * Every output, the listener outputs included, reports through one `OutputStatus` record:
 * that is what /api/status, /metrics, the admin page, the CLI and the LEDs read.
 */
import type { Logger } from '../log.ts';
import { Backoff, DEFAULT_BACKOFF, type BackoffPolicy, type FailureKind } from './backoff.ts';

/** One output's status: the record every reader shares. */
export interface OutputStatus {
  /** The kind, as in the config and the event ids: icecast, whip, recording, http_mp3, webrtc. */
  kind: string;
  /** The entry's id ("main"); '' for an output there is one of. */
  id: string;
  /** `stopped`, `connecting`, `live`, `retrying`, `auth_failed`, `mount_in_use`, or a kind's own. */
  state: string;
  /** The state as a person reads it: "retrying in 4 s: connection refused by …". */
  detail: string;
  /** Bytes sent since start (every connection together). */
  bytes: number;
  /** Listeners connected now, for outputs that have them; null for the others. */
  listeners: number | null;
  /** When the current connection (or file, or first listener) started, ISO 8601; null if none. */
  since: string | null;
  last_error: string | null;
  /** Where it sends, as a person reads it: "radio.example.org:8000/live.mp3", a URL, a folder, a path. */
  where: string;
  /** When the next try is due (ISO 8601), while it waits to retry; else null. */
  retry_at: string | null;
  /** Whether the config turns it on (a stopped output that is off is no problem). */
  enabled: boolean;
  /** Successful connections since start, for outputs that connect (LinkHandler). */
  connects?: number;
}

/** The key an output's events and change detection use: "icecast:main", or the kind alone. */
export function outputKey(s: Pick<OutputStatus, 'kind' | 'id'>): string {
  return s.id ? `${s.kind}:${s.id}` : s.kind;
}

/** A connection that sends until it fails. */
export interface Link {
  /** Bytes sent on this connection. */
  readonly bytes: number;
  /** Called once when the link ends on its own (not after close()). */
  onEnd(fn: (err: unknown) => void): void;
  close(): void | Promise<void>;
}

/** A failed attempt or a lost link, as the retry policy sees it. */
export interface LinkFailure {
  kind: FailureKind;
  message: string;
  /** The server said when to come back (Retry-After): no sooner than this. */
  retryAfterMs?: number;
  /** Try again at once without counting a failure (e.g. falling back to an older protocol). */
  retryNow?: boolean;
  /** Wait this long instead of the backoff sequence (the recorder's disk guard looks every 5 s). */
  waitMs?: number;
  /** The kind's own name for the state while it waits (the recorder's `disk_full`); `retrying` unless said. */
  state?: string;
}

/** An output kind's part: how to connect, and what its errors mean. */
export interface Connector<L extends Link> {
  /**
   * Open a link; throws (or rejects) on failure. `signal` aborts when the output is closed
   * meanwhile. A link that opens at once (a file) may be returned as it is: it is live before
   * start() returns, with no `connecting` in between.
   */
  connect(signal: AbortSignal): L | Promise<L>;
  /** What a thrown error or a link's end means for the policy. */
  failure(err: unknown): LinkFailure;
}

/** The states of an output under LinkHandler (/metrics lists each, 1 for the current one). */
export const LINK_STATES = ['stopped', 'connecting', 'live', 'retrying', 'auth_failed', 'mount_in_use'] as const;
export type LinkState = (typeof LINK_STATES)[number];

export interface LinkHandlerOptions<L extends Link> {
  kind: string;
  id: string;
  log: Logger;
  backoff?: BackoffPolicy;
  random?: () => number;
  /** Where it sends, for "connecting to …" and OutputStatus.where. */
  where: string;
  /** Whether the config turns it on (OutputStatus.enabled); true unless said. */
  enabled?: boolean;
  /** What to check when credentials are refused: "check user and password". */
  authHint: string;
  /** What a taken mount or session is called: "another source is connected to /live". */
  busyText?: string;
  /** The connecting detail when it differs from "connecting to <where>" (a listener waits). */
  connectingText?: string;
  /** The live detail when it differs from "live". */
  liveText?: string;
  /** The kind's own names for the states in OutputStatus (the recorder's live is `recording`). */
  states?: Partial<Record<LinkState, string>>;
  /** The log line's words for a lost link: "connection lost" (after N s: why). */
  lostText?: string;
  /** Called when a link goes live, and when it is dropped (lost or closed). */
  onLive?(link: L): void;
  onDrop?(link: L): void;
  /** Called after every state change. */
  onChange?(): void;
}

/** A busy answer this soon after our own link dropped is probably that link, still held. */
const STALE_SOURCE_MS = 60_000;
const STALE_RETRY_MS = 5000;
/** A server's Retry-After is taken at its word up to this. */
const MAX_RETRY_AFTER_MS = 600_000;

/** The shared reconnect handler: one per output that sends on its own. */
export class LinkHandler<L extends Link> {
  private _state: LinkState = 'stopped';
  private _link?: L;
  private timer?: ReturnType<typeof setTimeout>;
  private abort?: AbortController;
  private readonly backoff: Backoff;
  private lastError: string | null = null;
  /** The failure's own name for the waiting state (LinkFailure.state), while retrying. */
  private waitState: string | null = null;
  private nextRetryAt: number | null = null;
  private liveSince: Date | null = null;
  private lastDropAt = 0;
  private bytesBefore = 0;
  private _connects = 0;
  private _attempts = 0;
  /** Bumped on every start/close, so a late answer from an old attempt is ignored. */
  private generation = 0;

  constructor(
    private readonly connector: Connector<L>,
    private readonly o: LinkHandlerOptions<L>,
  ) {
    this.backoff = new Backoff(o.backoff ?? DEFAULT_BACKOFF, o.random);
  }

  get state(): LinkState {
    return this._state;
  }

  /** The live link, if any. */
  get link(): L | undefined {
    return this._link;
  }

  get connects(): number {
    return this._connects;
  }

  get attempts(): number {
    return this._attempts;
  }

  /** Begin connecting (and retrying). Idempotent while started. */
  start(): void {
    if (this._state !== 'stopped') return;
    this.generation++;
    this.backoff.reset();
    this.attempt();
  }

  /** The state as OutputStatus shows it: the kind's own name (`recording`, `disk_full`) or the handler's. */
  get stateName(): string {
    if (this._state === 'retrying' && this.waitState) return this.waitState;
    return this.o.states?.[this._state] ?? this._state;
  }

  /** While waiting to retry: try now (e.g. room was made on the disk). */
  retryNow(): void {
    if (this.nextRetryAt === null || this._state === 'stopped') return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.attempt();
  }

  /** Close the link and cancel retries; the state is `stopped` at once. Idempotent. */
  async close(): Promise<void> {
    if (this._state === 'stopped') return;
    this.generation++;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abort?.abort();
    this.abort = undefined;
    this.nextRetryAt = null;
    const link = this._link;
    this.drop();
    this.setState('stopped');
    this.o.log.info('stopped');
    await link?.close();
  }

  /** The handler's part of an output's status (the fields every kind's JSON shares). */
  status(now = Date.now()) {
    const retryIn = this.nextRetryAt === null ? null : Math.max(0, Math.ceil((this.nextRetryAt - now) / 1000));
    return {
      state: this._state,
      status: this.describe(retryIn),
      bytes: this.bytesBefore + (this._link?.bytes ?? 0),
      connected_since: this.liveSince?.toISOString() ?? null,
      last_error: this.lastError,
      next_retry_at: this.nextRetryAt === null ? null : new Date(this.nextRetryAt).toISOString(),
      retry_in_s: retryIn,
      connects: this._connects,
      attempts: this._attempts,
    };
  }

  /** The shared record. */
  outputStatus(now = Date.now()): OutputStatus {
    const s = this.status(now);
    return {
      kind: this.o.kind,
      id: this.o.id,
      state: this.stateName,
      detail: s.status,
      bytes: s.bytes,
      listeners: null,
      since: s.connected_since,
      last_error: s.last_error,
      where: this.o.where,
      retry_at: s.next_retry_at,
      enabled: this.o.enabled ?? true,
      connects: s.connects,
    };
  }

  private describe(retryIn: number | null): string {
    const again = retryIn === null ? '' : `retrying in ${retryIn} s`;
    switch (this._state) {
      case 'stopped':
        return 'stopped';
      case 'connecting':
        return this.o.connectingText ?? `connecting to ${this.o.where}`;
      case 'live':
        return this.o.liveText ?? 'live';
      case 'retrying':
        return `${again}${this.lastError ? `: ${this.lastError}` : ''}`;
      case 'auth_failed':
        return `auth failed: ${this.o.authHint} (${again})`;
      case 'mount_in_use':
        return `mount in use: ${this.o.busyText ?? 'another source is connected'} (${again})`;
    }
  }

  private setState(s: LinkState, waitState: string | null = null): void {
    if (s === this._state && waitState === this.waitState) return;
    this._state = s;
    this.waitState = waitState;
    this.o.onChange?.();
  }

  private attempt(): void {
    const gen = this.generation;
    this.nextRetryAt = null;
    this._attempts++;
    const abort = (this.abort = new AbortController());
    let opened: L | Promise<L>;
    try {
      opened = this.connector.connect(abort.signal);
    } catch (e) {
      return this.attemptFailed(gen, e);
    }
    if (opened instanceof Promise) {
      this.setState('connecting');
      opened.then(
        (link) => this.connected(gen, link),
        (e) => this.attemptFailed(gen, e),
      );
    } else this.connected(gen, opened);
  }

  private attemptFailed(gen: number, e: unknown): void {
    if (gen !== this.generation) return;
    const f = this.connector.failure(e);
    if (f.retryNow) return this.attempt();
    this.failed(f);
  }

  private connected(gen: number, link: L): void {
    if (gen !== this.generation) {
      void link.close();
      return;
    }
    this._link = link;
    this._connects++;
    this.liveSince = new Date();
    this.lastError = null;
    link.onEnd((err) => {
      if (gen !== this.generation || this._link !== link) return;
      const upMs = Date.now() - (this.liveSince?.getTime() ?? Date.now());
      this.lastDropAt = Date.now();
      this.drop();
      void link.close();
      this.backoff.connectionEnded(upMs);
      const f = this.connector.failure(err);
      this.o.log.warn(`${this.o.lostText ?? 'connection lost'} after ${Math.round(upMs / 1000)} s: ${f.message}`);
      this.failed(f);
    });
    this.setState('live');
    this.o.onLive?.(link);
  }

  private drop(): void {
    const link = this._link;
    if (link) {
      this.bytesBefore += link.bytes;
      this._link = undefined;
      this.o.onDrop?.(link);
    }
    this.liveSince = null;
  }

  private failed(f: LinkFailure): void {
    let delay: number;
    if (f.waitMs !== undefined) {
      delay = f.waitMs;
    } else if (f.kind === 'busy' && Date.now() - this.lastDropAt < STALE_SOURCE_MS) {
      // Most likely our own dropped link, which the server keeps until its timeout notices
      // (Icecast's source-timeout, 10 s by default): check back every few seconds, not every 30.
      delay = Math.max(STALE_RETRY_MS, this.backoff.next('transient'));
    } else {
      delay = this.backoff.next(f.kind);
    }
    // A busy server that says when to come back is taken at its word (RFC 9110 §10.2.3).
    if (f.retryAfterMs !== undefined) delay = Math.max(delay, Math.min(f.retryAfterMs, MAX_RETRY_AFTER_MS));
    this.lastError = f.message;
    this.nextRetryAt = Date.now() + delay;
    const line = `${f.message}; retrying in ${(delay / 1000).toFixed(1)} s`;
    // A fixed wait that goes on (the disk still full) is logged once, when it starts.
    if (f.waitMs !== undefined && this._state === 'retrying' && this.waitState === (f.state ?? null)) this.o.log.debug(line);
    else if (f.kind === 'transient') this.o.log.warn(line);
    else this.o.log.error(line);
    const gen = this.generation;
    this.timer = setTimeout(() => {
      if (gen === this.generation) this.attempt();
    }, delay);
    if (f.kind === 'auth') this.setState('auth_failed');
    else if (f.kind === 'busy') this.setState('mount_in_use');
    else this.setState('retrying', f.state ?? null);
  }
}

/** Who to tell when something changed (the listener outputs' onChange). */
export class Changes {
  private readonly fns = new Set<() => void>();

  on(fn: () => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }

  emit(): void {
    for (const fn of this.fns) fn();
  }
}
