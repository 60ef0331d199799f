/**
 * libmp3lame (libmp3lame.so.0, Debian package libmp3lame0) bound with bun:ffi: the dlopen
 * table and the owner class Mp3Encoder.
 */
import { LibraryCallError, LibraryLoadError, LibrarySettingError } from './errors.ts';
import { dlopen, ptr, type Pointer } from 'bun:ffi';
import { MP3_BITRATES_KBPS } from '../src/config/mp3-bitrates.ts';

const SONAME = 'libmp3lame.so.0';
const DEBIAN_PACKAGE = 'libmp3lame0';

/** Samples per channel in one MPEG-1 Layer III frame (ISO/IEC 11172-3 §2.4.1). */
export const MP3_FRAME_SIZE = 1152;


// lame.h enums.
const MODE_JOINT_STEREO = 1;
const MODE_MONO = 3;
const VBR_OFF = 0;
const VBR_MTRH = 4; // vbr_default

/** What lame_encode_buffer*() / lame_encode_flush() negative returns mean (lame.h). */
const ENCODE_ERRORS: Record<number, string> = {
  [-1]: 'mp3buf was too small',
  [-2]: 'malloc() problem',
  [-3]: 'lame_init_params() not called',
  [-4]: 'psycho acoustic problems',
};

/** LAME rejected a call; `reason` is what LAME's return code means (LAME has no strerror). */
export class LameError extends LibraryCallError {
  override readonly name = 'LameError';
}

/** A setting outside what LAME supports at 48 kHz, caught before LAME would silently round it. */
export class LameConfigError extends LibrarySettingError {
  override readonly name = 'LameConfigError';
}

/** libmp3lame.so.0 could not be loaded. */
export class LameLoadError extends LibraryLoadError {
  override readonly name = 'LameLoadError';
  constructor(cause: unknown) {
    super(SONAME, DEBIAN_PACKAGE, cause);
  }
}

const setInt = { args: ['ptr', 'i32'], returns: 'i32' } as const;

function openLibrary() {
  return dlopen(SONAME, {
    // Returns a static string; nothing to free.
    get_lame_version: { args: [], returns: 'cstring' },
    // Returns flags the caller frees with lame_close.
    lame_init: { args: [], returns: 'ptr' },
    // Frees everything lame_init allocated.
    lame_close: { args: ['ptr'], returns: 'i32' },
    // Setters below borrow gfp for the call only.
    lame_set_num_channels: setInt,
    lame_set_in_samplerate: setInt,
    lame_set_out_samplerate: setInt,
    lame_set_brate: setInt,
    lame_set_mode: setInt,
    lame_set_quality: setInt,
    lame_set_VBR: setInt,
    lame_set_VBR_quality: { args: ['ptr', 'f32'], returns: 'i32' },
    lame_set_VBR_max_bitrate_kbps: setInt,
    lame_set_bWriteVbrTag: setInt,
    lame_set_findReplayGain: setInt,
    lame_set_write_id3tag_automatic: { args: ['ptr', 'i32'], returns: 'void' },
    lame_init_params: { args: ['ptr'], returns: 'i32' },
    lame_get_encoder_delay: { args: ['ptr'], returns: 'i32' },
    lame_get_framesize: { args: ['ptr'], returns: 'i32' },
    // Reads pcm_l/pcm_r, writes mp3buf (all ours, borrowed for the call only).
    lame_encode_buffer_ieee_float: {
      args: ['ptr', 'ptr', 'ptr', 'i32', 'ptr', 'i32'],
      returns: 'i32',
    },
    // Reads interleaved pcm, writes mp3buf (both ours, borrowed for the call only).
    lame_encode_buffer_interleaved_ieee_float: {
      args: ['ptr', 'ptr', 'i32', 'ptr', 'i32'],
      returns: 'i32',
    },
    // Writes mp3buf (ours, borrowed for the call only).
    lame_encode_flush: { args: ['ptr', 'ptr', 'i32'], returns: 'i32' },
  });
}

let loaded: ReturnType<typeof openLibrary>['symbols'] | undefined;

/** The LAME symbols, loaded on first use so that importing this module never fails. */
function lame(): ReturnType<typeof openLibrary>['symbols'] {
  if (!loaded) {
    try {
      loaded = openLibrary().symbols;
    } catch (e) {
      throw new LameLoadError(e);
    }
  }
  return loaded;
}

/** The LAME version, e.g. "3.100". */
export function lameVersion(): string {
  return String(lame().get_lame_version());
}

/** Typical mean bitrates of LAME's VBR presets -V0 … -V9 (LAME's usage docs), kbit/s. */
const VBR_PRESET_KBPS = [245, 225, 190, 175, 165, 130, 115, 100, 85, 65];

// Only a warning: memory is freed by close(), never by the collector.
const leakWatch = new FinalizationRegistry<string>(() => {
  console.warn('[lame] an Mp3Encoder was garbage-collected without close(): its LAME state leaks');
});

/** The VBR quality (0 best … 9) whose typical mean bitrate is closest to `kbps`. */
export function vbrQualityForBitrate(kbps: number): number {
  let best = 0;
  for (let q = 1; q < VBR_PRESET_KBPS.length; q++) {
    if (Math.abs(VBR_PRESET_KBPS[q]! - kbps) < Math.abs(VBR_PRESET_KBPS[best]! - kbps)) best = q;
  }
  return best;
}

export interface Mp3EncoderOptions {
  channels: 1 | 2;
  mode: 'cbr' | 'vbr';
  /** CBR: the bitrate (one of MP3_BITRATES_KBPS). VBR: an optional ceiling. */
  bitrateKbps?: number;
  /** VBR quality 0 (best, ~245 kbit/s) … 9 (~65 kbit/s); default 4. */
  vbrQuality?: number;
  /** Algorithm quality 0 (best, slowest) … 9 (fastest); default 5, LAME's "good speed". */
  quality?: number;
  sampleRate?: 48000;
  /** Largest `frames` one encode() call takes; sizes the output buffer. Default 1152. */
  maxFrames?: number;
}

function checkRange(setting: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new LameConfigError(setting, `${v} is not an integer ${lo}–${hi}`);
  return v;
}

function checkBitrate(kbps: number | undefined): number {
  if (!MP3_BITRATES_KBPS.includes(kbps as (typeof MP3_BITRATES_KBPS)[number])) {
    throw new LameConfigError('bitrateKbps', `${kbps} kbit/s is not an MPEG-1 Layer III bitrate (${MP3_BITRATES_KBPS.join(', ')})`);
  }
  return kbps!;
}

/** One LAME encoder (lame_global_flags*), 48 kHz float input, no ID3 or Xing/LAME tag. */
export class Mp3Encoder {
  readonly channels: 1 | 2;
  readonly mode: 'cbr' | 'vbr';
  readonly sampleRate = 48_000;
  readonly maxFrames: number;
  #handle: Pointer | null;
  readonly #out: Uint8Array;
  readonly #outPtr: Pointer;
  readonly #lib = lame();

  constructor(options: Mp3EncoderOptions) {
    this.channels = options.channels;
    this.mode = options.mode;
    if (options.sampleRate !== undefined && options.sampleRate !== 48_000) {
      throw new LameConfigError('sampleRate', `${options.sampleRate} Hz: hark encodes at 48000 Hz only`);
    }
    if (options.mode !== 'cbr' && options.mode !== 'vbr') throw new LameConfigError('mode', `"${options.mode}" is not cbr or vbr`);
    const quality = checkRange('quality', options.quality ?? 5, 0, 9);
    const vbrQuality = checkRange('vbrQuality', options.vbrQuality ?? 4, 0, 9);
    const bitrate = options.mode === 'cbr' || options.bitrateKbps !== undefined ? checkBitrate(options.bitrateKbps) : 0;
    this.maxFrames = checkRange('maxFrames', options.maxFrames ?? MP3_FRAME_SIZE, 1, 1 << 20);
    // Worst case per lame.h: 1.25 × samples + 7200 bytes.
    this.#out = new Uint8Array(Math.ceil(1.25 * this.maxFrames) + 7200);
    this.#outPtr = ptr(this.#out);

    const handle = this.#lib.lame_init() as Pointer | null; // bun:ffi returns pointers as numbers
    if (!handle) throw new LameError('lame_init', null, 'out of memory');
    this.#handle = handle;
    leakWatch.register(this, 'Mp3Encoder', this);
    try {
      this.#set('lame_set_num_channels', this.#lib.lame_set_num_channels(handle, options.channels));
      this.#set('lame_set_in_samplerate', this.#lib.lame_set_in_samplerate(handle, this.sampleRate));
      this.#set('lame_set_out_samplerate', this.#lib.lame_set_out_samplerate(handle, this.sampleRate));
      this.#set('lame_set_mode', this.#lib.lame_set_mode(handle, options.channels === 1 ? MODE_MONO : MODE_JOINT_STEREO));
      this.#set('lame_set_quality', this.#lib.lame_set_quality(handle, quality));
      if (options.mode === 'cbr') {
        this.#set('lame_set_VBR', this.#lib.lame_set_VBR(handle, VBR_OFF));
        this.#set('lame_set_brate', this.#lib.lame_set_brate(handle, bitrate));
      } else {
        this.#set('lame_set_VBR', this.#lib.lame_set_VBR(handle, VBR_MTRH));
        this.#set('lame_set_VBR_quality', this.#lib.lame_set_VBR_quality(handle, vbrQuality));
        if (bitrate) this.#set('lame_set_VBR_max_bitrate_kbps', this.#lib.lame_set_VBR_max_bitrate_kbps(handle, bitrate));
      }
      // A live stream has no end to seek to and no place for trailing tags: no Xing/LAME
      // header frame, no ID3 (LAME's technical FAQ; the Xing frame would be written first
      // with empty contents and never rewritten).
      this.#set('lame_set_bWriteVbrTag', this.#lib.lame_set_bWriteVbrTag(handle, 0));
      this.#lib.lame_set_write_id3tag_automatic(handle, 0);
      this.#set('lame_set_findReplayGain', this.#lib.lame_set_findReplayGain(handle, 0));
      const rc = this.#lib.lame_init_params(handle);
      if (rc < 0) throw new LameError('lame_init_params', rc, 'invalid or unsupported combination of parameters');
    } catch (e) {
      this.close();
      throw e;
    }
  }

  #set(operation: string, rc: number): void {
    if (rc !== 0) throw new LameError(operation, rc, 'value rejected');
  }

  #flushed = false;

  #h(operation: string): Pointer {
    if (this.#handle === null) throw new LameError(operation, null, 'Mp3Encoder is closed');
    if (this.#flushed) throw new LameError(operation, null, 'Mp3Encoder was flushed; the stream has ended');
    return this.#handle;
  }

  #check(operation: string, n: number): number {
    if (n < 0) throw new LameError(operation, n, ENCODE_ERRORS[n] ?? 'unknown error');
    return n;
  }

  /**
   * Encode `frames` interleaved frames (channels × frames samples in [-1, 1]). Returns the MP3
   * bytes LAME completed — often none, since LAME emits whole frames and keeps a look-ahead — as
   * a view of this encoder's buffer, valid until the next call.
   */
  encode(pcm: Float32Array, frames: number): Uint8Array {
    return this.#out.subarray(0, this.encodeInto(pcm, frames));
  }

  /** As encode(), but returns the byte count; the bytes are `output[0, n)`. Allocates nothing. */
  encodeInto(pcm: Float32Array, frames: number): number {
    const h = this.#h('lame_encode_buffer_ieee_float');
    if (!Number.isInteger(frames) || frames < 0 || frames > this.maxFrames || frames * this.channels > pcm.length) {
      throw new LameConfigError('frames', `${frames} frames: need 0–${this.maxFrames} and ≤ pcm.length / channels`);
    }
    return this.channels === 1
      ? this.#check(
          'lame_encode_buffer_ieee_float',
          this.#lib.lame_encode_buffer_ieee_float(h, pcm, pcm, frames, this.#outPtr, this.#out.length),
        )
      : this.#check(
          'lame_encode_buffer_interleaved_ieee_float',
          this.#lib.lame_encode_buffer_interleaved_ieee_float(h, pcm, frames, this.#outPtr, this.#out.length),
        );
  }

  /**
   * Encode what LAME still holds, padded to whole frames (lame_encode_flush); a view as
   * encode(). This ends the MP3 stream: LAME's state after it is only fit for close().
   */
  flush(): Uint8Array {
    return this.#out.subarray(0, this.flushInto());
  }

  /** As flush(), returning the byte count in `output`. */
  flushInto(): number {
    const h = this.#h('lame_encode_flush');
    this.#flushed = true;
    return this.#check('lame_encode_flush', this.#lib.lame_encode_flush(h, this.#outPtr, this.#out.length));
  }

  /** This encoder's preallocated output buffer, overwritten by every encode/flush. */
  get output(): Uint8Array {
    return this.#out;
  }

  /** Samples of silence LAME puts before the input (lame_get_encoder_delay), typically 576. */
  get encoderDelay(): number {
    if (this.#handle === null) throw new LameError('lame_get_encoder_delay', null, 'Mp3Encoder is closed');
    return this.#lib.lame_get_encoder_delay(this.#handle);
  }

  get closed(): boolean {
    return this.#handle === null;
  }

  /** Idempotent. */
  close(): void {
    if (this.#handle === null) return;
    leakWatch.unregister(this);
    this.#lib.lame_close(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
