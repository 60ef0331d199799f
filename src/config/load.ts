import { Value } from '@sinclair/typebox/value';
import { TypeGuard, type TSchema } from '@sinclair/typebox';
import { parse as parseToml, TomlError } from 'smol-toml';
import { existsSync, readFileSync } from 'node:fs';
import { ConfigSchema, type Config } from './schema.ts';
import { checkBroadcastConfig } from './check.ts';
import { checkScheduleConfig } from './schedule.ts';

/** A refused configuration: `path` is the dotted key path (e.g. `input.channels`). */
export class ConfigError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    readonly file?: string,
  ) {
    super(`${file ? `${file}: ` : ''}${path ? `${path}: ` : ''}${reason}`);
    this.name = 'ConfigError';
  }
}

/**
 * A config whose shape is hostile rather than wrong: a key that names an object's prototype
 * machinery, or nesting deeper than any config has. The API answers it 400, not 422.
 */
export class ConfigShapeError extends ConfigError {
  constructor(path: string, reason: string, file?: string) {
    super(path, reason, file);
    this.name = 'ConfigShapeError';
  }
}

/** Keys that reach an object's prototype when used as a property name. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
/** Deeper than any hark config (gpio.button.0.line is 4). */
export const MAX_CONFIG_DEPTH = 16;

/**
 * Refuse prototype keys and deep nesting anywhere in `raw` (iteratively: a hostile depth must
 * not overflow the stack). `at` is the dotted path of `raw` itself.
 */
export function checkConfigShape(raw: unknown, at = '', file?: string): void {
  const stack: [unknown, string, number][] = [[raw, at, 0]];
  while (stack.length) {
    const [v, path, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_CONFIG_DEPTH) throw new ConfigShapeError(path, `nested more than ${MAX_CONFIG_DEPTH} levels deep; a hark config never is`, file);
    for (const k of Object.keys(v)) {
      const p = path ? `${path}.${k}` : k;
      if (FORBIDDEN_KEYS.has(k)) throw new ConfigShapeError(p, `the key "${k}" is not allowed`, file);
      stack.push([(v as Record<string, unknown>)[k], p, depth + 1]);
    }
  }
}

/** Where the config lives when --config is not given. */
export function defaultConfigPath(cwd = process.cwd()): string {
  // A checkout (package.json beside src/) keeps its config under ./data; the device uses /etc.
  if (existsSync(`${cwd}/package.json`) && existsSync(`${cwd}/src/main.ts`)) return `${cwd}/data/hark.toml`;
  return '/etc/hark/hark.toml';
}

/** Parse and validate a TOML text. Throws ConfigError naming the first bad key. */
export function parseConfig(text: string, file?: string): Config {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (e) {
    const err = e as TomlError;
    const where = err.line ? `line ${err.line}, column ${err.column}: ` : '';
    throw new ConfigError('', `not valid TOML: ${where}${firstLine(err.message)}`, file);
  }
  return validateConfig(raw, file);
}

/** Apply defaults to a plain object and validate it against the schema. */
export function validateConfig(raw: unknown, file?: string): Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError('', 'the configuration must be a table', file);
  }
  checkConfigShape(raw, '', file);
  const value = Value.Default(ConfigSchema, Value.Clone(raw));
  const first = Value.Errors(ConfigSchema, value).First();
  if (first) {
    const path = first.path.replace(/^\//, '').replaceAll('/', '.');
    throw new ConfigError(path, describe(first.schema, first.value, first.message, SECRET_NAME.test(path.split('.').pop() ?? '')), file);
  }
  // What the schema cannot say: an [[icecast]] entry needs url or host+mount, MP3 rates.
  const problem = checkBroadcastConfig(value as Config) ?? checkScheduleConfig(value as Config);
  if (problem) throw new ConfigError(problem.path, problem.reason, file);
  return value as Config;
}

/** Load the config file; a missing file means all defaults. */
export function loadConfig(file: string): Config {
  if (!existsSync(file)) return validateConfig({}, file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError('', `cannot read: ${(e as Error).message}`, file);
  }
  return parseConfig(text, file);
}

/** The defaults, as a full Config. */
export function defaultConfig(): Config {
  return validateConfig({});
}

/** Keys whose value a refusal does not quote (it reaches pages, alerts and logs): its length instead. */
const SECRET_NAME = /password|token|credential|passphrase/;

function describe(schema: TSchema, value: unknown, fallback: string, secret = false): string {
  const got = value === undefined ? 'nothing' : secret && typeof value === 'string' ? `${value.length} characters` : JSON.stringify(value);
  if (schema === undefined) return fallback;
  if (fallback === 'Unexpected property') return 'unknown key';
  if (TypeGuard.IsUnion(schema) && schema.anyOf.every((s) => TypeGuard.IsLiteral(s))) {
    const allowed = schema.anyOf.map((s) => JSON.stringify((s as { const: unknown }).const)).join(', ');
    return `must be one of ${allowed}, got ${got}`;
  }
  if (TypeGuard.IsInteger(schema) || TypeGuard.IsNumber(schema)) {
    const kind = TypeGuard.IsInteger(schema) ? 'an integer' : 'a number';
    if (typeof value !== 'number') return `must be ${kind}, got ${got}`;
    if (TypeGuard.IsInteger(schema) && !Number.isInteger(value)) return `must be an integer, got ${got}`;
    const { minimum: min, maximum: max } = schema;
    if (min !== undefined && max !== undefined) return `must be between ${min} and ${max}, got ${got}`;
    return `${fallback.toLowerCase()}, got ${got}`;
  }
  if (TypeGuard.IsString(schema)) {
    if (typeof value !== 'string') return `must be a string, got ${got}`;
    return `${fallback.toLowerCase()}, got ${got}`;
  }
  if (TypeGuard.IsBoolean(schema)) return `must be true or false, got ${got}`;
  if (TypeGuard.IsObject(schema)) return `must be a table, got ${got}`;
  if (TypeGuard.IsArray(schema)) return `must be a list, got ${got}`;
  return `${fallback.toLowerCase()}, got ${got}`;
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
