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
    w.onmessage = (ev: MessageEvent<FallbackFileReport[]>) => {
      smoothJoins(ev.data.flatMap((r) => (r.clip ? [r.clip] : [])), channels);
      done(ev.data);
    };
    w.onerror = (ev) => failAll(`the decoder failed: ${(ev as ErrorEvent).message ?? String(ev)}`);
    w.postMessage({ paths, channels, maxFrames: FALLBACK_MAX_SECONDS * SAMPLE_RATE } satisfies DecodeRequest);
  });
}

/** The loop's cross-fade (one file) and the fade at each join between files, in ms. */
export const LOOP_CROSSFADE_MS = 50;
export const JOIN_FADE_MS = 5;

/**
 * Make the joins of the loop play without a click (in place). A file's end rarely meets its
 * start: one file loops with its last LOOP_CROSSFADE_MS cross-faded (equal power) into its
 * first, the clip then ending where the fade began, so the end runs on into the fade and the
 * fade into the rest of the start. Several files in turn each fade in and out over JOIN_FADE_MS
 * (a 10 ms dip between two different sounds instead of a step).
 */
export function smoothJoins(clips: FallbackClip[], channels: number): void {
  if (clips.length === 1) {
    const c = clips[0]!;
    const pcm = new Int16Array(c.pcm);
    const f = Math.min(Math.round((LOOP_CROSSFADE_MS / 1000) * SAMPLE_RATE), Math.floor(c.frames / 4));
    if (f < 2) return;
    const tail = c.frames - f;
    for (let i = 0; i < f; i++) {
      const x = (i + 0.5) / f;
      const gIn = Math.sin((x * Math.PI) / 2);
      const gOut = Math.cos((x * Math.PI) / 2);
      for (let ch = 0; ch < channels; ch++) {
        const v = pcm[i * channels + ch]! * gIn + pcm[(tail + i) * channels + ch]! * gOut;
        pcm[i * channels + ch] = Math.max(-32768, Math.min(32767, Math.round(v)));
      }
    }
    c.frames = tail;
    return;
  }
  for (const c of clips) {
    const pcm = new Int16Array(c.pcm);
    const f = Math.min(Math.round((JOIN_FADE_MS / 1000) * SAMPLE_RATE), Math.floor(c.frames / 2));
    for (let i = 0; i < f; i++) {
      const g = (i + 0.5) / f;
      for (let ch = 0; ch < channels; ch++) {
        pcm[i * channels + ch] = Math.round(pcm[i * channels + ch]! * g);
        pcm[(c.frames - 1 - i) * channels + ch] = Math.round(pcm[(c.frames - 1 - i) * channels + ch]! * g);
      }
    }
  }
}
