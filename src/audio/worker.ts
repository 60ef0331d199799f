/// <reference lib="webworker" />
/**
 * The audio worker: a thread of its own for source → bus → meters → encoders, so capture
 * never waits on HTTP or WebRTC work in the main thread. The packets one wake produces go to
 * the main thread in one message, their buffers transferred (no copy).
 */
import { monotonicMs } from '../../ffi/libc.ts';
import { AudioEngine } from './engine.ts';
import { createSource, WaitingSource } from './sources.ts';
import { createEncoder, type EncoderSpec } from '../codecs/index.ts';
import { SAMPLE_RATE } from './format.ts';
import type { FromWorker, SourceSettings, ToWorker, WorkerPacket } from './protocol.ts';
import { FallbackMixer } from './fallback.ts';
import { PipewireSource } from './pipewire-source.ts';
import { BLOCK_FRAMES } from './engine.ts';
import { PipewirePlayer } from './pw-player.ts';

declare const self: Worker;

let engine: AudioEngine<EncoderSpec> | undefined;
let running = false;
let lastStats = 0;
let lastState = '';
/** Stats (counters for /api/status and /metrics) go to the main thread once a second. */
const STATS_EVERY_MS = 1000;
/**
 * While some consumer needs every packet at once (WebRTC, WHIP: wakeMs 0) the worker wakes
 * whenever the source has a block, and at least every 20 ms so control messages get through.
 */
const PROMPT_TIMEOUT_MS = 20;
/**
 * Otherwise it wakes once per `wakeMs` of audio (the main thread sets, in shared memory, the
 * least delay its consumers allow: pipeline.ts MAX_DELAY_MS): 4 wakes a second for Icecast and
 * recording, 10 while someone listens to /stream.mp3 or watches the meters. Control messages
 * may wait that long too; a consumer that needs audio sooner raises the urgent flag instead.
 */
let wakeMs = 0;
/** Shared with the main thread: [0] urgent flag, [1] wake period in ms (pipeline.ts). */
let wakeCell: Int32Array | undefined;
let settings: SourceSettings | undefined;
/** A network input's PipeWire output (input.output_device), fed from the program bus. */
let player: { p: PipewirePlayer; detach: () => void } | null = null;

/** Play a network input on input.output_device (unless "none"); anything else plays nowhere. */
function applyPlayer(s: SourceSettings): void {
  if (!engine) return;
  const want = s.network && s.network.outputDevice !== 'none' ? s.network.outputDevice : null;
  engine.setPlayback(want !== null);
  if (player && player.p.device === want) return;
  if (player) {
    player.detach();
    player.p.close();
    player = null;
  }
  if (want === null) return;
  const p = new PipewirePlayer(want, engine.channels, log);
  player = { p, detach: engine.addSink('playback', (buf, n) => p.write(buf, n)) };
}

/** The engine's stats, the playback's state among the input's own. */
function stats() {
  const st = engine!.stats();
  if (player) {
    const p = player.p.status();
    Object.assign(st.source.stats, {
      playback: p.state,
      playbackMessage: p.message,
      playbackFillMs: p.fillMs,
      playbackMarginMs: p.marginMs,
      playbackUnderruns: p.underruns,
      playbackUnderrunFrames: p.underrunFrames,
      playbackDroppedFrames: p.droppedFrames,
      playbackFrames: p.playedFrames,
      playbackFramesPerCycle: p.framesPerCycle,
      playbackTrimmedFrames: p.trimmedFrames,
      playbackPaddedFrames: p.paddedFrames,
    });
  }
  return st;
}

/**
 * The capture latency follows the wake period: input.latency_frames while a consumer needs
 * each packet at once, input.relaxed_latency_frames otherwise (PipeWire then runs fewer,
 * longer cycles: most of what capture costs is per cycle).
 */
function applyLatency(): void {
  if (!engine || !settings) return;
  const frames = wakeMs === 0 ? settings.latencyFrames : Math.max(settings.latencyFrames, settings.relaxedLatencyFrames);
  try {
    engine.setLatency(frames);
  } catch (e) {
    log('warn', 'audio', `could not set the capture latency to ${frames} frames: ${(e as Error).message}`);
  }
}
/** Encoders whose packets are one byte stream (MP3): a wake's packets of one such key are sent joined. */
const streamKeys = new Set<string>();
let pending: WorkerPacket[] = [];

function post(msg: FromWorker, transfer?: Transferable[]): void {
  self.postMessage(msg, transfer ?? []);
}

function log(level: 'debug' | 'info' | 'warn' | 'error', prefix: string, msg: string): void {
  post({ type: 'log', level, prefix, msg });
}

/** Send what this wake encoded: one message, MP3 packets of one encoder joined into one. */
function flushPackets(): void {
  if (pending.length === 0) return;
  let out = pending;
  pending = [];
  if (out.length > 1 && streamKeys.size > 0) {
    const joined = new Map<string, WorkerPacket[]>();
    const rest: WorkerPacket[] = [];
    for (const p of out) {
      if (!streamKeys.has(p.key)) rest.push(p);
      else if (joined.has(p.key)) joined.get(p.key)!.push(p);
      else joined.set(p.key, [p]);
    }
    for (const list of joined.values()) rest.push(list.length === 1 ? list[0]! : join(list));
    out = rest;
  }
  post({ type: 'packets', packets: out }, out.map((p) => p.data.buffer as ArrayBuffer));
}

/** Consecutive MP3 packets as one: their bytes in order, the input span they tile together. */
function join(list: WorkerPacket[]): WorkerPacket {
  let bytes = 0;
  let frames = 0;
  for (const p of list) {
    bytes += p.data.byteLength;
    frames += p.frames;
  }
  const data = new Uint8Array(bytes);
  let off = 0;
  for (const p of list) {
    data.set(p.data, off);
    off += p.data.byteLength;
  }
  const first = list[0]!;
  return { key: first.key, data, pts: first.pts, frames, at: list[list.length - 1]!.at, ...(first.framePts !== undefined ? { framePts: first.framePts } : {}) };
}

function loop(): void {
  if (!running || !engine) return;
  try {
    // The wake period the main thread asks for now (read here, not sent as a message: a
    // message would wait until this thread's current sleep is over).
    const want = Atomics.load(wakeCell!, 1);
    if (want !== wakeMs) {
      wakeMs = want;
      applyLatency();
    }
    // Blocks this thread waiting for audio, then yields to the event loop so control messages
    // get through.
    if (wakeMs === 0) engine.pump(PROMPT_TIMEOUT_MS, engine.framesToNextPacket());
    else engine.pump(wakeMs * 1.5, Math.round((SAMPLE_RATE * wakeMs) / 1000));
    Atomics.store(wakeCell!, 0, 0); // woken: an urgent request is answered
    flushPackets();
    const now = performance.now();
    // A change of input state (device lost, back, waiting) is reported at once.
    const fb = engine.fallback?.status();
    const state = `${engine.sourceState} ${fb ? `${fb.active} ${fb.kind} ${fb.source}` : ''}`;
    if (now - lastStats >= STATS_EVERY_MS || state !== lastState) {
      lastState = state;
      lastStats = now;
      post({ type: 'stats', stats: stats() });
    }
  } catch (e) {
    flushPackets();
    log('error', 'audio', `pump failed: ${(e as Error).message}`);
  }
  setImmediate(loop);
}

/** A backup device for the fallback; without libpipewire one that never runs (the files play instead). */
function openBackup(device: string, channels: number, latencyFrames: number) {
  const pw = new PipewireSource({ device, channels, latencyFrames, mode: 'pipewire' });
  try {
    pw.start();
    return pw;
  } catch (e) {
    pw.close();
    log('warn', 'fallback', `backup device ${device}: ${(e as Error).message}`);
    return new WaitingSource(channels, { state: 'unavailable', message: (e as Error).message });
  }
}

self.onmessage = async (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  try {
    switch (msg.type) {
      case 'init': {
        const source = await createSource(msg.settings, log);
        wakeCell = new Int32Array(msg.wake);
        wakeMs = Atomics.load(wakeCell, 1);
        settings = msg.settings;
        engine = new AudioEngine<EncoderSpec>(
          source,
          new Float32Array(msg.levels),
          createEncoder,
          (key, p) => {
            const now = monotonicMs();
            const cap = engine?.captureMs(p.pts + p.frames);
            pending.push({ key, data: p.data, pts: p.pts, frames: p.frames, at: cap !== undefined && cap <= now && cap > now - 1000 ? cap : now, ...(p.framePts !== undefined ? { framePts: p.framePts } : {}) });
          },
          new Float32Array(msg.programLevels),
        );
        engine.setUrgentFlag(wakeCell);
        engine.setGainDb(msg.settings.gainDb ?? 0, false);
        applyLatency();
        engine.start();
        applyPlayer(msg.settings);
        running = true;
        post({ type: 'ready', channels: engine.channels });
        post({ type: 'stats', stats: stats() });
        setImmediate(loop);
        break;
      }
      case 'source': {
        if (!engine) break;
        const next = await createSource(msg.settings, log);
        settings = msg.settings;
        engine.replaceSource(next, () => applyLatency());
        engine.setGainDb(msg.settings.gainDb ?? 0);
        applyPlayer(msg.settings);
        post({ type: 'stats', stats: stats() });
        break;
      }
      case 'encoder-add':
        if (msg.spec.codec === 'mp3') streamKeys.add(msg.key);
        engine?.addEncoder(msg.key, msg.spec, { input: msg.input, record: msg.record }, msg.program);
        break;
      case 'encoder-remove':
        flushPackets();
        engine?.removeEncoder(msg.key);
        streamKeys.delete(msg.key);
        break;
      case 'gate':
        if (engine) {
          engine.muted = msg.muted;
          engine.offAir = msg.offAir;
        }
        break;
      case 'programs':
        engine?.setPrograms(msg.programs);
        break;
      case 'program-mute':
        engine?.setProgramMuted(msg.id, msg.muted);
        break;
      case 'available-channels':
        engine?.setAvailableChannels(msg.channels);
        break;
      case 'gain':
        engine?.setGainDb(msg.db);
        break;
      case 'fallback': {
        if (!engine) break;
        const s = msg.settings;
        const latencyFrames = Math.max(settings?.latencyFrames ?? 1024, settings?.relaxedLatencyFrames ?? 1024);
        const ch = engine.channels;
        engine.setFallback(
          s ? new FallbackMixer(ch, s, (device) => openBackup(device, ch, latencyFrames), BLOCK_FRAMES) : undefined,
        );
        post({ type: 'stats', stats: stats() });
        break;
      }
      case 'fallback-engage':
        engine?.fallback?.engage(msg.on);
        break;
      case 'close':
        running = false;
        flushPackets();
        player?.detach();
        player?.p.close();
        player = null;
        engine?.close();
        engine = undefined;
        post({ type: 'closed' });
        break;
    }
  } catch (e) {
    post({ type: 'fatal', message: `${msg.type}: ${(e as Error).message}` });
  }
};
