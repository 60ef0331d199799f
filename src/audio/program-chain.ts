/**
 * One program's path inside the audio worker: the outputs' signal (input after the fallback
 * switch) → routing (channels or a mix) → processing (dsp.ts) → the program's own bus, which
 * its encoders read. Every buffer is allocated here, once; process() allocates nothing.
 */
import { FrameBus, type BusReader } from './bus.ts';
import { LevelMeter } from './meter.ts';
import { ProgramDsp } from './dsp.ts';
import type { ProgramRoute, ProgramSpec } from '../config/programs.ts';

/** A program's bus is always stereo: a mono program is carried on both sides. */
export const PROGRAM_BUS_CHANNELS = 2;
/** Level slots per program in the shared buffer: before and after processing, 2 channels × 3. */
export const PROGRAM_LEVEL_SLOTS = 2 * PROGRAM_BUS_CHANNELS * 3;
/** Most programs (config: [[program]] maxItems). */
export const MAX_PROGRAMS = 8;
/** A change of routing is cross-faded over this many frames (20 ms): no click. */
const ROUTE_FADE_FRAMES = 960;

export interface ProgramChainStatus {
  id: string;
  /** Input channels (1-based) the program needs that the input does not have now. */
  missing: number[];
  muted: boolean;
  limiterClamps: number;
}

export class ProgramChain {
  readonly bus: FrameBus;
  private readonly reader: BusReader;
  private readonly raw: Float32Array;
  private readonly out: Float32Array;
  private readonly fade: Float32Array;
  private readonly dsp: ProgramDsp;
  private readonly pre: LevelMeter;
  private readonly post: LevelMeter;
  private route: ProgramRoute;
  private prevRoute: ProgramRoute | null = null;
  private fadeLeft = 0;
  /** Channels the source delivers now (a device may come back with fewer). */
  private available: number;
  /** This program alone is muted (an interpreter's cough button). */
  muted = false;
  private closed = false;

  constructor(
    spec: ProgramSpec,
    source: FrameBus,
    levels: Float32Array,
    private readonly blockFrames: number,
    /** Its place in the program list: where its levels sit in the shared buffer. */
    readonly levelIndex = 0,
  ) {
    this.id = spec.id;
    this.route = spec.route;
    this.available = source.channels;
    this.bus = new FrameBus(PROGRAM_BUS_CHANNELS, source.capacity, source.position);
    this.raw = new Float32Array(blockFrames * source.channels);
    this.out = new Float32Array(blockFrames * PROGRAM_BUS_CHANNELS);
    this.fade = new Float32Array(blockFrames * PROGRAM_BUS_CHANNELS);
    this.dsp = new ProgramDsp(PROGRAM_BUS_CHANNELS, spec.dsp);
    this.pre = new LevelMeter(PROGRAM_BUS_CHANNELS, levels.subarray(0, PROGRAM_LEVEL_SLOTS / 2));
    this.post = new LevelMeter(PROGRAM_BUS_CHANNELS, levels.subarray(PROGRAM_LEVEL_SLOTS / 2, PROGRAM_LEVEL_SLOTS));
    const inCh = source.channels;
    this.reader = source.reader(`program ${spec.id}`, (r) => {
      let n: number;
      while ((n = r.read(this.raw, this.blockFrames)) > 0) this.process(inCh, n);
    });
  }

  readonly id: string;

  /** New routing or processing for the same program, while it plays: cross-faded, no click. */
  configure(spec: ProgramSpec): void {
    if (JSON.stringify(spec.route) !== JSON.stringify(this.route)) this.setRoute(spec.route);
    this.dsp.configure(spec.dsp);
  }

  /** How many channels the source delivers now; routes to channels it lacks go silent. */
  setAvailableChannels(n: number): void {
    if (n === this.available) return;
    // The same route resolved against the old and the new channel count: fade between them.
    this.prevRoute = this.route;
    this.prevAvailable = this.available;
    this.available = n;
    this.fadeLeft = ROUTE_FADE_FRAMES;
  }
  private prevAvailable = 0;

  private setRoute(next: ProgramRoute): void {
    this.prevRoute = this.route;
    this.prevAvailable = this.available;
    this.route = next;
    this.fadeLeft = ROUTE_FADE_FRAMES;
  }

  status(): ProgramChainStatus {
    const missing: number[] = [];
    const chs = this.route.kind === 'channels' ? this.route.channels : this.route.gains.map((g) => g[0]);
    for (const c of chs) if (c >= this.available) missing.push(c + 1);
    return { id: this.id, missing, muted: this.muted, limiterClamps: this.dsp.clampCount };
  }

  private process(inCh: number, n: number): void {
    routeInto(this.route, this.available, this.raw, inCh, this.out, n);
    if (this.fadeLeft > 0 && this.prevRoute) {
      routeInto(this.prevRoute, this.prevAvailable, this.raw, inCh, this.fade, n);
      // Linear cross-fade from the old routing to the new one over ROUTE_FADE_FRAMES.
      const total = ROUTE_FADE_FRAMES;
      for (let f = 0; f < n; f++) {
        const left = this.fadeLeft > 0 ? this.fadeLeft-- : 0;
        const w = left / total;
        const i = f * 2;
        this.out[i] = this.out[i]! * (1 - w) + this.fade[i]! * w;
        this.out[i + 1] = this.out[i + 1]! * (1 - w) + this.fade[i + 1]! * w;
      }
      if (this.fadeLeft === 0) this.prevRoute = null;
    }
    this.pre.write(this.out, n);
    this.dsp.process(this.out, n);
    this.post.write(this.out, n);
    this.bus.write(this.out, n);
  }

  /** Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.close();
  }
}

/**
 * Route `n` interleaved frames of `inCh` channels into stereo `dst`: one channel to both sides,
 * two channels as a pair, a mix summed to both sides. Channels the source lacks (≥ available)
 * are silence.
 */
export function routeInto(route: ProgramRoute, available: number, src: Float32Array, inCh: number, dst: Float32Array, n: number): void {
  if (route.kind === 'channels') {
    const a = route.channels[0] ?? 0;
    const b = route.channels.length > 1 ? route.channels[1]! : a;
    const okA = a < available && a < inCh;
    const okB = b < available && b < inCh;
    for (let f = 0; f < n; f++) {
      const s = f * inCh;
      dst[f * 2] = okA ? src[s + a]! : 0;
      dst[f * 2 + 1] = okB ? src[s + b]! : 0;
    }
    return;
  }
  const g = route.gains;
  for (let f = 0; f < n; f++) {
    const s = f * inCh;
    let m = 0;
    for (let k = 0; k < g.length; k++) {
      const c = g[k]![0];
      if (c < available && c < inCh) m += src[s + c]! * g[k]![1];
    }
    dst[f * 2] = m;
    dst[f * 2 + 1] = m;
  }
}
