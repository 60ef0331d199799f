/**
 * One WHEP listener: a libdatachannel PeerConnection with a sendonly audio track (and, when
 * the listener opens them, the `mp3` data channel and the low-latency `opus-ll` one). The
 * session owns its node-datachannel objects, watches its own health and reports its end to
 * the WebRtcOutput that created it.
 *
 * `opus-ll` (issue 19; the contract in the README's API part): hark sends each Opus packet of
 * the listener's program as one unordered, never retransmitted message with a 24-byte header
 * (LL_HEADER_BYTES); the page decodes and buffers it itself. The only message the page may
 * send is the keep-alive `{"type":"ping","t":…}`, answered with hark's clock; anything else is
 * counted, and LL_BAD_LIMIT of them end the session.
 */
import { randomBytes } from 'node:crypto';
import nd from 'node-datachannel';
import type * as ND from 'node-datachannel';
import type { EncodedPacket } from '../../codecs/encoder.ts';
import type { Logger } from '../../log.ts';
import { SdpError } from './errors.ts';
import type { AudioPlan } from './negotiate.ts';
import { parseRtcp, rttFromReport } from './rtcp.ts';
import { addSendTrack, sendAt, type SendTrack } from './send-track.ts';
import type { IceFragment } from './sdp.ts';
import { LL_BAD_LIMIT, LL_LABEL, LL_PINGS_PER_S, LL_QUEUE_BYTES, llPingTime, monotonicMs, type LlFrameMs } from './ll.ts';

/** Lifecycle of a listener, in its string form for /api/listeners. */
export type SessionState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

/** How long a session may take to connect, stay disconnected, or stay silent before it is dropped. */
export interface SessionTimeouts {
  /** From the POST to ICE + DTLS connected. */
  connectMs: number;
  /** ICE disconnected this long (consent lost, RFC 7675) ends the session. */
  disconnectedMs: number;
  /**
   * No RTCP (receiver reports, sent every ~5 s by browsers) for this long ends a session with
   * audio; an MP3-only session ends after as long without a message on its channel (the listen
   * page sends one every 2 s). A closed tab sends neither, nor any goodbye.
   */
  silentMs: number;
}

export const DEFAULT_TIMEOUTS: SessionTimeouts = { connectMs: 10_000, disconnectedMs: 4_000, silentMs: 12_000 };


export interface SessionOptions {
  id: string;
  /** The HTTP client's address. */
  remote: string;
  userAgent: string;
  rtc: ND.RtcConfig;
  /** Audio to send, or none for an MP3-only (data channel) listener. */
  plan?: AudioPlan;
  /** Data channel send buffer past which an MP3 listener is too slow and its channel closed. */
  mp3QueueBytes: number;
  log: Logger;
  /** Called once when the session ends, for whatever reason. */
  onEnd: (session: WhepSession, reason: string) => void;
  /** Called when the `mp3` data channel opens (true) or closes (false). */
  onMp3: (session: WhepSession, open: boolean) => void;
  /** Called when the `opus-ll` data channel opens (true) or closes (false). */
  onLl?: (session: WhepSession, open: boolean) => void;
  /** Frame length the listener asked for on `opus-ll` (the WHEP URL's `?ll=`; default 5 ms). */
  llFrameMs?: LlFrameMs;
  timeouts?: SessionTimeouts;
}

/** What /api/listeners shows of one listener. */
export interface ListenerInfo {
  id: string;
  state: SessionState;
  /** Address the offer came from (HTTP). */
  remote: string;
  /** The selected ICE pair's remote address:port, once connected. */
  remote_media: string | null;
  user_agent: string;
  codec: string;
  mp3_channel: boolean;
  /** The low-latency channel is open. */
  ll_channel: boolean;
  /** Its frame length (ms), when open. */
  ll_frame_ms: number | null;
  ll_packets: number;
  ll_bytes: number;
  /** Packets not sent because the channel was LL_QUEUE_BYTES behind. */
  ll_dropped: number;
  /** Messages from the listener that were not a keep-alive (ignored). */
  ll_bad_messages: number;
  created_at: string;
  connected_since: string | null;
  rtt_ms: number | null;
  packets: number;
  bytes: number;
  mp3_bytes: number;
  fraction_lost: number | null;
  jitter_ms: number | null;
  nacks: number;
  rtcp_packets: number;
}

/** libdatachannel objects alive right now (a leak check for tests). */
export const rtcCounters = { peerConnections: 0, created: 0 };

export class WhepSession {
  readonly id: string;
  readonly etag = `"${randomBytes(12).toString('hex')}"`;
  readonly createdAt = Date.now();
  readonly log: Logger;
  /** ICE username fragment of the offer: a PATCH with another one is an ICE restart. */
  remoteUfrag = '';
  /** The first bundled m= section's mid, where trickled candidates go by default. */
  firstMid = '0';

  private _state: SessionState = 'new';
  private connectedAt?: number;
  private disconnectedAt?: number;
  private ended = false;

  // Every node-datachannel wrapper is held for the session's lifetime: when the JS object is
  // garbage collected its native object is destroyed, and a track or channel silently stops.
  private pc?: ND.PeerConnection;
  private rtp?: SendTrack;
  private dc?: ND.DataChannel;
  private llDc?: ND.DataChannel;
  private trackOpen = false;
  private dcOpen = false;
  private llOpen = false;

  /** RTP timestamp of sample 0 of the pipeline clock; random per RFC 3550 §5.1. */
  private readonly tsBase = randomBytes(4).readUInt32BE(0);
  private readonly ssrc = randomBytes(4).readUInt32BE(0) || 1;
  private readonly clockScale: number;

  packets = 0;
  bytes = 0;
  mp3Bytes = 0;
  llPackets = 0;
  llBytes = 0;
  llDropped = 0;
  llBad = 0;
  private llPingWindow = 0;
  private llPings = 0;
  rtcpPackets = 0;
  nacks = 0;
  private lastRtcpAt = 0;
  private lastDcMessageAt = 0;
  private rttMs?: number;
  private fractionLost?: number;
  private jitterMs?: number;
  private remoteMedia?: string;

  constructor(private readonly opts: SessionOptions) {
    this.id = opts.id;
    this.log = opts.log;
    this.clockScale = (opts.plan?.clockRate ?? 48000) / 48000;
  }

  get state(): SessionState {
    return this._state;
  }

  get plan(): AudioPlan | undefined {
    return this.opts.plan;
  }

  /** Answer the offer: resolves with the answer SDP once candidates are gathered. */
  async start(offer: string, gatherTimeoutMs = 3000): Promise<string> {
    const plan = this.opts.plan;
    const pc = new nd.PeerConnection(`whep-${this.id.slice(0, 8)}`, this.opts.rtc);
    this.pc = pc;
    rtcCounters.peerConnections++;
    rtcCounters.created++;
    const gathered = new Promise<void>((resolve) => {
      pc.onGatheringStateChange((s) => {
        if (s === 'complete') resolve();
      });
      setTimeout(resolve, gatherTimeoutMs).unref?.();
    });
    pc.onStateChange((s) => this.onPcState(s));
    pc.onDataChannel((dc) => this.onDataChannel(dc));

    if (plan) {
      // The track must exist, with the offer's mid, before the offer is applied: libdatachannel
      // then answers with this description instead of rejecting the m= section.
      const rtp = addSendTrack(pc, {
        mid: plan.mid,
        ssrc: this.ssrc,
        payloadType: plan.payloadType,
        clockRate: plan.clockRate,
        // 150 packets: 1.5 s of 10 ms Opus, far longer than a NACK on a LAN takes to come back.
        nackHistory: 150,
        codec: (m) => {
          if (plan.fmtp) m.addAudioCodec(plan.payloadType, plan.rtpmap, plan.fmtp);
          else m.addAudioCodec(plan.payloadType, plan.rtpmap);
          if (plan.nack) m.parseSdpLine(`a=rtcp-fb:${plan.payloadType} nack`);
        },
      });
      this.rtp = rtp;
      const track = rtp.track;
      track.onOpen(() => {
        this.trackOpen = true;
      });
      track.onClosed(() => {
        this.trackOpen = false;
      });
      track.onMessage((msg) => this.onRtcp(msg));
    }

    try {
      pc.setRemoteDescription(offer, 'offer');
    } catch (e) {
      this.close('offer refused');
      throw new SdpError(`libdatachannel refused the offer: ${(e as Error).message.replace(/^libdatachannel error[^:]*: /, '')}`);
    }
    this._state = 'connecting';
    await gathered;
    if (this.ended || !this.pc) throw new Error('session closed while answering');
    const answer = pc.localDescription();
    if (!answer || answer.type !== 'answer') {
      this.close('no answer');
      throw new SdpError('libdatachannel produced no answer for this offer');
    }
    return answer.sdp;
  }

  /** Send one encoded audio packet; `buf` is the packet's bytes, shared by all listeners. */
  sendAudio(p: EncodedPacket, buf: Buffer): void {
    if (!this.trackOpen || this._state !== 'connected') return;
    // With DTX, ≤ 2-byte packets are silence that need not be sent (opus_encode docs).
    if (buf.length <= 2 && this.opts.plan?.codec === 'opus') return;
    // RFC 3550 §5.1: the timestamp is the sampling instant of the first sample, from the
    // sample clock (never wall time), so gaps and jitter in delivery do not move it.
    if (sendAt(this.rtp!, this.tsBase + Math.round(p.pts * this.clockScale), buf, (e) => this.log.debug(`send failed: ${e.message}`))) {
      this.packets++;
      this.bytes += buf.length + 12;
    }
  }

  /** Send one MP3 packet on the `mp3` data channel. */
  sendMp3(buf: Buffer): void {
    const dc = this.dc;
    if (!dc || !this.dcOpen) return;
    try {
      if (dc.bufferedAmount() > this.opts.mp3QueueBytes) {
        this.log.warn(`mp3 channel fell ${dc.bufferedAmount()} bytes behind: closed`);
        this.closeDataChannel();
        return;
      }
      if (dc.sendMessageBinary(buf)) this.mp3Bytes += buf.length;
    } catch (e) {
      this.log.debug(`mp3 send failed: ${(e as Error).message}`);
    }
  }

  /** The frame length (ms) this listener's `opus-ll` channel carries. */
  get llFrameMs(): LlFrameMs {
    return this.opts.llFrameMs ?? 5;
  }

  /** Send one packet (header + Opus, built once for every low-latency listener) on `opus-ll`. */
  sendLl(buf: Buffer): void {
    const dc = this.llDc;
    if (!dc || !this.llOpen) return;
    try {
      // Unordered and never retransmitted: a late packet is worth nothing, so one the channel
      // cannot take now is dropped (the page conceals it), never queued without bound.
      if (dc.bufferedAmount() > LL_QUEUE_BYTES) {
        this.llDropped++;
        return;
      }
      if (dc.sendMessageBinary(buf)) {
        this.llPackets++;
        this.llBytes += buf.length;
      }
    } catch (e) {
      this.log.debug(`opus-ll send failed: ${(e as Error).message}`);
    }
  }

  /** Apply trickled candidates (the fragment is validated, credentials checked by the caller). */
  addCandidates(frag: IceFragment): number {
    const pc = this.pc;
    if (!pc) return 0;
    let n = 0;
    for (const c of frag.candidates) {
      try {
        pc.addRemoteCandidate(c.candidate, c.mid);
        n++;
      } catch (e) {
        throw new SdpError(`candidate refused: ${(e as Error).message.replace(/^libdatachannel error[^:]*: /, '')}`);
      }
    }
    return n;
  }

  /** Check timeouts; ends the session when one has passed. Called about once a second. */
  tick(now = Date.now()): void {
    if (this.ended) return;
    const t = this.opts.timeouts ?? DEFAULT_TIMEOUTS;
    if ((this._state === 'new' || this._state === 'connecting') && now - this.createdAt > t.connectMs) {
      this.end(`did not connect within ${t.connectMs / 1000} s`);
    } else if (this._state === 'disconnected' && this.disconnectedAt && now - this.disconnectedAt > t.disconnectedMs) {
      this.end(`disconnected for ${t.disconnectedMs / 1000} s`);
    } else if (this._state === 'connected' && this.opts.plan && now - Math.max(this.lastRtcpAt, this.connectedAt ?? 0) > t.silentMs) {
      this.end(`no RTCP from the listener for ${t.silentMs / 1000} s`);
    } else if (this._state === 'connected' && !this.opts.plan && !this.dcOpen && now - (this.connectedAt ?? now) > t.connectMs) {
      this.end('MP3-only listener without an open mp3 channel');
    } else if (this._state === 'connected' && !this.opts.plan && this.dcOpen && now - Math.max(this.lastDcMessageAt, this.connectedAt ?? 0) > t.silentMs) {
      this.end(`no message on the mp3 channel for ${t.silentMs / 1000} s`);
    }
    if (this._state === 'connected' && !this.remoteMedia) this.readSelectedPair();
  }

  info(): ListenerInfo {
    return {
      id: this.id,
      state: this._state,
      remote: this.opts.remote,
      remote_media: this.remoteMedia ?? null,
      user_agent: this.opts.userAgent,
      codec: this.opts.plan?.summary ?? 'none (mp3 data channel)',
      mp3_channel: this.dcOpen,
      ll_channel: this.llOpen,
      ll_frame_ms: this.llOpen ? this.llFrameMs : null,
      ll_packets: this.llPackets,
      ll_bytes: this.llBytes,
      ll_dropped: this.llDropped,
      ll_bad_messages: this.llBad,
      created_at: new Date(this.createdAt).toISOString(),
      connected_since: this.connectedAt ? new Date(this.connectedAt).toISOString() : null,
      rtt_ms: this.rtt(),
      packets: this.packets,
      bytes: this.bytes,
      mp3_bytes: this.mp3Bytes,
      fraction_lost: this.fractionLost ?? null,
      jitter_ms: this.jitterMs ?? null,
      nacks: this.nacks,
      rtcp_packets: this.rtcpPackets,
    };
  }

  private rtt(): number | null {
    if (this.rttMs !== undefined) return Math.round(this.rttMs * 10) / 10;
    // No receiver report with LSR yet: SCTP's estimate, when there is a data channel.
    try {
      const r = this.pc?.rtt() ?? -1;
      return r >= 0 ? r : null;
    } catch {
      return null;
    }
  }

  private readSelectedPair(): void {
    try {
      const pair = this.pc?.getSelectedCandidatePair();
      if (pair) this.remoteMedia = pair.remote.address.includes(':') ? `[${pair.remote.address}]:${pair.remote.port}` : `${pair.remote.address}:${pair.remote.port}`;
    } catch {}
  }

  private onPcState(s: string): void {
    if (this.ended) return;
    switch (s) {
      case 'connected':
        if (this._state !== 'connected') {
          this._state = 'connected';
          this.connectedAt ??= Date.now();
          this.disconnectedAt = undefined;
          this.readSelectedPair();
          this.log.info(`connected ${this.remoteMedia ?? this.opts.remote} in ${Date.now() - this.createdAt} ms (${this.opts.plan?.summary ?? 'mp3 channel only'})`);
        }
        break;
      case 'disconnected':
        this._state = 'disconnected';
        this.disconnectedAt = Date.now();
        this.log.info('disconnected');
        break;
      case 'failed':
        this._state = 'failed';
        this.end('connection failed');
        break;
      case 'closed':
        this.end('connection closed by the listener');
        break;
    }
  }

  private onRtcp(msg: Buffer): void {
    if (this.ended) return;
    this.rtcpPackets++;
    this.lastRtcpAt = Date.now();
    const r = parseRtcp(msg);
    this.nacks += r.nacked;
    for (const rr of r.reports) {
      if (rr.ssrc !== this.ssrc) continue;
      this.fractionLost = rr.fractionLost;
      this.jitterMs = Math.round((rr.jitter / (this.opts.plan?.clockRate ?? 48000)) * 1e4) / 10;
      const rtt = rttFromReport(rr);
      if (rtt !== undefined) this.rttMs = rtt;
    }
    if (r.bye) this.end('listener sent RTCP BYE');
  }

  private onDataChannel(dc: ND.DataChannel): void {
    if (this.ended) {
      dc.close();
      return;
    }
    const label = dc.getLabel();
    if (label === LL_LABEL && !this.llDc) {
      this.onLlChannel(dc);
      return;
    }
    if (label !== 'mp3' || this.dc) {
      this.log.info(`closing data channel "${label.slice(0, 32)}": hark takes one "mp3" and one "${LL_LABEL}" channel`);
      dc.close();
      return;
    }
    this.dc = dc;
    const opened = () => {
      if (this.dcOpen || this.ended) return;
      this.dcOpen = true;
      this.log.info('mp3 data channel open');
      this.opts.onMp3(this, true);
    };
    dc.onOpen(opened);
    dc.onClosed(() => {
      if (!this.dcOpen) return;
      this.dcOpen = false;
      this.opts.onMp3(this, false);
    });
    dc.onMessage(() => {
      this.lastDcMessageAt = Date.now();
    });
    if (dc.isOpen()) opened();
  }

  private onLlChannel(dc: ND.DataChannel): void {
    this.llDc = dc;
    const opened = () => {
      if (this.llOpen || this.ended) return;
      this.llOpen = true;
      this.log.info(`${LL_LABEL} channel open (${this.llFrameMs} ms frames)`);
      this.opts.onLl?.(this, true);
    };
    dc.onOpen(opened);
    dc.onClosed(() => {
      if (!this.llOpen) return;
      this.llOpen = false;
      this.opts.onLl?.(this, false);
    });
    dc.onMessage((msg) => this.onLlMessage(dc, msg));
    if (dc.isOpen()) opened();
  }

  /** The keep-alive is answered with hark's clock; anything else is counted, and too much of it ends the session. */
  private onLlMessage(dc: ND.DataChannel, msg: string | Buffer | ArrayBuffer): void {
    if (this.ended) return;
    const t = typeof msg === 'string' ? llPingTime(msg) : undefined;
    const now = Date.now();
    if (now - this.llPingWindow >= 1000) {
      this.llPingWindow = now;
      this.llPings = 0;
    }
    if (t === undefined || ++this.llPings > LL_PINGS_PER_S) {
      this.llBad++;
      if (this.llBad === 1) this.log.info(`${LL_LABEL}: a message that is not a keep-alive (ignored)`);
      if (this.llBad > LL_BAD_LIMIT) this.end(`sent ${this.llBad} messages on ${LL_LABEL} that are not a keep-alive`);
      return;
    }
    try {
      if (dc.bufferedAmount() <= LL_QUEUE_BYTES) dc.sendMessage(JSON.stringify({ type: 'pong', t, now: monotonicMs() }));
    } catch {}
  }

  private closeLlChannel(): void {
    if (this.llOpen) {
      this.llOpen = false;
      this.opts.onLl?.(this, false);
    }
    try {
      this.llDc?.close();
    } catch {}
  }

  private closeDataChannel(): void {
    if (this.dcOpen) {
      this.dcOpen = false;
      this.opts.onMp3(this, false);
    }
    try {
      this.dc?.close();
    } catch {}
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.close(reason);
  }

  /** Idempotent: closes the connection and reports the end to the owner once. */
  close(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this._state = 'closed';
    this.closeDataChannel();
    this.closeLlChannel();
    try {
      this.rtp?.track.close();
    } catch {}
    if (this.pc) {
      try {
        this.pc.close();
      } catch {}
      rtcCounters.peerConnections--;
    }
    this.trackOpen = false;
    this.pc = undefined;
    this.rtp = undefined;
    this.dc = undefined;
    this.llDc = undefined;
    this.log.info(`closed: ${reason} (${this.packets} packets, ${this.bytes} bytes${this.mp3Bytes ? `, ${this.mp3Bytes} mp3 bytes` : ''})`);
    this.opts.onEnd(this, reason);
  }
}

