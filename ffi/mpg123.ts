/**
 * libmpg123 (libmpg123.so.0; Debian bookworm libmpg123-0, trixie libmpg123-0t64) bound with
 * bun:ffi: the dlopen table and the owner class Mpg123Decoder, which decodes MPEG audio held
 * in memory through the feed API (mpg123_open_feed, mpg123_feed, mpg123_read): no callbacks,
 * no file opened by the library.
 */
import { dlopen, ptr, type Pointer } from 'bun:ffi';
import { LibraryCallError, LibraryLoadError } from './errors.ts';

const SONAME = 'libmpg123.so.0';
const DEBIAN_PACKAGE = 'libmpg123-0t64';

// mpg123.h
const MPG123_OK = 0;
const MPG123_DONE = -12;
const MPG123_NEW_FORMAT = -11;
const MPG123_NEED_MORE = -10;
const MPG123_ADD_FLAGS = 2;
const MPG123_RESYNC_LIMIT = 14;
const MPG123_QUIET = 0x20;
const MPG123_FORCE_FLOAT = 0x400;
/** fmt123.h MPG123_ENC_FLOAT_32. */
const MPG123_ENC_FLOAT_32 = 0x200;
/** Bytes fed per mpg123_feed call. */
const FEED_BYTES = 64 * 1024;
/** Output buffer: a few MPEG frames of float stereo. */
const OUT_BYTES = 1152 * 2 * 4 * 8;

export class Mpg123Error extends LibraryCallError {
  override readonly name = 'Mpg123Error';
}

export class Mpg123LoadError extends LibraryLoadError {
  override readonly name = 'Mpg123LoadError';
  constructor(cause: unknown) {
    super(SONAME, DEBIAN_PACKAGE, cause);
  }
}

function open() {
  let lib;
  try {
    lib = dlopen(SONAME, {
      // Library-wide set-up (a no-op since 1.27); nothing to free.
      mpg123_init: { args: [], returns: 'i32' },
      // Returns a handle the caller frees with mpg123_delete; error points at our Int32Array.
      mpg123_new: { args: ['ptr', 'ptr'], returns: 'ptr' },
      // Frees the handle from mpg123_new.
      mpg123_delete: { args: ['ptr'], returns: 'void' },
      // mh borrowed.
      mpg123_param: { args: ['ptr', 'i32', 'i64', 'f64'], returns: 'i32' },
      // mh borrowed.
      mpg123_open_feed: { args: ['ptr'], returns: 'i32' },
      // mh borrowed; in is ours, copied by the library during the call.
      mpg123_feed: { args: ['ptr', 'ptr', 'u64'], returns: 'i32' },
      // mh borrowed; out and done are ours, written during the call.
      mpg123_read: { args: ['ptr', 'ptr', 'u64', 'ptr'], returns: 'i32' },
      // mh borrowed; rate (long), channels, encoding (int) are ours, written during the call.
      mpg123_getformat: { args: ['ptr', 'ptr', 'ptr', 'ptr'], returns: 'i32' },
      // mh borrowed.
      mpg123_close: { args: ['ptr'], returns: 'i32' },
      // Returns a static string; nothing to free.
      mpg123_plain_strerror: { args: ['i32'], returns: 'cstring' },
      // mh borrowed; returns the handle's last error code.
      mpg123_errcode: { args: ['ptr'], returns: 'i32' },
    });
  } catch (e) {
    throw new Mpg123LoadError(e);
  }
  lib.symbols.mpg123_init();
  return lib.symbols;
}

let loaded: ReturnType<typeof open> | undefined;
function mpg123(): ReturnType<typeof open> {
  return (loaded ??= open());
}

export interface Mpg123Block {
  rate: number;
  channels: number;
  /** Interleaved float. */
  samples: Float32Array;
  frames: number;
}

/** One mpg123 handle in feed mode, float output. */
export class Mpg123Decoder {
  #handle: Pointer | null;
  readonly #lib = mpg123();
  readonly #out = new Float32Array(OUT_BYTES / 4);
  readonly #outPtr = ptr(this.#out);
  readonly #done = new BigUint64Array(1);
  readonly #rate = new BigInt64Array(1);
  readonly #channels = new Int32Array(1);
  readonly #encoding = new Int32Array(1);
  readonly #err = new Int32Array(1);
  #fmt = { rate: 0, channels: 0 };

  constructor() {
    const h = this.#lib.mpg123_new(null, this.#err) as Pointer | null;
    if (!h) throw new Mpg123Error('mpg123_new', this.#err[0]!, this.#strerror(this.#err[0]!));
    this.#handle = h;
    this.#check('mpg123_param', this.#lib.mpg123_param(h, MPG123_ADD_FLAGS, BigInt(MPG123_FORCE_FLOAT | MPG123_QUIET), 0));
    // Give up on a stream after 64 KiB of garbage instead of searching all of it.
    this.#lib.mpg123_param(h, MPG123_RESYNC_LIMIT, 65536n, 0);
    this.#check('mpg123_open_feed', this.#lib.mpg123_open_feed(h));
  }

  #strerror(code: number): string {
    return String(this.#lib.mpg123_plain_strerror(code));
  }

  #check(op: string, code: number): void {
    if (code !== MPG123_OK) throw new Mpg123Error(op, code, this.#strerror(code));
  }

  /**
   * Decode all of `input`, handing each block to `onBlock` (return false to stop). Returns the
   * frames decoded. Throws Mpg123Error on a stream libmpg123 refuses.
   */
  decode(input: Uint8Array, onBlock: (b: Mpg123Block) => boolean): number {
    const h = this.#h();
    let at = 0;
    // The format is the stream's, not the call's: a stream fed in pieces (a TS demuxer's PES
    // payloads) announces it once, in the first call.
    let rate = this.#fmt.rate;
    let channels = this.#fmt.channels;
    let total = 0;
    for (;;) {
      const r = this.#lib.mpg123_read(h, this.#outPtr, BigInt(OUT_BYTES), this.#done);
      const bytes = Number(this.#done[0]!);
      if (r === MPG123_NEW_FORMAT) {
        this.#check('mpg123_getformat', this.#lib.mpg123_getformat(h, this.#rate, this.#channels, this.#encoding));
        rate = Number(this.#rate[0]!);
        channels = this.#channels[0]!;
        if (this.#encoding[0] !== MPG123_ENC_FLOAT_32) throw new Mpg123Error('mpg123_getformat', null, `unexpected sample encoding ${this.#encoding[0]}`);
        this.#fmt = { rate, channels };
        continue;
      }
      if (bytes > 0 && channels > 0) {
        const frames = Math.floor(bytes / 4 / channels);
        total += frames;
        if (!onBlock({ rate, channels, samples: this.#out, frames })) return total;
      }
      if (r === MPG123_OK) continue;
      if (r === MPG123_DONE) return total;
      if (r === MPG123_NEED_MORE) {
        if (at >= input.length) return total;
        const n = Math.min(FEED_BYTES, input.length - at);
        this.#check('mpg123_feed', this.#lib.mpg123_feed(h, input.subarray(at, at + n), BigInt(n)));
        at += n;
        continue;
      }
      throw new Mpg123Error('mpg123_read', r, this.#strerror(r === -1 ? this.#lib.mpg123_errcode(h) : r));
    }
  }

  #h(): Pointer {
    if (this.#handle === null) throw new Mpg123Error('Mpg123Decoder', null, 'Mpg123Decoder is closed');
    return this.#handle;
  }

  /** Idempotent. */
  close(): void {
    if (this.#handle === null) return;
    this.#lib.mpg123_close(this.#handle);
    this.#lib.mpg123_delete(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
