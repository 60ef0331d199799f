/** One encoded packet. `data` is owned by the packet (copied out of C memory). */
export interface EncodedPacket {
  data: Uint8Array;
  /** Sample index (48 kHz clock) of the first frame this packet encodes. */
  pts: number;
  /** Frames (samples per channel) this packet encodes. */
  frames: number;
  /**
   * When the encoder finished the packet (its last frame had just come from the source):
   * CLOCK_MONOTONIC in ms (ffi/libc.ts monotonicMs), the same clock in every thread and process. Set by the audio
   * worker; the low-latency channel tells listeners when a packet was captured from it.
   */
  at?: number;
}

export type PacketSink = (packet: EncodedPacket) => void;

/**
 * An encoder fed interleaved float32 frames of any block size; it accumulates into its own
 * preallocated buffer and calls its sink once per complete packet.
 */
export interface Encoder {
  readonly codec: 'opus' | 'mp3' | 'pcmu' | 'pcma' | 'g722' | 's302m';
  readonly channels: number;
  /** Frames per packet. */
  readonly frameSize: number;
  /** Feed `frames` interleaved frames from `pcm`; `pts` is the sample index of pcm[0]. */
  write(pcm: Float32Array, frames: number, pts: number): void;
  /** Encode what is buffered (padding with silence where the codec needs whole frames). */
  flush(): void;
  /** Idempotent; use after close throws. */
  close(): void;
}
