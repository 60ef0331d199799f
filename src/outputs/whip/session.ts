/**
 * One WHIP publication: a libdatachannel PeerConnection with a sendonly Opus track, offered to
 * the WHIP endpoint, answered, connected. It watches its own health (ICE state, RTCP from the
 * server) and reports its end once; its owner (WhipOutput) decides about retrying.
 */
import { randomBytes } from 'node:crypto';
import nd, { type PeerConnection, type RtcConfig } from 'node-datachannel';
import type { EncodedPacket } from '../../codecs/encoder.ts';
import type { Logger } from '../../log.ts';
import { addSendTrack, sendAt, type SendTrack } from '../webrtc/send-track.ts';
import { deleteResource, postOffer, WhipError } from './protocol.ts';

/** RFC 7587 dynamic payload type for Opus; any 96–127 works, 111 is what browsers pick. */
const OPUS_PT = 111;

export interface PublisherOptions {
  endpoint: string;
  token: string;
  channels: 1 | 2;
  /** Local address to gather candidates on (empty: all). */
  bindAddress: string;
  iceServers: string[];
  /** The POST must be answered within this. */
  requestTimeoutMs: number;
  /** From the answer to ICE + DTLS connected. */
  connectTimeoutMs: number;
  /** Candidate gathering before the offer is sent anyway (non-trickle offer). */
  gatherTimeoutMs: number;
  /** ICE disconnected this long ends the publication (consent lost, RFC 7675). */
  disconnectedMs: number;
  /** No RTCP from the server this long ends it (a peer gone without a DTLS close). */
  silentMs: number;
  log: Logger;
}

export const DEFAULT_PUBLISHER = {
  bindAddress: '',
  iceServers: [] as string[],
  requestTimeoutMs: 5000,
  connectTimeoutMs: 10_000,
  gatherTimeoutMs: 3000,
  disconnectedMs: 4000,
  silentMs: 15_000,
};

export class WhipPublisher {
  // Every node-datachannel wrapper is kept for the publication's lifetime: a collected JS
  // wrapper destroys its native object and the track silently stops.
  private pc?: PeerConnection;
  private rtp?: SendTrack;
  private ended = false;
  private connected = false;
  private trackOpen = false;
  private disconnectedAt = 0;
  private lastRtcpAt = 0;
  private watchdog?: ReturnType<typeof setInterval>;
  private endHandler?: (reason: WhipError) => void;
  /** While connecting: fail the connect at once when the connection dies. */
  private rejectConnect?: (reason: WhipError) => void;
  /** RTP timestamp of sample 0 of the pipeline clock; random per RFC 3550 §5.1. */
  private readonly tsBase = randomBytes(4).readUInt32BE(0);
  private readonly ssrc = randomBytes(4).readUInt32BE(0) || 1;
  resource: string | null = null;
  packets = 0;
  bytes = 0;
  rtcpPackets = 0;
  readonly since = new Date();

  private constructor(private readonly opts: PublisherOptions) {}

  /** Offer, POST, answer, connect. Resolves once media can flow; rejects with a WhipError. */
  static async open(opts: PublisherOptions): Promise<WhipPublisher> {
    const p = new WhipPublisher(opts);
    try {
      await p.start();
      return p;
    } catch (e) {
      await p.close();
      throw e instanceof WhipError ? e : new WhipError('protocol', (e as Error).message);
    }
  }

  /** Called once when the publication ends by itself (not after close()). */
  onEnd(handler: (reason: WhipError) => void): void {
    this.endHandler = handler;
  }

  get live(): boolean {
    return this.connected && this.trackOpen && !this.ended;
  }

  private async start(): Promise<void> {
    const o = this.opts;
    const rtc: RtcConfig = { iceServers: o.iceServers };
    if (o.bindAddress) rtc.bindAddress = o.bindAddress;
    const pc = new nd.PeerConnection('whip', rtc);
    this.pc = pc;
    const gathered = new Promise<void>((resolve) => {
      pc.onGatheringStateChange((s) => s === 'complete' && resolve());
      setTimeout(resolve, o.gatherTimeoutMs).unref?.();
    });
    let onConnected!: () => void;
    const connected = new Promise<void>((resolve, reject) => {
      onConnected = resolve;
      this.rejectConnect = reject;
    });
    connected.catch(() => {});
    pc.onStateChange((s) => {
      if (this.ended) return;
      if (s === 'connected') {
        this.connected = true;
        this.disconnectedAt = 0;
        if (this.trackOpen) onConnected();
      } else if (s === 'disconnected') {
        this.disconnectedAt ||= Date.now();
      } else if (s === 'failed' || s === 'closed') {
        this.end(new WhipError('network', `the WebRTC connection ${s}`));
      }
    });

    const rtp = addSendTrack(pc, {
      mid: '0',
      ssrc: this.ssrc,
      payloadType: OPUS_PT,
      clockRate: 48_000,
      nackHistory: 256,
      // RFC 7587 §7: stereo/sprop-stereo say what we send; useinbandfec that FEC is in it.
      codec: (m) => m.addOpusCodec(OPUS_PT, `minptime=10;useinbandfec=1${o.channels === 2 ? ';stereo=1;sprop-stereo=1' : ''}`),
    });
    this.rtp = rtp;
    const track = rtp.track;
    track.onOpen(() => {
      this.trackOpen = true;
      if (this.connected) onConnected();
    });
    track.onClosed(() => {
      this.trackOpen = false;
      if (this.connected) this.end(new WhipError('network', 'the server closed the audio track'));
    });
    track.onMessage(() => {
      this.rtcpPackets++;
      this.lastRtcpAt = Date.now();
    });

    pc.setLocalDescription();
    await gathered;
    const offer = pc.localDescription();
    if (!offer) throw new WhipError('protocol', 'libdatachannel produced no offer');
    if (this.ended) throw new WhipError('network', 'closed while connecting');

    const answer = await postOffer(o.endpoint, offer.sdp, o.token, o.requestTimeoutMs);
    this.resource = answer.resource;
    try {
      pc.setRemoteDescription(answer.sdp, 'answer');
    } catch (e) {
      throw new WhipError('protocol', `the server's answer was refused: ${(e as Error).message.replace(/^libdatachannel error[^:]*: /, '')}`);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new WhipError('timeout', `ICE/DTLS did not connect within ${o.connectTimeoutMs / 1000} s`)),
        o.connectTimeoutMs,
      );
    });
    try {
      await Promise.race([connected, timedOut]);
    } finally {
      clearTimeout(timer);
      this.rejectConnect = undefined;
    }
    this.lastRtcpAt = Date.now();
    this.watchdog = setInterval(() => this.check(), 1000);
  }

  /** Send one Opus packet. */
  send(p: EncodedPacket): void {
    if (!this.live) return;
    // A receiver given one timestamp for every packet plays nothing (sendAt stamps each).
    const buf = Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength);
    if (sendAt(this.rtp!, this.tsBase + p.pts, buf, (e) => this.opts.log.debug(`send failed: ${e.message}`))) {
      this.packets++;
      this.bytes += buf.length;
    }
  }

  private check(): void {
    if (this.ended) return;
    const now = Date.now();
    if (this.disconnectedAt && now - this.disconnectedAt > this.opts.disconnectedMs) {
      this.end(new WhipError('network', `ICE disconnected for ${this.opts.disconnectedMs / 1000} s`));
    } else if (now - this.lastRtcpAt > this.opts.silentMs) {
      this.end(new WhipError('timeout', `no RTCP from the server for ${this.opts.silentMs / 1000} s`));
    }
  }

  private end(reason: WhipError): void {
    if (this.ended) return;
    this.rejectConnect?.(reason);
    const handler = this.endHandler;
    void this.close();
    handler?.(reason);
  }

  /** Idempotent: DELETE the session resource (RFC 9725 §4.2) and close the connection. */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.watchdog);
    const resource = this.resource;
    try {
      this.rtp?.track.close();
    } catch {}
    try {
      this.pc?.close();
    } catch {}
    this.pc = undefined;
    this.rtp = undefined;
    if (resource) {
      const err = await deleteResource(resource, this.opts.token);
      if (err) this.opts.log.warn(err);
      else this.opts.log.debug(`deleted ${resource}`);
    }
  }
}
