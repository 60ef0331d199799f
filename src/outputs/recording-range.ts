/**
 * Any time range of the archive as one file (issue 17, item 5): `from`–`to` stitched across
 * recordings, in their own format (Ogg/Opus or MP3), re-muxed without decoding.
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
 * whole frames (1152 samples at 48 kHz: ±1 frame). A file continued after a pause
 * (continue_within_minutes) is taken as one piece: its audio after the pause reads as if it
 * followed at once.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { OggOpusMuxer } from '../codecs/ogg.ts';
import { lastGranule, mp3Kbps, mp3KbpsIn, type RecordingInfo } from './recorder.ts';
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
  format: 'ogg-opus' | 'mp3';
  fromMs: number;
  toMs: number;
  /** The pieces in time order, with the part of each to take (samples). */
  parts: { piece: Piece; from: number; to: number }[];
  /** Pauses in the archive inside the range (the audio jumps over them). */
  gaps: number;
  /** The samples the download holds (Ogg exactly; MP3 to the frame). */
  samples: number;
  filename: string;
}

const extOf = (name: string) => name.slice(name.lastIndexOf('.') + 1);

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
  return null;
}

/**
 * Which files, and which part of each, make `from`–`to`. Refuses (RangeRefusal) a range that
 * is empty or reversed, longer than MAX_RANGE_MS, outside the archive, or mixing formats.
 */
export function planRange(dir: string, recordings: readonly RecordingInfo[], fromMs: number, toMs: number): RangePlan {
  if (!(fromMs < toMs)) throw new RangeRefusal(400, 'from must be before to', 'to');
  if (toMs - fromMs > MAX_RANGE_MS) throw new RangeRefusal(400, `the range is ${((toMs - fromMs) / 3_600_000).toFixed(1)} hours long; at most 24 hours at a time`, 'to');
  const files = [...recordings].filter((r) => /^(opus|mp3)$/.test(extOf(r.name))).reverse();
  const pieces: (Piece & { ext: string })[] = [];
  let prevEnd: number | null = null;
  let prevExt = '';
  let chainMs = 0;
  for (const r of files) {
    const samples = samplesOf(dir, r);
    if (samples === null || samples <= 0) continue;
    const nameMs = Date.parse(r.started_at);
    const ext = extOf(r.name);
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
  if (exts.size > 1) throw new RangeRefusal(409, 'the range holds both MP3 and Ogg/Opus recordings (the format was changed); download it in two parts');
  const ext = [...exts][0]!;
  const gaps = parts.filter((p, i) => i > 0 && !p.piece.continues).length;
  const stamp = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
  return {
    format: ext === 'mp3' ? 'mp3' : 'ogg-opus',
    fromMs,
    toMs,
    parts,
    gaps,
    samples: parts.reduce((n, p) => n + p.to - p.from, 0),
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

/** The audio packets of an Ogg/Opus file (every chained link's, headers left out), and its channel count. */
function oggPackets(bytes: Uint8Array): { packets: Uint8Array[]; channels: number } {
  const packets: Uint8Array[] = [];
  let channels = 2;
  let partial: Uint8Array[] = [];
  let o = 0;
  while (o + 27 <= bytes.length) {
    if (bytes[o] !== 0x4f || bytes[o + 1] !== 0x67 || bytes[o + 2] !== 0x67 || bytes[o + 3] !== 0x53) break;
    const nseg = bytes[o + 26]!;
    let at = o + 27 + nseg;
    if (at > bytes.length) break;
    let len = 0;
    for (let i = 0; i < nseg; i++) len += bytes[o + 27 + i]!;
    // A page cut short (a crash, the file being written): stop at the last whole page.
    if (at + len > bytes.length) break;
    if (!(bytes[o + 5]! & 1)) partial = [];
    for (let i = 0; i < nseg; i++) {
      const l = bytes[o + 27 + i]!;
      partial.push(bytes.subarray(at, at + l));
      at += l;
      if (l < 255) {
        const pkt = partial.length === 1 ? partial[0]! : concat(partial);
        partial = [];
        if (startsWith(pkt, 'OpusHead')) channels = pkt[9] ?? 2;
        else if (!startsWith(pkt, 'OpusTags') && pkt.length) packets.push(pkt);
      }
    }
    o = at;
  }
  return { packets, channels };
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

/**
 * The download as a stream: one file read at a time (at most one recording in memory), its
 * part re-muxed and sent before the next is read.
 */
export function rangeStream(plan: RangePlan): ReadableStream<Uint8Array> {
  let i = 0;
  let muxer: OggOpusMuxer | null = null;
  let left = plan.samples;
  let carry = new Uint8Array(0);
  return new ReadableStream<Uint8Array>(
    {
      pull(c) {
        const part = plan.parts[i++];
        if (!part) {
          if (muxer) {
            // End trimming (RFC 7845 §4.5): the last packet sits alone on the last page, so the
            // final granule position can say exactly where the range ends.
            for (const page of muxer.end(Math.max(0, -left))) c.enqueue(page);
          }
          return c.close();
        }
        const bytes = readFileSync(part.piece.path);
        if (plan.format === 'mp3') {
          // The frame a rotation split goes on in the next file: its start is carried over.
          const buf = part.piece.continues && carry.length ? concat([carry, bytes]) : bytes;
          const base = buf.length - bytes.length;
          const perByte = part.piece.samples / bytes.length;
          const chunks: Uint8Array[] = [];
          let end = 0;
          for (const [off, len] of mp3Frames(buf)) {
            end = off + len;
            // Whole frames: those whose middle falls inside the part.
            const mid = (off - base) * perByte + 576;
            // (The frame carried over from the file before counts here: it was cut short there.)
            if ((mid >= part.from || (off < base && part.from === 0)) && mid < part.to) chunks.push(buf.subarray(off, off + len));
          }
          carry = buf.slice(end);
          if (chunks.length) c.enqueue(concat(chunks));
          return;
        }
        const { packets, channels } = oggPackets(bytes);
        let pos = 0;
        let k = 0;
        if (!muxer) {
          // Start a few packets early so the decoder has settled at `from`; the pre-skip drops them.
          while (k < packets.length && pos + opusPacketSamples(packets[k]!) <= Math.max(0, part.from - PREROLL_SAMPLES)) pos += opusPacketSamples(packets[k++]!);
          const preSkip = part.from - pos;
          muxer = new OggOpusMuxer({
            channels,
            preSkip: Math.max(preSkip, 0),
            maxPageMs: 1000,
            tags: { ENCODER: `hark/${VERSION}`, DATE: new Date(plan.fromMs).toISOString(), COMMENT: `hark recordings from ${new Date(plan.fromMs).toISOString()} to ${new Date(plan.toMs).toISOString()}` },
          });
          // The output's granule counts the pre-skip as well.
          left += preSkip;
        } else {
          while (k < packets.length && pos + opusPacketSamples(packets[k]!) <= part.from) pos += opusPacketSamples(packets[k++]!);
        }
        const out: Uint8Array[] = [];
        for (; k < packets.length && pos < part.to; k++) {
          const n = opusPacketSamples(packets[k]!);
          if (left - n <= 0 && i === plan.parts.length) out.push(...muxer.flush());
          out.push(...muxer.writePacket(packets[k]!, n));
          pos += n;
          left -= n;
        }
        for (const page of out) c.enqueue(page);
      },
    },
    { highWaterMark: 0 },
  );
}
