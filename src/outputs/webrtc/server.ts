/**
 * The WebRTC output: owns every WHEP listener session, the shared UDP port, and the encoder
 * subscriptions. Listeners whose offers negotiate the same codec settings share one encoder
 * (encode once, fan out); each gets its own SSRC, sequence numbers and SRTP keys.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type * as nd from 'node-datachannel';
import { MAX_DELAY_MS, type AudioPipeline } from '../../audio/pipeline.ts';
import type { EncodedPacket } from '../../codecs/encoder.ts';
import { encoderKey, type EncoderSpec } from '../../codecs/index.ts';
import { logger, type Logger } from '../../log.ts';
import { trimMemory } from '../../memory.ts';
import {
  CapacityError,
  ClientCapacityError,
  IceRestartUnsupportedError,
  PreconditionFailedError,
  PreconditionRequiredError,
  SessionNotFoundError,
  UnavailableError,
} from './errors.ts';
import { planAudio, type NegotiationPolicy } from './negotiate.ts';
import { addHostCandidates, parseIceFragment, parseOffer } from './sdp.ts';
import { loadNative, probeNative, type NativeRtc } from './native.ts';
import { Changes, type OutputStatus } from '../link.ts';
import type { ListenerInfo, SessionTimeouts, WhepSession } from './session.ts';
import { llMessage, type LlFrameMs } from './ll.ts';
import type { AudioPlan } from './negotiate.ts';

/** A STUN or TURN server, as configured ([[webrtc.ice_servers]]). */
export interface IceServerConfig {
  /** stun:host[:port], turn:host[:port][?transport=udp|tcp] or turns:host[:port]. */
  url: string;
  username: string;
  credential: string;
}

export interface WebRtcOptions {
  maxListeners: number;
  /** Sessions one client address may hold at once (0: no limit); more get 429. */
  maxPerAddress?: number;
  /** The address the UDP port binds (http.host when that is one address; '' or 0.0.0.0: every interface). */
  bindAddress?: string;
  udpPort: number;
  iceServers: IceServerConfig[];
  /** Extra addresses (IPs or DNS names) advertised as host candidates, e.g. a NAT's public IP. */
  additionalHosts: string[];
  policy: NegotiationPolicy;
  /** The MP3 encoder the `mp3` data channel carries (the /stream.mp3 one, so it is shared). */
  mp3Spec: EncoderSpec;
  mp3QueueBytes: number;
  timeouts?: SessionTimeouts;
}

/** State of the output as a whole. */
export type WebRtcState = 'idle' | 'streaming' | 'unavailable' | 'closed';

export interface WhepAnswer {
  id: string;
  /**
   * The session's own secret (128 random bits): only the client that made the session gets it,
   * in its resource URL (`/whep/<id>.<secret>`); PATCH and DELETE need it (or an admin).
   */
  secret: string;
  answer: string;
  etag: string;
}

interface Feed {
  spec: EncoderSpec;
  sessions: Set<WhepSession>;
  unsubscribe: () => void;
}

/** Parse a stun:/turn:/turns: URL into libdatachannel's form. */
export function toRtcIceServer(s: IceServerConfig): string | nd.IceServer {
  const m = /^(stuns?|turns?):([^?:/]+|\[[0-9a-fA-F:.]+\])(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/.exec(s.url);
  if (!m) throw new RangeError(`ICE server URL "${s.url}" is not stun:host[:port], turn:host[:port][?transport=udp|tcp] or turns:host[:port]`);
  // RegExpExecArray types every group as string; the optional groups (port, transport) may be undefined.
  const [, scheme, host, port, transport] = m as unknown as [string, string, string, string | undefined, string | undefined];
  const hostname = host.replace(/^\[|\]$/g, '');
  if (scheme.startsWith('stun')) return `stun:${host}:${port ?? 3478}`;
  return {
    hostname,
    port: Number(port ?? (scheme === 'turns' ? 5349 : 3478)),
    username: s.username,
    password: s.credential,
    relayType: scheme === 'turns' ? 'TurnTls' : transport === 'tcp' ? 'TurnTcp' : 'TurnUdp',
  };
}

/** `Link` header values for the configured ICE servers (draft-ietf-wish-whep §4.4, RFC 9725 §4.6). */
export function iceServerLinks(servers: IceServerConfig[]): string[] {
  const q = (s: string) => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  return servers.map((s) =>
    s.url.startsWith('turn')
      ? `<${s.url}>; rel="ice-server"; username=${q(s.username)}; credential=${q(s.credential)}; credential-type="password"`
      : `<${s.url}>; rel="ice-server"`,
  );
}

/** Whether an If-Match value names `etag` (RFC 9110 §13.1.1: a list of strong entity-tags). */
export function etagMatches(ifMatch: string, etag: string): boolean {
  return ifMatch
    .split(',')
    .map((t) => t.trim())
    .some((t) => t === etag || `"${t}"` === etag);
}

export class WebRtcOutput {
  private readonly sessions = new Map<string, WhepSession>();
  private readonly changes = new Changes();
  /** Per session: its secret and the client address that made it (never published). */
  private readonly owners = new Map<string, { secret: string; remote: string; program: string }>();
  private readonly feeds = new Map<string, Feed>();
  /**
   * Low-latency (`opus-ll`) listeners, per program and encoder setting, with the encoder they
   * share and its packet counter (the header's sequence number).
   */
  private readonly llFeeds = new Map<string, { sessions: Set<WhepSession>; unsubscribe: () => void }>();
  /** MP3-over-data-channel listeners, per program, with the subscription they share. */
  private readonly mp3Feeds = new Map<string, { sessions: Set<WhepSession>; unsubscribe: () => void }>();
  private mux?: nd.IceUdpMuxListener;
  /** node-datachannel and session.ts, loaded at the first offer (native.ts). */
  private native?: NativeRtc;
  /** Why node-datachannel does not load ('' while it does, or is not known not to). */
  private nativeError = '';
  /** Holds the UDP port from start until the first offer, when libjuice's socket takes it. */
  private portHold?: { close(): void };
  private timer?: ReturnType<typeof setInterval>;
  private _state: WebRtcState = 'idle';
  private unavailableReason = '';
  private readonly log: Logger = logger('whep');
  private readonly rtc: nd.RtcConfig;
  private hostCache?: { at: number; addresses: string[] };
  /** Totals since start. */
  listenersServed = 0;
  refused = 0;

  constructor(
    private readonly pipeline: AudioPipeline,
    readonly options: WebRtcOptions,
  ) {
    this.rtc = {
      iceServers: options.iceServers.map(toRtcIceServer),
      // All listeners share one UDP port (libjuice's mux mode): one firewall rule, one socket.
      enableIceUdpMux: true,
      portRangeBegin: options.udpPort,
      portRangeEnd: options.udpPort,
      ...(options.bindAddress ? { bindAddress: options.bindAddress } : {}),
    };
  }

  get state(): WebRtcState {
    return this.nativeError && this._state !== 'closed' ? 'unavailable' : this._state;
  }

  get listenerCount(): number {
    return this.sessions.size;
  }

  /** Called whenever a listener comes or goes, or the state changes. */
  onChange(fn: () => void): () => void {
    return this.changes.on(fn);
  }

  /** The shared status record (link.ts). */
  outputStatus(): OutputStatus {
    const reason = this.nativeError || this.unavailableReason || null;
    return {
      kind: 'webrtc',
      id: '',
      state: this.state,
      detail: reason ?? `${this.sessions.size} listening`,
      bytes: [...this.sessions.values()].reduce((n, s) => n + s.bytes, 0),
      listeners: this.sessions.size,
      since: null,
      last_error: reason,
      // What a person opens; the API's path is /whep.
      where: '/listen',
      retry_at: null,
      enabled: true,
    };
  }

  /**
   * Claim the shared UDP port and check that node-datachannel loads (it is loaded itself at
   * the first offer). A port in use is not fatal: WHEP answers 503 until it is free.
   */
  start(): void {
    if (this._state === 'closed') throw new Error('WebRTC output is closed');
    // The port is claimed at start (and a conflict reported then), not at the first POST:
    // a plain socket holds it until libjuice's takes over.
    // Bun.udpSocket throws (rather than rejects) when the port is taken: either way it is a
    // WebRTC problem, never a reason for hark not to start.
    let hold: Promise<Bun.udp.Socket<'buffer'>>;
    try {
      hold = Bun.udpSocket({ port: this.options.udpPort, hostname: this.options.bindAddress || '0.0.0.0' });
    } catch (e) {
      hold = Promise.reject(e);
    }
    hold.then(
      (sock) => {
        if (this._state === 'closed' || this.mux) return sock.close();
        this.portHold = sock;
        this.log.info(`WebRTC on UDP port ${this.options.udpPort}${this.options.bindAddress ? ` of ${this.options.bindAddress}` : ''} (shared by all listeners)`);
      },
      (e: Error) => {
        if (!this.mux && this._state !== 'closed') this.portUnavailable(e);
      },
    );
    void probeNative().then((why) => {
      if (why === null || this.native || this._state === 'closed') return;
      this.nativeError = why;
      this.changes.emit();
      this.log.error(`WebRTC unavailable: ${why}`);
    });
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref?.();
  }

  /** node-datachannel, loaded once; UnavailableError (503) when it cannot be. */
  private async loadNative(): Promise<NativeRtc> {
    if (this.native) return this.native;
    try {
      const native = await loadNative();
      if (!this.native) {
        native.nd.initLogger('Warning', (level, message) => {
          const line = `libdatachannel: ${message}`;
          if (level === 'Error' || level === 'Fatal') this.log.error(line);
          // Firefox trickles TCP candidates; with ICE-TCP off they are ignored, as they should be.
          else if (message.includes('ignoring TCP candidate')) this.log.debug(line);
          else this.log.warn(line);
        });
        this.native = native;
        this.nativeError = '';
        this.changes.emit();
      }
      return this.native;
    } catch (e) {
      const why = `node-datachannel cannot be loaded: ${(e as Error).message}`;
      if (this.nativeError !== why) this.log.error(`WebRTC unavailable: ${why}`);
      this.nativeError = why;
      this.changes.emit();
      this.refused++;
      throw new UnavailableError(`WebRTC is unavailable: ${why}`);
    }
  }

  private portUnavailable(e: Error): void {
    const reason = `UDP port ${this.options.udpPort} cannot be bound (in use by another program?): ${e.message}`;
    if (this.unavailableReason !== reason) this.log.error(`WebRTC unavailable: ${reason}`);
    this.unavailableReason = reason;
    this._state = 'unavailable';
    this.changes.emit();
  }

  private bind(nd: NativeRtc['nd']): boolean {
    if (this.mux) return true;
    try {
      // Holding a listener on the port keeps libjuice's socket for it open between sessions.
      this.portHold?.close();
      this.portHold = undefined;
      const mux = this.options.bindAddress ? new nd.IceUdpMuxListener(this.options.udpPort, this.options.bindAddress) : new nd.IceUdpMuxListener(this.options.udpPort);
      mux.onUnhandledStunRequest((req) => this.log.debug(`STUN for unknown session ${req.ufrag} from ${req.host}:${req.port}`));
      this.mux = mux;
      if (this._state === 'unavailable') this.log.info(`UDP port ${this.options.udpPort} is free now`);
      this._state = this.sessions.size > 0 ? 'streaming' : 'idle';
      this.changes.emit();
      this.unavailableReason = '';
      this.log.debug(`libdatachannel listens on UDP port ${this.options.udpPort}`);
      return true;
    } catch (e) {
      this.portUnavailable(e as Error);
      return false;
    }
  }

  /** Create a listener from an SDP offer. Throws the typed errors of errors.ts. */
  async open(offerText: string, client: { remote: string; userAgent: string; program?: string; llFrameMs?: LlFrameMs }): Promise<WhepAnswer> {
    if (this._state === 'closed') throw new UnavailableError('WebRTC output is closed');
    const { nd, session: native } = await this.loadNative();
    if ((this._state as WebRtcState) === 'closed') throw new UnavailableError('WebRTC output is closed');
    if (!this.bind(nd)) {
      this.refused++;
      throw new UnavailableError(`WebRTC is unavailable: ${this.unavailableReason}`);
    }
    const offer = parseOffer(offerText);
    const plan = planAudio(offer, this.options.policy);
    if (this.sessions.size >= this.options.maxListeners) {
      this.refused++;
      throw new CapacityError(this.options.maxListeners);
    }
    const perAddress = this.options.maxPerAddress ?? 0;
    if (perAddress > 0) {
      let n = 0;
      for (const o of this.owners.values()) if (o.remote === client.remote) n++;
      if (n >= perAddress) {
        this.refused++;
        throw new ClientCapacityError(perAddress);
      }
    }
    const id = randomUUID();
    const secret = randomBytes(16).toString('base64url');
    const session = new native.WhepSession({
      id,
      remote: client.remote,
      userAgent: client.userAgent.slice(0, 256),
      rtc: this.rtc,
      plan,
      mp3QueueBytes: this.options.mp3QueueBytes,
      log: this.log.child(id.slice(0, 4)),
      onEnd: (s, reason) => this.remove(s, reason),
      onMp3: (s, open) => this.onMp3(s, open, this.owners.get(s.id)?.program ?? 'main'),
      onLl: (s, open) => this.onLl(s, open, this.owners.get(s.id)?.program ?? 'main', plan),
      ...(client.llFrameMs !== undefined ? { llFrameMs: client.llFrameMs } : {}),
      timeouts: this.options.timeouts,
    });
    session.remoteUfrag = offer.iceUfrag;
    session.firstMid = offer.media.find((m) => m.port !== 0)?.mid ?? '0';
    this.sessions.set(id, session);
    const program = client.program ?? 'main';
    this.owners.set(id, { secret, remote: client.remote, program });
    this.listenersServed++;
    if (plan) this.join(session, plan.spec, program);
    session.log.info(`offer from ${client.remote} (${offer.lines} lines): ${plan?.summary ?? 'no audio, mp3 channel only'} (${this.sessions.size} listeners)`);
    this._state = 'streaming';
    this.changes.emit();
    let answer = await session.start(offerText);
    const extra = await this.additionalAddresses();
    answer = addHostCandidates(answer, extra, this.options.udpPort);
    return { id, secret, answer, etag: session.etag };
  }

  /** Trickle ICE (RFC 8840) into a session. `ifMatch` is the If-Match header, or null. */
  patch(id: string, ifMatch: string | null, fragment: string): number {
    const s = this.get(id);
    if (ifMatch === null || ifMatch.trim() === '') throw new PreconditionRequiredError();
    // RFC 9725 §4.3.2: an ICE restart is a PATCH with If-Match: *.
    if (ifMatch.trim() === '*') throw new IceRestartUnsupportedError();
    if (!etagMatches(ifMatch, s.etag)) throw new PreconditionFailedError(ifMatch.trim().slice(0, 80), s.etag);
    const frag = parseIceFragment(fragment, s.firstMid);
    if (frag.ufrag && frag.ufrag !== s.remoteUfrag) throw new IceRestartUnsupportedError();
    return s.addCandidates(frag);
  }

  /** End a session at the listener's (or the admin's) request. */
  delete(id: string, by = 'the listener'): void {
    this.get(id).close(`deleted by ${by} (DELETE)`);
  }

  has(id: string): boolean {
    return this.sessions.has(id);
  }

  /** Whether `secret` is session `id`'s own secret (constant time). */
  owns(id: string, secret: string): boolean {
    const want = this.owners.get(id)?.secret;
    if (!want) return false;
    const a = Buffer.from(want);
    const b = Buffer.from(secret);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  listeners(): (ListenerInfo & { program: string })[] {
    return [...this.sessions.values()].map((s) => ({ ...s.info(), program: this.owners.get(s.id)?.program ?? 'main' }));
  }

  /** Listeners per program (the id each session asked for: main, or a [[program]] id). */
  listenerCounts(): Map<string, number> {
    const n = new Map<string, number>();
    for (const id of this.sessions.keys()) {
      const p = this.owners.get(id)?.program ?? 'main';
      n.set(p, (n.get(p) ?? 0) + 1);
    }
    return n;
  }

  status() {
    const counts: Record<string, number> = {};
    for (const s of this.sessions.values()) counts[s.state] = (counts[s.state] ?? 0) + 1;
    return {
      status: this.state,
      reason: this.nativeError || this.unavailableReason || null,
      udp_port: this.options.udpPort,
      listeners: this.sessions.size,
      max_listeners: this.options.maxListeners,
      states: counts,
      encoders: [...this.feeds.keys()],
      mp3_channels: [...this.mp3Feeds.values()].reduce((n, f) => n + f.sessions.size, 0),
      ll_channels: [...this.llFeeds.values()].reduce((n, f) => n + f.sessions.size, 0),
      ll_encoders: [...this.llFeeds.keys()],
      listeners_served: this.listenersServed,
      refused: this.refused,
      peer_connections: this.native?.session.rtcCounters.peerConnections ?? 0,
      packets: [...this.sessions.values()].reduce((n, s) => n + s.packets, 0),
    };
  }

  /** Idempotent: ends every session and releases the port. */
  close(): void {
    if (this._state === 'closed') return;
    for (const s of [...this.sessions.values()]) s.close('server closing');
    this._state = 'closed';
    this.changes.emit();
    if (this.timer) clearInterval(this.timer);
    try {
      this.mux?.stop();
    } catch {}
    this.mux = undefined;
    this.portHold?.close();
    this.portHold = undefined;
  }

  private get(id: string): WhepSession {
    const s = this.sessions.get(id);
    if (!s) throw new SessionNotFoundError(id);
    return s;
  }

  private tick(): void {
    const now = Date.now();
    for (const s of [...this.sessions.values()]) s.tick(now);
    // A closed session's native objects (track, handlers, channel callbacks) are freed only
    // when their JS wrappers are collected; collect once things are quiet after listeners
    // left, then give the freed memory back (glibc keeps it in libdatachannel's arenas).
    if (this.closedSinceGc > 0 && now - this.lastGcAt > 5000) {
      this.closedSinceGc = 0;
      this.lastGcAt = now;
      trimMemory('WebRTC listeners left');
    }
  }

  private closedSinceGc = 0;
  private lastGcAt = 0;

  private join(s: WhepSession, spec: EncoderSpec, program: string): void {
    const key = program === 'main' ? encoderKey(spec) : `@${program} ${encoderKey(spec)}`;
    let feed = this.feeds.get(key);
    if (!feed) {
      const sessions = new Set<WhepSession>();
      const unsubscribe = this.pipeline.subscribe(spec, (p) => this.fanOut(sessions, p), { program });
      feed = { spec, sessions, unsubscribe };
      this.feeds.set(key, feed);
      this.log.info(`encoder ${key} started`);
    }
    feed.sessions.add(s);
  }

  private fanOut(sessions: Set<WhepSession>, p: EncodedPacket): void {
    // One Buffer view over the packet for every listener: no copy per listener.
    const buf = Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength);
    for (const s of sessions) s.sendAudio(p, buf);
  }

  private onMp3(s: WhepSession, open: boolean, program: string): void {
    if (open) {
      let feed = this.mp3Feeds.get(program);
      if (!feed) {
        const sessions = new Set<WhepSession>();
        const unsubscribe = this.pipeline.subscribe(
          this.options.mp3Spec,
          (p) => {
            const buf = Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength);
            for (const l of sessions) l.sendMp3(buf);
          },
          { maxDelayMs: MAX_DELAY_MS.listener, program },
        );
        feed = { sessions, unsubscribe };
        this.mp3Feeds.set(program, feed);
      }
      feed.sessions.add(s);
    } else {
      const feed = this.mp3Feeds.get(program);
      if (!feed || !feed.sessions.delete(s)) return;
      if (feed.sessions.size === 0) {
        feed.unsubscribe();
        this.mp3Feeds.delete(program);
      }
    }
  }

  /**
   * The Opus setting of the low-latency channel: the listener's channels (as its RTP plan, or
   * the input's), the configured bitrate, its frame length, CELT only (restricted-lowdelay:
   * 2.5 ms of look-ahead instead of 6.5), no FEC (nothing is retransmitted or recovered: the
   * page conceals), no DTX.
   */
  llSpec(frameMs: LlFrameMs, plan?: AudioPlan): EncoderSpec {
    const o = this.options.policy.opus;
    const channels: 1 | 2 = plan?.spec.codec === 'opus' ? plan.spec.channels : o.stereo && this.options.policy.inputChannels >= 2 ? 2 : 1;
    return { codec: 'opus', channels, bitrateKbps: o.bitrateKbps, frameMs, application: 'restricted-lowdelay', fec: false, dtx: false, cbr: false, complexity: o.complexity };
  }

  private onLl(s: WhepSession, open: boolean, program: string, plan?: AudioPlan): void {
    if (open) {
      const spec = this.llSpec(s.llFrameMs, plan);
      const key = `${program} ${encoderKey(spec)}`;
      let feed = this.llFeeds.get(key);
      if (!feed) {
        const sessions = new Set<WhepSession>();
        let seq = 0;
        let prev: EncodedPacket | undefined;
        const channels = spec.channels;
        const unsubscribe = this.pipeline.subscribe(
          spec,
          (p) => {
            // The header, the packet and the one before it again, in one buffer built once for every listener of it.
            const buf = llMessage(seq++, channels, p, prev);
            prev = p;
            for (const l of sessions) l.sendLl(buf);
          },
          { maxDelayMs: MAX_DELAY_MS.prompt, program },
        );
        feed = { sessions, unsubscribe };
        this.llFeeds.set(key, feed);
        this.log.info(`low-latency encoder ${key} started`);
      }
      feed.sessions.add(s);
    } else {
      for (const [key, feed] of this.llFeeds) {
        if (!feed.sessions.delete(s)) continue;
        if (feed.sessions.size === 0) {
          feed.unsubscribe();
          this.llFeeds.delete(key);
          this.log.info(`low-latency encoder ${key} stopped (no listeners)`);
        }
      }
    }
  }

  private remove(s: WhepSession, reason: string): void {
    if (!this.sessions.delete(s.id)) return;
    const program = this.owners.get(s.id)?.program ?? 'main';
    this.owners.delete(s.id);
    this.closedSinceGc++;
    this.onMp3(s, false, program);
    this.onLl(s, false, program);
    for (const [key, feed] of this.feeds) {
      if (!feed.sessions.delete(s)) continue;
      if (feed.sessions.size === 0) {
        feed.unsubscribe();
        this.feeds.delete(key);
        this.log.info(`encoder ${key} stopped (no listeners)`);
      }
    }
    if (this.sessions.size === 0 && this._state === 'streaming') this._state = 'idle';
    this.changes.emit();
    this.log.debug(`removed ${s.id.slice(0, 4)}: ${reason} (${this.sessions.size} listeners)`);
  }

  /** webrtc.additional_hosts as addresses (names resolved, cached for a minute). */
  private async additionalAddresses(): Promise<string[]> {
    const hosts = this.options.additionalHosts;
    if (hosts.length === 0) return [];
    if (this.hostCache && Date.now() - this.hostCache.at < 60_000) return this.hostCache.addresses;
    const out: string[] = [];
    for (const h of hosts) {
      if (isIP(h)) {
        out.push(h);
        continue;
      }
      try {
        for (const a of await lookup(h, { all: true })) out.push(a.address);
      } catch (e) {
        this.log.warn(`additional host ${h} does not resolve: ${(e as Error).message}`);
      }
    }
    this.hostCache = { at: Date.now(), addresses: [...new Set(out)] };
    return this.hostCache.addresses;
  }
}
