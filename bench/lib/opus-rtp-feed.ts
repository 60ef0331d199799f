/**
 * A live Opus RTP source for the Janus peer in bench/webrtc-cpu.ts, in a process of its own so
 * its CPU (the encoding a Janus deployment needs somewhere) can be measured: 10 ms stereo frames
 * of a 1 kHz tone through libopus (ffi/opus.ts, the same settings as hark's WebRTC encoder),
 * sent in real time to 127.0.0.1:<port>.
 *
 *   bun bench/lib/opus-rtp-feed.ts <port>
 */
import { createSocket } from 'node:dgram';
import { OpusEncoder } from '../../ffi/opus.ts';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: bun bench/lib/opus-rtp-feed.ts <port>');
  process.exit(64);
}
const enc = new OpusEncoder({ channels: 2, application: 'audio', frameMs: 10, bitrateKbps: 96, complexity: 10, fec: true, expectedLossPct: 10 });
const sock = createSocket('udp4');
const pcm = new Float32Array(480 * 2);
let phase = 0;
let seq = 0;
let ts = 0;
const t0 = performance.now();
let sent = 0;
setInterval(() => {
  const due = Math.floor((performance.now() - t0) / 10);
  while (sent < due) {
    for (let i = 0; i < 480; i++) {
      const v = 0.25 * Math.sin(phase);
      phase += (2 * Math.PI * 1000) / 48000;
      pcm[2 * i] = v;
      pcm[2 * i + 1] = v;
    }
    const payload = enc.encode(pcm);
    const pkt = Buffer.alloc(12 + payload.length);
    pkt[0] = 0x80;
    pkt[1] = 111;
    pkt.writeUInt16BE(seq++ & 0xffff, 2);
    pkt.writeUInt32BE(ts >>> 0, 4);
    pkt.writeUInt32BE(0x4a414e55, 8);
    pkt.set(payload, 12);
    ts += 480;
    sock.send(pkt, port, '127.0.0.1');
    sent++;
  }
}, 5);
