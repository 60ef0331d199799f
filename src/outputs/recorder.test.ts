/**
 * The recorder with a fake packet source, an injected clock and an injected free-space
 * reading: rotation by size and time, names, the disk guard's stop/alert/resume; and, with a
 * disk that fails on demand, the recorder under the shared LinkHandler (the end of the file).
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync, write as fsWrite } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EncodedPacket } from '../codecs/encoder.ts';
import { Alerts } from './alerts.ts';
import { DEFAULT_BACKOFF } from './backoff.ts';
import type { OutputStatus } from './link.ts';
import { FlacStreamEncoder, FLAC_BLOCK_FRAMES, renumberFrame, STREAMINFO_AT, streamInfoTotal } from '../codecs/flac.ts';
import { ffmpegInts, flacTest, HAVE_FLAC_TOOL } from '../../test/lib/flac.ts';
import { autoMinFreeBytes, cueSheet, cueText, Recorder, RecordingBusyError, RecordingNotFoundError, spaceText, timestampName, WRITE_MS, type RecorderOptions, type WriteFn } from './recorder.ts';

class FakeSource {
  listener?: (p: EncodedPacket) => void;
  subscribe(_spec: unknown, l: (p: EncodedPacket) => void) {
    this.listener = l;
    return () => (this.listener = undefined);
  }
  /** One fake 1000-byte "MP3 frame" filled with `fill`. */
  push(fill: number, n = 1) {
    for (let i = 0; i < n; i++) this.listener?.({ data: new Uint8Array(1000).fill(fill), pts: 0, frames: 1152 });
  }
}

const MB = 1024 * 1024;
let rec: Recorder | undefined;
afterEach(async () => {
  await rec?.close();
});

function make(over: Partial<RecorderOptions> = {}) {
  const src = new FakeSource();
  const alerts = new Alerts();
  const dir = mkdtempSync(join(tmpdir(), 'hark-rec-unit-'));
  rec = new Recorder(src, {
    dir,
    format: 'mp3',
    spec: { codec: 'mp3', channels: 2, bitrateKbps: 128, mode: 'cbr' },
    channels: 2,
    bitrateKbps: 128,
    rotateMs: 0,
    rotateBytes: 0,
    minFreeBytes: 100 * MB,
    alerts,
    freeBytes: () => 10_000 * MB,
    clockSynced: () => true,
    ...over,
  });
  return { src, alerts, dir, rec };
}

describe('Recorder', () => {
  test('names carry the start time (UTC) and rotate by size without losing a byte', async () => {
    let now = Date.parse('2026-01-02T03:04:05.678Z');
    const { src, dir, rec } = make({ rotateBytes: 10_000, now: () => now });
    rec.start();
    expect(rec.currentFile).toEndWith('hark-2026-01-02T03-04-05Z.mp3');
    for (let i = 0; i < 35; i++) {
      src.push(i);
      now += 30;
    }
    await Bun.sleep(WRITE_MS * 2);
    await rec.close();
    const files = rec.list().map((r) => r.name).reverse();
    expect(readdirSync(dir).length).toBe(files.length);
    expect(files.length).toBe(4);
    expect(new Set(files).size).toBe(4);
    for (const f of files) expect(f).toMatch(/^hark-2026-01-02T03-04-0\dZ(-\d+)?\.mp3$/);
    // Every packet landed in exactly one file, in order.
    const all = Buffer.concat(files.map((f) => readFileSync(join(dir, f))));
    expect(all.length).toBe(35_000);
    for (let i = 0; i < 35; i++) expect(all[i * 1000]).toBe(i);
  });

  test('rotates by time on the interval boundary (the top of the minute for 1 min)', async () => {
    let now = Date.parse('2026-01-02T03:04:50Z');
    const { src, rec } = make({ rotateMs: 60_000, now: () => now });
    rec.start();
    const first = rec.currentFile;
    src.push(1, 5);
    now = Date.parse('2026-01-02T03:04:59.9Z');
    src.push(1);
    expect(rec.currentFile).toBe(first);
    now = Date.parse('2026-01-02T03:05:00.1Z');
    src.push(1);
    expect(rec.currentFile).toEndWith('hark-2026-01-02T03-05-00Z.mp3');
    expect(rec.status().files_started).toBe(2);
  });

  test('free space reads in GB like the pages ("0.4 GB free", minimum "0.5 GB"), in MB only under a tenth of a GB', async () => {
    expect(spaceText(78.8 * 2 ** 30)).toBe('78.8 GB');
    expect(spaceText(2.2 * MB)).toBe('2.2 MB');
    expect(spaceText(45 * MB)).toBe('45 MB');
    let free = 2000 * MB;
    const { src, alerts, rec } = make({ freeBytes: () => free, guardMs: 20, guardIdleMs: 20, minFreeBytes: 500 * MB });
    rec.start();
    src.push(7, 3);
    free = 420 * MB;
    for (let i = 0; i < 50 && rec.state !== 'disk_full'; i++) await Bun.sleep(20);
    expect(alerts.list()[0]!.id).toBe('recording.disk');
    expect(alerts.list()[0]!.message).toMatch(/^Recording stopped: only 0\.4 GB free on .* \(minimum 0\.5 GB\)\.$/);
    expect(alerts.list()[0]!.message).not.toContain('MB');
    await rec.close();
  });

  test('the disk guard stops before the floor with an alert, and resumes with room', async () => {
    let free = 1000 * MB;
    const { src, alerts, rec } = make({ freeBytes: () => free, guardMs: 20, guardIdleMs: 20 });
    const events: string[] = [];
    alerts.on((e) => events.push(`${e.type}:${e.alert.id}`));
    rec.start();
    expect(rec.state).toBe('recording');
    src.push(7, 3);
    free = 100 * MB + 1000; // under floor + reserve
    await Bun.sleep(100);
    expect(rec.state).toBe('disk_full');
    expect(rec.currentFile).toBeNull();
    expect(alerts.list()).toHaveLength(1);
    expect(alerts.list()[0]!).toMatchObject({ id: 'recording.disk', severity: 'critical' });
    expect(alerts.list()[0]!.message).toContain('minimum 100 MB');
    expect(rec.status().last_error).toContain('100 MB');
    // The finished file kept what was written before the stop.
    expect(rec.list()[0]!.bytes).toBe(3000);
    src.push(8, 3); // dropped: nowhere to write
    free = 120 * MB; // above the floor but not by the hysteresis margin: stays stopped
    await Bun.sleep(100);
    expect(rec.state).toBe('disk_full');
    free = 500 * MB;
    await Bun.sleep(100);
    expect(rec.state).toBe('recording');
    expect(alerts.list()).toHaveLength(0);
    expect(events).toEqual(['raised:recording.disk', 'cleared:recording.disk']);
    expect(rec.list()).toHaveLength(2);
  });

  test('refuses to start below the floor, and deleting frees room at once', async () => {
    let free = 10 * MB;
    const { alerts, rec } = make({ freeBytes: () => free });
    rec.start();
    expect(rec.state).toBe('disk_full');
    expect(alerts.isActive('recording.disk')).toBe(true);
    expect(rec.list()).toHaveLength(0);
    free = 1000 * MB;
    // A delete re-checks at once (here of a name that is not there: refused, nothing else).
    expect(() => rec.delete('hark-2020-01-01T00-00-00Z.mp3')).toThrow(RecordingNotFoundError);
  });

  test('one recording per service: starting again within continueWithinMs appends to the last file; later, a new one', async () => {
    let now = Date.now();
    const { src, dir, rec } = make({ continueWithinMs: 10 * 60_000, now: () => now });
    // MPEG-1 Layer III, 128 kbit/s, 48 kHz: 384-byte frames of 24 ms.
    const frame = (n: number) => {
      for (let i = 0; i < n; i++) {
        const f = new Uint8Array(384).fill(i);
        f.set([0xff, 0xfb, 0x94, 0xc4]);
        src.listener?.({ data: f, pts: 0, frames: 1152 });
      }
    };
    rec.start();
    const first = rec.currentFile;
    frame(50);
    await rec.close();
    now += 5 * 60_000; // a restart five minutes later
    rec.start();
    expect(rec.currentFile).toBe(first);
    expect(rec.status()).toMatchObject({ continued: true, file_duration_s: 1.2 });
    frame(50);
    await rec.close();
    expect(readdirSync(dir).filter((f) => f.endsWith('.mp3'))).toHaveLength(1);
    expect(rec.list()[0]!).toMatchObject({ bytes: 100 * 384, duration_s: 2.4 });
    now += 11 * 60_000; // past the window: a new file
    rec.start();
    expect(rec.currentFile).not.toBe(first);
    expect(rec.status().continued).toBe(false);
    frame(1);
    await rec.close();
    expect(rec.list()).toHaveLength(2);
  });

  test('Stop then Go live at once: the continued file gets the old run\'s last frames first', async () => {
    const { src, dir, rec } = make({ continueWithinMs: 10 * 60_000 });
    const frame = (fill: number, n: number) => {
      for (let i = 0; i < n; i++) {
        const f = new Uint8Array(384).fill(fill);
        f.set([0xff, 0xfb, 0x94, 0xc4]);
        src.listener?.({ data: f, pts: 0, frames: 1152 });
      }
    };
    rec.start();
    await Bun.sleep(WRITE_MS * 2);
    frame(1, 20); // still pending when the run stops
    void rec.close();
    rec.start();
    expect(rec.status().continued).toBe(true);
    frame(2, 20);
    await rec.close();
    const bytes = readFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.mp3'))!));
    expect(bytes.length).toBe(40 * 384);
    for (let i = 0; i < 40; i++) expect(bytes[i * 384 + 100]).toBe(i < 20 ? 1 : 2);
  });

  test('marks are kept with the recording being written, at its audio position, and survive a new Recorder; none without a recording', async () => {
    const { src, dir, rec } = make();
    expect(rec.mark('before')).toBeNull();
    rec.start();
    src.push(1, 125); // 125 × 1152 frames = 3.0 s
    const m = rec.mark('Sermon starts', Date.parse('2026-01-02T03:04:05Z'))!;
    expect(m).toEqual({ offset_s: 3, label: 'Sermon starts', at: '2026-01-02T03:04:05.000Z' });
    src.push(1, 50);
    rec.mark('');
    await Bun.sleep(WRITE_MS * 2);
    await rec.close();
    const name = rec.list()[0]!.name;
    const again = make({ dir } as Partial<RecorderOptions>).rec;
    const marks = again.list().find((r) => r.name === name)!.marks;
    expect(marks.map((x) => [x.offset_s, x.label])).toEqual([[3, 'Sermon starts'], [4.2, '']]);
    // Deleting the recording forgets its marks.
    again.delete(name);
    expect(JSON.parse(readFileSync(join(dir, '.hark-recordings.json'), 'utf8'))[name]).toBeUndefined();
  });

  test('marks are written beside the recording as a CUE sheet: updated with each mark, parseable, listed, deleted with it', async () => {
    const { src, dir, rec } = make();
    rec.start();
    const name = rec.currentFile!.slice(dir.length + 1);
    const cueName = name.replace(/\.mp3$/, '.cue');
    src.push(1, 125); // 3.0 s
    rec.mark('Welcome');
    expect(readFileSync(join(dir, cueName), 'utf8')).toContain('TITLE "Welcome"');
    src.push(1, 2500); // 60 s more: 63.0 s
    rec.mark('He said "amen"\nFILE "evil.wav" WAVE\r\n  TRACK 99 AUDIO');
    rec.mark('');
    const text = readFileSync(join(dir, cueName), 'utf8');
    const lines = text.trimEnd().split('\n');
    // The sheet's shape: one FILE (this recording), tracks 01.. each with one TITLE and INDEX 01.
    expect(lines.filter((l) => l.startsWith('FILE '))).toEqual([`FILE "${name}" MP3`]);
    const tracks = lines.filter((l) => /^\s*TRACK /.test(l));
    expect(tracks.map((l) => l.trim())).toEqual(['TRACK 01 AUDIO', 'TRACK 02 AUDIO', 'TRACK 03 AUDIO', 'TRACK 04 AUDIO']);
    for (const l of lines) expect(l, l).toMatch(/^(REM COMMENT "[^"]*"|FILE "[^"]*" MP3|  TRACK \d\d AUDIO|    TITLE "[^"]*"|    INDEX 01 \d\d:[0-5]\d:[0-7]\d)$/);
    const titles = lines.filter((l) => l.includes('TITLE')).map((l) => l.trim().slice(7, -1));
    expect(titles).toEqual(['Start', 'Welcome', "He said 'amen' FILE 'evil.wav' WAVE TRACK 99 AUDIO", 'Marked moment']);
    const idx = lines.filter((l) => l.includes('INDEX 01')).map((l) => l.trim().slice(9));
    expect(idx[0]).toBe('00:00:00');
    expect(idx[1]).toBe('00:03:00');
    expect(idx[2]).toBe('01:03:00');
    // Two marks in the same instant: the second starts a frame later (track starts only go forward).
    expect(idx[3]).toBe('01:03:01');
    // Listed with the recording, served by name.
    expect(rec.list()[0]!.cue).toBe(cueName);
    expect(rec.cue(cueName)).toBe(text);
    for (const bad of ['../x.cue', 'hark-2026-01-02T03-04-05Z.mp3', 'other.cue', 'hark-1999-01-01T00-00-00Z.cue']) expect(() => rec.cue(bad), bad).toThrow(RecordingNotFoundError);
    await rec.close();
    // Deleting the recording deletes its sheet.
    rec.delete(name);
    expect(readdirSync(dir).filter((f) => !f.startsWith('.'))).toEqual([]);
  });

  test('a CUE sheet keeps to the format with many or long marks: at most 99 tracks, titles of 80 characters', () => {
    const marks = Array.from({ length: 150 }, (_, i) => ({ offset_s: i * 2, label: `${'x'.repeat(100)}${i}`, at: '' }));
    const text = cueSheet('hark-2026-01-02T03-04-05Z.opus', marks);
    expect(text).toContain('FILE "hark-2026-01-02T03-04-05Z.opus" WAVE');
    expect(text.match(/TRACK \d\d AUDIO/g)).toHaveLength(99);
    expect(text).toContain('TRACK 99 AUDIO');
    for (const t of text.match(/TITLE "[^"\n]*"/g)!) expect(t.length - 8).toBeLessThanOrEqual(80);
    expect(cueText('a\u2028b\u0000c"d')).toBe("a b c'd");
  });

  test('a damaged index (hand-edited, torn) loses only its bad entries', async () => {
    const { src, dir, rec } = make();
    rec.start();
    src.push(1, 10);
    await Bun.sleep(WRITE_MS * 2);
    await rec.close();
    const name = rec.list()[0]!.name;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      join(dir, '.hark-recordings.json'),
      JSON.stringify({ [name]: { marks: [{ offset_s: 1, label: 'ok', at: 'x' }, { offset_s: 'NaN', label: 2 }, null] }, '../etc/passwd': { marks: [] }, __proto__: { polluted: true } }),
    );
    const again = make({ dir } as Partial<RecorderOptions>).rec;
    expect(again.list()[0]!.marks).toEqual([{ offset_s: 1, label: 'ok', at: 'x' }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    writeFileSync(join(dir, '.hark-recordings.json'), '{"torn":');
    expect(make({ dir } as Partial<RecorderOptions>).rec.list()[0]!.marks).toEqual([]);
  });

  test('only recording names are served or deleted; the active file is not deleted', () => {
    const { rec } = make({ now: () => Date.parse('2026-05-05T05:05:05Z') });
    rec.start();
    for (const bad of ['../etc/passwd', 'hark.toml', 'hark-2026-05-05T05-05-05Z.mp3/../x', '.hark-2026-05-05T05-05-05Z.mp3']) {
      expect(() => rec.pathOf(bad)).toThrow(RecordingNotFoundError);
    }
    expect(() => rec.delete('hark-2026-05-05T05-05-05Z.mp3')).toThrow(RecordingBusyError);
    expect(timestampName(Date.parse('2026-05-05T05:05:05.999Z'))).toBe('2026-05-05T05-05-05Z');
  });
});

/*
 * The recorder under the shared LinkHandler (link.ts): a failed write, a full disk, a folder
 * that cannot be made or is removed — each goes to a waiting state with the error and when the
 * next try is due, and back to `recording` by itself once the cause is gone, continuing the same
 * file within the continue window. close() during a wait stops it for good. The disk is real;
 * only its failures are injected at the thin writer layer (the tests run as root, so
 * permissions cannot make writes fail).
 */
/** MPEG-1 Layer III, 128 kbit/s, 48 kHz: 384-byte frames of 24 ms, `fill` in the body. */
function mp3Frame(fill: number): EncodedPacket {
  const f = new Uint8Array(384).fill(fill);
  f.set([0xff, 0xfb, 0x94, 0xc4]);
  return { data: f, pts: 0, frames: 1152 };
}

/** A disk that works until told to fail with an errno. */
class Disk {
  failing: string | null = null;
  writes = 0;
  readonly write: WriteFn = (fd, buf, off, len) => {
    this.writes++;
    if (this.failing) return Promise.reject(Object.assign(new Error(`${this.failing}: simulated, write`), { code: this.failing }));
    return new Promise((resolve, reject) => fsWrite(fd, buf, off, len, null, (err, n) => (err ? reject(err) : resolve(n))));
  };
}

/** The recorder as BroadcastOutputs runs it, with a disk that can fail, short waits, and the continue window on. */
function makeLinked(over: Partial<RecorderOptions> = {}) {
  const disk = new Disk();
  const changes: OutputStatus[] = [];
  const made = make({
    continueWithinMs: 10 * 60_000,
    backoff: { ...DEFAULT_BACKOFF, initialMs: 150, maxMs: 300, jitter: 0 },
    guardMs: 20,
    guardIdleMs: 20,
    write: disk.write,
    onChange: (s) => changes.push(s),
    ...over,
  });
  return { ...made, disk, changes };
}

/** `n` MP3 frames filled with `fill`. */
function push(src: FakeSource, fill: number, n: number) {
  for (let i = 0; i < n; i++) src.listener?.(mp3Frame(fill));
}

/** Wait for a condition, bounded (no fixed sleeps: the machine may be loaded). */
async function until(what: string, pred: () => boolean, ms = 10_000) {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}; status ${JSON.stringify(rec?.status())}`);
    await Bun.sleep(5);
  }
}

const mp3s = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.mp3'));
const sizeOf = (path: string) => readFileSync(path).length;

describe('FLAC recordings', () => {
  test('each file (rotated too) is a FLAC stream of its own: header, frames from 0, the total filled in at the end', async () => {
    let now = Date.parse('2026-01-02T03:04:05Z');
    const { src, dir, rec } = make({ format: 'flac', spec: { codec: 'flac', channels: 2, bitsPerSample: 24 }, rotateMs: 60_000, continueWithinMs: 600_000, now: () => now });
    rec.start();
    expect(rec.currentFile).toEndWith('hark-2026-01-02T03-04-05Z.flac');
    const packets: EncodedPacket[] = [];
    const enc = new FlacStreamEncoder({ channels: 2, bitsPerSample: 24 }, (p) => packets.push(p));
    const block = new Float32Array(960 * 2);
    let pts = 0;
    const feed = (seconds: number) => {
      for (let k = 0; k < seconds * 50; k++) {
        for (let i = 0; i < 960; i++) block[2 * i] = block[2 * i + 1] = Math.round(0.25 * 8_388_607 * Math.sin((2 * Math.PI * 1000 * (pts + i)) / 48000)) / 8_388_608;
        enc.write(block, 960, pts);
        pts += 960;
        for (const p of packets.splice(0)) src.listener?.(p);
        now += 20;
      }
    };
    feed(60); // crosses 03:05:00: a second file
    await Bun.sleep(WRITE_MS * 2);
    // While written, the length comes from the last frame header (STREAMINFO still says 0).
    const active = rec.list()[0]!;
    expect(active.active).toBe(true);
    expect(active.content_type).toBe('audio/flac');
    expect(active.duration_s).toBeGreaterThan(4);
    await rec.close();
    enc.close();
    const files = rec.list().reverse();
    expect(files.map((f) => f.name)).toEqual(['hark-2026-01-02T03-04-05Z.flac', 'hark-2026-01-02T03-05-00Z.flac']);
    let total = 0;
    for (const f of files) {
      const path = join(dir, f.name);
      const bytes = readFileSync(path);
      const samples = streamInfoTotal(bytes.subarray(STREAMINFO_AT, STREAMINFO_AT + 34));
      expect(samples % FLAC_BLOCK_FRAMES).toBe(0);
      expect(f.duration_s).toBe(Math.round((samples / 48000) * 10) / 10);
      expect(ffmpegInts(path, 24, 2).length).toBe(samples * 2);
      if (HAVE_FLAC_TOOL) expect(flacTest(path).ok).toBe(true);
      total += samples;
    }
    // Every frame the encoder made went into one of the files.
    expect(total).toBe(Math.floor((60 * 48000 - FLAC_BLOCK_FRAMES) / FLAC_BLOCK_FRAMES) * FLAC_BLOCK_FRAMES);
  });

  test('a restart goes on with the same FLAC file, also one cut by a crash mid-frame: one stream, frames numbered on (flac -t finds no error), its length exact', async () => {
    let now = Date.parse('2026-01-02T03:04:05Z');
    const opts = { format: 'flac' as const, spec: { codec: 'flac' as const, channels: 1, bitsPerSample: 16 as const }, channels: 1, continueWithinMs: 600_000, now: () => now };
    const { src, dir, rec } = make(opts);
    const packets: EncodedPacket[] = [];
    const enc = new FlacStreamEncoder({ channels: 1, bitsPerSample: 16 }, (p) => packets.push(p));
    const block = new Float32Array(960);
    let pts = 0;
    const feed = (seconds: number, to: { listener?: (p: EncodedPacket) => void }) => {
      for (let k = 0; k < seconds * 50; k++) {
        for (let i = 0; i < 960; i++) block[i] = Math.round(8000 * Math.sin((pts + i) * 0.05)) / 32768;
        enc.write(block, 960, pts);
        pts += 960;
        for (const p of packets.splice(0)) {
          lastPacket = p;
          to.listener?.(p);
        }
        now += 20;
      }
    };
    let lastPacket: EncodedPacket | undefined;
    rec.start();
    feed(3, src);
    await rec.close();
    const name = 'hark-2026-01-02T03-04-05Z.flac';
    const path = join(dir, name);
    const first = streamInfoTotal(readFileSync(path).subarray(STREAMINFO_AT, STREAMINFO_AT + 34));
    expect(first).toBeGreaterThan(2 * 48000);
    // Stop, then record again a minute later: the same file goes on.
    now += 60_000;
    rec.start();
    expect(rec.currentFile).toBe(path);
    feed(2, src);
    await Bun.sleep(WRITE_MS * 2);
    await rec.close();
    const second = streamInfoTotal(readFileSync(path).subarray(STREAMINFO_AT, STREAMINFO_AT + 34));
    expect(second).toBeGreaterThan(first + 48000);
    // A crash: half a frame at the end, STREAMINFO at 0, then another run (a new Recorder) continues it.
    const bytes = readFileSync(path);
    // What a crash leaves: the first half of the next frame (numbered next), and STREAMINFO's total still 0.
    const next = renumberFrame(lastPacket!.data, second / FLAC_BLOCK_FRAMES);
    const crashed = Buffer.concat([bytes, next.subarray(0, next.length >> 1)]);
    crashed[STREAMINFO_AT + 13] = crashed[STREAMINFO_AT + 13]! & 0xf0;
    crashed.fill(0, STREAMINFO_AT + 14, STREAMINFO_AT + 18);
    writeFileSync(path, crashed);
    await rec.close();
    const again = make({ ...opts, dir });
    // Last written 10 s before this run starts (by the fake clock).
    utimesSync(path, new Date(now), new Date(now));
    now += 10_000;
    again.rec.start();
    expect(again.rec.currentFile).toBe(path);
    feed(2, again.src);
    await Bun.sleep(WRITE_MS * 2);
    await again.rec.close();
    enc.close();
    const total = streamInfoTotal(readFileSync(path).subarray(STREAMINFO_AT, STREAMINFO_AT + 34));
    expect(total).toBeGreaterThan(second + 48000);
    const got = ffmpegInts(path, 16, 1);
    expect(got.length).toBe(total);
    if (HAVE_FLAC_TOOL) {
      const t = flacTest(path);
      expect(t.output).not.toContain('ERROR');
      expect(t.ok).toBe(true);
    }
    expect(again.rec.list()[0]!.duration_s).toBe(Math.round((total / 48000) * 10) / 10);
  });
});

describe('the recorder under LinkHandler', () => {
  test('a failing write goes to retrying with the error and when it tries again, then back to recording by itself, continuing the same file', async () => {
    const { src, alerts, disk, dir, rec, changes } = makeLinked();
    rec.start();
    expect(rec.state).toBe('recording');
    const file = rec.currentFile!;
    push(src, 1, 10);
    await until('the first frames on disk', () => sizeOf(file) === 10 * 384);

    disk.failing = 'EIO';
    push(src, 2, 5); // lost with the failed write
    await until('retrying', () => rec.state === 'retrying');
    const s = rec.status();
    expect(s.last_error).toBe(`writing ${file}: input/output error (a failing card or disk?)`);
    expect(s.retry_at).not.toBeNull();
    expect(Date.parse(s.retry_at!)).toBeGreaterThan(Date.now() - 1000);
    expect(s.file).toBeNull();
    const o = rec.outputStatus();
    expect(o).toMatchObject({ kind: 'recording', state: 'retrying', last_error: s.last_error, retry_at: s.retry_at, since: null });
    expect(o.detail).toMatch(/^retrying in \d+ s: writing .*: input\/output error/);
    expect(o.connects).toBeUndefined(); // files, not connections: /metrics and `hark status` show a recorder
    expect(alerts.list().map((a) => a.id)).toEqual(['recording.failed']);

    disk.failing = null; // the cause is gone
    await until('recording again', () => rec.state === 'recording');
    expect(rec.currentFile).toBe(file);
    expect(rec.status()).toMatchObject({ continued: true, files_started: 1, last_error: null, retry_at: null });
    expect(rec.outputStatus().since).not.toBeNull();
    expect(alerts.list()).toEqual([]);
    push(src, 3, 10);
    await until('the new frames on disk', () => sizeOf(file) === 20 * 384);
    await rec.close();

    // One file: the frames before the failure, then those after it.
    expect(mp3s(dir)).toEqual([file.slice(dir.length + 1)]);
    const bytes = readFileSync(file);
    for (let i = 0; i < 20; i++) expect(bytes[i * 384 + 100]).toBe(i < 10 ? 1 : 3);
    expect(rec.status().bytes).toBeGreaterThanOrEqual(20 * 384);
    expect(changes.map((c) => c.state)).toEqual(['recording', 'retrying', 'recording', 'stopped']);
  }, 30_000);

  test('a full disk (ENOSPC, then too little room) waits as disk_full with the alert, and resumes the same file when there is room', async () => {
    let free = 10_000 * MB;
    const { src, alerts, disk, dir, rec } = makeLinked({ freeBytes: () => free });
    const events: string[] = [];
    alerts.on((e) => events.push(`${e.type}:${e.alert.id}`));
    rec.start();
    const file = rec.currentFile!;
    push(src, 1, 10);
    await until('the first frames on disk', () => sizeOf(file) === 10 * 384);

    disk.failing = 'ENOSPC';
    free = 50 * MB;
    push(src, 2, 1);
    await until('disk_full', () => rec.state === 'disk_full');
    expect(rec.status().last_error).toMatch(/^only \d+ MB free on .* \(minimum 100 MB\)$/);
    expect(rec.status().retry_at).not.toBeNull();
    expect(alerts.list()[0]!).toMatchObject({ id: 'recording.disk', severity: 'critical' });
    // It looks again by itself (a new retry_at), and stays stopped while there is no room.
    const due = rec.status().retry_at;
    await until('another look', () => rec.status().retry_at !== due && rec.status().retry_at !== null);
    expect(rec.state).toBe('disk_full');
    expect(alerts.list()).toHaveLength(1);

    disk.failing = null;
    free = 500 * MB;
    await until('recording again', () => rec.state === 'recording');
    expect(rec.currentFile).toBe(file);
    expect(rec.status().continued).toBe(true);
    expect(events).toEqual(['raised:recording.disk', 'cleared:recording.disk']);
    await rec.close();
    expect(mp3s(dir)).toHaveLength(1);
  }, 30_000);

  test('a folder that cannot be made retries with a plain reason, and records once it can', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'hark-rec-link-'));
    const dir = join(parent, 'in-the-way', 'recordings');
    writeFileSync(join(parent, 'in-the-way'), 'a file where the folder should be');
    const { rec } = makeLinked({ dir, backoff: { ...DEFAULT_BACKOFF, initialMs: 30, maxMs: 60, jitter: 0 } });
    rec.start();
    expect(rec.state).toBe('retrying');
    expect(rec.status().last_error).toBe(`cannot create ${dir}: part of the path is not a folder`);
    rmSync(join(parent, 'in-the-way'));
    await until('recording', () => rec.state === 'recording');
    expect(rec.currentFile!.startsWith(dir)).toBe(true);
  }, 30_000);

  test('a recording folder removed while recording: it notices, makes it again and records on', async () => {
    const { src, dir, rec } = makeLinked({ backoff: { ...DEFAULT_BACKOFF, initialMs: 30, maxMs: 60, jitter: 0 } });
    rec.start();
    const first = rec.currentFile!;
    rmSync(dir, { recursive: true });
    await until('a new file', () => rec.state === 'recording' && rec.status().files_started === 2);
    expect(rec.currentFile!.startsWith(dir)).toBe(true);
    expect(first.startsWith(dir)).toBe(true);
    push(src, 1, 5);
    await until('frames in the new file', () => sizeOf(rec.currentFile!) === 5 * 384);
  }, 30_000);

  test('close() while waiting to retry stops for good: stopped, no retry due, no file opened later', async () => {
    const { src, alerts, disk, dir, rec } = makeLinked({ backoff: { ...DEFAULT_BACKOFF, initialMs: 100, maxMs: 100, jitter: 0 } });
    rec.start();
    disk.failing = 'EIO';
    push(src, 1, 3);
    await until('retrying', () => rec.state === 'retrying');
    await rec.close();
    expect(rec.state).toBe('stopped');
    expect(rec.status()).toMatchObject({ state: 'stopped', retry_at: null, file: null });
    expect(rec.outputStatus()).toMatchObject({ state: 'stopped', detail: 'stopped', retry_at: null });
    disk.failing = null;
    // Past the retry that was due: nothing opened, nothing written.
    const writes = disk.writes;
    await Bun.sleep(300);
    expect(rec.state).toBe('stopped');
    expect(rec.currentFile).toBeNull();
    expect(disk.writes).toBe(writes);
    expect(mp3s(dir)).toHaveLength(1);
    expect(alerts.isActive('recording.disk')).toBe(false);
  }, 30_000);
});

describe('retention and the disk floor (logger-grade recording)', () => {
  /** Finished recordings already in the folder, oldest first, each `bytes` long and last written `agoDays` ago. */
  function seed(dir: string, files: [string, number][], now: number) {
    for (const [name, agoDays] of files) {
      writeFileSync(join(dir, name), new Uint8Array([0xff, 0xfb, 0x90, 0x00, ...new Uint8Array(996)]));
      const t = (now - agoDays * 86_400_000) / 1000;
      utimesSync(join(dir, name), t, t);
    }
  }

  test('keep_days: recordings last written longer ago go at the start; newer ones, and the newest, stay', async () => {
    const now = Date.parse('2026-12-03T12:00:00Z');
    const { dir, rec } = make({ keepMs: 7 * 86_400_000, now: () => now });
    seed(dir, [['hark-2026-11-01T10-00-00Z.mp3', 32], ['hark-2026-11-20T10-00-00Z.mp3', 13], ['hark-2026-11-29T10-00-00Z.mp3', 4]], now);
    writeFileSync(join(dir, 'hark-2026-11-01T10-00-00Z.cue'), 'REM\n');
    rec.start();
    const names = rec.list().map((r) => r.name);
    expect(names).toEqual(['hark-2026-12-03T12-00-00Z.mp3', 'hark-2026-11-29T10-00-00Z.mp3']);
    // Its CUE sheet went with it; a file that is not a recording is never touched.
    expect(existsSync(join(dir, 'hark-2026-11-01T10-00-00Z.cue'))).toBe(false);
  });

  test('make_room: under the floor plus a quarter, the oldest go first, never the one being written, and recording never stops', async () => {
    const now = Date.parse('2026-12-03T12:00:00Z');
    const deleted: string[] = [];
    // The injected disk: 100 MB floor; each old recording "holds" 40 MB.
    const { dir, alerts, src, rec } = make({ makeRoom: true, now: () => now, guardMs: 20, freeBytes: () => 60 * MB + (4 - existing().length) * 40 * MB - used });
    let used = 0;
    const existing = () => readdirSync(dir).filter((n) => n.endsWith('.mp3') && !n.startsWith('hark-2026-12-03'));
    seed(dir, [['hark-2026-11-01T10-00-00Z.mp3', 32], ['hark-2026-11-02T10-00-00Z.mp3', 31], ['hark-2026-11-03T10-00-00Z.mp3', 30], ['hark-2026-11-04T10-00-00Z.mp3', 29]], now);
    alerts.on((e) => deleted.push(e.alert.id));
    rec.start();
    src.push(1, 3);
    // 60 MB free < 125 MB (the floor and a quarter): the two oldest make 60 + 2 × 40 = 140 MB, enough.
    expect(existing()).toEqual(['hark-2026-11-03T10-00-00Z.mp3', 'hark-2026-11-04T10-00-00Z.mp3']);
    expect(rec.state).toBe('recording');
    // While recording, the disk fills by 80 MB: the guard makes room with the two left, not the file being written.
    used = 80 * MB;
    for (let i = 0; i < 50 && existing().length; i++) await Bun.sleep(20);
    expect(existing()).toEqual([]);
    expect(rec.state).toBe('recording');
    expect(rec.list().map((r) => r.active)).toEqual([true]);
    expect(deleted).toEqual([]);
  });

  test('the automatic floor: 5 % of the disk, at least 200 MB, at most 512 MB, at most half the disk; a set min_free_mb wins', async () => {
    expect(autoMinFreeBytes(32 * 1024 * MB)).toBe(512 * MB);
    expect(autoMinFreeBytes(8 * 1024 * MB)).toBe(Math.floor(0.05 * 8 * 1024 * MB));
    expect(autoMinFreeBytes(2 * 1024 * MB)).toBe(200 * MB);
    expect(autoMinFreeBytes(300 * MB)).toBe(150 * MB);
    // A 32 GB card with 1 GB free records (the old fixed 500 MB would too, but 5 % alone, 1.6 GB, would not).
    const auto = make({ minFreeBytes: 0, totalBytes: () => 32 * 1024 * MB, freeBytes: () => 1024 * MB });
    auto.rec.start();
    expect(auto.rec.state).toBe('recording');
    expect(auto.rec.status()).toMatchObject({ min_free_mb: 512, min_free_auto: true });
    await auto.rec.close();
    const set = make({ minFreeBytes: 2000 * MB, totalBytes: () => 32 * 1024 * MB, freeBytes: () => 1024 * MB });
    set.rec.start();
    expect(set.rec.state).toBe('disk_full');
    expect(set.rec.status()).toMatchObject({ min_free_mb: 2000, min_free_auto: false });
  });

  test('before the clock is synchronised the name says so; once it is, the file (and its marks) get the true start time', async () => {
    let synced = false;
    let now = Date.parse('1970-01-01T00:00:12Z');
    const { src, dir, rec } = make({ clockSynced: () => synced, now: () => now, guardMs: 20 });
    rec.start();
    expect(rec.currentFile).toEndWith('hark-1970-01-01T00-00-12Z-unsynced.mp3');
    src.push(1, 2);
    rec.mark('before the clock');
    await Bun.sleep(50);
    // The clock jumps to the real time (NTP), 50 ms after the file started.
    now = Date.parse('2026-12-03T10:00:05.050Z');
    synced = true;
    for (let i = 0; i < 50 && rec.currentFile?.includes('unsynced'); i++) await Bun.sleep(20);
    expect(rec.currentFile).toMatch(/hark-2026-12-03T10-00-0[45]Z\.mp3$/);
    src.push(2, 2);
    await Bun.sleep(WRITE_MS * 2);
    const [r] = rec.list();
    expect(r!.name).toMatch(/^hark-2026-12-03T10-00-0[45]Z\.mp3$/);
    expect(r!.marks.map((m) => m.label)).toEqual(['before the clock']);
    expect(r!.cue).toBe(r!.name.replace('.mp3', '.cue'));
    expect(readdirSync(dir).filter((n) => n.includes('unsynced'))).toEqual([]);
    await rec.close();
    // Every byte is in the renamed file.
    expect(readFileSync(join(dir, r!.name)).length).toBe(4000);
  });
});
