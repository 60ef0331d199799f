/**
 * input.source = "rtp" | "srt": the receiving end of a contribution link as an AudioSource
 * (runs in the audio worker). A receiver thread (net/receiver-worker.ts) decodes the link into
 * a jitter ring (net/ring.ts); this side plays the ring `buffer_ms` behind the newest frame,
 * paced by the monotonic clock nudged (±MAX_PPM, never resampled: the frames are the sender's,
 * one for one) so the buffer stays at buffer_ms whatever the sender's crystal does. A jump
 * beyond what nudging can absorb (a sender restart, a burst) re-centres the buffer at once.
 *
 * States: `waiting` until the first packet ("listening on :5004"), `running` while audio
 * arrives, `lost` once nothing came for LOST_MS after it ran (the engine fills silence, the
 * control plane raises input.lost, and [fallback] plays after fallback.after_s); audio coming
 * back makes it `running` again. A receiver that cannot open (port taken) is `unavailable`
 * and is started again every RETRY_MS.
 */
import { SAMPLE_RATE } from '../format.ts';
import type { AudioSource, SourceState, SourceStatus } from '../source.ts';
import { NetRing } from './ring.ts';
import type { ReceiverStatus } from './status.ts';
import type { FromReceiver, ToReceiver } from './receiver-worker.ts';
import type { InputUrl } from '../../config/input-url.ts';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', prefix: string, msg: string) => void;

/** No packet for this long: the link is lost. */
export const LOST_MS = 1000;
/** The pacing may run this far from 48 kHz to follow the sender's clock. */
const MAX_PPM = 1000;
/** ppm of correction per ms the buffer is off its target. */
const PPM_PER_MS = 20;
/** The buffer's fill is averaged over about this long before it steers the pacing. */
const FILL_TAU_S = 1;
/**
 * A second after audio starts, a buffer more than SETTLE_OFF_MS off buffer_ms is re-centred at
 * once (senders often start with a burst, which nudging would take minutes to absorb).
 */
const SETTLE_MS = 1000;
const SETTLE_OFF_MS = 20;
/** How often an SRT input's hold follows the link's recent bursts (ms). */
const REHOLD_MS = 2000;
/** A fill that stays this much (or the hold, if more) over the hold skips ahead (ms). */
const EXCESS_MS = 20;
/**
 * An SRT link's audio is watched this long before it plays (and again when it comes back): its
 * hold is then set from the bursts seen (the sender's packet size; ffmpeg groups 3–4 MP2 frames
 * in a PES), not from the first packet alone, which once held 20 ms too little at the start.
 */
const LEARN_MS = 500;
/** A receiver that failed to open is started again this often. */
const RETRY_MS = 2000;
/**
 * SRT has already held each packet for the link's latency (input.buffer_ms) and hands it over on
 * time (TSBPD), so after it hark keeps only one packet and this much more (the receiver
 * thread's and this thread's scheduling): buffer_ms is then the link's delay, not twice it.
 * RTP has no such buffer: there the ring holds buffer_ms.
 */
export const SRT_HOLD_MARGIN_MS = 8;
/** Default wake block (10 ms): short, so what plays on the PipeWire output follows closely. */
const DEFAULT_BLOCK = 480;

export interface NetworkSourceOptions {
  url: InputUrl;
  channels: number;
  bufferMs: number;
  passphrase: string;
  log: Log;
  /** wait() returns once this many frames are due at most (the PipeWire output needs it soon). */
  maxWakeFrames?: number;
}

/** In follow mode, wait() sleeps at most this long (the worker's other work runs between). */
const FOLLOW_WAIT_MS = 5;

export class NetworkSource implements AudioSource {
  readonly kind: 'rtp' | 'srt';
  readonly channels: number;
  private _state: SourceState = 'starting';
  private message = 'starting';
  private ring: NetRing;
  private worker: Worker | null = null;
  private receiver: ReceiverStatus | null = null;
  private readonly bufferFrames: number;
  /** What the ring holds behind the newest frame (frames): buffer_ms, or for SRT a packet and a margin. */
  private hold: number;
  /** Added to an SRT hold after each underrun of the ring (a loaded box needs more). */
  private widen = 0;
  /** When the SRT hold is looked at again (performance.now()). */
  private reholdAt = 0;
  private sleeper: Int32Array = new Int32Array(new SharedArrayBuffer(4));
  private closed = false;
  private retryAt = 0;
  // pacing
  private lastNs = 0n;
  private credit = 0;
  private produced = 0;
  private fillAvg = 0;
  private ppm = 0;
  private base = -1;
  /** When a new stream's buffer is looked at once more (a sender's start-up burst re-centred). */
  private settleAt = 0;
  /** SRT: when the audio that arrived may start playing (performance.now(); 0: none seen yet). */
  private learnUntil = 0;
  // counters
  private underrunFrames = 0;
  private resyncs = 0;
  private losses = 0;
  private everRan = false;
  private readonly prefix: string;
  /**
   * SRT played on a PipeWire output (setPlayback, from input.output_device): each packet is
   * handed on the moment it arrives, with no hold and no pacing of its own. SRT has already
   * timed the packets (TSBPD), and the output's queue (pw-player.ts) is then the one buffer on
   * this side: it absorbs what jitter is left and follows the output's clock. Two buffers in a
   * row, each with its margin, cost 15–25 ms more (measured, bench/contribution.ts).
   */
  private follow = false;

  constructor(private readonly o: NetworkSourceOptions) {
    this.kind = o.url.kind;
    this.channels = o.channels;
    this.bufferFrames = Math.round((o.bufferMs * SAMPLE_RATE) / 1000);
    this.hold = this.bufferFrames;
    this.ring = NetRing.create(this.bufferFrames * 2 + 2 * SAMPLE_RATE, o.channels);
    this.prefix = `input ${o.url.kind}`;
  }

  /** A PipeWire output plays this input (or stops): an SRT input then plays on arrival (or paces itself again). */
  setPlayback(on: boolean): void {
    const follow = on && this.kind === 'srt';
    if (follow === this.follow) return;
    this.follow = follow;
    this.ring.wakeOnWrite(follow);
    this.o.log('info', this.prefix, follow ? 'played on this box: each packet goes on to the output as SRT hands it over' : 'not played on this box: holding one packet and a margin');
    if (this._state === 'running') this.begin();
  }

  get state(): SourceState {
    return this._state;
  }

  start(): void {
    if (this.closed) throw new Error('network source is closed');
    this.setState('waiting', this.o.url.kind === 'rtp' ? 'opening the port' : 'opening the link');
    this.spawn();
  }

  private spawn(): void {
    const w = new Worker(new URL('./receiver-worker.ts', import.meta.url).href);
    this.worker = w;
    w.onmessage = (ev: MessageEvent<FromReceiver>) => {
      if (ev.data.type === 'status' && this.worker === w) this.onReceiver(ev.data.status);
    };
    w.onerror = (e) => {
      this.o.log('error', this.prefix, `receiver failed: ${e.message}`);
      if (this.worker === w) this.respawnLater(e.message);
    };
    // the receiver notifies the sleeper after each write while this side asks for it (follow)
    const ring = { ...this.ring.shared, wake: this.sleeper.buffer as SharedArrayBuffer };
    const start: ToReceiver = { type: 'start', url: this.o.url, ring, bufferMs: this.o.bufferMs, passphrase: this.o.passphrase };
    w.postMessage(start);
  }

  private respawnLater(why: string): void {
    this.stopWorker();
    this.retryAt = performance.now() + RETRY_MS;
    this.setState('unavailable', why);
  }

  private stopWorker(): void {
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    try {
      w.postMessage({ type: 'close' } satisfies ToReceiver);
    } catch {
      /* gone */
    }
    // The receiver closes its socket on 'close'; the thread ends shortly after.
    setTimeout(() => w.terminate(), 200);
  }

  private onReceiver(s: ReceiverStatus): void {
    const was = this.receiver?.state;
    this.receiver = s;
    if (s.state !== was) this.o.log(s.state === 'failed' ? 'warn' : 'info', this.prefix, s.message);
    if (s.state === 'failed') this.respawnLater(s.message);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this._state = 'closed';
    this.stopWorker();
  }

  setUrgentFlag(flag: Int32Array): void {
    this.sleeper = flag;
  }

  /** Wall-clock ms since the last packet (Infinity before the first). */
  private rxAge(): number {
    const t = this.ring.lastRxEpochMs;
    return t === 0 ? Infinity : performance.timeOrigin + performance.now() - t;
  }

  /** Follow the link: running while packets arrive, lost when they stop. */
  private poll(): void {
    if (this.closed) return;
    if (!this.worker && this._state === 'unavailable' && performance.now() >= this.retryAt) {
      this.setState('waiting', 'opening again');
      this.spawn();
      return;
    }
    const age = this.rxAge();
    const hasAudio = this.ring.hi > 0 || this.ring.base > 0;
    if (age < LOST_MS && hasAudio) {
      if (this._state !== 'running' && this.learned()) this.begin();
      return;
    }
    this.learnUntil = 0;
    if (this._state === 'running') {
      this.losses++;
      const from = this.receiver?.peer ? ` from ${this.receiver.peer}` : '';
      this.setState('lost', `link lost: no audio${from} for ${(LOST_MS / 1000).toFixed(0)} s; ${this.kind === 'srt' && this.o.url.kind === 'srt' && this.o.url.mode === 'caller' ? 'calling again' : 'still listening'}`);
    } else if (this._state === 'waiting' && this.receiver && this.receiver.state !== 'failed') {
      this.message = this.receiver.message;
    } else if (this._state === 'lost' && this.receiver) {
      // keep the loss message, the receiver's own state shows under it
    }
  }

  /** Whether arriving audio may start playing: at once for RTP (and SRT played on arrival), after LEARN_MS of it for SRT. */
  private learned(): boolean {
    if (this.kind !== 'srt' || this.follow) return true;
    const now = performance.now();
    if (!this.learnUntil) {
      this.learnUntil = now + LEARN_MS;
      this.message = `receiving${this.receiver?.peer ? ` from ${this.receiver.peer}` : ''}: measuring the link before it plays`;
    }
    if (now < this.learnUntil) return false;
    this.learnUntil = 0;
    return true;
  }

  /** Audio is (again) arriving: play buffer_ms behind the newest frame. */
  private begin(): void {
    this.hold = this.holdFrames();
    this.ring.seek(this.ring.hi - this.hold);
    this.base = this.ring.base;
    this.lastNs = process.hrtime.bigint();
    this.credit = 0;
    this.produced = 0;
    this.fillAvg = this.hold;
    this.ppm = 0;
    this.everRan = true;
    this.settleAt = performance.now() + SETTLE_MS;
    this.setState('running', `receiving ${this.receiver?.payload || this.kind.toUpperCase()}${this.receiver?.peer ? ` from ${this.receiver.peer}` : ''}`);
  }

  /** buffer_ms for RTP; for SRT (already timed by its latency) the link's packet and a margin. */
  private holdFrames(): number {
    if (this.kind !== 'srt') return this.bufferFrames;
    if (this.follow) return 0;
    const pkt = this.ring.packetFrames || DEFAULT_BLOCK;
    return Math.min(this.bufferFrames, pkt + Math.round((SRT_HOLD_MARGIN_MS * SAMPLE_RATE) / 1000) + this.widen);
  }

  private setState(s: SourceState, message: string): void {
    if (s !== this._state) this.o.log(s === 'lost' || s === 'unavailable' ? 'warn' : 'info', this.prefix, `${this._state} → ${s}: ${message}`);
    this._state = s;
    this.message = message;
  }

  /** Frames due by the (nudged) clock and not yet read. */
  private due(): number {
    const now = process.hrtime.bigint();
    const dt = Number(now - this.lastNs) / 1e9;
    this.lastNs = now;
    this.credit += dt * SAMPLE_RATE * (1 + this.ppm / 1e6);
    const due = Math.floor(this.credit) - this.produced;
    // steer: what stays buffered once the due frames are read, averaged, towards buffer_ms
    const a = Math.min(1, dt / FILL_TAU_S);
    this.fillAvg += a * (this.ring.fill() - due - this.fillAvg);
    const errMs = ((this.fillAvg - this.hold) * 1000) / SAMPLE_RATE;
    this.ppm = Math.max(-MAX_PPM, Math.min(MAX_PPM, errMs * PPM_PER_MS));
    return due;
  }

  wait(timeoutMs: number, minFrames?: number): boolean {
    if (this.closed) throw new Error('network source is closed');
    this.poll();
    if (this._state !== 'running') {
      Atomics.wait(this.sleeper, 0, 0, Math.min(timeoutMs, 10));
      this.poll();
      return false;
    }
    if (this.follow) {
      // woken by the receiver's write (NetRing wake), or the urgent flag
      if (this.ring.fill() <= 0) Atomics.wait(this.sleeper, 0, 0, Math.min(timeoutMs, FOLLOW_WAIT_MS));
      return this.ring.fill() > 0;
    }
    const block = Math.min(minFrames ?? DEFAULT_BLOCK, this.o.maxWakeFrames ?? Infinity);
    const missing = block - this.due();
    if (missing > 0) Atomics.wait(this.sleeper, 0, 0, Math.min(timeoutMs, (missing * 1000) / SAMPLE_RATE));
    return this.due() > 0;
  }

  read(dst: Float32Array, maxFrames: number): number {
    if (this.closed) throw new Error('network source is closed');
    if (this._state !== 'running') return 0;
    if (this.ring.base !== this.base) {
      // the sender started again (a new stream): re-centre on its audio
      this.resyncs++;
      this.begin();
    }
    if (this.follow) {
      const n = Math.min(this.ring.fill(), maxFrames, Math.floor(dst.length / this.channels));
      if (n <= 0) return 0;
      this.ring.read(dst, n);
      this.produced += n;
      return n;
    }
    const due = this.due();
    if (this.settleAt && performance.now() >= this.settleAt) {
      this.settleAt = 0;
      // the link's packet length is known for sure by now
      const hold = this.holdFrames();
      if (Math.abs(this.fillAvg - hold) > (SETTLE_OFF_MS * SAMPLE_RATE) / 1000 || hold !== this.hold) {
        this.resyncs++;
        this.hold = hold;
        this.ring.seek(this.ring.hi - hold - due);
        this.fillAvg = hold;
      }
    }
    // What stays buffered once the frames due now are read: far more than the hold (a burst
    // the nudging would take minutes over), or on average more than twice it (a sender that
    // stalled and then sent what it owed: its clock jumped), skips ahead.
    if (this.ring.fill() - due > this.hold * 2 + SAMPLE_RATE / 10 || this.fillAvg - this.hold > Math.max(this.hold, (EXCESS_MS * SAMPLE_RATE) / 1000)) {
      this.resyncs++;
      this.ring.seek(this.ring.hi - this.hold - due);
      this.fillAvg = this.hold;
    }
    // SRT: the hold follows the link's recent bursts (a hiccup long past no longer counts); a
    // shorter hold is reached by the pacing's nudge, not a jump.
    if (this.kind === 'srt' && !this.settleAt && performance.now() >= this.reholdAt) {
      this.reholdAt = performance.now() + REHOLD_MS;
      this.hold = this.holdFrames();
    }
    const n = Math.min(due, maxFrames, Math.floor(dst.length / this.channels));
    if (n <= 0) return 0;
    const short = this.ring.read(dst, n);
    this.produced += n;
    if (short > 0) {
      // The link came later than the hold allowed: what plays now would run ahead of what
      // arrives (late packets are dropped) until the pacing caught up at 0.1 %, so re-centre at
      // once, and for SRT (a loaded box) hold more from now on, up to buffer_ms.
      this.underrunFrames += short;
      if (this.hold < this.bufferFrames) {
        this.widen += Math.round((SRT_HOLD_MARGIN_MS * SAMPLE_RATE) / 1000);
        this.hold = this.holdFrames();
      }
      this.resyncs++;
      this.ring.seek(this.ring.hi - this.hold);
      this.fillAvg = this.hold;
    }
    return n;
  }

  status(): SourceStatus {
    const r = this.receiver;
    const fillMs = this._state === 'running' ? Math.round((this.ring.fill() * 1000) / SAMPLE_RATE) : 0;
    return {
      kind: this.kind,
      state: this._state,
      message: this.message,
      device: this.o.url.kind === 'rtp' ? `rtp ${this.o.url.group || this.o.url.host || '*'}:${this.o.url.port}` : `srt ${this.o.url.host || '*'}:${this.o.url.port} ${this.o.url.mode}`,
      format: { rate: SAMPLE_RATE, channels: this.channels, sampleFormat: 'f32' },
      stats: {
        link: r?.state ?? 'starting',
        linkMessage: r?.message ?? '',
        peer: r?.peer ?? '',
        payload: r?.payload ?? '',
        problem: r?.problem ?? '',
        lastPacketAgeMs: r?.lastPacketAgeMs ?? null,
        bufferMs: this.o.bufferMs,
        holdMs: Math.round((this.hold * 1000) / SAMPLE_RATE),
        /** 1: SRT into a PipeWire output, each packet handed on as it arrives (no hold here). */
        playsOnArrival: this.follow ? 1 : 0,
        bufferFillMs: fillMs,
        clockPpm: Math.round(this.ppm),
        underrunFrames: this.underrunFrames,
        resyncs: this.resyncs,
        linkLosses: this.losses,
        everReceived: this.everRan ? 1 : 0,
        ...Object.fromEntries(Object.entries(r?.counters ?? {}).map(([k, v]) => [k, v])),
        ...Object.fromEntries(Object.entries(r?.srt ?? {}).map(([k, v]) => [`srt_${k}`, v])),
      },
    };
  }
}
