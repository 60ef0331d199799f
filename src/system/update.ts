/**
 * Updates with rollback (issue 16): a signed release (release.ts) is unpacked beside the running
 * hark, on the data partition, and hark restarts into it on trial. /usr/lib/hark/launch (the
 * image's hark.service ExecStart) picks the tree to run; hark's health probe (service.ts)
 * confirms the trial once the new version serves with its audio clock moving, and the launcher
 * goes back to the previous version by itself when the new one does not get there.
 *
 * The update directory (HARK_UPDATE_DIR, /var/lib/hark/update on the box):
 *   releases/<version>/   unpacked trees (the running one and the one before it)
 *   current               symlink → releases/<version>; absent: the image's own /opt/hark
 *   previous              symlink → releases/<version>; absent: /opt/hark
 *   trial                 "<version> <starts>": installed, not yet confirmed healthy
 *   pending.json          what the trial is (from, to, when, who asked)
 *   last.json             the last outcome: installed, or rolled back and why (the page shows it)
 *   .incoming-<version>/  an unpack in progress (removed at the next start if left by a power cut)
 *
 * Power cuts: every step before the rename of `current` leaves the old version running at the
 * next boot; the rename is atomic; after it the trial rules apply (launch). Each file is written
 * to a temporary name, synced, and renamed.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, statfsSync, symlinkSync, writeFileSync, openSync, fsyncSync, closeSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../log.ts';
import { VERSION } from '../version.ts';
import { ReleaseError, checkRelease, publicKeyOf, type ReleaseHeader } from './release.ts';

const log = logger('update');

export interface UpdatePaths {
  dir: string;
  /** The image's own hark (the factory version). */
  factoryRoot: string;
  /** The release public key (PEM); updates are off without it. */
  keyFile: string;
}

export function updatePaths(env: Record<string, string | undefined> = process.env): UpdatePaths {
  return {
    dir: env.HARK_UPDATE_DIR ?? '/var/lib/hark/update',
    factoryRoot: env.HARK_FACTORY_ROOT ?? '/opt/hark',
    keyFile: env.HARK_RELEASE_KEY_FILE ?? '/usr/lib/hark/release-key.pem',
  };
}

export interface UpdateOutcome {
  at: string;
  /** installed; rolled back (the launcher, or the trial timer); interrupted: it did not finish installing (the launcher). */
  outcome: 'installed' | 'rolled-back' | 'interrupted';
  from: string;
  to: string;
  message: string;
}

export interface UpdateStatus {
  version: string;
  /** The tree running: the image's own (factory) or an installed release. */
  running_from: 'image' | 'update';
  /** Can this hark install updates (started by the launcher, with a release key)? */
  available: boolean;
  /** Why not, when not. */
  unavailable_reason?: string;
  /** A version installed and on trial (not yet confirmed healthy). */
  trial?: string;
  last?: UpdateOutcome;
  /** The version the launcher goes back to if this one fails. */
  previous: string;
  /** Debian's own updates waiting (hark-apt-check.timer; installed by `sudo hark system upgrade`), when checked. */
  debian?: DebianUpdates;
}

export interface DebianUpdates {
  checked_at: string;
  pending: number | null;
  security: number | null;
  error: string | null;
}

/** What /usr/lib/hark/system-upgrade check last found (HARK_APT_PENDING_FILE), or undefined. */
export function debianUpdates(file = process.env.HARK_APT_PENDING_FILE ?? '/var/lib/hark/apt/pending.json'): DebianUpdates | undefined {
  const d = readJson<Partial<DebianUpdates>>(file);
  if (!d || typeof d.checked_at !== 'string') return undefined;
  const n = (x: unknown) => (typeof x === 'number' && Number.isInteger(x) && x >= 0 ? x : null);
  return { checked_at: d.checked_at, pending: n(d.pending), security: n(d.security), error: typeof d.error === 'string' ? d.error.slice(0, 300) : null };
}

function syncPath(path: string): void {
  try {
    const fd = openSync(path, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // A directory that cannot be opened for sync (some file systems): the rename still holds.
  }
}

/** Write a small file atomically: temp, fsync, rename, fsync the directory. */
function writeAtomic(dir: string, name: string, text: string): void {
  const tmp = join(dir, `.${name}.tmp`);
  writeFileSync(tmp, text);
  syncPath(tmp);
  renameSync(tmp, join(dir, name));
  syncPath(dir);
}

function linkAtomic(dir: string, name: string, target: string): void {
  const tmp = join(dir, `.${name}.new`);
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, join(dir, name));
  syncPath(dir);
}

/**
 * The files below are read at every /api/status, which the watchdog's health probe asks for
 * every 10 s: a missing file (the usual case) is found by existsSync, not by an exception, whose
 * stack trace and error object would run code an idle hark otherwise never runs.
 */
function linkTarget(dir: string, name: string): string | undefined {
  const path = join(dir, name);
  try {
    return existsSync(path) && lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
  } catch {
    return undefined;
  }
}

const versionOfTarget = (t: string | undefined) => (t?.startsWith('releases/') ? t.slice('releases/'.length) : undefined);

function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export class Updater {
  private installing = false;

  constructor(
    readonly paths: UpdatePaths = updatePaths(),
    private readonly env: Record<string, string | undefined> = process.env,
    private readonly exit: (code: number) => void = (code) => process.exit(code),
  ) {}

  /** Why this hark cannot install updates, or undefined when it can. */
  unavailableReason(): string | undefined {
    if (this.env.HARK_LAUNCHER !== '1') return 'updates are installed on a hark box (this hark was not started by its launcher, /usr/lib/hark/launch)';
    if (!existsSync(this.paths.keyFile)) return `this box has no release key (${this.paths.keyFile})`;
    return undefined;
  }

  status(): UpdateStatus {
    const d = this.paths.dir;
    const reason = this.unavailableReason();
    const trial = (() => {
      if (!existsSync(join(d, 'trial'))) return undefined;
      try {
        return readFileSync(join(d, 'trial'), 'utf8').trim().split(/\s+/)[0];
      } catch {
        return undefined;
      }
    })();
    const last = readJson<UpdateOutcome>(join(d, 'last.json'));
    const debian = debianUpdates();
    return {
      version: VERSION,
      running_from: this.env.HARK_ROOT && this.env.HARK_ROOT !== this.paths.factoryRoot ? 'update' : 'image',
      available: !reason,
      ...(reason ? { unavailable_reason: reason } : {}),
      ...(trial ? { trial } : {}),
      ...(last ? { last } : {}),
      previous: versionOfTarget(linkTarget(d, 'previous')) ?? this.factoryVersion(),
      ...(debian ? { debian } : {}),
    };
  }

  private factoryVersion(): string {
    // The image's own tree does not change while hark runs: read once.
    this.factory ??= readJson<{ version?: string }>(join(this.paths.factoryRoot, 'package.json'))?.version ?? 'the image’s version';
    return this.factory;
  }
  private factory?: string;

  /**
   * Install the release in `file`: checked whole (signature, product, architecture, version,
   * payload), unpacked beside the running version, made current on trial. Then hark exits so
   * the launcher starts the new version (`restart` false: the caller restarts). Throws
   * ReleaseError with the reason; nothing has changed then.
   */
  async install(file: string, opts: { allowDowngrade?: boolean; origin: string; restart?: boolean }): Promise<{ header: ReleaseHeader; message: string }> {
    const reason = this.unavailableReason();
    if (reason) throw new ReleaseError(`cannot update here: ${reason}`, 'file');
    if (this.installing) throw new ReleaseError('an update is already being installed', 'file');
    this.installing = true;
    try {
      const key = publicKeyOf(readFileSync(this.paths.keyFile, 'utf8'));
      const { header, payloadOffset } = checkRelease(file, key, { running: VERSION, allowDowngrade: opts.allowDowngrade });
      const d = this.paths.dir;
      const releases = join(d, 'releases');
      mkdirSync(releases, { recursive: true });
      const fs = statfsSync(d);
      const free = fs.bavail * fs.bsize;
      // Unpacked, a release is about 2.5× its gzip'd payload; keep a margin for recordings.
      const need = header.payload.size * 3 + 64 * 1024 * 1024;
      if (free < need) {
        throw new ReleaseError(`not enough space on the data partition to unpack it: ${Math.round(free / 1048576)} MB free, ${Math.round(need / 1048576)} MB needed`, 'space');
      }
      const v = header.version;
      const incoming = join(d, `.incoming-${v}`);
      rmSync(incoming, { recursive: true, force: true });
      mkdirSync(incoming);
      // The directory is the launcher's sign that an install was under way: on disk before the
      // unpack starts, or a power cut in the next seconds (ext4 commits every 5 s) loses it and
      // the next boot shows an older outcome instead of "did not finish installing" (the boot
      // test's power cut caught this).
      syncPath(d);
      log.info(`installing hark ${v} (${opts.origin}): unpacking`);
      const tar = Bun.spawn(['tar', '-xzf', '-', '-C', incoming, '--no-same-owner'], { stdin: 'pipe', stdout: 'ignore', stderr: 'pipe' });
      const errText = new Response(tar.stderr).text();
      // The payload through a pipe, a chunk at a time (Bun hands a file's slice to a child as
      // the whole file, from its start).
      const fd = openSync(file, 'r');
      try {
        for (let off = payloadOffset; ; ) {
          const chunk = Buffer.alloc(1 << 20);
          const n = readSync(fd, chunk, 0, chunk.length, off);
          if (n === 0) break;
          off += n;
          tar.stdin.write(chunk.subarray(0, n));
          await tar.stdin.flush();
        }
        await tar.stdin.end();
      } catch {
        // tar stopped reading (a damaged payload): its exit code and message say why.
      } finally {
        closeSync(fd);
      }
      const [code, err] = await Promise.all([tar.exited, errText]);
      if (code !== 0) {
        rmSync(incoming, { recursive: true, force: true });
        throw new ReleaseError(`the release could not be unpacked: ${err.trim().split('\n').slice(-2).join('; ') || `tar exited ${code}`}`, 'payload');
      }
      const bad = (why: string) => {
        rmSync(incoming, { recursive: true, force: true });
        return new ReleaseError(`the release is incomplete: ${why}`, 'payload');
      };
      try {
        if ((statSync(join(incoming, 'bin/bun')).mode & 0o111) === 0) throw bad('bin/bun is not executable');
      } catch (e) {
        if (e instanceof ReleaseError) throw e;
        throw bad('it has no bin/bun');
      }
      if (!existsSync(join(incoming, 'src/main.ts'))) throw bad('it has no src/main.ts');
      const pkgVersion = readJson<{ version?: string }>(join(incoming, 'package.json'))?.version;
      if (pkgVersion !== v) throw bad(`its package.json says ${String(pkgVersion)}, its header ${v}`);
      // Everything unpacked is on disk before it is named.
      Bun.spawnSync(['sync', '-f', incoming]);
      const target = join(releases, v);
      const cur = linkTarget(d, 'current');
      if (cur === `releases/${v}`) rmSync(join(d, 'current'), { force: true });
      rmSync(target, { recursive: true, force: true });
      renameSync(incoming, target);
      syncPath(releases);
      const from = VERSION;
      writeAtomic(d, 'pending.json', `${JSON.stringify({ at: new Date().toISOString(), from, to: v, origin: opts.origin })}\n`);
      // What to go back to: the version running now.
      if (cur && cur !== `releases/${v}` && this.env.HARK_ROOT && this.env.HARK_ROOT !== this.paths.factoryRoot) linkAtomic(d, 'previous', cur);
      else rmSync(join(d, 'previous'), { force: true });
      syncPath(d);
      writeAtomic(d, 'trial', `${v} 0\n`);
      // The switch: one atomic rename. From here the launcher starts the new version on trial.
      linkAtomic(d, 'current', `releases/${v}`);
      this.prune();
      const message = `hark ${v} is installed; hark restarts into it now (from ${from}). If it does not start and serve within 90 s, ${from} comes back by itself.`;
      log.info(message);
      if (opts.restart !== false) setTimeout(() => this.exit(0), 300);
      return { header, message };
    } finally {
      this.installing = false;
    }
  }

  /** Keep only the current and previous releases. */
  private prune(): void {
    const d = this.paths.dir;
    const keep = new Set([linkTarget(d, 'current'), linkTarget(d, 'previous')].map(versionOfTarget).filter(Boolean));
    for (const name of readdirSync(join(d, 'releases'))) {
      if (keep.has(name)) continue;
      rmSync(join(d, 'releases', name), { recursive: true, force: true });
      log.info(`removed the old release ${name}`);
    }
  }

  /**
   * The version on trial is healthy (service.ts, after its health probe saw HTTP answer and the
   * audio clock move): confirm it. Returns the outcome written, or undefined when no trial of
   * this version was open.
   */
  confirmTrial(): UpdateOutcome | undefined {
    const d = this.paths.dir;
    let trial: string | undefined;
    try {
      trial = readFileSync(join(d, 'trial'), 'utf8').trim().split(/\s+/)[0];
    } catch {
      return undefined;
    }
    if (trial !== VERSION || this.env.HARK_UPDATE_TRIAL !== VERSION) return undefined;
    const pending = readJson<{ from?: string; to?: string }>(join(d, 'pending.json'));
    const outcome: UpdateOutcome = {
      at: new Date().toISOString(),
      outcome: 'installed',
      from: pending?.from ?? '?',
      to: VERSION,
      message: `Updated from ${pending?.from ?? 'the earlier version'} to ${VERSION}: it started and serves audio.`,
    };
    writeAtomic(d, 'last.json', `${JSON.stringify(outcome)}\n`);
    rmSync(join(d, 'trial'), { force: true });
    rmSync(join(d, 'pending.json'), { force: true });
    syncPath(d);
    log.info(outcome.message);
    return outcome;
  }
}

let shared: Updater | undefined;
/** The process's updater (one install at a time, whoever asks). */
export function theUpdater(): Updater {
  shared ??= new Updater();
  return shared;
}
