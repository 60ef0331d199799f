/**
 * CPU of streaming 128 kbit/s MP3 to Icecast: hark against darkice and ffmpeg, in one run.
 * All three capture the same PipeWire sink monitor (a private PipeWire with pipewire-pulse;
 * darkice and ffmpeg through the PulseAudio protocol, hark natively) playing the same
 * music-like signal, encode MP3 CBR 128 kbit/s joint stereo at LAME quality 5, and send it to
 * the same icecast2 on 127.0.0.1 (one mount each). CPU = utime + stime from /proc over the
 * same window. pipewire-pulse's own CPU serves darkice and ffmpeg and is shown apart.
 *
 * Until hark's daemon can capture from PipeWire (input.source = "pipewire"), hark runs its
 * test tone instead and the sink plays the very same tone (997 Hz, -12 dBFS, both channels)
 * for darkice and ffmpeg — an equivalent input, not the same capture; the results say which.
 *
 *   bun bench/icecast-cpu.ts [seconds]
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHark } from '../test/lib/hark.ts';
import { startIcecast } from '../test/lib/icecast.ts';
import { startPipewire, wavBytes } from '../test/lib/pipewire.ts';
import { appendResults, cpuSeconds } from './lib.ts';

const seconds = Number(process.argv[2] ?? 30);
const WARMUP_S = 5;

/** Music-like stereo: a few drifting partials, tremolo and a little noise. */
function musicLike(secs: number): Float32Array {
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

function pidsOf(name: string): number[] {
  const r = Bun.spawnSync(['pgrep', '-x', name]);
  return r.stdout.toString().trim().split('\n').filter(Boolean).map(Number);
}

// Everything started is stopped at the end, also when a step fails half way.
const cleanup: (() => unknown)[] = [];
try {
  const pw = await startPipewire({ pulse: true });
  cleanup.push(() => pw.stop());
  const ice = await startIcecast();
  cleanup.push(() => ice.stop());
  const dir = mkdtempSync(join(tmpdir(), 'hark-bench-cpu-'));
  const monitor = `${pw.sinkName}.monitor`;
  const harkToml = (input: string) => `
${input}
[webrtc]
enabled = false
[silence]
enabled = false
[[icecast]]
id = "hark"
url = "http://source:${ice.sourcePassword}@127.0.0.1:${ice.port}/hark.mp3"
format = "mp3"
bitrate_kbps = 128
`;
  const harkOpts = { env: { ...pw.env, HARK_LOG_LEVEL: 'info' } };
  let hark: Awaited<ReturnType<typeof startHark>>;
  let mode: 'pipewire' | 'tone' = 'pipewire';
  let input = `[input]\nsource = "pipewire"\ndevice = "${pw.sinkName}"`;
  try {
    hark = await startHark(harkToml(input), harkOpts);
  } catch (e) {
    if (!/not available in this build/.test((e as Error).message)) throw e;
    mode = 'tone';
    input = '[input]\nsource = "tone"\n[tone]\nfrequency = 997\nlevel_dbfs = -12';
    hark = await startHark(harkToml(input), harkOpts);
  }
  cleanup.push(() => hark.stop());
  // The same daemon with no output at all: what capture and the runtime cost before any encoding.
  const harkIdle = await startHark(`${input}\n[webrtc]\nenabled = false\n[silence]\nenabled = false\n`, harkOpts);
  cleanup.push(() => harkIdle.stop());
  const signal =
    mode === 'pipewire'
      ? musicLike(seconds + WARMUP_S + 20)
      : (() => {
          const n = (seconds + WARMUP_S + 20) * 48000;
          const a = 10 ** (-12 / 20);
          const out = new Float32Array(n * 2);
          for (let i = 0; i < n; i++) out[2 * i] = out[2 * i + 1] = a * Math.sin((2 * Math.PI * 997 * i) / 48000);
          return out;
        })();
  const music = join(dir, 'input.wav');
  writeFileSync(music, wavBytes(signal, 2));
  const player = pw.play(music, { target: pw.sinkName, channels: 2 });
  cleanup.push(() => player.stop());

  // pipewire-pulse must be up for darkice/ffmpeg.
  for (let i = 0; i < 50 && (await pw.run(['pactl', 'info'], 2000).catch(() => ({ code: 1 }))).code !== 0; i++) await Bun.sleep(100);


  const darkiceCfg = join(dir, 'darkice.cfg');
  writeFileSync(
    darkiceCfg,
    `[general]
duration = 0
bufferSecs = 1
reconnect = yes
realtime = no

[input]
device = pulseaudio
paSourceName = ${monitor}
sampleRate = 48000
bitsPerSample = 16
channel = 2

[icecast2-0]
bitrateMode = cbr
format = mp3
bitrate = 128
quality = 0.5
channel = 2
sampleRate = 48000
server = 127.0.0.1
port = ${ice.port}
password = ${ice.sourcePassword}
mountPoint = darkice.mp3
name = darkice
`,
  );
  const env = { ...process.env, ...pw.env } as Record<string, string>;
  const darkice = Bun.spawn(['darkice', '-c', darkiceCfg], { env, stdout: Bun.file(join(dir, 'darkice.log')), stderr: Bun.file(join(dir, 'darkice.err')) });
  cleanup.push(() => darkice.kill());
  const ffmpeg = Bun.spawn(
    ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'pulse', '-sample_rate', '48000', '-channels', '2', '-i', monitor,
     '-c:a', 'libmp3lame', '-b:a', '128k', '-compression_level', '5', '-content_type', 'audio/mpeg', '-f', 'mp3',
     `icecast://source:${ice.sourcePassword}@127.0.0.1:${ice.port}/ffmpeg.mp3`],
    { env, stdout: 'ignore', stderr: Bun.file(join(dir, 'ffmpeg.err')) },
  );
  cleanup.push(() => ffmpeg.kill());

  {
    for (const m of ['/hark.mp3', '/darkice.mp3', '/ffmpeg.mp3']) await ice.waitForSource(m, 15_000);
    await Bun.sleep(WARMUP_S * 1000);
    const pulsePid = pidsOf('pipewire-pulse').find((p) => readFileSync(`/proc/${p}/environ`, 'latin1').includes(pw.dir));
    const procs = { hark: hark.proc.pid, harkIdle: harkIdle.proc.pid, darkice: darkice.pid, ffmpeg: ffmpeg.pid, 'pipewire-pulse': pulsePid };
    const before = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, p ? cpuSeconds(p) : NaN]));
    const t0 = performance.now();
    await Bun.sleep(seconds * 1000);
    const wall = (performance.now() - t0) / 1000;
    const pct = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, p ? ((cpuSeconds(p) - before[k]!) / wall) * 100 : NaN]));
    const sources = await ice.sources();
    for (const m of ['/hark.mp3', '/darkice.mp3', '/ffmpeg.mp3']) if (!sources.has(m)) throw new Error(`${m} dropped during the run`);
    const status = (await (await fetch(`${hark.url}/api/status`)).json()).outputs.icecast[0];
    if (status.state !== 'live') throw new Error(`hark's output is ${status.status}`);

    const f = (v: number) => `${v.toFixed(2)} %`;
    appendResults(
      'Icecast MP3 128 kbit/s: CPU of hark vs darkice vs ffmpeg',
      `bun bench/icecast-cpu.ts ${seconds}`,
      ['source client (same PipeWire sink monitor, same icecast2)', 'CPU (% of one core)', 'hark ÷ this', 'goal'],
      [
        [mode === 'pipewire' ? 'hark (PipeWire native, LAME via bun:ffi)' : 'hark (its test tone: no PipeWire capture in the daemon yet)', f(pct.hark!), '1.00', ''],
        ['hark with no output (same input; the audio core and runtime alone)', f(pct.harkIdle!), '', ''],
        ['hark, the Icecast output alone (the difference: encoder + streaming)', f(pct.hark! - pct.harkIdle!), ((pct.hark! - pct.harkIdle!) / pct.darkice!).toFixed(2), 'vs darkice'],
        ['darkice 1.3 (pulse input)', f(pct.darkice!), (pct.hark! / pct.darkice!).toFixed(2), '≤ 1.0'],
        ['ffmpeg (pulse input, libmp3lame)', f(pct.ffmpeg!), (pct.hark! / pct.ffmpeg!).toFixed(2), ''],
        ['pipewire-pulse (serves darkice and ffmpeg)', f(pct['pipewire-pulse']!), '', ''],
        ['darkice + its share (½) of pipewire-pulse', f(pct.darkice! + pct['pipewire-pulse']! / 2), (pct.hark! / (pct.darkice! + pct['pipewire-pulse']! / 2)).toFixed(2), ''],
      ],
      `Input: ${mode === 'pipewire' ? 'a music-like signal played into the sink; all three capture its monitor' : "hark's own 997 Hz -12 dBFS test tone; darkice and ffmpeg capture the sink monitor playing the same tone (an equivalent input, not the same capture path: hark's capture cost is the tone generator's)"}. ${seconds} s window after ${WARMUP_S} s warm-up; utime+stime from /proc/<pid>/stat. All three CBR 128 kbit/s, 48 kHz joint stereo, LAME quality 5 (darkice quality = 0.5, ffmpeg -compression_level 5). hark ran with webrtc and silence detection off (its HTTP server on, no listeners). Bytes sent by hark: ${status.bytes}.`,
    );
  }
} finally {
  for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => {});
}
