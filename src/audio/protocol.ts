import type { EncoderSpec } from '../codecs/index.ts';
import type { EngineStats } from './engine.ts';
import type { FallbackSettings } from './fallback.ts';
import type { ProgramSpec } from '../config/programs.ts';

/** What the audio worker captures, as the main thread asks for it. */
export interface SourceSettings {
  source: 'auto' | 'pipewire' | 'pipewire-sink' | 'tone' | 'srt' | 'rtp';
  device: string;
  channels: number;
  /** node.latency while a consumer needs each packet at once (WebRTC, WHIP). */
  latencyFrames: number;
  /** node.latency otherwise (never below latencyFrames). */
  relaxedLatencyFrames: number;
  tone: { frequency: number; levelDbfs: number; clockPpm?: number };
  /** A network input (source "srt" or "rtp"): input.url, buffer_ms, passphrase, output_device. */
  network?: { url: string; bufferMs: number; passphrase: string; outputDevice: string };
  /** input.gain_db: applied before the meters and encoders; a change alone ramps, the source stays. */
  gainDb?: number;
}

/** Main thread → audio worker. */
export type ToWorker =
  | { type: 'init'; settings: SourceSettings; levels: SharedArrayBuffer; programLevels: SharedArrayBuffer; wake: SharedArrayBuffer }
  /** The [[program]] chains (empty: the whole input is the one program, as before programs). */
  | { type: 'programs'; programs: ProgramSpec[] }
  /** Mute one program alone. */
  | { type: 'program-mute'; id: string; muted: boolean }
  /** Channels the captured device has (from PipeWire's registry): programs needing more go silent. */
  | { type: 'available-channels'; channels: number }
  | { type: 'source'; settings: SourceSettings }
  /** `input`: an input tap, not silenced by mute or off air (the admin's monitor). */
  | { type: 'encoder-add'; key: string; spec: EncoderSpec; input?: boolean; record?: boolean; program?: string }
  | { type: 'encoder-remove'; key: string }
  /** What the output encoders carry: silence while muted or (offAir) off air. */
  | { type: 'gate'; muted: boolean; offAir: boolean }
  /** The input gain changed (ramped in the worker; the source is not touched). */
  | { type: 'gain'; db: number }
  /** [fallback]'s devices and decoded files (null: no fallback); see fallback.ts. */
  | { type: 'fallback'; settings: FallbackSettings | null }
  /** Switch the outputs to the fallback (true) or back to the input, cross-faded. */
  | { type: 'fallback-engage'; on: boolean }
  | { type: 'close' };

/** Audio worker → main thread. */
export type FromWorker =
  | { type: 'ready'; channels: number }
  /** The packets one worker wake produced, in order per key (their buffers transferred). */
  | { type: 'packets'; packets: WorkerPacket[] }
  | { type: 'stats'; stats: EngineStats }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; prefix: string; msg: string }
  | { type: 'fatal'; message: string }
  | { type: 'closed' };

/** One encoded packet of encoder `key`, as it crosses from the worker. */
export interface WorkerPacket {
  key: string;
  data: Uint8Array;
  pts: number;
  frames: number;
  /** CLOCK_MONOTONIC ms when the packet was finished (EncodedPacket.at). */
  at: number;
  /** MP3: EncodedPacket.framePts. */
  framePts?: number;
}
