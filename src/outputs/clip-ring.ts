/**
 * The clip of what happened (issue 17, item 2): a ring in memory that always holds the last
 * RING_S of encoded Opus, and, when silence or a lost input is raised, an Ogg/Opus file with
 * the CLIP_S before the alert (written at once) and the CLIP_S after it (appended as it comes,
 * whole Ogg pages at a time, so the file plays at every moment). Nothing touches the disk while
 * nothing happens. The file's name is clipFile() (clip-name.ts): the notifiers link to it by
 * that name before the clip is complete.
 *
 * Clips are bounded: at most MAX_CLIPS files and MAX_CLIP_BYTES in all, oldest removed first.
 */
import { mkdirSync, openSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { EncoderSpec } from '../codecs/index.ts';
import { MAX_DELAY_MS } from '../audio/pipeline.ts';
import type { EncodedPacket } from '../codecs/encoder.ts';
import { OggOpusMuxer } from '../codecs/ogg.ts';
import { logger } from '../log.ts';
import { INPUT_LOST_ALERT, type AlertEvent, type Alerts } from './alerts.ts';
import { CLIPS_DIR, clipFile } from './clip-name.ts';
import { OPUS_PRE_SKIP } from './icecast/output.ts';
import type { PacketSource } from './packet-source.ts';
import { AppendWriter } from './recorder.ts';
import { VERSION } from '../version.ts';

/** Seconds kept before the alert, and recorded after it. */
export const CLIP_S = 15;
/** Packets of Opus the decoder gets before the clip's first sample, so it starts settled (RFC 7845 §4.6: 80 ms). */
const PREROLL_S = 0.08;
/** The alerts that get a clip. */
export const CLIP_ALERTS: readonly string[] = ['silence', INPUT_LOST_ALERT];
/** At most this many clips are kept… */
export const MAX_CLIPS = 100;
/** …and this many bytes of them (about 200 clips of 30 s at 48 kbit/s). */
export const MAX_CLIP_BYTES = 40 * 1024 * 1024;
/** What a clip's name looks like (clipName()): anything else is not served. */
export const CLIP_NAME_RE = /^[a-z0-9][a-z0-9-]{0,63}-(\d{8}-\d{6}|unknown)\.opus$/i;

export interface ClipInfo {
  name: string;
  bytes: number;
  /** When the alert began (ISO 8601, from the name), or null for a name without the time. */
  since: string | null;
  /** When the file was last written. */
  modified_at: string;
  /** Still being written (the 15 s after have not all come yet). */
  active: boolean;
}

interface Packet {
  data: Uint8Array;
  frames: number;
}

/** One clip being written: the muxer and the file until CLIP_S of audio after the alert have come. */
class ClipWriter {
  private framesLeft: number;
  constructor(
    readonly name: string,
    private readonly muxer: OggOpusMuxer,
    private readonly writer: AppendWriter,
    after: number,
  ) {
    this.framesLeft = after;
  }

  /** Feed one packet; true once the clip is complete. */
  add(p: Packet): boolean {
    this.writer.append(this.muxer.writePacket(p.data, p.frames));
    this.framesLeft -= p.frames;
    return this.framesLeft <= 0;
  }

  /** Ends the stream (EOS) and closes the file. */
  finish(): Promise<void> {
    this.writer.append(this.muxer.end());
    return this.writer.close();
  }
}

export interface ClipRingOptions {
  /** The recording folder; clips go to its `clips/` folder. */
  dir: string;
  spec: EncoderSpec;
  channels: number;
  alerts: Alerts;
  /** Seconds before and after (tests shorten it). */
  clipS?: number;
}

export class ClipRing {
  readonly dir: string;
  private readonly ring: (Packet | undefined)[];
  private head = 0;
  private count = 0;
  private readonly writers = new Map<string, ClipWriter>();
  private unsubscribe?: () => void;
  private offAlerts?: () => void;
  private readonly log = logger('clips');
  private readonly clipFrames: number;

  constructor(
    private readonly source: PacketSource,
    private readonly opts: ClipRingOptions,
  ) {
    this.dir = resolve(opts.dir);
    const clipS = opts.clipS ?? CLIP_S;
    this.clipFrames = Math.round(clipS * 48_000);
    const frameMs = opts.spec.codec === 'opus' ? opts.spec.frameMs : 20;
    // Bounded: (clip + pre-roll) of packets, plus one second of slack.
    this.ring = new Array(Math.ceil(((clipS + PREROLL_S + 1) * 1000) / frameMs));
  }

  get clipsDir(): string {
    return join(this.dir, CLIPS_DIR);
  }

  /** Start filling the ring and watching the alerts. Idempotent. */
  start(): void {
    if (this.unsubscribe) return;
    // Not urgent: the ring is read only when an alert comes, so it must not hold the capture at
    // its low latency (input.latency_frames) as a listener's stream does.
    this.unsubscribe = this.source.subscribe(this.opts.spec, (p) => this.onPacket(p), { maxDelayMs: MAX_DELAY_MS.relay });
    this.offAlerts = this.opts.alerts.on((e) => this.onAlert(e));
  }

  /** Stop; clips being written are ended where they are (still valid files). */
  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.offAlerts?.();
    this.offAlerts = undefined;
    const done = [...this.writers.values()].map((w) => w.finish());
    this.writers.clear();
    await Promise.all(done);
  }

  private onPacket(p: EncodedPacket): void {
    const packet = { data: p.data.slice(), frames: p.frames };
    this.ring[this.head] = packet;
    this.head = (this.head + 1) % this.ring.length;
    this.count = Math.min(this.count + 1, this.ring.length);
    for (const [name, w] of this.writers) {
      if (w.add(packet)) {
        this.writers.delete(name);
        void w.finish().then(() => this.log.info(`clip ${name} complete`));
      }
    }
  }

  private onAlert(e: AlertEvent): void {
    if (e.type !== 'raised' || !CLIP_ALERTS.includes(e.alert.id)) return;
    const path = clipFile(this.dir, e.alert.id, e.alert.since);
    const name = path.slice(path.lastIndexOf('/') + 1);
    // A raised alert whose message changed comes again with the same since: one clip.
    if (this.writers.has(name)) return;
    try {
      mkdirSync(this.clipsDir, { recursive: true });
      this.prune(name);
      const fd = openSync(path, 'wx', 0o644);
      const muxer = new OggOpusMuxer({
        channels: this.opts.channels,
        preSkip: OPUS_PRE_SKIP,
        maxPageMs: 100,
        tags: { ENCODER: `hark/${VERSION}`, TITLE: `${e.alert.id}: ${e.alert.message}`, DATE: e.alert.since },
      });
      const w = new AppendWriter(fd, (err) => this.log.warn(`writing ${path}: ${err.message}`));
      // The CLIP_S before, at once (and 80 ms more, so the decoder has settled by then).
      const before = this.last(this.clipFrames + Math.round(PREROLL_S * 48_000));
      const pages: Uint8Array[] = [];
      for (const p of before) pages.push(...muxer.writePacket(p.data, p.frames));
      pages.push(...muxer.flush());
      w.append(pages);
      this.writers.set(name, new ClipWriter(name, muxer, w, this.clipFrames));
      this.log.info(`clip ${name}: ${(before.reduce((n, p) => n + p.frames, 0) / 48_000).toFixed(1)} s before ${e.alert.id}, ${this.clipFrames / 48_000} s after to come`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      this.log.warn(`cannot write the clip ${path}: ${(err as Error).message}`);
    }
  }

  /** The newest packets holding at least `frames` samples, oldest first. */
  private last(frames: number): Packet[] {
    const out: Packet[] = [];
    let n = 0;
    for (let i = 1; i <= this.count && n < frames; i++) {
      const p = this.ring[(this.head - i + this.ring.length) % this.ring.length]!;
      out.push(p);
      n += p.frames;
    }
    return out.reverse();
  }

  /** The clips on disk, newest first. */
  list(): ClipInfo[] {
    let names: string[];
    try {
      names = readdirSync(this.clipsDir);
    } catch {
      return [];
    }
    const out: ClipInfo[] = [];
    for (const name of names) {
      if (!CLIP_NAME_RE.test(name)) continue;
      try {
        const st = statSync(join(this.clipsDir, name));
        const m = /-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})\.opus$/.exec(name);
        const since = m ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`) : null;
        const sinceIso = since && Number.isFinite(since.getTime()) ? since.toISOString() : null;
        if (st.isFile()) out.push({ name, bytes: st.size, since: sinceIso, modified_at: st.mtime.toISOString(), active: this.writers.has(name) });
      } catch {}
    }
    return out.sort((a, b) => (a.modified_at < b.modified_at ? 1 : a.modified_at > b.modified_at ? -1 : a.name < b.name ? 1 : -1));
  }

  /** A clip's path by name, or null for a name that is not a clip's or a clip that is not there. */
  pathOf(name: string): string | null {
    if (!CLIP_NAME_RE.test(name)) return null;
    const path = join(this.clipsDir, name);
    try {
      return statSync(path).isFile() ? path : null;
    } catch {
      return null;
    }
  }

  /** Room for one more: the oldest finished clips go past MAX_CLIPS - 1 files or MAX_CLIP_BYTES. */
  private prune(keep: string): void {
    const clips = this.list().filter((c) => !c.active && c.name !== keep);
    let bytes = clips.reduce((n, c) => n + c.bytes, 0);
    let n = clips.length;
    for (const c of clips.reverse()) {
      if (n < MAX_CLIPS && bytes <= MAX_CLIP_BYTES - 1024 * 1024) break;
      try {
        unlinkSync(join(this.clipsDir, c.name));
        this.log.info(`removed the old clip ${c.name} (at most ${MAX_CLIPS} clips, ${MAX_CLIP_BYTES >> 20} MB)`);
      } catch {}
      n--;
      bytes -= c.bytes;
    }
  }
}
