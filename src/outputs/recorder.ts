/**
 * The recorder: the live stream to files on disk (Ogg/Opus, MP3 or FLAC), rotated by time or size,
 * named by their start time, and safe to cut at any moment. A disk guard stops it before the
 * free space falls under `recording.min_free_mb`, raises an alert, and resumes when there is
 * room again.
 *
 * Crash safety: pages and frames are appended with write(2) at least every WRITE_MS, so a
 * SIGKILL loses at most that much plus the Ogg page being filled (100 ms); fdatasync every
 * SYNC_MS bounds a power cut the same way. An Ogg file without its EOS page, or an MP3 file
 * cut mid-frame, still decodes up to the cut. A FLAC file is written with STREAMINFO's total
 * samples 0 (unknown) and MD5 unset, so a cut one decodes up to its last whole frame (85 ms of
 * audio, one block more held in the encoder); a clean finish writes the total in afterwards.
 *
 * One recording per service: with `continueWithinMs`, starting again (a restart of hark, Stop and
 * Go live, a resume after a full disk) appends to the newest file when it has the same format
 * and was last written less than that long ago. MP3 is a sequence of frames, so the new frames
 * simply follow; so do FLAC frames (numbered on from the file's last whole frame, what a crash
 * cut after it cut off, STREAMINFO's total back to unknown until the run ends); an Ogg/Opus file gets a new chained logical stream (RFC 7845 §3, RFC 3533 §4:
 * new serial, OpusHead and OpusTags, granule from 0), which players play as one file.
 *
 * Durations come from the files' own bookkeeping, never from decoding: MP3 is constant bitrate,
 * so bytes × 8 / bitrate; Ogg/Opus is the granule position of the last page (RFC 7845 §4)
 * minus the pre-skip, plus, for a continued file, the audio before its last link, kept in
 * `.hark-recordings.json` in the directory when the link is started.
 *
 * The audio is only ever written from the thread pool (AppendWriter): a slow or hung card
 * delays the recording, never capture, the HTTP listeners or the other outputs. A backlog past
 * MAX_BACKLOG_BYTES stops the file with an alert instead of growing without bound.
 *
 * The recorder is a Connector (link.ts) like Icecast and WHIP: `connect()` opens (or continues)
 * a file and returns the RecordingLink that writes it, across rotations, until a write fails,
 * the disk guard finds too little room, or the file is removed. The shared LinkHandler owns the
 * state (`recording` is its live; `disk_full` its wait for room, checked every GUARD_IDLE_MS;
 * `retrying` after any other failure, with the shared backoff), the last error, the bytes and
 * the since; a retry within `continueWithinMs` continues the same file.
 */
import { close as fsClose, closeSync, existsSync, fdatasync, fstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statfsSync, statSync, unlinkSync, writeFileSync, write as fsWrite } from 'node:fs';
import { join, resolve } from 'node:path';
import { MAX_DELAY_MS } from '../audio/pipeline.ts';
import type { EncoderSpec } from '../codecs/index.ts';
import type { EncodedPacket } from '../codecs/encoder.ts';
import { OggOpusMuxer } from '../codecs/ogg.ts';
import { FLAC_BLOCK_FRAMES, FlacFramer, STREAMINFO_AT, flacFileHeader, lastWholeFrame, readStreamInfo, streamInfo, streamInfoTotal } from '../codecs/flac.ts';
import { open as openAsync } from 'node:fs/promises';
import { logger, type Logger } from '../log.ts';
import type { Alerts } from './alerts.ts';
import type { BackoffPolicy } from './backoff.ts';
import { LinkHandler, type Connector, type Link, type LinkFailure, type OutputStatus } from './link.ts';
import { OPUS_PRE_SKIP } from './icecast/output.ts';
import type { PacketSource } from './packet-source.ts';
import { VERSION } from '../version.ts';
import { MP3_BITRATES_KBPS } from '../config/mp3-bitrates.ts';
import { systemClockSynced, type ClockSynced } from '../system/clock-sync.ts';

export type RecordingFormat = 'ogg-opus' | 'mp3' | 'flac';
/** `recording` is LinkHandler's live, `disk_full` its wait for room, `retrying` its wait after any other failure. */
export type RecorderState = 'stopped' | 'recording' | 'disk_full' | 'retrying';

/** Appends reach the kernel at least this often (bounds the loss on SIGKILL). */
export const WRITE_MS = 200;
/** …and the disk at least this often (bounds the loss on power failure). */
export const SYNC_MS = 500;
/** The disk guard looks at the free space this often while recording… */
export const GUARD_MS = 1000;
/** …and this often while stopped for lack of space. */
export const GUARD_IDLE_MS = 5000;
/** Ogg pages are closed after this much audio, so little waits in memory. */
const PAGE_MS = 100;
/** Bytes handed to the disk and not yet written past which the disk is declared too slow. */
export const MAX_BACKLOG_BYTES = 4 << 20;

/** How a chunk reaches the file: write(2) from the thread pool (tests put a failing disk here). */
export type WriteFn = (fd: number, buf: Uint8Array, off: number, len: number) => Promise<number>;

/**
 * Appends to one open file from the thread pool, strictly in order, then fdatasync and close
 * on close(). Errors stop further writes and are reported once.
 */
export class AppendWriter {
  private chain: Promise<void> = Promise.resolve();
  private syncQueued = false;
  private closed = false;
  /** Bytes handed over and not yet written. */
  backlog = 0;
  written = 0;
  error: NodeJS.ErrnoException | null = null;

  constructor(
    readonly fd: number,
    private readonly onError: (e: NodeJS.ErrnoException) => void,
    /** Write nothing before this settles (the previous writer of the same file finishing). */
    after?: Promise<unknown>,
    private readonly write: WriteFn = writeAt,
  ) {
    if (after) this.chain = after.then(
      () => {},
      () => {},
    );
  }

  append(chunks: readonly Uint8Array[]): void {
    if (this.closed || this.error || chunks.length === 0) return;
    let n = 0;
    for (const c of chunks) n += c.byteLength;
    const buf = new Uint8Array(n);
    let at = 0;
    for (const c of chunks) {
      buf.set(c, at);
      at += c.byteLength;
    }
    this.backlog += n;
    this.chain = this.chain.then(async () => {
      try {
        if (this.error) return;
        let off = 0;
        while (off < n) off += await this.write(this.fd, buf, off, n - off);
        this.written += n;
      } catch (e) {
        this.error ??= e as NodeJS.ErrnoException;
        this.onError(this.error);
      } finally {
        this.backlog -= n;
      }
    });
  }

  /** Queue an fdatasync behind the writes so far (one at a time). */
  sync(): void {
    if (this.closed || this.syncQueued) return;
    this.syncQueued = true;
    this.chain = this.chain.then(async () => {
      this.syncQueued = false;
      await datasync(this.fd).catch(() => {});
    });
  }

  /** Finish: the queued writes, fdatasync (a finished file is on disk), close. */
  close(): Promise<void> {
    if (this.closed) return this.chain;
    this.closed = true;
    this.chain = this.chain.then(async () => {
      await datasync(this.fd).catch(() => {});
      await new Promise<void>((r) => fsClose(this.fd, () => r()));
    });
    return this.chain;
  }
}

function writeAt(fd: number, buf: Uint8Array, off: number, len: number): Promise<number> {
  return new Promise((resolve, reject) => fsWrite(fd, buf, off, len, null, (err, n) => (err ? reject(err) : resolve(n))));
}

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

const EXTENSIONS: Record<RecordingFormat, string> = { 'ogg-opus': 'opus', mp3: 'mp3', flac: 'flac' };
/** PADDING after a FLAC file's tags: room for a tag editor to add some without rewriting the file. */
const FLAC_PADDING = 4096;
const CONTENT_TYPES: Record<string, string> = { opus: 'audio/ogg; codecs=opus', mp3: 'audio/mpeg', flac: 'audio/flac' };
/**
 * What a recording's name looks like; anything else is not ours to serve or delete. A file
 * started before the clock was synchronised says so (`-unsynced`) until it is renamed.
 */
export const NAME_RE = /^hark-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z(-\d+)?(-unsynced)?\.(opus|mp3|flac)$/;
/** A recording's CUE sheet (its marks), beside it: `hark-…Z.cue` for `hark-…Z.mp3`. */
const CUE_RE = /^hark-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z(-\d+)?(-unsynced)?\.cue$/;
/** The mark of a file named before the clock was synchronised. */
export const UNSYNCED = '-unsynced';

/** The CUE sheet's name for a recording's name. */
export const cueNameOf = (name: string) => `${name.slice(0, name.lastIndexOf('.'))}.cue`;

/** A CUE sheet holds at most 99 tracks: the start and the first 98 marks. */
export const CUE_MAX_TRACKS = 99;

/**
 * Text for a quoted CUE field. CUE has no escapes, so what could end the field or the line
 * goes: a double quote becomes a single one, control characters and line breaks a space;
 * at most `max` characters (80 for a TITLE, as the format says).
 */
export function cueText(s: string, max = 80): string {
  const clean = s
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replaceAll('"', "'")
    .replace(/\s+/g, ' ')
    .trim();
  return Array.from(clean).slice(0, max).join('').trim();
}

/** mm:ss:ff, ff in CD frames (75 a second); minutes grow past 99 as needed. */
function cueTime(frames: number): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(Math.floor(frames / 4500))}:${p(Math.floor(frames / 75) % 60)}:${p(frames % 75)}`;
}

/**
 * A CUE sheet for a recording and its marks: one track from the start, then one per mark (in
 * time order), titled with the mark's note. Track starts only go forward (two marks in the same
 * 1/75 s are a frame apart), as players expect.
 */
export function cueSheet(file: string, marks: readonly RecordingMark[]): string {
  const type = file.endsWith('.mp3') ? 'MP3' : 'WAVE';
  const lines = ['REM COMMENT "hark: the moments marked during this recording"', `FILE "${cueText(file, 255)}" ${type}`];
  let prev = -1;
  let n = 0;
  const track = (title: string, s: number) => {
    const f = Math.max(Math.round(Math.max(0, s) * 75), prev + 1);
    prev = f;
    n++;
    lines.push(`  TRACK ${String(n).padStart(2, '0')} AUDIO`, `    TITLE "${cueText(title) || 'Marked moment'}"`, `    INDEX 01 ${cueTime(f)}`);
  };
  track('Start', 0);
  for (const m of [...marks].sort((a, b) => a.offset_s - b.offset_s).slice(0, CUE_MAX_TRACKS - 1)) track(m.label, m.offset_s);
  return `${lines.join('\n')}\n`;
}

export interface RecorderOptions {
  dir: string;
  format: RecordingFormat;
  spec: EncoderSpec;
  /** The program it records ([[program]] id; default main). */
  program?: string;
  channels: number;
  bitrateKbps: number;
  /** Start a new file after this long (0: never). */
  rotateMs: number;
  /** Start a new file past this many bytes (0: never). */
  rotateBytes: number;
  /** The disk guard's floor; 0: automatic, from the file system's size (autoMinFreeBytes). */
  minFreeBytes: number;
  /** Retention: delete finished recordings last written longer ago than this (0 or absent: keep). */
  keepMs?: number;
  /** Retention: when free space nears the floor, delete the oldest finished recordings first. */
  makeRoom?: boolean;
  /** Size of the file system holding `dir`, for the automatic floor (injectable for tests). */
  totalBytes?: (dir: string) => number;
  /** Whether the wall clock is synchronised (file names); systemClockSynced() unless said. */
  clockSynced?: ClockSynced;
  alerts: Alerts;
  /** Called after every state change, with the shared status record. */
  onChange?: (s: OutputStatus) => void;
  /** Whether the config turns recording on (OutputStatus.enabled). */
  enabled?: () => boolean;
  /** Free bytes on the file system holding `dir` (injectable for tests). */
  freeBytes?: (dir: string) => number;
  now?: () => number;
  /** Disk guard periods (tests shorten them). */
  guardMs?: number;
  guardIdleMs?: number;
  /** Continue the newest file when it was last written less than this long ago (0 or absent: never). */
  continueWithinMs?: number;
  /** Retries after a failed write or open (tests shorten them); the shared policy unless said. */
  backoff?: BackoffPolicy;
  random?: () => number;
  /** How chunks reach the file (tests inject a failing disk). */
  write?: WriteFn;
  /**
   * Which encoder to record from when recording starts: the outputs' ('output', shared with the
   * Icecast stream of the same setting) or one of its own that off air does not silence
   * ('record': recording while off air). Default 'output'.
   */
  tap?: () => 'output' | 'record';
}

export interface RecordingInfo {
  name: string;
  bytes: number;
  started_at: string;
  modified_at: string;
  content_type: string;
  /** The file being written now. */
  active: boolean;
  /** Seconds of audio in the file (null: not one of ours to measure). */
  duration_s: number | null;
  /** Moments marked while it was recorded ("Sermon starts"), oldest first. */
  marks: RecordingMark[];
  /** The CUE sheet beside it that carries the marks (`hark-…Z.cue`), or null without marks. */
  cue: string | null;
}

/** A moment marked during a recording: where it is in the file, and what the person typed. */
export interface RecordingMark {
  /** Seconds into the recording. */
  offset_s: number;
  label: string;
  /** When it was marked (ISO 8601). */
  at: string;
}

/** Per recording, in `.hark-recordings.json`. */
interface IndexEntry {
  /** Continued Ogg files: the seconds of audio before the last link. */
  before_last_link_s?: number;
  marks?: RecordingMark[];
}

/** At most this many marks per recording (the rest are refused, not lost silently: see mark()). */
export const MAX_MARKS = 500;

/** A recording name that is not one, or a file that is not there. */
export class RecordingNotFoundError extends Error {
  override readonly name = 'RecordingNotFoundError';
  constructor(readonly file: string) {
    super(`no such recording: ${file}`);
  }
}

/** The file is being written. */
export class RecordingBusyError extends Error {
  override readonly name = 'RecordingBusyError';
  constructor(readonly file: string) {
    super(`${file} is being recorded; it can be deleted once it is finished`);
  }
}

/** Too little room on the disk: recording waits (`disk_full`) until there is more. */
class LowSpaceError extends Error {
  constructor(readonly free: number) {
    super(`only ${spaceText(free)} free`);
  }
}

/** A file that could not be opened or written, said plainly: "writing /x.mp3: permission denied". */
class RecordingIoError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** What an errno means, for the page and the log. */
const PLAIN_ERRNO: Record<string, string> = {
  EACCES: 'permission denied (hark may not write there)',
  EPERM: 'permission denied (hark may not write there)',
  EROFS: 'the disk is read-only',
  ENOENT: 'the folder is gone (a disk removed?)',
  ENOTDIR: 'part of the path is not a folder',
  EIO: 'input/output error (a failing card or disk?)',
};

/** An open or write error as the recorder reports it; a full disk as LowSpaceError. */
function ioError(what: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new LowSpaceError(0);
  return new RecordingIoError(`${what}: ${(code && PLAIN_ERRNO[code]) ?? (e as Error)?.message ?? String(e)}`, code);
}

/** The open recording under LinkHandler: it writes until a write fails, the disk fills, or the file goes. */
class RecordingLink implements Link {
  /** Bytes handed to the disk while this link lasted (every file it rotated through). */
  bytes = 0;
  private endFn?: (err: unknown) => void;
  private over = false;

  constructor(private readonly finish: () => Promise<void>) {}

  onEnd(fn: (err: unknown) => void): void {
    this.endFn = fn;
  }

  /** It ended on its own (the recorder already finished the file). */
  end(err: unknown): void {
    if (this.over) return;
    this.over = true;
    this.endFn?.(err);
  }

  close(): Promise<void> {
    this.over = true;
    return this.finish();
  }
}

/** Free bytes for an unprivileged writer (statfs f_bavail × f_bsize). */
export function statfsFreeBytes(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/** The size of the file system holding `dir` (statfs f_blocks × f_bsize). */
export function statfsTotalBytes(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.blocks) * Number(s.bsize);
}

const MIB = 1024 * 1024;
/**
 * The disk guard's floor when `min_free_mb` is 0 (the default): 5 % of the file system, at
 * least 200 MB (room for hark's state, an update unpacked beside the running one, logs), at
 * most 512 MB (past that it only costs archive), and never more than half the disk (a small
 * card or a RAM disk still records). A card with 1 GB free never stops the recorder at once.
 */
export function autoMinFreeBytes(totalBytes: number): number {
  return Math.floor(Math.min(Math.max(0.05 * totalBytes, 200 * MIB), 512 * MIB, totalBytes / 2));
}

/** A start time as it appears in file names: 2026-11-21T16-05-00Z (UTC, no colons). */
export function timestampName(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
}

export class Recorder implements Connector<RecordingLink> {
  private readonly handler: LinkHandler<RecordingLink>;
  /** The link this recorder opened and has not finished. */
  private current: RecordingLink | null = null;
  /** Stopped for lack of room (the disk alert is up): resume only with the hysteresis margin. */
  private diskWaiting = false;
  private unsubscribe?: () => void;
  private writer: AppendWriter | null = null;
  /** Files still being finished (their last writes, fdatasync, close). */
  private closing = new Set<Promise<void>>();
  private file: string | null = null;
  private fileStarted = 0;
  private fileBytes = 0;
  /** Audio frames (48 kHz samples) written to the current file by this run… */
  private fileFrames = 0;
  /** …and the seconds it already held when this run continued it. */
  private fileBaseS = 0;
  private fileContinued = false;
  /** The file this recorder last finished, as it wrote it. */
  private lastClosed: { name: string; bytes: number; durationS: number; startedMs: number; at: number; flacSamples?: number } | null = null;
  private rotateAt = Infinity;
  private muxer?: OggOpusMuxer;
  /** FLAC: numbers the current file's frames from 0 and counts its samples (for STREAMINFO at the end). */
  private flac?: FlacFramer;
  private pending: Uint8Array[] = [];
  private writeTimer?: ReturnType<typeof setInterval>;
  private guardTimer?: ReturnType<typeof setTimeout>;
  private lastSync = 0;
  private filesStarted = 0;
  private freeAtLastCheck: number | null = null;
  private readonly log: Logger = logger('recorder');
  readonly dir: string;
  private readonly freeBytes: (dir: string) => number;
  private readonly totalBytes: (dir: string) => number;
  private readonly clockSynced: ClockSynced;
  /** The automatic floor, read at each connect (null: not yet, or a fixed min_free_mb). */
  private autoFloor: number | null = null;
  /** Files this run named before the clock was synchronised, with their start on the monotonic clock. */
  private readonly unsynced = new Map<string, number>();
  private lastKeepCheck = -Infinity;
  private readonly now: () => number;
  private readonly guardMs: number;
  private readonly guardIdleMs: number;
  /** The encoder recorded from now (RecorderOptions.tap). */
  private tapNow: 'output' | 'record' = 'output';
  /** Audio from before start() (VOX's pre-roll), written first into the file it opens. */
  private preroll: EncodedPacket[] = [];
  /** The end (pts + frames) of the last packet written… */
  private writtenTo = -Infinity;
  /** …and, after a pre-roll or a re-tap, skip the packets that end before it (both sources carry them) until a new one comes. */
  private skipWritten = false;

  constructor(
    private readonly source: PacketSource,
    private readonly opts: RecorderOptions,
  ) {
    this.dir = resolve(opts.dir);
    this.freeBytes = opts.freeBytes ?? statfsFreeBytes;
    this.totalBytes = opts.totalBytes ?? statfsTotalBytes;
    this.clockSynced = opts.clockSynced ?? systemClockSynced();
    this.now = opts.now ?? Date.now;
    this.guardMs = opts.guardMs ?? GUARD_MS;
    this.guardIdleMs = opts.guardIdleMs ?? GUARD_IDLE_MS;
    this.handler = new LinkHandler(this, {
      kind: 'recording',
      id: '',
      log: this.log,
      backoff: opts.backoff,
      random: opts.random,
      where: this.dir,
      authHint: '',
      lostText: 'recording stopped',
      states: { live: 'recording' },
      onChange: () => opts.onChange?.(this.outputStatus()),
    });
  }

  get state(): RecorderState {
    // connect() opens at once (no `connecting`) and failure() is never auth or busy.
    return this.handler.stateName as RecorderState;
  }

  /** The encoder setting it records (VOX's pre-roll ring keeps the same). */
  get spec(): EncoderSpec {
    return this.opts.spec;
  }

  /** The program it records (default main). */
  get program(): string {
    return this.opts.program ?? 'main';
  }

  /** The file being written, if any. */
  get currentFile(): string | null {
    return this.file;
  }

  /**
   * The next start() (within `forMs`) begins the file with `packets()`: packets of the same
   * encoder from just before (VOX's pre-roll ring), taken at that moment so none is missed.
   */
  armPreroll(packets: () => readonly EncodedPacket[], forMs = 2000): void {
    this.armed = { packets, until: this.now() + forMs };
  }
  private armed: { packets: () => readonly EncodedPacket[]; until: number } | null = null;

  /** Start recording (a new file, or the last one continued), and keep at it. Idempotent while started. */
  start(): void {
    if (this.handler.state !== 'stopped') return;
    this.diskWaiting = false;
    const armed = this.armed;
    this.armed = null;
    this.preroll = armed && this.now() <= armed.until ? [...armed.packets()] : [];
    this.writtenTo = -Infinity;
    this.skipWritten = false;
    // A pre-roll ring records from the recording's own encoder: the file goes on from the same one.
    this.subscribeTap(this.preroll.length ? 'record' : undefined);
    this.writeTimer = setInterval(() => this.drain(), WRITE_MS);
    this.handler.start();
  }

  private subscribeTap(tap = this.opts.tap?.() ?? 'output'): void {
    this.tapNow = tap;
    this.unsubscribe = this.source.subscribe(this.opts.spec, (p) => this.onPacket(p), { maxDelayMs: MAX_DELAY_MS.relay, tap: this.tapNow, program: this.program });
  }

  /**
   * The tap to record from changed (going off air silences the outputs' encoder): move to the
   * right one. The worker takes the gate and the new encoder in one go, and the new encoder
   * starts at the packet boundary behind the bus: its first packet covers the same frames as
   * the old encoder's packet in progress, which is partly off-air silence. So the old
   * subscription's packets are held back by one: when the new one's first packet comes, the
   * held packet is written only if it ends before it, and the old ones stop there. The file
   * goes on without a hole, only a new encoder's first few milliseconds at the seam.
   */
  retap(): void {
    if (!this.unsubscribe || this.tapNow === 'record' || (this.opts.tap?.() ?? 'output') !== 'record') return;
    const oldOff = this.unsubscribe;
    let handover: number | null = null;
    let held: EncodedPacket | null = null;
    // The old subscription's packets, until the new one has begun (subscribed before the old listener goes, so its encoder stays).
    const oldUnsubscribe = this.source.subscribe(
      this.opts.spec,
      (p) => {
        if (handover !== null) return;
        if (held) this.onPacket(held);
        held = p;
      },
      { maxDelayMs: MAX_DELAY_MS.relay, tap: this.tapNow, program: this.program },
    );
    oldOff();
    this.tapNow = 'record';
    this.skipWritten = true;
    this.unsubscribe = this.source.subscribe(
      this.opts.spec,
      (p) => {
        if (handover === null) {
          handover = p.pts;
          if (held && held.pts + held.frames <= p.pts) this.onPacket(held);
          held = null;
          // Not from inside the delivery loop.
          queueMicrotask(oldUnsubscribe);
        }
        this.onPacket(p);
      },
      { maxDelayMs: MAX_DELAY_MS.relay, tap: 'record', program: this.program },
    );
    const unsubscribeNew = this.unsubscribe;
    this.unsubscribe = () => {
      if (handover === null && held) this.onPacket(held);
      held = null;
      handover ??= -1;
      oldUnsubscribe();
      unsubscribeNew();
    };
    this.log.info("off air: recording from the recording's own encoder now");
  }

  /** Finish the current file and stop (retries too); resolves once the file is on disk. Idempotent. */
  async close(): Promise<void> {
    if (this.handler.state !== 'stopped') {
      this.unsubscribe?.();
      this.unsubscribe = undefined;
      clearInterval(this.writeTimer);
      // Finished here, before the handler drops the link, so its last pages count in the bytes.
      if (this.current) void this.finish(this.current);
      void this.handler.close();
      this.diskWaiting = false;
      this.opts.alerts.clear('recording.disk', 'recorder stopped');
    }
    await Promise.all([...this.closing]);
  }

  /** Connector: make the folder, check the room, open (or continue) a file. */
  connect(): RecordingLink {
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (e) {
      throw ioError(`cannot create ${this.dir}`, e);
    }
    this.autoFloor = null;
    this.prune();
    // Hysteresis: after a stop for lack of room, resume only with a quarter more than the floor, so it does not flap.
    const free = this.readFree();
    const min = this.floor();
    if (free !== null && free < (this.diskWaiting ? min * 1.25 : min) + this.reserve()) throw new LowSpaceError(free);
    this.openFile();
    const link: RecordingLink = new RecordingLink(() => this.finish(link));
    this.current = link;
    if (this.preroll.length) {
      for (const p of this.preroll.splice(0)) this.onPacket(p);
      this.skipWritten = true;
      this.log.info(`the recording begins with ${(this.fileFrames / 48000).toFixed(2)} s from before it was started (pre-roll)`);
    }
    if (this.diskWaiting) {
      this.diskWaiting = false;
      this.opts.alerts.clear('recording.disk', `recording resumed: ${free === null ? '?' : spaceText(free)} free`);
    }
    this.guardTimer = setTimeout(() => this.guard(), this.guardMs);
    return link;
  }

  /** Connector: a full disk waits for room (`disk_full`, the alert); anything else retries with the backoff. */
  failure(err: unknown): LinkFailure {
    if (err instanceof LowSpaceError) {
      const message = `only ${spaceText(err.free)} free on ${this.dir} (minimum ${spaceText(this.floor())})`;
      if (!this.diskWaiting) {
        this.diskWaiting = true;
        this.opts.alerts.raise('recording.disk', 'critical', `Recording stopped: ${message}.`);
      }
      return { kind: 'transient', message, waitMs: this.guardIdleMs, state: 'disk_full' };
    }
    const message = err instanceof RecordingIoError ? err.message : `recording to ${this.dir}: ${(err as Error)?.message ?? String(err)}`;
    if (this.diskWaiting) {
      this.diskWaiting = false;
      this.opts.alerts.clear('recording.disk', 'the disk is no longer the problem');
    }
    this.opts.alerts.raise('recording.failed', 'critical', `Recording failed: ${message}.`);
    return { kind: 'transient', message };
  }

  /** The shared status record (link.ts), from LinkHandler; live, the detail is the file. */
  outputStatus(now = Date.now()): OutputStatus {
    // No `connects`: the recorder opens files, not connections (/metrics and `hark status` show it as a recorder).
    const { connects: _, ...h } = this.handler.outputStatus(now);
    const file = this.file ? this.file.slice(this.dir.length + 1) : null;
    return {
      ...h,
      detail: h.state === 'recording' && file ? `${file} (${Math.round(this.fileBytes / 1024)} kB)` : h.detail,
      enabled: this.opts.enabled?.() ?? true,
    };
  }

  status(now = Date.now()) {
    const h = this.handler.status(now);
    return {
      state: this.state,
      format: this.opts.format,
      dir: this.dir,
      file: this.file ? this.file.slice(this.dir.length + 1) : null,
      file_bytes: this.fileBytes,
      file_started_at: this.file ? new Date(this.fileStarted).toISOString() : null,
      /** Seconds of audio in the current file, including what earlier runs wrote to it. */
      file_duration_s: this.file ? Math.round((this.fileBaseS + this.fileFrames / 48000) * 10) / 10 : null,
      /** Whether the current file continues one an earlier run started. */
      continued: this.file ? this.fileContinued : false,
      bytes: h.bytes,
      files_started: this.filesStarted,
      free_mb: this.freeAtLastCheck === null ? null : Math.floor(this.freeAtLastCheck / 1048576),
      min_free_mb: Math.round(this.floor() / 1048576),
      /** Whether the floor is the automatic one (min_free_mb = 0 in the config). */
      min_free_auto: !(this.opts.minFreeBytes > 0),
      last_error: h.last_error,
      /** When the next try is due (ISO 8601), while it waits for room or to retry. */
      retry_at: h.next_retry_at,
    };
  }

  /** The recordings in the directory, newest first. */
  list(): RecordingInfo[] {
    this.renameUnsynced();
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: RecordingInfo[] = [];
    for (const name of names) {
      if (!NAME_RE.test(name)) continue;
      try {
        const st = statSync(join(this.dir, name));
        if (!st.isFile()) continue;
        out.push({
          name,
          bytes: st.size,
          started_at: startedAt(name),
          modified_at: st.mtime.toISOString(),
          content_type: contentTypeOf(name),
          active: this.file === join(this.dir, name),
          duration_s: this.durationOf(name, st.size, st.mtimeMs),
          marks: [...(this.index()[name]?.marks ?? [])],
          cue: existsSync(join(this.dir, cueNameOf(name))) ? cueNameOf(name) : null,
        });
      } catch {}
    }
    return out.sort((a, b) => order(b.name) - order(a.name) || (a.name < b.name ? 1 : -1));
  }

  /** The path of a recording by name; throws RecordingNotFoundError for anything else. */
  pathOf(name: string): string {
    if (!NAME_RE.test(name)) throw new RecordingNotFoundError(name);
    const path = join(this.dir, name);
    if (!existsSync(path)) throw new RecordingNotFoundError(name);
    return path;
  }

  /**
   * A recording's CUE sheet, made from its marks. Throws RecordingNotFoundError for a name that
   * is not the CUE sheet of a recording with marks.
   */
  cue(cueName: string): string {
    if (!CUE_RE.test(cueName)) throw new RecordingNotFoundError(cueName);
    const stem = cueName.slice(0, -'.cue'.length);
    const name = Object.keys(this.index()).find((n) => n.slice(0, n.lastIndexOf('.')) === stem && (this.index()[n]?.marks?.length ?? 0) > 0);
    if (!name || !existsSync(join(this.dir, name))) throw new RecordingNotFoundError(cueName);
    return cueSheet(name, this.index()[name]!.marks!);
  }

  /** Write the recording's CUE sheet beside it (whole or not at all), after a mark. */
  private writeCue(name: string): void {
    const path = join(this.dir, cueNameOf(name));
    try {
      writeFileSync(`${path}.tmp`, cueSheet(name, this.index()[name]?.marks ?? []));
      renameSync(`${path}.tmp`, path);
    } catch (e) {
      this.log.warn(`cannot write ${path}: ${(e as Error).message} (the marks are still listed on the Recordings page)`);
    }
  }

  /**
   * Mark a moment in the recording being written: kept with the recording (the index file) so the
   * Recordings page can list it and play from it, and in a CUE sheet beside the file, so the
   * marks travel with it (players and editors show them as tracks). Null when nothing is being
   * recorded.
   */
  mark(label: string, atMs = this.now()): RecordingMark | null {
    if (this.file === null) return null;
    const name = this.file.slice(this.dir.length + 1);
    const entry = (this.index()[name] ??= {});
    const marks = (entry.marks ??= []);
    if (marks.length >= MAX_MARKS) return null;
    const m: RecordingMark = { offset_s: Math.round((this.fileBaseS + this.fileFrames / 48000) * 10) / 10, label, at: new Date(atMs).toISOString() };
    marks.push(m);
    this.saveIndex();
    this.writeCue(name);
    return m;
  }

  /** Delete a finished recording. */
  delete(name: string): void {
    this.removeFile(name);
    this.log.info(`deleted ${name}`);
    // Room again? Resume without waiting for the next idle check.
    if (this.state === 'disk_full') this.handler.retryNow();
  }

  /** Remove a finished recording, its CUE sheet and its index entry. */
  private removeFile(name: string): void {
    const path = this.pathOf(name);
    if (path === this.file) throw new RecordingBusyError(name);
    unlinkSync(path);
    // Its CUE sheet goes with it.
    rmSync(join(this.dir, cueNameOf(name)), { force: true });
    if (this.lastClosed?.name === name) this.lastClosed = null;
    this.unsynced.delete(name);
    if (this.index()[name]) {
      delete this.index()[name];
      this.saveIndex();
    }
  }

  private onPacket(p: EncodedPacket): void {
    if (this.writer === null) return;
    // Already written (the pre-roll ring and the subscription carry the same packets).
    if (this.skipWritten) {
      if (p.pts + p.frames <= this.writtenTo) return;
      this.skipWritten = false;
    }
    this.writtenTo = p.pts + p.frames;
    if (this.now() >= this.rotateAt || (this.opts.rotateBytes > 0 && this.fileBytes >= this.opts.rotateBytes)) {
      this.rotate();
      if (this.writer === null) return;
    }
    this.fileFrames += p.frames;
    if (this.muxer) {
      for (const page of this.muxer.writePacket(p.data, p.frames)) this.queue(page);
    } else if (this.flac) {
      this.queue(this.flac.frame(p.data, p.frames));
    } else {
      this.queue(p.data);
    }
  }

  private queue(b: Uint8Array): void {
    this.pending.push(b);
    this.fileBytes += b.byteLength;
  }

  /** Hand what is pending to the disk; fdatasync when due. */
  private drain(): void {
    const w = this.writer;
    if (w === null) return;
    this.handOver(w);
    if (w.backlog > MAX_BACKLOG_BYTES) {
      return this.endLink(new RecordingIoError(`the disk is not keeping up: ${w.backlog >> 10} kB waiting to be written to ${this.file}`));
    }
    const t = performance.now();
    if (t - this.lastSync >= SYNC_MS) {
      this.lastSync = t;
      w.sync();
    }
  }

  /** What is pending goes to the writer, and counts in the link's bytes. */
  private handOver(w: AppendWriter): void {
    let n = 0;
    for (const b of this.pending) n += b.byteLength;
    if (this.current) this.current.bytes += n;
    w.append(this.pending);
    this.pending = [];
  }

  private writeFailed(w: AppendWriter, err: NodeJS.ErrnoException): void {
    if (this.writer !== w) return;
    this.endLink(ioError(`writing ${this.file}`, err));
  }

  /** Free bytes now, or null when they cannot be read (recording goes on: the guard cannot tell). */
  private readFree(): number | null {
    try {
      const free = this.freeBytes(this.dir);
      this.freeAtLastCheck = free;
      return free;
    } catch (e) {
      this.log.warn(`cannot read the free space of ${this.dir}: ${(e as Error).message}`);
      return null;
    }
  }

  /** Stop early enough that what arrives before the next look cannot take us under the floor. */
  private reserve(): number {
    return Math.ceil(((this.opts.bitrateKbps * 1000) / 8) * ((this.guardMs + WRITE_MS) / 1000) * 2);
  }

  /** Too little room to go on writing (the floor plus what arrives before the next look)? */
  private lowSpace(): LowSpaceError | null {
    const free = this.readFree();
    return free !== null && free < this.floor() + this.reserve() ? new LowSpaceError(free) : null;
  }

  /** The disk guard's floor: min_free_mb, or (0) the automatic one for this file system. */
  private floor(): number {
    if (this.opts.minFreeBytes > 0) return this.opts.minFreeBytes;
    if (this.autoFloor === null) {
      try {
        this.autoFloor = autoMinFreeBytes(this.totalBytes(this.dir));
      } catch {
        return 200 * MIB;
      }
    }
    return this.autoFloor;
  }

  /**
   * Retention: finished recordings last written more than keep_days ago go (looked at once a
   * minute); with make_room, while the free space is under the floor plus a quarter (the
   * guard's resume margin, so it never gets to stop), the oldest go first. Never the file being
   * written, nor the newest recording (a just-finished file a restart may continue).
   */
  private prune(): void {
    const keepMs = this.opts.keepMs ?? 0;
    const now = this.now();
    const keepDue = keepMs > 0 && performance.now() - this.lastKeepCheck >= 60_000;
    let free = this.opts.makeRoom ? this.readFree() : null;
    const target = this.floor() * 1.25 + this.reserve();
    const spaceDue = free !== null && free < target;
    if (!keepDue && !spaceDue) return;
    if (keepDue) this.lastKeepCheck = performance.now();
    const candidates = this.list()
      .slice(1)
      .filter((r) => !r.active)
      .reverse();
    for (const r of candidates) {
      const old = keepMs > 0 && now - Date.parse(r.modified_at) > keepMs;
      const room = free !== null && free < target;
      if (!old && !room) continue;
      try {
        this.removeFile(r.name);
        this.log.info(`deleted ${r.name} (${old ? `older than ${Math.round(keepMs / 86_400_000)} days` : `making room: ${spaceText(free ?? 0)} free`})`);
      } catch (e) {
        this.log.warn(`cannot delete ${r.name} to keep the disk from filling: ${(e as Error).message}`);
        continue;
      }
      if (room) free = this.readFree();
    }
  }

  /** The clock is known now: files named before it get their true start time (from the monotonic clock). */
  private renameUnsynced(): void {
    if (this.unsynced.size === 0 || !this.clockSynced()) return;
    const nowMs = this.now();
    for (const [name, perfStart] of this.unsynced) {
      this.unsynced.delete(name);
      const startMs = nowMs - (performance.now() - perfStart);
      const ext = name.slice(name.lastIndexOf('.') + 1);
      let next = `hark-${timestampName(startMs)}.${ext}`;
      for (let i = 1; existsSync(join(this.dir, next)); i++) next = `hark-${timestampName(startMs)}-${i}.${ext}`;
      try {
        renameSync(join(this.dir, name), join(this.dir, next));
      } catch (e) {
        this.log.warn(`cannot rename ${name} now that the clock is known: ${(e as Error).message}`);
        continue;
      }
      try {
        if (existsSync(join(this.dir, cueNameOf(name)))) renameSync(join(this.dir, cueNameOf(name)), join(this.dir, cueNameOf(next)));
      } catch {}
      const idx = this.index();
      if (idx[name]) {
        idx[next] = idx[name]!;
        delete idx[name];
        this.saveIndex();
      }
      if (this.file === join(this.dir, name)) {
        this.file = join(this.dir, next);
        this.fileStarted = startMs;
        this.rotateAt = this.opts.rotateMs > 0 ? (Math.floor(startMs / this.opts.rotateMs) + 1) * this.opts.rotateMs : Infinity;
      }
      if (this.lastClosed?.name === name) this.lastClosed = { ...this.lastClosed, name: next, startedMs: startMs };
      this.log.info(`the clock is synchronised: ${name} is now ${next}`);
    }
  }

  /** While recording: check the room, and that the file is still there (a removed folder writes to nowhere). */
  private guard(): void {
    const w = this.writer;
    if (!this.current) return;
    let gone = false;
    try {
      gone = w !== null && fstatSync(w.fd).nlink === 0;
    } catch {}
    if (gone) return this.endLink(new RecordingIoError(`${this.file} was removed while being recorded`, 'ENOENT'));
    this.renameUnsynced();
    this.prune();
    const low = this.lowSpace();
    if (low) return this.endLink(low);
    this.guardTimer = setTimeout(() => this.guard(), this.guardMs);
  }

  /** The link ends on its own: finish the file (its last pages count), then tell the handler why. */
  private endLink(err: unknown): void {
    const link = this.current;
    if (!link) return;
    void this.finish(link);
    link.end(err);
  }

  /** Finish the link's file and its guard; resolves once the file is on disk. */
  private finish(link: RecordingLink): Promise<void> {
    if (this.current !== link) return Promise.resolve();
    clearTimeout(this.guardTimer);
    const done = this.closeFile();
    this.current = null;
    return done;
  }

  /**
   * The newest recording, when this run may go on writing it: same format (and for MP3 the
   * same bitrate, so the duration stays bytes / bitrate), last written within
   * `continueWithinMs`, and not already due to rotate.
   */
  private continuable(now: number): { name: string; path: string; startedMs: number; bytes: number; durationS: number; agoS: number; flacFrames?: number } | null {
    const within = this.opts.continueWithinMs ?? 0;
    if (within <= 0) return null;
    const newest = this.list()[0];
    // A file this recorder finished itself (Stop then Go live): what it wrote is known exactly,
    // even while its last writes are still on their way to the disk.
    const mine = this.lastClosed;
    if (mine && newest?.name === mine.name) {
      const startedMs = mine.startedMs;
      if (now - mine.at > within) return null;
      if (this.opts.rotateMs > 0 && now >= (Math.floor(startedMs / this.opts.rotateMs) + 1) * this.opts.rotateMs) return null;
      if (this.opts.rotateBytes > 0 && mine.bytes >= this.opts.rotateBytes) return null;
      // FLAC: its frames go on numbered after the last one (whole frames only, never a short one).
      const flacFrames = mine.flacSamples === undefined ? undefined : mine.flacSamples / FLAC_BLOCK_FRAMES;
      if (this.opts.format === 'flac' && !Number.isInteger(flacFrames)) return null;
      return { name: mine.name, path: join(this.dir, mine.name), startedMs, bytes: mine.bytes, durationS: Math.round(mine.durationS * 10) / 10, agoS: Math.round((now - mine.at) / 1000), ...(flacFrames !== undefined ? { flacFrames } : {}) };
    }
    if (!newest || !newest.name.endsWith(`.${EXTENSIONS[this.opts.format]}`)) return null;
    // Another run's file named before the clock was known: its times cannot be trusted.
    if (newest.name.includes(UNSYNCED)) return null;
    const mtime = Date.parse(newest.modified_at);
    if (!(now - mtime <= within && now - mtime >= -5000)) return null;
    const startedMs = Date.parse(newest.started_at);
    if (this.opts.rotateMs > 0 && now >= (Math.floor(startedMs / this.opts.rotateMs) + 1) * this.opts.rotateMs) return null;
    if (this.opts.rotateBytes > 0 && newest.bytes >= this.opts.rotateBytes) return null;
    const path = join(this.dir, newest.name);
    const head = readHead(path, 64);
    if (this.opts.format === 'mp3') {
      if (mp3Kbps(head) !== this.opts.bitrateKbps) return null;
    } else if (this.opts.format === 'flac') {
      // The same channels and bit depth, and its end: the last whole frame (what a crash cut after it is cut off).
      const info = readStreamInfo(head);
      const want = this.flacInfo();
      if (!info || info.channels !== want.channels || info.bitsPerSample !== want.bitsPerSample) return null;
      const end = flacEnd(path, newest.bytes);
      if (!end || end.samples % FLAC_BLOCK_FRAMES !== 0) return null;
      return { name: newest.name, path, startedMs, bytes: end.bytes, durationS: Math.round((end.samples / 48000) * 10) / 10, agoS: Math.round((now - mtime) / 1000), flacFrames: end.samples / FLAC_BLOCK_FRAMES };
    } else {
      const at = findBytes(head, OPUS_HEAD);
      if (at < 0 || head[at + 9] !== this.opts.channels) return null;
    }
    if (newest.duration_s === null) return null;
    return { name: newest.name, path, startedMs, bytes: newest.bytes, durationS: newest.duration_s, agoS: Math.round((now - mtime) / 1000) };
  }

  private openFile(continueOk = true): void {
    const start = this.now();
    const ext = EXTENSIONS[this.opts.format];
    const cont = continueOk ? this.continuable(start) : null;
    // Before the clock is known the name says so; renameUnsynced() gives it its true time later.
    const mark = this.clockSynced() ? '' : UNSYNCED;
    let path = join(this.dir, `hark-${timestampName(start)}${mark}.${ext}`);
    if (cont) path = cont.path;
    else for (let i = 1; existsSync(path); i++) path = join(this.dir, `hark-${timestampName(start)}-${i}${mark}.${ext}`);
    try {
      // O_APPEND: every write lands at the end even if something else touched the file.
      // A continued file may still be being finished by the previous writer (Stop then Go live
      // at once): its last pages go first, so the two never interleave.
      let after: Promise<unknown> | undefined = cont && this.closing.size ? Promise.all([...this.closing]) : undefined;
      // A continued FLAC file: cut after its last whole frame, its STREAMINFO back to "unknown length", before a byte is appended.
      if (cont?.flacFrames !== undefined) after = (after ?? Promise.resolve()).then(() => this.reopenFlac(path, cont.bytes));
      const w: AppendWriter = new AppendWriter(openSync(path, 'a', 0o644), (err) => this.writeFailed(w, err), after, this.opts.write);
      this.writer = w;
    } catch (e) {
      throw ioError(`cannot create ${path}`, e);
    }
    this.file = path;
    if (mark && !cont) this.unsynced.set(path.slice(this.dir.length + 1), performance.now());
    this.fileStarted = cont ? cont.startedMs : start;
    this.fileBytes = cont ? cont.bytes : 0;
    this.fileFrames = 0;
    this.fileBaseS = cont ? cont.durationS : 0;
    this.fileContinued = !!cont;
    if (!cont) this.filesStarted++;
    this.opts.alerts.clear('recording.failed');
    this.rotateAt = this.opts.rotateMs > 0 ? (Math.floor(this.fileStarted / this.opts.rotateMs) + 1) * this.opts.rotateMs : Infinity;
    if (cont && this.opts.format === 'ogg-opus') {
      // The new chain link's granule positions start from 0: what came before is kept here.
      (this.index()[cont.name] ??= {}).before_last_link_s = cont.durationS;
      this.saveIndex();
    }
    if (this.opts.format === 'ogg-opus') {
      this.muxer = new OggOpusMuxer({
        channels: this.opts.channels,
        preSkip: OPUS_PRE_SKIP,
        maxPageMs: PAGE_MS,
        tags: { ENCODER: `hark/${VERSION}`, DATE: new Date(start).toISOString() },
      });
      for (const page of this.muxer.flush()) this.queue(page);
    }
    if (this.opts.format === 'flac' && cont) {
      this.flac = new FlacFramer(cont.flacFrames ?? 0);
    } else if (this.opts.format === 'flac') {
      // STREAMINFO says 0 samples (unknown) and no MD5 while the file grows: a file cut by a crash
      // still decodes to its last whole frame. A clean finish fills the total in (closeFile).
      this.flac = new FlacFramer();
      this.queue(flacFileHeader(this.flacInfo(), { ENCODER: `hark/${VERSION}`, DATE: new Date(start).toISOString() }, FLAC_PADDING));
    }
    this.log.info(cont ? `continuing ${path} (${cont.durationS} s so far, last written ${cont.agoS} s ago)` : `recording to ${path}`);
  }

  private indexCache?: Record<string, IndexEntry>;
  private readonly durations = new Map<string, { key: string; s: number | null }>();

  /** `.hark-recordings.json`: per continued Ogg file, the seconds of audio before its last link. */
  private index(): Record<string, IndexEntry> {
    if (!this.indexCache) {
      try {
        this.indexCache = cleanIndex(JSON.parse(readFileSync(join(this.dir, INDEX_FILE), 'utf8')));
      } catch {
        this.indexCache = {};
      }
    }
    return this.indexCache!;
  }

  private saveIndex(): void {
    const path = join(this.dir, INDEX_FILE);
    try {
      writeFileSync(`${path}.tmp`, JSON.stringify(this.index()));
      renameSync(`${path}.tmp`, path);
    } catch (e) {
      this.log.warn(`cannot write ${path}: ${(e as Error).message} (durations of continued files may show short)`);
    }
  }

  /** Seconds of audio in a recording, from its bytes (MP3) or last granule position (Ogg); cached by size and time. */
  private durationOf(name: string, bytes: number, mtimeMs: number): number | null {
    const key = `${bytes}:${mtimeMs}`;
    const hit = this.durations.get(name);
    if (hit?.key === key) return hit.s;
    let s: number | null = null;
    try {
      const path = join(this.dir, name);
      if (name.endsWith('.mp3')) {
        // A file after a rotation starts inside a frame (the encoder's output is a byte stream): the first whole one says.
        const kbps = mp3KbpsIn(readHead(path, 4096));
        s = kbps ? (bytes * 8) / (kbps * 1000) : null;
      } else if (name.endsWith('.opus')) {
        const g = lastGranule(path, bytes);
        s = g === null ? null : (this.index()[name]?.before_last_link_s ?? 0) + Math.max(0, g - OPUS_PRE_SKIP) / 48000;
      } else if (name.endsWith('.flac')) {
        const n = flacSamples(path, bytes);
        s = n === null ? null : n / 48000;
      }
    } catch {
      s = null;
    }
    if (s !== null) s = Math.round(s * 10) / 10;
    this.durations.set(name, { key, s });
    return s;
  }

  /** Finish the current file: its last pages, then (off the thread pool) fdatasync and close. */
  private closeFile(): Promise<void> {
    const w = this.writer;
    if (w === null) return Promise.resolve();
    if (this.muxer) {
      try {
        for (const page of this.muxer.end()) this.queue(page);
      } catch {}
      this.muxer = undefined;
    }
    this.handOver(w);
    this.writer = null;
    const file = this.file;
    const bytes = this.fileBytes;
    const flacSamples = this.flac?.samples ?? null;
    this.flac = undefined;
    // After a failed write the file holds less than was queued: a continue reads it from the disk.
    if (w.error) this.lastClosed = null;
    else if (file) this.lastClosed = { name: file.slice(this.dir.length + 1), bytes, durationS: this.fileBaseS + this.fileFrames / 48000, startedMs: this.fileStarted, at: this.now(), ...(flacSamples !== null ? { flacSamples } : {}) };
    const done = w.close().then(async () => {
      if (flacSamples !== null && file && !w.error) await this.fillStreamInfo(file, flacSamples);
      this.closing.delete(done);
      if (w.error) this.log.warn(`${file} ends early: ${w.error.message}`);
      else this.log.info(`finished ${file} (${bytes} bytes)`);
    });
    this.closing.add(done);
    this.file = null;
    return done;
  }

  /** The STREAMINFO of the FLAC files this recorder writes (total samples: unknown). */
  private flacInfo() {
    const spec = this.opts.spec;
    return { channels: this.opts.channels, bitsPerSample: spec.codec === 'flac' ? spec.bitsPerSample : 16 };
  }

  /**
   * A FLAC file finished cleanly: its STREAMINFO gets the total samples (RFC 9639 §8.2), so
   * players show the length and can seek. Written in place, 34 bytes at STREAMINFO_AT, off the
   * main thread; a failure only leaves it "unknown", as after a crash.
   */
  private async fillStreamInfo(file: string, samples: number): Promise<void> {
    let fh;
    try {
      fh = await openAsync(file, 'r+');
      await fh.write(streamInfo({ ...this.flacInfo(), totalSamples: samples }), 0, 34, STREAMINFO_AT);
      await fh.datasync();
    } catch (e) {
      this.log.warn(`cannot write the length into ${file}: ${(e as Error).message} (it plays, its length shows as unknown)`);
    } finally {
      await fh?.close().catch(() => {});
    }
  }

  /**
   * Before a continued FLAC file gets new frames: cut it after its last whole frame (`bytes`),
   * and set STREAMINFO's total back to 0 (unknown) until this run finishes it.
   */
  private async reopenFlac(file: string, bytes: number): Promise<void> {
    let fh;
    try {
      fh = await openAsync(file, 'r+');
      if ((await fh.stat()).size > bytes) await fh.truncate(bytes);
      await fh.write(streamInfo(this.flacInfo()), 0, 34, STREAMINFO_AT);
    } catch (e) {
      this.log.warn(`cannot prepare ${file} to go on: ${(e as Error).message}`);
    } finally {
      await fh?.close().catch(() => {});
    }
  }

  /** A new file within the same link (time or size limit); a full disk or a failed open ends the link. */
  private rotate(): void {
    void this.closeFile();
    const low = this.lowSpace();
    if (low) return this.endLink(low);
    try {
      this.openFile(false);
    } catch (e) {
      this.endLink(e);
    }
  }
}

const INDEX_FILE = '.hark-recordings.json';

/** The index as read from disk, keeping only well-formed entries (a hand-edited or torn file loses nothing else). */
function cleanIndex(raw: unknown): Record<string, IndexEntry> {
  const out: Record<string, IndexEntry> = Object.create(null);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return out;
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!NAME_RE.test(name) || !v || typeof v !== 'object') continue;
    const e = v as Record<string, unknown>;
    const entry: IndexEntry = {};
    if (typeof e.before_last_link_s === 'number' && Number.isFinite(e.before_last_link_s)) entry.before_last_link_s = e.before_last_link_s;
    if (Array.isArray(e.marks)) {
      entry.marks = e.marks
        .filter((m): m is RecordingMark => !!m && typeof m.offset_s === 'number' && Number.isFinite(m.offset_s) && typeof m.label === 'string' && typeof m.at === 'string')
        .slice(0, MAX_MARKS)
        .map((m) => ({ offset_s: m.offset_s, label: m.label.slice(0, 200), at: m.at }));
    }
    out[name] = entry;
  }
  return out;
}
const OPUS_HEAD = new TextEncoder().encode('OpusHead');
const OGGS = new TextEncoder().encode('OggS');
/** MPEG-1 Layer III bitrates by header index (ISO/IEC 11172-3 §2.4.2.3). */
const MP3_KBPS = [0, ...MP3_BITRATES_KBPS];

function readHead(path: string, n: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** The bitrate of an MPEG-1 Layer III frame header at the start of `b`, or null. */
export function mp3Kbps(b: Uint8Array): number | null {
  if (b.length < 4 || b[0] !== 0xff || (b[1]! & 0xfe) !== 0xfa) return null;
  return MP3_KBPS[b[2]! >> 4] || null;
}

/**
 * The bitrate of the first whole MPEG-1 Layer III frame in `b`: a header whose frame is
 * followed by another header (so a chance 0xFFF in the middle of a frame is not taken).
 */
export function mp3KbpsIn(b: Uint8Array): number | null {
  for (let o = 0; o + 4 <= b.length; o++) {
    const kbps = mp3Kbps(b.subarray(o, o + 4));
    const rate = [44_100, 48_000, 32_000][(b[o + 2]! >> 2) & 3];
    if (!kbps || !rate) continue;
    const next = o + Math.floor((144_000 * kbps) / rate) + ((b[o + 2]! >> 1) & 1);
    if (next + 4 > b.length) return o === 0 ? kbps : null;
    if (mp3Kbps(b.subarray(next, next + 4)) === kbps) return kbps;
  }
  return null;
}

function findBytes(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Samples in a FLAC file: STREAMINFO's total once it was finished, else (being written, or cut
 * by a crash) the end of the last whole frame in its last 192 kB (a 24-bit stereo frame of 4096
 * samples is at most ~25 kB).
 */
export function flacSamples(path: string, size: number): number | null {
  const head = readHead(path, STREAMINFO_AT + 34);
  if (head.length < STREAMINFO_AT + 34 || head[0] !== 0x66 || head[1] !== 0x4c || head[2] !== 0x61 || head[3] !== 0x43) return null;
  const total = streamInfoTotal(head.subarray(STREAMINFO_AT));
  if (total > 0) return total;
  return flacEnd(path, size)?.samples ?? 0;
}

/** Where a FLAC file's last whole frame ends (bytes from the start) and the samples up to there; null without one. */
function flacEnd(path: string, size: number): { bytes: number; samples: number } | null {
  const n = Math.min(size, 192 * 1024);
  const fd = openSync(path, 'r');
  try {
    const tail = new Uint8Array(n);
    const last = lastWholeFrame(tail.subarray(0, readSync(fd, tail, 0, n, size - n)));
    return last ? { bytes: size - n + last.end, samples: last.samples } : null;
  } finally {
    closeSync(fd);
  }
}

/**
 * The granule position of the last complete Ogg page with one (RFC 3533 §6: bytes 6–13), read
 * from the file's last 64 kB (a page is at most 65,307 bytes; hark's are ~100 ms). A page cut
 * short by a crash is skipped.
 */
export function lastGranule(path: string, size: number): number | null {
  const n = Math.min(size, 65_536 + 65_307);
  const fd = openSync(path, 'r');
  let tail: Uint8Array;
  try {
    tail = new Uint8Array(n);
    tail = tail.subarray(0, readSync(fd, tail, 0, n, size - n));
  } finally {
    closeSync(fd);
  }
  const v = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let best: number | null = null;
  for (let at = findBytes(tail, OGGS); at >= 0; at = findBytes(tail, OGGS, at + 1)) {
    if (at + 27 > tail.length) break;
    const segs = tail[at + 26]!;
    if (at + 27 + segs > tail.length) break;
    let body = 0;
    for (let i = 0; i < segs; i++) body += tail[at + 27 + i]!;
    if (at + 27 + segs + body > tail.length) break;
    const lo = v.getUint32(at + 6, true);
    const hi = v.getInt32(at + 10, true);
    if (!(lo === 0xffffffff && hi === -1)) best = hi * 2 ** 32 + lo;
  }
  return best;
}

/** Newest first: by start time, then by the collision suffix ("-1" is later than none). */
function order(name: string): number {
  const m = name.match(/^hark-(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})Z(?:-(\d+))?(?:-unsynced)?\./)!;
  return Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`) + Number(m[5] ?? 0);
}

/**
 * Free space as people read it, the same on every page and in the alerts: "75.2 GB", "0.4 GB";
 * under a tenth of a GB in MB ("45 MB", "2.2 MB"), so a nearly full disk does not read "0.0 GB".
 */
export function spaceText(bytes: number): string {
  const gb = bytes / 2 ** 30;
  if (gb >= 0.1) return `${gb.toFixed(1)} GB`;
  const mb = bytes / 2 ** 20;
  return `${mb < 10 ? mb.toFixed(1) : Math.round(mb)} MB`;
}

function startedAt(name: string): string {
  const m = name.match(/^hark-(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})Z/)!;
  return `${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`;
}

function contentTypeOf(name: string): string {
  return CONTENT_TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
}

export { contentTypeOf };
