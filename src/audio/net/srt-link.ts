/**
 * SRT receive (placeholder until ffi/srt.ts and src/codecs/mpegts.ts land): refuses clearly.
 */
import type { NetRing } from './ring.ts';
import type { ReceiverStatus } from './status.ts';
import type { SrtInputUrl } from '../../config/input-url.ts';

export function startSrt(_u: SrtInputUrl, _ring: NetRing, _o: { bufferMs: number; passphrase: string }): { status(): ReceiverStatus; close(): void } {
  throw new Error('SRT input is not available in this build');
}
