/**
 * FLAC: the Encoder over libFLAC (ffi/flac.ts), and the bytes around its frames that hark writes
 * itself — the stream header (RFC 9639 §8: "fLaC", STREAMINFO, VORBIS_COMMENT, PADDING), frame
 * renumbering, and the Ogg FLAC mapping (https://xiph.org/flac/ogg_mapping.html).
 *
 * One encoder's frames feed every file and every Icecast mount of the same setting, each of
 * which begins at some frame of a stream already under way. A FLAC frame is independent of the
 * others, but its header carries its frame number (fixed block size, RFC 9639 §9.1.5), so each
 * consumer renumbers the frames it writes from 0 (FlacFramer): every file and every chained Ogg
 * link is then a stream of its own, as if encoded alone, and a file's last frame header says how
 * long it is even when it was cut before its STREAMINFO could be filled in.
 */
import { FlacEncoder } from '../../ffi/flac.ts';
import type { Encoder, PacketSink } from './encoder.ts';
import { OGG_VENDOR, OggMuxer, type OggPageOptions, type OggTags } from './ogg.ts';

/** Frames per FLAC frame: 85 ms at 48 kHz, within the streamable subset (≤ 4608 at 48 kHz, RFC 9639 §7). */
export const FLAC_BLOCK_FRAMES = 4096;
const SAMPLE_RATE = 48_000;

export type FlacBitDepth = 16 | 24;

/**
 * A float sample (±1 full scale) as a `bits`-bit integer: x × 2^(bits−1), rounded to the nearest
 * (halves up, Math.round), clipped to the integer range; NaN is 0. A float32 made from a
 * 24-bit integer (x / 2^23) comes back exactly.
 */
export function quantise(x: number, bits: FlacBitDepth): number {
  const full = bits === 24 ? 8_388_608 : 32_768;
  const v = Math.round(x * full);
  if (v >= full) return full - 1;
  if (v < -full) return -full;
  return v === v ? v : 0;
}

/**
 * The FLAC Encoder: quantises interleaved float32 to 16 or 24 bits, feeds libFLAC one block at a
 * time and hands the sink one packet per FLAC frame (the frame as libFLAC numbered it: consumers
 * renumber, see FlacFramer). libFLAC holds a block back until the next one begins, so a packet
 * comes out one block (85 ms) after its audio went in. `pts` is the sample index of the frame's
 * first sample.
 */
export class FlacStreamEncoder implements Encoder {
  readonly codec = 'flac' as const;
  readonly channels: number;
  readonly bitsPerSample: FlacBitDepth;
  readonly frameSize = FLAC_BLOCK_FRAMES;
  readonly #encoder: FlacEncoder;
  readonly #sink: PacketSink;
  readonly #block: Int32Array;
  #filled = 0;
  #blockPts = 0;
  /** The pts of the blocks given to libFLAC whose frames have not come out yet (at most two). */
  readonly #queued: number[] = [];
  #closed = false;

  constructor(options: { channels: number; bitsPerSample: FlacBitDepth; compressionLevel?: number }, sink: PacketSink) {
    this.#encoder = new FlacEncoder({ channels: options.channels, bitsPerSample: options.bitsPerSample, blockSize: FLAC_BLOCK_FRAMES, sampleRate: SAMPLE_RATE, compressionLevel: options.compressionLevel ?? 5 });
    this.channels = options.channels;
    this.bitsPerSample = options.bitsPerSample;
    this.#block = new Int32Array(FLAC_BLOCK_FRAMES * this.channels);
    this.#sink = sink;
  }

  write(pcm: Float32Array, frames: number, pts: number): void {
    this.#assertOpen();
    const ch = this.channels;
    if (frames * ch > pcm.length) throw new RangeError(`write: ${frames} frames × ${ch} channels > ${pcm.length} samples`);
    const bits = this.bitsPerSample;
    const block = this.#block;
    let i = 0;
    const end = frames * ch;
    while (i < end) {
      if (this.#filled === 0) this.#blockPts = pts + i / ch;
      let j = this.#filled * ch;
      const n = Math.min(end - i, block.length - j);
      for (let k = 0; k < n; k++) block[j + k] = quantise(pcm[i + k]!, bits);
      i += n;
      j += n;
      this.#filled = j / ch;
      if (this.#filled === FLAC_BLOCK_FRAMES) {
        this.#queued.push(this.#blockPts);
        this.#emit(this.#encoder.encode(block, FLAC_BLOCK_FRAMES));
        this.#filled = 0;
      }
    }
  }

  /** Code what is held (the partial block too, as a shorter last frame); the next write begins a new FLAC stream. */
  flush(): void {
    this.#assertOpen();
    if (this.#filled > 0) {
      this.#queued.push(this.#blockPts);
      this.#emit(this.#encoder.encode(this.#block, this.#filled));
      this.#filled = 0;
    }
    this.#emit(this.#encoder.finish());
    this.#queued.length = 0;
  }

  #emit(chunks: readonly { data: Uint8Array; samples: number }[]): void {
    for (const c of chunks) {
      if (c.samples === 0) continue;
      const pts = this.#queued.shift() ?? 0;
      this.#sink({ data: c.data, pts, frames: c.samples });
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('FlacStreamEncoder is closed');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#encoder.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The stream header (RFC 9639 §8)

export interface FlacStreamInfo {
  channels: number;
  bitsPerSample: number;
  sampleRate?: number;
  /** Fixed block size of the frames (STREAMINFO min = max). */
  blockSize?: number;
  /** Samples per channel; 0: unknown (a stream being written). */
  totalSamples?: number;
}

/** Bytes from the start of a hark FLAC file to STREAMINFO's body ("fLaC" + the block header). */
export const STREAMINFO_AT = 8;
const BLOCK_STREAMINFO = 0;
const BLOCK_PADDING = 1;
const BLOCK_VORBIS_COMMENT = 4;

/** The 34-byte STREAMINFO body (RFC 9639 §8.2): frame sizes unknown (0), MD5 unset (0). */
export function streamInfo(info: FlacStreamInfo): Uint8Array {
  const b = new Uint8Array(34);
  const v = new DataView(b.buffer);
  const block = info.blockSize ?? FLAC_BLOCK_FRAMES;
  const rate = info.sampleRate ?? SAMPLE_RATE;
  const total = info.totalSamples ?? 0;
  v.setUint16(0, block);
  v.setUint16(2, block);
  // bytes 4–9: min and max frame size, 24 bits each: 0 (unknown)
  // 20 bits sample rate, 3 bits channels − 1, 5 bits bits per sample − 1, 36 bits total samples.
  b[10] = (rate >> 12) & 0xff;
  b[11] = (rate >> 4) & 0xff;
  b[12] = ((rate & 0x0f) << 4) | (((info.channels - 1) & 7) << 1) | (((info.bitsPerSample - 1) >> 4) & 1);
  b[13] = (((info.bitsPerSample - 1) & 0x0f) << 4) | (Math.floor(total / 2 ** 32) & 0x0f);
  v.setUint32(14, total >>> 0);
  // bytes 18–33: MD5 of the audio: 0 (not computed; a stream being written cannot know it)
  return b;
}

/** The total samples a STREAMINFO body says (0: unknown). */
export function streamInfoTotal(body: Uint8Array): number {
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return (body[13]! & 0x0f) * 2 ** 32 + v.getUint32(14);
}

/** The VORBIS_COMMENT body (RFC 9639 §8.6): little-endian lengths, like OpusTags without the magic. */
export function vorbisComment(tags: OggTags = {}, vendor = OGG_VENDOR): Uint8Array {
  const enc = new TextEncoder();
  const comments: Uint8Array[] = [];
  for (const [name, value] of Object.entries(tags)) {
    if (!/^[\x20-\x3c\x3e-\x7d]+$/.test(name)) throw new RangeError(`tag name "${name}" is not a Vorbis comment field name`);
    for (const v of typeof value === 'string' ? [value] : value) comments.push(enc.encode(`${name}=${v}`));
  }
  const vendorBytes = enc.encode(vendor);
  let size = 4 + vendorBytes.length + 4;
  for (const c of comments) size += 4 + c.length;
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  v.setUint32(0, vendorBytes.length, true);
  b.set(vendorBytes, 4);
  let o = 4 + vendorBytes.length;
  v.setUint32(o, comments.length, true);
  o += 4;
  for (const c of comments) {
    v.setUint32(o, c.length, true);
    b.set(c, o + 4);
    o += 4 + c.length;
  }
  return b;
}

/** A metadata block: 1 bit last, 7 bits type, 24 bits length, then the body (RFC 9639 §8.1). */
function metadataBlock(type: number, body: Uint8Array, last: boolean): Uint8Array {
  if (body.length >= 1 << 24) throw new RangeError(`metadata block of ${body.length} bytes`);
  const b = new Uint8Array(4 + body.length);
  b[0] = (last ? 0x80 : 0) | type;
  b[1] = body.length >> 16;
  b[2] = (body.length >> 8) & 0xff;
  b[3] = body.length & 0xff;
  b.set(body, 4);
  return b;
}

/**
 * A native FLAC stream's header: "fLaC", STREAMINFO (at STREAMINFO_AT, so it can be filled in
 * later), VORBIS_COMMENT with `tags`, and `padding` bytes of PADDING (room to add tags later
 * without rewriting the file).
 */
export function flacFileHeader(info: FlacStreamInfo, tags: OggTags = {}, padding = 0): Uint8Array {
  const blocks = [metadataBlock(BLOCK_STREAMINFO, streamInfo(info), false), metadataBlock(BLOCK_VORBIS_COMMENT, vorbisComment(tags), padding <= 0)];
  if (padding > 0) blocks.push(metadataBlock(BLOCK_PADDING, new Uint8Array(padding), true));
  let n = 4;
  for (const b of blocks) n += b.length;
  const out = new Uint8Array(n);
  out.set([0x66, 0x4c, 0x61, 0x43], 0); // "fLaC"
  let o = 4;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Frames (RFC 9639 §9)

const CRC8 = (() => {
  // RFC 9639 §9.1.8: CRC-8, polynomial x^8 + x^2 + x + 1 (0x07), initial 0.
  const t = new Uint8Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i;
    for (let b = 0; b < 8; b++) r = r & 0x80 ? ((r << 1) ^ 0x07) & 0xff : (r << 1) & 0xff;
    t[i] = r;
  }
  return t;
})();
const CRC16 = (() => {
  // RFC 9639 §9.3: CRC-16, polynomial x^16 + x^15 + x^2 + 1 (0x8005), initial 0.
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 8;
    for (let b = 0; b < 8; b++) r = r & 0x8000 ? ((r << 1) ^ 0x8005) & 0xffff : (r << 1) & 0xffff;
    t[i] = r;
  }
  return t;
})();

function crc8(b: Uint8Array, start: number, end: number): number {
  let c = 0;
  for (let i = start; i < end; i++) c = CRC8[c ^ b[i]!]!;
  return c;
}

function crc16(b: Uint8Array, start: number, end: number, c = 0): number {
  for (let i = start; i < end; i++) c = ((c << 8) & 0xffff) ^ CRC16[(c >> 8) ^ b[i]!]!;
  return c;
}

/** The "UTF-8" coded number of a frame header (RFC 9639 §9.1.5), up to 36 bits. */
function codedNumber(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes = n < 0x800 ? 2 : n < 0x10000 ? 3 : n < 0x200000 ? 4 : n < 0x4000000 ? 5 : n < 0x80000000 ? 6 : 7;
  const out = new Uint8Array(bytes);
  let rest = n;
  for (let i = bytes - 1; i > 0; i--) {
    out[i] = 0x80 | (rest % 64);
    rest = Math.floor(rest / 64);
  }
  out[0] = bytes === 7 ? 0xfe : ((0xff00 >> bytes) & 0xff) | rest;
  return out;
}

/** The length of a coded number from its first byte, or 0 if that byte cannot start one. */
function codedLength(first: number): number {
  if (first < 0x80) return 1;
  if (first < 0xc0) return 0;
  if (first < 0xe0) return 2;
  if (first < 0xf0) return 3;
  if (first < 0xf8) return 4;
  if (first < 0xfc) return 5;
  if (first < 0xfe) return 6;
  return first === 0xfe ? 7 : 0;
}

function decodeCoded(b: Uint8Array, at: number, len: number): number {
  if (len === 1) return b[at]!;
  let n = len === 7 ? 0 : b[at]! & (0x7f >> len);
  for (let i = 1; i < len; i++) n = n * 64 + (b[at + i]! & 0x3f);
  return n;
}

export interface FlacFrameHeader {
  /** Frame number (fixed block size) or first sample number (variable). */
  number: number;
  variable: boolean;
  /** Samples per channel in this frame. */
  blockSize: number;
  /** Bytes of the header, CRC-8 included. */
  length: number;
}

/**
 * The frame header at `at` (RFC 9639 §9.1), checked by its CRC-8; null if there is none there
 * (or it is cut short by the end of `b`).
 */
export function parseFrameHeader(b: Uint8Array, at = 0): FlacFrameHeader | null {
  if (at + 6 > b.length || b[at] !== 0xff || (b[at + 1]! & 0xfe) !== 0xf8) return null;
  const bsCode = b[at + 2]! >> 4;
  const srCode = b[at + 2]! & 0x0f;
  if (bsCode === 0 || srCode === 0x0f || (b[at + 3]! >> 4) > 10 || (b[at + 3]! & 0x01) !== 0) return null;
  const clen = codedLength(b[at + 4]!);
  if (clen === 0) return null;
  let o = at + 4 + clen;
  let blockSize: number;
  if (bsCode === 1) blockSize = 192;
  else if (bsCode <= 5) blockSize = 576 << (bsCode - 2);
  else if (bsCode === 6) blockSize = (b[o++] ?? 0) + 1;
  else if (bsCode === 7) {
    blockSize = (((b[o] ?? 0) << 8) | (b[o + 1] ?? 0)) + 1;
    o += 2;
  } else blockSize = 256 << (bsCode - 8);
  if (srCode === 0x0c) o += 1;
  else if (srCode === 0x0d || srCode === 0x0e) o += 2;
  if (o >= b.length || crc8(b, at, o) !== b[o]) return null;
  for (let i = 1; i < clen; i++) if ((b[at + 4 + i]! & 0xc0) !== 0x80) return null;
  return { number: decodeCoded(b, at + 4, clen), variable: (b[at + 1]! & 1) === 1, blockSize, length: o + 1 - at };
}

/**
 * The frame with its frame number replaced by `n` (fixed block size frames only), its CRC-8 and
 * CRC-16 computed again. Throws on bytes that are not a frame.
 */
export function renumberFrame(frame: Uint8Array, n: number): Uint8Array {
  const h = parseFrameHeader(frame);
  if (!h || h.variable) throw new RangeError('not a fixed-block-size FLAC frame');
  const clen = codedLength(frame[4]!);
  const coded = codedNumber(n);
  const tail = h.length - 1 - (4 + clen); // block size / sample rate bytes after the number
  const out = new Uint8Array(frame.length - clen + coded.length);
  out.set(frame.subarray(0, 4), 0);
  out.set(coded, 4);
  out.set(frame.subarray(4 + clen, 4 + clen + tail), 4 + coded.length);
  const hEnd = 4 + coded.length + tail;
  out[hEnd] = crc8(out, 0, hEnd);
  out.set(frame.subarray(h.length, frame.length - 2), hEnd + 1);
  const c = crc16(out, 0, out.length - 2);
  out[out.length - 2] = c >> 8;
  out[out.length - 1] = c & 0xff;
  return out;
}

/**
 * Numbers the frames of one FLAC stream from `first` (a file, an Ogg link) and counts its samples.
 */
export class FlacFramer {
  #next: number;
  /** Samples per channel in the frames so far (from `first` on: first × block size before). */
  samples: number;

  constructor(first = 0, blockSize = FLAC_BLOCK_FRAMES) {
    this.#next = first;
    this.samples = first * blockSize;
  }

  /** The frame numbered for this stream. */
  frame(data: Uint8Array, frames: number): Uint8Array {
    const out = renumberFrame(data, this.#next++);
    this.samples += frames;
    return out;
  }
}

/**
 * The end of a FLAC stream held in `tail` (the last bytes of a file): the number of samples up to
 * the end of its last whole frame, from that frame's header (its frame number × the block size
 * plus its own), or null when no frame header is found. A frame cut short by a crash is skipped:
 * it must be followed by another header or end exactly at the end of `tail` with a good CRC-16.
 */
export function samplesFromTail(tail: Uint8Array, blockSize = FLAC_BLOCK_FRAMES): number | null {
  return lastWholeFrame(tail, blockSize)?.samples ?? null;
}

/**
 * The last whole frame in `tail`: the samples up to its end (as samplesFromTail), its number, and
 * where in `tail` it ends (what follows is a frame cut short, or nothing).
 */
export function lastWholeFrame(tail: Uint8Array, blockSize = FLAC_BLOCK_FRAMES): { samples: number; number: number; end: number } | null {
  let best: { h: FlacFrameHeader; end: number } | null = null;
  let prev: { h: FlacFrameHeader; at: number } | null = null;
  for (let at = 0; at + 6 <= tail.length; at++) {
    if (tail[at] !== 0xff) continue;
    const h = parseFrameHeader(tail, at);
    if (!h || h.variable) continue;
    // A whole frame ends where the next begins: the previous header's frame is complete if its CRC-16 checks.
    if (prev && crc16(tail, prev.at, at) === 0) best = { h: prev.h, end: at };
    prev = { h, at };
  }
  if (prev && crc16(tail, prev.at, tail.length) === 0) best = { h: prev.h, end: tail.length };
  return best ? { samples: best.h.number * blockSize + best.h.blockSize, number: best.h.number, end: best.end } : null;
}

// ---------------------------------------------------------------------------------------------
// Ogg FLAC (https://xiph.org/flac/ogg_mapping.html)

export interface OggFlacOptions extends OggPageOptions {
  channels: number;
  bitsPerSample: FlacBitDepth;
  tags?: OggTags;
}

/**
 * Muxes FLAC frames into Ogg pages per the Ogg FLAC mapping: the first packet is 0x7F "FLAC",
 * version 1.0, the number of header packets that follow (1: VORBIS_COMMENT), "fLaC" and the
 * STREAMINFO block, alone on the BOS page; then VORBIS_COMMENT (the last metadata block) on a
 * page of its own; then one FLAC frame per packet, granule = samples up to the page's last
 * frame. Frames are renumbered from 0 in each logical stream; newChain() starts another (a new
 * title) whose frames start from 0 again.
 */
export class OggFlacMuxer extends OggMuxer {
  readonly channels: number;
  readonly bitsPerSample: FlacBitDepth;
  #framer = new FlacFramer();

  constructor(options: OggFlacOptions) {
    const info: FlacStreamInfo = { channels: options.channels, bitsPerSample: options.bitsPerSample };
    super(options, (tags) => {
      const first = new Uint8Array(13 + 38);
      first.set([0x7f, 0x46, 0x4c, 0x41, 0x43, 1, 0, 0, 1, 0x66, 0x4c, 0x61, 0x43], 0); // 0x7F "FLAC" 1.0, 1 header packet, "fLaC"
      first.set(metadataBlock(BLOCK_STREAMINFO, streamInfo(info), false), 13);
      return [first, metadataBlock(BLOCK_VORBIS_COMMENT, vorbisComment(tags), true)];
    });
    this.channels = options.channels;
    this.bitsPerSample = options.bitsPerSample;
  }

  /** Add one FLAC frame (as the encoder numbered it) of `frames` samples. */
  override writePacket(frame: Uint8Array, frames: number): readonly Uint8Array[] {
    return super.writePacket(this.#framer.frame(frame, frames), frames);
  }

  override newChain(tags: OggTags, options: { serial?: number } = {}): readonly Uint8Array[] {
    const pages = super.newChain(tags, options);
    this.#framer = new FlacFramer();
    return pages;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading a FLAC stream back, a chunk at a time (range downloads)

/** What a FLAC stream's STREAMINFO says, for the reader's caller. */
export interface FlacStreamParams {
  channels: number;
  bitsPerSample: number;
  sampleRate: number;
  totalSamples: number;
}

/** The STREAMINFO fields of a stream that begins with "fLaC" and STREAMINFO, or null. */
export function readStreamInfo(head: Uint8Array): FlacStreamParams | null {
  if (head.length < STREAMINFO_AT + 34 || head[0] !== 0x66 || head[1] !== 0x4c || head[2] !== 0x61 || head[3] !== 0x43 || (head[4]! & 0x7f) !== BLOCK_STREAMINFO) return null;
  const b = head.subarray(STREAMINFO_AT, STREAMINFO_AT + 34);
  return {
    sampleRate: (b[10]! << 12) | (b[11]! << 4) | (b[12]! >> 4),
    channels: ((b[12]! >> 1) & 7) + 1,
    bitsPerSample: (((b[12]! & 1) << 4) | (b[13]! >> 4)) + 1,
    totalSamples: streamInfoTotal(b),
  };
}

/** A frame can be no longer than this here (8 channels × 4096 × 32 bits, uncoded, and then some). */
const MAX_FRAME_BYTES = 160 * 1024;

/**
 * Splits a FLAC stream into its frames as its bytes arrive: the metadata blocks are passed over,
 * then each frame ends where the next one's header begins (a valid header with the next frame
 * number, the frame's CRC-16 checking). A frame cut short at the end (a crash) is dropped by
 * end(); bytes that are no frame are skipped. Memory stays within a few frames.
 */
export class FlacFrameReader {
  #buf: Uint8Array = new Uint8Array(0);
  /** Where in #buf the metadata ends (-1: not yet known). */
  #audio = -1;
  /** Where in #buf the next frame begins, and where the search for its end goes on. */
  #at = 0;
  #scan = 0;

  /** The frames completed by this chunk. */
  feed(chunk: Uint8Array): Uint8Array[] {
    const b = this.#buf.length > this.#at ? concatBytes(this.#buf.subarray(this.#at), chunk) : chunk;
    this.#scan = Math.max(0, this.#scan - this.#at);
    this.#at = 0;
    this.#buf = b;
    const out: Uint8Array[] = [];
    if (this.#audio < 0 && !this.#metadata()) return out;
    for (;;) {
      const h = parseFrameHeader(b, this.#at);
      if (!h) {
        // Not at a frame: skip to the next header (damage, or the file began mid-frame).
        const next = this.#nextHeader(this.#at + 1, null);
        if (next < 0) {
          this.#at = Math.max(this.#at, b.length - 32);
          this.#scan = this.#at;
          return out;
        }
        this.#at = next;
        this.#scan = next;
        continue;
      }
      const end = this.#nextFrame(h);
      if (end < 0) {
        if (b.length - this.#at > MAX_FRAME_BYTES) {
          // No end found within what a frame can hold: this header was a false one.
          this.#at++;
          this.#scan = this.#at;
          continue;
        }
        return out;
      }
      out.push(b.slice(this.#at, end));
      this.#at = end;
      this.#scan = end;
    }
  }

  /** The last frame, if it is whole (its CRC-16 checks to the end of the stream). */
  end(): Uint8Array[] {
    const b = this.#buf;
    if (this.#audio < 0 || this.#at >= b.length || !parseFrameHeader(b, this.#at)) return [];
    return crc16(b, this.#at, b.length) === 0 ? [b.slice(this.#at)] : [];
  }

  /** Pass over "fLaC" and the metadata blocks; false while they are not all here. */
  #metadata(): boolean {
    const b = this.#buf;
    if (b.length < 4) return false;
    if (b[0] !== 0x66 || b[1] !== 0x4c || b[2] !== 0x61 || b[3] !== 0x43) {
      // No stream header: frames only.
      this.#audio = 0;
      return true;
    }
    let o = 4;
    for (;;) {
      if (o + 4 > b.length) return false;
      const last = (b[o]! & 0x80) !== 0;
      o += 4 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
      if (o > b.length) return false;
      if (last) break;
    }
    this.#audio = o;
    this.#at = o;
    this.#scan = o;
    return true;
  }

  /** Where the frame at #at ends: the next header numbered after it with the CRC-16 checking up to it; -1 if not here yet. */
  #nextFrame(h: FlacFrameHeader): number {
    const b = this.#buf;
    let from = Math.max(this.#scan, this.#at + h.length + 2);
    for (;;) {
      const q = this.#nextHeader(from, h.number + 1);
      if (q < 0) {
        this.#scan = Math.max(this.#at, b.length - 32);
        return -1;
      }
      if (crc16(b, this.#at, q) === 0) return q;
      from = q + 1;
    }
  }

  /** The next offset ≥ from holding a valid frame header (numbered `number`, if given), or -1. */
  #nextHeader(from: number, number: number | null): number {
    const b = this.#buf;
    for (let q = from; q + 6 <= b.length; q++) {
      if (b[q] !== 0xff || (b[q + 1]! & 0xfe) !== 0xf8) continue;
      const h = parseFrameHeader(b, q);
      if (h && (number === null || h.number === number)) return q;
    }
    return -1;
  }
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
