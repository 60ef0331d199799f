import type { EncoderSpec } from '../codecs/index.ts';
import type { EncodedPacket } from '../codecs/encoder.ts';
import type { Levels } from '../audio/meter.ts';

/**
 * What an output needs of the audio pipeline: encoded packets for a spec (AudioPipeline
 * satisfies it; tests pass a fake). Outputs depend on this, never on the worker.
 */
export interface PacketSource {
  /** `maxDelayMs`: how late the listener may get packets (MAX_DELAY_MS in audio/pipeline.ts). */
  subscribe(spec: EncoderSpec, listener: (packet: EncodedPacket) => void, opts?: { maxDelayMs?: number; tap?: 'output' | 'record' | 'input'; program?: string }): () => void;
}

/** What the silence detector needs: the current levels. */
export interface LevelSource {
  currentLevels(): Levels;
}
