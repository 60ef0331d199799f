/**
 * SRT receive, in the receiver thread (net/receiver-worker.ts): a libsrt socket (ffi/srt.ts,
 * live mode, non-blocking) as listener or caller, its messages demuxed as MPEG-TS
 * (codecs/mpegts.ts) and decoded in-process — Opus (ffi/opus.ts), MPEG-1/2 audio layer 2 or 3
 * (ffi/mpg123.ts), SMPTE 302M PCM — into the jitter ring, one frame after another. SRT has
 * already ordered and timed the packets (its latency is input.buffer_ms); a gap in the PTS
 * (packets SRT gave up on) is left as silence so the audio after it keeps its time.
 *
 * A listener keeps listening after a link breaks and takes the next caller; a caller calls
 * again with backoff (0.5 s doubling to 5 s). A refused handshake (wrong passphrase) is shown.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { OpusDecoder } from '../../../ffi/opus.ts';
import { Mpg123Decoder } from '../../../ffi/mpg123.ts';
import { rejectReasonText, SrtPoller, SrtSocket, type SrtStats } from '../../../ffi/srt.ts';
import { decodeS302m, TsDemuxer, type TsAccessUnit } from '../../codecs/mpegts.ts';
import type { SrtInputUrl } from '../../config/input-url.ts';
import type { NetRing } from './ring.ts';
import type { ReceiverStatus } from './status.ts';
import { traceOnset } from '../trace.ts';

const TICK_MS = 5;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 5000;
/** Messages taken per tick at most (a flood cannot keep the thread from its other work). */
const MAX_MSGS_PER_TICK = 2000;
/**
 * While linked, a tick waits on the link's poller (srt_epoll_uwait, up to TICK_MS a call) for this long,
 * so each message is taken the moment SRT releases it (TSBPD) rather than in 5 ms batches: the
 * reader then needs to hold only a packet and a small margin (network-source.ts). The thread's
 * other work (status, close) waits at most this long.
 */
const RECV_BUDGET_MS = 50;
/** A PTS gap up to this is kept as silence; a larger jump re-anchors (a new stream). */
const MAX_GAP_FRAMES = 48_000;

const now = () => performance.timeOrigin + performance.now();

export function startSrt(u: SrtInputUrl, ring: NetRing, o: { bufferMs: number; passphrase: string }): { status(): ReceiverStatus; close(): void } {
  return new SrtLink(u, ring, o);
}

class SrtLink {
  private listener: SrtSocket | null = null;
  private conn: SrtSocket | null = null;
  private state: ReceiverStatus['state'] = 'starting';
  private message = 'opening';
  private problem = '';
  private peer = '';
  private timer: ReturnType<typeof setInterval>;
  private closed = false;
  private retryAt = 0;
  private backoff = BACKOFF_MIN_MS;
  private connecting = false;
  private readonly buf = new Uint8Array(1500);
  private demux: TsDemuxer;
  private opus: OpusDecoder | null = null;
  private mpg: Mpg123Decoder | null = null;
  private pos = 0;
  /** ring position − PTS in 48 kHz frames, once anchored. */
  private anchor: number | null = null;
  private scratch = new Float32Array(0);
  private lastStats: SrtStats | null = null;
  private readonly counters = { messages: 0, bytes: 0, connections: 0, linkBreaks: 0, decodeErrors: 0, gapFrames: 0, refusedFormat: 0, accessUnits: 0 };
  private payload = '';
  private fresh = false;
  private lastMsgMs = 0;
  /** The connected link's readiness (srt_epoll), while there is one. */
  private poller: SrtPoller | null = null;

  constructor(
    private readonly u: SrtInputUrl,
    private readonly ring: NetRing,
    private readonly o: { bufferMs: number; passphrase: string },
  ) {
    this.demux = new TsDemuxer((au) => this.onAccessUnit(au));
    if (u.mode === 'listener') this.openListener();
    else this.state = 'calling';
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  private options() {
    return {
      latencyMs: this.u.latencyMs ?? this.o.bufferMs,
      passphrase: this.o.passphrase || this.u.passphrase,
      ...(this.u.mode === 'caller' && this.u.streamId ? { streamId: this.u.streamId } : {}),
    };
  }

  private openListener(): void {
    const s = SrtSocket.create(this.options());
    try {
      s.bind(this.u.host, this.u.port);
      s.listen(1);
    } catch (e) {
      s.close();
      throw e;
    }
    this.listener = s;
    this.state = 'listening';
    this.message = `listening for SRT on ${this.u.host || '*'}:${this.u.port}`;
  }

  private async call(): Promise<void> {
    this.connecting = true;
    try {
      const host = isIP(this.u.host) ? this.u.host : (await lookup(this.u.host, { family: 4 })).address;
      if (this.closed) return;
      const s = SrtSocket.create(this.options());
      try {
        s.connect(host, this.u.port);
      } catch (e) {
        s.close();
        throw e;
      }
      this.conn = s;
      this.state = 'calling';
      this.message = `calling ${this.u.host}:${this.u.port}`;
    } catch (e) {
      this.fail(`cannot call ${this.u.host}:${this.u.port}: ${(e as Error).message}`);
    } finally {
      this.connecting = false;
    }
  }

  private fail(why: string): void {
    this.problem = why;
    this.message = why;
    this.retryAt = performance.now() + this.backoff;
    this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
  }

  private dropConn(why: string): void {
    const c = this.conn;
    this.conn = null;
    this.poller?.close();
    this.poller = null;
    if (!c) return;
    try {
      this.lastStats = c.stats();
    } catch {
      /* gone */
    }
    c.close();
    this.demux.reset();
    this.anchor = null;
    this.counters.linkBreaks++;
    if (this.u.mode === 'listener') {
      this.state = 'listening';
      this.message = `${why}; listening for SRT on ${this.u.host || '*'}:${this.u.port}`;
    } else {
      this.state = 'calling';
      this.fail(why);
    }
  }

  private tick(): void {
    if (this.closed) return;
    try {
      if (this.u.mode === 'listener' && this.listener && !this.conn) {
        const c = this.listener.accept();
        if (c) {
          this.conn = c;
          this.onConnected(c);
        }
      }
      if (this.u.mode === 'caller' && !this.conn && !this.connecting && performance.now() >= this.retryAt) void this.call();
      const c = this.conn;
      if (!c) return;
      const st = c.state;
      if (st === 'connecting') return;
      if (st === 'broken' || st === 'closed' || st === 'nonexist' || st === 'closing') {
        const r = c.rejectReason;
        this.dropConn(r ? `refused: ${rejectReasonText(r)}` : this.state === 'calling' ? 'no answer' : 'the link broke');
        return;
      }
      if (this.state === 'calling') this.onConnected(c);
      const until = performance.now() + RECV_BUDGET_MS;
      for (let k = 0; k < MAX_MSGS_PER_TICK; k++) {
        const n = c.recv(this.buf);
        if (n <= 0) {
          const left = until - performance.now();
          if (left < 1 || !this.poller) break;
          this.poller.poll(Math.min(TICK_MS, Math.ceil(left)));
          continue;
        }
        this.counters.messages++;
        this.counters.bytes += n;
        this.lastMsgMs = now();
        this.demux.push(this.buf.subarray(0, n));
      }
    } catch (e) {
      if (this.conn) this.dropConn(`the link broke: ${(e as Error).message}`);
      else this.fail((e as Error).message);
    }
  }

  private onConnected(c: SrtSocket): void {
    this.counters.connections++;
    // wait for its messages on a poller: see RECV_BUDGET_MS
    this.poller?.close();
    this.poller = new SrtPoller(4);
    this.poller.add(c);
    this.backoff = BACKOFF_MIN_MS;
    this.problem = '';
    try {
      const p = c.peerAddress();
      this.peer = p.host && p.port ? `${p.host}:${p.port}` : '';
    } catch {
      this.peer = '';
    }
    // A caller's socket may not know its peer's address (libsrt answers 0.0.0.0:0): it is the one called.
    if (!this.peer && this.u.mode === 'caller') this.peer = `${this.u.host.includes(':') ? `[${this.u.host}]` : this.u.host}:${this.u.port}`;
    this.state = 'connected';
    this.message = `connected to ${this.peer || this.u.host}`;
    // A new link is a new stream: the reader re-centres on its first audio (put()).
    this.fresh = true;
  }

  private need(n: number): Float32Array {
    if (this.scratch.length < n) this.scratch = new Float32Array(n);
    return this.scratch;
  }

  private onAccessUnit(au: TsAccessUnit): void {
    this.counters.accessUnits++;
    try {
      if (au.stream.codec === 'opus') {
        this.payload = 'opus';
        this.opus ??= new OpusDecoder({ channels: 2 });
        const pcm = this.opus.decode(au.data);
        this.put(pcm, pcm.length / 2, 2, au.pts);
      } else if (au.stream.codec === 'mpeg-audio') {
        this.mpg ??= new Mpg123Decoder();
        let first = true;
        this.mpg.decode(au.data, (b) => {
          if (b.rate !== 48_000) {
            this.counters.refusedFormat++;
            this.problem = `the stream is at ${b.rate} Hz: hark takes 48 kHz`;
            return false;
          }
          this.payload = 'mpeg-audio';
          this.put(b.samples.subarray(0, b.frames * b.channels), b.frames, b.channels, first ? au.pts : null);
          first = false;
          return true;
        });
      } else if (au.stream.codec === 's302m') {
        const a = decodeS302m(au.data);
        if (!a) {
          this.counters.decodeErrors++;
          return;
        }
        this.payload = `pcm (302M ${a.bits}-bit)`;
        this.put(a.pcm, a.frames, a.channels, au.pts);
      }
    } catch {
      this.counters.decodeErrors++;
    }
  }

  /** Append decoded frames, leaving a PTS gap as silence. */
  private put(pcm: Float32Array, frames: number, srcCh: number, pts: number | null): void {
    if (frames <= 0) return;
    if (this.state === 'connected') {
      this.state = 'receiving';
      this.message = `receiving ${this.payload} from ${this.peer}`;
    }
    if (this.fresh) {
      this.fresh = false;
      this.ring.restart(this.pos);
    }
    // The link counts as alive while audio decodes from it (bytes that decode to nothing do not).
    this.ring.touch(now());
    if (pts !== null) {
      const p48 = Math.round((pts * 48_000) / 90_000);
      if (this.anchor === null) this.anchor = this.pos - p48;
      else {
        const want = p48 + this.anchor;
        const gap = want - this.pos;
        if (gap > 240 && gap <= MAX_GAP_FRAMES) {
          this.counters.gapFrames += gap;
          this.pos = want;
        } else if (Math.abs(gap) > MAX_GAP_FRAMES) this.anchor = this.pos - p48; // a PTS jump (wrap, new stream)
      }
    }
    const ch = this.ring.channels;
    let buf = pcm;
    if (srcCh !== ch) {
      buf = this.need(frames * ch);
      for (let f = 0; f < frames; f++) for (let c = 0; c < ch; c++) buf[f * ch + c] = pcm[f * srcCh + Math.min(c, srcCh - 1)]!;
    }
    traceOnset('rx', buf, frames, ch);
    this.ring.write(this.pos, buf, frames);
    this.pos += frames;
  }

  status(): ReceiverStatus {
    let srt: Record<string, number> | null = null;
    try {
      if (this.conn && this.state !== 'calling') this.lastStats = this.conn.stats();
    } catch {
      /* the link is going */
    }
    if (this.lastStats) {
      const s = this.lastStats;
      srt = {
        rttMs: Math.round(s.rttMs * 10) / 10,
        recvMbps: Math.round(s.recvMbps * 1000) / 1000,
        pktRecv: s.pktRecv,
        pktRcvLoss: s.pktRcvLoss,
        pktRcvDrop: s.pktRcvDrop,
        pktRcvRetrans: s.pktRcvRetrans,
        pktRcvUndecrypt: s.pktRcvUndecrypt,
        msRcvBuf: s.msRcvBuf,
        latencyMs: s.msRcvTsbPdDelay,
      };
    }
    const age = now() - this.lastMsgMs;
    const d = this.demux.stats;
    return {
      protocol: 'srt',
      state: this.state,
      message: this.message,
      peer: this.peer,
      lastPacketAgeMs: this.counters.messages > 0 ? Math.round(age) : null,
      problem: this.problem,
      counters: {
        ...this.counters,
        tsPackets: d.packets,
        syncLossBytes: d.syncLossBytes,
        ccErrors: d.ccErrors,
        crcErrors: d.crcErrors,
        pesErrors: d.pesErrors,
        unsupportedStreams: d.unsupportedStreams,
      },
      payload: this.payload,
      srt,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.poller?.close();
    this.poller = null;
    this.conn?.close();
    this.listener?.close();
    this.opus?.close();
    this.mpg?.close();
  }
}
