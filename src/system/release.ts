/**
 * A hark release file (`hark-<version>-<arch>.hark`): what `hark update`, the System page and
 * POST /api/update install, and what script/image (script/release.ts) makes and signs.
 *
 *   offset 0    8 bytes   "HARKREL1"
 *   offset 8    4 bytes   header length H, big-endian
 *   offset 12   H bytes   header: JSON (UTF-8), see ReleaseHeader
 *   12 + H      64 bytes  Ed25519 signature (RFC 8032) of bytes 0 … 12 + H − 1
 *   76 + H      …         payload: a gzip'd tar of hark's tree (what /opt/hark holds: bin/bun,
 *                         src, ffi, web, node_modules, package.json …), exactly header.payload.size
 *                         bytes, whose SHA-256 is header.payload.sha256
 *
 * The signature covers the header, and the header the payload's digest, so one check of each
 * proves the whole file; the payload is never unpacked before both pass. The box holds only the
 * public key (/usr/lib/hark/release-key.pem, from the image); script/image signs with the key in
 * $HARK_RELEASE_KEY.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';

export const RELEASE_MAGIC = 'HARKREL1';
const SIG_BYTES = 64;
/** A header is a few hundred bytes; anything near this is not one. */
const MAX_HEADER = 64 * 1024;
/** Far above a release (~60 MB): refuse before reading more. */
export const MAX_RELEASE_BYTES = 512 * 1024 * 1024;

export interface ReleaseHeader {
  product: 'hark';
  version: string;
  /** Debian's name for the architecture: arm64, amd64. */
  arch: string;
  /** ISO time it was made. */
  created: string;
  /** The git commit it was built from, when known. */
  commit?: string;
  payload: { format: 'tar.gz'; size: number; sha256: string };
}

/** A release refused: the sentence says why, `field` names the part of the file at fault. */
export class ReleaseError extends Error {
  constructor(
    message: string,
    readonly field: 'file' | 'signature' | 'product' | 'arch' | 'version' | 'payload' | 'space',
  ) {
    super(message);
    this.name = 'ReleaseError';
  }
}

/** This machine's architecture in Debian's words (what a release says it is for). */
export function debianArch(nodeArch: string = process.arch): string {
  return ({ arm64: 'arm64', x64: 'amd64', arm: 'armhf', ia32: 'i386' } as Record<string, string>)[nodeArch] ?? nodeArch;
}

/** Compare dotted versions numerically (0.10.0 > 0.9.1); a pre-release suffix sorts before its release. */
export function compareVersions(a: string, b: string): number {
  const split = (v: string) => {
    const [main, pre] = v.split('-', 2) as [string, string | undefined];
    return { nums: main.split('.').map((x) => Number.parseInt(x, 10) || 0), pre };
  };
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < Math.max(x.nums.length, y.nums.length); i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre < y.pre ? -1 : 1;
}

const VERSION_RE = /^\d{1,4}\.\d{1,4}\.\d{1,4}(-[0-9A-Za-z.]{1,32})?$/;

export function isVersion(v: unknown): v is string {
  return typeof v === 'string' && VERSION_RE.test(v);
}

/** Make a release file's bytes: header, signature, payload (script/release.ts, tests). */
export function packRelease(payload: Uint8Array, meta: { version: string; arch: string; commit?: string; created?: string }, privateKeyPem: string): Uint8Array {
  const header: ReleaseHeader = {
    product: 'hark',
    version: meta.version,
    arch: meta.arch,
    created: meta.created ?? new Date().toISOString(),
    ...(meta.commit ? { commit: meta.commit } : {}),
    payload: { format: 'tar.gz', size: payload.length, sha256: createHash('sha256').update(payload).digest('hex') },
  };
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(12 + json.length);
  head.write(RELEASE_MAGIC, 0, 'latin1');
  head.writeUInt32BE(json.length, 8);
  json.copy(head, 12);
  const sig = sign(null, head, createPrivateKey(privateKeyPem));
  // A plain Uint8Array (a copy): Buffer.prototype.slice would share memory with callers' copies.
  return new Uint8Array(Buffer.concat([head, sig, payload]));
}

export function publicKeyOf(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the release key is ${key.asymmetricKeyType ?? 'not a public key'}, not Ed25519`);
  return key;
}

export interface CheckedRelease {
  header: ReleaseHeader;
  /** Where the payload starts in the file. */
  payloadOffset: number;
}

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/**
 * Check a release file on disk: its form, its signature, what it is for and that the payload is
 * whole and unchanged. Throws ReleaseError with the reason; nothing is unpacked here.
 */
export function checkRelease(path: string, key: KeyObject, opts: { arch?: string; running: string; allowDowngrade?: boolean }): CheckedRelease {
  const size = statSync(path).size;
  if (size > MAX_RELEASE_BYTES) throw new ReleaseError(`the file is ${Math.round(size / 1048576)} MB, larger than any hark release`, 'file');
  const fd = openSync(path, 'r');
  try {
    const start = readAt(fd, 0, 12);
    if (start.length < 12 || start.subarray(0, 8).toString('latin1') !== RELEASE_MAGIC) {
      throw new ReleaseError('this is not a hark release file (it does not start with "HARKREL1"); download the .hark file of a release', 'file');
    }
    const headerLength = start.readUInt32BE(8);
    if (headerLength < 2 || headerLength > MAX_HEADER) throw new ReleaseError(`the release file is damaged (a header of ${headerLength} bytes)`, 'file');
    if (size < 12 + headerLength + SIG_BYTES) throw new ReleaseError(`the release file is cut short (${size} bytes): download it again`, 'file');
    const headBytes = readAt(fd, 0, 12 + headerLength);
    const sig = readAt(fd, 12 + headerLength, SIG_BYTES);
    if (!verify(null, headBytes, key, sig)) {
      throw new ReleaseError("the release is not signed with hark's release key (unsigned, altered, or from someone else): nothing was installed", 'signature');
    }
    let header: ReleaseHeader;
    try {
      header = JSON.parse(headBytes.subarray(12).toString('utf8')) as ReleaseHeader;
    } catch {
      throw new ReleaseError('the release header is not JSON', 'file');
    }
    if (header?.product !== 'hark') throw new ReleaseError(`this is a release of "${String(header?.product)}", not of hark`, 'product');
    if (!isVersion(header.version)) throw new ReleaseError(`the release has no valid version (${JSON.stringify(header.version)})`, 'version');
    const arch = opts.arch ?? debianArch();
    if (header.arch !== arch) throw new ReleaseError(`this release is built for ${String(header.arch)}; this box is ${arch}`, 'arch');
    const p = header.payload;
    if (!p || p.format !== 'tar.gz' || !Number.isSafeInteger(p.size) || typeof p.sha256 !== 'string') {
      throw new ReleaseError('the release header does not describe its payload', 'file');
    }
    const payloadOffset = 12 + headerLength + SIG_BYTES;
    const have = size - payloadOffset;
    if (have < p.size) throw new ReleaseError(`the release file is cut short: ${have} of ${p.size} payload bytes; download it again`, 'payload');
    if (have > p.size) throw new ReleaseError(`the release file has ${have - p.size} bytes more than its header says`, 'payload');
    const cmp = compareVersions(header.version, opts.running);
    if (cmp === 0) throw new ReleaseError(`hark ${header.version} is already running`, 'version');
    if (cmp < 0 && !opts.allowDowngrade) {
      throw new ReleaseError(`hark ${header.version} is older than the running ${opts.running}: allow a downgrade to install it`, 'version');
    }
    // The digest last: it reads the whole payload (a minute on a Pi 3 for ~60 MB is too long
    // to do before the cheap refusals above).
    const hash = createHash('sha256');
    const chunk = Buffer.alloc(1 << 20);
    for (let off = payloadOffset; off < size; ) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, size - off), off);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
      off += n;
    }
    if (hash.digest('hex') !== p.sha256) throw new ReleaseError('the release file is corrupted (its checksum does not match): download it again', 'payload');
    return { header, payloadOffset };
  } finally {
    closeSync(fd);
  }
}
