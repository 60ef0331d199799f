/**
 * The first-run setup code. While no admin password exists, `/setup` from anywhere but the
 * box itself needs this code: without it, any web page a visitor opens could claim a fresh box
 * (DNS rebinding; any guest on the LAN). The code is made once, kept in the state directory
 * (so a restart or a reboot keeps it, and a card read on a PC and put back still works), written
 * to the log (journal, and so the console) and to the file `HARK_SETUP_CODE_FILE` if set (on
 * the image: the boot partition's hark-setup.txt, through hark-setup-file.path). It works once:
 * when the password is set, the code is gone and the file says so.
 *
 * Wrong codes are limited per address (5, then a wait that doubles up to an hour) and for
 * everyone together (a burst of 20, then one every 3 s), so guessing among 31^8 codes is hopeless.
 */
import { randomInt } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mdnsName } from './mdns-name.ts';
import { FACTORY_RESET_MARK } from './paths.ts';
import { join } from 'node:path';
import { logger } from '../log.ts';
import { safeEqual } from './auth.ts';

const log = logger('setup');

/** No 0/O, 1/I/L: read off a screen and typed on a phone without doubt. */
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const LENGTH = 8;

const FREE_FAILURES = 5;
const MAX_WAIT_MS = 3600_000;
const BURST = 20;
const REFILL_MS = 3000;

/** Upper case, without spaces and dashes: how a code is compared. */
export function normalizeCode(s: string): string {
  return s.toUpperCase().replace(/[\s-]/g, '');
}

/** `ABCD-EFGH`: two groups of four. */
export function formatCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

export function newCode(): string {
  let s = '';
  for (let i = 0; i < LENGTH; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

export type CodeCheck = { ok: true } | { ok: false; reason: 'wrong' | 'no-code' } | { ok: false; reason: 'wait'; retryAfterMs: number };

export class SetupCode {
  private code: string | null = null;
  private readonly keep: string;
  private readonly failures = new Map<string, { n: number; until: number }>();
  private tokens = BURST;
  private tokensAt = 0;
  private readonly now: () => number;
  /** Where the code is shown besides the log (HARK_SETUP_CODE_FILE), if anywhere. */
  readonly file?: string;

  /** Left by a factory reset (src/system/firstboot.ts), until a new password is set. */
  private readonly resetMark: string;
  private resetAt: string | null = null;

  constructor(opts: { stateDir: string; file?: string; now?: () => number }) {
    this.keep = join(opts.stateDir, 'setup-code');
    this.resetMark = join(opts.stateDir, FACTORY_RESET_MARK);
    this.file = opts.file || undefined;
    this.now = opts.now ?? Date.now;
  }

  /** The code while one is in force (tests, the boot check). */
  get current(): string | null {
    return this.code;
  }

  /** When the box was reset to its factory settings, while it waits for a new password; else null. */
  get factoryResetAt(): string | null {
    return this.resetAt;
  }

  /** At start: with no password, take the kept code or make one, and show it; with one, retire any code. */
  start(hasPassword: boolean): void {
    if (hasPassword) {
      if (existsSync(this.keep)) this.done();
      rmSync(this.resetMark, { force: true });
      return;
    }
    try {
      const at = (JSON.parse(readFileSync(this.resetMark, 'utf8')) as { at?: unknown }).at;
      this.resetAt = typeof at === 'string' ? at.slice(0, 40) : new Date(this.now()).toISOString();
      log.warn(`this box was reset to its factory settings at ${this.resetAt} (hark-factory-reset on the boot partition): settings and password are gone, recordings kept`);
    } catch {
      // No reset (or an unreadable mark: then nothing to tell).
    }
    let code: string | null = null;
    try {
      const kept = normalizeCode(readFileSync(this.keep, 'utf8'));
      if (kept.length === LENGTH && [...kept].every((c) => ALPHABET.includes(c))) code = kept;
    } catch {}
    if (!code) {
      code = newCode();
      try {
        writeFileSync(this.keep, `${code}\n`, { mode: 0o600 });
      } catch (e) {
        log.error(`cannot keep the setup code in ${this.keep} (${(e as Error).message}): it changes at the next start`);
      }
    }
    this.code = code;
    const where = this.file ? ` (also in ${this.file})` : '';
    log.warn(`no admin password yet. Setup code: ${formatCode(code)}${where}. Open http://${mdnsName()}/ and type it on the first page.`);
    this.show(
      `hark setup code: ${formatCode(code)}\n\n` +
        (this.resetAt ? `This box was reset to its factory settings at ${this.resetAt}.\n` : '') +
        `This hark has no admin password yet. Open http://${mdnsName()}/ (or the box's\n` +
        `address) in a browser and type this code on the first page, then choose the\n` +
        `password. The code works once.\n`,
    );
  }

  /** Whether `given` is the code; refused without comparing while `remote` (or everyone) must wait. */
  check(given: string, remote: string): CodeCheck {
    if (!this.code) return { ok: false, reason: 'no-code' };
    const t = this.now();
    const f = this.failures.get(remote);
    if (f && f.until > t) return { ok: false, reason: 'wait', retryAfterMs: f.until - t };
    this.tokens = Math.min(BURST, this.tokens + (t - this.tokensAt) / REFILL_MS);
    this.tokensAt = t;
    if (this.tokens < 1) return { ok: false, reason: 'wait', retryAfterMs: Math.ceil((1 - this.tokens) * REFILL_MS) };
    if (safeEqual(normalizeCode(given), this.code)) {
      this.failures.delete(remote);
      return { ok: true };
    }
    this.tokens -= 1;
    const n = (f?.n ?? 0) + 1;
    const wait = n < FREE_FAILURES ? 0 : Math.min(MAX_WAIT_MS, 60_000 * 2 ** (n - FREE_FAILURES));
    this.failures.set(remote, { n, until: t + wait });
    // Bounded: a flood from many addresses cannot grow the map without end.
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
    log.warn(`wrong setup code from ${remote || 'unknown'}`);
    return { ok: false, reason: 'wrong' };
  }

  /** The password is set: the code stops working and the file says so. */
  done(): void {
    this.code = null;
    this.resetAt = null;
    rmSync(this.keep, { force: true });
    rmSync(this.resetMark, { force: true });
    this.show(`This hark's admin password is set (${new Date(this.now()).toISOString()}): the setup code is used up.\n`);
  }

  private show(text: string): void {
    if (!this.file) return;
    try {
      writeFileSync(this.file, text.replace(/\n/g, '\r\n'), { mode: 0o644 });
    } catch (e) {
      log.error(`cannot write ${this.file}: ${(e as Error).message}`);
    }
  }
}
