#!/usr/bin/env bun
/**
 * The layer rules: which part of hark may import which. script/test runs this before the tests
 * (after the type gate); a broken rule prints the offending import, file and line, and fails.
 *
 *   bun script/check-imports.ts [ROOT]     (ROOT: the checkout, default this one)
 *
 * The rules (RULES below) in words:
 * - src/config is the bottom of src: it imports only itself (and the logger). Its checks are
 *   pure code on the config; a codec, an output or a C library never loads to check a file.
 * - control, GPIO, the outputs and the notifiers do not import the HTTP layer; what they share with it is
 *   declared outside src/http (src/control/context.ts). The HTTP layer does not import the
 *   daemon or the CLI.
 * - the audio engine and the codecs know nothing of outputs, control or HTTP (data flows
 *   source → bus → encoders → outputs; dependencies point inward).
 * - the `hark` CLI loads no codec, no output, no audio engine, no HTTP layer and no C library:
 *   checked on what it loads at run time, through every module it imports (`import type` loads
 *   nothing and is not followed). test/cli-modules.test.ts checks the same on a real run.
 * - ffi/ (one module per C library) imports nothing from src/ but the MP3 bitrate list.
 *
 * Tests (*.test.ts) are not checked: they may reach across layers to set things up.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export interface Rule {
  /** The files it applies to: a path prefix relative to the root ('src/config/'). */
  from: string;
  /** Allowed: only imports of these (prefixes, or exact specifiers such as 'bun:ffi'); packages and node: builtins always pass. */
  only?: string[];
  /** Forbidden: imports of these (prefixes, or exact specifiers such as 'bun:ffi'). */
  not?: string[];
  /** Apply `not` to everything the file loads at run time, transitively (value imports only). */
  reach?: boolean;
  /** Why, in a few words (printed with a violation). */
  why: string;
}

const ENGINE = ['ffi/', 'bun:ffi', 'src/codecs/', 'src/outputs/', 'src/audio/', 'src/http/', 'src/gpio/', 'src/daemon.ts'];

export const RULES: Rule[] = [
  { from: 'src/config/', only: ['src/config/', 'src/log.ts'], why: 'src/config is pure: it imports only src/config (and the logger)' },
  { from: 'src/control/', not: ['src/http/', 'src/cli/', 'src/gpio/'], why: 'control does not import the HTTP layer, the CLI or GPIO (shared types live in src/control/context.ts)' },
  { from: 'src/gpio/', not: ['src/http/', 'src/cli/', 'src/outputs/'], why: 'GPIO acts only through control' },
  { from: 'src/outputs/', not: ['src/http/', 'src/cli/', 'src/control/', 'src/gpio/'], why: 'outputs do not import control, HTTP, GPIO or the CLI' },
  { from: 'src/notify/', not: ['src/http/', 'src/cli/', 'src/gpio/'], why: 'notifiers act through the alerts, the bus and control actions; they do not import HTTP, the CLI or GPIO' },
  { from: 'src/audio/', not: ['src/http/', 'src/cli/', 'src/control/', 'src/gpio/', 'src/outputs/'], why: 'the audio engine knows nothing of outputs, control or HTTP' },
  { from: 'src/codecs/', not: ['src/http/', 'src/cli/', 'src/control/', 'src/gpio/', 'src/outputs/'], why: 'codecs know nothing of outputs, control or HTTP' },
  { from: 'src/http/', not: ['src/cli/', 'src/daemon.ts'], why: 'the HTTP layer is handed what it reaches (AppContext); it does not import the daemon or the CLI' },
  { from: 'src/cli/', not: ENGINE, reach: true, why: 'the hark CLI loads no codec, output, audio engine, HTTP layer or C library' },
  { from: 'ffi/', only: ['ffi/', 'src/config/mp3-bitrates.ts'], why: 'ffi/ binds C libraries; from src/ it reads only the MP3 bitrate list' },
];

/** One import in one file. */
export interface Edge {
  /** As written ('../http/context.ts', 'bun:ffi'). */
  spec: string;
  /** Relative to the root for a project file ('src/http/context.ts'); else the specifier. */
  target: string;
  line: number;
  /** `import type` / `export type` / all named parts type-only: loads nothing at run time. */
  typeOnly: boolean;
}

export interface Violation {
  file: string;
  line: number;
  spec: string;
  target: string;
  rule: Rule;
  /** For a `reach` rule: the chain of imports that loads it, each as file:line, then the module. */
  via?: string[];
}

/** The imports of one source text: static imports and re-exports, `import x = require()`, and import('…') calls. */
export function importsOf(text: string, file: string, root: string): Edge[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Edge[] = [];
  const add = (lit: ts.Node, spec: string, typeOnly: boolean) => {
    const line = sf.getLineAndCharacterOfPosition(lit.getStart(sf)).line + 1;
    const target = spec.startsWith('.') ? relative(root, resolve(dirname(file), spec)) : spec;
    out.push({ spec, target, line, typeOnly });
  };
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(n.moduleSpecifier, n.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      const named = n.exportClause && ts.isNamedExports(n.exportClause) ? n.exportClause.elements : undefined;
      add(n.moduleSpecifier, n.moduleSpecifier.text, n.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference) && ts.isStringLiteral(n.moduleReference.expression)) {
      add(n.moduleReference.expression, n.moduleReference.expression.text, n.isTypeOnly);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteralLike(n.arguments[0])) {
      add(n.arguments[0], n.arguments[0].text, false);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      add(n.argument.literal, n.argument.literal.text, true);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** The TypeScript files under `dirs`, relative to root. */
function sourceFiles(root: string, dirs: string[]): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(join(root, d));
    } catch {
      return;
    }
    for (const name of names.sort()) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const rel = join(d, name);
      if (statSync(join(root, rel)).isDirectory()) walk(rel);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
    }
  };
  for (const d of dirs) walk(d);
  return out;
}

const matches = (target: string, pattern: string) => target === pattern || (pattern.endsWith('/') && target.startsWith(pattern));
const isProject = (e: Edge) => e.spec.startsWith('.');
const isTest = (f: string) => f.endsWith('.test.ts');

/** Every broken rule under root (src/ and ffi/), in file order. */
export function checkImports(root: string, rules: Rule[] = RULES): Violation[] {
  const files = sourceFiles(root, ['src', 'ffi']);
  const cache = new Map<string, Edge[]>();
  const edges = (f: string): Edge[] => {
    let e = cache.get(f);
    if (!e) {
      let text = '';
      try {
        text = readFileSync(join(root, f), 'utf8');
      } catch {
        // An import of a file that does not exist: tsc reports it; nothing to follow here.
      }
      e = importsOf(text, join(root, f), root);
      cache.set(f, e);
    }
    return e;
  };
  const out: Violation[] = [];
  for (const file of files) {
    if (isTest(file)) continue;
    for (const rule of rules) {
      if (!matches(file, rule.from)) continue;
      for (const e of edges(file)) {
        // A rule on what loads at run time (reach) lets a type through: `import type` loads nothing.
        if (rule.reach && e.typeOnly) continue;
        const bad = rule.only ? isProject(e) && !rule.only.some((p) => matches(e.target, p)) : (rule.not ?? []).some((p) => matches(e.target, p));
        if (bad) out.push({ file, line: e.line, spec: e.spec, target: e.target, rule });
      }
      if (rule.reach && rule.not) {
        // What the file loads at run time, breadth first; report each forbidden module once, by its shortest path.
        const seen = new Map<string, { from: string; line: number } | null>([[file, null]]);
        const queue = [file];
        while (queue.length) {
          const cur = queue.shift()!;
          for (const e of edges(cur)) {
            if (e.typeOnly || seen.has(e.target)) continue;
            seen.set(e.target, { from: cur, line: e.line });
            if (rule.not.some((p) => matches(e.target, p))) {
              if (cur === file) continue; // a direct import: reported above
              const chain: { from: string; line: number }[] = [];
              for (let step = seen.get(e.target); step; step = seen.get(step.from)) chain.unshift(step);
              const via = [...chain.map((c) => `${c.from}:${c.line}`), e.target];
              out.push({ file, line: chain[0]!.line, spec: e.spec, target: e.target, rule, via });
              continue;
            }
            if (isProject(e) && e.target.endsWith('.ts')) queue.push(e.target);
          }
        }
      }
    }
  }
  return out;
}

export function describeViolation(v: Violation): string {
  const what = v.via ? `loads ${v.target} (${v.via.join(' → ')})` : `imports ${v.target}${v.spec !== v.target ? ` ('${v.spec}')` : ''}`;
  return `${v.file}:${v.line}: ${what}: ${v.rule.why}`;
}

if (import.meta.main) {
  const root = resolve(process.argv[2] ?? join(import.meta.dir, '..'));
  const found = checkImports(root);
  for (const v of found) process.stderr.write(`${describeViolation(v)}\n`);
  if (found.length) {
    process.stderr.write(`check-imports: ${found.length} import${found.length === 1 ? '' : 's'} break a layer rule (the rules: script/check-imports.ts)\n`);
    process.exit(1);
  }
  process.stdout.write(`check-imports: ${RULES.length} layer rules hold\n`);
}
