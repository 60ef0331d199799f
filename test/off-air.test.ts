/**
 * "Stop means stop for everyone": off air, /stream.mp3 and WebRTC listeners stay connected
 * and hear silence (unless control.local_listeners_off_air = "audio"); live, they hear the
 * input. And the input gain: applied before meters and encoders, changed live without a step.
 * A real daemon playing its test tone; a real WHEP listener (libdatachannel) decoding Opus.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { channel, decodeWithFfmpeg, dominantFrequency, rmsDbfs } from './lib/signal.ts';
import { WhepClient } from './lib/whep-client.ts';
import { OpusDecoder } from '../ffi/opus.ts';

const TONE_HZ = 1000;
const TONE_DBFS = -20;
/** The WebRTC UDP port: this test's fixed range (29700-29799). */
const UDP_PORT = 29700 + Math.floor(Math.random() * 50);

let hark: HarkProcess;

/** A /stream.mp3 connection kept open: its bytes, and where the stream was at a moment. */
class Mp3Tap {
  private readonly chunks: Uint8Array[] = [];
  bytes = 0;
  status = 0;
  private readonly ac = new AbortController();
  private done?: Promise<void>;

  async open(url: string): Promise<void> {
    const res = await fetch(url, { signal: this.ac.signal });
    this.status = res.status;
    const reader = res.body!.getReader();
    this.done = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.chunks.push(value);
          this.bytes += value.byteLength;
        }
      } catch (e) {
        if ((e as Error).name !== 'AbortError') throw e;
      }
    })();
  }

  /** Wait until `n` more bytes have arrived (bounded). */
  async more(n: number, timeoutMs = 10_000): Promise<void> {
    const want = this.bytes + n;
    const end = performance.now() + timeoutMs;
    while (this.bytes < want && performance.now() < end) await Bun.sleep(20);
    expect(this.bytes).toBeGreaterThanOrEqual(want);
  }

  all(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }

  async close(): Promise<void> {
    this.ac.abort();
    await this.done;
  }
}

/** 128 kbit/s CBR: 16 000 bytes a second of stream. */
const secondsAt = (bytes: number) => bytes / 16_000;

/** Decoded left channel of an MP3 byte stream. */
async function decodeMp3(bytes: Uint8Array): Promise<Float32Array> {
  return channel(await decodeWithFfmpeg(bytes, { channels: 2 }), 2, 0);
}

/** A WHEP listener that decodes every Opus packet it receives, stamped with its arrival time. */
async function opusListener() {
  const dec = new OpusDecoder({ channels: 2 });
  const got: { at: number; pcm: Float32Array }[] = [];
  const client = await WhepClient.open({
    url: `${hark.url}/whep`,
    codecs: ['opus'],
    record: false,
    onRtp: (b) => {
      if ((b[1]! & 0x7f) !== 111) return;
      const cc = b[0]! & 0x0f;
      let header = 12 + cc * 4;
      if ((b[0]! & 0x10) !== 0) header += 4 + b.readUInt16BE(header + 2) * 4;
      const pad = (b[0]! & 0x20) !== 0 ? b[b.length - 1]! : 0;
      const payload = new Uint8Array(b.buffer, b.byteOffset + header, b.length - header - pad);
      got.push({ at: performance.now(), pcm: channel(dec.decode(payload), 2, 0).slice() });
    },
  });
  return {
    client,
    /** The decoded audio that arrived in the last `ms` milliseconds (waits for it, bounded). */
    async last(ms: number, skipMs = 300): Promise<Float32Array> {
      // Packets encoded before a change may still be on their way: skip the first `skipMs`.
      await Bun.sleep(skipMs);
      const from = performance.now();
      const end = from + ms + 5000;
      while (performance.now() < end && (got.length === 0 || got.at(-1)!.at < from + ms)) await Bun.sleep(20);
      const parts = got.filter((g) => g.at >= from);
      const out = new Float32Array(parts.reduce((n, p) => n + p.pcm.length, 0));
      let at = 0;
      for (const p of parts) {
        out.set(p.pcm, at);
        at += p.pcm.length;
      }
      return out;
    },
    async close() {
      await client.close();
      dec.close();
    },
  };
}

const status = async () => (await (await fetch(`${hark.url}/api/status`)).json()) as { control: { state: string; listeners_hear: string }; levels: { peak_dbfs: number[] } };
/** No password on this box: loopback may act (first-run setup), as SSH could. */
const post = async (path: string) => expect((await fetch(`${hark.url}${path}`, { method: 'POST' })).status).toBe(200);
const patch = async (body: Record<string, unknown>) =>
  expect((await fetch(`${hark.url}/api/config`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).status).toBe(200);

/** Wait until /api/status says `hear` (the gate reached the pipeline), bounded. */
async function untilHear(hear: 'silence' | 'audio'): Promise<void> {
  for (let i = 0; i < 100 && (await status()).control.listeners_hear !== hear; i++) await Bun.sleep(50);
  expect((await status()).control.listeners_hear).toBe(hear);
}

/**
 * A fresh /stream.mp3 connection for `ms`: its decoded left channel from `skipS` seconds on
 * (a listener who connects just after a change may get what was encoded a wake before it).
 */
async function listenFresh(ms: number, skipS = 0.5): Promise<Float32Array> {
  const t = new Mp3Tap();
  await t.open(`${hark.url}/stream.mp3`);
  expect(t.status).toBe(200);
  await t.more((16_000 * ms) / 1000);
  await t.close();
  return (await decodeMp3(t.all())).subarray(Math.round(skipS * 48000));
}

/** RMS (dBFS) of each 100 ms block of `pcm` from second `fromS` on. */
function blocks(pcm: Float32Array, fromS: number): number[] {
  const out: number[] = [];
  for (let i = Math.max(0, Math.round(fromS * 48000)); i + 4800 <= pcm.length; i += 4800) out.push(rmsDbfs(pcm.subarray(i, i + 4800)));
  return out;
}

const isSilent = (db: number) => db < -80;
const isTone = (db: number) => Math.abs(db - TONE_DBFS) < 1;

/**
 * Read on until the stream, after byte `fromBytes` (the listener's position when the change
 * was asked for; the server's is later), turns `want` and has stayed so for `holdS` seconds
 * (bounded). Returns the 100 ms blocks after the change, which the caller checks all are.
 * On a loaded machine the listener's reads lag the encoder, so time is found in the audio.
 */
async function settles(tap: Mp3Tap, fromBytes: number, want: (db: number) => boolean, holdS = 1.5): Promise<number[]> {
  const end = performance.now() + 20_000;
  for (;;) {
    await tap.more(8000);
    const b = blocks(await decodeMp3(tap.all()), secondsAt(fromBytes));
    const k = b.findIndex(want);
    if (k >= 0 && b.length - k - 1 >= holdS * 10) return b.slice(k + 1);
    if (performance.now() > end) return b;
  }
}

/** The decoded WebRTC audio settles `want` (bounded); then its next `ms` are all checked by the caller. */
async function whepSettles(w: Awaited<ReturnType<typeof opusListener>>, want: (pcm: Float32Array) => boolean, ms = 1500): Promise<Float32Array> {
  for (let i = 0; i < 40 && !want(await w.last(250, 0)); i++);
  return await w.last(ms, 0);
}

beforeAll(async () => {
  hark = await startHark(`
[input]
source = "tone"
[tone]
frequency = ${TONE_HZ}
level_dbfs = ${TONE_DBFS}
[control]
on_boot = "idle"
[webrtc]
udp_port = ${UDP_PORT}
`);
}, 60_000);

afterAll(async () => {
  expect(await hark.stop()).toBe(0);
});

describe('off air means silence for every listener', () => {
  let mp3: Mp3Tap;
  let whep: Awaited<ReturnType<typeof opusListener>>;
  const marks: Record<string, number> = {};

  test('booted off air (control.on_boot = "idle"): /stream.mp3 and a WebRTC listener get silence; the meters still show the input', async () => {
    let s = await status();
    expect(s.control).toMatchObject({ state: 'idle', listeners_hear: 'silence' });
    // The meters keep showing the input off air (once the first audio has been measured: bounded).
    for (let i = 0; i < 50 && Math.abs(s.levels.peak_dbfs[0]! - TONE_DBFS) >= 0.5; i++) {
      await Bun.sleep(100);
      s = await status();
    }
    expect(Math.abs(s.levels.peak_dbfs[0]! - TONE_DBFS)).toBeLessThan(0.5);

    mp3 = new Mp3Tap();
    await mp3.open(`${hark.url}/stream.mp3`);
    expect(mp3.status).toBe(200);
    whep = await opusListener();
    const opus = await whep.last(1500);
    expect(opus.length).toBeGreaterThan(48_000);
    expect(rmsDbfs(opus)).toBeLessThan(-80);
    await mp3.more(32_000);
    const silent = await decodeMp3(mp3.all());
    expect(silent.length).toBeGreaterThan(48_000 * 1.5);
    expect(rmsDbfs(silent)).toBeLessThan(-80);
  }, 30_000);

  test('Go live: the same connections carry the tone at its level', async () => {
    marks.live = mp3.bytes;
    await post('/api/live');
    await untilHear('audio');
    const opus = await whepSettles(whep, (p) => isTone(rmsDbfs(p)));
    expect(Math.abs(dominantFrequency(opus.subarray(opus.length - 32768), 48000) - TONE_HZ)).toBeLessThan(3);
    expect(Math.abs(rmsDbfs(opus) - TONE_DBFS)).toBeLessThan(1);
    // The /stream.mp3 connection turns to the tone and stays there.
    const after = await settles(mp3, marks.live!, isTone);
    expect(after.length).toBeGreaterThanOrEqual(15);
    expect(after.filter((db) => !isTone(db))).toEqual([]);
    const all = await decodeMp3(mp3.all());
    expect(Math.abs(dominantFrequency(all.subarray(all.length - 32768), 48000) - TONE_HZ)).toBeLessThan(2);
    expect(Math.abs(rmsDbfs(all.subarray(all.length - 48000)) - TONE_DBFS)).toBeLessThan(0.75);
  }, 60_000);

  test('Stop: silence again on the same connections, nobody disconnected', async () => {
    marks.stop = mp3.bytes;
    await post('/api/stop');
    await untilHear('silence');
    const opus = await whepSettles(whep, (p) => isSilent(rmsDbfs(p)));
    expect(opus.length).toBeGreaterThan(48_000);
    expect(rmsDbfs(opus)).toBeLessThan(-80);
    // The /stream.mp3 connection turns silent and stays silent.
    const after = await settles(mp3, marks.stop!, isSilent);
    expect(after.length).toBeGreaterThanOrEqual(15);
    expect(after.filter((db) => !isSilent(db))).toEqual([]);
    expect(whep.client.pc.state()).toBe('connected');
    await mp3.close();
    await whep.close();
  }, 60_000);

  test('local_listeners_off_air = "audio": a LAN monitor hears the room off air too', async () => {
    await post('/api/stop');
    await patch({ 'control.local_listeners_off_air': 'audio' });
    await untilHear('audio');
    expect((await status()).control.state).toBe('idle');
    const pcm = await listenFresh(2000);
    const tail = pcm.subarray(Math.floor(pcm.length / 4));
    expect(Math.abs(dominantFrequency(tail.subarray(tail.length - 32768), 48000) - TONE_HZ)).toBeLessThan(2);
    expect(Math.abs(rmsDbfs(tail) - TONE_DBFS)).toBeLessThan(0.75);
    // Back to the default: silence off air.
    await patch({ 'control.local_listeners_off_air': 'silence' });
    await untilHear('silence');
    expect(rmsDbfs(await listenFresh(1500))).toBeLessThan(-80);
  }, 30_000);

  test('muted while live: silence, as before', async () => {
    await post('/api/live');
    await post('/api/mute');
    await untilHear('silence');
    try {
      expect((await status()).control.state).toBe('muted');
      expect(rmsDbfs(await listenFresh(1500))).toBeLessThan(-80);
    } finally {
      await post('/api/unmute');
    }
    await untilHear('audio');
  }, 30_000);
});

describe('input gain', () => {
  test('a −20 dBFS tone with +6 dB arrives at −14 dBFS on /stream.mp3, and the meters say −14', async () => {
    await post('/api/live');
    await untilHear('audio');
    await patch({ 'input.gain_db': 6 });
    for (let i = 0; i < 100 && Math.abs((await status()).levels.peak_dbfs[0]! - -14) > 0.3; i++) await Bun.sleep(50);
    expect(Math.abs((await status()).levels.peak_dbfs[0]! - -14)).toBeLessThan(0.3);
    const pcm = await listenFresh(2500);
    const tail = pcm.subarray(Math.floor(pcm.length / 5));
    expect(Math.abs(rmsDbfs(tail) - -14)).toBeLessThan(0.75);
    expect(Math.abs(dominantFrequency(tail.subarray(tail.length - 32768), 48000) - TONE_HZ)).toBeLessThan(2);
  }, 30_000);

  test('changing the gain while streaming: no step in the waveform, and the new level arrives', async () => {
    await post('/api/live');
    await untilHear('audio');
    await patch({ 'input.gain_db': 0 });
    const t = new Mp3Tap();
    await t.open(`${hark.url}/stream.mp3`);
    await t.more(24_000);
    const at6 = t.bytes;
    await patch({ 'input.gain_db': 6 });
    const loud = await settles(t, at6, (db) => Math.abs(db - -14) < 1, 1);
    const at0 = t.bytes;
    await patch({ 'input.gain_db': -6 });
    const quiet = await settles(t, at0, (db) => Math.abs(db - -26) < 1, 1);
    await t.close();
    // Both changes arrived: +6 dB after the first, −6 dB after the second.
    expect(loud.length).toBeGreaterThanOrEqual(10);
    expect(quiet.length).toBeGreaterThanOrEqual(10);
    const pcm = await decodeMp3(t.all());
    const body = pcm.subarray(4800); // the decoder's start
    // A sine of amplitude A moves at most 2πfA/rate from one sample to the next; the loudest
    // part (−14 dBFS) bounds it. A switch without a ramp jumps by up to A(2 − 1) at once.
    const amp = 10 ** (-14 / 20);
    const bound = ((2 * Math.PI * TONE_HZ) / 48000) * amp * 1.15;
    let maxStep = 0;
    for (let i = 1; i < body.length; i++) maxStep = Math.max(maxStep, Math.abs(body[i]! - body[i - 1]!));
    expect(maxStep).toBeLessThan(bound);
    expect(Math.abs(rmsDbfs(pcm.subarray(pcm.length - 24000)) - -26)).toBeLessThan(1);
    await patch({ 'input.gain_db': 0 });
  }, 60_000);
});
