/**
 * VOX: start recording (or go live) when there is sound, stop after a quiet while.
 *
 * The level is measured on the main thread from a G.711 μ-law stream of the input (8 kHz, mono,
 * 10 ms packets, from the input tap: what the microphone hears, even off air or muted), a few
 * hundred bytes a second that the worker encodes only while VOX is on. Each 10 ms block's RMS
 * is compared with the threshold; the sound "began" at the first sample above the threshold's
 * amplitude in the first block of the loud run, to the sample (1/8000 s).
 *
 * The pre-roll: while VOX is on, a ring (preroll.ts) keeps the last preroll_s + attack_s of the
 * recorder's own encoder (the `record` tap, which off air does not silence). When VOX starts a
 * recording, the recorder is armed with the ring's packets from preroll_s before the sound
 * began, so the file opens with them and goes on from the same encoder without a gap. With
 * action live each enabled Icecast output gets a ring of its own encoder too, and its stream
 * opens with the same seconds (icecast/output.ts armPreroll): Icecast's listeners buffer seconds
 * anyway, and they hear the first words.
 */
import { ulawToLinear } from '../codecs/g711.ts';
import type { EncoderSpec } from '../codecs/index.ts';
import type { EncodedPacket } from '../codecs/encoder.ts';
import { MAX_DELAY_MS } from '../audio/pipeline.ts';
import { logger } from '../log.ts';
import type { PacketSource } from './packet-source.ts';
import { PacketRing } from './preroll.ts';
import type { Recorder } from './recorder.ts';

export interface VoxSettings {
  thresholdDbfs: number;
  attackS: number;
  releaseS: number;
  prerollS: number;
  action: 'record' | 'live';
  /** With action live: going live also records (recording.enabled), so the recording gets the pre-roll. */
  recordsWhenLive?: boolean;
}

export type VoxEvent = { type: 'start'; onsetPts: number } | { type: 'stop' };

/** The level spec VOX measures: μ-law, mono, 10 ms. */
export const VOX_LEVEL_SPEC: EncoderSpec = { codec: 'pcmu', channels: 1, frameMs: 10 };

/**
 * The decision, on blocks of samples with their bus position: pure, for tests. `feed` returns
 * 'start' once the level has stayed above the threshold for attack_s (with where the sound
 * began), 'stop' once it has stayed below for release_s.
 */
export class VoxDetector {
  private state: 'quiet' | 'attack' | 'open' | 'release' = 'quiet';
  private onset = 0;
  private since = 0;
  private readonly amp: number;

  constructor(private readonly s: Pick<VoxSettings, 'thresholdDbfs' | 'attackS' | 'releaseS'>) {
    this.amp = 10 ** (s.thresholdDbfs / 20);
  }

  get open(): boolean {
    return this.state === 'open' || this.state === 'release';
  }

  /**
   * One block: `samples` in −1…1, the first at bus position `pts`, one every `step` bus frames
   * (6 at 8 kHz). Returns what changed, if anything.
   */
  feed(samples: ArrayLike<number>, pts: number, step: number): VoxEvent | null {
    let sum = 0;
    for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
    const rms = Math.sqrt(sum / Math.max(1, samples.length));
    const loud = rms > this.amp;
    const end = pts + samples.length * step;
    switch (this.state) {
      case 'quiet':
        if (!loud) return null;
        this.state = 'attack';
        this.onset = pts;
        for (let i = 0; i < samples.length; i++) {
          if (Math.abs(samples[i]!) > this.amp) {
            this.onset = pts + i * step;
            break;
          }
        }
        return this.attackDone(end);
      case 'attack':
        if (!loud) {
          this.state = 'quiet';
          return null;
        }
        return this.attackDone(end);
      case 'open':
        if (!loud) {
          this.state = 'release';
          this.since = pts;
          return this.releaseDone(end);
        }
        return null;
      case 'release':
        if (loud) {
          this.state = 'open';
          return null;
        }
        return this.releaseDone(end);
    }
  }

  private attackDone(end: number): VoxEvent | null {
    if (end - this.onset < this.s.attackS * 48000) return null;
    this.state = 'open';
    return { type: 'start', onsetPts: this.onset };
  }

  private releaseDone(end: number): VoxEvent | null {
    if (end - this.since < this.s.releaseS * 48000) return null;
    this.state = 'quiet';
    return { type: 'stop' };
  }
}

/** An output that can open with a pre-roll: the recorder, an Icecast output. */
export type PrerollTarget = Pick<Recorder, 'armPreroll' | 'spec' | 'program'>;

export interface VoxDeps {
  source: PacketSource;
  recorder: PrerollTarget;
  /** The Icecast outputs that going live starts (action live): each opens with the pre-roll. */
  icecast?: () => readonly PrerollTarget[];
  /** Run a control action (origin vox): record / stop_recording, go_live / stop. */
  run(action: 'record' | 'stop_recording' | 'go_live' | 'stop'): Promise<unknown>;
}

const log = logger('vox');

/** How long an Icecast connection may take to come up and still open with the pre-roll (s). */
const STREAM_CONNECT_S = 5;

/** VOX while it is on: the level stream, the detector and the pre-roll ring. */
export class Vox {
  private offLevel?: () => void;
  private offRing?: () => void;
  private ring?: PacketRing;
  /** action live: a ring per Icecast output, on its own encoder. */
  private streamRings: { target: PrerollTarget; ring: PacketRing; off: () => void }[] = [];
  private detector?: VoxDetector;
  private settings?: VoxSettings;
  private readonly block = new Float32Array(80);

  constructor(private readonly deps: VoxDeps) {}

  get running(): boolean {
    return !!this.offLevel;
  }

  /** Seconds of audio the pre-roll ring holds now (it fills from when VOX started). */
  get prerollHeldS(): number {
    return this.ring?.seconds ?? 0;
  }

  /** Whether VOX hears sound now (started, not yet released). */
  get open(): boolean {
    return this.detector?.open ?? false;
  }

  /** Start (or restart with new settings). */
  start(s: VoxSettings): void {
    this.close();
    this.settings = s;
    this.detector = new VoxDetector(s);
    this.offLevel = this.deps.source.subscribe(VOX_LEVEL_SPEC, (p) => this.onLevel(p), { maxDelayMs: MAX_DELAY_MS.relay, tap: 'input' });
    if (s.prerollS > 0 && (s.action === 'record' || s.recordsWhenLive)) {
      const spec = this.deps.recorder.spec;
      // The pre-roll plus the attack (the sound began attack_s before the start), and a second to spare.
      const ring = new PacketRing(Math.ceil((s.prerollS + s.attackS + 1) * 48000), spec.codec === 'mp3');
      this.ring = ring;
      this.offRing = this.deps.source.subscribe(spec, (p) => ring.push(p), { maxDelayMs: MAX_DELAY_MS.relay, tap: 'record', program: this.deps.recorder.program });
    }
    if (s.prerollS > 0 && s.action === 'live') {
      for (const target of this.deps.icecast?.() ?? []) {
        // Five seconds to spare: the stream's pre-roll is taken when its connection is up.
        const ring = new PacketRing(Math.ceil((s.prerollS + s.attackS + STREAM_CONNECT_S) * 48000), target.spec.codec === 'mp3');
        const off = this.deps.source.subscribe(target.spec, (p) => ring.push(p), { maxDelayMs: MAX_DELAY_MS.relay, tap: 'record', program: target.program });
        this.streamRings.push({ target, ring, off });
      }
    }
    const what = [this.ring ? 'the recording' : '', this.streamRings.length ? `${this.streamRings.length} Icecast stream${this.streamRings.length > 1 ? 's' : ''}` : ''].filter(Boolean).join(' and ');
    log.info(`on: ${s.action === 'record' ? 'records' : 'goes live'} above ${s.thresholdDbfs} dBFS after ${s.attackS} s, stops after ${s.releaseS} s below${what ? `, ${what} with ${s.prerollS} s from before` : ''}`);
  }

  close(): void {
    if (!this.offLevel) return;
    this.offLevel();
    this.offRing?.();
    this.offLevel = this.offRing = undefined;
    for (const r of this.streamRings) r.off();
    this.streamRings = [];
    this.ring?.clear();
    this.ring = this.detector = undefined;
    log.info('off');
  }

  private onLevel(p: EncodedPacket): void {
    const d = this.detector;
    const s = this.settings;
    if (!d || !s) return;
    const n = Math.min(p.data.length, this.block.length);
    for (let i = 0; i < n; i++) this.block[i] = ulawToLinear(p.data[i]!) / 32768;
    const e = d.feed(this.block.subarray(0, n), p.pts, p.frames / Math.max(1, p.data.length));
    if (!e) return;
    if (e.type === 'start') {
      const ring = this.ring;
      if (ring) {
        const from = e.onsetPts - s.prerollS * 48000;
        this.deps.recorder.armPreroll(() => ring.since(from));
      }
      const from = e.onsetPts - s.prerollS * 48000;
      // Armed for the connection's time: a slow server's stream still opens with it.
      for (const r of this.streamRings) r.target.armPreroll(() => r.ring.since(from), STREAM_CONNECT_S * 1000);
      log.info(`sound above ${s.thresholdDbfs} dBFS for ${s.attackS} s: ${s.action === 'record' ? 'recording' : 'going live'}`);
      void this.deps.run(s.action === 'record' ? 'record' : 'go_live').catch((err: Error) => log.warn(`refused: ${err.message}`));
    } else {
      log.info(`quiet for ${s.releaseS} s: ${s.action === 'record' ? 'recording stops' : 'stopping'}`);
      void this.deps.run(s.action === 'record' ? 'stop_recording' : 'stop').catch((err: Error) => log.warn(`refused: ${err.message}`));
    }
  }
}
