/**
 * Writing the config back as TOML a person can keep editing.
 *
 * `editToml(oldText, oldConfig, newConfig)` changes only the lines whose values changed:
 * comments, blank lines, key order and untouched tables stay as they were. A changed key is
 * rewritten in place (its trailing comment kept); a new key goes after the last key of its
 * table; a new table is appended. An `[[array]]` whose length changed is written again as a
 * whole (comments inside those blocks are lost). Text this line editor does not understand
 * (multi-line strings or arrays, inline tables, dotted or quoted keys) falls back to
 * `renderToml`, which writes every non-default key and no comments. Either way the result is
 * parsed again and must give exactly `newConfig`, or the fallback is used.
 */
import { parse, stringify } from 'smol-toml';
import { Value } from '@sinclair/typebox/value';
import { ConfigSchema, type Config } from './schema.ts';

type Obj = Record<string, unknown>;

const HEADER =
  '# hark configuration. Every key and its default: README.md, "Configuration".\n' +
  '# Changes from the admin page, the API and `hark config set` rewrite only the lines they change.\n';

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isObjArray = (v: unknown): v is Obj[] => Array.isArray(v) && v.every(isObj);
const isTableArray = (v: unknown): v is Obj[] => Array.isArray(v) && v.length > 0 && v.every(isObj);

/** A leaf that changed: the table path (with array indexes), the key and the new value. */
interface SetOp {
  kind: 'set';
  table: (string | number)[];
  key: string;
  value: unknown;
}
/** An array of tables whose length changed: written again as a whole. */
interface ArrayOp {
  kind: 'array';
  table: (string | number)[];
  key: string;
  value: Obj[];
}
type Op = SetOp | ArrayOp;

function diff(a: unknown, b: unknown, table: (string | number)[], ops: Op[]): void {
  const ao = (a ?? {}) as Obj;
  const bo = (b ?? {}) as Obj;
  for (const key of new Set([...Object.keys(ao), ...Object.keys(bo)])) {
    const x = ao[key];
    const y = bo[key];
    if (Value.Equal(x, y)) continue;
    if (isObj(y) && (isObj(x) || x === undefined)) {
      diff(x, y, [...table, key], ops);
    } else if (isObjArray(y) && isObjArray(x)) {
      const xs = x as Obj[];
      const ys = y as Obj[];
      if (xs.length !== ys.length) ops.push({ kind: 'array', table, key, value: ys });
      else ys.forEach((entry, i) => diff(xs[i], entry, [...table, key, i], ops));
    } else {
      ops.push({ kind: 'set', table, key, value: y });
    }
  }
}

/** `value` as TOML text (the right-hand side of `key = value`). */
function tomlValue(value: unknown): string {
  return stringify({ v: value as never }).trim().replace(/^v = /, '');
}

interface Line {
  text: string;
  kind: 'blank' | 'comment' | 'header' | 'key';
  /** For headers: the table path with array indexes resolved. */
  path?: (string | number)[];
  array?: boolean;
  key?: string;
  /** For keys: where the value starts and ends (the rest is spacing and a comment). */
  valueStart?: number;
  valueEnd?: number;
}

class Unsupported extends Error {}

const HEADER_RE = /^\s*(\[\[?)\s*([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\s*(\]\]?)\s*(#.*)?$/;
const KEY_RE = /^(\s*)([A-Za-z0-9_-]+)(\s*=\s*)(.*)$/;

/** Where a single-line TOML value ends; throws Unsupported for anything multi-line. */
function valueEnd(s: string, start: number): number {
  if (s.startsWith('"""', start) || s.startsWith("'''", start)) throw new Unsupported('multi-line string');
  if (s[start] === '{') throw new Unsupported('inline table');
  let depth = 0;
  let i = start;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
      if (i >= s.length) throw new Unsupported('unterminated string');
      i++;
      continue;
    }
    if (c === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) throw new Unsupported('unterminated string');
      i = j + 1;
      continue;
    }
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === '{') throw new Unsupported('inline table');
    else if (c === '#' && depth === 0) break;
    i++;
  }
  if (depth !== 0) throw new Unsupported('multi-line array');
  let end = i;
  while (end > start && /\s/.test(s[end - 1]!)) end--;
  return end;
}

function scan(text: string): Line[] {
  const counts = new Map<string, number>();
  let arrayParent: string | null = null;
  return text.split('\n').map((t): Line => {
    if (/^\s*$/.test(t)) return { text: t, kind: 'blank' };
    if (/^\s*#/.test(t)) return { text: t, kind: 'comment' };
    const h = HEADER_RE.exec(t);
    if (h) {
      const array = h[1] === '[[';
      if (array !== (h[3] === ']]')) throw new Unsupported('header brackets');
      const name = h[2]!;
      const parts: (string | number)[] = name.split('.');
      if (array) {
        const n = counts.get(name) ?? 0;
        counts.set(name, n + 1);
        parts.push(n);
        arrayParent = name;
      } else if (arrayParent && name.startsWith(`${arrayParent}.`)) {
        throw new Unsupported('sub-table of an array entry');
      }
      return { text: t, kind: 'header', path: parts, array };
    }
    const k = KEY_RE.exec(t);
    if (k) {
      const valueStart = k[1]!.length + k[2]!.length + k[3]!.length;
      return { text: t, kind: 'key', key: k[2]!, valueStart, valueEnd: valueEnd(t, valueStart) };
    }
    throw new Unsupported(`line not understood: ${t}`);
  });
}

const samePath = (a: readonly (string | number)[], b: readonly (string | number)[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** The lines [start, end) of the section with this path (header line included; root: no header). */
function sectionRange(lines: Line[], path: (string | number)[]): [number, number] | null {
  let start = -1;
  if (path.length === 0) start = 0;
  else start = lines.findIndex((l) => l.kind === 'header' && samePath(l.path!, path));
  if (start < 0) return null;
  let end = start + (path.length === 0 ? 0 : 1);
  while (end < lines.length && lines[end]!.kind !== 'header') end++;
  return [start, end];
}

function setKey(lines: Line[], op: SetOp): void {
  const value = tomlValue(op.value);
  const range = sectionRange(lines, op.table);
  if (!range) {
    const header = op.table.filter((p) => typeof p === 'string').join('.');
    // A missing entry of an array of tables cannot be appended out of order.
    if (op.table.some((p) => typeof p === 'number')) throw new Unsupported('missing array entry');
    if (lines.length && lines[lines.length - 1]!.text !== '') lines.push({ text: '', kind: 'blank' });
    lines.push({ text: `[${header}]`, kind: 'header', path: op.table, array: false });
    lines.push({ text: `${op.key} = ${value}`, kind: 'key', key: op.key });
    lines.push({ text: '', kind: 'blank' });
    return;
  }
  const [start, end] = range;
  for (let i = start; i < end; i++) {
    const l = lines[i]!;
    if (l.kind === 'key' && l.key === op.key) {
      l.text = l.text.slice(0, l.valueStart) + value + l.text.slice(l.valueEnd);
      return;
    }
  }
  let at = start + (op.table.length === 0 ? 0 : 1);
  for (let i = start; i < end; i++) if (lines[i]!.kind === 'key') at = i + 1;
  lines.splice(at, 0, { text: `${op.key} = ${value}`, kind: 'key', key: op.key });
}

function replaceArray(lines: Line[], op: ArrayOp, entrySchema: (e: Obj) => Obj): void {
  const name = [...op.table, op.key].join('.');
  const isEntry = (l: Line) => l.kind === 'header' && l.array && l.path!.slice(0, -1).join('.') === name;
  let first = -1;
  for (let i = 0; i < lines.length; ) {
    if (isEntry(lines[i]!)) {
      if (first < 0) first = i;
      let end = i + 1;
      while (end < lines.length && lines[end]!.kind !== 'header') end++;
      lines.splice(i, end - i);
    } else i++;
  }
  const block: Line[] = [];
  for (const entry of op.value) {
    block.push({ text: `[[${name}]]`, kind: 'header' });
    for (const [k, v] of Object.entries(entrySchema(entry))) block.push({ text: `${k} = ${tomlValue(v)}`, kind: 'key', key: k });
    block.push({ text: '', kind: 'blank' });
  }
  if (first < 0) {
    if (lines.length && lines[lines.length - 1]!.text !== '') lines.push({ text: '', kind: 'blank' });
    lines.push(...block);
  } else lines.splice(first, 0, ...block);
}

/** The keys of `value` that differ from the schema's defaults (what a person would write). */
function minimal(value: Obj, defaults: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(value)) {
    const d = defaults[k];
    if (isObj(v) && isObj(d)) {
      const sub = minimal(v, d);
      if (Object.keys(sub).length) out[k] = sub;
    } else if (Array.isArray(v) && v.every(isObj) && v.length > 0) {
      if (!Value.Equal(v, d)) out[k] = v.map((e) => minimalEntry([k], e));
    } else if (!Value.Equal(v, d)) out[k] = v;
  }
  return out;
}

/** An array entry's non-default keys (entries have no defaults of their own as a whole). */
function minimalEntry(path: string[], entry: Obj): Obj {
  let schema: unknown = ConfigSchema;
  for (const p of path) schema = (schema as { properties?: Obj })?.properties?.[p];
  const item = (schema as { items?: unknown } | undefined)?.items;
  if (!item) return entry;
  const defaults = Value.Default(item as never, {}) as Obj;
  const out: Obj = {};
  for (const [k, v] of Object.entries(entry)) {
    if (isTableArray(v)) out[k] = v.map((e) => minimalEntry([...path, k], e));
    else if (!(k in defaults) || !Value.Equal(v, defaults[k])) out[k] = v;
  }
  return out;
}

/** The whole config as TOML: every key that differs from its default, no comments. */
export function renderToml(config: Config): string {
  const defaults = Value.Default(ConfigSchema, {}) as Obj;
  // Config is a closed interface (no index signature): walked here as a plain TOML table.
  const body = stringify(minimal(config as unknown as Obj, defaults) as never);
  return `${HEADER}\n${body}${body.endsWith('\n') ? '' : '\n'}`;
}

function sameConfig(text: string, want: Config): boolean {
  try {
    const got = Value.Default(ConfigSchema, parse(text));
    return Value.Equal(got, want);
  } catch {
    return false;
  }
}

/**
 * The new file text: `oldText` with only the changed values rewritten, or the full
 * rendering when that cannot be done faithfully. `preserved` says which one it is.
 */
export function editToml(oldText: string, oldConfig: Config, newConfig: Config): { text: string; preserved: boolean } {
  if (oldText.trim() === '') return { text: renderToml(newConfig), preserved: false };
  try {
    const lines = scan(oldText);
    const ops: Op[] = [];
    diff(oldConfig, newConfig, [], ops);
    for (const op of ops) {
      if (op.kind === 'set') setKey(lines, op);
      else replaceArray(lines, op, (e) => minimalEntry([...op.table.map(String), op.key], e));
    }
    let text = lines.map((l) => l.text).join('\n');
    if (!text.endsWith('\n')) text += '\n';
    if (sameConfig(text, newConfig)) return { text, preserved: true };
  } catch (e) {
    if (!(e instanceof Unsupported)) throw e;
  }
  return { text: renderToml(newConfig), preserved: false };
}
