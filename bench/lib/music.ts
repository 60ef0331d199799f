/** The test signal the CPU benchmarks capture: music-like rather than a pure tone, so encoders work as on real programme. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wavBytes, type PipewireHarness } from '../../test/lib/pipewire.ts';

/**
 * 60 s of musicLike written into `dir` and played into the harness's sink in a loop for as long
 * as the run takes; the returned function stops it.
 */
export function playMusicLoop(pw: PipewireHarness, dir: string): () => Promise<unknown> {
  const music = join(dir, 'input.wav');
  writeFileSync(music, wavBytes(musicLike(60), 2));
  let playing = true;
  let player = pw.play(music, { target: pw.sinkName, channels: 2 });
  void (async () => {
    while (playing) {
      await player.exited;
      if (playing) player = pw.play(music, { target: pw.sinkName, channels: 2 });
    }
  })();
  return async () => {
    playing = false;
    return player.stop();
  };
}

/** Music-like stereo at 48 kHz: a few drifting partials, tremolo and a little noise. */
export function musicLike(secs: number): Float32Array {
  const n = secs * 48000;
  const out = new Float32Array(n * 2);
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const partials = [110, 220, 330, 495, 660, 880, 1320, 2640, 5280];
  for (let i = 0; i < n; i++) {
    const t = i / 48000;
    let l = 0;
    let r = 0;
    partials.forEach((f, k) => {
      const a = (0.25 / (k + 1)) * (0.6 + 0.4 * Math.sin(2 * Math.PI * (0.3 + k * 0.17) * t));
      const ff = f * (1 + 0.01 * Math.sin(2 * Math.PI * 0.1 * t + k));
      l += a * Math.sin(2 * Math.PI * ff * t);
      r += a * Math.sin(2 * Math.PI * ff * t + k * 0.4);
    });
    const noise = 0.02 * rnd();
    out[2 * i] = 0.5 * l + noise;
    out[2 * i + 1] = 0.5 * r + noise;
  }
  return out;
}
