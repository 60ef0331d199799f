/**
 * hark as an Icecast source against a real icecast2 on 127.0.0.1: MP3 and Ogg/Opus mounts
 * decode to the tone, titles reach status-json.xsl (MP3) and the Ogg stream (chained
 * OpusTags), and the ice-* headers show up on the server.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { parseOggPages } from '../src/codecs/ogg.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { startIcecast, type IcecastServer } from './lib/icecast.ts';
import { channel, dominantFrequency, rmsDbfs } from './lib/signal.ts';

let ice: IcecastServer;
let hark: HarkProcess;

/** ffmpeg itself pulls `seconds` of the mount and decodes it; returns the left channel. */
async function ffmpegPull(url: string, seconds: number): Promise<Float32Array> {
  const p = Bun.spawn(
    ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-f', url.endsWith('.mp3') ? 'mp3' : 'ogg', '-t', String(seconds), '-i', url, '-f', 'f32le', '-ac', '2', '-ar', '48000', 'pipe:1'],
    { stdout: 'pipe', stderr: 'pipe' },
  );
  const timer = setTimeout(() => p.kill(), (seconds + 10) * 1000);
  const [out, err] = await Promise.all([new Response(p.stdout).arrayBuffer(), new Response(p.stderr).text()]);
  clearTimeout(timer);
  if ((await p.exited) !== 0) throw new Error(`ffmpeg failed on ${url}: ${err}`);
  return channel(new Float32Array(out), 2, 0);
}

async function status() {
  return (await fetch(`${hark.url}/api/status`)).json();
}

beforeAll(async () => {
  ice = await startIcecast();
  hark = await startHark(`
[input]
source = "tone"
[tone]
frequency = 997
level_dbfs = -12

[[icecast]]
id = "mp3"
url = "http://source:${ice.sourcePassword}@127.0.0.1:${ice.port}/live.mp3"
format = "mp3"
bitrate_kbps = 128
name = "hark test"
description = "a tone"
genre = "Test"
website = "http://example.org/"

[[icecast]]
id = "ogg"
host = "127.0.0.1"
port = ${ice.port}
mount = "/live.opus"
password = "${ice.sourcePassword}"
format = "ogg-opus"
bitrate_kbps = 96

[metadata]
icy_metaint = 8192
`);
  await ice.waitForSource('/live.mp3');
  await ice.waitForSource('/live.opus');
}, 30_000);

afterAll(async () => {
  await hark?.stop();
  await ice?.stop();
});

describe('icecast source', () => {
  test('MP3 mount: ffmpeg pulls it from icecast and hears the 997 Hz tone', async () => {
    const pcm = await ffmpegPull(`${ice.url}/live.mp3`, 3);
    expect(pcm.length).toBeGreaterThan(48000 * 2);
    const tail = pcm.subarray(48000);
    expect(Math.abs(dominantFrequency(tail) - 997)).toBeLessThan(2);
    // rmsDbfs is AES17 (a sine's RMS reads as its peak): the -12 dBFS tone reads -12.
    expect(Math.abs(rmsDbfs(tail) - -12)).toBeLessThan(1);
  }, 20_000);

  test('Ogg/Opus mount: ffmpeg pulls it from icecast and hears the 997 Hz tone', async () => {
    const pcm = await ffmpegPull(`${ice.url}/live.opus`, 3);
    expect(pcm.length).toBeGreaterThan(48000 * 2);
    const tail = pcm.subarray(48000);
    expect(Math.abs(dominantFrequency(tail) - 997)).toBeLessThan(2);
    // rmsDbfs is AES17 (a sine's RMS reads as its peak): the -12 dBFS tone reads -12.
    expect(Math.abs(rmsDbfs(tail) - -12)).toBeLessThan(1);
  }, 20_000);

  test('icecast shows the ice-* headers, and hark shows both outputs live', async () => {
    const src = (await ice.sources()).get('/live.mp3')!;
    expect(src).toMatchObject({ server_name: 'hark test', server_description: 'a tone', genre: 'Test', server_url: 'http://example.org/', server_type: 'audio/mpeg' });
    expect(Number(src.bitrate)).toBe(128);
    expect((await ice.sources()).get('/live.opus')!.server_type).toBe('audio/ogg');
    const s = await status();
    const byId = Object.fromEntries(s.outputs.icecast.map((o: { id: string }) => [o.id, o]));
    for (const id of ['mp3', 'ogg']) {
      expect(byId[id]).toMatchObject({ state: 'live', status: 'live', method: 'PUT', last_error: null });
      expect(byId[id].bytes).toBeGreaterThan(1000);
      expect(Date.parse(byId[id].connected_since)).toBeLessThanOrEqual(Date.now());
    }
    expect(byId.mp3.mount).toBe('/live.mp3');
  });

  test('a title from POST /api/metadata reaches status-json.xsl (MP3), the Ogg stream (chained OpusTags) and ICY listeners of /stream.mp3', async () => {
    // Listen to the Ogg mount raw while the title changes.
    const ac = new AbortController();
    const res = await fetch(`${ice.url}/live.opus`, { signal: ac.signal });
    const chunks: Uint8Array[] = [];
    const reading = (async () => {
      try {
        for await (const c of res.body!) chunks.push(c);
      } catch {}
    })();
    // …and to hark's own /stream.mp3 as a player asking for ICY metadata.
    const icyAc = new AbortController();
    const icyRes = await fetch(`${hark.url}/stream.mp3`, { headers: { 'icy-metadata': '1' }, signal: icyAc.signal });
    expect(icyRes.headers.get('icy-metaint')).toBe('8192');
    const icyChunks: Uint8Array[] = [];
    const icyReading = (async () => {
      try {
        for await (const c of icyRes.body!) icyChunks.push(c);
      } catch {}
    })();
    await Bun.sleep(500);
    const title = 'Ünïcode – Song “One” & more';
    const post = await fetch(`${hark.url}/api/metadata`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title }),
    });
    expect(post.status).toBe(200);
    expect((await post.json()).title).toBe(title);

    const src = await ice.waitForSource('/live.mp3', 5000, (s) => s.title === title);
    expect(src.title).toBe(title);

    await Bun.sleep(1500);
    ac.abort();
    icyAc.abort();
    await Promise.all([reading, icyReading]);

    // ICY: audio in runs of exactly 8192 bytes, then a length byte and the block.
    const icy = Buffer.concat(icyChunks);
    const titles: string[] = [];
    let audioBytes = 0;
    for (let i = 0; i + 8192 < icy.length; ) {
      i += 8192;
      audioBytes += 8192;
      const n = icy[i]! * 16;
      if (n) titles.push(icy.subarray(i + 1, i + 1 + n).toString('utf8').replace(/\0+$/, ''));
      i += 1 + n;
    }
    expect(audioBytes).toBeGreaterThanOrEqual(8192 * 2);
    expect(titles).toEqual([`StreamTitle='${title}';`]);
    expect((await fetch(`${hark.url}/stream.mp3`, { signal: AbortSignal.timeout(300) }).then((r) => r.headers.get('icy-metaint')))).toBeNull();
    const bytes = Buffer.concat(chunks);
    const pages = parseOggPages(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    expect(pages.every((p) => p.crcOk)).toBe(true);
    const tags = pages.flatMap((p) => p.segments.map((s) => Buffer.from(s.data))).filter((d) => d.subarray(0, 8).toString() === 'OpusTags');
    // The listener joined after the first headers, so the only OpusTags is the new chain's.
    expect(tags.length).toBeGreaterThanOrEqual(1);
    expect(tags.at(-1)!.toString('utf8')).toContain(`TITLE=${title}`);
    expect(pages.some((p) => p.eos)).toBe(true);
    expect(pages.filter((p) => p.bos).length).toBeGreaterThanOrEqual(1);

    const s = await status();
    for (const o of s.outputs.icecast) expect(o.title).toBe(title);
    expect(s.outputs.icecast.find((o: { id: string }) => o.id === 'mp3').metadata_error).toBeNull();
  }, 20_000);

  test('refuses a bad title request with a 400 naming the field', async () => {
    const res = await fetch(`${hark.url}/api/metadata`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x' }) });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error).toBeString();
    // A title that would break ICY metadata or the Icecast admin request: refused by the state
    // machine (the same check the CLI and admin page get), naming the field.
    const nl = await fetch(`${hark.url}/api/metadata`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'one\ntwo' }) });
    expect(nl.status).toBe(422);
    expect(await nl.json()).toMatchObject({ error: 'title: no control characters', field: 'title' });
  });
});
