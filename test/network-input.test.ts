/**
 * The receiving end over RTP, with real parts: ffmpeg sends a tone as RTP (L24, L16, Opus) →
 * hark (input.source = "rtp") → /stream.mp3 carries the tone at its frequency and level. Then
 * the sender stops: the input is "lost", [fallback] plays its file, and the sender coming back
 * brings the tone back. Over SRT the same with ffmpeg as caller (MP2, Opus, SMPTE 302M in
 * MPEG-TS) and as listener (hark calls it, with and without a passphrase; a wrong one is
 * named). Hostile packets (garbage, truncated headers, a flood) are counted and dropped,
 * never a crash.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import dgram from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHark, readStreamFor, type HarkProcess } from './lib/hark.ts';
import { decodeWithFfmpeg, dominantFrequency, rmsDbfs, toneDbfs, wav16, sine } from './lib/signal.ts';
import { until } from './lib/wait.ts';
import { session } from './lib/session.ts';
import { SrtSocket } from '../ffi/srt.ts';
import { startPipewire, type PipewireHarness } from './lib/pipewire.ts';

const started: HarkProcess[] = [];
const senders: { kill(sig?: string | number): void }[] = [];
afterAll(async () => {
  for (const s of senders) s.kill('SIGKILL');
  await Promise.all(started.map((h) => h.stop()));
});

/** A UDP port free now (bound and released). */
async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/** ffmpeg sending a sine as RTP to 127.0.0.1:port in real time. */
function sendRtp(port: number, codec: string, frequency: number, extra: string[] = []) {
  const p = Bun.spawn(
    ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `sine=frequency=${frequency}:sample_rate=48000`, '-ac', '2', '-c:a', codec, ...extra, '-f', 'rtp', `rtp://127.0.0.1:${port}`],
    { stdout: 'ignore', stderr: 'pipe' },
  );
  senders.push(p);
  return p;
}

async function status(h: HarkProcess) {
  return (await (await fetch(`${h.url}/api/status`)).json()) as {
    input: { state: string; message: string; stats: Record<string, number | string | null> };
    fallback: { active: boolean; kind: string };
  };
}

/** Decode `ms` of /stream.mp3 (the left channel). */
async function hear(h: HarkProcess, ms: number): Promise<Float32Array> {
  const { bytes } = await readStreamFor(`${h.url}/stream.mp3`, ms);
  return decodeWithFfmpeg(bytes, { format: 'mp3' });
}

/** ffmpeg's sine source is at 1/8 amplitude: −18.06 dBFS peak. */
const SINE_DBFS = 20 * Math.log10(1 / 8);

describe('RTP input', () => {
  for (const [name, codec, extra] of [
    ['L24', 'pcm_s24be', []],
    ['L16', 'pcm_s16be', []],
    ['Opus', 'libopus', ['-b:a', '128k']],
  ] as const) {
    test(`ffmpeg → RTP ${name} → hark: /stream.mp3 carries the tone`, async () => {
      const port = await freePort();
      const hark = await startHark(`[input]\nsource = "rtp"\nurl = "rtp://127.0.0.1:${port}"\noutput_device = "none"\n[admin]\npassword = "netin-test-1"\n`);
      started.push(hark);
      expect((await status(hark)).input.state).toBe('waiting');
      const tx = sendRtp(port, codec, 1000, [...extra]);
      await until(async () => (await status(hark)).input.state === 'running', 10_000, 'the input running');
      // past the buffer and the MP3 encoder's start
      await Bun.sleep(500);
      const pcm = await hear(hark, 3000);
      const tail = pcm.subarray(Math.floor(pcm.length / 3));
      expect(Math.abs(dominantFrequency(tail) - 1000)).toBeLessThan(5);
      expect(Math.abs(toneDbfs(tail, 1000) - SINE_DBFS)).toBeLessThan(1);
      const s = await status(hark);
      expect(s.input.stats.payload).toBe(name.toLowerCase());
      expect(s.input.stats.lost).toBe(0);
      expect(s.input.stats.underrunFrames).toBe(0);
      expect(Math.abs(Number(s.input.stats.bufferFillMs) - 120)).toBeLessThan(40);
      const metrics = await (await fetch(`${hark.url}/metrics`)).text();
      expect(metrics).toContain('hark_netin_receiving{protocol="rtp"} 1');
      expect(metrics).toMatch(/hark_netin_lost_packets_total\{protocol="rtp"\} 0/);
      // The Input page says it in words: receiving, from where, the buffer, nothing lost.
      const { cookie } = await session(hark.url, 'netin-test-1');
      const page = await (await fetch(`${hark.url}/input`, { headers: { cookie } })).text();
      expect(page).toContain('<dt>Feed</dt><dd>RTP 127.0.0.1:' + port);
      expect(page).toMatch(/receiving<\/span> receiving (l16|l24|opus) from 127\.0\.0\.1:\d+/);
      expect(page).toMatch(/<dt>Packets<\/dt><dd>0 lost, 0 late, 0 refused/);
      // No interface is captured: a box without PipeWire here is no fault of this input.
      expect(page).not.toContain('No audio system found');
      tx.kill();
      await hark.stop();
    }, 60_000);
  }

  test('multicast: hark joins the group in rtp://@group:port and takes the stream sent to it', async () => {
    const port = await freePort();
    // a group of its own per run (ttl=0: the packets never leave this machine)
    const group = `239.69.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    const hark = await startHark(`[input]\nsource = "rtp"\nurl = "rtp://@${group}:${port}"\noutput_device = "none"\n`);
    started.push(hark);
    await until(async () => /listening for RTP on 239\./.test(String((await status(hark)).input.stats.linkMessage)), 10_000, 'the group joined');
    const p = Bun.spawn(
      ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000', '-ac', '2', '-c:a', 'pcm_s24be', '-f', 'rtp', `rtp://${group}:${port}?ttl=0`],
      { stdout: 'ignore', stderr: 'pipe' },
    );
    senders.push(p);
    await until(async () => (await status(hark)).input.state === 'running', 10_000, 'the input running');
    await Bun.sleep(500);
    await expectTone(hark, 1000);
    p.kill();
  }, 60_000);

  test('hostile: a flood of garbage and forged RTP beside the real stream is counted and dropped; the tone plays on', async () => {
    const port = await freePort();
    const hark = await startHark(`[input]\nsource = "rtp"\nurl = "rtp://127.0.0.1:${port}"\noutput_device = "none"\n`);
    started.push(hark);
    const tx = sendRtp(port, 'pcm_s24be', 1000);
    await until(async () => (await status(hark)).input.state === 'running', 10_000, 'the input running');
    const sock = dgram.createSocket('udp4');
    const listening = hear(hark, 3000);
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 20_000; i++) {
      const b = Buffer.alloc(Math.floor(rnd() * 1400));
      for (let k = 0; k < b.length; k++) b[k] = Math.floor(rnd() * 256);
      if (i % 2 === 0 && b.length >= 12) b[0] = 0x80; // RTP v2 header, another SSRC, random rest
      sock.send(b, port, '127.0.0.1');
      if (i % 500 === 0) await Bun.sleep(5);
    }
    const pcm = await listening;
    sock.close();
    const tail = pcm.subarray(Math.floor(pcm.length / 3));
    expect(Math.abs(dominantFrequency(tail) - 1000)).toBeLessThan(5);
    const s = await status(hark);
    expect(s.input.state).toBe('running');
    expect(Number(s.input.stats.malformed) + Number(s.input.stats.foreign)).toBeGreaterThan(5000);
    expect(hark.rssKb()).toBeLessThan(400_000);
    tx.kill();
  }, 60_000);

  test('the link lost: input lost, the fallback file plays; the sender back: the tone again', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'hark-netin-'));
    const file = join(dir, 'fallback.wav');
    writeFileSync(file, wav16(sine({ frequency: 500, dbfs: -12, seconds: 3, channels: 2 }), 2));
    const hark = await startHark(
      `[input]\nsource = "rtp"\nurl = "rtp://127.0.0.1:${port}"\noutput_device = "none"\n[fallback]\nenabled = true\nafter_s = 1\nreturn_s = 1\nfiles = ["${file}"]\n`,
    );
    started.push(hark);
    let tx = sendRtp(port, 'pcm_s24be', 1000);
    await until(async () => (await status(hark)).input.state === 'running', 10_000, 'the input running');
    tx.kill();
    await until(async () => (await status(hark)).input.state === 'lost', 5000, 'the input lost');
    expect((await status(hark)).input.message).toContain('link lost');
    await until(async () => (await status(hark)).fallback.active, 8000, 'the fallback playing');
    let pcm = await hear(hark, 2500);
    let tail = pcm.subarray(Math.floor(pcm.length / 3));
    expect(Math.abs(dominantFrequency(tail) - 500)).toBeLessThan(5);
    tx = sendRtp(port, 'pcm_s24be', 1000);
    await until(async () => (await status(hark)).input.state === 'running', 10_000, 'the input running again');
    await until(async () => !(await status(hark)).fallback.active, 8000, 'the fallback released');
    pcm = await hear(hark, 2500);
    tail = pcm.subarray(Math.floor(pcm.length / 3));
    expect(Math.abs(dominantFrequency(tail) - 1000)).toBeLessThan(5);
    expect(Number((await status(hark)).input.stats.linkLosses)).toBe(1);
    tx.kill();
  }, 90_000);
});

/** ffmpeg sending a sine as MPEG-TS over SRT (`mode` is ffmpeg's side). */
function sendSrt(port: number, mode: 'caller' | 'listener', codec: string[], frequency: number, passphrase = '') {
  const q = `mode=${mode}${passphrase ? `&passphrase=${passphrase}` : ''}`;
  const p = Bun.spawn(
    ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `sine=frequency=${frequency}:sample_rate=48000`, '-ac', '2', ...codec, '-f', 'mpegts', `srt://127.0.0.1:${port}?${q}`],
    { stdout: 'ignore', stderr: 'pipe' },
  );
  senders.push(p);
  return p;
}

async function expectTone(hark: HarkProcess, frequency: number): Promise<void> {
  const pcm = await hear(hark, 3000);
  const tail = pcm.subarray(Math.floor(pcm.length / 3));
  const f = dominantFrequency(tail);
  const level = toneDbfs(tail, frequency);
  const said = `heard ${f.toFixed(1)} Hz at ${level.toFixed(2)} dBFS (longest gap ${longestGap(tail)} samples)`;
  expect(Math.abs(f - frequency), said).toBeLessThan(5);
  expect(Math.abs(level - SINE_DBFS), said).toBeLessThan(1);
}

describe('SRT input', () => {
  for (const [name, codec, payload, output] of [
    ['MP2', ['-c:a', 'mp2', '-b:a', '256k'], 'mpeg-audio', 'none'],
    ['Opus', ['-c:a', 'libopus', '-b:a', '128k'], 'opus', 'none'],
    ['SMPTE 302M', ['-c:a', 's302m', '-strict', '-2'], 'pcm (302M', 'none'],
    // output_device at its default (the box's default output): each packet goes on as SRT hands it over
    ['MP2', ['-c:a', 'mp2', '-b:a', '256k'], 'mpeg-audio', 'default'],
    ['SMPTE 302M', ['-c:a', 's302m', '-strict', '-2'], 'pcm (302M', 'default'],
  ] as const) {
    test(`ffmpeg (caller) → SRT ${name} → hark (listener, output_device ${output === 'none' ? '"none"' : 'at its default'}): /stream.mp3 carries the tone`, async () => {
      const port = await freePort();
      const hark = await startHark(`[input]\nsource = "srt"\nurl = "srt://127.0.0.1:${port}?mode=listener"\n${output === 'none' ? 'output_device = "none"\n' : ''}`);
      started.push(hark);
      await until(async () => (await status(hark)).input.stats.link === 'listening', 10_000, 'the listener up');
      const tx = sendSrt(port, 'caller', [...codec], 1000);
      await until(async () => (await status(hark)).input.state === 'running', 10_000, 'the input running');
      await Bun.sleep(500);
      await expectTone(hark, 1000);
      const s = await status(hark);
      expect(String(s.input.stats.payload)).toStartWith(payload);
      // (Failed once in a full run of this file here, 2026-12-05, which assertion unknown: the stats say.)
      expect(s.input.stats.underrunFrames, JSON.stringify(s.input.stats)).toBe(0);
      expect(Number(s.input.stats.srt_latencyMs)).toBe(120);
      expect(s.input.stats.playsOnArrival).toBe(output === 'none' ? 0 : 1);
      tx.kill();
      await hark.stop();
    }, 60_000);
  }

  test('the default config (played on arrival): the link lost, the fallback file plays; the sender back, the tone again', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'hark-netin-'));
    const file = join(dir, 'fallback.wav');
    writeFileSync(file, wav16(sine({ frequency: 500, dbfs: -12, seconds: 3, channels: 2 }), 2));
    const hark = await startHark(`[input]\nsource = "srt"\nurl = "srt://127.0.0.1:${port}?mode=listener"\n[fallback]\nenabled = true\nafter_s = 1\nreturn_s = 1\nfiles = ["${file}"]\n`);
    started.push(hark);
    await until(async () => (await status(hark)).input.stats.link === 'listening', 10_000, 'the listener up');
    let tx = sendSrt(port, 'caller', ['-c:a', 'mp2', '-b:a', '256k'], 1000);
    await until(async () => (await status(hark)).input.state === 'running', 10_000, 'the input running');
    expect((await status(hark)).input.stats.playsOnArrival).toBe(1);
    tx.kill();
    await until(async () => (await status(hark)).input.state === 'lost', 5000, 'the input lost');
    await until(async () => (await status(hark)).fallback.active, 8000, 'the fallback playing');
    let pcm = await hear(hark, 2500);
    expect(Math.abs(dominantFrequency(pcm.subarray(Math.floor(pcm.length / 3))) - 500)).toBeLessThan(5);
    tx = sendSrt(port, 'caller', ['-c:a', 'mp2', '-b:a', '256k'], 1000);
    await until(async () => (await status(hark)).input.state === 'running', 15_000, 'the input running again');
    await until(async () => !(await status(hark)).fallback.active, 8000, 'the fallback released');
    await expectTone(hark, 1000);
    const s = await status(hark);
    expect(Number(s.input.stats.linkLosses)).toBe(1);
    expect(s.input.stats.playsOnArrival).toBe(1);
    tx.kill();
  }, 90_000);

  test('a flood under the default config (played on arrival): a sender pushing audio at 4× real time is cut to real time, memory stays bounded; a real feed then plays', async () => {
    const port = await freePort();
    const hark = await startHark(`[input]\nsource = "srt"\nurl = "srt://127.0.0.1:${port}?mode=listener"\n`);
    started.push(hark);
    await until(async () => (await status(hark)).input.stats.link === 'listening', 10_000, 'the listener up');
    // -readrate 4: ffmpeg reads, encodes and sends four seconds of audio every second
    const flood = Bun.spawn(
      ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-readrate', '4', '-f', 'lavfi', '-i', 'sine=frequency=700:sample_rate=48000', '-t', '40', '-ac', '2', '-c:a', 's302m', '-strict', '-2', '-f', 'mpegts', `srt://127.0.0.1:${port}?mode=caller`],
      { stdout: 'ignore', stderr: 'pipe' },
    );
    senders.push(flood);
    await until(async () => (await status(hark)).input.state === 'running', 10_000, 'the flood arriving');
    await Bun.sleep(6000);
    const s = await status(hark);
    expect(s.input.stats.playsOnArrival).toBe(1);
    // what came faster than real time was dropped, and counted (/api/status audio.discarded_frames)
    const audio = ((await (await fetch(`${hark.url}/api/status`)).json()) as { audio: { discarded_frames: number } }).audio;
    console.log(`[flood] ${s.input.stats.messages} SRT messages; ${audio.discarded_frames} frames dropped as faster than real time`);
    expect(audio.discarded_frames).toBeGreaterThan(48_000);
    flood.kill();
    expect(hark.rssKb()).toBeLessThan(400_000);
    await until(async () => (await status(hark)).input.stats.link === 'listening', 15_000, 'listening again after the flood');
    const tx = sendSrt(port, 'caller', ['-c:a', 'mp2', '-b:a', '256k'], 1000);
    await until(async () => (await status(hark)).input.state === 'running' && (await status(hark)).input.stats.payload === 'mpeg-audio', 15_000, 'the real feed running').catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify((await status(hark)).input)}`);
    });
    await Bun.sleep(1500);
    await expectTone(hark, 1000);
    expect(hark.rssKb()).toBeLessThan(400_000);
    tx.kill();
  }, 90_000);

  test('hostile: a caller sending garbage and broken TS is counted and dropped; once it leaves, a real feed plays', async () => {
    const port = await freePort();
    const hark = await startHark(`[input]\nsource = "srt"\nurl = "srt://127.0.0.1:${port}?mode=listener"\noutput_device = "none"\n`);
    started.push(hark);
    await until(async () => (await status(hark)).input.stats.link === 'listening', 10_000, 'the listener up');
    const bad = SrtSocket.create({ latencyMs: 120 });
    try {
      bad.connect('127.0.0.1', port);
      await until(() => bad.state === 'connected', 5000, 'the hostile caller connected');
      let seed = 3;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
      for (let i = 0; i < 3000; i++) {
        const m = new Uint8Array(1316);
        for (let k = 0; k < m.length; k++) m[k] = Math.floor(rnd() * 256);
        // every other message: TS packets with sync bytes and random headers (PAT/PMT/PES garbage)
        if (i % 2 === 0) for (let p = 0; p < 7; p++) m[p * 188] = 0x47;
        while (bad.send(m) === 0) await Bun.sleep(2);
        if (i % 100 === 0) await Bun.sleep(10);
      }
      await until(async () => Number((await status(hark)).input.stats.messages) > 1000, 10_000, 'the garbage received');
      const s = await status(hark);
      expect(Number(s.input.stats.syncLossBytes) + Number(s.input.stats.ccErrors) + Number(s.input.stats.crcErrors) + Number(s.input.stats.pesErrors)).toBeGreaterThan(0);
      expect(s.input.state).not.toBe('running'); // nothing decodable came
    } finally {
      bad.close();
    }
    await until(async () => (await status(hark)).input.stats.link === 'listening', 15_000, 'listening again after the hostile caller left');
    const tx = sendSrt(port, 'caller', ['-c:a', 'mp2', '-b:a', '256k'], 1000);
    await until(async () => (await status(hark)).input.state === 'running', 10_000, 'the real feed running');
    await Bun.sleep(500);
    await expectTone(hark, 1000);
    expect(hark.rssKb()).toBeLessThan(400_000);
    tx.kill();
  }, 90_000);

  test('hark calls ffmpeg (listener) with a passphrase; a wrong passphrase is named', async () => {
    const port = await freePort();
    const pass = 'correct horse battery';
    let tx = sendSrt(port, 'listener', ['-c:a', 'mp2', '-b:a', '192k'], 700, pass);
    const hark = await startHark(`[input]\nsource = "srt"\nurl = "srt://127.0.0.1:${port}?mode=caller"\npassphrase = "${pass}"\noutput_device = "none"\n`);
    started.push(hark);
    await until(async () => (await status(hark)).input.state === 'running', 15_000, 'the input running');
    await Bun.sleep(500);
    await expectTone(hark, 700);
    tx.kill();
    await hark.stop();

    const port2 = await freePort();
    tx = sendSrt(port2, 'listener', ['-c:a', 'mp2', '-b:a', '192k'], 700, pass);
    const wrong = await startHark(`[input]\nsource = "srt"\nurl = "srt://127.0.0.1:${port2}?mode=caller"\npassphrase = "not the passphrase"\noutput_device = "none"\n`);
    started.push(wrong);
    await until(async () => /refused/.test(String((await status(wrong)).input.stats.problem)), 15_000, 'the refusal shown');
    const s = await status(wrong);
    expect(s.input.state).toBe('waiting');
    expect(String(s.input.stats.problem).toLowerCase()).toContain('passphrase');
    tx.kill();
  }, 90_000);
});

/** The longest run of exact zeros (a gap the sink played as silence), in samples. */
function longestGap(x: Float32Array): number {
  let best = 0;
  let run = 0;
  for (const v of x) {
    run = v === 0 ? run + 1 : 0;
    if (run > best) best = run;
  }
  return best;
}

/** Record `seconds` of what a sink plays (its monitor) with pw-record; the left channel. */
async function recordSink(pw: PipewireHarness, sink: string, seconds: number): Promise<Float32Array> {
  const file = join(pw.dir, `rec-${Date.now()}.wav`);
  const p = Bun.spawn(['pw-record', '--target', sink, '-P', '{ stream.capture.sink = true }', '--format', 'f32', '--rate', '48000', '--channels', '2', file], {
    env: { ...process.env, ...pw.env },
    stdout: 'ignore',
    stderr: 'pipe',
  });
  await Bun.sleep(seconds * 1000);
  p.kill('SIGINT');
  await p.exited;
  return decodeWithFfmpeg(file);
}

describe('PipeWire output of a network input', () => {
  let pw: PipewireHarness | undefined;
  afterAll(async () => {
    await pw?.stop();
  });

  test('RTP L24 → hark → input.output_device (a sink) plays the tone; the link lost plays silence and comes back', async () => {
    pw = await startPipewire({ sinks: [{ name: 'hark-out', channels: 2 }] });
    const port = await freePort();
    const hark = await startHark(`[input]\nsource = "rtp"\nurl = "rtp://127.0.0.1:${port}"\noutput_device = "hark-out"\n`, { env: pw.env });
    started.push(hark);
    let tx = sendRtp(port, 'pcm_s24be', 1000);
    await until(async () => (await status(hark)).input.stats.playback === 'playing', 15_000, 'the playback playing');
    await Bun.sleep(500);
    const listening = hear(hark, 4000); // a /stream.mp3 listener meanwhile (it changes the worker's wake period)
    let pcm = await recordSink(pw, 'hark-out', 2.5);
    await listening;
    let tail = pcm.subarray(Math.floor(pcm.length / 4));
    expect(Math.abs(dominantFrequency(tail) - 1000)).toBeLessThan(5);
    // the level by RMS (dBFS of a full-scale sine: a sine reads its peak level). A dropped
    // frame, how the playback follows the sink's clock, moves the phase: a phase-coherent
    // measure would read it as a loss
    expect(Math.abs(rmsDbfs(tail) - SINE_DBFS)).toBeLessThan(1);
    // No gap in a steady run. On this shared test machine (load 10–15 on 2 cores) a stall of
    // the audio worker has once left the sink dry for ~130 ms: bounded at 100 ms here, and the
    // underrun is counted (playbackUnderrunFrames) where it happens.
    expect(longestGap(tail)).toBeLessThan(4800);
    let s = await status(hark);
    // Short: the queue's low point is kept at its margin (4 ms, more after underruns), and what
    // stands 60 ms over it is cut at once. One reading of the fill can catch a burst of blocks
    // from a late wake of the worker on top (seen: 111 ms with a margin of 8): the least of
    // ten readings over a second is the low point the player steers by.
    const margin = () => Number(s.input.stats.playbackMarginMs);
    const lowFill = async () => {
      let low = Infinity;
      for (let i = 0; i < 10; i++) {
        low = Math.min(low, Number((await status(hark)).input.stats.playbackFillMs));
        await Bun.sleep(100);
      }
      return low;
    };
    expect(margin()).toBeGreaterThanOrEqual(4);
    expect(await lowFill()).toBeLessThanOrEqual(margin() + 70);
    // The sender stalls for 300 ms, then sends what it owes at once (ffmpeg -re catches up):
    // hark's buffer (buffer_ms 120) runs short, plays silence, re-centres, and the burst that
    // follows is skipped rather than kept as 180 ms of extra delay for minutes.
    const before = s.input.stats;
    process.kill(tx.pid, 'SIGSTOP');
    await Bun.sleep(300);
    process.kill(tx.pid, 'SIGCONT');
    await until(async () => Number((await status(hark)).input.stats.underrunFrames) > Number(before.underrunFrames), 5000, 'the stall counted');
    await Bun.sleep(2500);
    s = await status(hark);
    expect(Number(s.input.stats.resyncs)).toBeGreaterThan(Number(before.resyncs));
    expect(Number(s.input.stats.bufferFillMs)).toBeLessThanOrEqual(120 + 60);
    const low = await lowFill();
    console.log(`after the stall: playback queue low point ${low} ms (margin ${margin()} ms)`);
    expect(low).toBeLessThanOrEqual(margin() + 70);
    pcm = await recordSink(pw, 'hark-out', 1.5);
    tail = pcm.subarray(Math.floor(pcm.length / 4));
    expect(Math.abs(dominantFrequency(tail) - 1000)).toBeLessThan(5);
    tx.kill();
    await until(async () => (await status(hark)).input.state === 'lost', 5000, 'the input lost');
    pcm = await recordSink(pw, 'hark-out', 1);
    expect(toneDbfs(pcm, 1000)).toBeLessThan(-60);
    tx = sendRtp(port, 'pcm_s24be', 1000);
    await until(async () => (await status(hark)).input.state === 'running', 10_000, 'the input running again');
    await Bun.sleep(500);
    pcm = await recordSink(pw, 'hark-out', 2);
    tail = pcm.subarray(Math.floor(pcm.length / 4));
    expect(Math.abs(dominantFrequency(tail) - 1000)).toBeLessThan(5);
    expect(longestGap(tail)).toBeLessThan(4800);
    s = await status(hark);
    expect(s.input.stats.playback).toBe('playing');
    tx.kill();
  }, 90_000);
});

/** Clicks: a 2 ms 2 kHz burst at −6 dBFS every `everyS` seconds, `count` of them, as a float WAV. */
function clicks(dir: string, count: number, everyS: number): string {
  const n = Math.round(count * everyS * 48_000);
  const x = new Float32Array(n * 2);
  for (let k = 0; k < count; k++) {
    const at = Math.round((k * everyS + 0.5) * 48_000);
    for (let i = 0; i < 96; i++) {
      const v = 0.5 * Math.sin((2 * Math.PI * 2000 * i) / 48_000);
      x[(at + i) * 2] = v;
      x[(at + i) * 2 + 1] = v;
    }
  }
  const file = join(dir, 'clicks.wav');
  writeFileSync(file, wav16(x, 2));
  return file;
}

/** Sample indexes where |x| first rises over `th` after at least `quiet` samples under it. */
function onsets(x: Float32Array, th: number, quiet = 24_000): number[] {
  const out: number[] = [];
  let under = quiet;
  for (let i = 0; i < x.length; i++) {
    if (Math.abs(x[i]!) > th) {
      if (under >= quiet) out.push(i);
      under = 0;
    } else under++;
  }
  return out;
}

describe('hark → SRT → hark (an STL pair)', () => {
  let pw: PipewireHarness | undefined;
  afterAll(async () => {
    await pw?.stop();
  });

  test('A (its input) → [[srt]] → B (input srt): B\'s /stream.mp3 and PipeWire output carry it; the click latency across the pair is logged', async () => {
    pw = await startPipewire({ sinks: [{ name: 'a-in', channels: 2 }, { name: 'b-out', channels: 2 }, { name: 'rec', channels: 2 }] });
    const port = await freePort();
    const b = await startHark(`[input]\nsource = "srt"\nurl = "srt://127.0.0.1:${port}?mode=listener"\nbuffer_ms = 60\noutput_device = "b-out"\n`, { env: pw.env });
    started.push(b);
    const a = await startHark(
      `[input]\nsource = "pipewire"\ndevice = "a-in"\n[[srt]]\nurl = "srt://127.0.0.1:${port}?mode=caller"\nlatency_ms = 60\npayload = "pcm"\n`,
      { env: pw.env },
    );
    started.push(a);
    // First a tone through the pair.
    const tone = pw.play({ frequency: 1000, seconds: 30, levelDbfs: -12 }, { target: 'a-in' });
    await until(async () => (await status(b)).input.state === 'running', 20_000, "B's input running");
    await until(async () => (await status(b)).input.stats.playback === 'playing', 10_000, "B's playback playing");
    await Bun.sleep(1000);
    const pcm = await hear(b, 3000);
    const tail = pcm.subarray(Math.floor(pcm.length / 3));
    expect(Math.abs(dominantFrequency(tail) - 1000)).toBeLessThan(5);
    // The tone's level as A captures it (pw-play's output varies a little run to run): B
    // carries the same.
    const apcm = await hear(a, 2000);
    const out = await recordSink(pw, 'b-out', 2);
    expect(Math.abs(dominantFrequency(out.subarray(out.length / 4)) - 1000)).toBeLessThan(5);
    await tone.stop();
    await Bun.sleep(1500); // the pair's tail of the tone has played out

    // Then clicks: A's input (a-in's monitor) left, B's output (b-out's monitor) right, on one
    // recording (one clock), so the difference of the onsets is the pair's latency.
    const links = [
      ['a-in:monitor_FL', 'rec:playback_FL'],
      ['b-out:monitor_FL', 'rec:playback_FR'],
    ];
    for (const [from, to] of links) {
      const r = await pw.run(['pw-link', from!, to!], 5000);
      expect(r.code).toBe(0);
    }
    const rec = join(pw.dir, 'clicks-rec.wav');
    const recorder = Bun.spawn(['pw-record', '--target', 'rec', '-P', '{ stream.capture.sink = true }', '--format', 'f32', '--rate', '48000', '--channels', '2', rec], {
      env: { ...process.env, ...pw.env },
      stdout: 'ignore',
      stderr: 'ignore',
    });
    await Bun.sleep(500);
    const player = pw.play(clicks(pw.dir, 6, 1), { target: 'a-in' });
    await player.exited;
    await Bun.sleep(1000);
    recorder.kill('SIGINT');
    await recorder.exited;
    const both = await decodeWithFfmpeg(rec, { channels: 2 });
    const left = new Float32Array(both.length / 2);
    const right = new Float32Array(both.length / 2);
    for (let i = 0; i < left.length; i++) {
      left[i] = both[2 * i]!;
      right[i] = both[2 * i + 1]!;
    }
    const inAt = onsets(left, 0.1);
    const outAt = onsets(right, 0.1);
    expect(inAt.length).toBe(6);
    // each click that came out, against the click that went in just before it
    const ms = outAt.filter((o) => o > inAt[0]!).map((o) => ((o - inAt.filter((t) => t < o).pop()!) * 1000) / 48_000);
    expect(ms.length).toBeGreaterThanOrEqual(5);
    const s = await status(b);
    console.log(
      `[latency] hark A capture → SRT (latency 60 ms, PCM) → hark B (buffer_ms 60) → PipeWire output: ${ms.map((m) => m.toFixed(1)).join(', ')} ms (B's playback ring ${s.input.stats.playbackFillMs} ms, margin ${s.input.stats.playbackMarginMs} ms, ${s.input.stats.playbackUnderruns} underruns; B's SRT hold ${s.input.stats.holdMs} ms, ${s.input.stats.underrunFrames} frames short)`,
    );
    for (const m of ms) {
      expect(m).toBeGreaterThan(60);
      expect(m).toBeLessThan(1000);
    }
    // steady: every click comes out with the same delay (the playback steers by single frames)
    expect(Math.max(...ms) - Math.min(...ms)).toBeLessThan(60);

    // B plays each packet as SRT hands it over (output_device set): its output's queue is the
    // one buffer on that side.
    expect(s.input.stats.playsOnArrival).toBe(1);
    // A stops for 1.5 s (SIGSTOP: the link stays up, nothing comes): B's output runs dry and
    // the input is lost, then the feed comes back. A feed that stopped is no reason to play
    // later for good: the output's margin is what it was, and its queue is short again.
    const tone2 = pw.play({ frequency: 1000, seconds: 30, levelDbfs: -12 }, { target: 'a-in' });
    await Bun.sleep(1500);
    const before = (await status(b)).input.stats;
    process.kill(a.proc.pid, 'SIGSTOP');
    try {
      await until(async () => (await status(b)).input.state === 'lost', 5000, "B's input lost");
    } finally {
      process.kill(a.proc.pid, 'SIGCONT');
    }
    await until(async () => (await status(b)).input.state === 'running', 10_000, "B's input running again");
    await Bun.sleep(4000);
    const after = (await status(b)).input.stats;
    console.log(`[stop] B's output: margin ${before.playbackMarginMs} → ${after.playbackMarginMs} ms, ran dry ${before.playbackUnderruns} → ${after.playbackUnderruns} times, queue ${after.playbackFillMs} ms`);
    expect(Number(after.playbackUnderruns)).toBeGreaterThan(Number(before.playbackUnderruns));
    expect(after.playbackMarginMs).toBe(before.playbackMarginMs);
    let low = Infinity;
    for (let i = 0; i < 10; i++) {
      low = Math.min(low, Number((await status(b)).input.stats.playbackFillMs));
      await Bun.sleep(100);
    }
    expect(low).toBeLessThanOrEqual(Number(after.playbackMarginMs) + 70);
    const back = await recordSink(pw, 'b-out', 1.5);
    expect(Math.abs(dominantFrequency(back.subarray(back.length / 4)) - 1000)).toBeLessThan(5);
    await tone2.stop();
  }, 120_000);
});
