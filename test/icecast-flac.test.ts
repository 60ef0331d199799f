/**
 * Ogg FLAC to a real icecast2 (`[[icecast]] format = "ogg-flac"`): a listener (ffmpeg) pulls the
 * mount and decodes the tone at its level; a title change (a new chained Ogg FLAC stream with
 * its VORBIS_COMMENT) keeps the source on the mount and the listener's audio going without a
 * gap; what icecast2 received is exactly the tone quantised to 16 bits.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { parseOggPages } from '../src/codecs/ogg.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { startIcecast, type IcecastServer } from './lib/icecast.ts';
import { ffmpegInts, matchTone, toneInts } from './lib/flac.ts';
import { quantise } from '../src/codecs/flac.ts';
import { channel, decodeWithFfmpeg, dominantFrequency, rmsDbfs, window } from './lib/signal.ts';

let ice: IcecastServer;
let hark: HarkProcess;

async function status() {
  return (await fetch(`${hark.url}/api/status`)).json();
}

beforeAll(async () => {
  ice = await startIcecast({ dumps: ['/live.oga'] });
  hark = await startHark(`
[input]
source = "tone"
[tone]
frequency = 997
level_dbfs = -12

[[icecast]]
id = "flac"
url = "http://source:${ice.sourcePassword}@127.0.0.1:${ice.port}/live.oga"
format = "ogg-flac"
name = "hark lossless"
`);
  await ice.waitForSource('/live.oga', 15_000);
}, 30_000);

afterAll(async () => {
  await hark?.stop();
  await ice?.stop();
});

describe('Ogg FLAC to icecast2', () => {
  test('a listener (ffmpeg) pulls the mount and hears the 997 Hz tone at -12 dBFS; icecast2 calls it audio/ogg', async () => {
    const p = Bun.spawn(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', process.env.DEBUG_FFMPEG ? 'debug' : 'error', '-t', '3', '-i', `${ice.url}/live.oga`, '-f', 'f32le', '-ac', '2', '-ar', '48000', 'pipe:1'], { stdout: 'pipe', stderr: 'pipe' });
    const timer = setTimeout(() => p.kill(), 15_000);
    const [out, err] = await Promise.all([new Response(p.stdout).arrayBuffer(), new Response(p.stderr).text()]);
    clearTimeout(timer);
    expect(await p.exited, err).toBe(0);
    const left = channel(new Float32Array(out), 2, 0);
    expect(left.length, `ffmpeg decoded ${left.length} frames; hark: ${JSON.stringify((await status()).outputs.icecast[0])}`).toBeGreaterThan(48000 * 2);
    const tail = left.subarray(48000);
    expect(Math.abs(dominantFrequency(tail) - 997)).toBeLessThan(2);
    expect(Math.abs(rmsDbfs(tail) - -12)).toBeLessThan(0.2);
    const src = (await ice.sources()).get('/live.oga')!;
    expect(src.server_type).toBe('audio/ogg');
    expect(src.server_name).toBe('hark lossless');
    const o = (await status()).outputs.icecast[0];
    expect(o).toMatchObject({ id: 'flac', state: 'live', format: 'ogg-flac', last_error: null });
  }, 30_000);

  test('a title change goes in-stream (a chained link with VORBIS_COMMENT): the source stays, the listener hears on without a gap', async () => {
    const ac = new AbortController();
    const res = await fetch(`${ice.url}/live.oga`, { signal: ac.signal });
    expect(res.status).toBe(200);
    const chunks: Uint8Array[] = [];
    const reading = (async () => {
      try {
        for await (const c of res.body!) chunks.push(c);
      } catch {}
    })();
    await Bun.sleep(1500);
    const title = 'Ünïcode – Song “One” & more';
    const post = await fetch(`${hark.url}/api/metadata`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title }) });
    expect(post.status).toBe(200);
    const listenedFrom = performance.now();
    await Bun.sleep(2500);
    ac.abort();
    await reading;
    const bytes = Buffer.concat(chunks);
    const pages = parseOggPages(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    expect(pages.every((p) => p.crcOk)).toBe(true);
    // Two links: the one the listener joined (its headers from icecast) and the new one.
    const bos = pages.filter((p) => p.bos);
    expect(bos.length).toBe(2);
    expect(new TextDecoder().decode(bos[0]!.segments[0]!.data.subarray(1, 5))).toBe('FLAC');
    const comments = pages.flatMap((p) => p.segments.map((s) => s.data)).filter((d) => d[0] === 0x84);
    expect(Buffer.from(comments.at(-1)!).toString('utf8')).toContain(`TITLE=${title}`);
    // The whole capture decodes, across the chain, to the tone with no gap: as many samples as it lasted.
    const pcm = await decodeWithFfmpeg(new Uint8Array(bytes), { channels: 2, format: 'ogg' });
    const seconds = pcm.length / 2 / 48000;
    expect(seconds).toBeGreaterThan(3);
    const left = channel(pcm, 2, 0);
    // Every 100 ms: the tone, at its level (a gap or a glitch at the seam would show).
    for (let t = 0.2; t + 0.1 < seconds - 0.1; t += 0.1) {
      const w = window(left, 1, t, t + 0.1);
      expect(Math.abs(rmsDbfs(w) - -12), `at ${t.toFixed(1)} s`).toBeLessThan(0.2);
    }
    expect(Math.abs(dominantFrequency(left) - 997)).toBeLessThan(2);
    expect((await ice.sources()).get('/live.oga')).toBeDefined();
    const o = (await status()).outputs.icecast[0];
    expect(o).toMatchObject({ state: 'live', title, connects: 1 });
    expect(performance.now() - listenedFrom).toBeGreaterThan(2000);
  }, 30_000);

  test('what icecast2 received is the tone quantised to 16 bits, sample for sample', async () => {
    const dump = ice.dumpFile('/live.oga');
    const got = ffmpegInts(dump, 16, 2);
    expect(got.length / 2).toBeGreaterThan(3 * 48000);
    const { start, wrong } = matchTone(got, 2, toneInts(997, -12, 120 * 48000, (x) => quantise(x, 16)));
    console.log(`[icecast ogg-flac] ${got.length / 2} frames from tone sample ${start}; ${wrong} samples differ`);
    expect(start).toBeGreaterThanOrEqual(0);
    expect(wrong).toBe(0);
  }, 30_000);
});
