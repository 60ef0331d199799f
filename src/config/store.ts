/**
 * The running configuration and its file. Every change — the admin page, the API, the CLI
 * (through the daemon's socket), a hand edit picked up on SIGHUP or on file change — goes
 * through here, one at a time:
 *
 *   validate against the one schema → write (temp file, fsync, rename, fsync dir; the
 *   previous file kept as `<file>.bak`) → swap in a new frozen snapshot → hand the previous
 *   and the next snapshot to the components that apply the changed keys (live.ts says which),
 *   and say what needs a restart.
 *
 * Nobody holds and mutates a shared config: `store.config` is the current snapshot, deep-frozen
 * (an assignment into it throws). Read it where it is used; a component that keeps settings is
 * handed each new snapshot through its `apply(prev, next)`.
 *
 * A refused change (ConfigError, naming the key path) leaves the file and the running
 * config untouched. Writes from the API keep comments and layout (see toml-edit.ts); a text
 * replacement (`hark config edit`, PUT /api/config as TOML) is written exactly as given.
 */
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { TypeGuard, type TSchema } from '@sinclair/typebox';
import { parse as parseToml } from 'smol-toml';
import { checkConfigShape, ConfigError, ConfigShapeError, FORBIDDEN_KEYS, parseConfig, validateConfig } from './load.ts';
import { ConfigSchema, type Config } from './schema.ts';
import { writeFileAtomic } from './atomic.ts';
import { applyChange, type ApplyResult, type ComponentName, type ConfigComponent } from './live.ts';
import { editToml } from './toml-edit.ts';
import { logger } from '../log.ts';

/** hark.toml's mode: it may hold passwords, so only its owner (the hark user) reads it. */
export const CONFIG_MODE = 0o600;

const log = logger('config');

export type { ApplyResult };

/** Freeze an object and everything in it. */
function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/**
 * An immutable config: `c` itself when it is already a snapshot, else a deep-frozen copy (the
 * caller's object stays as it was). Assigning into a snapshot throws a TypeError.
 */
export function snapshot(c: Config): Config {
  return Object.isFrozen(c) ? c : deepFreeze(Value.Clone(c) as Config);
}

export interface SaveResult {
  /** Dotted keys whose value changed. */
  changed: string[];
  applied: string[];
  restart_required: string[];
  /** Whether comments and layout of the file were kept (false: rewritten in full). */
  comments_preserved: boolean;
}

export interface ReloadResult extends SaveResult {
  ok: boolean;
  error?: string;
  path?: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Dotted paths of the leaves that differ ("icecast.0.port", "input.device"). */
export function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  if (Value.Equal(a, b)) return [];
  if (isObj(a) && isObj(b)) {
    const out: string[] = [];
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) out.push(...changedKeys(a[k], b[k], prefix ? `${prefix}.${k}` : k));
    return out;
  }
  const aa = Array.isArray(a) ? (a as unknown[]) : null;
  const bb = Array.isArray(b) ? (b as unknown[]) : null;
  if (aa && bb && aa.length === bb.length && aa.every((x) => isObj(x))) {
    return aa.flatMap((x, i) => changedKeys(x, bb[i], `${prefix}.${i}`));
  }
  return [prefix];
}

/** The schema of a dotted key path, or undefined for a key the schema does not have. */
export function schemaAt(path: string): TSchema | undefined {
  let s: TSchema | undefined = ConfigSchema;
  for (const part of path.split('.')) {
    if (!s) return undefined;
    if (TypeGuard.IsObject(s)) s = s.properties[part];
    else if (TypeGuard.IsArray(s) && /^\d+$/.test(part)) s = s.items;
    else return undefined;
  }
  return s;
}

/**
 * A value typed in by a person (a form field, `hark config set KEY VALUE`) as the schema
 * wants it: strings stay strings, numbers and booleans are parsed, lists and tables are TOML
 * (`["opus", "pcmu"]`, `{ url = "…" }`). Already-typed values (JSON) pass through.
 */
export function coerce(path: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const s = schemaAt(path);
  if (!s) throw new ConfigError(path, 'unknown key');
  const literalKinds = TypeGuard.IsUnion(s) ? new Set(s.anyOf.map((x) => typeof (x as { const?: unknown }).const)) : new Set<string>();
  if (TypeGuard.IsString(s) || (literalKinds.size === 1 && literalKinds.has('string'))) {
    // A quoted TOML string is unquoted; anything else is taken literally.
    if (/^".*"$|^'.*'$/s.test(value.trim())) {
      try {
        return (parseToml(`v = ${value.trim()}`) as { v: unknown }).v;
      } catch {
        return value;
      }
    }
    return value;
  }
  const text = value.trim();
  if (TypeGuard.IsBoolean(s)) {
    if (text === 'true' || text === 'on' || text === 'yes') return true;
    if (text === 'false' || text === 'off' || text === 'no' || text === '') return false;
    return value;
  }
  if (TypeGuard.IsInteger(s) || TypeGuard.IsNumber(s) || literalKinds.has('number')) {
    const n = Number(text);
    return text !== '' && Number.isFinite(n) ? n : value;
  }
  try {
    return (parseToml(`v = ${text}`) as { v: unknown }).v;
  } catch (e) {
    throw new ConfigError(path, `not a TOML value: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Set a dotted key in a plain object (arrays indexed by number; index = length appends). */
export function setPath(root: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur: unknown = root;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i]!;
    const next = Array.isArray(cur) ? cur[Number(p)] : (cur as Record<string, unknown>)[p];
    if (typeof next !== 'object' || next === null) {
      const prefix = parts.slice(0, i + 1).join('.');
      if (Array.isArray(cur) && Number(p) === cur.length) {
        cur.push({});
        cur = cur[cur.length - 1];
        continue;
      }
      throw new ConfigError(prefix, Array.isArray(cur) ? `no entry ${p} (there are ${cur.length})` : 'unknown key');
    }
    cur = next;
  }
  const last = parts[parts.length - 1]!;
  if (Array.isArray(cur)) {
    const i = Number(last);
    if (!Number.isInteger(i) || i < 0 || i > cur.length) throw new ConfigError(path, `no entry ${last} (there are ${cur.length})`);
    cur[i] = value;
  } else (cur as Record<string, unknown>)[last] = value;
}

/** Read a dotted key; undefined when absent. */
export function getPath(root: unknown, path: string): unknown {
  if (!path) return root;
  let cur: unknown = root;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = Array.isArray(cur) ? cur[Number(p)] : (cur as Record<string, unknown>)[p];
  }
  return cur;
}

export class ConfigStore {
  private text: string;
  private queue: Promise<unknown> = Promise.resolve();
  private watcher?: FSWatcher;
  private debounce?: ReturnType<typeof setTimeout>;
  private readonly components = new Map<ComponentName, ConfigComponent>();
  private current: Config;
  private readonly listeners = new Set<(r: SaveResult) => void>();
  /** Set when the last hand edit was refused: the reason, naming the key path. */
  get lastRefusal(): { at: string; message: string; path: string } | null {
    return this.refusal;
  }
  private set lastRefusal(v: { at: string; message: string; path: string } | null) {
    if (v === this.refusal) return;
    this.refusal = v;
    for (const fn of this.refusalListeners) fn(v);
  }
  private refusal: { at: string; message: string; path: string } | null = null;
  private readonly refusalListeners = new Set<(r: { message: string; path: string } | null) => void>();

  /** Hear when a hand edit is refused, and when the refusal ends (null). */
  onRefusal(fn: (r: { message: string; path: string } | null) => void): () => void {
    this.refusalListeners.add(fn);
    return () => this.refusalListeners.delete(fn);
  }

  /**
   * @param path the config file (it may not exist yet: defaults, written on the first change)
   * @param config the config running now (kept as a snapshot: see `snapshot`)
   */
  constructor(
    readonly path: string,
    config: Config,
  ) {
    this.current = snapshot(config);
    this.text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    this.removeStaleTemps();
    this.tightenMode();
  }

  /**
   * The file may hold [admin] password and source passwords: only hark's user reads it
   * (CONFIG_MODE). A file others can read (an older hark wrote 0640, or a hand copy 0644),
   * and its .bak, are tightened at start; every write keeps CONFIG_MODE.
   */
  private tightenMode(): void {
    for (const f of [this.path, `${this.path}.bak`]) {
      try {
        const mode = statSync(f).mode & 0o777;
        if ((mode & ~CONFIG_MODE) === 0) continue;
        chmodSync(f, CONFIG_MODE);
        log.info(`${f} was readable by others (mode ${mode.toString(8).padStart(4, '0')}): now ${CONFIG_MODE.toString(8).padStart(4, '0')}`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn(`cannot make ${f} private: ${(e as Error).message}`);
      }
    }
  }

  /** The current snapshot (frozen): read it where it is used, do not keep it. */
  get config(): Config {
    return this.current;
  }

  /**
   * Components that apply changes to the running daemon, each under its name in live.ts
   * (one per name: a later one replaces an earlier one).
   */
  use(...components: ConfigComponent[]): void {
    for (const c of components) this.components.set(c.name, c);
  }

  /** Hear about every change that was saved or reloaded. */
  onChange(fn: (r: SaveResult) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The file's text as hark last wrote or read it. */
  currentText(): string {
    return this.text;
  }

  get(key = ''): unknown {
    const v = getPath(this.config, key);
    if (v === undefined) throw new ConfigError(key, 'unknown key');
    return v;
  }

  /** Change the config with a function on a copy; refused changes throw ConfigError. */
  update(mutate: (draft: Config) => void): Promise<SaveResult> {
    return this.serial(async () => {
      await this.adoptHandEdit();
      const draft = Value.Clone(this.config) as Config;
      mutate(draft);
      return this.commit(validateConfig(draft), null);
    });
  }

  /** Set dotted keys to values (strings are converted as the schema says). */
  set(entries: Record<string, unknown>): Promise<SaveResult> {
    // Before anything walks a path: "constructor.prototype.x" must never reach setPath.
    for (const [k, v] of Object.entries(entries)) {
      const bad = k.split('.').find((part) => FORBIDDEN_KEYS.has(part));
      if (bad) return Promise.reject(new ConfigShapeError(k, `the key "${bad}" is not allowed`));
      try {
        checkConfigShape(v, k);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return this.update((draft) => {
      for (const [k, v] of Object.entries(entries)) {
        if (!schemaAt(k)) throw new ConfigError(k, 'unknown key');
        // Config is a closed interface: setPath walks it as a plain table, the key checked by schemaAt above.
        setPath(draft as unknown as Record<string, unknown>, k, coerce(k, v));
      }
    });
  }

  /** Replace the whole config with an object (PUT /api/config with JSON). */
  replace(raw: unknown): Promise<SaveResult> {
    return this.serial(async () => this.commit(validateConfig(raw), null));
  }

  /** Replace the file with this TOML text, kept exactly as given (`hark config edit`). */
  replaceText(text: string): Promise<SaveResult> {
    return this.serial(async () => this.commit(parseConfig(text), text));
  }

  /**
   * Read the file again after a hand edit (SIGHUP, file change). An invalid file is refused
   * with the key path; the running config stays.
   */
  reload(reason: string): Promise<ReloadResult> {
    return this.serial(async () => {
      const text = existsSync(this.path) ? readFileSync(this.path, 'utf8') : '';
      if (text === this.text) return { ok: true, changed: [], applied: [], restart_required: [], comments_preserved: true };
      let next: Config;
      try {
        next = parseConfig(text, this.path);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        this.lastRefusal = { at: new Date().toISOString(), message: e.message, path: e.path };
        log.error(`${reason}: the edited file is refused, the running config stays: ${e.message}`);
        return { ok: false, error: e.message, path: e.path, changed: [], applied: [], restart_required: [], comments_preserved: true };
      }
      this.lastRefusal = null;
      this.text = text;
      const r = await this.swapIn(next);
      log.info(`${reason}: reloaded ${this.path}${r.changed.length ? ` (${r.changed.join(', ')})` : ' (no change)'}`);
      return { ok: true, ...r, comments_preserved: true };
    });
  }

  /** Reload on every change to the file (editors that replace it included). */
  watch(): void {
    if (this.watcher) return;
    const name = basename(this.path);
    try {
      this.watcher = watch(dirname(this.path), (_event, file) => {
        if (file !== name) return;
        clearTimeout(this.debounce);
        // Editors write in several steps; wait for the file to settle.
        this.debounce = setTimeout(() => void this.reload('file changed').catch((e) => log.error(`reload failed: ${(e as Error).message}`)), 250);
      });
    } catch (e) {
      log.warn(`cannot watch ${dirname(this.path)} (${(e as Error).message}); hand edits apply on SIGHUP`);
    }
  }

  close(): void {
    clearTimeout(this.debounce);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** A hand edit not yet picked up is taken in before a change is made on top of it. */
  private async adoptHandEdit(): Promise<void> {
    const text = existsSync(this.path) ? readFileSync(this.path, 'utf8') : '';
    if (text === this.text) return;
    try {
      const next = parseConfig(text, this.path);
      this.text = text;
      await this.swapIn(next);
      log.info('took in a hand edit before writing');
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      // The invalid hand edit is what `.bak` will hold after this write.
      log.warn(`the file on disk is invalid (${e.message}); writing over it, the edit is kept in ${basename(this.path)}.bak`);
    }
  }

  private async commit(next: Config, verbatim: string | null): Promise<SaveResult> {
    // Every write through the store comes from the API, a form or the CLI: none of them may
    // set the admin password, which needs the current one (only a hand edit of the file may,
    // as at first boot). Clearing it (the daemon, once it has hashed it) is allowed.
    if (next.admin.password && next.admin.password !== this.config.admin.password) {
      throw new ConfigError('admin.password', 'the admin password is not set through the config: use the password form on the System page or POST /api/password (both need the current password), or `hark passwd` on the box');
    }
    const changed = changedKeys(this.config, next);
    let text = verbatim;
    let preserved = true;
    if (text === null) {
      if (changed.length === 0) return { changed, applied: [], restart_required: [], comments_preserved: true };
      const r = editToml(this.text, this.config, next);
      text = r.text;
      preserved = r.preserved;
    }
    writeFileAtomic(this.path, text, { backup: true, mode: CONFIG_MODE, forceMode: true, ownLikeDir: true });
    this.text = text;
    this.lastRefusal = null;
    const r = await this.swapIn(next);
    if (changed.length) log.info(`saved ${this.path}: ${changed.join(', ')}${preserved ? '' : ' (file rewritten: comments not kept)'}`);
    return { ...r, comments_preserved: preserved };
  }

  private async swapIn(next: Config): Promise<SaveResult> {
    const prev = this.current;
    const snap = deepFreeze(next);
    const changed = changedKeys(prev, snap);
    this.current = snap;
    const result: ApplyResult = changed.length ? await applyChange(this.components, prev, snap, changed) : { applied: [], restart: [] };
    const out: SaveResult = { changed, applied: result.applied, restart_required: result.restart, comments_preserved: true };
    for (const l of this.listeners) {
      try {
        l(out);
      } catch (e) {
        log.error(`config listener threw: ${(e as Error).message}`);
      }
    }
    return out;
  }

  /** Temp files left by a writer killed mid-write (never the live file). */
  private removeStaleTemps(): void {
    const dir = dirname(this.path);
    const prefix = `.${basename(this.path)}.`;
    try {
      for (const f of readdirSync(dir)) {
        if (!f.startsWith(prefix) || !f.endsWith('.tmp')) continue;
        const p = join(dir, f);
        // Only old ones: another process may be writing right now.
        if (Date.now() - statSync(p).mtimeMs > 60_000) rmSync(p, { force: true });
      }
    } catch {
      // The directory may not exist yet.
    }
  }
}
