/** What the capture source is opened with, from the config's [input] and [tone]. */
import type { Config } from '../config/schema.ts';
import type { SourceSettings } from './protocol.ts';

export function sourceSettings(c: Config): SourceSettings {
  return {
    source: c.input.source,
    device: c.input.device,
    channels: c.input.channels,
    latencyFrames: c.input.latency_frames,
    relaxedLatencyFrames: c.input.relaxed_latency_frames,
    tone: { frequency: c.tone.frequency, levelDbfs: c.tone.level_dbfs, clockPpm: c.tone.clock_ppm },
    gainDb: c.input.gain_db,
    ...(c.input.source === 'srt' || c.input.source === 'rtp'
      ? { network: { url: c.input.url, bufferMs: c.input.buffer_ms, passphrase: c.input.passphrase, outputDevice: c.input.output_device } }
      : {}),
  };
}
