/**
 * Encode speed through bun:ffi against the same libraries' own command-line tools, on the same
 * 60 s of music-like PCM, in one run: Opus (our OpusStreamEncoder + OggOpusMuxer vs opusenc)
 * and MP3 (our Mp3StreamEncoder vs lame). Both sides write their file; each side runs RUNS
 * times, alternating, and the medians are compared. Goal: hark speed ≥ 0.95 × the CLI's.
 *
 * Fairness: our side encodes from memory in 10 ms blocks (as the engine feeds it) and writes
 * the Ogg/MP3 file; the CLI reads a 16-bit WAV/raw file holding the same samples. The CLI's
 * process start (a few ms) is included in its time; Bun's is not in ours, since hark is a
 * long-running process that pays it once. Our CPU time counts all of Bun's threads (JIT, GC).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { opusVersion } from '../ffi/opus.ts';
import { lameVersion } from '../ffi/lame.ts';
import { Mp3StreamEncoder } from '../src/codecs/mp3.ts';
import { OggOpusMuxer } from '../src/codecs/ogg.ts';
import { OpusStreamEncoder } from '../src/codecs/opus.ts';
import { wav16 } from '../test/lib/signal.ts';
import { appendResults } from './lib.ts';

const SECONDS = 60;
const RATE = 48_000;
const CHANNELS = 2;
const RUNS = 5;
const BLOCK = 480; // 10 ms, the engine's block size
const OPUS_KBPS = 128;
const MP3_KBPS = 128;
const LAME_QUALITY = 5; // hark's default algorithm quality; passed to the CLI as -q too

interface Sample {
  wall: number;
  cpu: number;
}

/** Music-like stereo: a chord of harmonic tones with vibrato and a beat envelope, plus noise. */
function musicLike(): Float32Array {
  const frames = SECONDS * RATE;
  const out = new Float32Array(frames * CHANNELS);
  const notes = [110, 220 * 2 ** (4 / 12), 220 * 2 ** (7 / 12), 440, 660];
  let seed = 12345;
  let pink = 0;
  for (let n = 0; n < frames; n++) {
    const t = n / RATE;
    const beat = 0.55 + 0.45 * Math.exp(-((t * 2) % 1) * 6);
    let v = 0;
    for (let k = 0; k < notes.length; k++) {
      const f = notes[k]! * (1 + 0.004 * Math.sin(2 * Math.PI * 5 * t + k));
      for (let h = 1; h <= 4; h++) v += Math.sin(2 * Math.PI * f * h * t) / (h * h * notes.length);
    }
    seed = (seed * 1103515245 + 12345) >>> 0;
    pink = 0.97 * pink + 0.03 * (seed / 2 ** 32 - 0.5);
    const l = 0.5 * beat * v + 0.3 * pink;
    out[n * 2] = l;
    out[n * 2 + 1] = 0.8 * l + 0.2 * 0.5 * v;
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'hark-bench-'));
try {
  // Quantise to 16 bit once so that both sides encode exactly the same samples.
  const wav = wav16(musicLike(), CHANNELS);
  const wavPath = join(dir, 'in.wav');
  const rawPath = join(dir, 'in.raw');
  writeFileSync(wavPath, wav);
  writeFileSync(rawPath, wav.subarray(44));
  const pcm = new Float32Array(SECONDS * RATE * CHANNELS);
  const view = new DataView(wav.buffer, 44);
  for (let i = 0; i < pcm.length; i++) pcm[i] = view.getInt16(2 * i, true) / 32768;

  function feed(write: (block: Float32Array, frames: number, pts: number) => void): void {
    for (let f = 0; f < SECONDS * RATE; f += BLOCK) write(pcm.subarray(f * CHANNELS, (f + BLOCK) * CHANNELS), BLOCK, f);
  }

  /** Wall and CPU time (user + system, all of this process's threads) of `fn`, in ms. */
  async function timed(fn: () => Promise<void>): Promise<Sample> {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    const c = process.cpuUsage(c0);
    return { wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
  }

  const harkOpus = () => timed(async () => {
    const chunks: Uint8Array[] = [];
    const enc = new OpusStreamEncoder(
      { channels: CHANNELS, application: 'audio', frameMs: 20, bitrateKbps: OPUS_KBPS, complexity: 10, vbr: false },
      (p) => {
        for (const page of mux.writePacket(p.data, p.frames)) chunks.push(page);
      },
    );
    const mux = new OggOpusMuxer({ channels: CHANNELS, preSkip: enc.lookahead, tags: { TITLE: 'bench' } });
    feed((b, n, pts) => enc.write(b, n, pts));
    enc.flush();
    enc.close();
    chunks.push(...mux.end());
    await Bun.write(join(dir, 'hark.opus'), new Blob(chunks as BlobPart[]));
  });

  const harkMp3 = () => timed(async () => {
    const chunks: Uint8Array[] = [];
    const enc = new Mp3StreamEncoder({ channels: CHANNELS, mode: 'cbr', bitrateKbps: MP3_KBPS, quality: LAME_QUALITY }, (p) =>
      chunks.push(p.data),
    );
    feed((b, n, pts) => enc.write(b, n, pts));
    enc.flush();
    enc.close();
    await Bun.write(join(dir, 'hark.mp3'), new Blob(chunks as BlobPart[]));
  });

  // Hard CBR on both sides: equal output size means equal work (opusenc's --vbr is unconstrained
  // VBR, libopus's default is constrained, so VBR sizes would differ by content).
  const opusCmd = ['opusenc', '--quiet', '--bitrate', String(OPUS_KBPS), '--hard-cbr', '--comp', '10', '--framesize', '20', wavPath, join(dir, 'cli.opus')];
  // -t: no LAME/Xing tag frame; --noreplaygain: the CLI analyses ReplayGain by default, the library (and hark) does not.
  const lameCmd = ['lame', '--silent', '-r', '-s', '48', '--bitwidth', '16', '--signed', '--little-endian', '-m', 'j', '-b', String(MP3_KBPS), '-q', String(LAME_QUALITY), '--noreplaygain', '-t', rawPath, join(dir, 'cli.mp3')];

  async function cli(cmd: string[]): Promise<Sample> {
    const t0 = performance.now();
    const p = Bun.spawn(cmd, { stdout: 'ignore', stderr: 'pipe' });
    const code = await p.exited;
    const wall = performance.now() - t0;
    if (code !== 0) throw new Error(`${cmd[0]} failed: ${await new Response(p.stderr).text()}`);
    return { wall, cpu: Number(p.resourceUsage()!.cpuTime.total) / 1000 };
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  // CPU time is the headline: this machine may be shared, and CPU time is far less sensitive
  // to other load than wall-clock time (both are reported).
  const cases = [
    {
      name: `Opus ${OPUS_KBPS} kbit/s hard CBR, 20 ms, complexity 10, stereo → Ogg file`,
      hark: harkOpus,
      cli: () => cli(opusCmd),
      cmd: opusCmd,
      files: ['hark.opus', 'cli.opus'],
    },
    {
      name: `MP3 ${MP3_KBPS} kbit/s CBR, -q ${LAME_QUALITY}, joint stereo → file`,
      hark: harkMp3,
      cli: () => cli(lameCmd),
      cmd: lameCmd,
      files: ['hark.mp3', 'cli.mp3'],
    },
  ];
  const rows: (string | number)[][] = [];
  for (const c of cases) {
    await c.hark(); // warm-up: JIT, library load, page cache
    await c.cli();
    const h: Sample[] = [];
    const k: Sample[] = [];
    for (let i = 0; i < RUNS; i++) {
      h.push(await c.hark());
      k.push(await c.cli());
    }
    const hc = median(h.map((x) => x.cpu));
    const kc = median(k.map((x) => x.cpu));
    const hw = median(h.map((x) => x.wall));
    const kw = median(k.map((x) => x.wall));
    rows.push([
      c.name,
      `${hc.toFixed(0)} ms (${((SECONDS * 1000) / hc).toFixed(0)}× real time)`,
      `${kc.toFixed(0)} ms`,
      `**${(kc / hc).toFixed(2)}×**`,
      `${(kw / hw).toFixed(2)}× (${hw.toFixed(0)} / ${kw.toFixed(0)} ms)`,
      '≥ 0.95×',
      c.files.map((f) => `${(Bun.file(join(dir, f)).size / 1024).toFixed(0)}`).join(' / '),
    ]);
  }
  const cliCmds = cases.map((c) => `\`${c.cmd.join(' ').replaceAll(dir, '$TMP')}\``).join(', ');
  appendResults(
    'Encode speed: hark (bun:ffi) vs the libraries’ CLIs',
    'bun bench/encode.ts',
    [
      '60 s of music-like 48 kHz PCM',
      `hark CPU time, median of ${RUNS}`,
      'CLI CPU time',
      'hark speed / CLI speed (CPU)',
      'same by wall clock (hark / CLI ms)',
      'goal',
      'KiB hark / CLI',
    ],
    rows,
    `${opusVersion()}, LAME ${lameVersion()}; uname -m: ${Bun.spawnSync(['uname', '-m']).stdout.toString().trim()}, load average ${loadavg()[0]!.toFixed(1)} at the end. CLIs: ${cliCmds}.`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
