/**
 * The recorder under the shared LinkHandler (link.ts): a failed write, a full disk, a folder
 * that cannot be made or is removed — each goes to a waiting state with the error and when the
 * next try is due, and back to `recording` by itself once the cause is gone, continuing the same
 * file within the continue window. close() during a wait stops it for good. The disk is real;
 * only its failures are injected at the thin writer layer (hark runs these as root, so
 * permissions cannot be used to make writes fail).
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, write as fsWrite } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EncodedPacket } from '../codecs/encoder.ts';
import { Alerts } from './alerts.ts';
import { DEFAULT_BACKOFF } from './backoff.ts';
import type { OutputStatus } from './link.ts';
import { Recorder, type RecorderOptions, type WriteFn } from './recorder.ts';

const MB = 1024 * 1024;
/** MPEG-1 Layer III, 128 kbit/s, 48 kHz: 384-byte frames of 24 ms, `fill` in the body. */
function frame(fill: number): EncodedPacket {
  const f = new Uint8Array(384).fill(fill);
  f.set([0xff, 0xfb, 0x94, 0xc4]);
  return { data: f, pts: 0, frames: 1152 };
}

class FakeSource {
  listener?: (p: EncodedPacket) => void;
  subscribe(_spec: unknown, l: (p: EncodedPacket) => void) {
    this.listener = l;
    return () => (this.listener = undefined);
  }
  push(fill: number, n: number) {
    for (let i = 0; i < n; i++) this.listener?.(frame(fill));
  }
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

let rec: Recorder | undefined;
afterEach(async () => {
  await rec?.close();
  rec = undefined;
});

function make(over: Partial<RecorderOptions> = {}) {
  const src = new FakeSource();
  const alerts = new Alerts();
  const disk = new Disk();
  const dir = over.dir ?? mkdtempSync(join(tmpdir(), 'hark-rec-link-'));
  const changes: OutputStatus[] = [];
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
    continueWithinMs: 10 * 60_000,
    backoff: { ...DEFAULT_BACKOFF, initialMs: 150, maxMs: 300, jitter: 0 },
    guardMs: 20,
    guardIdleMs: 20,
    write: disk.write,
    onChange: (s) => changes.push(s),
    ...over,
  });
  return { src, alerts, disk, dir, rec, changes };
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

describe('the recorder under LinkHandler', () => {
  test('a failing write goes to retrying with the error and when it tries again, then back to recording by itself, continuing the same file', async () => {
    const { src, alerts, disk, dir, rec, changes } = make();
    rec.start();
    expect(rec.state).toBe('recording');
    const file = rec.currentFile!;
    src.push(1, 10);
    await until('the first frames on disk', () => sizeOf(file) === 10 * 384);

    disk.failing = 'EIO';
    src.push(2, 5); // lost with the failed write
    await until('retrying', () => rec.state === 'retrying');
    const s = rec.status();
    expect(s.last_error).toBe(`writing ${file}: input/output error (a failing card or disk?)`);
    expect(s.retry_at).not.toBeNull();
    expect(Date.parse(s.retry_at!)).toBeGreaterThan(Date.now() - 1000);
    expect(s.file).toBeNull();
    const o = rec.outputStatus();
    expect(o).toMatchObject({ kind: 'recording', state: 'retrying', last_error: s.last_error, retry_at: s.retry_at, since: null });
    expect(o.detail).toMatch(/^retrying in \d+ s: writing .*: input\/output error/);
    expect(alerts.list().map((a) => a.id)).toEqual(['recording.failed']);

    disk.failing = null; // the cause is gone
    await until('recording again', () => rec.state === 'recording');
    expect(rec.currentFile).toBe(file);
    expect(rec.status()).toMatchObject({ continued: true, files_started: 1, last_error: null, retry_at: null });
    expect(rec.outputStatus().since).not.toBeNull();
    expect(alerts.list()).toEqual([]);
    src.push(3, 10);
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
    const { src, alerts, disk, dir, rec } = make({ freeBytes: () => free });
    const events: string[] = [];
    alerts.on((e) => events.push(`${e.type}:${e.alert.id}`));
    rec.start();
    const file = rec.currentFile!;
    src.push(1, 10);
    await until('the first frames on disk', () => sizeOf(file) === 10 * 384);

    disk.failing = 'ENOSPC';
    free = 50 * MB;
    src.push(2, 1);
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
    const { rec } = make({ dir, backoff: { ...DEFAULT_BACKOFF, initialMs: 30, maxMs: 60, jitter: 0 } });
    rec.start();
    expect(rec.state).toBe('retrying');
    expect(rec.status().last_error).toBe(`cannot create ${dir}: part of the path is not a folder`);
    rmSync(join(parent, 'in-the-way'));
    await until('recording', () => rec.state === 'recording');
    expect(rec.currentFile!.startsWith(dir)).toBe(true);
  }, 30_000);

  test('a recording folder removed while recording: it notices, makes it again and records on', async () => {
    const { src, dir, rec } = make({ backoff: { ...DEFAULT_BACKOFF, initialMs: 30, maxMs: 60, jitter: 0 } });
    rec.start();
    const first = rec.currentFile!;
    rmSync(dir, { recursive: true });
    await until('a new file', () => rec.state === 'recording' && rec.status().files_started === 2);
    expect(rec.currentFile!.startsWith(dir)).toBe(true);
    expect(first.startsWith(dir)).toBe(true);
    src.push(1, 5);
    await until('frames in the new file', () => sizeOf(rec.currentFile!) === 5 * 384);
  }, 30_000);

  test('close() while waiting to retry stops for good: stopped, no retry due, no file opened later', async () => {
    const { src, alerts, disk, dir, rec } = make({ backoff: { ...DEFAULT_BACKOFF, initialMs: 100, maxMs: 100, jitter: 0 } });
    rec.start();
    disk.failing = 'EIO';
    src.push(1, 3);
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
