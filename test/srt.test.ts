/**
 * `[[srt]]` with real far ends: srt-live-transmit (srt-tools) and ffmpeg, in both roles, with
 * and without a passphrase. ffmpeg decodes the tone from the TS each payload carries; a relay
 * that drops 2 % of the datagrams between them costs nothing (SRT resends within latency_ms);
 * a receiver restarted 10 times is reconnected to 10 times. Everything on 127.0.0.1.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsDemuxer } from '../src/codecs/mpegts.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { login, session } from './lib/session.ts';
import { channel, decodeWithFfmpeg, dominantFrequency, snrDb, toneDbfs, window } from './lib/signal.ts';
import { startLossyRelay } from './lib/udp-relay.ts';

const dir = mkdtempSync(join(tmpdir(), 'srt-test-'));
const PASSWORD = 'srt test password';
const procs = new Set<Bun.Subprocess>();
const harks = new Set<HarkProcess>();

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  for (const h of harks) await h.stop();
});

/** A UDP port nobody uses now (bound and released). */
async function freePort(): Promise<number> {
  const s = await Bun.udpSocket({ hostname: '127.0.0.1' });
  const port = s.port;
  s.close();
  return port;
}

/** srt-live-transmit receiving SRT into a file. */
function slt(url: string, out: string): Bun.Subprocess {
  const fd = openSync(out, 'w');
  const p = Bun.spawn(['srt-live-transmit', '-q', url, 'file://con'], { stdout: fd, stderr: 'pipe', stdin: 'ignore' });
  closeSync(fd);
  procs.add(p);
  return p;
}

async function stopProc(p: Bun.Subprocess): Promise<void> {
  p.kill('SIGINT');
  const t = setTimeout(() => p.kill('SIGKILL'), 3000);
  await p.exited;
  clearTimeout(t);
  procs.delete(p);
}

async function srtStatus(h: HarkProcess): Promise<Record<string, any>[]> {
  return (await (await fetch(`${h.url}/api/status`)).json()).outputs.srt;
}

async function until<T>(f: () => Promise<T>, pred: (v: T) => boolean, ms: number, what: string): Promise<T> {
  const end = performance.now() + ms;
  let v: T;
  do {
    v = await f();
    if (pred(v)) return v;
    await Bun.sleep(100);
  } while (performance.now() < end);
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
}

const TONE = `
[input]
source = "tone"
[tone]
frequency = 997
level_dbfs = -12
`;

/** The tone as ffmpeg decodes it from a TS file: frequency, level, SNR, and seconds. */
async function hear(path: string) {
  const pcm = channel(await decodeWithFfmpeg(path, { channels: 2, format: 'mpegts' }), 2, 0);
  const seconds = pcm.length / 48_000;
  const mid = window(pcm, 1, 0.5, Math.max(0.6, seconds - 0.3));
  return { seconds, freq: dominantFrequency(mid), level: toneDbfs(mid, 997), snr: snrDb(mid, 48_000, 997) };
}

describe('SRT output', () => {
  test('caller → srt-live-transmit listener: opus, mp3, pcm (AES-256), mp2 decode to the tone; a wrong passphrase says so', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const files = ['opus', 'mp3', 'pcm', 'wrong', 'mp2'].map((n) => join(dir, `caller-${n}.ts`));
    const receivers = [
      slt(`srt://127.0.0.1:${ports[0]}?mode=listener`, files[0]!),
      slt(`srt://127.0.0.1:${ports[1]}?mode=listener`, files[1]!),
      slt(`srt://127.0.0.1:${ports[2]}?mode=listener&passphrase=studio-secret-42&pbkeylen=32`, files[2]!),
      slt(`srt://127.0.0.1:${ports[3]}?mode=listener&passphrase=the-right-one-99`, files[3]!),
      slt(`srt://127.0.0.1:${ports[4]}?mode=listener`, files[4]!),
    ];
    await Bun.sleep(300);
    const h = await startHark(`${TONE}
[admin]
password = "${PASSWORD}"
[[srt]]
id = "opus"
url = "srt://127.0.0.1:${ports[0]}?mode=caller"
payload = "opus"
bitrate_kbps = 192
[[srt]]
id = "mp3"
url = "srt://127.0.0.1:${ports[1]}?mode=caller"
payload = "mp3"
bitrate_kbps = 256
[[srt]]
id = "pcm"
url = "srt://127.0.0.1:${ports[2]}?mode=caller"
payload = "pcm"
passphrase = "studio-secret-42"
pbkeylen = 32
[[srt]]
id = "wrong"
url = "srt://127.0.0.1:${ports[3]}?mode=caller"
passphrase = "not-the-right-one"
[[srt]]
id = "mp2"
url = "srt://127.0.0.1:${ports[4]}"
payload = "mp2"
bitrate_kbps = 384
`);
    harks.add(h);
    const live = await until(
      () => srtStatus(h),
      (s) => [0, 1, 2, 4].every((i) => s[i]!.state === 'live' && s[i]!.bytes > 20_000) && s[3]!.state === 'auth_failed',
      20_000,
      'three links live and the fourth refused',
    );
    expect(live[3]!.status).toContain('wrong passphrase');
    expect(live[3]!.last_error).toContain('wrong passphrase');
    expect(live[2]).toMatchObject({ encrypted: true, payload: 's302m', mode: 'caller' });
    await Bun.sleep(2500);
    const s = await srtStatus(h);
    for (const o of [s[0]!, s[1]!, s[2]!, s[4]!]) {
      expect(o.link.rtt_ms).toBeGreaterThanOrEqual(0);
      expect(o.link.packets_sent).toBeGreaterThan(50);
      expect(o.link.latency_ms).toBe(120);
    }
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toMatch(/hark_srt_rtt_ms\{id="opus"\} [0-9.]+/);
    expect(metrics).toMatch(/hark_output_up\{output="srt",id="wrong",state="auth_failed"\} 1/);
    // The dashboard: each link in plain words, the refused one as a problem; the "Now" table with the link's numbers.
    const cookie = await login(h.url, PASSWORD);
    const page = await (await fetch(`${h.url}/`, { headers: { cookie } })).text();
    expect(page).toContain(`SRT link to 127.0.0.1:${ports[0]}`);
    expect(page).toMatch(new RegExp(`SRT link to 127\\.0\\.0\\.1:${ports[3]}[\\s\\S]{0,400}wrong passphrase`));
    expect(page).toMatch(/RTT [0-9.]+ ms · \d+ lost, \d+ resent · \d+ ms buffered/);
    for (const r of receivers) await stopProc(r);
    for (const [i, f] of files.entries()) {
      if (i === 3) continue;
      const heard = await hear(f);
      expect(heard.seconds).toBeGreaterThan(2.5);
      expect(Math.abs(heard.freq - 997)).toBeLessThan(3);
      expect(Math.abs(heard.level - -12)).toBeLessThan(1);
      expect(heard.snr).toBeGreaterThan(i === 2 ? 60 : 25);
    }
    expect(readFileSync(files[3]!).length).toBe(0);
    await h.stop();
    harks.delete(h);
  }, 60_000);

  test('listener ← ffmpeg caller, with a passphrase: ffmpeg decodes the tone; a second receiver is turned away', async () => {
    const port = await freePort();
    const h = await startHark(`${TONE}
[[srt]]
id = "studio"
url = "srt://:${port}?mode=listener"
payload = "opus"
passphrase = "listener-pass-123"
`);
    harks.add(h);
    await until(() => srtStatus(h), (s) => s[0]!.state === 'connecting', 10_000, 'listening');
    expect((await srtStatus(h))[0]!.status).toContain(`waiting for a receiver to call port ${port}`);
    const out = join(dir, 'listener.wav');
    const ff = Bun.spawn(
      ['ffmpeg', '-hide_banner', '-loglevel', 'error', '-i', `srt://127.0.0.1:${port}?mode=caller&passphrase=listener-pass-123&latency=120000`, '-t', '3', '-y', out],
      { stdout: 'ignore', stderr: 'pipe' },
    );
    procs.add(ff);
    await until(() => srtStatus(h), (s) => s[0]!.state === 'live', 10_000, 'ffmpeg connected');
    // A second caller while ffmpeg is connected: accepted and closed at once.
    const second = slt(`srt://127.0.0.1:${port}?mode=caller&passphrase=listener-pass-123`, join(dir, 'second.ts'));
    await until(() => srtStatus(h), (s) => s[0]!.refused_receivers >= 1, 10_000, 'the second receiver refused');
    await stopProc(second);
    expect(await ff.exited).toBe(0);
    procs.delete(ff);
    const pcm = await decodeWithFfmpeg(out, { channels: 1 });
    expect(pcm.length / 48_000).toBeGreaterThan(2.5);
    expect(Math.abs(dominantFrequency(window(pcm, 1, 0.5, 2.5)) - 997)).toBeLessThan(3);
    // ffmpeg gone: a receiver calling at once (while hark waits to take the next) is served, not refused.
    const again = slt(`srt://127.0.0.1:${port}?mode=caller&passphrase=listener-pass-123`, join(dir, 'again.ts'));
    const back = await until(() => srtStatus(h), (s) => s[0]!.state === 'live' && s[0]!.connects === 2, 15_000, 'the next receiver served');
    expect(back[0]!.last_error).toBeNull();
    await stopProc(again);
    await until(() => srtStatus(h), (s) => s[0]!.state === 'connecting' || s[0]!.state === 'retrying', 15_000, 'listening again');
    await h.stop();
    harks.delete(h);
  }, 60_000);

  test('2 % of datagrams dropped between hark and the receiver: SRT resends them, the tone has no gap', async () => {
    const port = await freePort();
    const h = await startHark(`${TONE}
[[srt]]
id = "lossy"
url = "srt://127.0.0.1:${port}?mode=listener"
payload = "pcm"
latency_ms = 200
`);
    harks.add(h);
    await until(() => srtStatus(h), (s) => s[0]!.state === 'connecting', 10_000, 'listening');
    let n = 0;
    // Drops every datagram from hark to the receiver with probability 2 % (a fixed pseudo-random sequence).
    const relay = await startLossyRelay({ harkPort: port, loss: 0.02, random: () => ((n = (n * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) });
    const out = join(dir, 'lossy.ts');
    const r = slt(`srt://127.0.0.1:${relay.port}?mode=caller&latency=200`, out);
    await until(() => srtStatus(h), (s) => s[0]!.state === 'live', 10_000, 'receiver connected through the relay');
    await Bun.sleep(5000);
    const st = (await srtStatus(h))[0]!;
    await stopProc(r);
    relay.close();
    expect(relay.counts.dropped).toBeGreaterThan(20);
    expect(st.link.packets_retransmitted).toBeGreaterThan(10);
    // Nothing lost for good: every TS packet arrived in order (no continuity gap) …
    const d = new TsDemuxer(() => {});
    d.push(new Uint8Array(readFileSync(out)));
    expect(d.stats.packets).toBeGreaterThan(5000); // 4 ms AES3 packets: 1250 TS packets a second
    expect(d.stats.ccErrors).toBe(0);
    expect(d.stats.pesErrors).toBe(0);
    // … and the tone is one clean sinusoid from end to end.
    const heard = await hear(out);
    expect(heard.seconds).toBeGreaterThan(4);
    expect(heard.snr).toBeGreaterThan(60);
    await h.stop();
    harks.delete(h);
  }, 60_000);

  test('the receiver restarted 10 times: 10 recoveries', async () => {
    const port = await freePort();
    const h = await startHark(`${TONE}
[[srt]]
id = "stl"
url = "srt://127.0.0.1:${port}?mode=caller"
payload = "opus"
`);
    harks.add(h);
    for (let i = 1; i <= 10; i++) {
      const out = join(dir, `restart-${i}.ts`);
      const r = slt(`srt://127.0.0.1:${port}?mode=listener`, out);
      await until(() => srtStatus(h), (s) => s[0]!.state === 'live' && s[0]!.connects === i, 20_000, `connection ${i}`);
      await Bun.sleep(2100); // up long enough to count as stable: the next retry is quick
      await stopProc(r);
      expect(readFileSync(out).length).toBeGreaterThan(188 * 20);
      await until(() => srtStatus(h), (s) => s[0]!.state !== 'live', 10_000, `loss ${i} noticed`);
    }
    const s = (await srtStatus(h))[0]!;
    expect(s.connects).toBe(10);
    expect(s.reconnects).toBe(9);
    await h.stop();
    harks.delete(h);
  }, 120_000);

  test('a changed [[srt]] entry is applied live; a bad one through the API is refused naming the key', async () => {
    const [p1, p2] = await Promise.all([freePort(), freePort()]);
    const r1 = slt(`srt://127.0.0.1:${p1}?mode=listener`, join(dir, 'live-1.ts'));
    const r2 = slt(`srt://127.0.0.1:${p2}?mode=listener`, join(dir, 'live-2.ts'));
    const h = await startHark(`${TONE}
[admin]
password = "${PASSWORD}"
[[srt]]
id = "moving"
url = "srt://127.0.0.1:${p1}"
`);
    harks.add(h);
    await until(() => srtStatus(h), (s) => s[0]!.state === 'live', 10_000, 'live to the first receiver');
    const s = await session(h.url, PASSWORD);
    const patch = (body: object) =>
      fetch(`${h.url}/api/config`, { method: 'PATCH', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const bad = await patch({ 'srt.0.passphrase': 'short' });
    expect(bad.status).toBe(422);
    const why = await bad.json();
    expect(why.field).toBe('srt.0.passphrase');
    expect(why.error).toContain('10–79 characters');
    const badUrl = await patch({ 'srt.0.url': 'srt://127.0.0.1:9000?mode=rendezvous' });
    expect(badUrl.status).toBe(422);
    expect((await badUrl.json()).field).toBe('srt.0.url');
    const ok = await patch({ 'srt.0.url': `srt://127.0.0.1:${p2}` });
    expect(ok.status).toBeLessThan(300);
    const moved = await until(() => srtStatus(h), (st) => st[0]!.state === 'live' && st[0]!.url.includes(`:${p2}`), 10_000, 'live to the second receiver');
    expect(moved[0]!.connects).toBe(1); // a new output for the changed entry
    // the second receiver gets the stream (srt-live-transmit writes its file as it goes: wait
    // for it rather than stop it the moment hark says live)
    const size = () => (existsSync(join(dir, 'live-2.ts')) ? statSync(join(dir, 'live-2.ts')).size : 0);
    for (let i = 0; i < 50 && size() <= 188 * 10; i++) await Bun.sleep(100);
    await stopProc(r1);
    await stopProc(r2);
    expect(readFileSync(join(dir, 'live-2.ts')).length).toBeGreaterThan(188 * 10);
    await h.stop();
    harks.delete(h);
  }, 60_000);
});
