/**
 * Decode an audio file held in memory — WAV, FLAC, Ogg/Opus or MP3, told apart by their first
 * bytes — into a PcmSink (pcm48.ts). For the fallback loop: runs at load, off the audio path.
 */
import { FlacDecoder } from '../../ffi/flac.ts';
import { Mpg123Decoder } from '../../ffi/mpg123.ts';
import { OpusDecoder } from '../../ffi/opus.ts';
import { parseOggPages } from './ogg.ts';
import { DecodeError, type PcmSink } from './pcm48.ts';
import { decodeWav, isWav } from './wav.ts';

export type FileFormat = 'wav' | 'flac' | 'ogg-opus' | 'mp3';

/** What the first bytes say the file is (undefined: none of the four). */
export function sniff(b: Uint8Array): FileFormat | undefined {
  if (isWav(b)) return 'wav';
  if (b.length >= 4 && b[0] === 0x66 && b[1] === 0x4c && b[2] === 0x61 && b[3] === 0x43) return 'flac'; // "fLaC"
  if (b.length >= 4 && b[0] === 0x4f && b[1] === 0x67 && b[2] === 0x67 && b[3] === 0x53) return 'ogg-opus'; // "OggS"
  if (b.length >= 3 && b[0] === 0x49 && b[1] === 0x44 && b[2] === 0x33) return 'mp3'; // "ID3"
  if (b.length >= 2 && b[0] === 0xff && (b[1]! & 0xe0) === 0xe0 && (b[1]! & 0x06) !== 0) return 'mp3'; // MPEG audio frame sync
  return undefined;
}

/** Decode `b` into `sink`; returns the format. Throws DecodeError (or a library's error) with the reason. */
export function decodeFile(b: Uint8Array, sink: PcmSink): FileFormat {
  const format = sniff(b);
  switch (format) {
    case 'wav':
      decodeWav(b, sink);
      break;
    case 'flac':
      decodeFlac(b, sink);
      break;
    case 'ogg-opus':
      decodeOggOpus(b, sink);
      break;
    case 'mp3':
      decodeMp3(b, sink);
      break;
    default:
      throw new DecodeError('not a WAV, FLAC, Ogg/Opus or MP3 file');
  }
  return format;
}

function decodeFlac(b: Uint8Array, sink: PcmSink): void {
  using dec = new FlacDecoder();
  let any = false;
  dec.decode(b, (blk) => {
    sink.format(blk.rate, blk.channels);
    any = true;
    return sink.write(blk.samples, blk.frames);
  });
  if (!any) throw new DecodeError('no FLAC audio frames in it (damaged?)');
}

function decodeMp3(b: Uint8Array, sink: PcmSink): void {
  using dec = new Mpg123Decoder();
  const frames = dec.decode(b, (blk) => {
    sink.format(blk.rate, blk.channels);
    return sink.write(blk.samples, blk.frames);
  });
  if (frames === 0) throw new DecodeError('no MPEG audio found');
}

/**
 * Ogg/Opus (RFC 7845): the first logical stream's packets reassembled across pages (RFC 3533
 * §6: a lacing value of 255 continues the packet), OpusHead (channels, pre-skip, gain), then
 * every audio packet through libopus at 48 kHz; the pre-skip is dropped (§4.2) and the last
 * page's granule position trims the end (§4.4). Channel mapping family 0 only (mono, stereo).
 */
function decodeOggOpus(b: Uint8Array, sink: PcmSink): void {
  let pages;
  try {
    pages = parseOggPages(b);
  } catch (e) {
    throw new DecodeError(`damaged Ogg: ${(e as Error).message}`);
  }
  const first = pages[0];
  if (!first || !first.bos) throw new DecodeError('the Ogg stream has no beginning page');
  const serial = first.serial;
  const packets: { data: Uint8Array; granule: number }[] = [];
  let partial: Uint8Array[] = [];
  let lastGranule = -1;
  for (const p of pages) {
    if (p.serial !== serial) continue;
    if (!p.crcOk) throw new DecodeError(`damaged Ogg page ${p.sequence} (CRC mismatch or cut short)`);
    if (!p.continued && partial.length > 0) partial = []; // a lost continuation: drop the fragment
    p.segments.forEach((s, i) => {
      partial.push(s.data);
      if (!s.complete) return;
      const len = partial.reduce((n, x) => n + x.length, 0);
      const data = new Uint8Array(len);
      let at = 0;
      for (const x of partial) {
        data.set(x, at);
        at += x.length;
      }
      partial = [];
      // The page's granule belongs to the last packet that ends on it.
      const last = p.segments.slice(i + 1).every((t) => !t.complete);
      packets.push({ data, granule: last ? p.granule : -1 });
    });
    if (p.granule >= 0) lastGranule = p.granule;
  }
  const head = packets[0]?.data;
  if (!head || head.length < 19 || new TextDecoder().decode(head.subarray(0, 8)) !== 'OpusHead') throw new DecodeError('not an Ogg/Opus stream (no OpusHead)');
  if ((head[8]! & 0xf0) !== 0) throw new DecodeError(`unsupported OpusHead version ${head[8]}`);
  const channels = head[9]!;
  const hv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const preSkip = hv.getUint16(10, true);
  const gainDb = hv.getInt16(16, true) / 256;
  const family = head[18]!;
  if (family !== 0 || (channels !== 1 && channels !== 2)) throw new DecodeError(`Opus channel mapping family ${family} with ${channels} channels is not supported (mono or stereo)`);
  const gain = 10 ** (gainDb / 20);
  sink.format(48_000, channels);
  using dec = new OpusDecoder({ channels });
  let skip = preSkip;
  let produced = 0;
  const end = lastGranule >= 0 ? lastGranule - preSkip : Infinity;
  for (const pk of packets.slice(2)) {
    let pcm: Float32Array;
    try {
      pcm = dec.decode(pk.data);
    } catch (e) {
      throw new DecodeError(`damaged Opus packet: ${(e as Error).message}`);
    }
    let frames = pcm.length / channels;
    let from = 0;
    if (skip > 0) {
      from = Math.min(skip, frames);
      skip -= from;
    }
    frames -= from;
    frames = Math.max(0, Math.min(frames, end - produced));
    if (frames <= 0) continue;
    const out = pcm.subarray(from * channels, (from + frames) * channels);
    if (gain !== 1) for (let i = 0; i < out.length; i++) out[i]! *= gain;
    produced += frames;
    if (!sink.write(out, frames)) return;
  }
  if (produced === 0) throw new DecodeError('the Ogg/Opus file holds no audio');
}
