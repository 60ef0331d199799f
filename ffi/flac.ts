/**
 * libFLAC (libFLAC.so.12; Debian bookworm libflac12, trixie libflac14) bound with bun:ffi:
 * the dlopen table and the owner classes FlacDecoder, which decodes a whole file held in
 * memory, and FlacEncoder, libFLAC's stream encoder (native FLAC or Ogg FLAC).
 *
 * libFLAC's stream decoder pulls its input and pushes its output through callbacks
 * (FLAC/stream_decoder.h). They are JSCallbacks called on this thread, during
 * FLAC__stream_decoder_process_until_end_of_stream() — never from another thread.
 *
 * The encoder's one callback (write) is C (flac_shim.c, compiled by TinyCC): it appends the
 * bytes to a sink in C memory that FlacEncoder copies out after each call, so encoding needs no
 * JSCallback at all (it runs in the audio worker).
 */
import { JSCallback, cc, dlopen, read, toArrayBuffer, type Pointer } from 'bun:ffi';
import { join } from 'node:path';
import { LibraryCallError, LibraryLoadError, LibrarySettingError } from './errors.ts';

/** bookworm's libflac12, trixie's libflac14 (the stream decoder API is the same). */
const SONAMES = ['libFLAC.so.12', 'libFLAC.so.14'];
const DEBIAN_PACKAGE = 'libflac14';

/** FLAC__StreamDecoderState (stream_decoder.h), for messages. */
const STATES = [
  'searching for metadata',
  'reading metadata',
  'searching for a frame',
  'reading a frame',
  'end of stream',
  'Ogg error',
  'seek error',
  'aborted',
  'out of memory',
  'uninitialized',
];
const STATE_END_OF_STREAM = 4;
/** FLAC__StreamDecoderErrorStatus. */
const ERRORS = ['lost sync', 'bad header', 'frame CRC mismatch', 'unparseable stream', 'bad metadata', 'out of bounds'];
const READ_CONTINUE = 0;
const READ_END_OF_STREAM = 1;
const WRITE_CONTINUE = 0;
const WRITE_ABORT = 1;

export class FlacError extends LibraryCallError {
  override readonly name = 'FlacError';
}

export class FlacLoadError extends LibraryLoadError {
  override readonly name = 'FlacLoadError';
  constructor(cause: unknown) {
    super(SONAMES.join(' or '), DEBIAN_PACKAGE, cause);
  }
}

const SYMBOLS = {
  // Returns a decoder the caller frees with FLAC__stream_decoder_delete.
  FLAC__stream_decoder_new: { args: [], returns: 'ptr' },
  // Frees the decoder (finishing it first).
  FLAC__stream_decoder_delete: { args: ['ptr'], returns: 'void' },
  // decoder borrowed; the callbacks (ours, kept in fields) must live until finish/delete.
  FLAC__stream_decoder_init_stream: { args: ['ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr'], returns: 'i32' },
  // decoder borrowed; calls our callbacks on this thread.
  FLAC__stream_decoder_process_until_end_of_stream: { args: ['ptr'], returns: 'bool' },
  // decoder borrowed.
  FLAC__stream_decoder_get_state: { args: ['ptr'], returns: 'i32' },
  // decoder borrowed; STREAMINFO's total samples per channel (0: unknown).
  FLAC__stream_decoder_get_total_samples: { args: ['ptr'], returns: 'u64' },
  // decoder borrowed; frees its internal buffers (the decoder itself stays).
  FLAC__stream_decoder_finish: { args: ['ptr'], returns: 'bool' },
  // Returns an encoder the caller frees with FLAC__stream_encoder_delete.
  FLAC__stream_encoder_new: { args: [], returns: 'ptr' },
  // Frees the encoder (finishing it first).
  FLAC__stream_encoder_delete: { args: ['ptr'], returns: 'void' },
  // The setters: encoder borrowed; only before init. They return FLAC__bool (an int).
  FLAC__stream_encoder_set_verify: { args: ['ptr', 'i32'], returns: 'i32' },
  FLAC__stream_encoder_set_streamable_subset: { args: ['ptr', 'i32'], returns: 'i32' },
  FLAC__stream_encoder_set_channels: { args: ['ptr', 'u32'], returns: 'i32' },
  FLAC__stream_encoder_set_bits_per_sample: { args: ['ptr', 'u32'], returns: 'i32' },
  FLAC__stream_encoder_set_sample_rate: { args: ['ptr', 'u32'], returns: 'i32' },
  FLAC__stream_encoder_set_compression_level: { args: ['ptr', 'u32'], returns: 'i32' },
  FLAC__stream_encoder_set_blocksize: { args: ['ptr', 'u32'], returns: 'i32' },
  // encoder borrowed; `long` serial.
  FLAC__stream_encoder_set_ogg_serial_number: { args: ['ptr', 'i64'], returns: 'i32' },
  // encoder borrowed; write_callback is the shim's C function, client the shim's sink (both outlive the encoder).
  FLAC__stream_encoder_init_stream: { args: ['ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr'], returns: 'i32' },
  // As init_stream, with a read callback first (NULL: no seeking back).
  FLAC__stream_encoder_init_ogg_stream: { args: ['ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr'], returns: 'i32' },
  // encoder borrowed; buffer: our Int32Array, read during the call only; calls the shim's write.
  FLAC__stream_encoder_process_interleaved: { args: ['ptr', 'ptr', 'u32'], returns: 'i32' },
  // encoder borrowed; encodes what is buffered (the last, short frame), then uninitialised (init may follow).
  FLAC__stream_encoder_finish: { args: ['ptr'], returns: 'i32' },
  // encoder borrowed.
  FLAC__stream_encoder_get_state: { args: ['ptr'], returns: 'i32' },
} as const;

function open() {
  let last: unknown;
  for (const name of SONAMES) {
    try {
      return dlopen(name, SYMBOLS).symbols;
    } catch (e) {
      last = e;
    }
  }
  throw new FlacLoadError(last);
}

let loaded: ReturnType<typeof open> | undefined;
function flac(): ReturnType<typeof open> {
  return (loaded ??= open());
}

/** The encoder's write callback and its sink (flac_shim.c), compiled on first use per JS thread. */
function compileShim() {
  const shim = cc({
    source: join(import.meta.dir, 'flac_shim.c'),
    symbols: {
      // Returns a sink freed with hark_flac_sink_free (null: out of memory).
      hark_flac_sink_new: { args: ['u32', 'u32'], returns: 'ptr' },
      // Frees the sink; it is invalid afterwards.
      hark_flac_sink_free: { args: ['ptr'], returns: 'void' },
      // sink borrowed.
      hark_flac_sink_reset: { args: ['ptr'], returns: 'void' },
      // sink borrowed; returns its byte buffer (owned by the sink).
      hark_flac_sink_buf: { args: ['ptr'], returns: 'ptr' },
      // sink borrowed; returns its (bytes, samples) pairs (owned by the sink).
      hark_flac_sink_entries: { args: ['ptr'], returns: 'ptr' },
      hark_flac_sink_len: { args: ['ptr'], returns: 'u32' },
      hark_flac_sink_count: { args: ['ptr'], returns: 'u32' },
      hark_flac_sink_overflow: { args: ['ptr'], returns: 'i32' },
      // Never called from JS: its address is libFLAC's write callback.
      hark_flac_write: { args: ['ptr', 'ptr', 'u64', 'u32', 'u32', 'ptr'], returns: 'i32' },
    },
  });
  // Bun puts the resolved address on each symbol function as `.ptr` (not in its typings).
  const write = (shim.symbols.hark_flac_write as unknown as { ptr?: Pointer }).ptr;
  if (!write) throw new Error('hark_flac_write has no address');
  return { ...shim.symbols, write, shim };
}

let shimLoaded: ReturnType<typeof compileShim> | undefined;
function flacShim(): ReturnType<typeof compileShim> {
  return (shimLoaded ??= compileShim());
}

/** Whether libFLAC can be loaded here. */
export function flacAvailable(): boolean {
  try {
    flac();
    return true;
  } catch {
    return false;
  }
}

export interface FlacBlock {
  rate: number;
  channels: number;
  bitsPerSample: number;
  /** Interleaved, scaled to ±1. */
  samples: Float32Array;
  frames: number;
}

/**
 * One libFLAC stream decoder over a byte array. `decode()` runs it to the end, handing each
 * decoded block to `onBlock` (return false to stop). Throws FlacError on a damaged stream.
 */
export class FlacDecoder {
  #handle: Pointer | null;
  readonly #lib = flac();
  #input: Uint8Array = new Uint8Array(0);
  #at = 0;
  #errors: string[] = [];
  #onBlock: (b: FlacBlock) => boolean = () => true;
  #stopped = false;
  #decoded = 0;
  #thrown: unknown;
  #block = new Float32Array(0);
  // Kept in fields: libFLAC holds their addresses until finish().
  readonly #readCb: JSCallback;
  readonly #writeCb: JSCallback;
  readonly #errorCb: JSCallback;

  constructor() {
    const h = this.#lib.FLAC__stream_decoder_new() as Pointer | null;
    if (!h) throw new FlacError('FLAC__stream_decoder_new', null, 'out of memory');
    this.#handle = h;
    // FLAC__StreamDecoderReadStatus read(decoder, FLAC__byte buffer[], size_t *bytes, void *client)
    this.#readCb = new JSCallback(
      (_d: Pointer, buffer: Pointer, bytesPtr: Pointer) => {
        const want = Number(read.u64(bytesPtr, 0));
        const n = Math.min(want, this.#input.length - this.#at);
        if (n <= 0) {
          new BigUint64Array(toArrayBuffer(bytesPtr, 0, 8))[0] = 0n;
          return READ_END_OF_STREAM;
        }
        new Uint8Array(toArrayBuffer(buffer, 0, n)).set(this.#input.subarray(this.#at, this.#at + n));
        new BigUint64Array(toArrayBuffer(bytesPtr, 0, 8))[0] = BigInt(n);
        this.#at += n;
        return READ_CONTINUE;
      },
      { args: ['ptr', 'ptr', 'ptr', 'ptr'], returns: 'i32' },
    );
    // FLAC__StreamDecoderWriteStatus write(decoder, const FLAC__Frame *frame, const FLAC__int32 *const buffer[], void *client)
    this.#writeCb = new JSCallback(
      (_d: Pointer, frame: Pointer, buffer: Pointer) => {
        try {
          // FLAC__FrameHeader: blocksize, sample_rate, channels, channel_assignment, bits_per_sample (uint32 each).
          const frames = read.u32(frame, 0);
          const rate = read.u32(frame, 4);
          const channels = read.u32(frame, 8);
          const bits = read.u32(frame, 16);
          if (channels < 1 || channels > 8 || bits < 4 || bits > 32) {
            this.#errors.push(`bad frame header (${channels} channels, ${bits} bits)`);
            return WRITE_ABORT;
          }
          if (this.#block.length < frames * channels) this.#block = new Float32Array(frames * channels);
          const scale = 1 / 2 ** (bits - 1);
          for (let c = 0; c < channels; c++) {
            const p = read.ptr(buffer, c * 8) as Pointer;
            const ch = new Int32Array(toArrayBuffer(p, 0, frames * 4));
            for (let f = 0; f < frames; f++) this.#block[f * channels + c] = ch[f]! * scale;
          }
          this.#decoded += frames;
          const go = this.#onBlock({ rate, channels, bitsPerSample: bits, samples: this.#block, frames });
          if (!go) this.#stopped = true;
          return go ? WRITE_CONTINUE : WRITE_ABORT;
        } catch (e) {
          this.#thrown = e;
          return WRITE_ABORT;
        }
      },
      { args: ['ptr', 'ptr', 'ptr', 'ptr'], returns: 'i32' },
    );
    // void error(decoder, FLAC__StreamDecoderErrorStatus status, void *client)
    this.#errorCb = new JSCallback(
      (_d: Pointer, status: number) => {
        this.#errors.push(ERRORS[status] ?? `error ${status}`);
      },
      { args: ['ptr', 'i32', 'ptr'], returns: 'void' },
    );
  }

  /** Decode all of `input`. Throws FlacError when the stream is damaged or not FLAC. */
  decode(input: Uint8Array, onBlock: (b: FlacBlock) => boolean): void {
    const h = this.#h();
    this.#input = input;
    this.#at = 0;
    this.#errors = [];
    this.#onBlock = onBlock;
    this.#stopped = false;
    this.#decoded = 0;
    this.#thrown = undefined;
    const init = this.#lib.FLAC__stream_decoder_init_stream(h, this.#readCb.ptr, null, null, null, null, this.#writeCb.ptr, null, this.#errorCb.ptr, null);
    if (init !== 0) throw new FlacError('FLAC__stream_decoder_init_stream', init, 'the decoder could not start');
    try {
      this.#lib.FLAC__stream_decoder_process_until_end_of_stream(h);
      if (this.#thrown) throw this.#thrown;
      if (this.#stopped) return;
      const state = this.#lib.FLAC__stream_decoder_get_state(h);
      if (this.#errors.length > 0) throw new FlacError('FLAC__stream_decoder_process_until_end_of_stream', null, `damaged FLAC: ${[...new Set(this.#errors)].join(', ')}`);
      if (state !== STATE_END_OF_STREAM) throw new FlacError('FLAC__stream_decoder_process_until_end_of_stream', state, `stopped while ${STATES[state] ?? 'decoding'}`);
      // STREAMINFO says how long the stream is: fewer samples means the file was cut short.
      const total = Number(this.#lib.FLAC__stream_decoder_get_total_samples(h));
      if (total > 0 && this.#decoded < total) throw new FlacError('FLAC__stream_decoder_process_until_end_of_stream', null, `cut short: ${this.#decoded} of ${total} samples`);
    } finally {
      this.#lib.FLAC__stream_decoder_finish(h);
      this.#input = new Uint8Array(0);
    }
  }

  #h(): Pointer {
    if (this.#handle === null) throw new FlacError('FlacDecoder', null, 'FlacDecoder is closed');
    return this.#handle;
  }

  /** Idempotent. */
  close(): void {
    if (this.#handle === null) return;
    this.#lib.FLAC__stream_decoder_delete(this.#handle);
    this.#handle = null;
    this.#readCb.close();
    this.#writeCb.close();
    this.#errorCb.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}


/** FLAC__StreamEncoderState (stream_encoder.h), for messages. */
const ENCODER_STATES = [
  'ok',
  'uninitialized',
  'Ogg error',
  'verify decoder error',
  'verify mismatch in audio data',
  'client error (output buffer full)',
  'I/O error',
  'framing error',
  'out of memory',
];
/** FLAC__StreamEncoderInitStatus. */
const INIT_STATUSES = [
  'ok',
  'encoder error',
  'unsupported container (libFLAC built without Ogg)',
  'invalid callbacks',
  'invalid number of channels',
  'invalid bits per sample',
  'invalid sample rate',
  'invalid block size',
  'invalid max LPC order',
  'invalid QLP coefficient precision',
  'block size too small for the LPC order',
  'not streamable',
  'invalid metadata',
  'already initialized',
];

export interface FlacEncoderOptions {
  channels: number;
  /** 16 or 24 (FLAC allows 4–32; hark records these two). */
  bitsPerSample: 16 | 24;
  /** Default 48 000. */
  sampleRate?: number;
  /** Frames per FLAC frame (fixed block size); default 4096 (85 ms at 48 kHz, within the streamable subset). */
  blockSize?: number;
  /** 0 (fastest) – 8 (smallest); default 5, libFLAC's own default. */
  compressionLevel?: number;
  /** Ogg FLAC (libFLAC's own Ogg mapping) with this serial number, instead of native FLAC. */
  oggSerial?: number;
}

/** One write of the encoder: a frame of audio (samples > 0), a metadata block or an Ogg page. */
export interface FlacChunk {
  /** Copied out of C memory: owned by the caller. */
  data: Uint8Array;
  /** Frames of audio it carries; 0 for metadata. */
  samples: number;
}

// Only a warning: memory is freed by close(), never by the collector.
const leakWatch = new FinalizationRegistry<string>((what) => {
  console.warn(`[flac] a ${what} was garbage-collected without close(): its libFLAC state leaks`);
});

/** Bytes the sink holds between two reads: a few frames (a 4096-frame 8-channel 32-bit frame is ~131 kB). */
const SINK_BYTES = 1 << 20;
const SINK_ENTRIES = 256;

/**
 * One libFLAC stream encoder. The constructor initialises it, and `header` holds what libFLAC
 * wrote then ("fLaC", STREAMINFO with total samples 0 and MD5 0, a VORBIS_COMMENT with its vendor
 * string; for Ogg, the header pages). `encode()` takes interleaved integer samples and returns
 * the frames they completed: libFLAC holds one block back (it needs one sample past a block
 * before it codes it), so a frame comes out one block after its audio went in. `finish()` codes
 * what is held (a shorter last frame) and makes the encoder start a new stream (new header).
 */
export class FlacEncoder {
  #handle: Pointer | null;
  #sink: Pointer | null;
  readonly #lib = flac();
  readonly #shim = flacShim();
  readonly channels: number;
  readonly bitsPerSample: 16 | 24;
  readonly sampleRate: number;
  readonly blockSize: number;
  readonly #options: FlacEncoderOptions;
  #header: Uint8Array = new Uint8Array(0);

  constructor(options: FlacEncoderOptions) {
    const { channels, bitsPerSample } = options;
    const sampleRate = options.sampleRate ?? 48_000;
    const blockSize = options.blockSize ?? 4096;
    const level = options.compressionLevel ?? 5;
    if (!Number.isInteger(channels) || channels < 1 || channels > 8) throw new LibrarySettingError('channels', `FLAC carries 1–8 channels, got ${channels}`);
    if (bitsPerSample !== 16 && bitsPerSample !== 24) throw new LibrarySettingError('bitsPerSample', `16 or 24, got ${bitsPerSample}`);
    if (!Number.isInteger(sampleRate) || sampleRate < 1 || sampleRate > 655_350) throw new LibrarySettingError('sampleRate', `1–655350 Hz, got ${sampleRate}`);
    if (!Number.isInteger(blockSize) || blockSize < 16 || blockSize > 65_535) throw new LibrarySettingError('blockSize', `16–65535 frames, got ${blockSize}`);
    if (!Number.isInteger(level) || level < 0 || level > 8) throw new LibrarySettingError('compressionLevel', `0–8, got ${level}`);
    this.channels = channels;
    this.bitsPerSample = bitsPerSample;
    this.sampleRate = sampleRate;
    this.blockSize = blockSize;
    this.#options = { ...options, sampleRate, blockSize, compressionLevel: level };
    const h = this.#lib.FLAC__stream_encoder_new() as Pointer | null;
    if (!h) throw new FlacError('FLAC__stream_encoder_new', null, 'out of memory');
    this.#handle = h;
    const sink = this.#shim.hark_flac_sink_new(SINK_BYTES, SINK_ENTRIES) as Pointer | null;
    if (!sink) {
      this.#lib.FLAC__stream_encoder_delete(h);
      this.#handle = null;
      throw new FlacError('hark_flac_sink_new', null, 'out of memory');
    }
    this.#sink = sink;
    try {
      this.#init();
    } catch (e) {
      this.close();
      throw e;
    }
    leakWatch.register(this, 'FlacEncoder', this);
  }

  /** What libFLAC wrote when the current stream began (metadata, or the Ogg header pages). */
  get header(): Uint8Array {
    this.#h();
    return this.#header;
  }

  #init(): void {
    const h = this.#h();
    const o = this.#options;
    const lib = this.#lib;
    const set = (name: string, ok: number) => {
      if (!ok) throw new FlacError(name, null, 'refused (encoder already initialised?)');
    };
    set('FLAC__stream_encoder_set_channels', lib.FLAC__stream_encoder_set_channels(h, o.channels));
    set('FLAC__stream_encoder_set_bits_per_sample', lib.FLAC__stream_encoder_set_bits_per_sample(h, o.bitsPerSample));
    set('FLAC__stream_encoder_set_sample_rate', lib.FLAC__stream_encoder_set_sample_rate(h, o.sampleRate!));
    set('FLAC__stream_encoder_set_compression_level', lib.FLAC__stream_encoder_set_compression_level(h, o.compressionLevel!));
    // After the compression level, which sets a block size of its own.
    set('FLAC__stream_encoder_set_blocksize', lib.FLAC__stream_encoder_set_blocksize(h, o.blockSize!));
    set('FLAC__stream_encoder_set_streamable_subset', lib.FLAC__stream_encoder_set_streamable_subset(h, 1));
    set('FLAC__stream_encoder_set_verify', lib.FLAC__stream_encoder_set_verify(h, 0));
    this.#shim.hark_flac_sink_reset(this.#sink!);
    let status: number;
    if (o.oggSerial !== undefined) {
      set('FLAC__stream_encoder_set_ogg_serial_number', lib.FLAC__stream_encoder_set_ogg_serial_number(h, BigInt(o.oggSerial | 0)));
      status = lib.FLAC__stream_encoder_init_ogg_stream(h, null, this.#shim.write, null, null, null, this.#sink);
    } else {
      status = lib.FLAC__stream_encoder_init_stream(h, this.#shim.write, null, null, null, this.#sink);
    }
    if (status !== 0) throw new FlacError(o.oggSerial !== undefined ? 'FLAC__stream_encoder_init_ogg_stream' : 'FLAC__stream_encoder_init_stream', status, INIT_STATUSES[status] ?? 'init failed');
    const chunks = this.#take();
    let n = 0;
    for (const c of chunks) n += c.data.length;
    this.#header = new Uint8Array(n);
    n = 0;
    for (const c of chunks) {
      this.#header.set(c.data, n);
      n += c.data.length;
    }
  }

  /**
   * Encode `frames` interleaved frames of `pcm` (integers within bitsPerSample); returns the
   * chunks libFLAC wrote during the call (for native FLAC: whole frames, in order).
   */
  encode(pcm: Int32Array, frames: number): FlacChunk[] {
    const h = this.#h();
    if (!Number.isInteger(frames) || frames < 0 || frames * this.channels > pcm.length) throw new RangeError(`encode: ${frames} frames × ${this.channels} channels > ${pcm.length} samples`);
    if (frames === 0) return [];
    const ok = this.#lib.FLAC__stream_encoder_process_interleaved(h, pcm, frames);
    const out = this.#take();
    if (!ok) throw this.#stateError('FLAC__stream_encoder_process_interleaved');
    return out;
  }

  /** Code what is held back (a shorter last frame); the encoder then begins a new stream (see `header`). */
  finish(): FlacChunk[] {
    const h = this.#h();
    const ok = this.#lib.FLAC__stream_encoder_finish(h);
    const out = this.#take();
    if (!ok) throw this.#stateError('FLAC__stream_encoder_finish');
    this.#init();
    return out;
  }

  #stateError(operation: string): FlacError {
    const state = this.#lib.FLAC__stream_encoder_get_state(this.#h());
    return new FlacError(operation, state, ENCODER_STATES[state] ?? 'encoder failed');
  }

  /** Copy out what the write callback collected, and empty the sink. */
  #take(): FlacChunk[] {
    const s = this.#sink!;
    const shim = this.#shim;
    if (shim.hark_flac_sink_overflow(s)) throw new FlacError('hark_flac_write', null, 'output buffer full');
    const count = shim.hark_flac_sink_count(s);
    if (count === 0) return [];
    const len = shim.hark_flac_sink_len(s);
    const bytes = new Uint8Array(toArrayBuffer(shim.hark_flac_sink_buf(s) as Pointer, 0, len));
    const entries = new Uint32Array(toArrayBuffer(shim.hark_flac_sink_entries(s) as Pointer, 0, count * 8));
    const out: FlacChunk[] = [];
    let at = 0;
    for (let i = 0; i < count; i++) {
      const n = entries[i * 2]!;
      out.push({ data: bytes.slice(at, at + n), samples: entries[i * 2 + 1]! });
      at += n;
    }
    shim.hark_flac_sink_reset(s);
    return out;
  }

  #h(): Pointer {
    if (this.#handle === null) throw new FlacError('FlacEncoder', null, 'FlacEncoder is closed');
    return this.#handle;
  }

  /** Idempotent. Drops what is held back (call finish() first to keep it). */
  close(): void {
    leakWatch.unregister(this);
    if (this.#handle !== null) {
      this.#lib.FLAC__stream_encoder_delete(this.#handle);
      this.#handle = null;
    }
    if (this.#sink !== null) {
      this.#shim.hark_flac_sink_free(this.#sink);
      this.#sink = null;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
