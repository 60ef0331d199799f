/**
 * Logger-grade recording and the clip of what happened, with real parts: a PipeWire tone into
 * one hark (started once for the file, recording MP3, so its clips come from an Opus encoder of
 * their own), and two on hark's own tone recording Ogg/Opus and MP3 in small rotated files.
 * - a range across three files decodes to exactly the requested duration (±1 frame), and the
 *   tone goes on through the joins (a sinusoid fitted across each join explains it: no gap,
 *   no phase jump);
 * - hostile range requests get their exact status and reason;
 * - the tone stopped (silence injected) → the clip file exists at once, decodes, and holds the
 *   tone before the silence and silence after; it is served at /api/clips/<name> and nothing
 *   else is;
 * - the automatic disk floor is read from the real file system (statfs);
 * - retention on a real 4 MB tmpfs: keep_days, then make_room deleting the oldest as it fills.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statfsSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { startPipewire, type PipewireHarness, type Player } from './lib/pipewire.ts';
import { decodeWithFfmpeg, decodeWithOpusdec, dominantFrequency, fitSinusoid, rmsDbfs } from './lib/signal.ts';
import { autoMinFreeBytes } from '../src/outputs/recorder.ts';
import { clipName } from '../src/outputs/clip-name.ts';
import { launchChromium } from './lib/browser.ts';
import { login, useSession } from './lib/session.ts';

const FREQ = 997;
const PASSWORD = 'archive-pass-1';
/** The session of the PipeWire hark (it has a password, so the page can be shown). */
let cookie = '';
let pw: PipewireHarness;
let hark: HarkProcess;
/** The same input recorded as MP3 (started beside the first, so the file costs one wait). */
let harkMp3: HarkProcess;
let dirMp3: string;
let harkOgg: HarkProcess;
let dirOgg: string;
let player: Player;
let dir: string;

beforeAll(async () => {
  pw = await startPipewire();
  player = pw.play({ frequency: FREQ, seconds: 300, levelDbfs: -12 }, { target: pw.sinkName });
  dir = mkdtempSync(join(tmpdir(), 'hark-archive-'));
  dirMp3 = mkdtempSync(join(tmpdir(), 'hark-archive-mp3-'));
  // The ranges are cut from harks on hark's own tone: the joins are judged on a signal no
  // capture glitch of this loaded machine can break (a PipeWire capture here drops a packet
  // now and then, seen in the files themselves, which would read as a bad join).
  const tone = `[input]
source = "tone"
[tone]
frequency = ${FREQ}
level_dbfs = -12
[webrtc]
enabled = false
[recording]
enabled = true
bitrate_kbps = 64
rotate_mb = 0.04
clips = false
`;
  dirOgg = mkdtempSync(join(tmpdir(), 'hark-archive-ogg-'));
  const ogg = startHark(`${tone}format = "ogg-opus"\ndir = "${dirOgg}"\n`, { env: { HARK_TIMESYNC_FILE: '/' } });
  const mp3 = startHark(`${tone}format = "mp3"\ndir = "${dirMp3}"\n`, { env: { HARK_TIMESYNC_FILE: '/' } });
  hark = await startHark(
    `[admin]
password = "${PASSWORD}"
[input]
source = "pipewire"
device = "${pw.sinkName}"
[webrtc]
enabled = false
[recording]
enabled = true
dir = "${dir}"
format = "mp3"
bitrate_kbps = 64
rotate_mb = 0.04
[silence]
threshold_dbfs = -50
after_s = 1
`,
    { env: { ...pw.env, HARK_TIMESYNC_FILE: '/' } },
  );
  cookie = await login(hark.url, PASSWORD);
  harkMp3 = await mp3;
  harkOgg = await ogg;
}, 60_000);

afterAll(async () => {
  await hark?.stop();
  await harkMp3?.stop();
  await harkOgg?.stop();
  await player?.stop();
  await pw?.stop();
});

/** The first non-null value of `check` (polled every 100 ms), or a failure naming `what` after `timeoutMs`. */
async function until<T>(check: () => Promise<T | null>, o: { timeoutMs: number; what: string }): Promise<T> {
  const end = Date.now() + o.timeoutMs;
  while (Date.now() < end) {
    const v = await check();
    if (v !== null) return v;
    await Bun.sleep(100);
  }
  throw new Error(`timed out after ${o.timeoutMs} ms: ${o.what}`);
}

const api = (path: string, h = hark) => fetch(`${h.url}${path}`, h === hark ? { headers: { cookie } } : {});
const iso = (ms: number) => new Date(ms).toISOString();

async function recordings(h = hark): Promise<{ name: string; started_at: string; duration_s: number | null; active: boolean }[]> {
  return (await (await api('/api/recordings', h)).json()).recordings;
}

describe('a time range as one download', () => {
  test.each(['ogg-opus', 'mp3'] as const)('%s across three files: exactly the requested duration (±1 frame), the tone continuous through the joins', async (format) => {
    const h = format === 'mp3' ? harkMp3 : harkOgg;
    const ext = format === 'mp3' ? 'mp3' : 'opus';
    // ±1 frame: Ogg/Opus is trimmed to the sample (20 ms is its packet), MP3 comes in whole frames of 24 ms.
    const frameS = format === 'mp3' ? 0.024 : 0.02;
    // rotate_mb 0.04 at 64 kbit/s: a new file every ~5 s. Four finished files, oldest first.
    const done = await until(async () => {
      const l = (await recordings(h)).filter((r) => !r.active).reverse();
      return l.length >= 3 ? l : null;
    }, { timeoutMs: 45_000, what: 'three finished recordings' });
    const [a, b, c] = done;
    const startA = Date.parse(a!.started_at);
    const fromMs = startA + 1500;
    const toMs = Date.parse(c!.started_at) + 2000;
    const res = await api(`/api/recordings/range?from=${iso(fromMs)}&to=${iso(toMs)}`, h);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(format === 'mp3' ? 'audio/mpeg' : 'audio/ogg; codecs=opus');
    expect(res.headers.get('x-hark-gaps')).toBe('0');
    expect(res.headers.get('content-disposition')).toMatch(new RegExp(`^attachment; filename="hark-.*Z--.*Z\\.${ext}"$`));
    const bytes = new Uint8Array(await res.arrayBuffer());
    const path = join(format === 'mp3' ? dirMp3 : dirOgg, `range-out.${ext}`);
    await Bun.write(path, bytes);
    if (format === 'ogg-opus') {
      // opusdec (libopusfile) honours pre-skip and end trimming: the duration is sample-exact.
      const viaOpusfile = await decodeWithOpusdec(path);
      expect(Math.abs(viaOpusfile.length / 2 / 48_000 - (toMs - fromMs) / 1000)).toBeLessThanOrEqual(0.001);
    }
    const viaFfmpeg = await decodeWithFfmpeg(path, { channels: 1 });
    const seconds = viaFfmpeg.length / 48_000;
    console.log(`[range ${format}] asked ${(toMs - fromMs) / 1000} s, got ${seconds.toFixed(4)} s across ${a!.name}, ${b!.name}, ${c!.name}`);
    expect(Math.abs(seconds - (toMs - fromMs) / 1000)).toBeLessThanOrEqual(frameS + 0.001);
    const mono = viaFfmpeg;
    expect(Math.abs(dominantFrequency(mono) - FREQ)).toBeLessThan(3);
    // The joins: where a's audio ends and b's begins, and b's and c's (from the files' durations, ±0.1 s).
    const joins = [a!.duration_s! - 1.5, a!.duration_s! + b!.duration_s! - 1.5];
    const f = fitSinusoid(mono.subarray(48_000, mono.length - 4800), 48_000, FREQ).frequency;
    for (const j of joins) {
      const at = Math.round(j * 48_000);
      // 600 ms across the join: a gap or an overlap of even one 20 ms packet shifts the phase
      // by 0.37 rad on one side, which one sinusoid cannot explain (residual > 12 % of it; a dropped packet measured 118 %, the joins 4 %).
      const w = mono.subarray(at - 14_400, at + 14_400);
      const fit = fitSinusoid(w, 48_000, f, false);
      console.log(`[range ${format}] join at ${j.toFixed(2)} s: amplitude ${fit.amplitude.toFixed(3)}, residual ${(fit.residualRms / fit.amplitude).toFixed(4)} of it`);
      expect(fit.amplitude).toBeGreaterThan(0.15);
      expect(fit.residualRms / fit.amplitude).toBeLessThan(0.1);
    }
  }, 90_000);

  test('hostile ranges: each refused with its status and reason', async () => {
    const l = await recordings();
    const oldest = Date.parse(l.at(-1)!.started_at);
    const cases: [string, number, string][] = [
      ['', 400, 'from: missing (a time such as 2026-11-29T10:00)'],
      ['?from=2026-11-29T10:00', 400, 'to: missing (a time such as 2026-11-29T10:00)'],
      ['?from=yesterday&to=2026-11-29T10:00', 400, "from: not a time; use 2026-11-29T10:00 (the box's time zone) or an ISO 8601 time with its zone"],
      ['?from=2026-11-29T10:00&to=2026-13-45T99:00', 400, "to: not a time; use 2026-11-29T10:00 (the box's time zone) or an ISO 8601 time with its zone"],
      ['?from=2026-11-29T10:00:00Z%00&to=2026-11-29T11:00Z', 400, "from: not a time; use 2026-11-29T10:00 (the box's time zone) or an ISO 8601 time with its zone"],
      [`?from=${'9'.repeat(5000)}&to=2026-11-29T11:00Z`, 400, "from: not a time; use 2026-11-29T10:00 (the box's time zone) or an ISO 8601 time with its zone"],
      ['?from=2026-11-29T11:00Z&to=2026-11-29T10:00Z', 400, 'from must be before to'],
      ['?from=2026-11-29T10:00Z&to=2026-11-29T10:00Z', 400, 'from must be before to'],
      ['?from=2026-11-29T10:00Z&to=2026-11-30T10:00:01Z', 400, 'the range is 24.0 hours long; at most 24 hours at a time'],
      ['?from=2020-01-01T00:00Z&to=2020-01-05T00:00Z', 400, 'the range is 96.0 hours long; at most 24 hours at a time'],
    ];
    for (const [q, status, message] of cases) {
      const res = await api(`/api/recordings/range${q}`);
      const body = await res.json();
      expect({ q, status: res.status, error: body.error }).toEqual({ q, status, error: message });
    }
    // Outside the archive: before the first recording.
    const res = await api(`/api/recordings/range?from=${iso(oldest - 7_200_000)}&to=${iso(oldest - 3_600_000)}`);
    expect(res.status).toBe(404);
    expect((await res.json()).error).toMatch(
      new RegExp(`^nothing was recorded between ${iso(oldest - 7_200_000).replace(/\./g, '\\.')} and ${iso(oldest - 3_600_000).replace(/\./g, '\\.')} \\(the recordings cover \\S+ to \\S+\\)$`),
    );
    // hark is still well.
    expect((await api('/api/status')).status).toBe(200);
  }, 30_000);
});

describe('the disk guard', () => {
  test('with min_free_mb = 0 the floor is 5 % of the real file system, between 200 and 512 MB', async () => {
    const s = await (await api('/api/status')).json();
    const st = statfsSync(dir);
    const expected = autoMinFreeBytes(Number(st.blocks) * Number(st.bsize));
    expect(s.outputs.recording.min_free_auto).toBe(true);
    expect(s.outputs.recording.min_free_mb).toBe(Math.round(expected / 1048576));
  });
});

const isRoot = process.getuid?.() === 0;

describe('retention on a real 4 MB tmpfs', () => {
  test.skipIf(!isRoot)('keep_days removes the month-old recording at the start; make_room deletes the oldest as the disk fills, and recording never stops', async () => {
    const tdir = mkdtempSync(join(tmpdir(), 'hark-retention-'));
    expect(Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', tdir]).exitCode).toBe(0);
    let h: HarkProcess | undefined;
    try {
      const free = () => Number(statfsSync(tdir).bavail) * Number(statfsSync(tdir).bsize);
      const day = 86_400_000;
      const seed = (name: string, bytes: number, agoDays: number) => {
        writeFileSync(join(tdir, name), new Uint8Array(bytes).fill(0x55));
        utimesSync(join(tdir, name), (Date.now() - agoDays * day) / 1000, (Date.now() - agoDays * day) / 1000);
      };
      seed('hark-2026-10-01T10-00-00Z.mp3', 100_000, 40);
      seed('hark-2026-11-15T10-00-00Z.mp3', 800_000, 18);
      seed('hark-2026-11-22T10-00-00Z.mp3', 800_000, 11);
      seed('hark-2026-11-29T10-00-00Z.mp3', 800_000, 4);
      writeFileSync(join(tdir, 'not-a-recording.txt'), 'kept');
      h = await startHark(
        `[input]\nsource = "tone"\n[webrtc]\nenabled = false\n[recording]\nenabled = true\ndir = "${tdir}"\nformat = "mp3"\nbitrate_kbps = 320\nmin_free_mb = 1\nkeep_days = 30\n`,
        { env: { HARK_TIMESYNC_FILE: '/' } },
      );
      let lowest = free();
      const states = new Set<string>();
      const deadline = Date.now() + 40_000;
      // 320 kbit/s = 40 kB/s: the ~1.6 MB free reach the floor and a quarter (1.25 MB) in ~10 s.
      while (Date.now() < deadline && existsSync(join(tdir, 'hark-2026-11-15T10-00-00Z.mp3'))) {
        lowest = Math.min(lowest, free());
        states.add((await (await api('/api/status', h)).json()).outputs.recording.state);
        await Bun.sleep(100);
      }
      const left = readdirSync(tdir).sort();
      expect(left).not.toContain('hark-2026-10-01T10-00-00Z.mp3'); // keep_days
      expect(left).not.toContain('hark-2026-11-15T10-00-00Z.mp3'); // the oldest, to make room
      expect(left).toContain('hark-2026-11-29T10-00-00Z.mp3');
      expect(left).toContain('not-a-recording.txt');
      expect([...states]).toEqual(['recording']);
      expect(lowest).toBeGreaterThanOrEqual(1024 * 1024);
      expect(h.output()).toMatch(/deleted hark-2026-10-01T10-00-00Z\.mp3 \(older than 30 days\)/);
      expect(h.output()).toMatch(/deleted hark-2026-11-15T10-00-00Z\.mp3 \(making room: [\d.]+ MB free\)/);
      // The file being written is whole.
      const s = (await (await api('/api/status', h)).json()).outputs.recording;
      expect(s.state).toBe('recording');
      expect(left).toContain(s.file);
    } finally {
      await h?.stop();
      Bun.spawnSync(['umount', '-l', tdir]);
    }
  }, 60_000);
});

describe('the clip of what happened', () => {
  test('silence injected: the clip is there at once with the tone before, then grows to the silence after; served by name, nothing else is', async () => {
    // The ring holds 15 s of tone before the tone stops (hark started at least 16 s ago).
    await until(async () => ((await recordings()).some((r) => Date.now() - Date.parse(r.started_at) >= 17_000) ? true : null), { timeoutMs: 30_000, what: '16 s of tone in the ring' });
    await player.stop();
    const alert = await until(async () => {
      const s = await (await api('/api/status')).json();
      return s.alerts.find((a: { id: string }) => a.id === 'silence') ?? null;
    }, { timeoutMs: 10_000, what: 'the silence alert' });
    const name = clipName('silence', alert.since);
    const path = join(dir, 'clips', name);
    // The 15 s before are on disk within a second or so of the alert.
    await until(async () => ((await Bun.file(path).exists()) && Bun.file(path).size > 10_000 ? true : null), { timeoutMs: 3000, what: `${path} with the 15 s before` });
    const listed = await (await api('/api/clips')).json();
    expect(listed.clips.map((c: { name: string }) => c.name)).toContain(name);
    // Complete: 15 s after.
    await until(async () => ((await (await api('/api/clips')).json()).clips.find((c: { name: string; active: boolean }) => c.name === name && !c.active) ? true : null), {
      timeoutMs: 25_000,
      what: 'the clip to be complete',
    });
    const res = await api(`/api/clips/${name}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/ogg; codecs=opus');
    const got = join(dir, 'clip-download.opus');
    await Bun.write(got, new Uint8Array(await res.arrayBuffer()));
    const pcm = await decodeWithFfmpeg(got, { channels: 1 });
    const seconds = pcm.length / 48_000;
    console.log(`[clip] ${name}: ${seconds.toFixed(2)} s`);
    expect(seconds).toBeGreaterThan(29.5);
    expect(seconds).toBeLessThan(31);
    // The clip ring's own encoder is mono (src/outputs/broadcast.ts): opusdec, forced to stereo, gives two channels.
    expect((await decodeWithOpusdec(got, { forceStereo: true })).length / 2 / 48_000).toBeGreaterThan(29.5);
    // The alert came after_s (1 s) of silence after the tone stopped: the tone fills the first ~13 s.
    const first = pcm.subarray(48_000, 12 * 48_000);
    expect(Math.abs(dominantFrequency(first) - FREQ)).toBeLessThan(3);
    expect(rmsDbfs(first)).toBeGreaterThan(-20);
    const after = pcm.subarray(16 * 48_000, 29 * 48_000);
    expect(rmsDbfs(after)).toBeLessThan(-60);

    // Only clip names are served: traversal, other files, odd names.
    for (const bad of ['..%2Fhark.toml', '%2E%2E%2F%2E%2E%2Fetc%2Fpasswd', 'silence-20261203-164005.opus', 'x.opus', `${name}%00`, 'hark.toml']) {
      const r = await api(`/api/clips/${bad}`);
      expect(r.status).toBe(404);
      expect((await r.json()).error).toStartWith('no such clip: ');
    }
  }, 60_000);
});

describe('the Recordings page', () => {
  test('lists by day, plays in the page, offers the clips, and the range form hands over a download (phone and desktop)', async () => {
    // An earlier day's recordings, from a finished file of today's.
    const done = (await recordings()).filter((r) => !r.active);
    const old = ['hark-2026-11-29T09-00-00Z.mp3', 'hark-2026-11-29T09-00-05Z.mp3'];
    for (const n of old) {
      copyFileSync(join(dir, done.at(-1)!.name), join(dir, n));
      utimesSync(join(dir, n), Date.parse('2026-11-29T09:00:06Z') / 1000, Date.parse('2026-11-29T09:00:06Z') / 1000);
    }
    const local = (ms: number, o: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat('en-CA', { ...o, hourCycle: 'h23' }).format(ms);
    const oldMs = Date.parse('2026-11-29T09:00:00Z');
    const shots = '/tmp/shots-lg';
    mkdirSync(shots, { recursive: true });
    const chrome = await launchChromium();
    try {
      for (const [size, viewport] of [['phone', { width: 390, height: 844 }], ['desktop', { width: 1366, height: 900 }]] as const) {
        const ctx = await chrome.browser.newContext({ viewport, acceptDownloads: true });
        await useSession(ctx, hark.url, cookie);
        const page = await ctx.newPage();
        await page.goto(`${hark.url}/recordings`);
        // Days as headings, newest first; the old day last.
        const days = await page.locator('#recordings-list h3.rec-day').allTextContents();
        expect(days.length).toBeGreaterThanOrEqual(3);
        expect(days.at(-1)).toBe('When the sound stopped');
        expect(days.at(-2)).toMatch(/^Sun 29 Nov$/);
        // The clip is listed with a player.
        expect(await page.locator('li.rec-clip audio').count()).toBeGreaterThanOrEqual(1);
        // A recording plays in the page.
        const audio = page.locator('li.recording:not(.rec-clip) audio').nth(1);
        await audio.evaluate((a: HTMLAudioElement) => a.play());
        await page.waitForFunction(() => [...document.querySelectorAll('li.recording:not(.rec-clip) audio')].some((a) => (a as HTMLAudioElement).currentTime > 0.3), null, { timeout: 15_000 });
        // Files come and go meanwhile (here: one more old file): the list that would show it
        // waits while the player plays, so the recording is not cut off; it goes in on pause.
        const extra = `hark-2026-11-29T09-00-1${size === 'phone' ? 0 : 5}Z.mp3`;
        const listed = () => page.locator(`li.recording[data-name="${extra}"]`).count();
        copyFileSync(join(dir, old[0]!), join(dir, extra));
        const t0 = await audio.evaluate((a: HTMLAudioElement) => a.currentTime);
        await Bun.sleep(4500);
        expect(await audio.evaluate((a: HTMLAudioElement) => a.isConnected && !a.paused)).toBe(true);
        expect(await audio.evaluate((a: HTMLAudioElement) => a.currentTime)).toBeGreaterThan(t0 + 1);
        expect(await listed()).toBe(0);
        await audio.evaluate((a: HTMLAudioElement) => a.pause());
        // On pause the new list goes in.
        await page.locator(`li.recording[data-name="${extra}"]`).waitFor({ timeout: 10_000 });
        // The range form: the old day, 09:00 to 09:01 in the box's time; the answer offers the file.
        await page.fill('#range-date', local(oldMs, { year: 'numeric', month: '2-digit', day: '2-digit' }));
        await page.fill('#range-from', local(oldMs, { hour: '2-digit', minute: '2-digit' }));
        await page.fill('#range-to', local(oldMs + 60_000, { hour: '2-digit', minute: '2-digit' }));
        await page.getByRole('button', { name: 'Find it' }).click();
        await page.locator('#range-download').waitFor({ timeout: 10_000 });
        expect(await page.locator('.range-answer').textContent()).toMatch(/of audio\./);
        const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#range-download').click()]);
        const saved = join(dir, `page-range-${size}.mp3`);
        await download.saveAs(saved);
        const pcm = await decodeWithFfmpeg(saved, { channels: 1 });
        // Both of that morning's files, one after the other (~10 s).
        expect(pcm.length / 48_000).toBeGreaterThan(9);
        // Targets of at least 44 px.
        for (const sel of ['#range-date', '#range-from', '#range-to', '#range-download', 'li.recording .rec-actions .button-link']) {
          const box = await page.locator(sel).first().boundingBox();
          expect({ sel, h: Math.round(box!.height) >= 44 }).toEqual({ sel, h: true });
        }
        // A day with nothing recorded says so.
        await page.fill('#range-date', '2020-01-05');
        await page.getByRole('button', { name: 'Find it' }).click();
        await page.locator('.range-answer .notice.bad').waitFor({ timeout: 10_000 });
        expect(await page.locator('.range-answer').textContent()).toBe('Nothing was recorded then.');
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);
        await page.fill('#range-date', local(oldMs, { year: 'numeric', month: '2-digit', day: '2-digit' }));
        await page.getByRole('button', { name: 'Find it' }).click();
        await page.locator('#range-download').waitFor({ timeout: 10_000 });
        await page.screenshot({ path: `${shots}/recordings-${size}.png`, fullPage: true });
        await ctx.close();
      }
    } finally {
      await chrome.close();
    }
  }, 90_000);
});
