/**
 * The low-latency channel `opus-ll` (issue 19), from hark's side, with a real hark (its test
 * tone) and libdatachannel listeners (test/lib/whep-client.ts): what every message carries
 * (header, sequence, the sample clock, the capture time on the machine's CLOCK_MONOTONIC), the
 * tone decoded by libopus at its frequency and level with no gap, one encoder for every such
 * listener, the keep-alive answered with hark's clock, and a listener that sends anything
 * else: ignored, counted, and after LL_BAD_LIMIT messages closed, while the others go on.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { freeUdpPort, WhepClient } from './lib/whep-client.ts';
import { dominantFrequency, toneDbfs } from './lib/signal.ts';
import { OpusDecoder } from '../ffi/opus.ts';
import { LL_BAD_LIMIT, LL_HEADER_BYTES } from '../src/outputs/webrtc/ll.ts';
import { startLossyRelay } from './lib/udp-relay.ts';

const TONE_HZ = 1000;
const TONE_DBFS = -12;
let hark: HarkProcess;
let udp = 0;

beforeAll(async () => {
  udp = await freeUdpPort();
  hark = await startHark(`[input]\nsource = "tone"\n[tone]\nfrequency = ${TONE_HZ}\nlevel_dbfs = ${TONE_DBFS}\n[webrtc]\nudp_port = ${udp}\n`, { timeoutMs: 60_000 });
}, 90_000);

afterAll(async () => {
  if (process.env.HARK_TEST_VERBOSE) console.log(hark?.output());
  await hark?.stop();
});

import { monotonicMs } from '../ffi/libc.ts';

interface LlPacket {
  version: number;
  channels: number;
  frames: number;
  seq: number;
  pts: number;
  captureMs: number;
  arrivedMs: number;
  opus: Buffer;
  /** The packet before, carried again (pts, capture time, bytes), if any. */
  red: { pts: number; captureMs: number; opus: Buffer } | null;
}

function parse(m: Buffer, arrivedMs: number): LlPacket {
  const len = m.readUInt16BE(LL_HEADER_BYTES);
  const end = LL_HEADER_BYTES + 2 + len;
  return {
    version: m[0]!,
    channels: m[1]!,
    frames: m.readUInt16BE(2),
    seq: m.readUInt32BE(4),
    pts: m.readDoubleBE(8),
    captureMs: m.readDoubleBE(16),
    arrivedMs,
    opus: m.subarray(LL_HEADER_BYTES + 2, end),
    red: end < m.length ? { pts: m.readDoubleBE(end), captureMs: m.readDoubleBE(end + 8), opus: m.subarray(end + 16) } : null,
  };
}

/** A listener with the low-latency channel; its packets and text messages as they come. */
async function llListener(path = '/whep', opts: { label?: string } = {}) {
  const packets: LlPacket[] = [];
  const texts: { msg: string; at: number }[] = [];
  const c = await WhepClient.open({
    url: `${hark.url}${path}`,
    codecs: ['opus'],
    record: false,
    ll: {
      ...(opts.label ? { label: opts.label } : {}),
      onMessage: (m) => {
        const at = monotonicMs();
        if (typeof m === 'string') texts.push({ msg: m, at });
        else packets.push(parse(m, at));
      },
    },
  });
  return { c, packets, texts };
}

async function until(f: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return;
    await Bun.sleep(50);
  }
  throw new Error(`timed out: ${what}`);
}

async function listeners(): Promise<Record<string, unknown>[]> {
  return ((await (await fetch(`${hark.url}/api/listeners`)).json()) as { webrtc: Record<string, unknown>[] }).webrtc;
}

function decode(packets: LlPacket[]): Float32Array {
  const dec = new OpusDecoder({ channels: 2 });
  const parts = packets.map((p) => new Float32Array(dec.decode(new Uint8Array(p.opus))));
  dec.close();
  const out = new Float32Array(parts.reduce((n, x) => n + x.length, 0));
  let k = 0;
  for (const x of parts) {
    out.set(x, k);
    k += x.length;
  }
  return out;
}

describe('opus-ll: what hark sends', () => {
  test('5 ms packets: header, an unbroken sequence on the sample clock, the tone at its level, the capture time on CLOCK_MONOTONIC', async () => {
    const { c, packets } = await llListener('/whep?ll=5');
    try {
      await until(() => packets.length >= 600, 10_000, '600 packets (3 s of 5 ms)');
      const ps = packets.slice(0, 600).sort((a, b) => a.seq - b.seq);
      for (const p of ps) {
        expect(p.version).toBe(2);
        expect(p.channels).toBe(2);
        expect(p.frames).toBe(240);
      }
      // Loopback loses nothing: every sequence number and every 240 samples, in a row.
      for (let i = 1; i < ps.length; i++) {
        expect(ps[i]!.seq - ps[i - 1]!.seq).toBe(1);
        expect(ps[i]!.pts - ps[i - 1]!.pts).toBe(240);
      }
      // Packets start on multiples of their length on the sample clock.
      expect(ps[0]!.pts % 240).toBe(0);
      // Each carries the one before again (a loss costs nothing): the same bytes, pts and capture time.
      for (let i = 1; i < ps.length; i++) {
        expect(ps[i]!.red).not.toBeNull();
        expect(ps[i]!.red!.pts).toBe(ps[i - 1]!.pts);
        expect(ps[i]!.red!.captureMs).toBe(ps[i - 1]!.captureMs);
        expect(Buffer.compare(ps[i]!.red!.opus, ps[i - 1]!.opus)).toBe(0);
      }
      // Capture time: hark and this test read the same CLOCK_MONOTONIC. A packet arrives after
      // it was captured, and (hark's own part) well within 50 ms of it here.
      const delays = ps.map((p) => p.arrivedMs - p.captureMs).sort((a, b) => a - b);
      const med = delays[delays.length >> 1]!;
      console.log(`[opus-ll] capture → arrival: median ${med.toFixed(1)} ms, max ${delays[delays.length - 1]!.toFixed(1)} ms`);
      expect(delays[0]!).toBeGreaterThan(0);
      expect(med).toBeLessThan(50);
      // The tone, decoded by libopus: frequency and level, and no 10 ms window without it.
      const pcm = decode(ps);
      const left = new Float32Array(pcm.length / 2);
      for (let i = 0; i < left.length; i++) left[i] = pcm[2 * i]!;
      const body = left.subarray(4800);
      expect(Math.abs(dominantFrequency(body, 48_000) - TONE_HZ)).toBeLessThan(1);
      expect(Math.abs(toneDbfs(body, TONE_HZ) - TONE_DBFS)).toBeLessThan(0.5);
      let quiet = 0;
      for (let at = 0; at + 480 <= body.length; at += 480) if (toneDbfs(body.subarray(at, at + 480), TONE_HZ) < TONE_DBFS - 3) quiet++;
      expect(quiet).toBe(0);
      const me = (await listeners()).find((l) => l.ll_channel === true)!;
      expect(me.ll_frame_ms).toBe(5);
      expect(me.ll_packets as number).toBeGreaterThanOrEqual(600);
      expect(me.ll_dropped).toBe(0);
      expect(me.ll_bad_messages).toBe(0);
    } finally {
      await c.close();
    }
  }, 30_000);

  test('?ll=2.5: 120-sample packets; without ?ll the channel carries 5 ms', async () => {
    const a = await llListener('/whep?ll=2.5');
    const b = await llListener('/whep');
    try {
      await until(() => a.packets.length >= 400 && b.packets.length >= 200, 10_000, 'packets on both');
      expect(new Set(a.packets.map((p) => p.frames))).toEqual(new Set([120]));
      expect(new Set(b.packets.map((p) => p.frames))).toEqual(new Set([240]));
      const ls = await listeners();
      expect(ls.map((l) => l.ll_frame_ms).sort()).toEqual([2.5, 5]);
    } finally {
      await a.c.close();
      await b.c.close();
    }
  }, 30_000);

  test('one encoder for every low-latency listener of a program: the same bytes under the same sequence number', async () => {
    const ls = await Promise.all([llListener(), llListener(), llListener()]);
    try {
      await until(() => ls.every((l) => l.packets.length >= 100), 10_000, '100 packets each');
      const s = (await (await fetch(`${hark.url}/api/status`)).json()) as { outputs: { webrtc: { ll_encoders: string[]; ll_channels: number } } };
      expect(s.outputs.webrtc.ll_channels).toBe(3);
      expect(s.outputs.webrtc.ll_encoders).toHaveLength(1);
      expect(s.outputs.webrtc.ll_encoders[0]).toMatch(/^main opus\/2ch\/.*\/5ms\/restricted-lowdelay\/fec=0\/dtx=0/);
      const bySeq = new Map(ls[0]!.packets.map((p) => [p.seq, p.opus.toString('hex')]));
      let same = 0;
      for (const other of ls.slice(1)) {
        for (const p of other.packets) {
          const mine = bySeq.get(p.seq);
          if (mine === undefined) continue;
          expect(p.opus.toString('hex')).toBe(mine);
          same++;
        }
      }
      expect(same).toBeGreaterThan(50);
    } finally {
      await Promise.all(ls.map((l) => l.c.close()));
    }
    // The last one gone, the encoder stops.
    await until(async () => ((await (await fetch(`${hark.url}/api/status`)).json()) as { outputs: { webrtc: { ll_encoders: string[] } } }).outputs.webrtc.ll_encoders.length === 0, 5000, 'the encoder to stop');
  }, 30_000);

  test('the keep-alive is answered with hark clock, which is the machine CLOCK_MONOTONIC', async () => {
    const { c, texts } = await llListener();
    try {
      await until(() => c.llOpen, 5000, 'the channel to open');
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        const sent = monotonicMs();
        c.llDc!.sendMessage(JSON.stringify({ type: 'ping', t }));
        await until(() => texts.length > i, 3000, `pong ${i + 1}`);
        const pong = JSON.parse(texts[i]!.msg) as { type: string; t: number; now: number };
        expect(pong.type).toBe('pong');
        expect(pong.t).toBe(t);
        expect(pong.now).toBeGreaterThanOrEqual(sent);
        expect(pong.now).toBeLessThanOrEqual(texts[i]!.at);
        await Bun.sleep(300);
      }
      expect((await listeners())[0]!.ll_bad_messages).toBe(0);
    } finally {
      await c.close();
    }
  }, 30_000);
});

describe('opus-ll through a poor network', () => {
  test('1 % loss and 5 ± 3 ms of jitter: nothing is sent again, packets come out of order, and the channel goes on', async () => {
    const relay = await startLossyRelay({ harkPort: udp, loss: 0.01, delayMs: 5, jitterMs: 3 });
    const packets: LlPacket[] = [];
    const c = await WhepClient.open({
      url: `${hark.url}/whep`,
      codecs: ['opus'],
      record: false,
      rewriteOffer: relay.rewriteOffer,
      rewriteAnswer: relay.rewriteAnswer,
      ll: { onMessage: (m) => typeof m !== 'string' && packets.push(parse(m, monotonicMs())) },
    });
    try {
      await until(() => packets.length >= 1000, 15_000, '1000 packets through the relay');
      const seqs = packets.map((p) => p.seq);
      const first = Math.min(...seqs);
      const last = Math.max(...seqs);
      const missing = last - first + 1 - new Set(seqs).size;
      let outOfOrder = 0;
      for (let i = 1; i < seqs.length; i++) if (seqs[i]! < seqs[i - 1]!) outOfOrder++;
      console.log(`[opus-ll relay] ${packets.length} packets, ${missing} missing, ${outOfOrder} out of order; relay dropped ${relay.counts.dropped} of ${relay.counts.relayed + relay.counts.dropped}`);
      // Unordered, never retransmitted: what the relay dropped stays missing (SCTP's own chunks
      // share the datagrams, so the figures differ a little), and no sequence number twice.
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(missing).toBeGreaterThan(0);
      expect(missing / (last - first + 1)).toBeLessThan(0.05);
      expect(outOfOrder).toBeGreaterThan(0);
      expect((await listeners())[0]!.state).toBe('connected');
    } finally {
      await c.close();
      relay.close();
    }
  }, 40_000);
});

describe('opus-ll: what a listener may not do', () => {
  test('bad ?ll values: 400 naming the field ll', async () => {
    for (const q of ['ll=1', 'll=10', 'll=abc', 'll=', 'll=5&ll=2.5', 'll=2.50', 'll=%00', `ll=${'9'.repeat(5000)}`]) {
      const r = await fetch(`${hark.url}/whep?${q}`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0\r\n' });
      expect(r.status, q).toBe(400);
      const j = (await r.json()) as { field: string; error: string };
      expect(j.field).toBe('ll');
      expect(j.error).toMatch(/^ll (is the frame length|is given more than once)/);
    }
  }, 30_000);

  test('anything but the keep-alive is ignored and counted; past the limit the session ends; the others go on', async () => {
    const good = await llListener();
    const bad = await llListener();
    try {
      await until(() => good.c.llOpen && bad.c.llOpen, 5000, 'both channels open');
      const garbage: (string | Buffer)[] = [
        Buffer.from([1, 2, 3]),
        Buffer.alloc(60_000, 7),
        'not json',
        '{"type":"ping"}',
        '{"type":"ping","t":"1"}',
        '{"type":"ping","t":1,"x":2}',
        '{"type":"pong","t":1}',
        '[1,2]',
        'null',
        `{"type":"ping","t":${'1'.repeat(200)}}`,
        '{"type":"ping","t":1e999}',
        JSON.stringify({ type: 'ping', t: 1, to: 'another listener' }),
      ];
      for (const g of garbage) {
        if (typeof g === 'string') bad.c.llDc!.sendMessage(g);
        else bad.c.llDc!.sendMessageBinary(g);
      }
      await until(async () => ((await listeners()).find((l) => (l.ll_bad_messages as number) > 0)?.ll_bad_messages as number) === garbage.length, 5000, 'every bad message counted');
      // Nothing answered any of them.
      expect(bad.texts).toEqual([]);
      // Keep-alives faster than 5 a second count as bad too; then more garbage, past the limit.
      // (hark may close the channel part way: a send then fails, which is what was asked for.)
      const send = (m: string) => {
        try {
          bad.c.llDc!.sendMessage(m);
        } catch {}
      };
      for (let i = 0; i < LL_BAD_LIMIT; i++) send(JSON.stringify({ type: 'ping', t: i }));
      for (let i = 0; i < LL_BAD_LIMIT; i++) send('x');
      await until(async () => (await listeners()).length === 1, 5000, 'the session of the one that sent garbage to end');
      expect(bad.texts.length).toBeLessThanOrEqual(5);
      // The good one still gets its packets.
      const n = good.packets.length;
      await Bun.sleep(500);
      expect(good.packets.length - n).toBeGreaterThan(50);
      expect((await listeners())[0]!.ll_bad_messages).toBe(0);
      expect(hark.output()).toMatch(/sent \d+ messages on opus-ll that are not a keep-alive/);
    } finally {
      await good.c.close();
      await bad.c.close({ abandon: true });
    }
  }, 30_000);

  test('a channel hark does not know is closed; the session and its RTP track go on', async () => {
    let rtp = 0;
    const texts: string[] = [];
    const c = await WhepClient.open({
      url: `${hark.url}/whep`,
      codecs: ['opus'],
      record: false,
      onRtp: () => rtp++,
      ll: { label: 'opus-xx', onMessage: (m) => typeof m === 'string' && texts.push(m) },
    });
    try {
      await until(() => rtp > 100, 10_000, 'RTP packets');
      const l = (await listeners())[0]!;
      expect(l.ll_channel).toBe(false);
      expect(l.state).toBe('connected');
      expect(hark.output()).toMatch(/closing data channel "opus-xx"/);
    } finally {
      await c.close();
    }
  }, 30_000);
});
