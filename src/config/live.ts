/**
 * Which config keys apply while hark runs, and who applies them: declared here, once, for
 * every key of the schema (schema.ts). A change is a new frozen snapshot (store.ts); each
 * component that reacts to config is handed the previous and the next snapshot and answers
 * whether it applied the change or needs a restart. Keys no component can apply are declared
 * `restart` and never reach one. live.test.ts fails when a key of the schema is neither.
 */
import { TypeGuard, type TSchema } from '@sinclair/typebox';
import { ConfigSchema, type Config } from './schema.ts';
import { logger } from '../log.ts';

const log = logger('config');

/** What a component did with a change. */
export type Reaction = 'applied' | 'restart';

/**
 * The components that apply config changes live (src/control/config-apply.ts builds them;
 * the daemon registers `tls` itself):
 * - `log`: the log level;
 * - `source`: the capture source, gain, latencies and the test tone (pipeline.setSource);
 * - `programs`: the [[program]] entries: routing and processing, cross-faded live;
 * - `title`: the stream title;
 * - `icecast`, `whip`, `rtp`: the entries, reconciled (unchanged ones keep their connection);
 * - `recording`, `silence`: turned on or off;
 * - `off-air`: what local listeners hear while off air;
 * - `notify`: the `[[notify]]` entries, rebuilt where they changed (src/notify);
 * - `tls`: the certificate files and the names the box's certificate carries;
 * - `automation`: the schedules, VOX and the time zone they run in (src/control/automation.ts);
 * - `on-use`: keys read from the current snapshot every time they are used (access,
 *   on_boot, the first-boot password): nothing to do when they change.
 */
export type ComponentName = 'log' | 'programs' | 'source' | 'title' | 'icecast' | 'whip' | 'srt' | 'rtp' | 'recording' | 'silence' | 'fallback' | 'off-air' | 'tls' | 'notify' | 'automation' | 'on-use';

/** Something that reacts to config changes: given the snapshots before and after, it applies the change or says it needs a restart. */
export interface ConfigComponent {
  readonly name: ComponentName;
  apply(prev: Config, next: Config): Reaction | Promise<Reaction>;
}

/**
 * How a key changes: `{ live }` names the component that applies it; `{ restart }` means it
 * takes effect at the next start, and says how the answer names it: `section` (the user is
 * told "mp3", "silence") or `key` (the dotted key, "input.channels").
 */
export type KeyRule = { live: ComponentName } | { restart: 'section' | 'key' };

const live = (by: ComponentName): KeyRule => ({ live: by });
/** Built into a server, encoder or detector at start; reported by its section. */
const RESTART: KeyRule = { restart: 'section' };
/** One key of a section whose other keys apply live; reported as the key. */
const RESTART_KEY: KeyRule = { restart: 'key' };

type Rules<S> = KeyRule | { [K in keyof S]-?: KeyRule };

/**
 * Every key of the schema, once. A section is one rule, or one rule per key (a list of
 * tables, like `[[icecast]]`, is one key: its entries and their fields go with it).
 */
export const CONFIG_KEYS: { [S in keyof Config]-?: Rules<Config[S]> } = {
  // The HTTP server binds at start; the names the box answers to are read per request (the
  // host gate) and go into the box's certificate (tls).
  http: { port: RESTART, host: RESTART, allowed_hosts: live('tls') },
  tls: { enabled: RESTART, port: RESTART, cert_file: live('tls'), key_file: live('tls'), names: live('tls') },
  input: {
    source: live('source'),
    device: live('source'),
    channels: RESTART_KEY,
    gain_db: live('source'),
    latency_frames: live('source'),
    relaxed_latency_frames: live('source'),
    url: live('source'),
    buffer_ms: live('source'),
    passphrase: live('source'),
    output_device: live('source'),
  },
  tone: live('source'),
  mp3: RESTART,
  opus: RESTART,
  stream: RESTART,
  log: live('log'),
  program: live('programs'),
  icecast: live('icecast'),
  recording: {
    enabled: live('recording'),
    program: RESTART_KEY,
    dir: RESTART,
    format: RESTART,
    bitrate_kbps: RESTART,
    bit_depth: RESTART,
    rotate_minutes: RESTART,
    rotate_mb: RESTART,
    min_free_mb: RESTART,
    keep_days: RESTART,
    make_room: RESTART,
    clips: RESTART,
    continue_within_minutes: RESTART,
    max_minutes: live('on-use'),
  },
  silence: { enabled: live('silence'), threshold_dbfs: RESTART, after_s: RESTART },
  fallback: live('fallback'),
  whip: live('whip'),
  srt: live('srt'),
  rtp: live('rtp'),
  metadata: { title: live('title'), icy_metaint: RESTART_KEY },
  webrtc: RESTART,
  gpio: RESTART,
  control: {
    on_boot: live('on-use'),
    local_listeners_off_air: live('off-air'),
    // Where auth.json, state.json and the socket are is decided at start.
    state_dir: RESTART_KEY,
    socket: RESTART_KEY,
  },
  schedule: live('automation'),
  vox: live('automation'),
  time: live('automation'),
  access: live('on-use'),
  admin: live('on-use'),
  notify: live('notify'),
};

const isRule = (v: unknown): v is KeyRule => typeof v === 'object' && v !== null && ('live' in v || 'restart' in v);

/** The rule for a dotted key ("icecast.0.port", "input.device"), or undefined for one the table lacks. */
export function ruleFor(key: string, table: object = CONFIG_KEYS): KeyRule | undefined {
  const [section, field] = key.split('.');
  const rules = (table as Record<string, unknown>)[section!];
  if (isRule(rules)) return rules;
  if (!rules || field === undefined) return undefined;
  const rule = (rules as Record<string, unknown>)[field];
  return isRule(rule) ? rule : undefined;
}

/** Every leaf key of a schema, dotted; the entries of a list of tables as `*` ("icecast.*.url"). */
export function schemaLeaves(s: TSchema = ConfigSchema, prefix = ''): string[] {
  const at = (k: string) => (prefix ? `${prefix}.${k}` : k);
  if (TypeGuard.IsObject(s)) return Object.entries(s.properties).flatMap(([k, v]) => schemaLeaves(v, at(k)));
  if (TypeGuard.IsArray(s) && TypeGuard.IsObject(s.items)) return schemaLeaves(s.items, at('*'));
  return [prefix];
}

/** The keys of a schema that the table neither has applied live nor flagged for a restart. */
export function undeclaredKeys(s: TSchema = ConfigSchema, table: object = CONFIG_KEYS): string[] {
  return schemaLeaves(s).filter((k) => !ruleFor(k.replaceAll('*', '0'), table));
}

/** What a change did: the sections applied live, and what waits for a restart. */
export interface ApplyResult {
  applied: string[];
  restart: string[];
}

/**
 * Hand a change to the components that apply it. `changed` are the dotted keys that differ
 * (store.ts changedKeys); each component is called once, in the order its first key comes,
 * and its answer covers the sections of its keys. A key whose component is missing or
 * throws is reported as needing a restart.
 */
export async function applyChange(components: ReadonlyMap<ComponentName, ConfigComponent>, prev: Config, next: Config, changed: readonly string[]): Promise<ApplyResult> {
  const applied = new Set<string>();
  const restart = new Set<string>();
  const byComponent = new Map<ComponentName, string[]>();
  const sectionOf = (k: string) => k.split('.')[0]!;
  for (const key of changed) {
    const rule = ruleFor(key);
    if (!rule) restart.add(key);
    else if ('restart' in rule) restart.add(rule.restart === 'key' ? key : sectionOf(key));
    else byComponent.set(rule.live, [...(byComponent.get(rule.live) ?? []), key]);
  }
  for (const [name, keys] of byComponent) {
    const c = components.get(name);
    let r: Reaction = 'restart';
    if (!c) log.warn(`nothing applies ${keys.join(', ')} in this process: it takes effect after a restart`);
    else {
      try {
        r = await c.apply(prev, next);
      } catch (e) {
        log.error(`applying ${keys.join(', ')} failed: ${(e as Error).message}; restart hark to apply`);
      }
    }
    for (const k of keys) (r === 'applied' ? applied : restart).add(sectionOf(k));
  }
  return { applied: [...applied], restart: [...restart] };
}
