import { FrameBus, type BusReader } from './bus.ts';
import { LevelMeter } from './meter.ts';
import { SAMPLE_RATE } from './format.ts';
import type { AudioSource, SourceStatus } from './source.ts';
import type { EncodedPacket, Encoder } from '../codecs/encoder.ts';
import type { FallbackMixer, FallbackMixStatus } from './fallback.ts';
import { ProgramChain, PROGRAM_LEVEL_SLOTS, MAX_PROGRAMS, type ProgramChainStatus } from './program-chain.ts';
import type { ProgramSpec } from '../config/programs.ts';
import { traceOnset } from './trace.ts';

/** Largest block moved from the source to the bus in one step (frames). */
export const BLOCK_FRAMES = 1024;
/** The bus holds one second: a consumer may fall this far behind before it loses frames. */
export const BUS_FRAMES = SAMPLE_RATE;
/** A running source that delivers nothing for this long is treated as stalled (silence fill). */
const STALL_NS = 500_000_000n;
/**
 * How much faster than the wall clock a source may deliver before the excess is dropped. Real
 * devices drift by parts per million; 2 % leaves them alone and still stops a runaway clock
 * (seen: snd-aloop under emulation delivering 23x real time), which would otherwise make the
 * worker encode without end and never get back to its messages.
 */
const MAX_SPEED = 1.02;
/** Frames a source may deliver at once beyond its share of the wall clock (a burst after a pause). */
const BURST_FRAMES = SAMPLE_RATE;
/** Most frames one pump() takes from the source (kept or dropped), so it always returns. */
const MAX_PUMP_FRAMES = SAMPLE_RATE / 2;
/** A change of input gain is ramped over this many frames (15 ms): no click, no zipper noise. */
export const GAIN_RAMP_FRAMES = 720;
/** input.gain_db's range. */
export const GAIN_DB_MIN = -24;
export const GAIN_DB_MAX = 24;

/** Where an encoder taps the audio. */
export interface EncoderTap {
  /**
   * The input as captured (after the input gain), never silenced by mute or off air: the
   * admin's "listen to the input here" monitor. Everything else is an output and obeys them.
   */
  input?: boolean;
  /** A recording made while off air: silenced by mute, not by off air. */
  record?: boolean;
}

export type EncoderFactory<S> = (spec: S, sink: (p: EncodedPacket) => void) => Encoder;

interface EncoderSlot {
  encoder: Encoder;
  /** The [[program]] it encodes; undefined: the whole input (no [[program]] entries). */
  program?: string;
  /** Taps the input: not silenced by mute or off air. */
  input: boolean;
  reader: BusReader;
  /** What the reader calls on each write (kept to move the encoder to a program's new chain). */
  onData: (r: BusReader) => void;
  /** Interleaved frames for the encoder, mapped from the bus's channel count. */
  scratch: Float32Array;
  readonly packets: number;
  encodeNs: number;
  /** The reader's position when the encoder started: its packets complete every frameSize frames from here. */
  origin: number;
}

export interface EngineStats {
  /** Frames that reached the bus (the sample clock). */
  frames: number;
  /** Frames of silence the engine filled in while the source delivered nothing. */
  silenceFrames: number;
  /** Times a source that said it was running delivered nothing for half a second. */
  stalls: number;
  /** Frames dropped because the source delivered faster than real time (a broken clock). */
  discardedFrames: number;
  source: SourceStatus;
  /** Each [[program]]'s chain (none without [[program]] entries). */
  programs?: ProgramChainStatus[];
  /** The fallback switch (fallback.ts), when [fallback] is on. */
  fallback?: FallbackMixStatus;
  consumers: { name: string; dropped: number; overruns: number; packets?: number; encodeMsTotal?: number }[];
}

/**
 * source → bus → (meter, encoders). Runs inside the audio worker. `pump()` moves whatever the
 * source has onto the bus; when the source is not running (device lost, PipeWire away) the
 * engine keeps the clock going with silence so every output stays connected.
 */
export class AudioEngine<S> {
  readonly bus: FrameBus;
  /**
   * What the outputs carry: the bus, or the fallback cross-faded in (fallback.ts). Written in
   * step with the bus (same positions), so an output encoder's pts is the input's clock.
   */
  readonly program: FrameBus;
  private readonly programReader: BusReader;
  private readonly programScratch: Float32Array;
  /** Set by the worker when [fallback] is on. */
  private mixer?: FallbackMixer;
  readonly meter: LevelMeter;
  private readonly meterReader: BusReader;
  private readonly block: Float32Array;
  private readonly meterScratch: Float32Array;
  private readonly encoders = new Map<string, EncoderSlot>();
  /** [[program]] chains by id, in config order (their level slots follow that order). */
  private readonly chains = new Map<string, ProgramChain>();
  /** Channels the captured device has, when known (a program needing more goes silent). */
  private availableChannels: number;
  private silenceFrames = 0;
  /** Clock anchor for silence fill: bus position `anchorFrames` was at `anchorNs`. */
  private anchorNs = 0n;
  private anchorFrames = 0;
  private sourceWasRunning = false;
  /** When the source last delivered frames, and whether it has been silent past STALL_NS. */
  private lastDeliveryNs = 0n;
  private stalled = false;
  /** Times a running source stopped delivering for STALL_NS. */
  private stalls = 0;
  /** Frames the source may still deliver (MAX_SPEED x the wall clock, at most BURST_FRAMES ahead). */
  private budget = BURST_FRAMES;
  private budgetNs = 0n;
  private discardedFrames = 0;
  /** The bus position just after the source's last read: its last frame's capture time is the source's captureNs(). */
  private capturePos = 0;
  private closed = false;
  /** Muted: encoders get silence while the meters keep showing the input. */
  muted = false;
  /**
   * Off air with the local listeners silenced (control.local_listeners_off_air = "silence"):
   * like muted, every output encoder gets silence; the meters and the input tap do not.
   */
  offAir = false;
  /** Input gain (linear): the current value, the target, and the ramp between them. */
  private gain = 1;
  private gainTarget = 1;
  private gainStep = 0;
  private gainLeft = 0;

  constructor(
    private source: AudioSource,
    levels: Float32Array,
    private readonly makeEncoder: EncoderFactory<S>,
    private readonly onPacket: (key: string, packet: EncodedPacket) => void,
    /** Per-program levels (before and after processing), PROGRAM_LEVEL_SLOTS per program. */
    private readonly programLevels: Float32Array = new Float32Array(MAX_PROGRAMS * PROGRAM_LEVEL_SLOTS),
  ) {
    this.availableChannels = source.channels;
    this.bus = new FrameBus(source.channels, BUS_FRAMES);
    this.block = new Float32Array(BLOCK_FRAMES * source.channels);
    this.meterScratch = new Float32Array(BLOCK_FRAMES * source.channels);
    this.meter = new LevelMeter(source.channels, levels);
    this.meterReader = this.bus.reader('meter', (r) => {
      let n: number;
      while ((n = r.read(this.meterScratch, BLOCK_FRAMES)) > 0) this.meter.write(this.meterScratch, n);
    });
    this.program = new FrameBus(source.channels, BUS_FRAMES);
    this.programScratch = new Float32Array(BLOCK_FRAMES * source.channels);
    this.programReader = this.bus.reader('program', (r) => {
      let n: number;
      while ((n = r.read(this.programScratch, BLOCK_FRAMES)) > 0) {
        this.program.write(this.mixer ? this.mixer.process(this.programScratch, n) : this.programScratch, n);
      }
    });
  }

  /**
   * The [[program]] chains: new ones start, changed ones cross-fade to their new routing and
   * processing, gone ones stop (their encoders, if any are left, get nothing more).
   */
  setPrograms(specs: readonly ProgramSpec[]): void {
    if (specs.length > MAX_PROGRAMS) throw new RangeError(`at most ${MAX_PROGRAMS} programs`);
    const keep = new Set(specs.map((s) => s.id));
    for (const [id, chain] of this.chains) {
      if (!keep.has(id)) {
        chain.close();
        this.chains.delete(id);
      }
    }
    const old = new Map(this.chains);
    this.chains.clear();
    specs.forEach((spec, i) => {
      let chain = old.get(spec.id);
      const levels = this.programLevels.subarray(i * PROGRAM_LEVEL_SLOTS, (i + 1) * PROGRAM_LEVEL_SLOTS);
      if (chain && chain.levelIndex === i) chain.configure(spec);
      else {
        // A new program, or one that moved in the list (its level slots move with it): a new
        // chain. Its encoders move to the new bus in step (same clock position).
        const next = new ProgramChain(spec, this.program, levels, BLOCK_FRAMES, i);
        next.setAvailableChannels(this.availableChannels);
        if (chain) {
          next.muted = chain.muted;
          this.moveEncoders(chain, next);
          chain.close();
        }
        chain = next;
      }
      this.chains.set(spec.id, chain);
    });
  }

  /** Mute one program alone (or unmute it); the box's own mute still silences every program. */
  setProgramMuted(id: string, muted: boolean): void {
    const c = this.chains.get(id);
    if (c) c.muted = muted;
  }

  /** How many channels the captured device really has (a program needing more goes silent). */
  setAvailableChannels(n: number): void {
    this.availableChannels = Math.max(0, Math.min(this.channels, n));
    for (const c of this.chains.values()) c.setAvailableChannels(this.availableChannels);
  }

  private moveEncoders(from: ProgramChain, to: ProgramChain): void {
    for (const [key, slot] of this.encoders) {
      if (slot.program !== from.id) continue;
      const fs = slot.encoder.frameSize > 0 ? slot.encoder.frameSize : 1;
      const into = (slot.reader.position - slot.origin) % fs; // frames of the packet it is filling
      slot.reader.close();
      slot.reader = to.bus.reader(slot.reader.name, slot.onData);
      slot.origin = slot.reader.position - into;
    }
  }

  /** Put a fallback switch (or none) between the input and the outputs; the old one is closed. */
  setFallback(mixer: FallbackMixer | undefined): void {
    const old = this.mixer;
    this.mixer = mixer;
    old?.close();
  }

  get fallback(): FallbackMixer | undefined {
    return this.mixer;
  }

  get channels(): number {
    return this.bus.channels;
  }

  get sourceState(): string {
    return this.source.state;
  }

  start(): void {
    this.source.start();
    this.anchorNs = process.hrtime.bigint();
    this.budgetNs = this.anchorNs;
    this.anchorFrames = this.bus.position;
  }

  /**
   * Replace the source (same channel count). The bus clock continues, so encoders and
   * listeners notice nothing but the change of sound.
   */
  replaceSource(next: AudioSource, beforeStart?: () => void): void {
    if (next.channels !== this.channels) throw new RangeError('replaceSource needs the same channel count');
    this.source.close();
    this.source = next;
    if (this.urgent) next.setUrgentFlag?.(this.urgent);
    beforeStart?.();
    next.start();
  }

  /** The capture latency to ask the source's backend for (frames at 48 kHz); no-op for the tone. */
  setLatency(frames: number): void {
    this.source.setLatency?.(frames);
  }

  /** See AudioSource.setUrgentFlag; kept for replaced sources. */
  setUrgentFlag(flag: Int32Array): void {
    this.urgent = flag;
    this.source.setUrgentFlag?.(flag);
  }

  /** Tell the source whether a PipeWire output plays what it delivers (AudioSource.setPlayback). */
  setPlayback(on: boolean): void {
    this.source.setPlayback?.(on);
  }
  private urgent?: Int32Array;

  /**
   * Wait up to `timeoutMs` for the source (for `wakeFrames` frames when given, else the
   * source's default), then move everything it has onto the bus.
   */
  pump(timeoutMs: number, wakeFrames?: number): number {
    if (this.closed) throw new Error('engine is closed');
    this.mixer?.poll();
    const running = this.source.state === 'running';
    if (running) this.source.wait(timeoutMs, wakeFrames);
    let moved = 0;
    let taken = 0;
    let n: number;
    this.refillBudget(process.hrtime.bigint());
    while (taken < MAX_PUMP_FRAMES && (n = this.source.read(this.block, BLOCK_FRAMES)) > 0) {
      taken += n;
      const keep = Math.min(n, Math.max(0, Math.floor(this.budget)));
      this.budget -= keep;
      this.discardedFrames += n - keep;
      if (keep > 0) {
        traceOnset('read', this.block, keep, this.source.channels);
        // before the write: the encoders emit their packets during it
        this.capturePos = this.bus.position + keep;
        this.applyGain(this.block, keep);
        this.bus.write(this.block, keep);
      }
      moved += keep;
      // Encoding may take long enough for the allowance to grow meanwhile.
      if (keep < n) this.refillBudget(process.hrtime.bigint());
    }
    const now = process.hrtime.bigint();
    if (taken > 0) {
      // The source owns the clock while it delivers (also when all of it was over the allowance).
      this.lastDeliveryNs = now;
      this.stalled = false;
      this.anchorNs = now;
      this.anchorFrames = this.bus.position;
      this.sourceWasRunning = true;
      return moved;
    }
    if (running && !this.stalled) {
      if (!this.sourceWasRunning) this.lastDeliveryNs = now; // just started: give it STALL_NS
      if (now - this.lastDeliveryNs < STALL_NS) {
        this.anchorNs = now;
        this.anchorFrames = this.bus.position;
        this.sourceWasRunning = true;
        return 0;
      }
      // "Running" but nothing for STALL_NS (a device that stopped delivering, a stalled graph):
      // the clock goes on with silence, as if the source were lost, so listeners stay connected
      // and the watchdog sees a live process. Data, when it comes back, takes over again.
      this.stalled = true;
      this.stalls++;
    } else if (!running) {
      this.stalled = false;
      if (this.sourceWasRunning) {
        this.sourceWasRunning = false;
        this.anchorNs = now;
        this.anchorFrames = this.bus.position;
      }
    }
    // Not running: sleep a little, then fill silence up to where the clock says we are.
    this.source.wait(Math.min(timeoutMs, 10));
    const due =
      this.anchorFrames + Math.floor((Number(process.hrtime.bigint() - this.anchorNs) * SAMPLE_RATE) / 1e9) - this.bus.position;
    let left = due;
    if (left > 0) this.block.fill(0);
    while (left > 0) {
      const k = Math.min(left, BLOCK_FRAMES);
      this.bus.write(this.block, k);
      left -= k;
    }
    if (due > 0) this.silenceFrames += due;
    return Math.max(0, due);
  }

  /**
   * Set the input gain in dB (clamped to GAIN_DB_MIN..GAIN_DB_MAX). With `ramp` (default) the
   * gain glides there over GAIN_RAMP_FRAMES; without, it applies at once (before audio flows).
   */
  setGainDb(db: number, ramp = true): void {
    const d = Math.min(GAIN_DB_MAX, Math.max(GAIN_DB_MIN, Number.isFinite(db) ? db : 0));
    const target = d === 0 ? 1 : Math.pow(10, d / 20);
    if (target === this.gainTarget && (ramp || this.gainLeft === 0)) return;
    this.gainTarget = target;
    if (!ramp || target === this.gain) {
      this.gain = target;
      this.gainLeft = 0;
      return;
    }
    this.gainLeft = GAIN_RAMP_FRAMES;
    this.gainStep = (target - this.gain) / GAIN_RAMP_FRAMES;
  }

  /** The input gain in dB now applied (the target while ramping). */
  get gainDb(): number {
    return 20 * Math.log10(this.gainTarget);
  }

  /** The input gain, in place on `frames` interleaved frames; hard-clipped to ±1. No allocation. */
  private applyGain(buf: Float32Array, frames: number): void {
    if (this.gainLeft === 0 && this.gain === 1) return;
    const ch = this.bus.channels;
    let i = 0;
    for (let f = 0; f < frames; f++) {
      if (this.gainLeft > 0) {
        this.gain += this.gainStep;
        if (--this.gainLeft === 0) this.gain = this.gainTarget;
      }
      const g = this.gain;
      for (let c = 0; c < ch; c++, i++) {
        const v = buf[i]! * g;
        buf[i] = v > 1 ? 1 : v < -1 ? -1 : v;
      }
    }
  }

  private refillBudget(now: bigint): void {
    const dt = Number(now - this.budgetNs);
    this.budgetNs = now;
    if (dt > 0) this.budget = Math.min(BURST_FRAMES, this.budget + (dt * SAMPLE_RATE * MAX_SPEED) / 1e9);
  }

  /**
   * When the frame before bus position `pos` was captured (CLOCK_MONOTONIC ms), from the last
   * read of a source that knows its capture clock (PipeWire); undefined otherwise. An encoder's
   * packet ending at `pos` was complete then: an SRT sender stamps it so (outputs/srt).
   */
  captureMs(pos: number): number | undefined {
    // read only when a packet asks (an SRT sender's): no BigInt per source read
    const ns = this.source.captureNs?.() ?? 0n;
    if (ns === 0n) return undefined;
    return Number(ns) / 1e6 - ((this.capturePos - pos) * 1000) / SAMPLE_RATE;
  }

  /**
   * A consumer of what the outputs carry (the program bus, after the fallback switch) that is
   * handed each block as written: the PipeWire playback of a network input. Returns a closer.
   */
  addSink(name: string, write: (frames: Float32Array, n: number) => void): () => void {
    const scratch = new Float32Array(BLOCK_FRAMES * this.channels);
    const reader = this.program.reader(name, (r) => {
      let n: number;
      while ((n = r.read(scratch, BLOCK_FRAMES)) > 0) write(scratch, n);
    });
    return () => reader.close();
  }

  /**
   * Start an encoder consuming the bus (idempotent per key). Its channels may differ from the
   * bus's. An input tap (`tap.input`) is not silenced by mute or off air.
   */
  addEncoder(key: string, spec: S, tap: EncoderTap = {}, program?: string): void {
    if (this.encoders.has(key)) return;
    const chain = program === undefined || tap.input ? undefined : this.chains.get(program);
    if (program !== undefined && !tap.input && !chain) throw new RangeError(`no program "${program}"`);
    let packets = 0;
    const encoder = this.makeEncoder(spec, (p) => {
      packets++;
      this.onPacket(key, p);
    });
    const outCh = encoder.channels;
    const inCh = chain ? chain.bus.channels : this.channels;
    const scratch = new Float32Array(BLOCK_FRAMES * outCh);
    const raw = inCh === outCh ? scratch : new Float32Array(BLOCK_FRAMES * inCh);
    const input = !!tap.input;
    const record = !!tap.record;
    // Packets start on multiples of the packet length on the sample clock, so every encoder of
    // one setting cuts its packets at the same instants whichever program it encodes and
    // whenever it started: two programs' listeners get their packets in the same wake (a
    // program's delay then arrives as set, not up to a capture block off). A new encoder
    // starts at the packet boundary just behind the bus (the ring still holds those frames):
    // its first packet covers the same frames as the packet an older encoder of the same
    // setting is filling now, so a consumer moving from one to the other (the recording when
    // the box goes off air) loses nothing.
    const bus = input ? this.bus : chain ? chain.bus : this.program;
    const fs = encoder.frameSize > 0 ? encoder.frameSize : 1;
    const onData = (r: BusReader): void => {
      let n: number;
      for (;;) {
        const pts = r.position;
        n = r.read(raw, BLOCK_FRAMES);
        if (n <= 0) break;
        if (!input && (this.muted || chain?.muted || (this.offAir && !record))) scratch.fill(0, 0, n * outCh);
        else if (raw !== scratch) mapChannels(raw, inCh, scratch, outCh, n);
        const t0 = process.hrtime.bigint();
        encoder.write(scratch, n, pts);
        slot.encodeNs += Number(process.hrtime.bigint() - t0);
      }
    };
    const slot: EncoderSlot = {
      encoder,
      ...(chain ? { program: chain.id } : {}),
      input,
      scratch,
      get packets() {
        return packets;
      },
      encodeNs: 0,
      onData,
      reader: bus.reader(`encoder ${key}`, onData, bus.position % fs),
      origin: 0,
    };
    slot.origin = slot.reader.position;
    this.encoders.set(key, slot);
  }

  removeEncoder(key: string): void {
    const slot = this.encoders.get(key);
    if (!slot) return;
    this.encoders.delete(key);
    slot.reader.close();
    slot.encoder.close();
  }

  /**
   * Frames until some encoder's next packet is complete (undefined: no encoder, or one without
   * a fixed packet length): its packets complete every frameSize frames from where its reader
   * started, and each bus (the input's, a program's) moves by the frames the source delivers.
   * In prompt mode the worker waits for exactly that: one wake per packet (10 ms Opus: 100 a
   * second) rather than one per PipeWire quantum (128 frames: 375 a second), with each packet
   * out as soon as before.
   */
  framesToNextPacket(): number | undefined {
    let least: number | undefined;
    for (const s of this.encoders.values()) {
      const fs = s.encoder.frameSize;
      if (!(fs > 1)) return undefined;
      const left = fs - ((s.reader.position - s.origin) % fs);
      if (least === undefined || left < least) least = left;
    }
    return least;
  }

  encoderKeys(): string[] {
    return [...this.encoders.keys()];
  }

  stats(): EngineStats {
    const consumers: EngineStats['consumers'] = [
      { name: 'meter', dropped: this.meterReader.dropped, overruns: this.meterReader.overruns },
    ];
    for (const s of this.encoders.values()) {
      consumers.push({
        name: s.reader.name,
        dropped: s.reader.dropped,
        overruns: s.reader.overruns,
        packets: s.packets,
        encodeMsTotal: Math.round(s.encodeNs / 1e4) / 100,
      });
    }
    return {
      frames: this.bus.position,
      silenceFrames: this.silenceFrames,
      stalls: this.stalls,
      discardedFrames: this.discardedFrames,
      source: this.source.status(),
      ...(this.chains.size > 0 ? { programs: [...this.chains.values()].map((c) => c.status()) } : {}),
      ...(this.mixer ? { fallback: this.mixer.status() } : {}),
      consumers,
    };
  }

  /** Idempotent: closes encoders and the source. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const key of [...this.encoders.keys()]) this.removeEncoder(key);
    this.meterReader.close();
    for (const c of this.chains.values()) c.close();
    this.chains.clear();
    this.programReader.close();
    this.mixer?.close();
    this.source.close();
  }
}

/**
 * Map interleaved frames between channel counts: mono is copied to both sides of stereo;
 * more channels than the encoder takes keep the first ones (inputs 1–2 of an interface).
 */
export function mapChannels(src: Float32Array, inCh: number, dst: Float32Array, outCh: number, frames: number): void {
  for (let f = 0; f < frames; f++) {
    const si = f * inCh;
    const di = f * outCh;
    for (let c = 0; c < outCh; c++) dst[di + c] = src[si + (c < inCh ? c : inCh - 1)]!;
  }
}
