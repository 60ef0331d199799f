import type { EncoderSpec } from '../codecs/index.ts';
import type { EncodedPacket } from '../codecs/encoder.ts';
import type { Levels } from '../audio/meter.ts';

/**
 * What an output needs of the audio pipeline: encoded packets for a spec (AudioPipeline
 * satisfies it; tests pass a fake). Outputs depend on this, never on the worker.
 */
export interface PacketSource {
  /** `batch`: the listener takes packets in batches, up to ~100 ms late (see AudioPipeline). */
  subscribe(spec: EncoderSpec, listener: (packet: EncodedPacket) => void, opts?: { batch?: boolean }): () => void;
}

/** What the silence detector needs: the current levels. */
export interface LevelSource {
  currentLevels(): Levels;
}
