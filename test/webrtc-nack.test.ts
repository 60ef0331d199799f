/**
 * The NACK responder, end to end. A lossy UDP relay sits between hark and a node-datachannel
 * WHEP listener and drops some of hark's RTP packets (their headers are plaintext in SRTP).
 * The listener, which negotiated `a=rtcp-fb:111 nack`, asks for the missing ones (RFC 4585
 * generic NACK) and they arrive after all: the same sequence numbers on the same SSRC.
 * (Without loss a repeat could not be seen: SRTP's replay protection drops a copy of a packet
 * already received.)
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { freeUdpPort, WhepClient } from './lib/whep-client.ts';
import { startLossyRelay } from './lib/udp-relay.ts';

let hark: HarkProcess;
let harkUdp: number;

beforeAll(async () => {
  harkUdp = await freeUdpPort();
  hark = await startHark(`[input]\nsource = "tone"\n[webrtc]\nudp_port = ${harkUdp}\n`, { timeoutMs: 60_000 });
}, 60_000);

afterAll(async () => {
  await hark?.stop();
}, 30_000);

/** Relays UDP between the listener and hark (test/lib/udp-relay.ts); drops hark's RTP packets that `drop` picks. */
async function lossyRelay(drop: (seq: number) => boolean) {
  const dropped: number[] = [];
  const relay = await startLossyRelay({
    harkPort: harkUdp,
    drop: (b) => {
      // RTP (RFC 7983 demux: first byte 128–191, payload type not RTCP's 192–223).
      const isRtp = b.length >= 12 && b[0]! >= 128 && b[0]! <= 191 && !((b[1]! & 0x7f) >= 64 && (b[1]! & 0x7f) <= 95);
      if (!isRtp || !drop(b.readUInt16BE(2))) return false;
      dropped.push(b.readUInt16BE(2));
      return true;
    },
  });
  return Object.assign(relay, { dropped });
}

describe('NACK', () => {
  test('packets lost on the way are asked for again and arrive: same sequence numbers, same SSRC', async () => {
    // Drop every 10th packet for a while, only the first time it is sent.
    let lossOn = false;
    const seenDrop = new Set<number>();
    const relay = await lossyRelay((seq) => {
      if (!lossOn || seq % 10 !== 3 || seenDrop.has(seq)) return false;
      seenDrop.add(seq);
      return true;
    });
    const arrivals = new Map<number, { at: number; ssrc: number }[]>();
    let c: WhepClient | undefined;
    try {
      c = await WhepClient.open({
        url: `${hark.url}/whep`,
        codecs: ['opus'],
        nack: true,
        sendrecv: true,
        // Media through the relay: the listener's only candidate for hark is the relay's port,
        // and hark gets none for the listener, so it knows it only from the relay's checks.
        rewriteOffer: relay.rewriteOffer,
        rewriteAnswer: relay.rewriteAnswer,
        onRtp: (b) => {
          const seq = b.readUInt16BE(2);
          const list = arrivals.get(seq) ?? [];
          list.push({ at: performance.now(), ssrc: b.readUInt32BE(8) });
          arrivals.set(seq, list);
        },
      });
      expect(c.answer).toMatch(/a=rtcp-fb:111 nack/);
      await Bun.sleep(500);
      lossOn = true;
      // For 2 s: every 100 ms, NACK what is missing below the newest packet seen.
      const ssrc = c.packets[0]!.ssrc;
      const t0 = performance.now();
      let nacked = 0;
      while (performance.now() - t0 < 2000) {
        await Bun.sleep(100);
        const missing = relay.dropped.filter((q) => !arrivals.has(q));
        if (missing.length) {
          c.sendNack(ssrc, missing);
          nacked += missing.length;
        }
      }
      lossOn = false;
      await Bun.sleep(300);
      const missing = relay.dropped.filter((q) => !arrivals.has(q));
      console.log(`[nack] dropped ${relay.dropped.length} packets, NACKed ${nacked} times, still missing ${missing.length}`);
      expect(relay.dropped.length).toBeGreaterThan(10);
      expect(missing).toEqual([]);
      // Retransmissions keep the listener's SSRC and come once per loss.
      for (const q of relay.dropped) expect(arrivals.get(q)!.map((a) => a.ssrc)).toEqual([ssrc]);
      const listeners = (await (await fetch(`${hark.url}/api/listeners`)).json()) as { webrtc: { nacks: number }[] };
      expect(listeners.webrtc[0]!.nacks).toBeGreaterThanOrEqual(relay.dropped.length);
    } finally {
      await c?.close();
      relay.close();
    }
  }, 30_000);
});
