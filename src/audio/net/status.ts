/** What the network receiver reports (net/receiver-worker.ts → the network source → /api/status). */
export interface ReceiverStatus {
  protocol: 'rtp' | 'srt';
  /**
   * - `starting`: opening the socket.
   * - `listening`: waiting for a sender (RTP port open, SRT listener bound).
   * - `calling`: an SRT caller trying to connect.
   * - `connected`: an SRT link is up, no audio yet.
   * - `receiving`: packets are arriving.
   * - `failed`: cannot open (port taken, bad passphrase); retried.
   */
  state: 'starting' | 'listening' | 'calling' | 'connected' | 'receiving' | 'failed';
  /** One sentence for the Input page. */
  message: string;
  /** Where the audio comes from ("192.0.2.7:5004"), '' before the first packet. */
  peer: string;
  /** How long ago the last packet arrived (ms), null before the first. */
  lastPacketAgeMs: number | null;
  /** The last problem seen (a refused stream, a wrong passphrase), '' when none. */
  problem: string;
  /** packets, bytes, lost, late, malformed, … (protocol-specific). */
  counters: Record<string, number>;
  /** The payload being decoded ("l24", "opus", "mp2"…), '' until known. */
  payload: string;
  /** libsrt's link statistics (RTT, loss, retransmits, buffer), null for RTP. */
  srt: Record<string, number> | null;
}
