/**
 * Who may act: the admin password (Bun.password, argon2id), login sessions, API tokens and
 * the login rate limit. Everything lives in one JSON file (`auth.json` in the state
 * directory, mode 0600) written atomically, so a restart keeps sessions and a power cut never
 * leaves half a file. Secrets are stored hashed: the password with argon2id, session ids and
 * API tokens with SHA-256 (they are 256-bit random, so a fast hash is enough).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../config/atomic.ts';
import { logger } from '../log.ts';

const log = logger('auth');

export const MIN_PASSWORD = 8;
export const MAX_PASSWORD = 256;
/** Failed logins from one address allowed within LOGIN_WINDOW_MS before it must wait. */
export const LOGIN_MAX_FAILURES = 10;
export const LOGIN_WINDOW_MS = 15 * 60_000;
/** Failures from all addresses together (a guess spread over many addresses). */
const LOGIN_MAX_FAILURES_TOTAL = 100;
const MAX_SESSIONS = 64;
const MAX_TOKENS = 32;

/**
 * argon2id at OWASP's smallest recommended setting (19 MiB, 2 passes): ~0.2 s on a Pi 3 and
 * no 64 MiB spike on a 512 MB board (Bun's default is 64 MiB).
 */
const HASH = { algorithm: 'argon2id', memoryCost: 19456, timeCost: 2 } as const;

export interface Session {
  /** SHA-256 of the cookie value (the value itself is never stored). */
  hash: string;
  csrf: string;
  created: number;
  expires: number;
}

export interface ApiToken {
  id: string;
  name: string;
  hash: string;
  created: string;
}

interface AuthFile {
  password_hash?: string;
  password_set_at?: string;
  tokens?: ApiToken[];
  sessions?: Session[];
}

/** A refused password (too short, too long): `field` names the form field. */
export class PasswordError extends Error {
  constructor(
    message: string,
    readonly field = 'password',
  ) {
    super(message);
    this.name = 'PasswordError';
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const token = (bytes = 32) => randomBytes(bytes).toString('base64url');

/** Constant-time string comparison (via digests, so lengths do not leak either). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export function checkPasswordRules(pw: unknown): string {
  if (typeof pw !== 'string' || pw.length === 0) throw new PasswordError('password: required');
  if (pw.length < MIN_PASSWORD) throw new PasswordError(`password: at least ${MIN_PASSWORD} characters`);
  if (pw.length > MAX_PASSWORD) throw new PasswordError(`password: at most ${MAX_PASSWORD} characters`);
  if (/[\u0000-\u001f\u007f]/.test(pw)) throw new PasswordError('password: no control characters');
  return pw;
}

/** Counts failed logins per address in a sliding window. */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();
  private total: number[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Milliseconds until `remote` may try again, or 0. */
  retryAfterMs(remote: string): number {
    const t = this.now();
    const mine = this.prune(remote, t);
    this.total = this.total.filter((x) => t - x < LOGIN_WINDOW_MS);
    if (mine.length >= LOGIN_MAX_FAILURES) return mine[0]! + LOGIN_WINDOW_MS - t;
    if (this.total.length >= LOGIN_MAX_FAILURES_TOTAL) return this.total[0]! + LOGIN_WINDOW_MS - t;
    return 0;
  }

  fail(remote: string): void {
    const t = this.now();
    const mine = this.prune(remote, t);
    mine.push(t);
    this.failures.set(remote, mine);
    this.total.push(t);
  }

  succeed(remote: string): void {
    this.failures.delete(remote);
  }

  private prune(remote: string, t: number): number[] {
    const list = (this.failures.get(remote) ?? []).filter((x) => t - x < LOGIN_WINDOW_MS);
    if (list.length) this.failures.set(remote, list);
    else this.failures.delete(remote);
    return list;
  }
}

export interface AuthOptions {
  /** Injectable clock (tests make sessions expire without waiting). */
  now?: () => number;
  /** Session lifetime in hours; read at each login, so a config change applies to new sessions. */
  sessionHours?: () => number;
}

export class Auth {
  private data: AuthFile = {};
  /** mtime of the file as last read or written: another process (`hark passwd`) may change it. */
  private mtimeMs = -1;
  readonly limiter: LoginLimiter;
  private readonly now: () => number;
  private readonly sessionHours: () => number;

  constructor(
    readonly file: string,
    opts: AuthOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.sessionHours = opts.sessionHours ?? (() => 12);
    this.limiter = new LoginLimiter(this.now);
    this.reload();
  }

  /** Read the file again (another process — `hark passwd --stdin` — may have written it). */
  reload(): void {
    if (!existsSync(this.file)) {
      this.data = {};
      this.mtimeMs = -1;
      return;
    }
    try {
      this.mtimeMs = statSync(this.file).mtimeMs;
      this.data = JSON.parse(readFileSync(this.file, 'utf8')) as AuthFile;
    } catch (e) {
      // A damaged auth file must not open the box: keep what is in memory, say so.
      log.error(`${this.file}: cannot read (${(e as Error).message}); keeping the previous credentials`);
    }
  }

  /** Re-read the file when another process changed it (a stat per request is cheap). */
  private fresh(): void {
    let m = -1;
    try {
      m = statSync(this.file).mtimeMs;
    } catch {
      // Missing: keep what is in memory (a deleted file does not log everyone out).
      return;
    }
    if (m !== this.mtimeMs) this.reload();
  }

  hasPassword(): boolean {
    this.fresh();
    return !!this.data.password_hash;
  }

  get passwordSetAt(): string | null {
    return this.data.password_set_at ?? null;
  }

  /** Set the admin password; every session ends (a changed password logs everyone out). */
  async setPassword(pw: string): Promise<void> {
    checkPasswordRules(pw);
    const hash = await Bun.password.hash(pw, HASH);
    this.data.password_hash = hash;
    this.data.password_set_at = new Date(this.now()).toISOString();
    this.data.sessions = [];
    this.save();
    log.info('admin password set; all sessions ended');
  }

  async verifyPassword(pw: string): Promise<boolean> {
    this.fresh();
    const hash = this.data.password_hash;
    if (!hash || typeof pw !== 'string' || pw.length === 0 || pw.length > MAX_PASSWORD) return false;
    try {
      return await Bun.password.verify(pw, hash);
    } catch {
      return false;
    }
  }

  /** A new session: the cookie value (returned once, stored hashed) and its CSRF token. */
  createSession(): { id: string; csrf: string; expires: number; maxAgeS: number } {
    const id = token();
    const csrf = token(24);
    const now = this.now();
    const maxAgeS = Math.round(this.sessionHours() * 3600);
    const s: Session = { hash: sha256(id), csrf, created: now, expires: now + maxAgeS * 1000 };
    const live = this.liveSessions();
    live.push(s);
    // Oldest sessions go first when a browser logs in again and again.
    this.data.sessions = live.slice(-MAX_SESSIONS);
    this.save();
    return { id, csrf, expires: s.expires, maxAgeS };
  }

  /** The session for a cookie value, or null when unknown or expired. */
  session(id: string | undefined | null): Session | null {
    if (!id || id.length > 200) return null;
    this.fresh();
    const h = sha256(id);
    const s = this.data.sessions?.find((x) => x.hash === h);
    if (!s) return null;
    if (s.expires <= this.now()) return null;
    return s;
  }

  endSession(id: string | undefined | null): void {
    if (!id) return;
    const h = sha256(id);
    const before = this.data.sessions?.length ?? 0;
    this.data.sessions = (this.data.sessions ?? []).filter((x) => x.hash !== h);
    if (this.data.sessions.length !== before) this.save();
  }

  /** Create an API token; the token itself is returned once and stored hashed. */
  createToken(name: string): { id: string; name: string; token: string } {
    const clean = name.trim();
    if (!/^[\w .@-]{1,64}$/.test(clean)) throw new PasswordError('name: 1–64 letters, digits, spaces or . _ @ -', 'name');
    const tokens = this.data.tokens ?? [];
    if (tokens.length >= MAX_TOKENS) throw new PasswordError(`name: at most ${MAX_TOKENS} tokens; revoke one first`, 'name');
    const id = randomBytes(4).toString('hex');
    const secret = `hark_${token()}`;
    tokens.push({ id, name: clean, hash: sha256(secret), created: new Date(this.now()).toISOString() });
    this.data.tokens = tokens;
    this.save();
    log.info(`API token ${id} "${clean}" created`);
    return { id, name: clean, token: secret };
  }

  tokens(): Omit<ApiToken, 'hash'>[] {
    return (this.data.tokens ?? []).map(({ id, name, created }) => ({ id, name, created }));
  }

  revokeToken(id: string): boolean {
    const before = this.data.tokens?.length ?? 0;
    this.data.tokens = (this.data.tokens ?? []).filter((t) => t.id !== id);
    if (this.data.tokens.length === before) return false;
    this.save();
    log.info(`API token ${id} revoked`);
    return true;
  }

  /** The token's record when `secret` is a valid API token. */
  checkToken(secret: string): Omit<ApiToken, 'hash'> | null {
    if (!secret || secret.length > 200) return null;
    this.fresh();
    const h = sha256(secret);
    const t = this.data.tokens?.find((x) => safeEqual(x.hash, h));
    return t ? { id: t.id, name: t.name, created: t.created } : null;
  }

  private liveSessions(): Session[] {
    const now = this.now();
    return (this.data.sessions ?? []).filter((s) => s.expires > now);
  }

  private save(): void {
    this.data.sessions = this.liveSessions();
    writeFileAtomic(this.file, `${JSON.stringify(this.data, null, 1)}\n`, { mode: 0o600, ownLikeDir: true });
    this.mtimeMs = statSync(this.file).mtimeMs;
  }
}
