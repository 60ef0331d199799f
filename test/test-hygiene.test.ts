/**
 * Checks that keep the tests and the docs honest; fast, they read files and start nothing.
 * - The README's configuration reference and src/config/schema.ts say the same: every key in
 *   both, with the same default and range (the GPIO block's defaults too).
 * - Unit tests under src/ and ffi/ start no daemon (those are test/ files or *.daemon.test.ts,
 *   which `script/test src` skips).
 * - Tests start hark through test/lib/hark.ts and log in through test/lib/session.ts.
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { parse as parseToml } from 'smol-toml';
import { ConfigSchema, GpioButtonSchema, GpioLedSchema, GpioSchema, IcecastSchema, NotifySchema, SrtSchema } from '../src/config/schema.ts';

const ROOT = resolve(import.meta.dir, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** Sections documented in their own README sections, not in the main table. */
const OWN_SECTIONS = ['icecast', 'whip', 'srt', 'gpio', 'notify', 'schedule', 'program'];

interface Row {
  keys: string[];
  /** The default as the README writes it (the first `code` in the cell), parsed as TOML. */
  default: unknown;
  range: string;
}

/** A TOML value as written in the README (`8080`, `"auto"`, `[]`). */
const tomlValue = (text: string): unknown => parseToml(`v = ${text}`).v;

/** The rows of the Markdown table whose header line is `header`. */
function tableRows(markdown: string, header: string): string[][] {
  const at = markdown.indexOf(`${header}\n`);
  if (at < 0) throw new Error(`README: no table "${header}"`);
  const lines = markdown.slice(at).split('\n');
  const rows: string[][] = [];
  for (const line of lines.slice(2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim()));
  }
  return rows;
}

/** What the range column says for a schema: "min to max" for numbers, the values for a choice, else nothing. */
export function rangeOf(s: TSchema): string {
  if (typeof s.minimum === 'number' || typeof s.maximum === 'number') return `${s.minimum} to ${s.maximum}`;
  if (Array.isArray(s.anyOf) && s.anyOf.every((x: TSchema) => 'const' in x)) return s.anyOf.map((x: TSchema) => `\`${x.const}\``).join(', ');
  return '';
}

/** The main configuration table: key, default, range. */
function readmeTable(markdown: string): Map<string, Row> {
  const out = new Map<string, Row>();
  for (const [keyCell, defaultCell, range] of tableRows(markdown, '| key | default | range | meaning |')) {
    const keys = [...keyCell!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const first = /`([^`]+)`/.exec(defaultCell!);
    for (const k of keys) out.set(k, { keys, default: first ? tomlValue(first[1]!) : undefined, range: range! });
  }
  return out;
}

/** Every key of the schema's sections the main table covers, with its schema. */
function schemaKeys(): Map<string, TSchema> {
  const out = new Map<string, TSchema>();
  for (const [section, s] of Object.entries(ConfigSchema.properties)) {
    if (OWN_SECTIONS.includes(section)) continue;
    for (const [key, k] of Object.entries((s as TSchema).properties as Record<string, TSchema>)) out.set(`${section}.${key}`, k);
  }
  return out;
}

/** Where README and schema differ, one line each (empty: they agree). */
export function readmeSchemaDifferences(markdown: string): string[] {
  const table = readmeTable(markdown);
  const schema = schemaKeys();
  const out: string[] = [];
  for (const k of schema.keys()) if (!table.has(k)) out.push(`${k}: in the schema, not in the README's table`);
  for (const [k, row] of table) {
    const s = schema.get(k);
    if (!s) {
      out.push(`${k}: in the README's table, not in the schema`);
      continue;
    }
    if (!Bun.deepEquals(row.default, s.default)) out.push(`${k}: default ${JSON.stringify(s.default)} in the schema, ${JSON.stringify(row.default)} in the README`);
    if (row.range !== rangeOf(s)) out.push(`${k}: range "${rangeOf(s)}" in the schema, "${row.range}" in the README`);
  }
  return out;
}

describe('README ↔ schema', () => {
  test('the configuration table has every key of the schema (and no other), with its default and range', () => {
    expect(readmeSchemaDifferences(README)).toEqual([]);
  });

  test('the check notices a key, a default or a range that differs, either way', () => {
    const row = (line: string) => README.replace(/^\| `input\.channels` .*$/m, line);
    expect(readmeSchemaDifferences(row('| `input.channels` | `3` | 1 to 8 | x |'))).toEqual(['input.channels: default 2 in the schema, 3 in the README']);
    expect(readmeSchemaDifferences(row('| `input.channels` | `2` | 1 to 16 | x |'))).toEqual(['input.channels: range "1 to 8" in the schema, "1 to 16" in the README']);
    expect(readmeSchemaDifferences(row('| `input.channel_count` | `2` | 1 to 8 | x |'))).toEqual([
      'input.channels: in the schema, not in the README\'s table',
      "input.channel_count: in the README's table, not in the schema",
    ]);
    expect(readmeSchemaDifferences(README.replace(/^\| `log\.level` .*\n/m, ''))).toEqual(["log.level: in the schema, not in the README's table"]);
  });

  test('the Icecast TLS table has the entry defaults', () => {
    const at = README.indexOf('### Icecast and WHIP outputs');
    const rows = tableRows(README.slice(at), '| key | default | meaning |');
    expect(rows.length).toBeGreaterThan(0);
    for (const [keyCell, defaultCell] of rows) {
      const key = /`([^`]+)`/.exec(keyCell!)![1]!;
      const s = (IcecastSchema.properties as Record<string, TSchema>)[key];
      expect({ key, known: !!s }).toEqual({ key, known: true });
      expect({ key, default: tomlValue(/`([^`]+)`/.exec(defaultCell!)![1]!) }).toEqual({ key, default: s!.default });
    }
  });

  test('the [[notify]] table has every key of an entry, with its default', () => {
    const at = README.indexOf('### Alerts to people: [[notify]]');
    expect(at).toBeGreaterThan(0);
    const rows = tableRows(README.slice(at), '| key | default | meaning |');
    const props = NotifySchema.properties as Record<string, TSchema>;
    const seen = new Set<string>();
    for (const [keyCell, defaultCell] of rows) {
      const key = /`([^`]+)`/.exec(keyCell!)![1]!;
      seen.add(key);
      expect({ key, known: key in props }).toEqual({ key, known: true });
      const d = /`([^`]+)`/.exec(defaultCell!);
      expect({ key, default: d ? tomlValue(d[1]!) : undefined }).toEqual({ key, default: props[key]!.default });
    }
    expect(Object.keys(props).filter((k) => !seen.has(k))).toEqual([]);
  });

  test('the [[srt]] table has every key of an entry, with its default', () => {
    const at = README.indexOf('### Contribution links over SRT: [[srt]]');
    expect(at).toBeGreaterThan(0);
    const rows = tableRows(README.slice(at), '| key | default | meaning |');
    const props = SrtSchema.properties as Record<string, TSchema>;
    const seen = new Set<string>();
    for (const [keyCell, defaultCell] of rows) {
      const key = /`([^`]+)`/.exec(keyCell!)![1]!;
      seen.add(key);
      expect({ key, known: key in props }).toEqual({ key, known: true });
      const d = /`([^`]+)`/.exec(defaultCell!);
      expect({ key, default: d ? tomlValue(d[1]!) : undefined }).toEqual({ key, default: props[key]!.default });
    }
    expect(Object.keys(props).filter((k) => !seen.has(k))).toEqual([]);
  });

  test('the GPIO example is the defaults, and its commented keys are the entries\' defaults', () => {
    const at = README.indexOf('[gpio]                   # these are the defaults');
    expect(at).toBeGreaterThan(0);
    const block = README.slice(at, README.indexOf('```', at));
    const gpio = (parseToml(block) as { gpio: unknown }).gpio;
    expect(Value.Default(GpioSchema, structuredClone(gpio))).toEqual(Value.Default(GpioSchema, {}));
    // `# long_press_ms = 1500` under [[gpio.button]], `# active_low = false` under [[gpio.led]] …
    let entry: Record<string, TSchema> | null = null;
    const commented: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('[[gpio.button]]')) entry = GpioButtonSchema.properties as Record<string, TSchema>;
      else if (line.startsWith('[[gpio.led]]')) entry = GpioLedSchema.properties as Record<string, TSchema>;
      const m = /^# (\w+) = ("[^"]*"|\S+)/.exec(line);
      if (!m || !entry) continue;
      commented.push(m[1]!);
      expect({ key: m[1], default: tomlValue(m[2]!) }).toEqual({ key: m[1], default: entry[m[1]!]!.default });
    }
    expect(commented.length).toBeGreaterThan(0);
  });
});

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const files = (folder: string, glob: string) => [...new Bun.Glob(glob).scanSync({ cwd: join(ROOT, folder) })].filter((f) => !f.includes('node_modules/')).map((f) => join(folder, f));

describe('test hygiene', () => {
  test('unit tests under src/ and ffi/ start no daemon (those are *.daemon.test.ts or live in test/)', () => {
    const DAEMONS = /\b(startHark|startPipewire|startIcecast|launchChromium)\(|src\/main\.ts|\[\s*'(pipewire|wireplumber|icecast2|chromium)'/;
    const found = [...files('src', '**/*.test.ts'), ...files('ffi', '**/*.test.ts')]
      .filter((f) => !f.endsWith('.daemon.test.ts'))
      .filter((f) => DAEMONS.test(read(f)));
    expect(found).toEqual([]);
  });

  test('hark processes start through test/lib/hark.ts (startHark) only', () => {
    // test/daemon-refusals.test.ts starts hark on purpose with what it must refuse: it never listens.
    const found = files('test', '**/*.ts')
      .filter((f) => !f.startsWith('test/lib/') && f !== 'test/daemon-refusals.test.ts')
      .filter((f) => /Bun\.spawn(Sync)?\([^)]*src\/main\.ts/.test(read(f)));
    expect(found).toEqual([]);
  });

  test('logging in goes through test/lib/session.ts: no test parses the login form or the session cookie itself', () => {
    const HAND_ROLLED = [/function cookiesOf\b/, /name="_csrf" value="\(/, /hx-headers="\(/, /hark_session=\(\[/];
    const found = files('test', '**/*.ts')
      .filter((f) => f !== 'test/lib/session.ts' && f !== 'test/test-hygiene.test.ts')
      .flatMap((f) => HAND_ROLLED.filter((re) => re.test(read(f))).map((re) => `${f}: ${re}`));
    expect(found).toEqual([]);
  });
});
