/// <reference lib="webworker" />
/** Decodes the fallback's files (fallback-files.ts) in a short-lived thread, then ends. */
import { openSync, closeSync, fstatSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { decodeFile } from '../codecs/decode-file.ts';
import { Pcm48Writer } from '../codecs/pcm48.ts';
import { SAMPLE_RATE } from './format.ts';
import { FALLBACK_MAX_FILE_BYTES, type DecodeRequest, type FallbackFileReport } from './fallback-files.ts';

declare const self: Worker;

function readAll(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > FALLBACK_MAX_FILE_BYTES) throw new Error(`too large (${Math.round(st.size / 1048576)} MB; at most ${FALLBACK_MAX_FILE_BYTES / 1048576} MB)`);
    const b = new Uint8Array(st.size);
    let at = 0;
    while (at < b.length) {
      const n = readSync(fd, b, at, b.length - at, at);
      if (n <= 0) break;
      at += n;
    }
    return b.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}

self.onmessage = (ev: MessageEvent<DecodeRequest>) => {
  const { paths, channels, maxFrames } = ev.data;
  let left = maxFrames;
  const out: FallbackFileReport[] = [];
  for (const name of paths) {
    if (left <= 0) {
      out.push({ name, state: 'skipped', message: `not played: the fallback holds at most ${maxFrames / SAMPLE_RATE} s of audio`, seconds: 0 });
      continue;
    }
    let bytes: Uint8Array;
    try {
      bytes = readAll(name);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      out.push(
        code === 'ENOENT'
          ? { name, state: 'missing', message: 'no such file', seconds: 0 }
          : { name, state: 'error', message: `cannot read it: ${code === 'EACCES' ? 'permission denied' : (e as Error).message}`, seconds: 0 },
      );
      continue;
    }
    try {
      const w = new Pcm48Writer(channels, left);
      const format = decodeFile(bytes, w);
      const r = w.finish();
      if (r.frames === 0) throw new Error('it holds no audio');
      left -= r.frames;
      const seconds = Math.round((r.frames / SAMPLE_RATE) * 10) / 10;
      out.push({
        name,
        state: 'ok',
        message: w.truncated ? `only the first ${seconds} s are played (the fallback holds at most ${maxFrames / SAMPLE_RATE} s)` : '',
        seconds,
        format,
        clip: { name: basename(name), pcm: r.pcm, frames: r.frames },
      });
    } catch (e) {
      out.push({ name, state: 'error', message: `cannot decode it: ${(e as Error).message}`, seconds: 0 });
    }
  }
  self.postMessage(out);
};
