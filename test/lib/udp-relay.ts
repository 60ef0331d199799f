/**
 * A UDP relay between a WebRTC listener and hark that behaves like a poor network: every
 * datagram hark sends to the listener is dropped with probability `loss`, and the others are
 * held `delayMs ± jitterMs` (uniform) each, so they also arrive out of order. What the listener
 * sends goes to hark at once. Used by benchmarks and tests of the low-latency listening path
 * (issue 19: "1 % random loss + 5 ms ± 3 ms jitter").
 *
 * The listener must know hark only by the relay's port, and hark the listener only from the
 * relay's checks: `rewriteOffer` drops the listener's candidates, `rewriteAnswer` replaces
 * hark's with the relay's.
 */
export interface LossyRelayOptions {
  /** hark's WebRTC UDP port on 127.0.0.1. */
  harkPort: number;
  /** Probability (0–1) that a datagram from hark is dropped. */
  loss?: number;
  /** Mean hold of a datagram from hark, ms. */
  delayMs?: number;
  /** Uniform spread around delayMs (±), ms. */
  jitterMs?: number;
  /** Random source (default Math.random), for reproducible runs. */
  random?: () => number;
  /** Drop a datagram from hark that this picks (before `loss`), e.g. chosen RTP packets. */
  drop?: (datagram: Buffer) => boolean;
}

export interface LossyRelay {
  readonly port: number;
  /** Datagrams from hark: relayed, dropped. */
  readonly counts: { relayed: number; dropped: number };
  rewriteOffer(sdp: string): string;
  rewriteAnswer(sdp: string): string;
  close(): void;
}

export async function startLossyRelay(o: LossyRelayOptions): Promise<LossyRelay> {
  const loss = o.loss ?? 0;
  const delay = o.delayMs ?? 0;
  const jitter = o.jitterMs ?? 0;
  const random = o.random ?? Math.random;
  const counts = { relayed: 0, dropped: 0 };
  let client: { address: string; port: number } | undefined;
  let closed = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let toHark: Bun.udp.Socket<'buffer'>;
  // Faces the listener: what it sends goes on to hark at once.
  const facingClient = await Bun.udpSocket({
    hostname: '127.0.0.1',
    socket: {
      data(_s, buf, port, address) {
        client = { address, port };
        toHark.send(buf, o.harkPort, '127.0.0.1');
      },
    },
  });
  // Faces hark: what hark sends is dropped or held, then goes on to the listener.
  toHark = await Bun.udpSocket({
    hostname: '127.0.0.1',
    socket: {
      data(_s, buf) {
        if (!client || closed) return;
        if (o.drop?.(buf as Buffer) || (loss > 0 && random() < loss)) {
          counts.dropped++;
          return;
        }
        counts.relayed++;
        const to = client;
        const hold = Math.max(0, delay + (2 * random() - 1) * jitter);
        if (hold <= 0) {
          facingClient.send(buf, to.port, to.address);
          return;
        }
        // A copy: the socket may reuse its buffer before the timer fires.
        const copy = Buffer.from(buf);
        const t = setTimeout(() => {
          timers.delete(t);
          if (!closed) facingClient.send(copy, to.port, to.address);
        }, hold);
        timers.add(t);
      },
    },
  });
  const port = facingClient.port;
  return {
    port,
    counts,
    rewriteOffer: (sdp) =>
      sdp
        .split('\r\n')
        .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
        .join('\r\n'),
    rewriteAnswer: (sdp) => {
      let added = false;
      return sdp
        .split('\r\n')
        .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
        .flatMap((l) => {
          // One candidate, on the first (bundled) m= section's mid.
          if (!added && l.startsWith('a=mid:')) {
            added = true;
            return [l, `a=candidate:1 1 UDP 2122317823 127.0.0.1 ${port} typ host`, 'a=end-of-candidates'];
          }
          return [l];
        })
        .join('\r\n');
    },
    close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      facingClient.close();
      toHark.close();
    },
  };
}
