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
  /** Absent on tokens made before scopes existed: they act as `admin`, as they always did. */
  scope?: Scope;
}

/** What a backup carries of auth.json: the password hash and the API tokens (hashes). */
export interface Credentials {
  password_hash?: string;
  password_set_at?: string;
  tokens: ApiToken[];
}

/** A token as listed (never its hash). */
export type TokenInfo = { id: string; name: string; created: string; scope: Scope };

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

/** A stored token as shown: a token from before scopes (or with an unknown one) is `admin`. */
const info = (t: ApiToken): TokenInfo => ({ id: t.id, name: t.name, created: t.created, scope: isScope(t.scope) ? t.scope : 'admin' });

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

/**
 * Wrong passwords, per address, with exponential backoff. There is no lockout of all
 * addresses together: a guesser elsewhere on the network never locks the owner out.
 *
 * An attempt is counted when it starts (before the slow argon2 check), so a burst of
 * concurrent guesses from one address cannot all be checked: at most LOGIN_MAX_INFLIGHT run at
 * once, and once failures plus attempts in progress reach LOGIN_FREE_FAILURES only one runs at
 * a time, after the address's wait. After LOGIN_FREE_FAILURES failures an address waits
 * LOGIN_BACKOFF_MS, doubling with each further failure up to LOGIN_MAX_BACKOFF_MS. A correct
 * password clears the address's record.
 */
export const LOGIN_FREE_FAILURES = 5;
export const LOGIN_MAX_INFLIGHT = 2;
export const LOGIN_BACKOFF_MS = 1000;
export const LOGIN_MAX_BACKOFF_MS = 15 * 60_000;
/** An address's record is forgotten this long after its wait ended with no new failure. */
const LOGIN_FORGET_MS = 60 * 60_000;
/** At most this many addresses remembered (the oldest quiet ones go first). */
const LOGIN_MAX_ADDRESSES = 10_000;

/**
 * The key an address is counted under: the address itself (an IPv4-mapped IPv6 address as
 * IPv4, without a zone). Not an IPv6 /64: on a LAN every device shares one, so a guesser
 * would make the owner's phone wait too.
 */
export function addressKey(addr: string): string {
  let a = addr.trim().toLowerCase();
  const pct = a.indexOf('%');
  if (pct >= 0) a = a.slice(0, pct);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(a);
  return mapped ? mapped[1]! : a;
}

interface LoginRecord {
  failures: number;
  inflight: number;
  /** No attempt from this address before this time (ms). */
  until: number;
  last: number;
}

/** A login attempt that may go ahead (call `done` with the outcome), or the wait before one may. */
export type LoginAttempt = { ok: true; done: (success: boolean) => void } | { ok: false; retryAfterMs: number; reason: 'locked' | 'busy' };

/** The wait after `failures` wrong passwords (0 while they are fewer than LOGIN_FREE_FAILURES). */
export function loginBackoffMs(failures: number): number {
  if (failures < LOGIN_FREE_FAILURES) return 0;
  return Math.min(LOGIN_MAX_BACKOFF_MS, LOGIN_BACKOFF_MS * 2 ** Math.min(30, failures - LOGIN_FREE_FAILURES));
}

/** What a refused attempt tells the person: plain words, with the wait. */
export function loginWaitMessage(w: { retryAfterMs: number; reason: 'locked' | 'busy' }): string {
  if (w.reason === 'busy') return 'Another password check from your address is still running: try again in a second.';
  const s = Math.ceil(w.retryAfterMs / 1000);
  const m = Math.ceil(s / 60);
  return `Too many wrong passwords from your address: try again in ${s < 120 ? `${s} second${s === 1 ? '' : 's'}` : `${m} minutes`}.`;
}

/** Counts wrong passwords per address (see LOGIN_FREE_FAILURES). */
export class LoginLimiter {
  private readonly records = new Map<string, LoginRecord>();
  private swept = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Milliseconds until `remote` may try again, or 0 (ignores attempts in progress). */
  retryAfterMs(remote: string): number {
    const r = this.records.get(addressKey(remote));
    return r ? Math.max(0, r.until - this.now()) : 0;
  }

  /** Wrong passwords counted for `remote` (tests, the log). */
  failures(remote: string): number {
    return this.records.get(addressKey(remote))?.failures ?? 0;
  }

  /** Start an attempt: counted now, before the password is checked. */
  begin(remote: string): LoginAttempt {
    const key = addressKey(remote);
    const t = this.now();
    this.sweep(t);
    let r = this.records.get(key);
    if (r && r.until > t) return { ok: false, retryAfterMs: r.until - t, reason: 'locked' };
    if (r && (r.inflight >= LOGIN_MAX_INFLIGHT || (r.inflight > 0 && r.failures + r.inflight >= LOGIN_FREE_FAILURES))) {
      return { ok: false, retryAfterMs: 1000, reason: 'busy' };
    }
    if (!r) {
      if (this.records.size >= LOGIN_MAX_ADDRESSES) this.evictOne();
      r = { failures: 0, inflight: 0, until: 0, last: t };
      this.records.set(key, r);
    }
    const rec = r;
    rec.inflight++;
    let ended = false;
    return {
      ok: true,
      done: (success) => {
        if (ended) return;
        ended = true;
        const now = this.now();
        rec.inflight--;
        rec.last = now;
        if (success) {
          rec.failures = 0;
          rec.until = 0;
          if (rec.inflight === 0 && this.records.get(key) === rec) this.records.delete(key);
          return;
        }
        rec.failures++;
        const wait = loginBackoffMs(rec.failures);
        if (wait) rec.until = Math.max(rec.until, now + wait);
      },
    };
  }

  private sweep(t: number): void {
    if (t - this.swept < 60_000) return;
    this.swept = t;
    for (const [k, r] of this.records) if (r.inflight === 0 && t - Math.max(r.until, r.last) > LOGIN_FORGET_MS) this.records.delete(k);
  }

  /** A full table drops the quietest address that is not waiting (or, failing that, the oldest). */
  private evictOne(): void {
    const t = this.now();
    let oldest: string | undefined;
    for (const [k, r] of this.records) {
      if (r.inflight > 0) continue;
      if (r.until <= t) {
        this.records.delete(k);
        return;
      }
      oldest ??= k;
    }
    if (oldest !== undefined) this.records.delete(oldest);
  }
}

/** At most this many argon2 checks at once, whatever the number of addresses (19 MiB each). */
const MAX_CONCURRENT_VERIFY = 2;

/** A first-in first-out limit on concurrent work. */
class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((res) => this.waiting.push(res));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/** API token scopes, each including the ones before it. */
export const SCOPES = ['read', 'control', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
/** What each scope allows, in the words the pages and the CLI use. */
export const SCOPE_HELP: Record<Scope, string> = {
  read: 'read the status and metrics',
  control: 'also go on and off air, record, mute, set the title and marks',
  admin: 'everything but the admin password: settings, tokens, restart',
};

export function isScope(s: unknown): s is Scope {
  return typeof s === 'string' && (SCOPES as readonly string[]).includes(s);
}

/** Whether a token with scope `have` may do what needs `need`. */
export function scopeCovers(have: Scope, need: Scope): boolean {
  return SCOPES.indexOf(have) >= SCOPES.indexOf(need);
}

/** The outcome of a rate-limited password check. */
export type PasswordCheck = { result: 'ok' } | { result: 'wrong' } | { result: 'wait'; retryAfterMs: number; reason: 'locked' | 'busy' };

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
  private readonly verifying = new Semaphore(MAX_CONCURRENT_VERIFY);
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

  /**
   * Set the admin password; every session ends (a changed password logs everyone out) and,
   * with `revokeTokens`, every API token is revoked. Returns how many tokens were revoked.
   */
  async setPassword(pw: string, opts: { revokeTokens?: boolean } = {}): Promise<{ revoked: number }> {
    checkPasswordRules(pw);
    const hash = await Bun.password.hash(pw, HASH);
    this.fresh();
    this.data.password_hash = hash;
    this.data.password_set_at = new Date(this.now()).toISOString();
    this.data.sessions = [];
    const revoked = opts.revokeTokens ? (this.data.tokens?.length ?? 0) : 0;
    if (opts.revokeTokens) this.data.tokens = [];
    this.save();
    log.info(`admin password set; all sessions ended${opts.revokeTokens ? `; ${revoked} API token${revoked === 1 ? '' : 's'} revoked` : ''}`);
    return { revoked };
  }

  /** Whether `pw` is the admin password (no rate limit: see checkPassword). */
  async verifyPassword(pw: string): Promise<boolean> {
    this.fresh();
    const hash = this.data.password_hash;
    if (!hash || typeof pw !== 'string' || pw.length === 0 || pw.length > MAX_PASSWORD) return false;
    return this.verifying.run(async () => {
      try {
        return await Bun.password.verify(pw, hash);
      } catch {
        return false;
      }
    });
  }

  /**
   * Check a password given from `remote` (a login, the current password on a change) under
   * the per-address limit: the attempt is counted before argon2 runs.
   */
  async checkPassword(remote: string, pw: string): Promise<PasswordCheck> {
    const a = this.limiter.begin(remote);
    if (!a.ok) return { result: 'wait', retryAfterMs: a.retryAfterMs, reason: a.reason };
    let ok = false;
    try {
      ok = await this.verifyPassword(pw);
    } finally {
      a.done(ok);
    }
    return { result: ok ? 'ok' : 'wrong' };
  }

  /**
   * A new session: the cookie value (returned once, stored hashed) and its CSRF token. A
   * browser that changed the password gets a new session with its page's CSRF token kept
   * (`csrf`), so the page goes on working without a reload.
   */
  createSession(opts: { csrf?: string } = {}): { id: string; csrf: string; expires: number; maxAgeS: number } {
    const id = token();
    const csrf = opts.csrf ?? token(24);
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
  createToken(name: string, scope: Scope = 'admin'): { id: string; name: string; scope: Scope; token: string } {
    if (!isScope(scope)) throw new PasswordError(`scope: one of ${SCOPES.join(', ')}`, 'scope');
    this.fresh();
    const clean = name.trim();
    if (!/^[\w .@-]{1,64}$/.test(clean)) throw new PasswordError('name: 1–64 letters, digits, spaces or . _ @ -', 'name');
    const tokens = this.data.tokens ?? [];
    if (tokens.length >= MAX_TOKENS) throw new PasswordError(`name: at most ${MAX_TOKENS} tokens; revoke one first`, 'name');
    const id = randomBytes(4).toString('hex');
    const secret = `hark_${token()}`;
    tokens.push({ id, name: clean, hash: sha256(secret), created: new Date(this.now()).toISOString(), scope });
    this.data.tokens = tokens;
    this.save();
    log.info(`API token ${id} "${clean}" (${scope}) created`);
    return { id, name: clean, scope, token: secret };
  }

  tokens(): TokenInfo[] {
    this.fresh();
    return (this.data.tokens ?? []).map(info);
  }

  revokeToken(id: string): boolean {
    this.fresh();
    const before = this.data.tokens?.length ?? 0;
    this.data.tokens = (this.data.tokens ?? []).filter((t) => t.id !== id);
    if (this.data.tokens.length === before) return false;
    this.save();
    log.info(`API token ${id} revoked`);
    return true;
  }

  /** The token's record when `secret` is a valid API token. */
  checkToken(secret: string): TokenInfo | null {
    if (!secret || secret.length > 200) return null;
    this.fresh();
    const h = sha256(secret);
    const t = this.data.tokens?.find((x) => safeEqual(x.hash, h));
    return t ? info(t) : null;
  }

  /** The password hash and API tokens (hashes), for a backup (control/backup.ts); never sessions. */
  credentials(): Credentials {
    this.fresh();
    const d = this.data;
    return { ...(d.password_hash ? { password_hash: d.password_hash, password_set_at: d.password_set_at } : {}), tokens: (d.tokens ?? []).map((t) => ({ ...t })) };
  }

  /** Take a backup's credentials: its password and tokens replace these; every session ends. */
  restoreCredentials(c: Credentials): void {
    this.fresh();
    this.data = { password_hash: c.password_hash, password_set_at: c.password_set_at, tokens: c.tokens.map((t) => ({ ...t })), sessions: [] };
    this.save();
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
