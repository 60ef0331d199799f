/**
 * One open RTP sender: a UDP socket (Bun.udpSocket, in hark's process) sending each encoded
 * packet as one RTP packet to the destination, and, when asked, the SAP announcement of its
 * SDP every ~30 s with a deletion packet at close. The `[[rtp]]` output's Link (link.ts).
 */
import type { udp } from 'bun';
import { isIPv6 } from 'node:net';
import type { EncodedPacket } from '../../codecs/encoder.ts';
import type { Logger } from '../../log.ts';
import type { Link } from '../link.ts';
import { buildSap, isMulticast, RtpPacketizer, SAP_PORT, sapAddress } from './protocol.ts';

/**
 * SAP's period. RFC 2974 §3.1 derives it from a 4 kbit/s budget with a 300 s floor; AES67
 * devices (and Dante, RAVENNA) announce every 30 s, which is what receivers' listings expect.
 */
export const SAP_INTERVAL_MS = 30_000;

export interface RtpLinkOptions {
  address: string;
  port: number;
  ttl: number;
  sourceAddress: string;
  packetizer: RtpPacketizer;
  /** The SDP to announce by SAP, given the address the link sends from (null: no SAP). */
  sap: ((origin: string) => string) | null;
  log: Logger;
}

/** The local address the kernel would send from to `address` (a connected UDP socket's), or null. */
export async function localAddressFor(address: string, port: number): Promise<string | null> {
  let s: udp.ConnectedSocket<'buffer'> | undefined;
  try {
    s = await Bun.udpSocket({ hostname: isIPv6(address) ? '::' : '0.0.0.0', connect: { hostname: address, port } });
    const a = s.address.address;
    return a && a !== '0.0.0.0' && a !== '::' ? a : null;
  } catch {
    return null;
  } finally {
    s?.close();
  }
}

export class RtpLink implements Link {
  private _bytes = 0;
  private _packets = 0;
  private _dropped = 0;
  private _announcements = 0;
  private endFn?: (err: unknown) => void;
  private closed = false;
  private sapTimer?: ReturnType<typeof setTimeout>;

  private constructor(
    private readonly socket: udp.Socket<'buffer'>,
    readonly origin: string,
    private readonly o: RtpLinkOptions,
  ) {}

  /** Open the socket (bound to source_address, or any), set the multicast TTL and interface. */
  static async open(o: RtpLinkOptions): Promise<RtpLink> {
    const v6 = isIPv6(o.address);
    let link: RtpLink | undefined;
    const socket = await Bun.udpSocket({
      hostname: o.sourceAddress || (v6 ? '::' : '0.0.0.0'),
      port: 0,
      socket: {
        // Nothing is expected back (no RTCP read here): whatever arrives is ignored.
        data() {},
        // Bun 1.4 passes the error first (its types say second): take whichever is an Error.
        error(a: unknown, b?: unknown) {
          link?.onError(a instanceof Error ? a : b);
        },
      },
    });
    try {
      if (isMulticast(o.address)) {
        socket.setMulticastTTL(o.ttl);
        // Receivers on this box (another hark, a monitor) hear the group too.
        socket.setMulticastLoopback(true);
        if (o.sourceAddress && !v6) socket.setMulticastInterface(o.sourceAddress);
      }
      const origin = o.sourceAddress || (await localAddressFor(o.address, o.port)) || (v6 ? '::1' : '127.0.0.1');
      link = new RtpLink(socket, origin, o);
      o.packetizer.restart();
      if (o.sap) link.announce();
      return link;
    } catch (e) {
      socket.close();
      throw e;
    }
  }

  get bytes(): number {
    return this._bytes;
  }

  get packets(): number {
    return this._packets;
  }

  /** Packets the socket could not take (its buffer full, or an error): counted, not retried. */
  get dropped(): number {
    return this._dropped;
  }

  get announcements(): number {
    return this._announcements;
  }

  onEnd(fn: (err: unknown) => void): void {
    this.endFn = fn;
  }

  send(p: EncodedPacket): void {
    if (this.closed) return;
    const pkt = this.o.packetizer.packet(p.data, p.pts);
    let ok = false;
    try {
      ok = this.socket.send(pkt, this.o.port, this.o.address);
    } catch (e) {
      this.onError(e);
      return;
    }
    if (ok) {
      this._packets++;
      this._bytes += pkt.length;
    } else this._dropped++;
  }

  private sapSend(deletion: boolean): void {
    if (!this.o.sap) return;
    const pkt = buildSap(this.o.sap(this.origin), this.origin, deletion);
    try {
      if (this.socket.send(pkt, SAP_PORT, sapAddress(this.o.address)) && !deletion) this._announcements++;
    } catch (e) {
      this.o.log.warn(`SAP announcement not sent: ${(e as Error).message}`);
    }
  }

  /** Announce now, then every SAP_INTERVAL_MS ± a third (RFC 2974 §3.1's jitter). */
  private announce(): void {
    this.sapSend(false);
    const next = SAP_INTERVAL_MS * (2 / 3 + (2 / 3) * Math.random());
    this.sapTimer = setTimeout(() => !this.closed && this.announce(), next);
  }

  /**
   * The kernel's word on an earlier packet. "Connection refused" (ICMP port unreachable: no
   * receiver on that port yet) is normal for RTP, which sends whether anyone listens or not:
   * counted. Anything else ends the link and the handler retries.
   */
  private onError(err: unknown): void {
    const msg = err instanceof Error ? `${(err as { code?: string }).code ?? ''} ${err.message}` : String(err);
    if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|EAGAIN|ENOBUFS/.test(msg)) {
      this._dropped++;
      if (!this.quietAfterRefusal) this.o.log.debug(`send: ${msg.trim()} (counted; RTP goes on sending)`);
      this.quietAfterRefusal = true;
      return;
    }
    this.fail(err);
  }

  private quietAfterRefusal = false;

  private fail(err: unknown): void {
    if (this.closed) return;
    this.stop();
    this.endFn?.(err);
  }

  private stop(): void {
    this.closed = true;
    clearTimeout(this.sapTimer);
    this.sapTimer = undefined;
    this.sapSend(true);
    this.socket.close();
  }

  close(): void {
    if (this.closed) return;
    this.stop();
  }
}
