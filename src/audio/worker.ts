/// <reference lib="webworker" />
/**
 * The audio worker: a thread of its own for source → bus → meters → encoders, so capture
 * never waits on HTTP or WebRTC work in the main thread. Encoded packets go to the main
 * thread by postMessage, their buffers transferred (no copy).
 */
import { AudioEngine } from './engine.ts';
import { createSource } from './sources.ts';
import { createEncoder, type EncoderSpec } from '../codecs/index.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

declare const self: Worker;

let engine: AudioEngine<EncoderSpec> | undefined;
let running = false;
let lastStats = 0;
let lastState = '';
const STATS_EVERY_MS = 500;

function post(msg: FromWorker, transfer?: Transferable[]): void {
  self.postMessage(msg, transfer ?? []);
}

function log(level: 'debug' | 'info' | 'warn' | 'error', prefix: string, msg: string): void {
  post({ type: 'log', level, prefix, msg });
}

function loop(): void {
  if (!running || !engine) return;
  try {
    // Blocks this thread up to 20 ms waiting for audio, then yields to the event loop so
    // control messages get through.
    engine.pump(20);
    const now = performance.now();
    // A change of input state (device lost, back, waiting) is reported at once.
    const state = engine.sourceState;
    if (now - lastStats >= STATS_EVERY_MS || state !== lastState) {
      lastState = state;
      lastStats = now;
      post({ type: 'stats', stats: engine.stats() });
    }
  } catch (e) {
    log('error', 'audio', `pump failed: ${(e as Error).message}`);
  }
  setImmediate(loop);
}

self.onmessage = async (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  try {
    switch (msg.type) {
      case 'init': {
        const source = await createSource(msg.settings, log);
        engine = new AudioEngine<EncoderSpec>(source, new Float32Array(msg.levels), createEncoder, (key, p) => {
          post({ type: 'packet', key, data: p.data, pts: p.pts, frames: p.frames }, [p.data.buffer as ArrayBuffer]);
        });
        engine.start();
        running = true;
        post({ type: 'ready', channels: engine.channels });
        post({ type: 'stats', stats: engine.stats() });
        setImmediate(loop);
        break;
      }
      case 'source': {
        if (!engine) break;
        const next = await createSource(msg.settings, log);
        engine.replaceSource(next);
        post({ type: 'stats', stats: engine.stats() });
        break;
      }
      case 'encoder-add':
        engine?.addEncoder(msg.key, msg.spec);
        break;
      case 'encoder-remove':
        engine?.removeEncoder(msg.key);
        break;
      case 'mute':
        if (engine) engine.muted = msg.muted;
        break;
      case 'close':
        running = false;
        engine?.close();
        engine = undefined;
        post({ type: 'closed' });
        break;
    }
  } catch (e) {
    post({ type: 'fatal', message: `${msg.type}: ${(e as Error).message}` });
  }
};
