/**
 * The pre-roll ring: the last few seconds of one encoder's packets, kept in memory so that a
 * recording started by VOX begins with the audio from before the sound that started it. It
 * exists only while VOX is on (nothing is encoded or kept otherwise).
 *
 * MP3 packets reach the main thread joined (several frames in one message, worker.ts): they are
 * split here at their frame headers, so the cut falls on a frame (24 ms), not on a join (250 ms).
 */
import type { EncodedPacket } from '../codecs/encoder.ts';
import { mp3FrameLength } from '../codecs/mp3.ts';

/**
 * MPEG-1 Layer III frames of a joined packet, each with its own pts (1152 samples at 48 kHz),
 * or null when they do not parse. With `framePts` (the encoder cut the packet at frames and
 * knows where its sound is) each frame's pts is where a decoder starting at it begins to play;
 * without, the input the packet covered is shared out from its end.
 */
export function splitMp3(p: EncodedPacket): EncodedPacket[] | null {
  const out: EncodedPacket[] = [];
  const d = p.data;
  let at = 0;
  while (at + 4 <= d.length) {
    const len = mp3FrameLength(d, at);
    if (len === 0) return null;
    out.push({ data: d.subarray(at, at + len), pts: 0, frames: 1152 });
    at += len;
  }
  if (at !== d.length || out.length === 0) return null;
  if (p.framePts !== undefined) out.forEach((f, i) => (f.pts = p.framePts! + i * 1152));
  else {
    const end = p.pts + p.frames;
    out.forEach((f, i) => (f.pts = end - (out.length - i) * 1152));
  }
  return out;
}

export class PacketRing {
  private packets: EncodedPacket[] = [];

  /** `keepFrames`: how much audio to keep (48 kHz frames); `mp3`: the packets are MP3 (split at frames). */
  constructor(
    private readonly keepFrames: number,
    private readonly mp3 = false,
  ) {}

  push(p: EncodedPacket): void {
    const parts = this.mp3 ? (splitMp3(p) ?? [p]) : [p];
    for (const q of parts) this.packets.push(q);
    const last = this.packets[this.packets.length - 1]!;
    const keepFrom = last.pts + last.frames - this.keepFrames;
    let drop = 0;
    while (drop < this.packets.length - 1 && this.packets[drop]!.pts + this.packets[drop]!.frames <= keepFrom) drop++;
    if (drop > 0) this.packets.splice(0, drop);
  }

  /** The packets from the one nearest to `pts` on (a packet whose middle is after it), oldest first. */
  since(pts: number): EncodedPacket[] {
    return this.packets.filter((p) => p.pts + p.frames / 2 > pts);
  }

  clear(): void {
    this.packets = [];
  }

  /** Seconds held (for the log and tests). */
  get seconds(): number {
    if (!this.packets.length) return 0;
    const a = this.packets[0]!;
    const b = this.packets[this.packets.length - 1]!;
    return (b.pts + b.frames - a.pts) / 48000;
  }
}
