/**
 * Backup and restore: one file with what makes a box this box — the settings (hark.toml as it
 * is, comments kept), the admin password's hash and the API tokens (hashes), the last state
 * and title, and the box's certificate authority — but no recordings. Restored onto the same
 * or a fresh box (System page, `hark restore`, `POST /api/restore`); a backup from an older
 * hark restores into a newer one (its settings are read by this hark's schema, which fills in
 * what is new).
 *
 * The file is JSON: an envelope that says what it is (`product`, `format`, the hark version,
 * when and where it was made, what it contains) and the payload, in the clear when it holds no
 * secret, else locked with a passphrase: scrypt (N = 2^15, r = 8, p = 1) derives an AES-256-GCM
 * key, so a wrong passphrase or a changed byte is refused, never half-read.
 *
 * A restore checks everything first (the envelope, the passphrase, the settings against the
 * schema, the credentials' shapes, that the CA's key is the CA's) and writes nothing when any
 * part is refused; then it writes each file atomically and hark restarts in place.
 */
import { X509Certificate, createCipheriv, createDecipheriv, createPrivateKey, randomBytes, scrypt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../config/atomic.ts';
import { ConfigError, parseConfig } from '../config/load.ts';
import { redactConfig } from '../config/secrets.ts';
import { logger } from '../log.ts';
import { VERSION } from '../version.ts';
import { isScope, type ApiToken, type Credentials } from './auth.ts';

const log = logger('backup');

export const BACKUP_PRODUCT = 'hark-backup';
/** The newest payload format this hark writes and reads. */
export const BACKUP_FORMAT = 1;
export const MIN_PASSPHRASE = 8;
export const MAX_PASSPHRASE = 256;
/** A backup file is small (settings, hashes, a CA); anything bigger is not one. */
export const MAX_BACKUP_BYTES = 512 * 1024;
const KDF = { name: 'scrypt', N: 2 ** 15, r: 8, p: 1 } as const;

/** A refused backup or restore: `field` names what to fix (`passphrase`, `file`). */
export class BackupError extends Error {
  constructor(
    message: string,
    readonly field: 'passphrase' | 'file',
  ) {
    super(message);
    this.name = 'BackupError';
  }
}

/** What a backup holds. */
export interface BackupPayload {
  /** hark.toml as it was on disk ('' when the box ran on the defaults). */
  config_text: string;
  /** The admin password's hash and the API tokens; null when the box had no password yet. */
  credentials: Credentials | null;
  /** state.json: the last run state and title; null when there was none. */
  state: { live: boolean; muted: boolean; at?: string; title?: string; configTitle?: string } | null;
  /** The box's certificate authority (PEM), so devices that trust it trust the restored box. */
  tls_ca: { cert: string; key: string } | null;
}

interface Envelope {
  product: string;
  format: number;
  hark_version: string;
  made: string;
  host: string;
  /** What is in it, in words (shown before a restore). */
  contains: string[];
  encrypted: boolean;
  kdf?: { name: string; N: number; r: number; p: number; salt: string };
  cipher?: string;
  iv?: string;
  /** The payload: in the clear, or base64 of the ciphertext followed by GCM's 16-byte tag. */
  payload: BackupPayload | string;
}

/** Where a box keeps what a backup holds. */
export interface BackupPaths {
  configFile: string;
  stateFile: string;
  /** The box's CA: `<state_dir>/tls`. */
  tlsDir: string;
}

const read = (path: string): string | null => (existsSync(path) ? readFileSync(path, 'utf8') : null);

function deriveKey(passphrase: string, salt: Buffer): Promise<Buffer> {
  return new Promise((res, rej) =>
    scrypt(passphrase.normalize('NFC'), salt, 32, { N: KDF.N, r: KDF.r, p: KDF.p, maxmem: 64 * 1024 * 1024 }, (e, key) => (e ? rej(e) : res(key))),
  );
}

function checkPassphrase(p: unknown): string {
  if (typeof p !== 'string' || p.length < MIN_PASSPHRASE) throw new BackupError(`passphrase: at least ${MIN_PASSPHRASE} characters`, 'passphrase');
  if (p.length > MAX_PASSPHRASE) throw new BackupError(`passphrase: at most ${MAX_PASSPHRASE} characters`, 'passphrase');
  return p;
}

/** What the payload holds, in words: "settings", "the admin password", "2 API tokens", … */
function contents(p: BackupPayload): string[] {
  const n = p.credentials?.tokens.length ?? 0;
  return [
    p.config_text ? 'settings' : 'settings (the defaults)',
    ...(p.credentials?.password_hash ? ['the admin password'] : []),
    ...(n ? [`${n} API token${n === 1 ? '' : 's'}`] : []),
    ...(p.state ? ['the last state and title'] : []),
    ...(p.tls_ca ? ["the box's certificate authority"] : []),
  ];
}

/** The secrets a payload holds, in words (why it must be locked); empty when none. */
function secretsIn(p: BackupPayload): string[] {
  const out: string[] = [];
  if (p.credentials?.password_hash) out.push('the admin password');
  if (p.credentials?.tokens.length) out.push('API tokens');
  if (p.tls_ca) out.push("the certificate authority's key");
  if (redactConfig(parseConfig(p.config_text)).secrets.length) out.push('passwords or tokens in the settings');
  return out;
}

/** Gather what a backup holds from the box's files and auth. */
export function collectBackup(paths: BackupPaths, credentials: Credentials | null): BackupPayload {
  let state: BackupPayload['state'] = null;
  try {
    const s = read(paths.stateFile);
    if (s) state = JSON.parse(s);
  } catch {
    // A damaged state file is left out (it reads as "no saved state" anyway).
  }
  const cert = read(join(paths.tlsDir, 'ca.crt'));
  const key = read(join(paths.tlsDir, 'ca.key'));
  return {
    config_text: read(paths.configFile) ?? '',
    credentials: credentials?.password_hash || credentials?.tokens.length ? credentials : null,
    state,
    tls_ca: cert && key ? { cert, key } : null,
  };
}

/** The backup file's name: hark-backup-<host>-<YYYYMMDD-HHMM>.json (UTC). */
export function backupFilename(now: Date, host = hostname()): string {
  const stamp = now.toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
  return `hark-backup-${host.replace(/[^A-Za-z0-9-]/g, '_').slice(0, 63) || 'box'}-${stamp}.json`;
}

/**
 * The backup file's text. A payload with secrets needs a passphrase (refused without one);
 * with a passphrase the payload is always locked.
 */
export async function makeBackup(payload: BackupPayload, passphrase: string | undefined, now = new Date()): Promise<{ filename: string; text: string; encrypted: boolean }> {
  const env: Envelope = { product: BACKUP_PRODUCT, format: BACKUP_FORMAT, hark_version: VERSION, made: now.toISOString(), host: hostname(), contains: contents(payload), encrypted: false, payload };
  if (passphrase === undefined || passphrase === '') {
    const secrets = secretsIn(payload);
    if (secrets.length) {
      throw new BackupError(`this backup holds ${secrets.join(', ')}: give a passphrase (at least ${MIN_PASSPHRASE} characters) to lock it with. You need it to restore.`, 'passphrase');
    }
  } else {
    const pass = checkPassphrase(passphrase);
    const salt = randomBytes(16);
    const iv = randomBytes(12);
    const key = await deriveKey(pass, salt);
    const c = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([c.update(JSON.stringify(payload), 'utf8'), c.final(), c.getAuthTag()]);
    Object.assign(env, { encrypted: true, kdf: { ...KDF, salt: salt.toString('base64') }, cipher: 'aes-256-gcm', iv: iv.toString('base64'), payload: body.toString('base64') });
  }
  return { filename: backupFilename(now), text: `${JSON.stringify(env, null, 1)}\n`, encrypted: env.encrypted };
}

/** What a restore will put back, and from where. */
export interface ReadBackup {
  payload: BackupPayload;
  made: string;
  host: string;
  harkVersion: string;
  contains: string[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const notBackup = (why: string) => new BackupError(`not a hark backup: ${why}`, 'file');

/** Read and check a backup file's text (unlocking it with `passphrase`); nothing is written. */
export async function readBackup(text: string, passphrase?: string): Promise<ReadBackup> {
  if (text.length > MAX_BACKUP_BYTES) throw notBackup(`it is larger than ${MAX_BACKUP_BYTES / 1024} kB`);
  let env: unknown;
  try {
    env = JSON.parse(text);
  } catch {
    throw notBackup('it is not the JSON file a backup is (choose the file named hark-backup-….json)');
  }
  if (!isObj(env)) throw notBackup('it is not the JSON file a backup is');
  if (env.product !== BACKUP_PRODUCT) throw notBackup(`it says it is ${typeof env.product === 'string' ? `"${env.product.slice(0, 40)}"` : 'something else'}, from another program`);
  if (typeof env.format !== 'number' || !Number.isInteger(env.format) || env.format < 1) throw notBackup('its format is missing or wrong');
  if (env.format > BACKUP_FORMAT) {
    throw new BackupError(`this backup was made by a newer hark (${String(env.hark_version ?? '?')}, format ${env.format}); this hark (${VERSION}) reads format ${BACKUP_FORMAT}: update hark first`, 'file');
  }
  let payload: unknown = env.payload;
  if (env.encrypted === true) {
    if (passphrase === undefined || passphrase === '') throw new BackupError('this backup is locked: give the passphrase it was made with', 'passphrase');
    const kdf = env.kdf;
    if (!isObj(kdf) || kdf.name !== 'scrypt' || kdf.N !== KDF.N || kdf.r !== KDF.r || kdf.p !== KDF.p || typeof kdf.salt !== 'string') throw notBackup('its lock (kdf) is not one this hark knows');
    if (env.cipher !== 'aes-256-gcm' || typeof env.iv !== 'string' || typeof env.payload !== 'string') throw notBackup('its lock (cipher) is not one this hark knows');
    const salt = Buffer.from(kdf.salt, 'base64');
    const iv = Buffer.from(env.iv, 'base64');
    const body = Buffer.from(env.payload, 'base64');
    if (salt.length !== 16 || iv.length !== 12 || body.length < 17) throw notBackup('it is damaged (the lock is cut short)');
    const key = await deriveKey(passphrase, salt);
    try {
      const d = createDecipheriv('aes-256-gcm', key, iv);
      d.setAuthTag(body.subarray(body.length - 16));
      payload = JSON.parse(Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString('utf8'));
    } catch {
      throw new BackupError('wrong passphrase (or the file was changed since it was made)', 'passphrase');
    }
  } else if (env.encrypted !== false) {
    throw notBackup('it does not say whether it is locked');
  }
  return {
    payload: checkPayload(payload),
    made: typeof env.made === 'string' ? env.made.slice(0, 40) : '?',
    host: typeof env.host === 'string' ? env.host.slice(0, 64) : '?',
    harkVersion: typeof env.hark_version === 'string' ? env.hark_version.slice(0, 40) : '?',
    contains: Array.isArray(env.contains) ? env.contains.filter((c): c is string => typeof c === 'string').slice(0, 10) : [],
  };
}

function checkToken(t: unknown, i: number): ApiToken {
  if (!isObj(t)) throw notBackup(`API token ${i + 1} is not an object`);
  for (const k of ['id', 'name', 'hash', 'created'] as const) {
    if (typeof t[k] !== 'string' || (t[k] as string).length > 512) throw notBackup(`API token ${i + 1} has no valid ${k}`);
  }
  if (t.scope !== undefined && !isScope(t.scope)) throw notBackup(`API token ${i + 1} has an unknown scope`);
  return { id: t.id as string, name: t.name as string, hash: t.hash as string, created: t.created as string, ...(t.scope ? { scope: t.scope as ApiToken['scope'] } : {}) };
}

/** The payload's every part checked: the settings against the schema, the credentials' shapes, the CA's key against its certificate. */
function checkPayload(p: unknown): BackupPayload {
  if (!isObj(p)) throw notBackup('its contents are not an object');
  if (typeof p.config_text !== 'string') throw notBackup('it has no settings');
  try {
    parseConfig(p.config_text);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new BackupError(`the settings in this backup are refused: ${e.message}`, 'file');
  }
  let credentials: Credentials | null = null;
  if (p.credentials !== null && p.credentials !== undefined) {
    const c = p.credentials;
    if (!isObj(c) || !Array.isArray(c.tokens) || c.tokens.length > 1000) throw notBackup('its credentials are damaged');
    if (c.password_hash !== undefined && (typeof c.password_hash !== 'string' || !c.password_hash.startsWith('$argon2'))) throw notBackup('its password hash is not one hark makes');
    credentials = {
      ...(c.password_hash ? { password_hash: c.password_hash as string, password_set_at: typeof c.password_set_at === 'string' ? c.password_set_at : undefined } : {}),
      tokens: c.tokens.map(checkToken),
    };
  }
  let state: BackupPayload['state'] = null;
  if (p.state !== null && p.state !== undefined) {
    const s = p.state;
    if (!isObj(s) || typeof s.live !== 'boolean' || typeof s.muted !== 'boolean') throw notBackup('its last state is damaged');
    state = { live: s.live, muted: s.muted, ...(typeof s.at === 'string' ? { at: s.at } : {}), ...(typeof s.title === 'string' ? { title: s.title.slice(0, 1024) } : {}), ...(typeof s.configTitle === 'string' ? { configTitle: s.configTitle.slice(0, 1024) } : {}) };
  }
  let tls_ca: BackupPayload['tls_ca'] = null;
  if (p.tls_ca !== null && p.tls_ca !== undefined) {
    const t = p.tls_ca;
    if (!isObj(t) || typeof t.cert !== 'string' || typeof t.key !== 'string') throw notBackup('its certificate authority is damaged');
    try {
      const cert = new X509Certificate(t.cert);
      if (!cert.checkPrivateKey(createPrivateKey(t.key))) throw new Error('the key is not the certificate’s');
    } catch (e) {
      throw new BackupError(`the certificate authority in this backup is refused: ${(e as Error).message}`, 'file');
    }
    tls_ca = { cert: t.cert, key: t.key };
  }
  return { config_text: p.config_text, credentials, state, tls_ca };
}

/** Where a restore writes, and the running parts it hands things to. */
export interface RestoreTarget extends BackupPaths {
  /** Replace the config file with this text (validated and applied by the config store). */
  replaceConfig(text: string): Promise<{ ok: boolean; error?: string }>;
  restoreCredentials(c: Credentials): void;
}

/**
 * Put a checked backup back: the settings (through the store), the credentials (every session
 * ends), the last state and the CA (the server certificate is made again from it at the
 * restart). Returns what was restored, in words. The caller restarts hark.
 */
export async function applyBackup(b: ReadBackup, target: RestoreTarget): Promise<string[]> {
  const p = b.payload;
  const r = await target.replaceConfig(p.config_text);
  if (!r.ok) throw new BackupError(`the settings in this backup are refused: ${r.error ?? 'invalid'}`, 'file');
  const done = ['settings'];
  // A backup of a box that had no password keeps this box's password: a restore never opens a box.
  if (p.credentials?.password_hash) {
    target.restoreCredentials(p.credentials);
    done.push('the admin password');
    if (p.credentials.tokens.length) done.push(`${p.credentials.tokens.length} API token${p.credentials.tokens.length === 1 ? '' : 's'}`);
  }
  if (p.state) {
    writeFileAtomic(target.stateFile, `${JSON.stringify(p.state)}\n`);
    done.push('the last state and title');
  }
  if (p.tls_ca) {
    mkdirSync(target.tlsDir, { recursive: true, mode: 0o700 });
    writeFileAtomic(join(target.tlsDir, 'ca.key'), p.tls_ca.key, { mode: 0o600 });
    writeFileAtomic(join(target.tlsDir, 'ca.crt'), p.tls_ca.cert);
    // The server certificate was signed by the CA this box had: made again at the restart.
    for (const f of ['server.crt', 'server.key']) rmSync(join(target.tlsDir, f), { force: true });
    done.push("the box's certificate authority");
  }
  log.info(`restored a backup made ${b.made} on ${b.host} (hark ${b.harkVersion}): ${done.join(', ')}`);
  return done;
}
