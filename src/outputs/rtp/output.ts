/**
 * One `[[rtp]]` output: the program's audio as RTP over UDP (RFC 3550) to a receiver or a
 * multicast group — L24/L16 at 48 kHz in 1 or 4 ms packets (AES67's formats) or Opus — with
 * its SDP for /rtp/<id>.sdp and, when asked, SAP announcements. The RTP connector under the
 * shared LinkHandler (link.ts): "connecting" is opening the socket, which fails only when the
 * box has no route to the address; a socket error drops the link and the handler retries.
 * No RTCP is sent (receivers do without sender reports: ffmpeg, GStreamer, VLC, AES67 devices).
 */
import { isIPv6 } from 'node:net';
import type { EncoderSpec } from '../../codecs/index.ts';
import { logger, type Logger } from '../../log.ts';
import type { BackoffPolicy } from '../backoff.ts';
import { LinkHandler, type Connector, type LinkFailure, type OutputStatus } from '../link.ts';
import type { PacketSource } from '../packet-source.ts';
import { MAX_DELAY_MS } from '../../audio/pipeline.ts';
import { buildSdp, isMulticast, RtpPacketizer, type RtpPayload } from './protocol.ts';
import { localAddressFor, RtpLink } from './link.ts';

export type RtpState = 'stopped' | 'connecting' | 'live' | 'retrying';

export interface RtpOutputOptions {
  id: string;
  enabled?: boolean;
  program: string;
  address: string;
  port: number;
  payload: RtpPayload;
  payloadType: number;
  packetMs: number;
  channels: 1 | 2;
  ttl: number;
  sap: boolean;
  sourceAddress: string;
  spec: EncoderSpec;
  backoff?: BackoffPolicy;
  onChange?: (s: OutputStatus) => void;
}

/** Seconds since 1900 (NTP), for the SDP's o= session id (RFC 8866 §5.2 suggests it). */
const ntpSeconds = () => Math.floor(Date.now() / 1000) + 2_208_988_800;

const random32 = () => crypto.getRandomValues(new Uint32Array(1))[0]!;

export class RtpOutput implements Connector<RtpLink> {
  private readonly handler: LinkHandler<RtpLink>;
  private readonly log: Logger;
  private unsubscribe?: () => void;
  /** One SSRC, timestamp base and sequence for the output's life (reconnects continue them). */
  private readonly packetizer: RtpPacketizer;
  private readonly sessionId = ntpSeconds();
  private packetsBefore = 0;
  private droppedBefore = 0;
  private sapBefore = 0;
  private origin?: string;

  constructor(
    private readonly source: PacketSource,
    readonly opts: RtpOutputOptions,
  ) {
    this.log = logger(`rtp ${opts.id}`);
    this.packetizer = new RtpPacketizer(opts.payloadType, random32(), random32(), random32());
    this.handler = new LinkHandler(this, {
      kind: 'rtp',
      id: opts.id,
      log: this.log,
      enabled: opts.enabled,
      backoff: opts.backoff,
      where: this.where,
      authHint: 'not used by RTP',
      liveText: `sending ${this.describe()}`,
      lostText: 'socket failed',
      onLive: (link) => {
        this.origin = link.origin;
        this.log.info(`live: ${this.describe()} to ${this.where} from ${link.origin}${this.opts.sap ? ', announced by SAP' : ''}`);
      },
      onDrop: (link) => {
        this.packetsBefore += link.packets;
        this.droppedBefore += link.dropped;
        this.sapBefore += link.announcements;
      },
      onChange: () => opts.onChange?.(this.outputStatus()),
    });
  }

  get id(): string {
    return this.opts.id;
  }

  get state(): RtpState {
    return this.handler.state as RtpState;
  }

  /** "239.69.1.10:5004", "[ff05::1:10]:5004". */
  get where(): string {
    return isIPv6(this.opts.address) ? `[${this.opts.address}]:${this.opts.port}` : `${this.opts.address}:${this.opts.port}`;
  }

  get multicast(): boolean {
    return isMulticast(this.opts.address);
  }

  private describe(): string {
    const o = this.opts;
    const fmt = o.payload === 'opus' ? `Opus ${(o.spec as { bitrateKbps?: number }).bitrateKbps ?? ''} kbit/s` : o.payload.toUpperCase();
    return `${fmt} ${o.channels === 2 ? 'stereo' : 'mono'}, ${o.packetMs} ms packets${this.multicast ? `, multicast TTL ${o.ttl}` : ''}`;
  }

  start(): void {
    if (this.handler.state !== 'stopped') return;
    // Every packet as soon as it is encoded: a contribution link, not a relay with seconds of buffer.
    this.unsubscribe = this.source.subscribe(this.opts.spec, (p) => this.handler.link?.send(p), { program: this.opts.program, maxDelayMs: MAX_DELAY_MS.prompt });
    this.handler.start();
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.handler.close();
  }

  /** The session description (the origin is the address the box sends from). */
  async sdp(): Promise<string> {
    this.origin ??= this.opts.sourceAddress || (await localAddressFor(this.opts.address, this.opts.port)) || undefined;
    return this.sdpNow();
  }

  private sdpNow(): string {
    const o = this.opts;
    return buildSdp({
      id: o.id,
      sessionId: this.sessionId,
      sessionVersion: this.sessionId,
      origin: this.origin ?? (isIPv6(o.address) ? '::1' : '127.0.0.1'),
      address: o.address,
      port: o.port,
      ttl: o.ttl,
      payload: o.payload,
      payloadType: o.payloadType,
      channels: o.channels,
      packetMs: o.packetMs,
      timestampBase: this.packetizer.timestampBase,
      program: o.program,
    });
  }

  status(now = Date.now()) {
    const h = this.handler.status(now);
    const link = this.handler.link;
    const o = this.opts;
    return {
      id: o.id,
      ...h,
      state: this.state,
      program: o.program,
      address: o.address,
      port: o.port,
      multicast: this.multicast,
      payload: o.payload,
      payload_type: o.payloadType,
      packet_ms: o.packetMs,
      channels: o.channels,
      ttl: o.ttl,
      sap: o.sap,
      sdp_url: `/rtp/${o.id}.sdp`,
      ssrc: this.packetizer.ssrc,
      packets: this.packetsBefore + (link?.packets ?? 0),
      send_failures: this.droppedBefore + (link?.dropped ?? 0),
      sap_announcements: this.sapBefore + (link?.announcements ?? 0),
    };
  }

  outputStatus(now = Date.now()): OutputStatus {
    return this.handler.outputStatus(now);
  }

  /** Connector: open the socket. */
  async connect(): Promise<RtpLink> {
    const o = this.opts;
    return RtpLink.open({
      address: o.address,
      port: o.port,
      ttl: o.ttl,
      sourceAddress: o.sourceAddress,
      packetizer: this.packetizer,
      sap: o.sap
        ? (origin) => {
            this.origin = origin;
            return this.sdpNow();
          }
        : null,
      log: this.log,
    });
  }

  /** Connector: every failure is the network's (no route, a socket error): retry with backoff. */
  failure(e: unknown): LinkFailure {
    return { kind: 'transient', message: e instanceof Error ? e.message : String(e) };
  }
}
