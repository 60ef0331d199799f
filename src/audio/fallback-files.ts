/**
 * The fallback's audio files, decoded at load (config start) in a thread of their own — never
 * on the audio worker's real-time path, never blocking the HTTP thread — to 48 kHz 16-bit PCM
 * in shared memory (codecs/pcm48.ts). A file that is missing or undecodable is reported by name
 * with the reason; the others play.
 */
import { SAMPLE_RATE } from './format.ts';
import type { FallbackClip } from './fallback.ts';

/** The fallback holds at most this much decoded audio (all files together): 5 minutes. */
export const FALLBACK_MAX_SECONDS = 300;
/** Larger files are refused before reading (a fallback loop is minutes, not hours). */
export const FALLBACK_MAX_FILE_BYTES = 256 * 1024 * 1024;
/** One file's decoding may take this long before it is given up. */
const DECODE_TIMEOUT_MS = 120_000;

export interface FallbackFileReport {
  /** The path as the config gives it. */
  name: string;
  /** ok: decoded; missing: no such file; error: unreadable or undecodable; skipped: past the total cap. */
  state: 'ok' | 'missing' | 'error' | 'skipped';
  /** Why, in words for the page ('' when ok). */
  message: string;
  /** Seconds of audio kept (0 unless ok). */
  seconds: number;
  format?: string;
  clip?: FallbackClip;
}

export interface DecodeRequest {
  paths: string[];
  channels: number;
  maxFrames: number;
}

/** Decode `paths` (in order, within FALLBACK_MAX_SECONDS together) for a bus of `channels`. */
export function loadFallbackFiles(paths: string[], channels: number): Promise<FallbackFileReport[]> {
  if (paths.length === 0) return Promise.resolve([]);
  return new Promise((resolve) => {
    const w = new Worker(new URL('./fallback-decode-worker.ts', import.meta.url).href, { smol: true } as WorkerOptions);
    const done = (r: FallbackFileReport[]) => {
      clearTimeout(timer);
      w.terminate();
      resolve(r);
    };
    const failAll = (why: string) => done(paths.map((name) => ({ name, state: 'error', message: why, seconds: 0 })));
    const timer = setTimeout(() => failAll('decoding took too long'), DECODE_TIMEOUT_MS * paths.length);
    w.onmessage = (ev: MessageEvent<FallbackFileReport[]>) => done(ev.data);
    w.onerror = (ev) => failAll(`the decoder failed: ${(ev as ErrorEvent).message ?? String(ev)}`);
    w.postMessage({ paths, channels, maxFrames: FALLBACK_MAX_SECONDS * SAMPLE_RATE } satisfies DecodeRequest);
  });
}
