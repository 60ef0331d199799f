import { describe, expect, test } from 'bun:test';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants } from 'node:os';
import { errno, mallocTrim, pageOutExecutable, readOnlyMappingsOf, socket, strerror } from './libc.ts';

describe('libc', () => {
  test("readOnlyMappingsOf: only the named file's mappings without write permission", () => {
    const maps = [
      '55d0c0000000-55d0c1000000 r--p 00000000 fd:01 123 /usr/lib/hark/bun',
      '55d0c1000000-55d0c4000000 r-xp 01000000 fd:01 123 /usr/lib/hark/bun',
      '55d0c4000000-55d0c4100000 rw-p 04000000 fd:01 123 /usr/lib/hark/bun',
      '7f0000000000-7f0000100000 r-xp 00000000 fd:01 456 /usr/lib/aarch64-linux-gnu/libc.so.6',
      '7f0000200000-7f0000300000 rw-p 00000000 00:00 0 ',
      '7f0000300000-7f0000400000 r--p 00000000 fd:01 789 /usr/lib/hark/bun (deleted)',
      'ffffd000-ffffe000 rw-p 00000000 00:00 0                          [stack]',
    ].join('\n');
    const got = readOnlyMappingsOf(maps, '/usr/lib/hark/bun');
    expect(got.map((m) => [m.start.toString(16), m.end.toString(16), m.perms])).toEqual([
      ['55d0c0000000', '55d0c1000000', 'r--p'],
      ['55d0c1000000', '55d0c4000000', 'r-xp'],
    ]);
    expect(readOnlyMappingsOf(maps, '/nowhere')).toEqual([]);
  });

  test('mallocTrim runs (glibc)', () => {
    expect(typeof mallocTrim()).toBe('boolean');
  });

  test("pageOutExecutable drops the executable's resident code pages, and the process runs on (its code comes back from the file)", async () => {
    // In a child, run from a copy of the executable: the kernel reclaims only pages no other
    // process maps, and this test runner maps the same bun (on the box, hark is the only one).
    const dir = mkdtempSync(join(tmpdir(), 'hark-libc-'));
    const bun = join(dir, 'bun');
    copyFileSync(process.execPath, bun);
    chmodSync(bun, 0o755);
    const script = `
      import { pageOutExecutable } from ${JSON.stringify(join(import.meta.dir, 'libc.ts'))};
      import { readFileSync } from 'node:fs';
      const rssFile = () => Number(/^RssFile:\\s+(\\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
      await fetch('data:text/plain,warm').then((r) => r.text());
      const before = rssFile();
      const advised = pageOutExecutable();
      const after = rssFile();
      // Every read-only mapping of the executable now reads back page by page (VmFlags "rr":
      // no read-around, which on the emulated board's 8 MB read_ahead_kb mapped 64 KB per fault).
      const exe = readFileSync('/proc/self/smaps', 'utf8').split(/\\n(?=[0-9a-f]+-[0-9a-f]+ )/).filter((m) => m.split('\\n')[0].endsWith('/bun') && !/^\\S+ .w/.test(m));
      const random = exe.every((m) => /^VmFlags:.* rr\\b/m.test(m));
      // Work that needs code from the executable again: parsing, a regexp, a Bun.serve round trip.
      const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response(JSON.stringify({ ok: /^o(k)$/.exec('ok')[1] })) });
      const body = await (await fetch('http://127.0.0.1:' + server.port + '/')).json();
      server.stop(true);
      console.log(JSON.stringify({ before, advised, after, body, random, mappings: exe.length }));
    `;
    const p = Bun.spawnSync([bun, '-e', script], { stderr: 'pipe' });
    rmSync(dir, { recursive: true, force: true });
    expect(p.stderr.toString()).toBe('');
    const r = JSON.parse(p.stdout.toString().trim()) as { before: number; advised: number; after: number; body: unknown; random: boolean; mappings: number };
    expect(p.exitCode).toBe(0);
    // The executable is tens of MB; most of what the start touched leaves RSS at once.
    expect(r.advised).toBeGreaterThan(10 * 2 ** 20);
    expect(r.before - r.after).toBeGreaterThan(5 * 1024);
    expect(r.body).toEqual({ ok: 'k' });
    expect(r.mappings).toBeGreaterThan(0);
    expect(r.random).toBe(true);
  });

  test('errno and strerror: the reason a failed call left, in libc\'s words', () => {
    expect(socket(-1, 2, 0)).toBe(-1); // no such address family
    expect(errno()).toBe(constants.errno.EAFNOSUPPORT);
    expect(strerror(constants.errno.ENOENT)).toBe('No such file or directory');
  });

  test('pageOutExecutable of a file this process has not mapped advises nothing', () => {
    expect(pageOutExecutable('/bin/sh')).toBe(0);
  });
});
