/**
 * The fallback switch (runs in the audio worker): what the outputs carry is the input, or —
 * while the main thread says the input is silent or lost — a backup capture device or a loop
 * of audio files decoded at load (fallback-files.ts). Every switch is an equal-power
 * cross-fade over `crossfadeMs`, so the outputs' encoders and listeners see one continuous
 * stream at the input's clock. Buffers are allocated when the settings arrive, never per block.
 */
import { SAMPLE_RATE } from './format.ts';
import type { AudioSource } from './source.ts';

/** One decoded file: 16-bit PCM at 48 kHz with the bus's channel count, in shared memory. */
export interface FallbackClip {
  /** The file's name as the config gives it (reported on the page). */
  name: string;
  pcm: SharedArrayBuffer;
  frames: number;
}

export interface FallbackSettings {
  /** Backup capture devices (node names), in order. */
  devices: string[];
  clips: FallbackClip[];
  crossfadeMs: number;
}

/** What plays, for /api/status (via EngineStats). */
export interface FallbackMixStatus {
  /** The outputs carry the fallback (or are fading to it). */
  active: boolean;
  /** 0 = the input, 1 = the fallback; in between while fading. */
  mix: number;
  /** "device" | "file" | "" (nothing to play). */
  kind: 'device' | 'file' | '';
  /** The device's node name or the file's name now playing ('' when none). */
  source: string;
  /** Each backup device and its state (running, waiting …). */
  devices: { name: string; state: string }[];
  /** Frames the backup device did not deliver in time (filled with silence). */
  underruns: number;
  switches: number;
}

/** A backup device's frames wait here (one second) until the outputs take them. */
const DEVICE_FIFO_FRAMES = SAMPLE_RATE;
/** More than this waiting (the device ran ahead): skip to the newest DEVICE_KEEP_FRAMES. */
const DEVICE_MAX_BACKLOG = SAMPLE_RATE / 2;
/**
 * What the backup device is heard behind its capture (100 ms): the input and the device are
 * read at the same wake, but the device's callback for a cycle may come after the input's, a
 * quantum (up to 1024 frames at the relaxed latency) plus scheduling jitter later.
 */
const DEVICE_KEEP_FRAMES = SAMPLE_RATE / 10;

class DeviceFeed {
  readonly fifo: Float32Array;
  private readPos = 0;
  private fill = 0;
  private readonly scratch: Float32Array;

  constructor(
    readonly name: string,
    readonly source: AudioSource,
    private readonly channels: number,
  ) {
    this.fifo = new Float32Array(DEVICE_FIFO_FRAMES * channels);
    this.scratch = new Float32Array(1024 * channels);
  }

  get running(): boolean {
    return this.source.state === 'running';
  }

  /** Take everything the device has into the FIFO (the oldest is overwritten past its size). */
  drain(): void {
    try {
      this.source.wait(0);
      let n: number;
      let taken = 0;
      // At most a FIFO's worth per call, so a runaway source cannot hold the worker here.
      while (taken < DEVICE_FIFO_FRAMES && (n = this.source.read(this.scratch, 1024)) > 0) {
        this.push(this.scratch, n);
        taken += n;
      }
    } catch {
      // A closed or broken source delivers nothing; its state says why.
    }
    if (this.fill > DEVICE_MAX_BACKLOG) this.skip(this.fill - DEVICE_KEEP_FRAMES);
  }

  /** Forget what waits (when it is about to be heard: start from the newest frames). */
  trim(keep: number): void {
    if (this.fill > keep) this.skip(this.fill - keep);
  }

  /** Copy `frames` frames into dst; returns how many it had (the rest is left as is). */
  take(dst: Float32Array, frames: number): number {
    const ch = this.channels;
    const n = Math.min(frames, this.fill);
    const cap = DEVICE_FIFO_FRAMES;
    for (let f = 0; f < n; f++) {
      const at = ((this.readPos + f) % cap) * ch;
      for (let c = 0; c < ch; c++) dst[f * ch + c] = this.fifo[at + c]!;
    }
    this.skip(n);
    return n;
  }

  private skip(n: number): void {
    this.readPos = (this.readPos + n) % DEVICE_FIFO_FRAMES;
    this.fill -= n;
  }

  private push(src: Float32Array, n: number): void {
    const ch = this.channels;
    const cap = DEVICE_FIFO_FRAMES;
    for (let f = 0; f < n; f++) {
      if (this.fill === cap) this.skip(1);
      const at = ((this.readPos + this.fill) % cap) * ch;
      for (let c = 0; c < ch; c++) this.fifo[at + c] = src[f * ch + c]!;
      this.fill++;
    }
  }

  close(): void {
    this.source.close();
  }
}

/**
 * Mixes the input with the fallback, block by block, in place of nothing: `process()` returns
 * the block to put on the outputs' bus (the input's own buffer while the fallback is silent
 * and not fading, so a box that never falls back pays one branch per block).
 */
export class FallbackMixer {
  private readonly out: Float32Array;
  private readonly fb: Float32Array;
  private readonly devices: DeviceFeed[];
  private readonly clips: { name: string; pcm: Int16Array; frames: number }[];
  /** Where the file loop is: clip index and frame. */
  private clip = 0;
  private clipFrame = 0;
  /** The feed chosen at the last engage: a device index, -1 for the files, -2 for none. */
  private feed = -2;
  private target = 0;
  private mix = 0;
  private readonly step: number;
  private underruns = 0;
  private switches = 0;
  private closed = false;

  constructor(
    private readonly channels: number,
    settings: FallbackSettings,
    /** Opens (and starts) a backup capture device; never throws. */
    openDevice: (name: string) => AudioSource,
    blockFrames: number,
  ) {
    this.out = new Float32Array(blockFrames * channels);
    this.fb = new Float32Array(blockFrames * channels);
    this.step = 1 / Math.max(1, Math.round((settings.crossfadeMs * SAMPLE_RATE) / 1000));
    this.clips = settings.clips.map((c) => ({ name: c.name, pcm: new Int16Array(c.pcm), frames: c.frames })).filter((c) => c.frames > 0);
    this.devices = settings.devices.map((name) => {
      const src = openDevice(name);
      return new DeviceFeed(name, src, channels);
    });
  }

  /** Whether the outputs carry (or fade to) the fallback. */
  get active(): boolean {
    return this.target === 1;
  }

  /** Switch to the fallback (true) or back to the input (false); the cross-fade follows. */
  engage(on: boolean): void {
    if (on === (this.target === 1)) return;
    this.target = on ? 1 : 0;
    this.switches++;
    if (on) {
      // Devices first, in order (the first one present), then the files from their start.
      this.feed = this.devices.findIndex((d) => d.running);
      if (this.feed >= 0) this.devices[this.feed]!.trim(DEVICE_KEEP_FRAMES);
      else this.feed = this.clips.length > 0 ? -1 : -2;
      this.clip = 0;
      this.clipFrame = 0;
    }
  }

  /** Called once per pump: the backup devices' frames are taken in whether heard or not. */
  poll(): void {
    for (const d of this.devices) d.drain();
  }

  /**
   * The outputs' block for `frames` frames of input. Returns `input` itself when nothing is
   * mixed in, else this mixer's own buffer (valid until the next call).
   */
  process(input: Float32Array, frames: number): Float32Array {
    if (this.closed || (this.mix === 0 && this.target === 0)) return input;
    this.fill(frames);
    const ch = this.channels;
    const out = this.out;
    const fb = this.fb;
    let m = this.mix;
    const dir = this.target === 1 ? this.step : -this.step;
    let i = 0;
    for (let f = 0; f < frames; f++) {
      if (m !== this.target) {
        m += dir;
        if (dir > 0 ? m >= 1 : m <= 0) m = this.target;
      }
      // Equal power: the two gains' squares sum to 1 (no dip for uncorrelated signals).
      const gIn = m === 0 ? 1 : m === 1 ? 0 : Math.cos((m * Math.PI) / 2);
      const gFb = m === 0 ? 0 : m === 1 ? 1 : Math.sin((m * Math.PI) / 2);
      for (let c = 0; c < ch; c++, i++) out[i] = input[i]! * gIn + fb[i]! * gFb;
    }
    this.mix = m;
    return out;
  }

  /** The fallback's next `frames` frames into this.fb. */
  private fill(frames: number): void {
    const ch = this.channels;
    const fb = this.fb;
    if (this.feed >= 0) {
      const d = this.devices[this.feed]!;
      if (!d.running && this.target === 1) {
        // The backup device went away while it played: the files, if any, from here on.
        this.feed = this.clips.length > 0 ? -1 : -2;
      } else {
        d.drain();
        const got = d.take(fb, frames);
        if (got < frames) {
          if (this.mix > 0 && d.running) this.underruns += frames - got;
          fb.fill(0, got * ch, frames * ch);
        }
        return;
      }
    }
    if (this.feed === -2 || this.clips.length === 0) {
      fb.fill(0, 0, frames * ch);
      return;
    }
    let done = 0;
    while (done < frames) {
      const c = this.clips[this.clip]!;
      const n = Math.min(frames - done, c.frames - this.clipFrame);
      const pcm = c.pcm;
      let s = this.clipFrame * ch;
      const e = s + n * ch;
      let o = done * ch;
      while (s < e) fb[o++] = pcm[s++]! / 32768;
      done += n;
      this.clipFrame += n;
      if (this.clipFrame >= c.frames) {
        this.clipFrame = 0;
        this.clip = (this.clip + 1) % this.clips.length;
      }
    }
  }

  status(): FallbackMixStatus {
    const kind = this.target === 0 && this.mix === 0 ? '' : this.feed >= 0 ? 'device' : this.feed === -1 ? 'file' : '';
    return {
      active: this.target === 1,
      mix: Math.round(this.mix * 1000) / 1000,
      kind,
      source: kind === 'device' ? this.devices[this.feed]!.name : kind === 'file' ? (this.clips[this.clip]?.name ?? '') : '',
      devices: this.devices.map((d) => ({ name: d.name, state: d.source.state })),
      underruns: this.underruns,
      switches: this.switches,
    };
  }

  /** Idempotent: closes the backup devices. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const d of this.devices) d.close();
  }
}
