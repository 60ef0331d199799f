/** One encoded packet. `data` is owned by the packet (copied out of C memory). */
export interface EncodedPacket {
  data: Uint8Array;
  /** Sample index (48 kHz clock) of the first frame this packet encodes. */
  pts: number;
  /** Frames (samples per channel) this packet encodes. */
  frames: number;
  /**
   * When the packet's last frame was captured (the PipeWire callback that delivered it; for a
   * source without a capture clock, when the encoder finished the packet): CLOCK_MONOTONIC in
   * ms (ffi/libc.ts monotonicMs), the same clock in every thread and process. Set by the audio
   * worker; the low-latency channel tells listeners when a packet was captured from it, and an
   * SRT sender stamps its messages with it.
   */
  at?: number;
  /**
   * MP3 only (the packet holds whole MP3 frames): the bus position of the first sample a
   * decoder that starts at this packet's first frame plays, LAME's and the decoder's delays
   * included. The frames that follow are 1152 apart. `pts`/`frames` still tile the input.
   */
  framePts?: number;
}

export type PacketSink = (packet: EncodedPacket) => void;

/**
 * An encoder fed interleaved float32 frames of any block size; it accumulates into its own
 * preallocated buffer and calls its sink once per complete packet.
 */
export interface Encoder {
  readonly codec: 'opus' | 'mp3' | 'mp2' | 'pcmu' | 'pcma' | 'g722' | 's302m' | 'flac' | 'l16' | 'l24';
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
