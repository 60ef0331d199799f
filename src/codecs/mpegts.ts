/**
 * hark's own small MPEG-2 transport stream muxer and demuxer (ISO/IEC 13818-1), for one
 * audio elementary stream in one program: what an SRT contribution link carries.
 *
 * Payloads and how each is signalled:
 * - MP3 and MP2 (MPEG-1 audio, Layer III / II): stream_type 0x03 (13818-1 Table 2-34,
 *   "ISO/IEC 11172-3 Audio"), PES stream_id 0xC0 (Table 2-22, audio stream number 0).
 * - Opus: stream_type 0x06 (PES private data) on private_stream_1 (0xBD), with a registration
 *   descriptor 'Opus' (13818-1 §2.6.8) and a DVB extension descriptor (tag 0x7F, extension
 *   tag 0x80, "Opus audio descriptor") whose channel_config_code is the channel count for
 *   1–2 channels (mapping family 0); every Opus packet in the PES is preceded by an
 *   opus_control_header: an 11-bit 0x3FF prefix, start_trim/end_trim/control_extension flags,
 *   2 reserved bits (0x7F 0xE0 with no flags), then au_size as a run of 0xFF bytes ended by a
 *   byte < 0xFF. This is the Opus mapping to MPEG-TS (ETSI TS 102 366 is AC-3's; Opus's is the
 *   "Opus in MPEG-2 TS" draft, ETSI_TS_opus-v0.1.3, published on opus-codec.org), as FFmpeg's
 *   mpegtsenc.c writes and its mpegts demuxer + opus parser read it.
 * - PCM as SMPTE 302M (AES3 in TS): stream_type 0x06 on 0xBD with a registration descriptor
 *   'BSSD' (SMPTE 302M §5). Each PES carries one AES3 data packet: a 4-byte header
 *   (audio_packet_size 16, number_channels 2, channel_identification 8, bits_per_sample 2,
 *   alignment_bits 4) then the samples, channel pairs packed LSB-first as AES3 subframes
 *   (24-bit: 7 bytes per pair with the V/U/C/F bits, F set every 192 frames).
 *
 * PES packets (13818-1 §2.4.3.6) carry one access unit each, with a PTS (90 kHz) and
 * data_alignment_indicator set. The PCR (§2.4.3.5, 27 MHz) rides in the audio PID's adaptation
 * field at least every 40 ms (§2.7.2 asks ≤ 100 ms); PAT and PMT (§2.4.4) with their CRC32
 * (Annex A) are repeated every 100 ms so a receiver joining mid-stream starts within that.
 * The 188-byte packets go seven to an SRT message (1316 bytes, SRT's live payload size).
 *
 * The demuxer takes any bytes from the network: it resynchronises on the 0x47 sync byte,
 * checks section CRCs and continuity counters (§2.4.3.3), and counts and drops what is wrong;
 * it never throws on input and keeps at most one PES (≤ 256 KiB) and one section (≤ 4 KiB).
 */

export const TS_PACKET = 188;
/** Seven TS packets: SRT's live-mode payload (srt.h SRT_LIVE_DEF_PLSIZE). */
export const TS_PER_SRT = 7;
export const SRT_PAYLOAD = TS_PACKET * TS_PER_SRT;

const SYNC = 0x47;
const PAT_PID = 0x0000;
const NULL_PID = 0x1fff;
/** 33-bit PTS/PCR base wraps here (§2.4.3.7). */
const PTS_WRAP = 2 ** 33;

export type TsPayload = 'opus' | 'mp2' | 'mp3' | 's302m';

// ---------------------------------------------------------------------------------------------
// CRC32/MPEG-2 (13818-1 Annex A: polynomial 0x04C11DB7, initial 0xFFFFFFFF, no reflection).

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32mpeg(data: Uint8Array, start = 0, end = data.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ data[i]!) & 0xff]!) >>> 0;
  return crc >>> 0;
}

// ---------------------------------------------------------------------------------------------
// SMPTE 302M: AES3 data packets.

/** Bit-reversed bytes: AES3 sends each subframe LSB first (SMPTE 302M §6). */
const REV = (() => {
  const t = new Uint8Array(256);
  for (let i = 0; i < 256; i++) {
    let r = 0;
    for (let b = 0; b < 8; b++) if (i & (1 << b)) r |= 0x80 >> b;
    t[i] = r;
  }
  return t;
})();

/** Builds SMPTE 302M AES3 data packets, 24 bits per sample, from float PCM. */
export class S302mPacker {
  /** Frames since the last AES3 block start (the F bit is set every 192 frames). */
  private frameIndex = 0;
  /** Channels in the packet: 302M carries pairs, so mono is sent on both sides. */
  readonly outChannels: number;

  constructor(readonly channels: number) {
    if (!Number.isInteger(channels) || channels < 1 || channels > 8) throw new RangeError(`s302m: ${channels} channels (1–8)`);
    this.outChannels = channels === 1 ? 2 : channels + (channels & 1);
  }

  /** One AES3 data packet for `frames` interleaved frames of `pcm` (in [-1, 1]). */
  pack(pcm: Float32Array, frames: number): Uint8Array {
    const ch = this.channels;
    const out = this.outChannels;
    const size = (frames * out * 28) / 8; // 24 bits + 4 V/U/C/F bits per sample
    if (!Number.isInteger(size) || size > 0xffff) throw new RangeError(`s302m: ${frames} frames do not make a packet`);
    const b = new Uint8Array(4 + size);
    // Header (SMPTE 302M §7.3): audio_packet_size, number_channels ((n-2)/2), channel_identification 0,
    // bits_per_sample 2 (24 bits), alignment_bits 0.
    b[0] = size >> 8;
    b[1] = size & 0xff;
    b[2] = (((out - 2) >> 1) << 6) | 0; // 2 bits channels, 6 high bits of channel_identification (0)
    b[3] = (0 << 6) | (2 << 4) | 0; // 2 low bits of channel_identification, bits_per_sample, alignment
    let o = 4;
    const s = (i: number, c: number): number => {
      const cc = ch === 1 ? 0 : c;
      if (cc >= ch) return 0;
      const v = pcm[i * ch + cc]!;
      const x = Math.round((v > 1 ? 1 : v < -1 ? -1 : v) * 8388607);
      return x & 0xffffff;
    };
    for (let i = 0; i < frames; i++) {
      const f = this.frameIndex === 0 ? 0x10 : 0;
      for (let c = 0; c < out; c += 2) {
        const a = s(i, c);
        const z = s(i, c + 1);
        b[o] = REV[a & 0xff]!;
        b[o + 1] = REV[(a >> 8) & 0xff]!;
        b[o + 2] = REV[(a >> 16) & 0xff]!;
        b[o + 3] = REV[(z & 0x0f) << 4]! | f;
        b[o + 4] = REV[(z >> 4) & 0xff]!;
        b[o + 5] = REV[(z >> 12) & 0xff]!;
        b[o + 6] = REV[(z >> 20) & 0x0f]!;
        o += 7;
      }
      if (++this.frameIndex >= 192) this.frameIndex = 0;
    }
    return b;
  }
}

/** A decoded SMPTE 302M packet: interleaved float samples. */
export interface S302mAudio {
  channels: number;
  bits: 16 | 20 | 24;
  frames: number;
  pcm: Float32Array;
}

/** Decodes one SMPTE 302M AES3 data packet (16, 20 or 24 bits); null if it is not one. */
export function decodeS302m(p: Uint8Array): S302mAudio | null {
  if (p.length < 4) return null;
  const size = (p[0]! << 8) | p[1]!;
  const channels = ((p[2]! >> 6) + 1) * 2;
  const bitsCode = (p[3]! >> 4) & 3;
  if (bitsCode === 3 || size + 4 > p.length) return null;
  const bits = ([16, 20, 24] as const)[bitsCode]!;
  const pairBytes = bits === 24 ? 7 : bits === 20 ? 6 : 5;
  const pairs = Math.floor(size / pairBytes);
  const frames = Math.floor(pairs / (channels / 2));
  const pcm = new Float32Array(frames * channels);
  let o = 4;
  let k = 0;
  for (let n = 0; n < frames * (channels / 2); n++) {
    const r = (i: number) => REV[p[o + i]!]!;
    let a: number;
    let z: number;
    if (bits === 24) {
      a = r(0) | (r(1) << 8) | (r(2) << 16);
      z = ((r(3) & 0xf0) >> 4) | (r(4) << 4) | (r(5) << 12) | ((r(6) & 0x0f) << 20);
      a = (a << 8) >> 8;
      z = (z << 8) >> 8;
      pcm[k++] = a / 8388608;
      pcm[k++] = z / 8388608;
    } else if (bits === 20) {
      a = r(0) | (r(1) << 8) | ((r(2) & 0x0f) << 16);
      z = r(3) | (r(4) << 8) | ((r(5) & 0x0f) << 16);
      pcm[k++] = ((a << 12) >> 12) / 524288;
      pcm[k++] = ((z << 12) >> 12) / 524288;
    } else {
      a = r(0) | (r(1) << 8);
      z = ((r(2) & 0xf0) >> 4) | (r(3) << 4) | ((r(4) & 0x0f) << 12);
      pcm[k++] = ((a << 16) >> 16) / 32768;
      pcm[k++] = ((z << 16) >> 16) / 32768;
    }
    o += pairBytes;
  }
  return { channels, bits, frames, pcm };
}

// ---------------------------------------------------------------------------------------------
// Muxer.

export interface TsMuxerOptions {
  payload: TsPayload;
  /** Channels of the audio (Opus's channel_config_code; 302M sends mono as a pair). */
  channels: number;
  /** PMT PID (default 0x1000, FFmpeg's) and the audio PID (default 0x100). */
  pmtPid?: number;
  audioPid?: number;
  programNumber?: number;
  transportStreamId?: number;
  /** PAT/PMT repetition (default 100 ms) and PCR interval (default 40 ms). */
  psiIntervalMs?: number;
  pcrIntervalMs?: number;
  /** How far the PCR runs behind the PTS: the receiver's decoding buffer (default 50 ms). */
  pcrDelayMs?: number;
}

function check(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${name}: ${v} is not an integer ${lo}–${hi}`);
  return v;
}

/** The PMT's ES loop entry: stream_type and descriptors (13818-1 §2.4.4.8). */
function esInfo(payload: TsPayload, channels: number): { streamType: number; streamId: number; descriptors: number[] } {
  switch (payload) {
    case 'mp2':
    case 'mp3':
      return { streamType: 0x03, streamId: 0xc0, descriptors: [] };
    case 'opus':
      return {
        streamType: 0x06,
        streamId: 0xbd,
        descriptors: [
          0x05, 4, 0x4f, 0x70, 0x75, 0x73, // registration_descriptor, format_identifier 'Opus'
          0x7f, 2, 0x80, channels <= 2 ? channels : 0xff, // DVB extension: Opus audio descriptor, channel_config_code
        ],
      };
    case 's302m':
      return { streamType: 0x06, streamId: 0xbd, descriptors: [0x05, 4, 0x42, 0x53, 0x53, 0x44] }; // 'BSSD'
  }
}

/** Muxes one audio stream into 188-byte TS packets. */
export class TsMuxer {
  readonly payload: TsPayload;
  readonly pmtPid: number;
  readonly audioPid: number;
  private readonly programNumber: number;
  private readonly tsid: number;
  private readonly psiInterval90: number;
  private readonly pcrInterval90: number;
  private readonly pcrDelay90: number;
  private readonly es: ReturnType<typeof esInfo>;
  private readonly pat: Uint8Array;
  private readonly pmt: Uint8Array;
  private cc = new Map<number, number>();
  private lastPsi = -Infinity;
  private lastPcr = -Infinity;
  /** 90 kHz time of the first access unit: PTS start at 1 s after it, so PCR never goes below 0. */
  private origin: number | null = null;
  /** Packets written (all PIDs). */
  packets = 0;

  constructor(o: TsMuxerOptions) {
    this.payload = o.payload;
    if (!['opus', 'mp2', 'mp3', 's302m'].includes(o.payload)) throw new RangeError(`unknown TS payload ${String(o.payload)}`);
    check('channels', o.channels, 1, 8);
    this.pmtPid = check('pmtPid', o.pmtPid ?? 0x1000, 0x10, 0x1ffe);
    this.audioPid = check('audioPid', o.audioPid ?? 0x100, 0x10, 0x1ffe);
    if (this.pmtPid === this.audioPid) throw new RangeError('pmtPid and audioPid must differ');
    this.programNumber = check('programNumber', o.programNumber ?? 1, 1, 0xffff);
    this.tsid = check('transportStreamId', o.transportStreamId ?? 1, 0, 0xffff);
    this.psiInterval90 = check('psiIntervalMs', o.psiIntervalMs ?? 100, 1, 10_000) * 90;
    this.pcrInterval90 = check('pcrIntervalMs', o.pcrIntervalMs ?? 40, 1, 100) * 90;
    this.pcrDelay90 = check('pcrDelayMs', o.pcrDelayMs ?? 50, 0, 10_000) * 90;
    this.es = esInfo(o.payload, o.channels);
    this.pat = this.section(0x00, this.tsid, [(this.programNumber >> 8) & 0xff, this.programNumber & 0xff, 0xe0 | (this.pmtPid >> 8), this.pmtPid & 0xff]);
    const d = this.es.descriptors;
    this.pmt = this.section(0x02, this.programNumber, [
      0xe0 | (this.audioPid >> 8), this.audioPid & 0xff, // reserved, PCR_PID = the audio PID
      0xf0, 0x00, // reserved, program_info_length 0
      this.es.streamType,
      0xe0 | (this.audioPid >> 8), this.audioPid & 0xff,
      0xf0 | (d.length >> 8), d.length & 0xff,
      ...d,
    ]);
  }

  /** A long-form PSI section with its CRC (13818-1 §2.4.4.10, Annex A). */
  private section(tableId: number, idExt: number, body: number[]): Uint8Array {
    const len = 5 + body.length + 4; // after section_length: id ext 2, version 1, numbers 2, body, CRC
    const s = new Uint8Array(3 + len);
    s[0] = tableId;
    s[1] = 0xb0 | (len >> 8); // section_syntax_indicator 1, '0', reserved 11
    s[2] = len & 0xff;
    s[3] = idExt >> 8;
    s[4] = idExt & 0xff;
    s[5] = 0xc1; // reserved 11, version_number 0, current_next_indicator 1
    s[6] = 0;
    s[7] = 0;
    s.set(body, 8);
    const crc = crc32mpeg(s, 0, s.length - 4);
    new DataView(s.buffer).setUint32(s.length - 4, crc, false);
    return s;
  }

  private nextCc(pid: number): number {
    const c = ((this.cc.get(pid) ?? 15) + 1) & 0xf;
    this.cc.set(pid, c);
    return c;
  }

  private psiPacket(pid: number, section: Uint8Array, out: Uint8Array, at: number): void {
    const p = out.subarray(at, at + TS_PACKET);
    p.fill(0xff);
    p[0] = SYNC;
    p[1] = 0x40 | (pid >> 8); // payload_unit_start_indicator
    p[2] = pid & 0xff;
    p[3] = 0x10 | this.nextCc(pid); // payload only
    p[4] = 0; // pointer_field
    p.set(section, 5);
  }

  /** The 90 kHz PTS for a 48 kHz sample index. */
  pts90(pts48: number): number {
    const t = Math.round((pts48 * 90_000) / 48_000);
    if (this.origin === null) this.origin = t;
    return (((t - this.origin + 90_000) % PTS_WRAP) + PTS_WRAP) % PTS_WRAP;
  }

  /**
   * Mux one access unit (an Opus packet, MP3/MP2 frames, an AES3 data packet) whose first
   * sample is sample `pts48` of the 48 kHz clock. Returns whole TS packets (a multiple of 188).
   */
  mux(au: Uint8Array, pts48: number): Uint8Array {
    const pts = this.pts90(pts48);
    const unwrapped = Math.round((pts48 * 90_000) / 48_000);
    let payload = au;
    if (this.payload === 'opus') {
      // opus_control_header, then the packet (Opus-in-TS draft; FFmpeg mpegtsenc.c).
      const n = au.length;
      const hdr = 2 + Math.floor(n / 255) + 1;
      payload = new Uint8Array(hdr + n);
      payload[0] = 0x7f;
      payload[1] = 0xe0;
      let i = 2;
      let left = n;
      for (;;) {
        payload[i++] = Math.min(left, 255);
        left -= 255;
        if (left < 0) break;
      }
      payload.set(au, hdr);
    }
    const psi = unwrapped - this.lastPsi >= this.psiInterval90 || unwrapped < this.lastPsi;
    if (psi) this.lastPsi = unwrapped;
    const pcr = unwrapped - this.lastPcr >= this.pcrInterval90 || unwrapped < this.lastPcr;
    if (pcr) this.lastPcr = unwrapped;

    // PES header (13818-1 §2.4.3.6): start code, stream_id, PES_packet_length, '10' +
    // data_alignment_indicator, PTS only, PES_header_data_length 5, the PTS (§2.4.3.7).
    const pesLen = 3 + 5 + payload.length;
    const pes = new Uint8Array(6 + pesLen);
    pes[0] = 0;
    pes[1] = 0;
    pes[2] = 1;
    pes[3] = this.es.streamId;
    if (pesLen <= 0xffff) {
      pes[4] = pesLen >> 8;
      pes[5] = pesLen & 0xff;
    } // else 0: unbounded (allowed for... only video; audio AUs here are far smaller)
    pes[6] = 0x84;
    pes[7] = 0x80;
    pes[8] = 5;
    writeTimestamp(pes, 9, 0x2, pts);
    pes.set(payload, 14);

    // Packets: the first carries the PCR when due; the last is padded by adaptation-field
    // stuffing (§2.4.3.5), never by bytes in the PES.
    const pcrBytes = pcr ? 8 : 0; // adaptation_field_length, flags, 6 PCR bytes
    let count = 0;
    {
      let left = pes.length;
      let first = true;
      while (left > 0) {
        const room = TS_PACKET - 4 - (first ? pcrBytes : 0);
        left -= room;
        first = false;
        count++;
      }
    }
    const psiCount = psi ? 2 : 0;
    const out = new Uint8Array((count + psiCount) * TS_PACKET);
    let at = 0;
    if (psi) {
      this.psiPacket(PAT_PID, this.pat, out, at);
      at += TS_PACKET;
      this.psiPacket(this.pmtPid, this.pmt, out, at);
      at += TS_PACKET;
    }
    let pos = 0;
    for (let k = 0; k < count; k++) {
      const p = out.subarray(at, at + TS_PACKET);
      const first = k === 0;
      const pid = this.audioPid;
      p[0] = SYNC;
      p[1] = (first ? 0x40 : 0) | (pid >> 8);
      p[2] = pid & 0xff;
      const left = pes.length - pos;
      let af = -1; // adaptation_field_length, -1 = none
      let afFlags = 0;
      if (first && pcr) {
        af = 7;
        afFlags = 0x50; // random_access_indicator, PCR_flag
      }
      const room = TS_PACKET - 4 - (af >= 0 ? af + 1 : 0);
      if (left < room) {
        // Stuff: grow the adaptation field by the missing bytes.
        const need = room - left;
        af = af >= 0 ? af + need : need - 1;
      }
      p[3] = (af >= 0 ? 0x30 : 0x10) | this.nextCc(pid);
      let q = 4;
      if (af >= 0) {
        p[q++] = af;
        if (af > 0) {
          p[q++] = afFlags;
          let used = 1;
          if (afFlags & 0x10) {
            const pcrBase = (((pts - this.pcrDelay90) % PTS_WRAP) + PTS_WRAP) % PTS_WRAP;
            writePcr(p, q, pcrBase);
            q += 6;
            used += 6;
          }
          p.fill(0xff, q, q + (af - used));
          q += af - used;
        }
      }
      const n = TS_PACKET - q;
      p.set(pes.subarray(pos, pos + n), q);
      pos += n;
      at += TS_PACKET;
    }
    this.packets += count + psiCount;
    return out;
  }
}

/** PTS/DTS: '0010' + 33 bits with marker bits (13818-1 §2.4.3.7). */
function writeTimestamp(b: Uint8Array, at: number, prefix: number, t: number): void {
  const hi = Math.floor(t / 2 ** 30) & 0x7;
  const mid = Math.floor(t / 2 ** 15) & 0x7fff;
  const lo = t & 0x7fff;
  b[at] = (prefix << 4) | (hi << 1) | 1;
  b[at + 1] = mid >> 7;
  b[at + 2] = ((mid & 0x7f) << 1) | 1;
  b[at + 3] = lo >> 7;
  b[at + 4] = ((lo & 0x7f) << 1) | 1;
}

/** PCR: 33-bit base (90 kHz), 6 reserved bits, 9-bit extension 0 (13818-1 §2.4.3.5). */
function writePcr(b: Uint8Array, at: number, base: number): void {
  b[at] = Math.floor(base / 2 ** 25) & 0xff;
  b[at + 1] = Math.floor(base / 2 ** 17) & 0xff;
  b[at + 2] = Math.floor(base / 2 ** 9) & 0xff;
  b[at + 3] = Math.floor(base / 2) & 0xff;
  b[at + 4] = ((base & 1) << 7) | 0x7e; // reserved bits set, extension high bit 0
  b[at + 5] = 0;
}

function readTimestamp(b: Uint8Array, at: number): number {
  return (
    ((b[at]! >> 1) & 0x7) * 2 ** 30 + ((b[at + 1]! << 7) | (b[at + 2]! >> 1)) * 2 ** 15 + ((b[at + 3]! << 7) | (b[at + 4]! >> 1))
  );
}

/** Splits whole TS packets into SRT messages of at most seven packets (1316 bytes). */
export function srtMessages(ts: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < ts.length; i += SRT_PAYLOAD) out.push(ts.subarray(i, Math.min(ts.length, i + SRT_PAYLOAD)));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Demuxer.

/** The audio codec of a stream as the PMT signals it. */
export type TsCodec = 'opus' | 'mpeg-audio' | 's302m';

export interface TsStreamInfo {
  pid: number;
  codec: TsCodec;
  streamType: number;
  /** Opus: from the channel_config_code (0 when not signalled); others: 0 (read it from the frames). */
  channels: number;
}

/** One access unit (Opus packet), MPEG audio PES payload, or 302M data packet. */
export interface TsAccessUnit {
  stream: TsStreamInfo;
  data: Uint8Array;
  /** PTS in 90 kHz units, or null when the PES had none. */
  pts: number | null;
}

/** What the demuxer counted and dropped. */
export interface TsDemuxStats {
  packets: number;
  /** Bytes skipped looking for a sync byte. */
  syncLossBytes: number;
  ccErrors: number;
  crcErrors: number;
  /** PES packets that did not parse (bad start code, header longer than the packet …) or overflowed. */
  pesErrors: number;
  /** Opus control headers that did not parse. */
  auErrors: number;
  /** Packets with transport_error_indicator, or an adaptation field longer than the packet. */
  badPackets: number;
  /** Audio streams in the PMT this demuxer does not decode (AAC, AC-3 …). */
  unsupportedStreams: number;
  accessUnits: number;
}

/** Largest PES kept while it is assembled; a longer one is dropped (audio PES are a few KiB). */
const MAX_PES = 256 * 1024;
/** Largest PSI section (13818-1 §2.4.4.11: section_length ≤ 1021 for PAT/PMT; private ≤ 4093). */
const MAX_SECTION = 4096;

/**
 * Demuxes the first supported audio stream of the first program. `push()` takes any chunk of
 * bytes (SRT messages, UDP datagrams, a file read); access units go to `onAccessUnit` as they
 * complete. Never throws on input.
 */
export class TsDemuxer {
  readonly stats: TsDemuxStats = {
    packets: 0,
    syncLossBytes: 0,
    ccErrors: 0,
    crcErrors: 0,
    pesErrors: 0,
    auErrors: 0,
    badPackets: 0,
    unsupportedStreams: 0,
    accessUnits: 0,
  };
  /** The stream being demuxed, once a PMT named one. */
  stream: TsStreamInfo | null = null;
  private pmtPid = -1;
  private pmtVersion = -1;
  private readonly carry = new Uint8Array(TS_PACKET);
  private carried = 0;
  private readonly lastCc = new Map<number, number>();
  private section: { pid: number; buf: Uint8Array; len: number } | null = null;
  private pes: Uint8Array = new Uint8Array(8192);
  private pesLen = 0;
  private pesOpen = false;

  constructor(private readonly onAccessUnit: (au: TsAccessUnit) => void) {}

  /** Feed bytes. */
  push(chunk: Uint8Array): void {
    let i = 0;
    if (this.carried > 0) {
      const need = TS_PACKET - this.carried;
      const n = Math.min(need, chunk.length);
      this.carry.set(chunk.subarray(0, n), this.carried);
      this.carried += n;
      i = n;
      if (this.carried < TS_PACKET) return;
      this.carried = 0;
      if (this.carry[0] === SYNC) this.packet(this.carry);
      else this.stats.syncLossBytes += TS_PACKET;
    }
    while (i < chunk.length) {
      if (chunk[i] !== SYNC) {
        this.stats.syncLossBytes++;
        i++;
        continue;
      }
      if (chunk.length - i < TS_PACKET) {
        this.carry.set(chunk.subarray(i), 0);
        this.carried = chunk.length - i;
        return;
      }
      // A sync byte followed by another where the next packet would start is a packet; at the
      // chunk's end there is nothing to compare with, so it is taken.
      if (i + TS_PACKET < chunk.length && chunk[i + TS_PACKET] !== SYNC) {
        this.stats.syncLossBytes++;
        i++;
        continue;
      }
      this.packet(chunk.subarray(i, i + TS_PACKET));
      i += TS_PACKET;
    }
  }

  /**
   * Drop what is being assembled and what the stream was (the link broke; the next bytes start
   * afresh, and the next link may carry another codec on the same PID with the same PMT
   * version: its PAT and PMT say).
   */
  reset(): void {
    this.carried = 0;
    this.section = null;
    this.pesOpen = false;
    this.pesLen = 0;
    this.lastCc.clear();
    this.stream = null;
    this.pmtPid = -1;
    this.pmtVersion = -1;
  }

  private packet(p: Uint8Array): void {
    this.stats.packets++;
    if (p[1]! & 0x80) {
      this.stats.badPackets++; // transport_error_indicator
      return;
    }
    const pusi = (p[1]! & 0x40) !== 0;
    const pid = ((p[1]! & 0x1f) << 8) | p[2]!;
    if (pid === NULL_PID) return;
    const afc = (p[3]! >> 4) & 3;
    const cc = p[3]! & 0xf;
    let at = 4;
    let discontinuity = false;
    if (afc & 2) {
      const afl = p[4]!;
      if (afl > 183 || (afc === 3 && afl > 182)) {
        this.stats.badPackets++;
        return;
      }
      if (afl > 0) discontinuity = (p[5]! & 0x80) !== 0;
      at = 5 + afl;
    }
    if (!(afc & 1)) return; // no payload: the CC does not advance (§2.4.3.3)
    const last = this.lastCc.get(pid);
    this.lastCc.set(pid, cc);
    if (last !== undefined && !discontinuity) {
      if (cc === last) return; // a duplicate packet (§2.4.3.3 allows one): ignore it
      if (cc !== ((last + 1) & 0xf)) {
        this.stats.ccErrors++;
        if (pid === this.stream?.pid && this.pesOpen) {
          // The PES lost bytes in the middle: drop it rather than decode a corrupt unit.
          this.pesOpen = false;
          this.pesLen = 0;
        }
        if (this.section?.pid === pid) this.section = null;
      }
    }
    const payload = p.subarray(at);
    if (pid === PAT_PID || pid === this.pmtPid) this.psi(pid, payload, pusi);
    else if (pid === this.stream?.pid) this.esPayload(payload, pusi);
  }

  private psi(pid: number, payload: Uint8Array, pusi: boolean): void {
    let data = payload;
    if (pusi) {
      const pointer = data[0]!;
      if (pointer + 1 > data.length) {
        this.stats.badPackets++;
        return;
      }
      // The bytes before pointer_field's end finish the previous section.
      if (this.section?.pid === pid && pointer > 0) this.sectionBytes(data.subarray(1, 1 + pointer));
      this.section = { pid, buf: new Uint8Array(MAX_SECTION), len: 0 };
      data = data.subarray(1 + pointer);
    }
    if (this.section?.pid !== pid) return;
    this.sectionBytes(data);
  }

  private sectionBytes(data: Uint8Array): void {
    const s = this.section!;
    const n = Math.min(data.length, MAX_SECTION - s.len);
    s.buf.set(data.subarray(0, n), s.len);
    s.len += n;
    if (s.len < 3) return;
    if (s.buf[0] === 0xff) {
      this.section = null; // stuffing
      return;
    }
    const total = 3 + (((s.buf[1]! & 0x0f) << 8) | s.buf[2]!);
    if (total > MAX_SECTION || total < 3 + 9) {
      this.stats.crcErrors++;
      this.section = null;
      return;
    }
    if (s.len < total) return;
    this.section = null;
    const sec = s.buf.subarray(0, total);
    if (crc32mpeg(sec) !== 0) {
      // A section followed by its own CRC has a CRC of 0 (Annex A).
      this.stats.crcErrors++;
      return;
    }
    if (s.pid === PAT_PID && sec[0] === 0x00) this.parsePat(sec);
    else if (sec[0] === 0x02) this.parsePmt(sec);
  }

  private parsePat(sec: Uint8Array): void {
    if (!(sec[5]! & 1)) return; // not current
    for (let i = 8; i + 4 <= sec.length - 4; i += 4) {
      const program = (sec[i]! << 8) | sec[i + 1]!;
      const pid = ((sec[i + 2]! & 0x1f) << 8) | sec[i + 3]!;
      if (program === 0) continue; // network PID
      if (pid !== this.pmtPid) {
        this.pmtPid = pid;
        this.pmtVersion = -1;
      }
      return;
    }
  }

  private parsePmt(sec: Uint8Array): void {
    if (!(sec[5]! & 1)) return;
    const version = (sec[5]! >> 1) & 0x1f;
    if (version === this.pmtVersion && this.stream) return;
    const infoLen = ((sec[10]! & 0x0f) << 8) | sec[11]!;
    let i = 12 + infoLen;
    const end = sec.length - 4;
    let found: TsStreamInfo | null = null;
    let unsupported = 0;
    while (i + 5 <= end) {
      const type = sec[i]!;
      const pid = ((sec[i + 1]! & 0x1f) << 8) | sec[i + 2]!;
      const esLen = ((sec[i + 3]! & 0x0f) << 8) | sec[i + 4]!;
      const dEnd = Math.min(end, i + 5 + esLen);
      let reg = '';
      let opusChannels = 0;
      for (let d = i + 5; d + 2 <= dEnd; ) {
        const tag = sec[d]!;
        const len = sec[d + 1]!;
        if (d + 2 + len > dEnd) break;
        if (tag === 0x05 && len >= 4) reg = String.fromCharCode(...sec.subarray(d + 2, d + 6));
        if (tag === 0x7f && len >= 2 && sec[d + 2] === 0x80) opusChannels = sec[d + 3]! <= 8 ? sec[d + 3]! : 0;
        d += 2 + len;
      }
      let codec: TsCodec | null = null;
      if (type === 0x03 || type === 0x04) codec = 'mpeg-audio';
      else if (type === 0x06 && reg === 'Opus') codec = 'opus';
      else if (type === 0x06 && reg === 'BSSD') codec = 's302m';
      else if ([0x0f, 0x11, 0x81, 0x87].includes(type) || type === 0x06) unsupported++;
      if (codec && !found) found = { pid, codec, streamType: type, channels: codec === 'opus' ? opusChannels : 0 };
      i = dEnd;
    }
    this.pmtVersion = version;
    if (!found) {
      this.stats.unsupportedStreams += unsupported;
      return;
    }
    if (this.stream?.pid !== found.pid || this.stream.codec !== found.codec) {
      this.pesOpen = false;
      this.pesLen = 0;
    }
    this.stream = found;
  }

  private esPayload(data: Uint8Array, pusi: boolean): void {
    if (pusi) {
      if (this.pesOpen) this.finishPes();
      this.pesOpen = true;
      this.pesLen = 0;
    }
    if (!this.pesOpen) return; // joined mid-PES: wait for the next start
    if (this.pesLen + data.length > MAX_PES) {
      this.stats.pesErrors++;
      this.pesOpen = false;
      this.pesLen = 0;
      return;
    }
    if (this.pesLen + data.length > this.pes.length) {
      const bigger = new Uint8Array(Math.min(MAX_PES, Math.max(this.pes.length * 2, this.pesLen + data.length)));
      bigger.set(this.pes.subarray(0, this.pesLen));
      this.pes = bigger;
    }
    this.pes.set(data, this.pesLen);
    this.pesLen += data.length;
    // A PES with a length is done as soon as it is all here (no need to wait for the next one).
    if (this.pesLen >= 6) {
      const declared = (this.pes[4]! << 8) | this.pes[5]!;
      if (declared > 0 && this.pesLen >= 6 + declared) this.finishPes();
    }
  }

  private finishPes(): void {
    this.pesOpen = false;
    const b = this.pes.subarray(0, this.pesLen);
    this.pesLen = 0;
    const stream = this.stream;
    if (!stream) return;
    if (b.length < 9 || b[0] !== 0 || b[1] !== 0 || b[2] !== 1) {
      this.stats.pesErrors++;
      return;
    }
    const declared = (b[4]! << 8) | b[5]!;
    let end = b.length;
    if (declared > 0) {
      if (6 + declared > b.length) {
        this.stats.pesErrors++; // truncated
        return;
      }
      end = 6 + declared;
    }
    const flags = b[7]!;
    const hdrLen = b[8]!;
    const start = 9 + hdrLen;
    if ((b[6]! & 0xc0) !== 0x80 || start > end) {
      this.stats.pesErrors++;
      return;
    }
    let pts: number | null = null;
    if (flags & 0x80 && hdrLen >= 5) pts = readTimestamp(b, 9);
    const payload = b.subarray(start, end);
    if (stream.codec === 'opus') this.opusUnits(stream, payload, pts);
    else this.emit(stream, payload.slice(), pts);
  }

  private emit(stream: TsStreamInfo, data: Uint8Array, pts: number | null): void {
    if (data.length === 0) return;
    this.stats.accessUnits++;
    this.onAccessUnit({ stream, data, pts });
  }

  /** Splits an Opus PES payload at its control headers. */
  private opusUnits(stream: TsStreamInfo, p: Uint8Array, pts: number | null): void {
    let i = 0;
    let t = pts;
    while (i < p.length) {
      if (i + 2 > p.length || p[i] !== 0x7f || (p[i + 1]! & 0xe0) !== 0xe0) {
        this.stats.auErrors++;
        return;
      }
      const flags = p[i + 1]!;
      i += 2;
      let size = 0;
      for (;;) {
        if (i >= p.length) {
          this.stats.auErrors++;
          return;
        }
        const v = p[i++]!;
        size += v;
        if (v !== 255) break;
      }
      if (flags & 0x10) i += 2; // start_trim
      if (flags & 0x08) i += 2; // end_trim
      if (flags & 0x04) {
        if (i >= p.length) {
          this.stats.auErrors++;
          return;
        }
        i += 1 + p[i]!; // control_extension_length + bytes
      }
      if (i + size > p.length || size === 0) {
        this.stats.auErrors++;
        return;
      }
      const au = p.slice(i, i + size);
      i += size;
      this.emit(stream, au, t);
      if (t !== null) {
        const samples = opusPacketSamples(au);
        t = samples > 0 ? (t + (samples * 90_000) / 48_000) % PTS_WRAP : null;
      }
    }
  }
}

/** Samples (48 kHz) in an Opus packet, from its TOC (RFC 6716 §3.1); 0 if malformed. */
export function opusPacketSamples(p: Uint8Array): number {
  if (p.length < 1) return 0;
  const config = p[0]! >> 3;
  let frameSamples: number;
  if (config < 12) frameSamples = [480, 960, 1920, 2880][config & 3]!;
  else if (config < 16) frameSamples = config & 1 ? 960 : 480;
  else frameSamples = [120, 240, 480, 960][config & 3]!;
  const code = p[0]! & 3;
  const frames = code === 0 ? 1 : code === 3 ? (p.length < 2 ? 0 : p[1]! & 0x3f) : 2;
  return frames * frameSamples;
}
