/**
 * [fallback] with real parts, one PipeWire, one icecast2 and one hark for the whole file:
 * the main tone (1 kHz, pw-play into the null sink hark captures) stops → within after_s + 1 s
 * an Icecast listener and a /stream.mp3 listener hear the backup device (1.5 kHz, a second
 * PipeWire node); the tone returns → back to it after return_s. Then, with the backup node
 * gone, the same with the fallback file (500 Hz FLAC). Neither listener is disconnected, no
 * switch leaves a gap over 50 ms, and the missing and the broken file are reported by name.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { startIcecast, type IcecastServer } from './lib/icecast.ts';
import { startPipewire, type PipewireHarness, type Player } from './lib/pipewire.ts';
import { channel } from './lib/signal.ts';
import { session } from './lib/session.ts';

const AFTER_S = 2;
const RETURN_S = 2;
const MAIN_HZ = 1000;
const DEVICE_HZ = 1500;
const FILE_HZ = 500;
const BACKUP = 'hark-backup';

let pw: PipewireHarness;
let ice: IcecastServer;
let hark: HarkProcess;
let dir: string;
let main: Player | undefined;
let backup: Player | undefined;

/** A listener: ffmpeg pulls `url` and decodes it to 48 kHz float until stopped. */
function listen(url: string) {
  const p = Bun.spawn(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'mp3', '-i', url, '-f', 'f32le', '-ac', '2', '-ar', '48000', 'pipe:1'], {
    stdout: 'pipe',
    stderr: 'pipe',
  });
  let bytes = 0;
  const chunks: Uint8Array[] = [];
  const out = (async () => {
    for await (const c of p.stdout) {
      chunks.push(c);
      bytes += c.byteLength;
    }
    return Buffer.concat(chunks).buffer;
  })();
  const err = new Response(p.stderr).text();
  return {
    /** Seconds of audio decoded so far. */
    get seconds() {
      return bytes / 8 / 48_000;
    },
    /** The level (RMS) of the last ~0.5 s decoded. */
    recentRms(): number {
      const tail = Buffer.concat(chunks.slice(-64));
      const x = new Float32Array(tail.buffer, tail.byteOffset, Math.floor(tail.byteLength / 4)).subarray(-48_000);
      let sq = 0;
      for (const v of x) sq += v * v;
      return x.length ? Math.sqrt(sq / x.length) : 0;
    },
    /** Stop it; the decoded left channel and whether ffmpeg had ended on its own (a disconnect). */
    async stop(): Promise<{ pcm: Float32Array; endedEarly: boolean; err: string }> {
      const endedEarly = p.exitCode !== null;
      p.kill('SIGINT');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      const [buf, e] = await Promise.all([out, err]);
      clearTimeout(t);
      // The last half second goes: ffmpeg's own end on SIGINT.
      const pcm = channel(new Float32Array(buf.slice(0, buf.byteLength - (buf.byteLength % 8))), 2, 0);
      return { pcm: pcm.subarray(0, Math.max(0, pcm.length - 24_000)), endedEarly, err: e };
    },
  };
}

/** Power of `f` in x[from, from+n) (Goertzel), as an amplitude. */
function toneAmp(x: Float32Array, from: number, n: number, f: number): number {
  const w = (2 * Math.PI * f) / 48_000;
  const k = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const s0 = x[from + i]! + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (2 * Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - k * s1 * s2))) / n;
}

type Cls = 'main' | 'device' | 'file' | 'silent' | 'mixed';

/** Classify 50 ms windows by which of the three tones carries the level. */
function classify(x: Float32Array): Cls[] {
  const n = 2400;
  const out: Cls[] = [];
  for (let at = 0; at + n <= x.length; at += n) {
    let sq = 0;
    for (let i = at; i < at + n; i++) sq += x[i]! * x[i]!;
    const rms = Math.sqrt(sq / n);
    if (rms < 0.003) {
      out.push('silent');
      continue;
    }
    const a = { main: toneAmp(x, at, n, MAIN_HZ), device: toneAmp(x, at, n, DEVICE_HZ), file: toneAmp(x, at, n, FILE_HZ) };
    const best = (Object.entries(a) as [Cls, number][]).sort((p, q) => q[1] - p[1])[0]!;
    out.push(best[1] > 0.8 * rms * Math.SQRT2 ? best[0] : 'mixed');
  }
  return out;
}

/** Runs of the same class: [class, windows]. */
function runs(c: Cls[]): [Cls, number][] {
  const r: [Cls, number][] = [];
  for (const k of c) {
    const last = r[r.length - 1];
    if (last && last[0] === k) last[1]++;
    else r.push([k, 1]);
  }
  return r;
}

/** Stretches [from, to) (samples) of 5 ms blocks more than 20 dB under the tones (-12 dBFS): gaps and dips. */
function dips(x: Float32Array): [number, number][] {
  const n = 240;
  const out: [number, number][] = [];
  let start = -1;
  for (let at = 0; at + n <= x.length; at += n) {
    let sq = 0;
    for (let i = at; i < at + n; i++) sq += x[i]! * x[i]!;
    const low = Math.sqrt(sq / n) < 0.025;
    if (low && start < 0) start = at;
    if (!low && start >= 0) {
      out.push([start, at]);
      start = -1;
    }
  }
  if (start >= 0) out.push([start, x.length]);
  return out;
}

async function status() {
  return (await fetch(`${hark.url}/api/status`)).json();
}

/** Poll /api/status until `pred` holds (bounded); returns the ms it took. */
async function until(pred: (s: any) => boolean, timeoutMs: number, what: string): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < timeoutMs / 50; i++) {
    if (pred(await status())) return performance.now() - t0;
    await Bun.sleep(50);
    if (performance.now() - t0 > timeoutMs) break;
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${JSON.stringify((await status()).fallback)}`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hark-fallback-'));
  const loop = join(dir, 'loop.flac');
  const r = Bun.spawnSync(['ffmpeg', '-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=${FILE_HZ}:sample_rate=44100:duration=3`, '-af', 'volume=4', '-ac', '2', loop]);
  if (r.exitCode !== 0) throw new Error(r.stderr.toString());
  // One broken file of each other kind too: hark starts, names each, and plays the good one.
  writeFileSync(join(dir, 'broken.flac'), Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(5000, 0x5a)]));
  writeFileSync(join(dir, 'broken.mp3'), Buffer.concat([Buffer.from('ID3\x04\0\0\0\0\0\0'), Buffer.alloc(70_000, 0x33)]));
  writeFileSync(join(dir, 'broken.opus'), Buffer.concat([Buffer.from('OggS'), Buffer.alloc(3000, 0x11)]));
  const wav = join(dir, 'cut.wav');
  Bun.spawnSync(['ffmpeg', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=300:duration=1', wav]);
  writeFileSync(wav, require('node:fs').readFileSync(wav).subarray(0, 30_000));
  pw = await startPipewire({ sinks: [{ name: BACKUP, channels: 2 }] });
  ice = await startIcecast();
  main = pw.play({ frequency: MAIN_HZ, seconds: 600, levelDbfs: -12 }, { target: pw.sinkName, latency: '400ms' });
  backup = pw.play({ frequency: DEVICE_HZ, seconds: 600, levelDbfs: -12 }, { target: BACKUP, latency: '400ms' });
  hark = await startHark(
    `[input]
source = "pipewire"
device = "${pw.sinkName}"
[webrtc]
udp_port = 32101
[control]
on_boot = "live"
[[icecast]]
id = "main"
url = "http://source:${ice.sourcePassword}@127.0.0.1:${ice.port}/live.mp3"
format = "mp3"
bitrate_kbps = 128
[admin]
password = "fallback-test-1"
[fallback]
enabled = true
after_s = ${AFTER_S}
return_s = ${RETURN_S}
devices = ["${BACKUP}"]
files = ["${join(dir, 'missing.wav')}", "${join(dir, 'broken.flac')}", "${join(dir, 'broken.mp3')}", "${join(dir, 'broken.opus')}", "${join(dir, 'cut.wav')}", "${loop}"]
crossfade_ms = 100
`,
    { env: pw.env },
  );
  await ice.waitForSource('/live.mp3', 20_000);
  await until((s) => s.fallback.loading === false && !s.fallback.active && s.levels.rms_dbfs[0] > -30, 20_000, 'the files decoded and the main tone heard');
}, 90_000);

afterAll(async () => {
  await main?.stop();
  await backup?.stop();
  await hark?.stop();
  await ice?.stop();
  await pw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('fallback with real PipeWire, icecast2 and /stream.mp3 listeners', () => {
  test('missing and broken files are reported by name (status, page); the good one is ready', async () => {
    const s = await status();
    expect(s.fallback.files).toEqual([
      { name: join(dir, 'missing.wav'), state: 'missing', message: 'no such file', seconds: 0 },
      { name: join(dir, 'broken.flac'), state: 'error', message: 'cannot decode it: no FLAC audio frames in it (damaged?)', seconds: 0 },
      { name: join(dir, 'broken.mp3'), state: 'error', message: 'cannot decode it: no MPEG audio found', seconds: 0 },
      { name: join(dir, 'broken.opus'), state: 'error', message: expect.stringMatching(/^cannot decode it: damaged Ogg/), seconds: 0 },
      { name: join(dir, 'cut.wav'), state: 'error', message: expect.stringMatching(/^cannot decode it: cut short/), seconds: 0 },
      { name: join(dir, 'loop.flac'), state: 'ok', message: '', seconds: 3, format: 'flac' },
    ]);
    expect(s.fallback).toMatchObject({ enabled: true, active: false, message: `Ready: after ${AFTER_S} s of silence the outputs play the fallback.` });
    expect(hark.output()).toContain('missing.wav: no such file; the other files play');
  });

  test('silence → the backup device within after_s + 1 s; signal → back after return_s; then the file the same way; no gap, no disconnect', async () => {
    const ears = [listen(`${ice.url}/live.mp3`), listen(`${hark.url}/stream.mp3`)];
    // Both hear the main tone first (bounded: a loaded machine starts ffmpeg slowly; Icecast's
    // burst on connect may hold hark's first, silent, seconds).
    for (let i = 0; i < 300 && ears.some((e) => e.seconds < 1.5 || e.recentRms() < 0.1); i++) await Bun.sleep(50);
    await Bun.sleep(1000);

    // 1. The main tone stops: the backup device (a second PipeWire node) takes over.
    await main!.stop();
    const engageMs = await until((s) => s.fallback.active, (AFTER_S + 3) * 1000, 'the fallback to engage');
    expect(engageMs).toBeLessThan((AFTER_S + 1) * 1000);
    await until((s) => s.fallback.kind === 'device', 2000, 'the device to play');
    const s1 = await status();
    expect(s1.fallback).toMatchObject({ active: true, source: BACKUP, kind: 'device', reason: 'silence' });
    expect(s1.fallback.message).toMatch(new RegExp(`^Playing the fallback: ${BACKUP} — the input has been silent for \\d+ s\\.$`));
    expect(s1.alerts.find((a: { id: string }) => a.id === 'fallback')).toMatchObject({ severity: 'warning' });
    const metrics = await (await fetch(`${hark.url}/metrics`)).text();
    expect(metrics).toContain('hark_fallback_active 1');
    expect(metrics).toContain('hark_fallback_files_unplayable 5');
    // The dashboard says it in plain words, and names the files that cannot play.
    const { cookie } = await session(hark.url, 'fallback-test-1');
    const page = await (await fetch(`${hark.url}/`, { headers: { cookie } })).text();
    expect(page).toMatch(new RegExp(`<b>Playing the fallback: ${BACKUP} — the input has been silent for \\d+ s\\.</b>`));
    expect(page).toContain(`<li><b>${join(dir, 'missing.wav')}</b>: no such file</li>`);
    expect(page).toContain(`<li><b>${join(dir, 'broken.flac')}</b>: cannot decode it:`);
    await Bun.sleep(1500);

    // The backup device's frames always came in time (none replaced by silence).
    expect((await status()).fallback.device_underrun_frames).toBe(0);
    // 2. The tone returns: the input takes over after return_s of signal.
    main = pw.play({ frequency: MAIN_HZ, seconds: 600, levelDbfs: -12 }, { target: pw.sinkName, latency: '400ms' });
    await until((s) => s.levels.rms_dbfs[0] > -30, 5000, 'the main tone back on the meters');
    const returnMs = await until((s) => !s.fallback.active, (RETURN_S + 3) * 1000, 'the input to take over');
    expect(returnMs).toBeGreaterThan((RETURN_S - 0.5) * 1000);
    expect((await status()).alerts.some((a: { id: string }) => a.id === 'fallback')).toBe(false);
    await Bun.sleep(1500);

    // 3. No backup node: the file plays.
    await backup!.stop();
    backup = undefined;
    await pw.destroyNode(BACKUP);
    await main!.stop();
    await until((s) => s.fallback.active, (AFTER_S + 3) * 1000, 'the fallback to engage again');
    await until((s) => s.fallback.kind === 'file', 2000, 'the file to play');
    expect((await status()).fallback).toMatchObject({ source: 'loop.flac', kind: 'file' });
    await Bun.sleep(2000);
    main = pw.play({ frequency: MAIN_HZ, seconds: 600, levelDbfs: -12 }, { target: pw.sinkName, latency: '400ms' });
    await until((s) => !s.fallback.active, (RETURN_S + 5) * 1000, 'the input to take over again');
    await Bun.sleep(1500);

    // 4. The capture device goes away (input.lost): the file again, with that reason; back when it returns.
    // Unplugged while the tone plays: the silence the listeners hear starts with the loss.
    await pw.destroyNode(pw.sinkName);
    await until((s) => s.alerts.some((a: { id: string }) => a.id === 'input.lost'), 5000, 'the input.lost alert');
    await main!.stop();
    main = undefined;
    await until((s) => s.fallback.active, (AFTER_S + 3) * 1000, 'the fallback to engage on input loss');
    await until((s) => s.fallback.kind === 'file', 2000, 'the file to play');
    const s4 = await status();
    expect(s4.fallback).toMatchObject({ reason: 'input lost', kind: 'file', source: 'loop.flac' });
    expect(s4.fallback.message).toBe('Playing the fallback: loop.flac — the input is lost.');
    await Bun.sleep(1000);
    await pw.recreateNode(pw.sinkName);
    main = pw.play({ frequency: MAIN_HZ, seconds: 600, levelDbfs: -12 }, { target: pw.sinkName, latency: '400ms' });
    await until((s) => !s.fallback.active, (RETURN_S + 8) * 1000, 'the input to take over after its return');
    await Bun.sleep(1500);

    const heard = await Promise.all(ears.map((e) => e.stop()));
    for (const [i, h] of heard.entries()) {
      const who = i === 0 ? 'icecast listener' : '/stream.mp3 listener';
      expect(h.endedEarly, `${who} was disconnected: ${h.err}`).toBe(false);
      // Runs of a tone of at least 150 ms, and silences of at least 1 s (the after_s waits), with
      // where they start (50 ms windows); the rest are the 100 ms fades, or glitches of the
      // test's own pw-play players on a loaded machine (hark's capture counts no xrun then).
      const all = runs(classify(h.pcm));
      const r: { k: Cls; at: number; n: number }[] = [];
      let w = 0;
      for (const [k, n] of all) {
        const last = r[r.length - 1];
        if (k === 'silent' ? n >= 20 : n >= 3) {
          if (last && last.k === k) last.n = w + n - last.at;
          else r.push({ k, at: w, n });
        }
        w += n;
      }
      const seq = r.map((x) => x.k);
      const explain = `${who}: ${JSON.stringify(all)}; dips ${JSON.stringify(dips(h.pcm).map(([a, b]) => [(a / 48000).toFixed(2), (b - a) / 48]))}`;
      // What was heard, in order: the silences are the after_s waits.
      expect(seq, explain).toEqual(['main', 'silent', 'device', 'main', 'silent', 'file', 'main', 'silent', 'file', 'main']);
      for (const x of r.filter((x) => x.k === 'silent')) {
        expect(x.n * 50, explain).toBeGreaterThan((AFTER_S - 0.5) * 1000);
        expect(x.n * 50, explain).toBeLessThan((AFTER_S + 1) * 1000);
      }
      // At every switch — the fallback's fade-in, and the fade from it back to the input (±0.3 s:
      // the 100 ms fade and where the 50 ms windows put it) — no gap or dip longer than 50 ms.
      // (Elsewhere the test's own pw-play players may glitch on a loaded machine; hark's capture
      // counts no xrun then, and that is not a switch.)
      // (The after_s silence itself, which runs on into the fade-in, is the dip that starts before.)
      const checks: [number, number][] = [];
      r.forEach((x, j) => {
        const prev = r[j - 1];
        if (!prev) return;
        if (prev.k === 'silent') checks.push([x.at * 2400, (x.at + 6) * 2400]);
        else if (x.k === 'main') checks.push([(x.at - 6) * 2400, (x.at + 6) * 2400]);
      });
      expect(checks.length).toBe(6);
      for (const [from, to] of dips(h.pcm)) {
        if (!checks.some(([a, b]) => from >= a && from < b)) continue;
        expect((to - from) / 48, `a ${(to - from) / 48} ms dip at ${(from / 48_000).toFixed(2)} s; ${explain}`).toBeLessThanOrEqual(50);
      }
    }
    // Icecast never saw the source go: one connection for the whole test.
    const ic = (await status()).outputs.icecast[0];
    expect(ic).toMatchObject({ state: 'live' });
    expect(ic.connects ?? 1).toBe(1);
  }, 120_000);

  test('[fallback] changed while it plays (a new file, a longer after_s): applied at once, no restart; the new file plays without waiting after_s again', async () => {
    const second = join(dir, 'second.flac');
    const r = Bun.spawnSync(['ffmpeg', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=700:duration=2', '-ac', '2', second]);
    expect(r.exitCode, r.stderr.toString()).toBe(0);
    await main!.stop();
    main = undefined;
    await until((s) => s.fallback.active && s.fallback.kind === 'file', (AFTER_S + 5) * 1000, 'the file to play');
    const patch = await fetch('http://localhost/api/config', {
      method: 'PATCH',
      unix: join(hark.dir, 'hark.sock'),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ 'fallback.files': [second], 'fallback.after_s': AFTER_S + 1 }),
    } as RequestInit);
    const body = await patch.json();
    expect(patch.status, JSON.stringify(body)).toBe(200);
    expect(body.applied).toContain('fallback');
    expect(body.restart_required).toEqual([]);
    // The input is still quiet: the new switch takes over what the old one had seen and plays
    // the new file once it is decoded, well before the new after_s (3 s) could pass again.
    const ms = await until((s) => s.fallback.active && s.fallback.source === 'second.flac' && s.fallback.kind === 'file', 5000, 'the new file to play');
    expect(ms).toBeLessThan((AFTER_S + 1) * 1000);
    const st = (await status()).fallback;
    expect(st).toMatchObject({ enabled: true, after_s: AFTER_S + 1, kind: 'file', reason: 'silence' });
    expect(st.files).toEqual([expect.objectContaining({ name: second, state: 'ok', seconds: 2 })]);
    // Off: the outputs go back to the input (silent here), the alert is cleared.
    const off = await fetch('http://localhost/api/config', {
      method: 'PATCH',
      unix: join(hark.dir, 'hark.sock'),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ 'fallback.enabled': false }),
    } as RequestInit);
    expect(off.status).toBe(200);
    await until((s) => !s.fallback.active && !s.alerts.some((a: { id: string }) => a.id === 'fallback'), 3000, 'the fallback off');
  }, 60_000);
});
