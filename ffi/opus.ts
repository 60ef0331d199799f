/**
 * libopus (libopus.so.0, Debian package libopus0) bound with bun:ffi: the dlopen table, the
 * ctl constants hark uses, and the owner classes OpusEncoder and OpusDecoder.
 *
 * The variadic opus_*_ctl functions are called through a tiny C shim (opus_shim.c, compiled
 * by Bun's TinyCC at load time) so that the variadic calling convention is the C compiler's
 * business on x86-64 and arm64 alike.
 */
import { LibraryCallError, LibraryLoadError, LibrarySettingError } from './errors.ts';
import { cc, dlopen, ptr, type Pointer } from 'bun:ffi';
import { join } from 'node:path';

const SONAME = 'libopus.so.0';
const DEBIAN_PACKAGE = 'libopus0';

/** The 48 kHz clock every hark encoder runs at (RFC 7845 §5.1: Ogg Opus granules are 48 kHz). */
const RATE = 48_000;
/** Largest Opus packet duration (120 ms at 48 kHz), the decoder's output buffer size. */
const MAX_FRAME_SIZE = 5760;
/** Output buffer per encoder; libopus's recommended max packet size (opus_encode docs). */
export const MAX_PACKET_BYTES = 4000;

// Error codes (opus_defines.h).
export const OPUS_OK = 0;
export const OPUS_BAD_ARG = -1;
export const OPUS_BUFFER_TOO_SMALL = -2;
export const OPUS_INTERNAL_ERROR = -3;
export const OPUS_INVALID_PACKET = -4;
export const OPUS_UNIMPLEMENTED = -5;
export const OPUS_INVALID_STATE = -6;
export const OPUS_ALLOC_FAIL = -7;

// ctl requests (opus_defines.h).
const OPUS_SET_BITRATE_REQUEST = 4002;
const OPUS_GET_BITRATE_REQUEST = 4003;
const OPUS_SET_MAX_BANDWIDTH_REQUEST = 4004;
const OPUS_SET_VBR_REQUEST = 4006;
const OPUS_SET_COMPLEXITY_REQUEST = 4010;
const OPUS_SET_INBAND_FEC_REQUEST = 4012;
const OPUS_SET_PACKET_LOSS_PERC_REQUEST = 4014;
const OPUS_SET_DTX_REQUEST = 4016;
const OPUS_SET_VBR_CONSTRAINT_REQUEST = 4020;
const OPUS_SET_SIGNAL_REQUEST = 4024;
const OPUS_GET_LOOKAHEAD_REQUEST = 4027;
const OPUS_RESET_STATE = 4028;
const OPUS_GET_FINAL_RANGE_REQUEST = 4031;
const OPUS_GET_LAST_PACKET_DURATION_REQUEST = 4039;

const APPLICATIONS = { voip: 2048, audio: 2049, 'restricted-lowdelay': 2051 } as const;
const BANDWIDTHS = {
  narrowband: 1101,
  mediumband: 1102,
  wideband: 1103,
  superwideband: 1104,
  fullband: 1105,
} as const;
const SIGNALS = { auto: -1000, voice: 3001, music: 3002 } as const;

export type OpusApplication = keyof typeof APPLICATIONS;
export type OpusBandwidth = keyof typeof BANDWIDTHS;
export type OpusSignal = keyof typeof SIGNALS;
/** Opus frame durations (RFC 6716 §2.1.4). */
export type OpusFrameMs = 2.5 | 5 | 10 | 20 | 40 | 60;
export const OPUS_FRAME_MS: readonly OpusFrameMs[] = [2.5, 5, 10, 20, 40, 60];

/** libopus rejected a call; `reason` is libopus's own text (opus_strerror). */
export class OpusError extends LibraryCallError {
  override readonly name = 'OpusError';
}

/** A setting outside what Opus supports, caught before libopus would silently clamp it. */
export class OpusConfigError extends LibrarySettingError {
  override readonly name = 'OpusConfigError';
}

/** libopus.so.0 could not be loaded. */
export class OpusLoadError extends LibraryLoadError {
  override readonly name = 'OpusLoadError';
  constructor(cause: unknown) {
    super(SONAME, DEBIAN_PACKAGE, cause);
  }
}

function openLibrary() {
  return dlopen(SONAME, {
    // Returns a static string; nothing to free.
    opus_strerror: { args: ['i32'], returns: 'cstring' },
    // Returns a static string; nothing to free.
    opus_get_version_string: { args: [], returns: 'cstring' },
    // Returns an encoder the caller frees with opus_encoder_destroy; error points at our Int32Array.
    opus_encoder_create: { args: ['i32', 'i32', 'i32', 'ptr'], returns: 'ptr' },
    // Frees the encoder from opus_encoder_create.
    opus_encoder_destroy: { args: ['ptr'], returns: 'void' },
    // Reads pcm and writes data (both ours, borrowed for the call only).
    opus_encode_float: {
      args: ['ptr', 'ptr', 'i32', 'ptr', 'i32'],
      returns: 'i32',
    },
    // Returns a decoder the caller frees with opus_decoder_destroy; error points at our Int32Array.
    opus_decoder_create: { args: ['i32', 'i32', 'ptr'], returns: 'ptr' },
    // Frees the decoder from opus_decoder_create.
    opus_decoder_destroy: { args: ['ptr'], returns: 'void' },
    // Reads data (may be NULL for concealment) and writes pcm (both ours, borrowed for the call only).
    opus_decode_float: {
      args: ['ptr', 'ptr', 'i32', 'ptr', 'i32', 'i32'],
      returns: 'i32',
    },
    // Variadic: never called from JS, only its address is handed to the shim.
    opus_encoder_ctl: { args: ['ptr', 'i32'], returns: 'i32' },
    // Variadic: never called from JS, only its address is handed to the shim.
    opus_decoder_ctl: { args: ['ptr', 'i32'], returns: 'i32' },
  });
}

function open() {
  let lib;
  try {
    lib = openLibrary();
  } catch (e) {
    throw new OpusLoadError(e);
  }
  const ctl = { args: ['ptr', 'i32', 'i32'], returns: 'i32' } as const;
  const ctlGet = { args: ['ptr', 'i32', 'ptr'], returns: 'i32' } as const;
  const ctlNone = { args: ['ptr', 'i32'], returns: 'i32' } as const;
  const shim = cc({
    source: join(import.meta.dir, 'opus_shim.c'),
    symbols: {
      // Stores the two libopus function addresses; nothing to free.
      hark_opus_shim_init: { args: ['ptr', 'ptr'], returns: 'void' },
      // st borrowed for the call.
      hark_opus_encoder_ctl_set: ctl,
      // st borrowed; value points at our Int32Array, written for the call only.
      hark_opus_encoder_ctl_get: ctlGet,
      // st borrowed for the call.
      hark_opus_encoder_ctl_none: ctlNone,
      // st borrowed for the call.
      hark_opus_decoder_ctl_set: ctl,
      // st borrowed; value points at our Int32Array, written for the call only.
      hark_opus_decoder_ctl_get: ctlGet,
      // st borrowed for the call.
      hark_opus_decoder_ctl_none: ctlNone,
    },
  });
  // Bun puts the resolved address on each symbol function as `.ptr` (not in its typings).
  const encCtl = (lib.symbols.opus_encoder_ctl as unknown as { ptr?: Pointer }).ptr;
  // as above: Bun's symbol functions carry `.ptr`, which its typings do not declare.
  const decCtl = (lib.symbols.opus_decoder_ctl as unknown as { ptr?: Pointer }).ptr;
  if (!encCtl || !decCtl) throw new Error('opus_encoder_ctl/opus_decoder_ctl have no address');
  shim.symbols.hark_opus_shim_init(encCtl, decCtl);
  return { ...lib.symbols, ...shim.symbols, lib, shim };
}

let loaded: ReturnType<typeof open> | undefined;

/** The libopus symbols, loaded on first use so that importing this module never fails. */
function opus(): ReturnType<typeof open> {
  return (loaded ??= open());
}

/** libopus's text for an error code (opus_strerror). */
export function opusStrerror(code: number): string {
  return String(opus().opus_strerror(code));
}

/** The libopus version string, e.g. "libopus 1.3.1". */
export function opusVersion(): string {
  return String(opus().opus_get_version_string());
}

function check(operation: string, code: number): number {
  if (code < 0) throw new OpusError(operation, code, opusStrerror(code));
  return code;
}

export interface OpusEncoderOptions {
  channels: 1 | 2;
  application: OpusApplication;
  frameMs: OpusFrameMs;
  /** Target bitrate, 6–510 kbit/s (RFC 6716 §2.1.1 range); per stream, not per channel. */
  bitrateKbps: number;
  /** 0 (fastest) … 10 (best); libopus default 10. */
  complexity?: number;
  /** Variable bitrate; libopus default true. false = hard CBR. */
  vbr?: boolean;
  /** Constrained VBR (bounded buffer); libopus default true. Ignored when vbr is false. */
  constrainedVbr?: boolean;
  /** In-band forward error correction (SILK/hybrid modes only); default false. */
  fec?: boolean;
  /** Expected packet loss 0–100 %, steers FEC redundancy; default 0. */
  expectedLossPct?: number;
  /** Discontinuous transmission: ≤2-byte packets during silence; default false. */
  dtx?: boolean;
  maxBandwidth?: OpusBandwidth;
  signal?: OpusSignal;
}

// Only a warning: memory is freed by close(), never by the collector.
const leakWatch = new FinalizationRegistry<string>((what) => {
  console.warn(`[opus] an ${what} was garbage-collected without close(): its libopus state leaks`);
});

/** Frames per channel in one Opus frame of `frameMs` at 48 kHz. */
export function opusFrameSize(frameMs: number): number {
  if (!OPUS_FRAME_MS.includes(frameMs as OpusFrameMs)) {
    throw new OpusConfigError('frameMs', `${frameMs} ms is not an Opus frame duration (${OPUS_FRAME_MS.join(', ')})`);
  }
  return (frameMs * RATE) / 1000;
}

function checkBitrate(kbps: number): number {
  if (!Number.isFinite(kbps) || kbps < 6 || kbps > 510) {
    throw new OpusConfigError('bitrateKbps', `${kbps} kbit/s is outside Opus's 6–510 kbit/s`);
  }
  return Math.round(kbps * 1000);
}

/** One libopus encoder (OpusEncoder*). 48 kHz, float input, fixed frame duration. */
export class OpusEncoder {
  readonly channels: 1 | 2;
  readonly application: OpusApplication;
  readonly frameMs: OpusFrameMs;
  /** Frames per channel per packet. */
  readonly frameSize: number;
  #handle: Pointer | null;
  readonly #out = new Uint8Array(MAX_PACKET_BYTES);
  readonly #outPtr: Pointer;
  readonly #int = new Int32Array(1);
  readonly #lib = opus();

  constructor(options: OpusEncoderOptions) {
    this.frameSize = opusFrameSize(options.frameMs);
    this.frameMs = options.frameMs;
    this.channels = options.channels;
    this.application = options.application;
    const app = APPLICATIONS[options.application];
    if (app === undefined) {
      throw new OpusConfigError('application', `"${options.application}" is not one of ${Object.keys(APPLICATIONS).join(', ')}`);
    }
    const bps = checkBitrate(options.bitrateKbps);
    const handle = this.#lib.opus_encoder_create(RATE, options.channels, app, this.#int) as Pointer | null; // bun:ffi returns pointers as numbers
    check('opus_encoder_create', this.#int[0]!);
    if (!handle) throw new OpusError('opus_encoder_create', OPUS_ALLOC_FAIL, opusStrerror(OPUS_ALLOC_FAIL));
    this.#handle = handle;
    leakWatch.register(this, 'OpusEncoder', this);
    this.#outPtr = ptr(this.#out);
    try {
      this.#set('OPUS_SET_BITRATE', OPUS_SET_BITRATE_REQUEST, bps);
      if (options.complexity !== undefined) this.#set('OPUS_SET_COMPLEXITY', OPUS_SET_COMPLEXITY_REQUEST, options.complexity);
      if (options.vbr !== undefined) this.#set('OPUS_SET_VBR', OPUS_SET_VBR_REQUEST, options.vbr ? 1 : 0);
      if (options.constrainedVbr !== undefined) {
        this.#set('OPUS_SET_VBR_CONSTRAINT', OPUS_SET_VBR_CONSTRAINT_REQUEST, options.constrainedVbr ? 1 : 0);
      }
      if (options.fec !== undefined) this.#set('OPUS_SET_INBAND_FEC', OPUS_SET_INBAND_FEC_REQUEST, options.fec ? 1 : 0);
      if (options.expectedLossPct !== undefined) {
        this.#set('OPUS_SET_PACKET_LOSS_PERC', OPUS_SET_PACKET_LOSS_PERC_REQUEST, options.expectedLossPct);
      }
      if (options.dtx !== undefined) this.#set('OPUS_SET_DTX', OPUS_SET_DTX_REQUEST, options.dtx ? 1 : 0);
      if (options.maxBandwidth !== undefined) {
        const bw = BANDWIDTHS[options.maxBandwidth];
        if (bw === undefined) throw new OpusConfigError('maxBandwidth', `"${options.maxBandwidth}" is not an Opus bandwidth`);
        this.#set('OPUS_SET_MAX_BANDWIDTH', OPUS_SET_MAX_BANDWIDTH_REQUEST, bw);
      }
      if (options.signal !== undefined) {
        const sig = SIGNALS[options.signal];
        if (sig === undefined) throw new OpusConfigError('signal', `"${options.signal}" is not auto, voice or music`);
        this.#set('OPUS_SET_SIGNAL', OPUS_SET_SIGNAL_REQUEST, sig);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  #h(operation: string): Pointer {
    if (this.#handle === null) throw new OpusError(operation, null, 'OpusEncoder is closed');
    return this.#handle;
  }

  #set(name: string, request: number, value: number): void {
    check(name, this.#lib.hark_opus_encoder_ctl_set(this.#h(name), request, value));
  }

  #get(name: string, request: number): number {
    check(name, this.#lib.hark_opus_encoder_ctl_get(this.#h(name), request, this.#int));
    return this.#int[0]!;
  }

  /**
   * Encode one frame: exactly frameSize × channels interleaved samples in [-1, 1].
   * Returns a view of this encoder's buffer, valid until the next encode().
   */
  encode(pcm: Float32Array): Uint8Array {
    return this.#out.subarray(0, this.encodeInto(pcm));
  }

  /** As encode(), but returns the packet length; the packet is `output[0, n)`. Allocates nothing. */
  encodeInto(pcm: Float32Array): number {
    const h = this.#h('opus_encode_float');
    if (pcm.length !== this.frameSize * this.channels) {
      throw new OpusConfigError('pcm', `expected ${this.frameSize * this.channels} samples, got ${pcm.length}`);
    }
    return check('opus_encode_float', this.#lib.opus_encode_float(h, pcm, this.frameSize, this.#outPtr, MAX_PACKET_BYTES));
  }

  /** This encoder's preallocated packet buffer (MAX_PACKET_BYTES), overwritten by every encode. */
  get output(): Uint8Array {
    return this.#out;
  }

  /** Change the target bitrate between packets (OPUS_SET_BITRATE). */
  setBitrate(kbps: number): void {
    this.#set('OPUS_SET_BITRATE', OPUS_SET_BITRATE_REQUEST, checkBitrate(kbps));
  }

  /** The bitrate libopus is targeting, kbit/s (OPUS_GET_BITRATE). */
  get bitrateKbps(): number {
    return this.#get('OPUS_GET_BITRATE', OPUS_GET_BITRATE_REQUEST) / 1000;
  }

  /** Encoder delay in 48 kHz samples (OPUS_GET_LOOKAHEAD): the Ogg Opus pre-skip, RFC 7845 §4.2. */
  get lookahead(): number {
    return this.#get('OPUS_GET_LOOKAHEAD', OPUS_GET_LOOKAHEAD_REQUEST);
  }

  /** Range-coder state after the last packet (OPUS_GET_FINAL_RANGE); a decoder of the same packet agrees. */
  get finalRange(): number {
    return this.#get('OPUS_GET_FINAL_RANGE', OPUS_GET_FINAL_RANGE_REQUEST) >>> 0;
  }

  /** Forget all history, as a freshly created encoder (OPUS_RESET_STATE). */
  reset(): void {
    check('OPUS_RESET_STATE', this.#lib.hark_opus_encoder_ctl_none(this.#h('OPUS_RESET_STATE'), OPUS_RESET_STATE));
  }

  get closed(): boolean {
    return this.#handle === null;
  }

  /** Idempotent. */
  close(): void {
    if (this.#handle === null) return;
    leakWatch.unregister(this);
    this.#lib.opus_encoder_destroy(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** One libopus decoder (OpusDecoder*), 48 kHz float output. */
export class OpusDecoder {
  readonly channels: 1 | 2;
  #handle: Pointer | null;
  readonly #pcm: Float32Array;
  readonly #pcmPtr: Pointer;
  readonly #int = new Int32Array(1);
  readonly #lib = opus();

  constructor(options: { channels: 1 | 2 }) {
    this.channels = options.channels;
    const handle = this.#lib.opus_decoder_create(RATE, options.channels, this.#int) as Pointer | null;
    check('opus_decoder_create', this.#int[0]!);
    if (!handle) throw new OpusError('opus_decoder_create', OPUS_ALLOC_FAIL, opusStrerror(OPUS_ALLOC_FAIL));
    this.#handle = handle;
    leakWatch.register(this, 'OpusDecoder', this);
    this.#pcm = new Float32Array(MAX_FRAME_SIZE * options.channels);
    this.#pcmPtr = ptr(this.#pcm);
  }

  #h(operation: string): Pointer {
    if (this.#handle === null) throw new OpusError(operation, null, 'OpusDecoder is closed');
    return this.#handle;
  }

  /**
   * Decode one packet to interleaved float samples; a view of this decoder's buffer, valid
   * until the next decode(). `decode(null, frames)` conceals a lost packet of `frames`
   * (a multiple of 2.5 ms). With `fec`, `packet` is the one *after* the loss and its in-band
   * FEC data recovers the lost frames (RFC 6716 §2.1.7).
   */
  decode(packet: Uint8Array | null, frames = MAX_FRAME_SIZE, fec = false): Float32Array {
    const h = this.#h('opus_decode_float');
    if (!Number.isInteger(frames) || frames <= 0 || frames > MAX_FRAME_SIZE) {
      throw new OpusConfigError('frames', `${frames} is not 1–${MAX_FRAME_SIZE}`);
    }
    const empty = packet === null || packet.length === 0;
    const n = this.#lib.opus_decode_float(
      h,
      empty ? null : packet,
      empty ? 0 : packet.length,
      this.#pcmPtr,
      frames,
      fec ? 1 : 0,
    );
    check('opus_decode_float', n);
    return this.#pcm.subarray(0, n * this.channels);
  }

  /** Frames per channel of the last decoded packet (OPUS_GET_LAST_PACKET_DURATION). */
  get lastPacketDuration(): number {
    const name = 'OPUS_GET_LAST_PACKET_DURATION';
    check(name, this.#lib.hark_opus_decoder_ctl_get(this.#h(name), OPUS_GET_LAST_PACKET_DURATION_REQUEST, this.#int));
    return this.#int[0]!;
  }

  /** Range-coder state after the last packet (OPUS_GET_FINAL_RANGE). */
  get finalRange(): number {
    const name = 'OPUS_GET_FINAL_RANGE';
    check(name, this.#lib.hark_opus_decoder_ctl_get(this.#h(name), OPUS_GET_FINAL_RANGE_REQUEST, this.#int));
    return this.#int[0]! >>> 0;
  }

  /** Forget all history (OPUS_RESET_STATE). */
  reset(): void {
    check('OPUS_RESET_STATE', this.#lib.hark_opus_decoder_ctl_none(this.#h('OPUS_RESET_STATE'), OPUS_RESET_STATE));
  }

  get closed(): boolean {
    return this.#handle === null;
  }

  /** Idempotent. */
  close(): void {
    if (this.#handle === null) return;
    leakWatch.unregister(this);
    this.#lib.opus_decoder_destroy(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
