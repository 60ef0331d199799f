/**
 * libtwolame (libtwolame.so.0, Debian package libtwolame0) bound with bun:ffi: the dlopen
 * table and the owner class Mp2Encoder (MPEG-1 Layer II at 48 kHz, for SRT's payload "mp2").
 */
import { LibraryCallError, LibraryLoadError, LibrarySettingError } from './errors.ts';
import { dlopen, type Pointer } from 'bun:ffi';

const SONAME = 'libtwolame.so.0';
const DEBIAN_PACKAGE = 'libtwolame0';

/** Samples per channel in one Layer II frame (ISO/IEC 11172-3 §2.4.1: 1152 for Layers II and III). */
export const MP2_FRAME_SIZE = 1152;
/** MPEG-1 Layer II bitrates (ISO/IEC 11172-3 §2.4.2.3, Layer II). */
export const MP2_BITRATES = [32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384] as const;

// twolame.h enums.
const TWOLAME_STEREO = 0;
const TWOLAME_JOINT_STEREO = 1;
const TWOLAME_MONO = 3;
const TWOLAME_MPEG1 = 1;

export class TwolameError extends LibraryCallError {
  override readonly name = 'TwolameError';
}

export class TwolameConfigError extends LibrarySettingError {
  override readonly name = 'TwolameConfigError';
}

export class TwolameLoadError extends LibraryLoadError {
  override readonly name = 'TwolameLoadError';
  constructor(cause: unknown) {
    super(SONAME, DEBIAN_PACKAGE, cause);
  }
}

const setInt = { args: ['ptr', 'i32'], returns: 'i32' } as const;

function openLibrary() {
  return dlopen(SONAME, {
    // Returns options the caller frees with twolame_close.
    twolame_init: { args: [], returns: 'ptr' },
    // Frees *glopts and sets it to NULL (takes a pointer to our pointer, in our buffer).
    twolame_close: { args: ['ptr'], returns: 'void' },
    twolame_set_num_channels: setInt,
    twolame_set_in_samplerate: setInt,
    twolame_set_out_samplerate: setInt,
    twolame_set_bitrate: setInt,
    twolame_set_mode: setInt,
    twolame_set_version: setInt,
    twolame_set_verbosity: setInt,
    twolame_set_error_protection: setInt,
    twolame_init_params: { args: ['ptr'], returns: 'i32' },
    // Reads pcm, writes mp2buffer (both ours, borrowed for the call only).
    twolame_encode_buffer_float32_interleaved: { args: ['ptr', 'ptr', 'i32', 'ptr', 'i32'], returns: 'i32' },
    // Writes mp2buffer (ours, borrowed for the call only).
    twolame_encode_flush: { args: ['ptr', 'ptr', 'i32'], returns: 'i32' },
  });
}

let loaded: ReturnType<typeof openLibrary>['symbols'] | undefined;

function twolame(): ReturnType<typeof openLibrary>['symbols'] {
  if (!loaded) {
    try {
      loaded = openLibrary().symbols;
    } catch (e) {
      throw new TwolameLoadError(e);
    }
  }
  return loaded;
}

const leakWatch = new FinalizationRegistry<string>(() => {
  console.warn('[twolame] an Mp2Encoder was garbage-collected without close(): its libtwolame state leaks');
});

export interface Mp2EncoderOptions {
  channels: 1 | 2;
  /** One of MP2_BITRATES (kbit/s). */
  bitrateKbps: number;
  /** Largest `frames` one encode() call takes; sizes the output buffer. Default 1152. */
  maxFrames?: number;
}

/** One libtwolame encoder (twolame_options*): MPEG-1 Layer II, 48 kHz float input, CBR. */
export class Mp2Encoder {
  readonly channels: 1 | 2;
  readonly bitrateKbps: number;
  readonly maxFrames: number;
  #handle: Pointer | null;
  readonly #out: Uint8Array;
  readonly #lib = twolame();

  constructor(o: Mp2EncoderOptions) {
    if (o.channels !== 1 && o.channels !== 2) throw new TwolameConfigError('channels', `${o.channels}: 1 or 2`);
    if (!(MP2_BITRATES as readonly number[]).includes(o.bitrateKbps)) {
      throw new TwolameConfigError('bitrateKbps', `${o.bitrateKbps} kbit/s is not an MPEG-1 Layer II bitrate (${MP2_BITRATES.join(', ')})`);
    }
    // Layer II mono tops out at 192 kbit/s (ISO/IEC 11172-3 Table 3-B.2 allowed combinations).
    if (o.channels === 1 && o.bitrateKbps > 192) throw new TwolameConfigError('bitrateKbps', `${o.bitrateKbps} kbit/s: mono Layer II allows at most 192`);
    this.channels = o.channels;
    this.bitrateKbps = o.bitrateKbps;
    this.maxFrames = o.maxFrames ?? MP2_FRAME_SIZE;
    if (!Number.isInteger(this.maxFrames) || this.maxFrames < 1 || this.maxFrames > 1 << 20) throw new TwolameConfigError('maxFrames', `${this.maxFrames}`);
    // One frame at 384 kbit/s is 1152 bytes; room for every frame maxFrames can complete, plus one.
    this.#out = new Uint8Array((Math.ceil(this.maxFrames / MP2_FRAME_SIZE) + 2) * 1728);
    const h = this.#lib.twolame_init() as Pointer | null;
    if (!h) throw new TwolameError('twolame_init', null, 'out of memory');
    this.#handle = h;
    leakWatch.register(this, 'Mp2Encoder', this);
    try {
      const set = (op: string, rc: number) => {
        if (rc !== 0) throw new TwolameError(op, rc, 'value rejected');
      };
      set('twolame_set_verbosity', this.#lib.twolame_set_verbosity(h, 0));
      set('twolame_set_num_channels', this.#lib.twolame_set_num_channels(h, o.channels));
      set('twolame_set_in_samplerate', this.#lib.twolame_set_in_samplerate(h, 48_000));
      set('twolame_set_out_samplerate', this.#lib.twolame_set_out_samplerate(h, 48_000));
      set('twolame_set_version', this.#lib.twolame_set_version(h, TWOLAME_MPEG1));
      set('twolame_set_mode', this.#lib.twolame_set_mode(h, o.channels === 1 ? TWOLAME_MONO : o.bitrateKbps >= 256 ? TWOLAME_STEREO : TWOLAME_JOINT_STEREO));
      set('twolame_set_bitrate', this.#lib.twolame_set_bitrate(h, o.bitrateKbps));
      const rc = this.#lib.twolame_init_params(h);
      if (rc !== 0) throw new TwolameError('twolame_init_params', rc, 'invalid or unsupported combination of parameters');
    } catch (e) {
      this.close();
      throw e;
    }
  }

  #h(op: string): Pointer {
    if (this.#handle === null) throw new TwolameError(op, null, 'Mp2Encoder is closed');
    return this.#handle;
  }

  /**
   * Encode `frames` interleaved frames in [-1, 1]; returns the whole Layer II frames completed
   * (often none: one per 1152 input frames), a view of this encoder's buffer valid until the next call.
   */
  encode(pcm: Float32Array, frames: number): Uint8Array {
    const h = this.#h('twolame_encode_buffer_float32_interleaved');
    if (!Number.isInteger(frames) || frames < 0 || frames > this.maxFrames || frames * this.channels > pcm.length) {
      throw new TwolameConfigError('frames', `${frames} frames: need 0–${this.maxFrames} and ≤ pcm.length / channels`);
    }
    const n = this.#lib.twolame_encode_buffer_float32_interleaved(h, pcm, frames, this.#out, this.#out.length);
    if (n < 0) throw new TwolameError('twolame_encode_buffer_float32_interleaved', n, 'encoding failed');
    return this.#out.subarray(0, n);
  }

  /** The last, silence-padded frame of what libtwolame holds. */
  flush(): Uint8Array {
    const n = this.#lib.twolame_encode_flush(this.#h('twolame_encode_flush'), this.#out, this.#out.length);
    if (n < 0) throw new TwolameError('twolame_encode_flush', n, 'flush failed');
    return this.#out.subarray(0, n);
  }

  /** Idempotent. */
  close(): void {
    if (this.#handle === null) return;
    const pp = new BigUint64Array([BigInt(this.#handle)]);
    this.#lib.twolame_close(pp);
    this.#handle = null;
    leakWatch.unregister(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
