/// <reference lib="webworker" />
/**
 * The network receiver: a thread of its own (started by the network source inside the audio
 * worker, whose thread sleeps between blocks) that takes the link's packets as they arrive,
 * decodes them and places the frames in the shared jitter ring (net/ring.ts). It reports its
 * state and counters to the source twice a second. RTP: a UDP socket (node:dgram), multicast
 * joined when the URL names a group. SRT: net/srt-link.ts.
 */
import dgram from 'node:dgram';
import { NetRing, type NetRingShared } from './ring.ts';
import { RtpDepacketizer } from './rtp.ts';
import type { InputUrl, RtpInputUrl, SrtInputUrl } from '../../config/input-url.ts';
import type { ReceiverStatus } from './status.ts';

declare const self: Worker;

export type ToReceiver =
  | { type: 'start'; url: InputUrl; ring: NetRingShared; bufferMs: number; passphrase: string }
  | { type: 'close' };

export type FromReceiver = { type: 'status'; status: ReceiverStatus } | { type: 'closed' };

const STATUS_EVERY_MS = 500;
const now = () => performance.timeOrigin + performance.now();

interface Link {
  status(): ReceiverStatus;
  close(): void;
}

function post(m: FromReceiver): void {
  self.postMessage(m);
}

function startRtp(u: RtpInputUrl, ring: NetRing): Link {
  const dep = new RtpDepacketizer(ring, { ...(u.payload ? { payload: u.payload } : {}), ...(u.channels ? { channels: u.channels } : {}), ...(u.pt !== undefined ? { pt: u.pt } : {}) });
  const v6 = u.host.includes(':');
  const sock = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', reuseAddr: true });
  let state: ReceiverStatus['state'] = 'starting';
  let message = 'opening the port';
  let peer = '';
  let error = '';
  sock.on('message', (m, r) => {
    peer = `${r.address}:${r.port}`;
    dep.push(m, now());
  });
  sock.on('error', (e) => {
    error = e.message;
    state = 'failed';
    message = `cannot receive on ${u.group || u.host || '*'}:${u.port}: ${e.message}`;
  });
  const where = `${u.group || u.host || '*'}:${u.port}`;
  sock.bind(u.port, u.group ? undefined : u.host || undefined, () => {
    try {
      if (u.group) sock.addMembership(u.group);
      // Room for a burst (a sender catching up) while this thread is busy: 4 MB.
      try {
        sock.setRecvBufferSize(4 << 20);
      } catch {
        /* capped by net.core.rmem_max: the default stays */
      }
      state = 'listening';
      message = `listening for RTP on ${where}`;
    } catch (e) {
      state = 'failed';
      error = (e as Error).message;
      message = `cannot join ${u.group}: ${error}`;
    }
  });
  return {
    status(): ReceiverStatus {
      const s = dep.stats;
      const age = now() - ring.lastRxEpochMs;
      const live = s.packets > 0 && age < 1000;
      return {
        protocol: 'rtp',
        state: state === 'failed' ? state : live ? 'receiving' : state,
        message: state === 'failed' ? message : live ? `receiving ${s.payload || 'RTP'} from ${peer}` : dep.problem || message,
        peer,
        lastPacketAgeMs: s.packets > 0 ? Math.round(age) : null,
        problem: dep.problem || error,
        counters: {
          packets: s.packets,
          bytes: s.bytes,
          lost: s.lost,
          late: s.late,
          malformed: s.malformed,
          foreign: s.foreign,
          overflow: s.overflow,
          concealedFrames: s.concealedFrames,
          restarts: s.restarts,
        },
        payload: s.payload,
        srt: null,
      };
    },
    close(): void {
      try {
        sock.close();
      } catch {
        /* already closed */
      }
      dep.close();
    },
  };
}

let link: Link | null = null;
let timer: ReturnType<typeof setInterval> | undefined;

self.onmessage = async (ev: MessageEvent<ToReceiver>) => {
  const msg = ev.data;
  if (msg.type === 'start') {
    const ring = new NetRing(msg.ring);
    try {
      if (msg.url.kind === 'rtp') link = startRtp(msg.url, ring);
      else {
        const { startSrt } = await import('./srt-link.ts');
        link = startSrt(msg.url as SrtInputUrl, ring, { bufferMs: msg.bufferMs, passphrase: msg.passphrase });
      }
    } catch (e) {
      const m = (e as Error).message;
      post({ type: 'status', status: failedStatus(msg.url.kind, m) });
      return;
    }
    const l = link;
    timer = setInterval(() => post({ type: 'status', status: l.status() }), STATUS_EVERY_MS);
    post({ type: 'status', status: l.status() });
  } else if (msg.type === 'close') {
    clearInterval(timer);
    link?.close();
    link = null;
    post({ type: 'closed' });
  }
};

function failedStatus(protocol: 'rtp' | 'srt', message: string): ReceiverStatus {
  return { protocol, state: 'failed', message, peer: '', lastPacketAgeMs: null, problem: message, counters: {}, payload: '', srt: null };
}
