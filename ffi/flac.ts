/**
 * libFLAC (libFLAC.so.12; Debian bookworm libflac12, trixie libflac14) bound with bun:ffi:
 * the dlopen table and the owner class FlacDecoder, which decodes a whole file held in memory.
 *
 * libFLAC's stream decoder pulls its input and pushes its output through callbacks
 * (FLAC/stream_decoder.h). They are JSCallbacks called on this thread, during
 * FLAC__stream_decoder_process_until_end_of_stream() — never from another thread.
 */
import { JSCallback, dlopen, read, toArrayBuffer, type Pointer } from 'bun:ffi';
import { LibraryCallError, LibraryLoadError } from './errors.ts';

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

