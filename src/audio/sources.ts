import { ToneSource } from './tone.ts';
import type { AudioSource } from './source.ts';
import type { SourceSettings } from './protocol.ts';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', prefix: string, msg: string) => void;

/**
 * Build the source the settings ask for. `auto` means PipeWire's default source when
 * PipeWire answers and has one, otherwise the test tone.
 */
export async function createSource(s: SourceSettings, log: Log): Promise<AudioSource> {
  const tone = () =>
    new ToneSource({ channels: s.channels, frequency: s.tone.frequency, levelDbfs: s.tone.levelDbfs });
  if (s.source === 'tone') return tone();
  // PipeWire capture arrives with the capture issue; until then auto falls back to the tone.
  if (s.source === 'auto') {
    log('info', 'input', 'no PipeWire capture available: using the test tone');
    return tone();
  }
  throw new Error(`input.source "${s.source}" is not available in this build`);
}
