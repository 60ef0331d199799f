/**
 * A WHEP listener made of node-datachannel (libdatachannel), for tests and benchmarks that
 * need many listeners or the raw RTP: it POSTs a recvonly offer, records every RTP packet's
 * header and arrival time, answers sender reports with receiver reports (RtcpReceivingSession)
 * and DELETEs its session at the end.
 *
 * Run as a program it is a swarm of listeners in a process of its own:
 *   bun test/lib/whep-client.ts --url http://127.0.0.1:8080/whep --n 20 --seconds 5
 * prints one JSON line per listener (see SwarmResult) and exits.
 */
import nd from 'node-datachannel';
import type * as ND from 'node-datachannel';

export interface WhepClientOptions {
  /** The WHEP endpoint, e.g. http://127.0.0.1:8080/whep. */
  url: string;
  /** Codecs to offer, in order (default: opus then PCMU). */
  codecs?: ('opus' | 'pcmu' | 'pcma' | 'g722')[];
  /** Opus fmtp to offer. */
  opusFmtp?: string;
  /** Offer RTCP NACK feedback. */
  nack?: boolean;
  /** Also open the `mp3` data channel. */
  mp3?: boolean;
  /**
   * Also open the low-latency channel (unordered, no retransmissions): every message hark
   * sends on it goes to `onMessage`. `label` replaces `opus-ll` (to see hark refuse another).
   */
  ll?: { onMessage: (m: Buffer | string) => void; label?: string };
  token?: string;
  /** Keep every packet's header (default true; false keeps only counters). */
  record?: boolean;
  /** Offer sendrecv instead of recvonly, so the client may send RTCP of its own (NACKs). */
  sendrecv?: boolean;
  /** Called with every RTP packet (raw, decrypted) as it arrives. */
  onRtp?: (packet: Buffer) => void;
  /**
   * Local UDP port (default: any). Churn tests give each listener its own: a new listener on
   * the port of one that vanished a moment ago would reach the server's stale session first.
   */
  port?: number;
  /** Rewrite the server's answer before it is applied (e.g. to route media through a relay). */
  rewriteAnswer?: (sdp: string) => string;
  /** Rewrite the offer before it is sent. */
  rewriteOffer?: (sdp: string) => string;
}

export interface RtpRecord {
  seq: number;
  ts: number;
  ssrc: number;
  pt: number;
  marker: boolean;
  payloadBytes: number;
  /** performance.now() at arrival. */
  at: number;
}

const PT: Record<string, number> = { opus: 111, pcmu: 0, pcma: 8, g722: 9 };

export class WhepClient {
  readonly pc: ND.PeerConnection;
  private media?: ND.Audio;
  private track?: ND.Track;
  private session?: ND.RtcpReceivingSession;
  private dc?: ND.DataChannel;
  location = '';
  etag = '';
  answer = '';
  status = 0;
  readonly packets: RtpRecord[] = [];
  packetCount = 0;
  rtcpCount = 0;
  mp3Bytes = 0;
  state = 'new';
  private stateWaiters: ((s: string) => void)[] = [];

  constructor(readonly opts: WhepClientOptions) {
    this.pc = new nd.PeerConnection('whep-client', { iceServers: [], ...(opts.port ? { portRangeBegin: opts.port, portRangeEnd: opts.port } : {}) });
    this.pc.onStateChange((s) => {
      this.seen.push(s);
      this.state = s;
      for (const w of this.stateWaiters) w(s);
    });
  }

  /**
   * A connected client, retried up to `tries` times. A libdatachannel offerer can lose a race
   * on a loaded machine (the server's DTLS arrives before it applied the answer, or its ICE
   * transport closes first); browsers wait, this client starts over. A refusal (non-201) is
   * not retried.
   */
  static async open(opts: WhepClientOptions, tries = 3): Promise<WhepClient> {
    for (let attempt = 1; ; attempt++) {
      const c = new WhepClient(opts);
      try {
        await c.connect();
        await c.waitFor('connected');
        return c;
      } catch (e) {
        await c.close().catch(() => 0);
        if (attempt >= tries || c.status !== 201) throw e;
      }
    }
  }

  /** POST the offer and apply the answer. Throws with the server's refusal on a non-201. */
  async connect(gatherTimeoutMs = 2000): Promise<void> {
    const codecs = this.opts.codecs ?? ['opus', 'pcmu'];
    const media = new nd.Audio('0', this.opts.sendrecv ? 'SendRecv' : 'RecvOnly');
    if (this.opts.sendrecv) media.addSSRC(this.ownSsrc, 'client');
    for (const c of codecs) {
      if (c === 'opus') media.addOpusCodec(PT.opus!, this.opts.opusFmtp ?? 'minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1');
      else media.addAudioCodec(PT[c]!, c === 'g722' ? 'G722/8000' : `${c.toUpperCase()}/8000`);
      if (this.opts.nack) media.parseSdpLine(`a=rtcp-fb:${PT[c]} nack`);
    }
    this.media = media;
    const track = this.pc.addTrack(media);
    this.track = track;
    const session = new nd.RtcpReceivingSession();
    track.setMediaHandler(session);
    this.session = session;
    const record = this.opts.record !== false;
    track.onMessage((buf) => {
      const b = buf as Buffer;
      if (b.length < 12) return;
      const pt = b[1]! & 0x7f;
      if (pt >= 64 && pt <= 95) {
        this.rtcpCount++;
        return;
      }
      this.packetCount++;
      this.opts.onRtp?.(b);
      if (!record) return;
      const cc = b[0]! & 0x0f;
      const ext = (b[0]! & 0x10) !== 0;
      let header = 12 + cc * 4;
      if (ext && b.length >= header + 4) header += 4 + b.readUInt16BE(header + 2) * 4;
      this.packets.push({
        seq: b.readUInt16BE(2),
        ts: b.readUInt32BE(4),
        ssrc: b.readUInt32BE(8),
        pt,
        marker: (b[1]! & 0x80) !== 0,
        payloadBytes: b.length - header,
        at: performance.now(),
      });
    });
    if (this.opts.ll) {
      const ll = this.opts.ll;
      const dc = this.pc.createDataChannel(ll.label ?? 'opus-ll', { unordered: true, maxRetransmits: 0, protocol: 'hark-opus-ll/1' });
      dc.onMessage((m) => ll.onMessage(typeof m === 'string' ? m : Buffer.from(m as ArrayBuffer)));
      dc.onOpen(() => (this.llOpen = true));
      dc.onClosed(() => (this.llOpen = false));
      this.llDc = dc;
    }
    if (this.opts.mp3) {
      const dc = this.pc.createDataChannel('mp3');
      dc.onMessage((m) => {
        this.mp3Bytes += typeof m === 'string' ? m.length : (m as ArrayBuffer).byteLength;
      });
      this.dc = dc;
    }
    const gathered = new Promise<void>((resolve) => {
      this.pc.onGatheringStateChange((s) => s === 'complete' && resolve());
      setTimeout(resolve, gatherTimeoutMs);
    });
    this.pc.setLocalDescription();
    await gathered;
    const local = this.pc.localDescription()!.sdp;
    const offer = this.opts.rewriteOffer ? this.opts.rewriteOffer(local) : local;
    const t0 = performance.now();
    const res = await fetch(this.opts.url, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp', ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}) },
      body: offer,
    });
    this.status = res.status;
    const body = await res.text();
    if (res.status !== 201) throw new Error(`WHEP POST refused: ${res.status} ${body}`);
    this.location = new URL(res.headers.get('location')!, this.opts.url).href;
    this.etag = res.headers.get('etag') ?? '';
    this.answer = body;
    try {
      this.pc.setRemoteDescription(this.opts.rewriteAnswer ? this.opts.rewriteAnswer(body) : body, 'answer');
    } catch (e) {
      throw new Error(`${(e as Error).message} (client state ${this.pc.state()}, ice ${this.pc.iceState()}, signaling ${this.pc.signalingState()}, states seen: ${this.seen.join(' ')}; POST took ${Math.round(performance.now() - t0)} ms)`);
    }
  }
  private seen: string[] = [];
  /** The low-latency channel (opts.ll), to send on it. */
  llDc?: ND.DataChannel;
  llOpen = false;

  private readonly ownSsrc = 0x5eed0001;

  /** Ask for packets again (RTCP generic NACK, RFC 4585 §6.2.1); needs `sendrecv`. */
  sendNack(mediaSsrc: number, seqs: number[]): boolean {
    const b = Buffer.alloc(12 + 4 * seqs.length);
    b[0] = 0x81; // V=2, FMT=1 (generic NACK)
    b[1] = 205;
    b.writeUInt16BE(2 + seqs.length, 2);
    b.writeUInt32BE(this.ownSsrc, 4);
    b.writeUInt32BE(mediaSsrc, 8);
    seqs.forEach((q, i) => b.writeUInt16BE(q, 12 + 4 * i)); // PID, BLP = 0
    return this.track!.sendMessageBinary(b);
  }

  /** Resolves once the connection reaches `state` (rejects on failure or timeout). */
  waitFor(state: string, timeoutMs = 10_000): Promise<void> {
    if (this.state === state) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`connection still ${this.state} after ${timeoutMs} ms`)), timeoutMs);
      this.stateWaiters.push((s) => {
        if (s === state) {
          clearTimeout(t);
          resolve();
        } else if (s === 'failed') {
          clearTimeout(t);
          reject(new Error('connection failed'));
        }
      });
    });
  }

  /** DELETE the session (unless `abandon`: then just vanish, like a crashed tab) and close. */
  async close(opts: { abandon?: boolean } = {}): Promise<number> {
    let status = 0;
    if (this.location && !opts.abandon) {
      status = (await fetch(this.location, { method: 'DELETE', headers: this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {} })).status;
    }
    try {
      this.dc?.close();
      this.llDc?.close();
      this.track?.close();
      this.pc.close();
    } catch {}
    this.track = undefined;
    this.media = undefined;
    this.session = undefined;
    this.dc = undefined;
    this.llDc = undefined;
    return status;
  }
}

/** What the swarm prints per listener. */
export interface SwarmResult {
  index: number;
  status: number;
  ssrc: number | null;
  payloadTypes: number[];
  packets: number;
  /** Packets whose sequence number was not the previous + 1 (mod 2^16). */
  seqErrors: number;
  /** Packets whose timestamp step differs from the step between their sequence numbers × the first step. */
  tsErrors: number;
  /** Timestamp step between consecutive packets (e.g. 480 for 10 ms Opus). */
  tsStep: number | null;
  /** RTP time span ÷ arrival time span: 1.0 when the sample clock paces the packets. */
  clockRatio: number | null;
  /** Largest gap between arrivals, ms. */
  maxGapMs: number | null;
  rtcp: number;
  mp3Bytes: number;
  error?: string;
}

/** Check one listener's packets: consecutive sequence numbers, sample-clock timestamps. */
export function analyse(index: number, c: WhepClient, error?: string): SwarmResult {
  const p = c.packets;
  let seqErrors = 0;
  let tsErrors = 0;
  let maxGap = 0;
  const ssrcs = new Set(p.map((x) => x.ssrc));
  const tsStep = p.length > 1 ? (p[1]!.ts - p[0]!.ts) >>> 0 : null;
  for (let i = 1; i < p.length; i++) {
    const dSeq = (p[i]!.seq - p[i - 1]!.seq + 65536) % 65536;
    if (dSeq !== 1) seqErrors++;
    const dTs = (p[i]!.ts - p[i - 1]!.ts) >>> 0;
    if (tsStep !== null && dTs !== tsStep * dSeq) tsErrors++;
    maxGap = Math.max(maxGap, p[i]!.at - p[i - 1]!.at);
  }
  const rtpSpan = p.length > 1 ? ((p.at(-1)!.ts - p[0]!.ts) >>> 0) / (p[0]!.pt === 111 ? 48000 : 8000) : 0;
  const wallSpan = p.length > 1 ? (p.at(-1)!.at - p[0]!.at) / 1000 : 0;
  return {
    index,
    status: c.status,
    ssrc: ssrcs.size === 1 ? [...ssrcs][0]! : null,
    payloadTypes: [...new Set(p.map((x) => x.pt))],
    packets: c.packetCount,
    seqErrors,
    tsErrors,
    tsStep,
    clockRatio: wallSpan > 0 ? rtpSpan / wallSpan : null,
    maxGapMs: p.length > 1 ? Math.round(maxGap * 10) / 10 : null,
    rtcp: c.rtcpCount,
    mp3Bytes: c.mp3Bytes,
    ...(error ? { error } : {}),
  };
}

if (import.meta.main) {
  const args = new Map<string, string>();
  for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
  const url = args.get('url');
  if (!url) {
    console.error('usage: bun test/lib/whep-client.ts --url URL [--n 20] [--seconds 5] [--codecs opus,pcmu] [--record 0]');
    process.exit(2);
  }
  const n = Number(args.get('n') ?? 20);
  const seconds = Number(args.get('seconds') ?? 5);
  const codecs = (args.get('codecs') ?? 'opus,pcmu').split(',') as WhepClientOptions['codecs'];
  const make = () => new WhepClient({ url, codecs, record: args.get('record') !== '0', mp3: args.get('mp3') === '1' });
  const clients: WhepClient[] = [];
  const errors = new Map<number, string>();
  let retries = 0;
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      for (let attempt = 0; ; attempt++) {
        const c = make();
        clients[i] = c;
        try {
          await c.connect();
          await c.waitFor('connected');
          return;
        } catch (e) {
          await c.close();
          // A libdatachannel offerer can lose a race on a loaded machine: the server's DTLS
          // arrives before it has applied the answer ("unknown CA"). Browsers wait; we retry.
          if (attempt < 2) {
            retries++;
            continue;
          }
          errors.set(i, (e as Error).message);
          return;
        }
      }
    }),
  );
  if (retries) console.error(`whep-client: ${retries} connection attempts repeated`);
  console.log(JSON.stringify({ connected: n - errors.size }));
  await Bun.sleep(seconds * 1000);
  const results = clients.map((c, i) => analyse(i, c, errors.get(i)));
  await Promise.all(clients.map((c) => c.close().catch(() => 0)));
  for (const r of results) console.log(JSON.stringify(r));
  process.exit(0);
}

/** A UDP port nothing listens on right now (for webrtc.udp_port in tests). */
export async function freeUdpPort(): Promise<number> {
  const dgram = await import('node:dgram');
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('error', reject);
    s.bind(0, '0.0.0.0', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}
