/**
 * The layer-rule checker (script/check-imports.ts) on a tiny fake tree: each kind of broken
 * rule is caught and named with its file and line; what the rules allow passes; and the real
 * tree passes (script/test runs the same check before the tests).
 */
import { afterAll, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { checkImports, describeViolation, importsOf, RULES } from '../script/check-imports.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'hark-imports-'));
  dirs.push(root);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    writeFileSync(join(root, f), text);
  }
  return root;
}

const lines = (root: string) => checkImports(root).map(describeViolation);

test('a tree that keeps the rules passes (type imports across layers, packages, tests that reach anywhere)', () => {
  const root = tree({
    'src/config/load.ts': "import { parse } from 'smol-toml';\nimport { logger } from '../log.ts';\nimport { check } from './check.ts';\n",
    'src/config/check.ts': 'export const check = 1;\n',
    'src/config/load.test.ts': "import { x } from '../outputs/x.ts';\n",
    'src/log.ts': 'export const logger = 1;\n',
    'src/control/context.ts': "import type { X } from '../outputs/x.ts';\n",
    'src/cli/main.ts': "import { check } from '../config/load.ts';\nimport type { Ctx } from '../control/context.ts';\n",
    'src/outputs/x.ts': "import { lame } from '../../ffi/lame.ts';\nexport type X = 1;\n",
    'ffi/lame.ts': "import { dlopen } from 'bun:ffi';\nimport { MP3 } from '../src/config/mp3-bitrates.ts';\n",
  });
  expect(lines(root)).toEqual([]);
});

test('each broken rule is caught, with the file, the line and the offending import', () => {
  const root = tree({
    'src/config/load.ts': "import { parse } from 'smol-toml';\n\nimport { checkBroadcast } from '../outputs/config-check.ts';\n",
    'src/outputs/config-check.ts': "import { MP3 } from '../../ffi/lame.ts';\n",
    'ffi/lame.ts': "import { dlopen } from 'bun:ffi';\n",
    'src/control/plane.ts': "// the context\nimport type {\n  AppContext,\n} from '../http/context.ts';\n",
    'src/http/context.ts': 'export interface AppContext {}\n',
    'src/audio/devices.ts': "export const later = () => import('../http/admin/model.ts');\n",
    'src/cli/main.ts': "import { loadConfig } from '../config/load.ts';\n",
  });
  expect(lines(root)).toEqual([
    "src/audio/devices.ts:1: imports src/http/admin/model.ts ('../http/admin/model.ts'): the audio engine knows nothing of outputs, control or HTTP",
    'src/cli/main.ts:1: loads src/outputs/config-check.ts (src/cli/main.ts:1 → src/config/load.ts:3 → src/outputs/config-check.ts): the hark CLI loads no codec, output, audio engine, HTTP layer or C library',
    "src/config/load.ts:3: imports src/outputs/config-check.ts ('../outputs/config-check.ts'): src/config is pure: it imports only src/config (and the logger)",
    "src/control/plane.ts:4: imports src/http/context.ts ('../http/context.ts'): control does not import the HTTP layer, the CLI or GPIO (shared types live in src/control/context.ts)",
  ]);
});

test('the CLI rule follows what loads at run time: a value import of bun:ffi three modules down is caught, a type import is not followed', () => {
  const root = tree({
    'src/cli/main.ts': "import type { Big } from '../control/big.ts';\nimport { a } from './a.ts';\n",
    'src/control/big.ts': "import { dlopen } from 'bun:ffi';\n",
    'src/cli/a.ts': "export { b } from '../control/b.ts';\n",
    'src/control/b.ts': "import { dlopen } from 'bun:ffi';\n",
  });
  const why = 'the hark CLI loads no codec, output, audio engine, HTTP layer or C library';
  expect(lines(root)).toEqual([
    `src/cli/a.ts:1: loads bun:ffi (src/cli/a.ts:1 → src/control/b.ts:1 → bun:ffi): ${why}`,
    `src/cli/main.ts:2: loads bun:ffi (src/cli/main.ts:2 → src/cli/a.ts:1 → src/control/b.ts:1 → bun:ffi): ${why}`,
  ]);
});

test('importsOf: every form of import, its line, and whether it loads anything at run time', () => {
  const root = '/r';
  const got = importsOf(
    [
      "import a from './a.ts';",
      "import type { B } from './b.ts';",
      "import { type C, type D } from './c.ts';",
      "import { type E, f } from './e.ts';",
      "export { g } from './g.ts';",
      "export type { H } from './h.ts';",
      "import './side.ts';",
      "const m = await import('./m.ts');",
      "let t: import('./t.ts').T;",
      '// import x from "./comment.ts";',
    ].join('\n'),
    '/r/src/x/file.ts',
    root,
  );
  expect(got.map((e) => [e.target, e.line, e.typeOnly])).toEqual([
    ['src/x/a.ts', 1, false],
    ['src/x/b.ts', 2, true],
    ['src/x/c.ts', 3, true],
    ['src/x/e.ts', 4, false],
    ['src/x/g.ts', 5, false],
    ['src/x/h.ts', 6, true],
    ['src/x/side.ts', 7, false],
    ['src/x/m.ts', 8, false],
    ['src/x/t.ts', 9, true],
  ]);
});

// Parsing the whole tree takes seconds on a loaded 2-core box.
test('the real tree keeps every rule', () => {
  expect(RULES.length).toBeGreaterThan(0);
  expect(checkImports(resolve(import.meta.dir, '..')).map(describeViolation)).toEqual([]);
}, 60_000);
