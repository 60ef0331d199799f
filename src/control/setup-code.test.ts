import { expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forceLogLevel } from '../log.ts';
import { SetupCode, formatCode } from './setup-code.ts';

forceLogLevel('error');

function make() {
  const dir = mkdtempSync(join(tmpdir(), 'hark-setup-code-'));
  let t = 1_000_000;
  const s = new SetupCode({ stateDir: dir, file: join(dir, 'hark-setup.txt'), now: () => t });
  return { s, dir, tick: (ms: number) => (t += ms) };
}

test('made once, kept (0600), typed in any case with spaces or a dash; works only until done()', () => {
  const { s, dir } = make();
  s.start(false);
  const code = s.current!;
  expect(code).toMatch(/^[A-HJKMNP-Z2-9]{8}$/);
  expect(statSync(join(dir, 'setup-code')).mode & 0o777).toBe(0o600);
  expect(readFileSync(join(dir, 'hark-setup.txt'), 'utf8')).toContain(formatCode(code));
  const again = new SetupCode({ stateDir: dir });
  again.start(false);
  expect(again.current).toBe(code);
  expect(s.check(` ${code.slice(0, 4).toLowerCase()} ${code.slice(4)} `, 'a')).toEqual({ ok: true });
  s.done();
  expect(s.check(code, 'a')).toEqual({ ok: false, reason: 'no-code' });
  expect(readFileSync(join(dir, 'hark-setup.txt'), 'utf8')).not.toContain(formatCode(code));
});

test('wrong codes: 5 per address, then a doubling wait; other addresses unaffected', () => {
  const { s, tick } = make();
  s.start(false);
  const code = s.current!;
  for (let i = 0; i < 5; i++) expect(s.check('WRONG', '10.0.0.9')).toEqual({ ok: false, reason: 'wrong' });
  const w = s.check(code, '10.0.0.9');
  expect(w).toMatchObject({ ok: false, reason: 'wait' });
  expect((w as { retryAfterMs: number }).retryAfterMs).toBe(60_000);
  expect(s.check(code, '10.0.0.8')).toEqual({ ok: true });
  tick(60_001);
  expect(s.check('WRONG', '10.0.0.9')).toEqual({ ok: false, reason: 'wrong' });
  expect((s.check(code, '10.0.0.9') as { retryAfterMs: number }).retryAfterMs).toBe(120_000);
});

test('wrong codes from many addresses: a burst of 20, then one every 3 s for everyone', () => {
  const { s, tick } = make();
  s.start(false);
  for (let i = 0; i < 20; i++) expect(s.check('WRONG', `10.0.1.${i}`).ok).toBe(false);
  expect(s.check(s.current!, '10.0.2.1')).toMatchObject({ ok: false, reason: 'wait' });
  tick(3000);
  expect(s.check(s.current!, '10.0.2.1')).toEqual({ ok: true });
});

test('a box with a password retires a code left from before', () => {
  const { s, dir } = make();
  s.start(false);
  const s2 = new SetupCode({ stateDir: dir, file: join(dir, 'hark-setup.txt') });
  s2.start(true);
  expect(s2.current).toBeNull();
  expect(readFileSync(join(dir, 'hark-setup.txt'), 'utf8')).toContain('password is set');
});
