/**
 * WAV (RIFF WAVE) decoding: PCM 8/16/24/32-bit and IEEE float 32/64, plain or
 * WAVE_FORMAT_EXTENSIBLE (Microsoft "Multimedia Programming Interface and Data
 * Specifications 1.0", RIFF chunks; the extensible header's first two bytes of SubFormat).
 */
import { DecodeError, type PcmSink } from './pcm48.ts';

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_EXTENSIBLE = 0xfffe;
const BLOCK = 4096;

export function isWav(b: Uint8Array): boolean {
  return b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WAVE';
}

function ascii(b: Uint8Array, at: number, n: number): string {
  return String.fromCharCode(...b.subarray(at, at + n));
}

/** Decode a whole WAV file into `sink`. Throws DecodeError with the reason. */
export function decodeWav(b: Uint8Array, sink: PcmSink): void {
  if (!isWav(b)) throw new DecodeError('not a WAV file (no RIFF/WAVE header)');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 12;
  let fmt: { format: number; channels: number; rate: number; bits: number; align: number } | undefined;
  let data: { at: number; len: number } | undefined;
  while (o + 8 <= b.length) {
    const id = ascii(b, o, 4);
    const len = v.getUint32(o + 4, true);
    const body = o + 8;
    if (id === 'fmt ') {
      if (len < 16 || body + 16 > b.length) throw new DecodeError('the fmt chunk is cut short');
      let format = v.getUint16(body, true);
      const channels = v.getUint16(body + 2, true);
      const rate = v.getUint32(body + 4, true);
      const align = v.getUint16(body + 12, true);
      const bits = v.getUint16(body + 14, true);
      if (format === FORMAT_EXTENSIBLE) {
        if (len < 40 || body + 26 > b.length) throw new DecodeError('the extensible fmt chunk is cut short');
        format = v.getUint16(body + 24, true);
      }
      fmt = { format, channels, rate, bits, align };
    } else if (id === 'data') {
      // A streamed WAV may give 0 or 0xffffffff: take what the file holds. Any other length
      // past the end of the file: the file was cut short.
      const avail = b.length - body;
      if (len !== 0 && len !== 0xffffffff && len > avail) throw new DecodeError(`cut short: the data chunk holds ${avail} of ${len} bytes`);
      data = { at: body, len: len === 0 || len > avail ? avail : len };
      break;
    }
    o = body + len + (len & 1);
  }
  if (!fmt) throw new DecodeError('no fmt chunk');
  if (!data) throw new DecodeError('no data chunk');
  const { format, channels, rate, bits, align } = fmt;
  const bytes = bits / 8;
  const okPcm = format === FORMAT_PCM && [8, 16, 24, 32].includes(bits);
  const okFloat = format === FORMAT_FLOAT && (bits === 32 || bits === 64);
  if (!okPcm && !okFloat) throw new DecodeError(`WAV format ${format} with ${bits} bits is not supported (PCM 8/16/24/32 or float 32/64)`);
  if (channels < 1 || align !== channels * bytes) throw new DecodeError(`inconsistent WAV header (${channels} channels, block align ${align})`);
  sink.format(rate, channels);
  const total = Math.floor(data.len / align);
  if (total === 0) throw new DecodeError('the data chunk holds no audio');
  const buf = new Float32Array(BLOCK * channels);
  for (let f0 = 0; f0 < total; f0 += BLOCK) {
    const n = Math.min(BLOCK, total - f0);
    let p = data.at + f0 * align;
    for (let i = 0; i < n * channels; i++, p += bytes) {
      let s: number;
      if (okFloat) s = bits === 32 ? v.getFloat32(p, true) : v.getFloat64(p, true);
      else if (bits === 8) s = (b[p]! - 128) / 128;
      else if (bits === 16) s = v.getInt16(p, true) / 32768;
      else if (bits === 24) s = ((b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) << 8) / 2147483648;
      else s = v.getInt32(p, true) / 2147483648;
      buf[i] = Number.isFinite(s) ? s : 0;
    }
    if (!sink.write(buf, n)) return;
  }
}
