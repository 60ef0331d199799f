import type { OpusApplication, OpusBandwidth, OpusFrameMs } from '../../ffi/opus.ts';
import { vbrQualityForBitrate } from '../../ffi/lame.ts';
import type { Encoder, PacketSink } from './encoder.ts';
import { G711Encoder } from './g711.ts';
import { G722Encoder } from './g722.ts';
import { Mp3StreamEncoder } from './mp3.ts';
import { OpusStreamEncoder } from './opus.ts';
import { S302mEncoder } from './s302m.ts';

export type { EncodedPacket, Encoder, PacketSink } from './encoder.ts';
export { Mp3StreamEncoder } from './mp3.ts';
export { OpusStreamEncoder } from './opus.ts';

/** What an output asks the engine for; outputs with equal specs share one encoder. */
export type EncoderSpec =
  | {
      codec: 'opus';
      channels: 1 | 2;
      bitrateKbps: number;
      frameMs: OpusFrameMs;
      application: OpusApplication;
      /** In-band FEC, tuned for 10 % expected loss (libopus adds no FEC data at 0 %). */
      fec: boolean;
      dtx: boolean;
      /** Hard CBR instead of (constrained) VBR. */
      cbr: boolean;
      complexity: number;
      /** Widest band to encode (WebRTC: from the listener's maxplaybackrate); default fullband. */
      maxBandwidth?: OpusBandwidth;
    }
  | {
      codec: 'mp3';
      channels: 1 | 2;
      /** CBR: the bitrate. VBR: the target mean, mapped to the nearest LAME -V preset. */
      bitrateKbps: number;
      mode: 'cbr' | 'vbr';
    }
  | {
      /** PCM as SMPTE 302M AES3 data packets, 24-bit (SRT's payload "pcm"). */
      codec: 's302m';
      channels: 1 | 2;
      /** Packet duration (1, 2, 4, 5 or 10 ms). */
      frameMs: number;
    }
  | {
      /** G.711 μ-law / A-law (8 kHz) or G.722 (16 kHz): mono, the input mixed down and decimated. */
      codec: 'pcmu' | 'pcma' | 'g722';
      channels: 1 | 2;
      /** Packet duration. */
      frameMs: number;
    };

/** Expected loss libopus plans FEC for when a spec asks for FEC (OPUS_SET_PACKET_LOSS_PERC). */
const FEC_EXPECTED_LOSS_PCT = 10;

/** A new encoder for `spec`, calling `sink` once per packet. */
export function createEncoder(spec: EncoderSpec, sink: PacketSink): Encoder {
  switch (spec.codec) {
    case 'opus':
      return new OpusStreamEncoder(
        {
          channels: spec.channels,
          application: spec.application,
          frameMs: spec.frameMs,
          bitrateKbps: spec.bitrateKbps,
          complexity: spec.complexity,
          vbr: !spec.cbr,
          fec: spec.fec,
          expectedLossPct: spec.fec ? FEC_EXPECTED_LOSS_PCT : 0,
          dtx: spec.dtx,
          ...(spec.maxBandwidth ? { maxBandwidth: spec.maxBandwidth } : {}),
        },
        sink,
      );
    case 'mp3':
      return new Mp3StreamEncoder(
        spec.mode === 'cbr'
          ? { channels: spec.channels, mode: 'cbr', bitrateKbps: spec.bitrateKbps }
          : { channels: spec.channels, mode: 'vbr', vbrQuality: vbrQualityForBitrate(spec.bitrateKbps) },
        sink,
      );
    case 's302m':
      return new S302mEncoder({ channels: spec.channels, frameMs: spec.frameMs }, sink);
    case 'pcmu':
    case 'pcma':
      return new G711Encoder(spec.codec, { channels: spec.channels, frameMs: spec.frameMs }, sink);
    case 'g722':
      return new G722Encoder({ channels: spec.channels, frameMs: spec.frameMs }, sink);
    default:
      throw new RangeError(`unknown codec ${(spec as { codec: unknown }).codec}`);
  }
}

/**
 * A stable string naming everything that changes the encoded bytes, so that the engine runs
 * one encoder per distinct key. Field order is fixed here; extra properties are ignored.
 */
export function encoderKey(spec: EncoderSpec): string {
  switch (spec.codec) {
    case 'opus':
      return [
        'opus',
        `${spec.channels}ch`,
        `${spec.bitrateKbps}k`,
        `${spec.frameMs}ms`,
        spec.application,
        `fec=${spec.fec ? 1 : 0}`,
        `dtx=${spec.dtx ? 1 : 0}`,
        spec.cbr ? 'cbr' : 'vbr',
        `c${spec.complexity}`,
        ...(spec.maxBandwidth ? [spec.maxBandwidth] : []),
      ].join('/');
    case 'mp3':
      return ['mp3', `${spec.channels}ch`, `${spec.bitrateKbps}k`, spec.mode].join('/');
    case 's302m':
    case 'pcmu':
    case 'pcma':
    case 'g722':
      return [spec.codec, `${spec.channels}ch`, `${spec.frameMs}ms`].join('/');
    default:
      throw new RangeError(`unknown codec ${(spec as { codec: unknown }).codec}`);
  }
}
