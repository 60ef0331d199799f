/**
 * One `[[whip]]` output: publishes the Opus stream to a WHIP server and keeps doing so —
 * the same reconnect policy as Icecast (5 s request timeout, exponential backoff with jitter
 * capped at 30 s, refused tokens retried no sooner than a minute).
 */
import type { EncoderSpec } from '../../codecs/index.ts';
import { logger, type Logger } from '../../log.ts';
import { Backoff, DEFAULT_BACKOFF, type BackoffPolicy, type FailureKind } from '../backoff.ts';
import type { PacketSource } from '../packet-source.ts';
import { WhipError } from './protocol.ts';
// session.ts (and node-datachannel under it) is loaded at the first connect: an idle box
// without [[whip]] entries never pays for the addon.
import type { PublisherOptions, WhipPublisher } from './session.ts';

export type WhipState = 'stopped' | 'connecting' | 'live' | 'retrying' | 'auth_failed';

export interface WhipOutputOptions {
  id: string;
  endpoint: string;
  token: string;
  spec: EncoderSpec & { codec: 'opus' };
  bindAddress?: string;
  iceServers?: string[];
  publisher?: Partial<Omit<PublisherOptions, 'log'>>;
  backoff?: BackoffPolicy;
}

export class WhipOutput {
  private _state: WhipState = 'stopped';
  private pub?: WhipPublisher;
  private unsubscribe?: () => void;
  private timer?: ReturnType<typeof setTimeout>;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private generation = 0;
  private lastError: string | null = null;
  private nextRetryAt: number | null = null;
  private liveSince: Date | null = null;
  private bytesBefore = 0;
  private packetsBefore = 0;
  private connects = 0;
  private attempts = 0;

  constructor(
    private readonly source: PacketSource,
    readonly opts: WhipOutputOptions,
  ) {
    this.backoff = new Backoff(opts.backoff ?? DEFAULT_BACKOFF);
    this.log = logger(`whip ${opts.id}`);
  }

  get state(): WhipState {
    return this._state;
  }

  start(): void {
    if (this._state !== 'stopped') return;
    this.generation++;
    this.backoff.reset();
    this.unsubscribe = this.source.subscribe(this.opts.spec, (p) => this.pub?.send(p));
    void this.attempt();
  }

  /** Stop publishing: DELETEs the session on the server. Idempotent. */
  async close(): Promise<void> {
    if (this._state === 'stopped') return;
    this.generation++;
    clearTimeout(this.timer);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.nextRetryAt = null;
    this._state = 'stopped';
    const pub = this.pub;
    this.drop();
    await pub?.close();
    this.log.info('stopped');
  }

  status(now = Date.now()) {
    const retryIn = this.nextRetryAt === null ? null : Math.max(0, Math.ceil((this.nextRetryAt - now) / 1000));
    const again = retryIn === null ? '' : `retrying in ${retryIn} s`;
    const status =
      this._state === 'retrying'
        ? `${again}${this.lastError ? `: ${this.lastError}` : ''}`
        : this._state === 'auth_failed'
          ? `auth failed: check the token (${again})`
          : this._state === 'connecting'
            ? `connecting to ${this.opts.endpoint}`
            : this._state;
    return {
      id: this.opts.id,
      url: this.opts.endpoint,
      state: this._state,
      status,
      bitrate_kbps: this.opts.spec.bitrateKbps,
      resource: this.pub?.resource ?? null,
      bytes: this.bytesBefore + (this.pub?.bytes ?? 0),
      packets: this.packetsBefore + (this.pub?.packets ?? 0),
      rtcp_packets: this.pub?.rtcpPackets ?? 0,
      connected_since: this.liveSince?.toISOString() ?? null,
      last_error: this.lastError,
      next_retry_at: this.nextRetryAt === null ? null : new Date(this.nextRetryAt).toISOString(),
      retry_in_s: retryIn,
      connects: this.connects,
      attempts: this.attempts,
    };
  }

  private async attempt(): Promise<void> {
    const gen = this.generation;
    this._state = 'connecting';
    this.nextRetryAt = null;
    this.attempts++;
    let pub: WhipPublisher;
    try {
      const { DEFAULT_PUBLISHER, WhipPublisher } = await import('./session.ts');
      pub = await WhipPublisher.open({
        ...DEFAULT_PUBLISHER,
        bindAddress: this.opts.bindAddress ?? '',
        iceServers: this.opts.iceServers ?? [],
        ...this.opts.publisher,
        endpoint: this.opts.endpoint,
        token: this.opts.token,
        channels: this.opts.spec.channels,
        log: this.log,
      });
    } catch (e) {
      if (gen !== this.generation) return;
      return this.failed(e instanceof WhipError ? e : new WhipError('network', String(e)));
    }
    if (gen !== this.generation) {
      await pub.close();
      return;
    }
    this.pub = pub;
    this.connects++;
    this._state = 'live';
    this.liveSince = new Date();
    this.lastError = null;
    this.log.info(`live: publishing Opus ${this.opts.spec.bitrateKbps} kbit/s to ${this.opts.endpoint} (session ${pub.resource})`);
    pub.onEnd((err) => {
      if (gen !== this.generation || this.pub !== pub) return;
      const upMs = Date.now() - (this.liveSince?.getTime() ?? Date.now());
      this.drop();
      this.backoff.connectionEnded(upMs);
      this.log.warn(`publication ended after ${Math.round(upMs / 1000)} s: ${err.message}`);
      this.failed(err);
    });
  }

  private drop(): void {
    if (this.pub) {
      this.bytesBefore += this.pub.bytes;
      this.packetsBefore += this.pub.packets;
    }
    this.pub = undefined;
    this.liveSince = null;
  }

  private failed(err: WhipError): void {
    const kind: FailureKind = err.kind === 'auth' ? 'auth' : 'transient';
    let delay = this.backoff.next(kind);
    // A busy server that says when to come back is taken at its word (RFC 9110 §10.2.3).
    if (err.retryAfterMs !== undefined) delay = Math.max(delay, Math.min(err.retryAfterMs, 600_000));
    this._state = kind === 'auth' ? 'auth_failed' : 'retrying';
    this.lastError = err.message;
    this.nextRetryAt = Date.now() + delay;
    const line = `${err.message}; retrying in ${(delay / 1000).toFixed(1)} s`;
    if (kind === 'auth') this.log.error(line);
    else this.log.warn(line);
    const gen = this.generation;
    this.timer = setTimeout(() => {
      if (gen === this.generation) void this.attempt();
    }, delay);
  }
}
