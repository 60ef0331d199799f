/**
 * One `[[whip]]` output: publishes the Opus stream to a WHIP server and keeps doing so —
 * the same reconnect policy as Icecast (5 s request timeout, exponential backoff with jitter
 * capped at 30 s, refused tokens retried no sooner than a minute), owned by the shared
 * LinkHandler (link.ts); this is the WHIP connector.
 */
import type { EncoderSpec } from '../../codecs/index.ts';
import { logger, type Logger } from '../../log.ts';
import type { BackoffPolicy } from '../backoff.ts';
import { LinkHandler, type Connector, type LinkFailure, type OutputStatus } from '../link.ts';
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
  /** The program it publishes ([[program]] id; default main). */
  program?: string;
  bindAddress?: string;
  iceServers?: string[];
  publisher?: Partial<Omit<PublisherOptions, 'log'>>;
  backoff?: BackoffPolicy;
  /** Called after every state change, with the shared status record. */
  onChange?: (s: OutputStatus) => void;
  /** Whether the config turns it on (default true): shown in OutputStatus. */
  enabled?: boolean;
}

export class WhipOutput implements Connector<WhipPublisher> {
  private readonly handler: LinkHandler<WhipPublisher>;
  private unsubscribe?: () => void;
  private readonly log: Logger;
  private packetsBefore = 0;

  constructor(
    private readonly source: PacketSource,
    readonly opts: WhipOutputOptions,
  ) {
    this.log = logger(`whip ${opts.id}`);
    this.handler = new LinkHandler(this, {
      kind: 'whip',
      id: opts.id,
      log: this.log,
      enabled: opts.enabled,
      backoff: opts.backoff,
      where: opts.endpoint,
      authHint: 'check the token',
      lostText: 'publication ended',
      onLive: (pub) => this.log.info(`live: publishing Opus ${this.opts.spec.bitrateKbps} kbit/s to ${this.opts.endpoint} (session ${pub.resource})`),
      onDrop: (pub) => {
        this.packetsBefore += pub.packets;
      },
      onChange: () => opts.onChange?.(this.outputStatus()),
    });
  }

  get state(): WhipState {
    // A WHIP server has no "mount in use": that state never comes from failure().
    return this.handler.state as WhipState;
  }

  get id(): string {
    return this.opts.id;
  }

  start(): void {
    if (this.handler.state !== 'stopped') return;
    this.unsubscribe = this.source.subscribe(this.opts.spec, (p) => this.handler.link?.send(p), this.opts.program ? { program: this.opts.program } : {});
    this.handler.start();
  }

  /** Stop publishing: DELETEs the session on the server. Idempotent. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.handler.close();
  }

  status(now = Date.now()) {
    const h = this.handler.status(now);
    const pub = this.handler.link;
    return {
      id: this.opts.id,
      url: this.opts.endpoint,
      ...h,
      state: this.state,
      bitrate_kbps: this.opts.spec.bitrateKbps,
      resource: pub?.resource ?? null,
      packets: this.packetsBefore + (pub?.packets ?? 0),
      rtcp_packets: pub?.rtcpPackets ?? 0,
    };
  }

  outputStatus(now = Date.now()): OutputStatus {
    return this.handler.outputStatus(now);
  }

  /** Connector: offer, POST, answer, connect. */
  async connect(): Promise<WhipPublisher> {
    const { DEFAULT_PUBLISHER, WhipPublisher } = await import('./session.ts');
    return WhipPublisher.open({
      ...DEFAULT_PUBLISHER,
      bindAddress: this.opts.bindAddress ?? '',
      iceServers: this.opts.iceServers ?? [],
      ...this.opts.publisher,
      endpoint: this.opts.endpoint,
      token: this.opts.token,
      channels: this.opts.spec.channels,
      log: this.log,
    });
  }

  /** Connector: a refused token waits longer; a server's Retry-After is honoured. */
  failure(e: unknown): LinkFailure {
    const err = e instanceof WhipError ? e : new WhipError('network', String(e));
    return { kind: err.kind === 'auth' ? 'auth' : 'transient', message: err.message, retryAfterMs: err.retryAfterMs };
  }
}
