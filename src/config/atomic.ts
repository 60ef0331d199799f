/**
 * Durable file replacement: write a temp file beside the target, fsync it, rename it over the
 * target, fsync the directory (rename(2) is atomic; without the directory fsync the rename
 * itself may not survive a power cut, see fsync(2) "Notes"). A reader — or a crash at any
 * instant — sees the old file or the new one, never a mix.
 */
import { chmodSync, closeSync, copyFileSync, existsSync, fsyncSync, openSync, renameSync, statSync, chownSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface AtomicWriteOptions {
  /** File mode for a new file (default 0o644; an existing file keeps its mode unless forceMode). */
  mode?: number;
  /** The file (and its .bak) always get `mode`, whatever the existing file's mode was. */
  forceMode?: boolean;
  /** Keep the previous version as `<file>.bak` (itself replaced atomically). */
  backup?: boolean;
  /** Give a new file the owner and group of its directory (when root writes into hark's dir). */
  ownLikeDir?: boolean;
}

/** fsync a directory so a rename within it is on disk. Some filesystems (vfat) refuse: ignored. */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // EINVAL/EISDIR on filesystems without directory fsync; the rename is already issued.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeTemp(file: string, data: string | Uint8Array, mode: number): string {
  // A unique name per write: concurrent writers (daemon, CLI, a crashed earlier run) never
  // share a temp file, and the one rename that lands last wins whole.
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  return tmp;
}

/** Replace `file` with `data` atomically and durably. */
export function writeFileAtomic(file: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const dir = dirname(file);
  let mode = opts.mode ?? 0o644;
  const exists = existsSync(file);
  if (exists && !opts.forceMode) mode = statSync(file).mode & 0o777;
  if (opts.backup && exists) {
    // The .bak is written the same way, so it too is always a whole file.
    const bakTmp = join(dir, `.${basename(file)}.bak.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    copyFileSync(file, bakTmp);
    if (opts.forceMode) chmodSync(bakTmp, mode);
    const fd = openSync(bakTmp, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(bakTmp, `${file}.bak`);
  }
  const tmp = writeTemp(file, data, mode);
  if (opts.ownLikeDir) {
    try {
      const st = statSync(dir);
      chownSync(tmp, st.uid, st.gid);
    } catch {
      // Not root: the file is ours already.
    }
  }
  try {
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDir(dir);
}
