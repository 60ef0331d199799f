/**
 * `hark config check` and the other CLI commands stay light: they load no codec, no output,
 * no audio engine, no HTTP layer and no C library (ffi/): only the config, the control paths
 * and auth, and the client. Each run lists the modules the process actually loaded (a preload
 * reads Bun's module registry at exit), so an import added anywhere down the chain shows here.
 */
import { afterAll, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dir, '..');
const CLI = join(ROOT, 'src/cli/main.ts');
const PRELOAD = join(ROOT, 'test/lib/loaded-modules.ts');
/** Where a CLI command must not reach. */
const FORBIDDEN = ['ffi/', 'src/codecs/', 'src/outputs/', 'src/audio/', 'src/http/', 'src/gpio/', 'src/daemon.ts'];
/**
 * hark's own modules `hark config check` loads (13 when this was written; 31 before issue 15;
 * 17 with issue 17's checks of [[notify]] and [[schedule]], src/config/notify-check.ts and
 * schedule.ts, which are config modules too; 19 with issue 20's [[srt]] URL checks,
 * src/config/srt-url.ts; 20 with the [[rtp]] checks, src/config/rtp-check.ts; 21 with the
 * receiving end's input.url checks, src/config/input-url.ts).
 */
const MAX_OWN = 21;
const T = 60_000;
const dir = mkdtempSync(join(tmpdir(), 'hark-cli-modules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** Run `bun PROGRAM ARGS` with the preload; its exit code, stderr and hark's own modules (relative paths). */
async function loaded(program: string, args: string[]): Promise<{ code: number; err: string; own: string[] }> {
  const list = join(dir, `modules-${n++}.json`);
  const p = Bun.spawn([process.execPath, '--preload', PRELOAD, program, ...args], {
    cwd: dir,
    env: { ...process.env, HARK_LOADED_MODULES: list, HARK_SOCKET: join(dir, 'no-such.sock') },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited, new Response(p.stdout).text()]);
  const files = JSON.parse(readFileSync(list, 'utf8')) as string[];
  const own = files.filter((f) => f.startsWith(`${ROOT}/`) && !f.includes('/node_modules/') && f !== PRELOAD).map((f) => relative(ROOT, f));
  return { code, err, own };
}

const forbidden = (own: string[]) => own.filter((f) => FORBIDDEN.some((p) => f.startsWith(p)));

test(
  'hark config check loads only the config, control paths/auth and the CLI: no codec, output, audio, HTTP or ffi/ module',
  async () => {
    const good = join(dir, 'good.toml');
    writeFileSync(good, '[[icecast]]\nhost = "ice.example"\nmount = "/live.mp3"\nformat = "mp3"\nbitrate_kbps = 128\n');
    const r = await loaded(CLI, ['config', 'check', good]);
    expect(r.code).toBe(0);
    expect(forbidden(r.own)).toEqual([]);
    // The list is real: the config loader and the cross-field checks are in it.
    expect(r.own).toContain('src/config/load.ts');
    expect(r.own).toContain('src/config/check.ts');
    expect(r.own.length, r.own.join('\n')).toBeLessThanOrEqual(MAX_OWN);

    // A refused file (a cross-field check: an MP3 bitrate LAME cannot carry) loads no more.
    const bad = join(dir, 'bad.toml');
    writeFileSync(bad, '[recording]\nformat = "mp3"\nbitrate_kbps = 100\n');
    const b = await loaded(CLI, ['config', 'check', bad]);
    expect(b.code).toBe(2);
    expect(b.err).toContain('recording.bitrate_kbps');
    expect(forbidden(b.own)).toEqual([]);
  },
  T,
);

test(
  'the commands that talk to the daemon (here: none running) and `hark version` load no codec, output, audio, HTTP or ffi/ module',
  async () => {
    for (const args of [['status'], ['devices'], ['version']]) {
      const r = await loaded(CLI, args);
      expect(r.code, `hark ${args.join(' ')}: ${r.err}`).toBe(args[0] === 'version' ? 0 : 3);
      expect(forbidden(r.own)).toEqual([]);
      expect(r.own).toContain('src/cli/client.ts');
    }
  },
  T,
);

test(
  'the check can fail: a program that imports the codecs is seen loading ffi/ and src/codecs/',
  async () => {
    const probe = join(dir, 'probe.ts');
    writeFileSync(probe, `import ${JSON.stringify(join(ROOT, 'src/codecs/index.ts'))};\n`);
    const r = await loaded(probe, []);
    expect(r.code).toBe(0);
    expect(forbidden(r.own)).toContain('src/codecs/index.ts');
    expect(forbidden(r.own).some((f) => f.startsWith('ffi/'))).toBe(true);
  },
  T,
);
