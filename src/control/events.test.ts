import { expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const SRC = resolve(import.meta.dir, '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

test('every HarkEvent type has an emitter and a listener in src/', () => {
  const union = readFileSync(join(SRC, 'control/events.ts'), 'utf8').match(/export type HarkEvent =([\s\S]*?);\n/)![1]!;
  const types = [...union.matchAll(/\{ type: '(\w+)'/g)].map((m) => m[1]!);
  expect(types.length).toBeGreaterThan(5);
  const code = sources(SRC)
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  // A widget's `on: [...]` list is a listener: the SSE hub subscribes it to the bus.
  const widgetOn = [...code.matchAll(/\bon: \[([^\]]*)\]/g)].map((m) => m[1]!).join(',');
  const missing: string[] = [];
  for (const t of types) {
    if (!new RegExp(`emit\\(\\{\\s*type: '${t}'`).test(code)) missing.push(`${t}: nobody emits it`);
    if (!new RegExp(`\\.on\\('${t}'`).test(code) && !widgetOn.includes(`'${t}'`)) missing.push(`${t}: nobody listens`);
  }
  expect(missing).toEqual([]);
});
