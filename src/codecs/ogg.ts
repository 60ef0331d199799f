/**
 * Ogg encapsulation: pages per RFC 3533 (OggMuxer), the Opus mapping per RFC 7845
 * (OggOpusMuxer); the FLAC mapping is in flac.ts. Pure TypeScript; used for Icecast
 * ogg-opus and ogg-flac, recordings and tests.
 */

/** Vendor string written into OpusTags (RFC 7845 §5.2). */
export const OGG_VENDOR = 'hark';

const HEADER_BYTES = 27; // RFC 3533 §6: fixed page header up to the segment table
const MAX_SEGMENTS = 255;
const SEGMENT = 255;
const MAX_PAGE_DATA = MAX_SEGMENTS * SEGMENT;

const FLAG_CONTINUED = 0x01;
const FLAG_BOS = 0x02;
const FLAG_EOS = 0x04;

const CRC_TABLE = (() => {
  // RFC 3533 §6 (and libogg framing.c): CRC-32, generator 0x04c11db7, MSB first, initial
  // value 0, no final XOR, computed over the whole page with the CRC field zeroed.
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let b = 0; b < 8; b++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** The Ogg page checksum of `bytes` (with its CRC field zeroed, if it is a page). */
export function oggCrc(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ bytes[i]!) & 0xff]!) >>> 0;
  return crc;
}

/** Vorbis-comment style tags (RFC 7845 §5.2): field name → value(s). Names are case-insensitive ASCII. */
export type OggTags = Readonly<Record<string, string | readonly string[]>>;

export interface OggOpusOptions extends OggPageOptions {
  /** 1 or 2: channel mapping family 0 (RFC 7845 §5.1.1.1). */
  channels: number;
  /** Samples at 48 kHz to discard at the start: the encoder's lookahead (RFC 7845 §4.2). */
  preSkip: number;
  tags?: OggTags;
  /** Informational input rate for OpusHead; default 48000. */
  inputSampleRate?: number;
  /** Output gain in dB for OpusHead (stored Q7.8); default 0. */
  outputGainDb?: number;
}

const NO_PAGES: readonly Uint8Array[] = Object.freeze([]);

function randomSerial(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

/** The OpusHead identification header (RFC 7845 §5.1). */
export function opusHead(channels: number, preSkip: number, inputSampleRate = 48_000, outputGainDb = 0): Uint8Array {
  if (channels !== 1 && channels !== 2) throw new RangeError(`channels ${channels}: mapping family 0 carries 1 or 2`);
  if (!Number.isInteger(preSkip) || preSkip < 0 || preSkip > 0xffff) throw new RangeError(`preSkip ${preSkip} is not a u16`);
  const gain = Math.round(outputGainDb * 256);
  if (gain < -32768 || gain > 32767) throw new RangeError(`outputGainDb ${outputGainDb} does not fit Q7.8`);
  const b = new Uint8Array(19);
  const v = new DataView(b.buffer);
  b.set(new TextEncoder().encode('OpusHead'), 0);
  b[8] = 1; // version
  b[9] = channels;
  v.setUint16(10, preSkip, true);
  v.setUint32(12, inputSampleRate, true);
  v.setInt16(16, gain, true);
  b[18] = 0; // channel mapping family 0: mono or L/R stereo, no mapping table
  return b;
}

/** The OpusTags comment header (RFC 7845 §5.2): vendor string then "NAME=value" comments. */
export function opusTags(tags: OggTags = {}, vendor = OGG_VENDOR): Uint8Array {
  const enc = new TextEncoder();
  const comments: Uint8Array[] = [];
  for (const [name, value] of Object.entries(tags)) {
    // Field names: printable ASCII 0x20–0x7D except '=' (Vorbis I spec §5.2.3, cited by RFC 7845 §5.2).
    if (!/^[\x20-\x3c\x3e-\x7d]+$/.test(name)) throw new RangeError(`tag name "${name}" is not a Vorbis comment field name`);
    for (const v of typeof value === 'string' ? [value] : value) comments.push(enc.encode(`${name}=${v}`));
  }
  const vendorBytes = enc.encode(vendor);
  let size = 8 + 4 + vendorBytes.length + 4;
  for (const c of comments) size += 4 + c.length;
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  b.set(enc.encode('OpusTags'), 0);
  let o = 8;
  v.setUint32(o, vendorBytes.length, true);
  b.set(vendorBytes, o + 4);
  o += 4 + vendorBytes.length;
  v.setUint32(o, comments.length, true);
  o += 4;
  for (const c of comments) {
    v.setUint32(o, c.length, true);
    b.set(c, o + 4);
    o += 4 + c.length;
  }
  return b;
}

/** Page sizing and the first serial, for any codec's muxer. */
export interface OggPageOptions {
  /** Serial number of the first logical stream; random by default. */
  serial?: number;
  /**
   * A page is closed before it would hold more than this much audio; default 100 ms. Live
   * listeners wait for whole pages, so this bounds the muxing latency (plus one packet).
   */
  maxPageMs?: number;
  /** A page is closed before its data would exceed this many bytes; default 4096. */
  maxPageBytes?: number;
}

/**
 * Muxes a codec's packets into Ogg pages (RFC 3533). Every method returns the pages it
 * completed (often none), each a fresh Uint8Array the caller owns. The first call emits the
 * header pages first. `headerPackets(tags)` gives the codec's header packets for a logical
 * stream: the first goes alone on the BOS page, each other one finishes a page of its own
 * (RFC 7845 §3 for Opus; the Ogg FLAC mapping likewise), all with granule position 0.
 *
 * Granule positions count 48 kHz samples from the start of the logical stream.
 */
export class OggMuxer {
  readonly maxPageFrames: number;
  readonly maxPageBytes: number;
  readonly #headerPackets: (tags: OggTags) => readonly Uint8Array[];
  #serial: number;
  #sequence = 0;
  #granule = 0;
  #headers: readonly Uint8Array[] = [];
  #headersSent = false;
  #ended = false;
  #tags: OggTags;
  // The page being filled: its lacing values and data, copied in as packets arrive.
  readonly #lacing = new Uint8Array(MAX_SEGMENTS);
  readonly #data = new Uint8Array(MAX_PAGE_DATA);
  #segments = 0;
  #bytes = 0;
  #pageFrames = 0;
  #packetsEnded = 0;
  #pendingGranule = 0;
  #continued = false;
  #out: Uint8Array[] = [];

  constructor(options: OggPageOptions & { tags?: OggTags }, headerPackets: (tags: OggTags) => readonly Uint8Array[]) {
    this.#headerPackets = headerPackets;
    this.#tags = options.tags ?? {};
    this.#serial = (options.serial ?? randomSerial()) >>> 0;
    const ms = options.maxPageMs ?? 100;
    if (!(ms > 0)) throw new RangeError(`maxPageMs ${ms} must be > 0`);
    this.maxPageFrames = Math.round(ms * 48);
    this.maxPageBytes = Math.min(options.maxPageBytes ?? 4096, MAX_PAGE_DATA);
    if (!(this.maxPageBytes > 0)) throw new RangeError(`maxPageBytes ${options.maxPageBytes} must be > 0`);
    this.#buildHeaders();
  }

  /** Serial number of the current logical stream. */
  get serial(): number {
    return this.#serial;
  }

  /** Granule position after the last packet written (48 kHz samples; for Opus incl. pre-skip). */
  get granule(): number {
    return this.#granule;
  }

  /**
   * The current logical stream's header pages (OpusHead, OpusTags; FLAC's), for a listener joining
   * mid-stream. They are also emitted once, in order, ahead of the first audio page.
   */
  get headerPages(): readonly Uint8Array[] {
    return this.#headers;
  }

  /** Add one packet that decodes to `frames` samples per channel at 48 kHz. */
  writePacket(packet: Uint8Array, frames: number): readonly Uint8Array[] {
    this.#assertOpen();
    this.#emitHeaders();
    // Close the page first if this packet would take it past the duration, byte or lacing
    // limit, so a page ends on a packet boundary and end() always has a packet to mark EOS on.
    const segs = Math.floor(packet.length / SEGMENT) + 1;
    if (
      this.#segments > 0 &&
      (this.#pageFrames + frames > this.maxPageFrames ||
        this.#bytes + packet.length > this.maxPageBytes ||
        this.#segments + segs > MAX_SEGMENTS)
    ) {
      this.#flushPage(0);
    }
    this.#granule += frames;
    this.#pageFrames += frames;
    this.#addPacket(packet, this.#granule);
    return this.#take();
  }

  /** Close the current page now, if it holds anything (lower latency at a pause, or before a file sync). */
  flush(): readonly Uint8Array[] {
    this.#assertOpen();
    this.#emitHeaders();
    if (this.#segments > 0) this.#flushPage(0);
    return this.#take();
  }

  /**
   * End the logical stream: the last page carries EOS. `trimFrames` discards that many samples
   * of encoder padding at the end (RFC 7845 §4.4 end trimming). Trimming can only reach into
   * the last page, so it is clamped to that page's samples. Further writes throw until newChain().
   */
  end(trimFrames = 0): readonly Uint8Array[] {
    this.#assertOpen();
    this.#emitHeaders();
    if (!(trimFrames >= 0)) throw new RangeError(`trimFrames ${trimFrames} must be ≥ 0`);
    this.#granule -= Math.min(trimFrames, this.#pageFrames);
    // With nothing pending (no packet yet) the EOS page is empty; RFC 3533 allows it.
    this.#flushPage(FLAG_EOS, this.#granule);
    this.#ended = true;
    return this.#take();
  }

  /**
   * End this logical stream (if not yet ended) and start a chained one (RFC 3533 §4: a new
   * serial, headers, granule from 0) carrying new tags — how Ogg streams change their title
   * mid-stream.
   */
  newChain(tags: OggTags, options: { serial?: number } = {}): readonly Uint8Array[] {
    const pages = this.#ended ? [] : [...this.end()];
    const previous = this.#serial;
    let serial = (options.serial ?? randomSerial()) >>> 0;
    while (serial === previous) serial = randomSerial();
    this.#serial = serial;
    this.#tags = tags;
    this.#sequence = 0;
    this.#granule = 0;
    this.#ended = false;
    this.#headersSent = false;
    this.#buildHeaders();
    this.#emitHeaders();
    pages.push(...this.#take());
    return pages;
  }

  #assertOpen(): void {
    if (this.#ended) throw new Error(`${this.constructor.name}: stream ended; call newChain() to start another`);
  }

  #buildHeaders(): void {
    // The first header packet alone on the BOS page, each other one finishing its own page;
    // all with granule position 0 (RFC 7845 §3; the Ogg FLAC mapping).
    const packets = this.#headerPackets(this.#tags);
    packets.forEach((p, i) => {
      this.#addPacket(p, 0);
      this.#flushPage(i === 0 ? FLAG_BOS : 0, 0);
    });
    this.#headers = this.#take();
  }

  #emitHeaders(): void {
    if (this.#headersSent) return;
    this.#headersSent = true;
    this.#out.push(...this.#headers);
  }

  #take(): readonly Uint8Array[] {
    if (this.#out.length === 0) return NO_PAGES;
    const pages = this.#out;
    this.#out = [];
    return pages;
  }

  /** Lace one packet into the page, spilling into continuation pages when it does not fit. */
  #addPacket(packet: Uint8Array, granule: number): void {
    let offset = 0;
    for (;;) {
      const remaining = packet.length - offset;
      const free = MAX_SEGMENTS - this.#segments;
      const needed = Math.floor(remaining / SEGMENT) + 1;
      if (needed <= free) {
        for (let i = 0; i < needed - 1; i++) this.#lacing[this.#segments++] = SEGMENT;
        this.#lacing[this.#segments++] = remaining % SEGMENT;
        this.#data.set(offset === 0 ? packet : packet.subarray(offset), this.#bytes);
        this.#bytes += remaining;
        this.#packetsEnded++;
        this.#pendingGranule = granule;
        return;
      }
      // RFC 3533 §5: a packet continues on the next page after a run of 255-byte segments.
      const take = free * SEGMENT;
      for (let i = 0; i < free; i++) this.#lacing[this.#segments++] = SEGMENT;
      this.#data.set(packet.subarray(offset, offset + take), this.#bytes);
      this.#bytes += take;
      offset += take;
      this.#flushPage(0);
      this.#continued = true;
    }
  }

  /** Emit the pending page. Its granule is that of the last packet completed on it, or -1. */
  #flushPage(flags: number, granule?: number): void {
    const page = new Uint8Array(HEADER_BYTES + this.#segments + this.#bytes);
    const v = new DataView(page.buffer);
    page[0] = 0x4f; // 'O'
    page[1] = 0x67; // 'g'
    page[2] = 0x67; // 'g'
    page[3] = 0x53; // 'S'
    page[4] = 0; // stream_structure_version
    page[5] = (this.#continued ? FLAG_CONTINUED : 0) | flags;
    const g = granule ?? (this.#packetsEnded > 0 ? this.#pendingGranule : -1);
    if (g < 0) {
      // RFC 3533 §6: -1 marks a page on which no packet ends.
      v.setUint32(6, 0xffffffff, true);
      v.setUint32(10, 0xffffffff, true);
    } else {
      v.setUint32(6, g % 0x1_0000_0000, true);
      v.setUint32(10, Math.floor(g / 0x1_0000_0000), true);
    }
    v.setUint32(14, this.#serial, true);
    v.setUint32(18, this.#sequence++, true);
    page[26] = this.#segments;
    page.set(this.#lacing.subarray(0, this.#segments), HEADER_BYTES);
    page.set(this.#data.subarray(0, this.#bytes), HEADER_BYTES + this.#segments);
    v.setUint32(22, oggCrc(page), true);
    this.#out.push(page);
    this.#segments = 0;
    this.#bytes = 0;
    this.#pageFrames = 0;
    this.#packetsEnded = 0;
    this.#continued = false;
  }
}

/**
 * Muxes Opus packets into Ogg pages (OggMuxer with the RFC 7845 headers).
 *
 * Granule positions count 48 kHz samples from the start of the logical stream, pre-skip
 * included (RFC 7845 §4): a decoder plays granule − preSkip samples up to each page's end.
 */
export class OggOpusMuxer extends OggMuxer {
  readonly channels: number;
  readonly #head: { preSkip: number };

  constructor(options: OggOpusOptions) {
    // The headers are built in super(): they read the pre-skip from this object, which newChain() updates.
    const head = { preSkip: options.preSkip };
    const rate = options.inputSampleRate ?? 48_000;
    const gain = options.outputGainDb ?? 0;
    super(options, (tags) => [opusHead(options.channels, head.preSkip, rate, gain), opusTags(tags)]);
    this.channels = options.channels;
    this.#head = head;
  }

  /**
   * A chained logical stream (OggMuxer.newChain). The decoder discards `preSkip` samples of the
   * new link again, so callers that care reset the Opus encoder (OpusEncoder.reset()) at the
   * same packet boundary.
   */
  override newChain(tags: OggTags, options: { preSkip?: number; serial?: number } = {}): readonly Uint8Array[] {
    this.#head.preSkip = options.preSkip ?? this.#head.preSkip;
    return super.newChain(tags, options.serial === undefined ? {} : { serial: options.serial });
  }
}

/** One parsed Ogg page (for tests and tools). */
export interface OggPage {
  flags: number;
  continued: boolean;
  bos: boolean;
  eos: boolean;
  /** -1 when no packet ends on the page. */
  granule: number;
  serial: number;
  sequence: number;
  crcOk: boolean;
  /** Packets (or packet parts) laced on this page; `complete` is false for one continuing on the next page. */
  segments: { data: Uint8Array; complete: boolean }[];
  /** Byte length of the whole page. */
  length: number;
}

/** Split a byte stream into Ogg pages, checking each CRC. Throws on a missing capture pattern. */
export function parseOggPages(bytes: Uint8Array): OggPage[] {
  const pages: OggPage[] = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  while (o < bytes.length) {
    if (v.getUint32(o) !== 0x4f676753) throw new Error(`no Ogg capture pattern at byte ${o}`);
    const flags = bytes[o + 5]!;
    const lo = v.getUint32(o + 6, true);
    const hi = v.getUint32(o + 10, true);
    const granule = lo === 0xffffffff && hi === 0xffffffff ? -1 : hi * 0x1_0000_0000 + lo;
    const nseg = bytes[o + 26]!;
    const lacing = bytes.subarray(o + HEADER_BYTES, o + HEADER_BYTES + nseg);
    let len = 0;
    for (const l of lacing) len += l;
    const length = HEADER_BYTES + nseg + len;
    // A copy (Uint8Array.prototype.slice: a Buffer's own slice() would be a view), CRC zeroed.
    const page = Uint8Array.prototype.slice.call(bytes, o, o + length);
    const storedCrc = v.getUint32(o + 22, true);
    page.fill(0, 22, 26);
    const segments: OggPage['segments'] = [];
    let start = HEADER_BYTES + nseg;
    let pos = start;
    for (const l of lacing) {
      pos += l;
      if (l < SEGMENT) {
        segments.push({ data: page.subarray(start, pos), complete: true });
        start = pos;
      }
    }
    if (start < pos) segments.push({ data: page.subarray(start, pos), complete: false });
    pages.push({
      flags,
      continued: (flags & FLAG_CONTINUED) !== 0,
      bos: (flags & FLAG_BOS) !== 0,
      eos: (flags & FLAG_EOS) !== 0,
      granule,
      serial: v.getUint32(o + 14, true),
      sequence: v.getUint32(o + 18, true),
      crcOk: oggCrc(page) === storedCrc,
      segments,
      length,
    });
    o += length;
  }
  return pages;
}
