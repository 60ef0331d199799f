/**
 * Latency of the HTTP MP3 stream (/stream.mp3, what Icecast-style players open): from the
 * moment a click enters capture to the moment ffmpeg, reading /stream.mp3, has decoded it.
 *
 * The click: the daemon runs in this process on its test tone at -60 dBFS; at a measured
 * instant the source is switched (AudioPipeline.setSource, the path a device change takes) to
 * the same tone at -6 dBFS — a step from near silence, i.e. a click whose first sample is
 * produced by the source within one block of the switch. ffmpeg decodes to raw PCM with
 * per-packet flushing; the time the first loud sample reaches us is the decode time. The
 * daemon has no PipeWire capture yet, so a click played into PipeWire is not possible; this
 * measures everything after the capture callback (bus, encoder, worker → main, HTTP, the
 * network stack, ffmpeg's demuxer and decoder).
 *
 *   bun bench/icecast-latency.ts [clicks]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../src/config/load.ts';
import { Hark } from '../src/daemon.ts';
import { sourceSettings } from '../src/audio/source-settings.ts';
import { forceLogLevel } from '../src/log.ts';
import { appendResults } from './lib.ts';

const clicks = Number(process.argv[2] ?? 12);
forceLogLevel('warn');

const config = validateConfig({
  input: { source: 'tone' },
  tone: { frequency: 997, level_dbfs: -60 },
  http: { host: '127.0.0.1' },
  webrtc: { enabled: false },
  silence: { enabled: false },
  // Its state.json (live/idle) in a temporary directory, not the checkout.
  control: { state_dir: mkdtempSync(join(tmpdir(), 'hark-bench-')) },
});
config.http.port = 0;
const hark = new Hark(config);
await hark.start();
const quiet = sourceSettings(config);
const loud = { ...quiet, tone: { ...quiet.tone, levelDbfs: -6 } };

const ffmpeg = Bun.spawn(
  ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-fflags', 'nobuffer', '-flags', 'low_delay', '-probesize', '2048', '-analyzeduration', '0',
   '-f', 'mp3', '-i', `http://127.0.0.1:${hark.port}/stream.mp3`, '-f', 's16le', '-ac', '1', '-ar', '48000', '-flush_packets', '1', 'pipe:1'],
  { stdout: 'pipe', stderr: 'inherit' },
);

// Decoded samples as they arrive, with when.
let loudSince: number | null = null;
let armed = false;
let edgeAt = 0;
const latencies: number[] = [];
let carry: Uint8Array = new Uint8Array(0);
const reading = (async () => {
  for await (const chunk of ffmpeg.stdout) {
    const now = performance.now();
    const bytes = new Uint8Array(carry.length + chunk.length);
    bytes.set(carry);
    bytes.set(chunk, carry.length);
    const n = bytes.length >> 1;
    carry = bytes.slice(n * 2);
    const pcm = new Int16Array(bytes.buffer, 0, n);
    if (!armed) continue;
    for (let i = 0; i < n; i++) {
      if (Math.abs(pcm[i]!) > 0.1 * 32768) {
        latencies.push(now - edgeAt);
        armed = false;
        loudSince = now;
        break;
      }
    }
  }
})();

try {
  await Bun.sleep(2000); // ffmpeg connected and decoding the quiet tone
  for (let i = 0; i < clicks; i++) {
    hark.ctx.pipeline.setSource(quiet);
    await Bun.sleep(1200);
    armed = true;
    edgeAt = performance.now();
    hark.ctx.pipeline.setSource(loud);
    const deadline = performance.now() + 3000;
    while (armed && performance.now() < deadline) await Bun.sleep(5);
    if (armed) throw new Error(`click ${i + 1} never came out of ffmpeg`);
  }
} finally {
  ffmpeg.kill();
  await reading.catch(() => {});
  await hark.close();
}
void loudSince;

const sorted = [...latencies].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)]!;
const ms = (v: number) => `${v.toFixed(0)} ms`;
appendResults(
  'HTTP MP3 (/stream.mp3) latency: click in capture → decoded by ffmpeg',
  `bun bench/icecast-latency.ts ${clicks}`,
  ['clicks', 'median', 'min', 'max', 'goal'],
  [[latencies.length, ms(median), ms(sorted[0]!), ms(sorted.at(-1)!), '≤ 500 ms']],
  'Click: the daemon (in-process, test tone) switched from -60 to -6 dBFS via AudioPipeline.setSource; detected as the first decoded sample above -20 dBFS in ffmpeg\'s raw output (`-fflags nobuffer -flags low_delay -probesize 2048 -analyzeduration 0 -flush_packets 1`). 128 kbit/s CBR MP3; includes LAME\'s encoder delay and look-ahead, the MP3 frame (24 ms), HTTP over 127.0.0.1 and ffmpeg\'s decoder. The PipeWire capture period (input.latency_frames = 128, 2.7 ms) is not included: the daemon cannot capture PipeWire yet.',
);
process.exit(0);
