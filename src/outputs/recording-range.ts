/**
 * Any time range of the archive as one file (issue 17, item 5): `from`–`to` stitched across
 * recordings, in their own format (Ogg/Opus, MP3 or FLAC), re-muxed without decoding.
 *
 * Where a sample is: a file's audio is laid out on its start time (the name, to the second).
 * A rotation starts the next file with the next packet of the same encoder, so a file that
 * starts where the one before ended (within ROTATION_SLACK_MS of it) continues its timeline
 * exactly, packet for packet: there is no gap or overlap at the joins, and the tone goes on
 * through them. Only where the archive really has a pause (hark stopped) does a piece start on
 * its own name's time.
 *
 * Ogg/Opus comes out sample-exact: the output's pre-skip drops what comes before `from` in the
 * first packet (RFC 7845 §4.2) and end trimming what comes after `to` (§4.5). MP3 comes out in
 * whole frames (1152 samples at 48 kHz: ±1 frame), FLAC too (4096 samples: ±1 frame, its
 * frames numbered again from 0 and STREAMINFO's total the exact count). Files are read 1 MB at a time, so memory
 * stays bounded whatever their length (rotate_minutes = 0 makes one file per broadcast). A file
 * continued after a pause (continue_within_minutes) is taken as one piece: its audio after the
 * pause reads as if it followed at once.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { OggOpusMuxer } from '../codecs/ogg.ts';
import { FLAC_BLOCK_FRAMES, FlacFrameReader, FlacFramer, flacFileHeader, readStreamInfo } from '../codecs/flac.ts';
import { flacSamples, lastGranule, mp3Kbps, mp3KbpsIn, type RecordingInfo } from './recorder.ts';
import { VERSION } from '../version.ts';

/** The longest range one download may cover. */
export const MAX_RANGE_MS = 24 * 3600 * 1000;
/** A file starting within this of where the one before ended continues it (a rotation). */
const ROTATION_SLACK_MS = 1500;
/** Opus packets the decoder gets before `from`, so it has settled there (RFC 7845 §4.6: 80 ms). */
const PREROLL_SAMPLES = 3840;

/** A range that cannot be served: the status and the reason, said plainly. */
export class RangeRefusal extends Error {
  override readonly name = 'RangeRefusal';
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?$/;

/** A `from`/`to` value: ISO 8601; without a zone it is the box's local time (as the page's form sends it). */
export function parseRangeTime(field: 'from' | 'to', v: string | undefined): number {
  if (v === undefined || v === '') throw new RangeError400(field, `${field}: missing (a time such as 2026-11-29T10:00)`);
  const ms = TIME_RE.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) throw new RangeError400(field, `${field}: not a time; use 2026-11-29T10:00 (the box's time zone) or an ISO 8601 time with its zone`);
  return ms;
}

class RangeError400 extends RangeRefusal {
  constructor(field: string, message: string) {
    super(400, message, field);
  }
}

interface Piece {
  name: string;
  path: string;
  /** Wall-clock ms of the piece's sample 0. */
  anchorMs: number;
  /** Samples (48 kHz) in the piece, from the file's bookkeeping. */
  samples: number;
  /** Whether it continues the piece before it with no pause (a rotation). */
  continues: boolean;
}

export interface RangePlan {
  format: 'ogg-opus' | 'mp3' | 'flac';
  fromMs: number;
  toMs: number;
  /** The pieces in time order, with the part of each to take (samples). */
  parts: { piece: Piece; from: number; to: number }[];
  /** Pauses in the archive inside the range (the audio jumps over them). */
  gaps: number;
  /** The samples the download holds (Ogg exactly; MP3 and FLAC to the frame). */
  samples: number;
  filename: string;
}

const extOf = (name: string) => name.slice(name.lastIndexOf('.') + 1);
const FORMAT_NAMES: Record<string, string> = { mp3: 'MP3', opus: 'Ogg/Opus' };

/** A FLAC recording's kind: "flac:<channels>:<bits>" (files of one kind join into one stream). */
function flacKind(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(64);
    const info = readStreamInfo(head.subarray(0, readSync(fd, head, 0, 64, 0)));
    return info ? `flac:${info.channels}ch ${info.bitsPerSample}-bit` : 'flac:?';
  } finally {
    closeSync(fd);
  }
}

/** Samples in a recording by its own bookkeeping: Ogg's last granule position, MP3's frames (CBR at 48 kHz: 3 × kbps bytes each). */
function samplesOf(dir: string, r: RecordingInfo): number | null {
  const path = join(dir, r.name);
  if (r.name.endsWith('.opus')) {
    const g = lastGranule(path, r.bytes);
    return g === null ? null : g + (r.duration_s !== null && r.duration_s * 48_000 > g + 48_000 ? Math.round(r.duration_s * 48_000) - g : 0);
  }
  if (r.name.endsWith('.mp3')) {
    const kbps = mp3FileKbps(path);
    // CBR: bytes × 8 / bitrate, in samples; a rotated file starts and ends inside a frame, so this is fractional.
    return kbps ? (r.bytes * 8 * 48_000) / (kbps * 1000) : null;
  }
  if (r.name.endsWith('.flac')) return flacSamples(path, r.bytes);
  return null;
}

/**
 * Which files, and which part of each, make `from`–`to`. Refuses (RangeRefusal) a range that
 * is empty or reversed, longer than MAX_RANGE_MS, outside the archive, or mixing formats.
 */
export function planRange(dir: string, recordings: readonly RecordingInfo[], fromMs: number, toMs: number): RangePlan {
  if (!(fromMs < toMs)) throw new RangeRefusal(400, 'from must be before to', 'to');
  if (toMs - fromMs > MAX_RANGE_MS) throw new RangeRefusal(400, `the range is ${((toMs - fromMs) / 3_600_000).toFixed(1)} hours long; at most 24 hours at a time`, 'to');
  const files = [...recordings].filter((r) => /^(opus|mp3|flac)$/.test(extOf(r.name))).reverse();
  const pieces: (Piece & { ext: string })[] = [];
  let prevEnd: number | null = null;
  let prevExt = '';
  let chainMs = 0;
  for (const r of files) {
    const samples = samplesOf(dir, r);
    if (samples === null || samples <= 0) continue;
    const nameMs = Date.parse(r.started_at);
    // FLAC files of another channel count or bit depth (the setting was changed) are another format.
    const ext = extOf(r.name) === 'flac' ? flacKind(join(dir, r.name)) : extOf(r.name);
    // The sound card's clock and the wall clock drift apart a little (≤ 200 ppm) over a long chain.
    const slack = ROTATION_SLACK_MS + chainMs * 2e-4;
    const continues: boolean = prevEnd !== null && ext === prevExt && Math.abs(nameMs - prevEnd) <= slack;
    const anchorMs: number = continues && prevEnd !== null ? prevEnd : nameMs;
    chainMs = continues ? chainMs + samples / 48 : samples / 48;
    pieces.push({ name: r.name, path: join(dir, r.name), anchorMs, samples, continues, ext });
    prevEnd = anchorMs + samples / 48;
    prevExt = ext;
  }
  const parts: RangePlan['parts'] = [];
  for (const p of pieces) {
    const from = Math.max(0, Math.round((fromMs - p.anchorMs) * 48));
    const to = Math.min(p.samples, Math.round((toMs - p.anchorMs) * 48));
    if (from < to) parts.push({ piece: p, from, to });
  }
  if (!parts.length) {
    const first = pieces[0];
    const last = pieces.at(-1);
    const held = first && last ? ` (the recordings cover ${new Date(first.anchorMs).toISOString()} to ${new Date(last.anchorMs + last.samples / 48).toISOString()})` : ' (there are no recordings)';
    throw new RangeRefusal(404, `nothing was recorded between ${new Date(fromMs).toISOString()} and ${new Date(toMs).toISOString()}${held}`);
  }
  const exts = new Set(parts.map((p) => (p.piece as Piece & { ext: string }).ext));
  if (exts.size > 1) {
    const names = [...exts].map((e) => FORMAT_NAMES[e] ?? `FLAC (${e.slice(5)})`);
    throw new RangeRefusal(409, `the range holds both ${names.join(' and ')} recordings (the format was changed); download it in two parts`);
  }
  const kind = [...exts][0]!;
  const ext = kind.startsWith('flac') ? 'flac' : kind;
  // FLAC goes in whole frames: those whose middle falls inside the part.
  const frameCount = (p: { from: number; to: number }) => Math.max(0, Math.ceil((p.to - FLAC_BLOCK_FRAMES / 2) / FLAC_BLOCK_FRAMES) - Math.ceil((p.from - FLAC_BLOCK_FRAMES / 2) / FLAC_BLOCK_FRAMES));
  const gaps = parts.filter((p, i) => i > 0 && !p.piece.continues).length;
  const stamp = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
  return {
    format: ext === 'mp3' ? 'mp3' : ext === 'flac' ? 'flac' : 'ogg-opus',
    fromMs,
    toMs,
    parts,
    gaps,
    samples: parts.reduce((n, p) => n + (ext === 'flac' ? frameCount(p) * FLAC_BLOCK_FRAMES : p.to - p.from), 0),
    filename: `hark-${stamp(fromMs)}--${stamp(toMs)}.${ext}`,
  };
}

/** Samples (48 kHz) one Opus packet decodes to, from its TOC byte (RFC 6716 §3.1). */
export function opusPacketSamples(p: Uint8Array): number {
  if (p.length === 0) return 0;
  const toc = p[0]!;
  const config = toc >> 3;
  let frame: number;
  if (config < 12) frame = [480, 960, 1920, 2880][config & 3]!;
  else if (config < 16) frame = config & 1 ? 960 : 480;
  else frame = [120, 240, 480, 960][config & 3]!;
  const c = toc & 3;
  const count = c === 0 ? 1 : c < 3 ? 2 : p.length > 1 ? p[1]! & 0x3f : 0;
  return frame * count;
}

/**
 * Ogg pages to Opus packets, fed a file a chunk at a time (a recording may be hours long: it is
 * never read whole). Headers (OpusHead, OpusTags of every chained link) are left out; the
 * channel count is taken from OpusHead. A page cut short at the end (a crash, the file being
 * written) is never completed and so never used.
 */
class OggPacketReader {
  channels = 2;
  private rest: Uint8Array = new Uint8Array(0);
  private partial: Uint8Array[] = [];

  /** The audio packets completed by this chunk. */
  feed(chunk: Uint8Array): Uint8Array[] {
    const bytes = this.rest.length ? concat([this.rest, chunk]) : chunk;
    const packets: Uint8Array[] = [];
    let o = 0;
    while (o + 27 <= bytes.length) {
      if (bytes[o] !== 0x4f || bytes[o + 1] !== 0x67 || bytes[o + 2] !== 0x67 || bytes[o + 3] !== 0x53) {
        // Not at a page: find the next capture pattern.
        o++;
        continue;
      }
      const nseg = bytes[o + 26]!;
      if (o + 27 + nseg > bytes.length) break;
      let len = 0;
      for (let i = 0; i < nseg; i++) len += bytes[o + 27 + i]!;
      let at = o + 27 + nseg;
      if (at + len > bytes.length) break;
      if (!(bytes[o + 5]! & 1)) this.partial = [];
      for (let i = 0; i < nseg; i++) {
        const l = bytes[o + 27 + i]!;
        this.partial.push(bytes.slice(at, at + l));
        at += l;
        if (l < 255) {
          const pkt = this.partial.length === 1 ? this.partial[0]! : concat(this.partial);
          this.partial = [];
          if (startsWith(pkt, 'OpusHead')) this.channels = pkt[9] ?? 2;
          else if (!startsWith(pkt, 'OpusTags') && pkt.length) packets.push(pkt);
        }
      }
      o = at;
    }
    this.rest = bytes.slice(o);
    return packets;
  }
}

function startsWith(b: Uint8Array, s: string): boolean {
  if (b.length < s.length) return false;
  for (let i = 0; i < s.length; i++) if (b[i] !== s.charCodeAt(i)) return false;
  return true;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const MP3_RATES = [44_100, 48_000, 32_000];

/** An MP3 recording's bitrate (48 kHz only: hark's), from its first whole frame. */
function mp3FileKbps(path: string): number | null {
  const head = new Uint8Array(4096);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const b = head.subarray(0, n);
  const kbps = mp3KbpsIn(b);
  for (let o = 0; kbps && o + 4 <= b.length; o++) if (mp3Kbps(b.subarray(o, o + 4)) === kbps) return ((b[o + 2]! >> 2) & 3) === 1 ? kbps : null;
  return null;
}

/**
 * MPEG-1 Layer III frames in `bytes`: [offset, length] pairs (ISO/IEC 11172-3 §2.4.2.3). A
 * header counts when the frame it starts ends at another header or at the end, so the part of
 * a frame a rotated file starts with is skipped.
 */
function mp3Frames(bytes: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  const lenAt = (o: number) => {
    const kbps = mp3Kbps(bytes.subarray(o, o + 4));
    const rate = MP3_RATES[(bytes[o + 2]! >> 2) & 3];
    return kbps && rate ? Math.floor((144 * kbps * 1000) / rate) + ((bytes[o + 2]! >> 1) & 1) : 0;
  };
  let o = 0;
  while (o + 4 <= bytes.length) {
    const len = lenAt(o);
    const next = o + len;
    if (!len || (next + 4 <= bytes.length && !lenAt(next)) || (out.length === 0 && next + 4 > bytes.length && next !== bytes.length)) {
      o++;
      continue;
    }
    if (next > bytes.length) break;
    out.push([o, len]);
    o = next;
  }
  return out;
}

/** Files are read this much at a time: memory stays bounded whatever their length. */
const CHUNK = 1 << 20;

async function* chunks(path: string, start: number, end: number): AsyncGenerator<Uint8Array> {
  const file = Bun.file(path);
  for (let o = start; o < end; o += CHUNK) {
    const b = await file.slice(o, Math.min(end, o + CHUNK)).bytes();
    if (!b.length) return;
    yield b;
  }
}

/**
 * The download as a stream: each file read a chunk at a time (an MP3 part from near its first
 * byte, found by the constant bitrate), its part re-muxed and sent as it goes.
 */
export function rangeStream(plan: RangePlan): ReadableStream<Uint8Array> {
  const gen = plan.format === 'mp3' ? mp3Range(plan) : plan.format === 'flac' ? flacRange(plan) : oggRange(plan);
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        const { value, done } = await gen.next();
        if (done) c.close();
        else c.enqueue(value);
      },
      async cancel() {
        await gen.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

async function* mp3Range(plan: RangePlan): AsyncGenerator<Uint8Array> {
  // The frame a rotation split goes on in the next file: its start is carried over.
  let carry: Uint8Array = new Uint8Array(0);
  for (const part of plan.parts) {
    const size = Bun.file(part.piece.path).size;
    const perByte = part.piece.samples / size;
    const frameBytes = 1152 / perByte;
    // Two frames early (and late) so the frame holding the edge is whole.
    const start = part.from > 0 ? Math.max(0, Math.floor(part.from / perByte - 2 * frameBytes)) : 0;
    const end = part.to < part.piece.samples ? Math.min(size, Math.ceil(part.to / perByte + 2 * frameBytes)) : size;
    let buf: Uint8Array = start === 0 && part.piece.continues ? carry : new Uint8Array(0);
    /** The file offset of buf[0] (negative: carried from the file before). */
    let bufStart = start - buf.length;
    let over = false;
    for await (const chunk of chunks(part.piece.path, start, end)) {
      buf = buf.length ? concat([buf, chunk]) : chunk;
      const out: Uint8Array[] = [];
      let used = 0;
      for (const [off, len] of mp3Frames(buf)) {
        if (off + len > buf.length) break;
        used = off + len;
        // Whole frames: those whose middle falls inside the part (a carried one counts here: it was cut short there).
        const mid = (bufStart + off) * perByte + 576;
        if (mid >= part.to) {
          over = true;
          break;
        }
        if (mid >= part.from || (bufStart + off < 0 && part.from === 0)) out.push(buf.subarray(off, off + len));
      }
      if (out.length) yield concat(out);
      buf = buf.slice(used);
      bufStart += used;
      if (over) break;
    }
    carry = over ? new Uint8Array(0) : buf;
  }
}

/**
 * FLAC: one stream header (STREAMINFO from the first file, its total the frames taken), then the
 * parts' frames whose middle falls inside them, numbered again from 0. Every hark FLAC frame holds
 * FLAC_BLOCK_FRAMES samples and each file numbers its frames from 0, so frame k is at k × 4096.
 */
async function* flacRange(plan: RangePlan): AsyncGenerator<Uint8Array> {
  const first = plan.parts[0]!.piece.path;
  const info = readStreamInfo(await Bun.file(first).slice(0, 64).bytes());
  if (!info) return;
  yield flacFileHeader(
    { channels: info.channels, bitsPerSample: info.bitsPerSample, totalSamples: plan.samples },
    { ENCODER: `hark/${VERSION}`, DATE: new Date(plan.fromMs).toISOString(), COMMENT: `hark recordings from ${new Date(plan.fromMs).toISOString()} to ${new Date(plan.toMs).toISOString()}` },
  );
  const framer = new FlacFramer();
  let left = plan.samples;
  for (const part of plan.parts) {
    const reader = new FlacFrameReader();
    let k = 0;
    let over = false;
    const take = (frames: Uint8Array[], out: Uint8Array[]) => {
      for (const f of frames) {
        const mid = k * FLAC_BLOCK_FRAMES + FLAC_BLOCK_FRAMES / 2;
        k++;
        if (mid < part.from) continue;
        if (mid >= part.to || left <= 0) {
          over = true;
          return;
        }
        out.push(framer.frame(f, FLAC_BLOCK_FRAMES));
        left -= FLAC_BLOCK_FRAMES;
      }
    };
    for await (const chunk of chunks(part.piece.path, 0, Bun.file(part.piece.path).size)) {
      const out: Uint8Array[] = [];
      take(reader.feed(chunk), out);
      if (out.length) yield concat(out);
      if (over) break;
    }
    if (!over) {
      const out: Uint8Array[] = [];
      take(reader.end(), out);
      if (out.length) yield concat(out);
    }
  }
}

async function* oggRange(plan: RangePlan): AsyncGenerator<Uint8Array> {
  let muxer: OggOpusMuxer | null = null;
  let left = plan.samples;
  for (let i = 0; i < plan.parts.length; i++) {
    const part = plan.parts[i]!;
    const last = i === plan.parts.length - 1;
    const reader = new OggPacketReader();
    let pos = 0;
    /** Whether this part has sent a packet (the ones before `from` are passed over until it has). */
    let begun = false;
    let over = false;
    for await (const chunk of chunks(part.piece.path, 0, Bun.file(part.piece.path).size)) {
      const out: Uint8Array[] = [];
      for (const pkt of reader.feed(chunk)) {
        const n = opusPacketSamples(pkt);
        if (!muxer) {
          // Start a few packets early so the decoder has settled at `from`; the pre-skip drops them.
          if (pos + n <= Math.max(0, part.from - PREROLL_SAMPLES)) {
            pos += n;
            continue;
          }
          const preSkip = part.from - pos;
          muxer = new OggOpusMuxer({
            channels: reader.channels,
            preSkip,
            maxPageMs: 1000,
            tags: { ENCODER: `hark/${VERSION}`, DATE: new Date(plan.fromMs).toISOString(), COMMENT: `hark recordings from ${new Date(plan.fromMs).toISOString()} to ${new Date(plan.toMs).toISOString()}` },
          });
          // The output's granule counts the pre-skip as well.
          left += preSkip;
        } else if (!begun && pos + n <= part.from) {
          pos += n;
          continue;
        }
        begun = true;
        if (pos >= part.to) {
          over = true;
          break;
        }
        // End trimming (RFC 7845 §4.5): the last packet goes alone on the last page, so the
        // final granule position can say exactly where the range ends.
        if (last && left - n <= 0) out.push(...muxer.flush());
        out.push(...muxer.writePacket(pkt, n));
        pos += n;
        left -= n;
      }
      if (out.length) yield concat(out);
      if (over) break;
    }
  }
  if (muxer) yield concat([...muxer.end(Math.max(0, -left))]);
}
