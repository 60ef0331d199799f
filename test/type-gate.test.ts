/**
 * The type gate's rule that tsc cannot check: a double cast through `unknown` switches the type
 * checker off for one value, so each one says why on its own line or the line above (a `//`
 * comment, or the end of a `/* … *\/` block). Fast: reads files, starts nothing.
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dir, '..');
/** The type-checked tree (tsconfig.json's `include`). */
const FOLDERS = ['src', 'ffi', 'web', 'test', 'bench', 'script', 'image'];
const CAST = 'as unknown' + ' as ';

const isComment = (line: string) => /^\s*(\/\/|\/\*|\*)/.test(line);

/** The casts of one file that give no reason: `line: text`, 1-based. */
export function unexplainedCasts(text: string): string[] {
  const lines = text.split('\n');
  const out: string[] = [];
  lines.forEach((line, i) => {
    const at = line.indexOf(CAST);
    if (at < 0 || isComment(line)) return;
    const sameLine = /\/\/|\/\*/.test(line.slice(at));
    const above = i > 0 && isComment(lines[i - 1]!);
    if (!sameLine && !above) out.push(`${i + 1}: ${line.trim()}`);
  });
  return out;
}

describe('the type gate', () => {
  test('the rule: a cast through unknown passes only with a comment on its line or the line above', () => {
    const bad = `const a = x ${CAST}Foo;\n`;
    expect(unexplainedCasts(bad)).toEqual([`1: const a = x ${CAST}Foo;`]);
    expect(unexplainedCasts(`// Foo has no index signature\nconst a = x ${CAST}Foo;\n`)).toEqual([]);
    expect(unexplainedCasts(`const a = x ${CAST}Foo; // Foo has no index signature\n`)).toEqual([]);
    expect(unexplainedCasts(`/**\n * why\n */\nconst a = x ${CAST}Foo;\n`)).toEqual([]);
    // a comment two lines up does not count
    expect(unexplainedCasts(`// why\nconst b = 1;\nconst a = x ${CAST}Foo;\n`)).toHaveLength(1);
    // a comment before the cast on the same line does not either
    expect(unexplainedCasts(`f(/* x */ x ${CAST}Foo);\n`)).toHaveLength(1);
  });

  test(`no "${CAST.trim()}" without a one-line reason in ${FOLDERS.join(', ')}`, () => {
    const found: string[] = [];
    for (const folder of FOLDERS) {
      for (const file of new Bun.Glob('**/*.ts').scanSync({ cwd: join(ROOT, folder) })) {
        if (file.includes('node_modules/')) continue;
        const path = join(folder, file);
        for (const f of unexplainedCasts(readFileSync(join(ROOT, path), 'utf8'))) found.push(`${path}:${f}`);
      }
    }
    expect(found).toEqual([]);
  });
});
