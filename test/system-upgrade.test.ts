/**
 * `hark system upgrade` (the image's /usr/lib/hark/system-upgrade) and what the System page says
 * about Debian's own updates. Debian's archive is not on loopback, so apt-get here is a stand-in
 * that answers as apt does (update: lists fetched or "E: Failed to fetch"; -s upgrade: "Inst"
 * lines); the script's own decisions and the file hark reads are real. The image check asserts
 * the script, the timer and the CLI are in place.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { session } from './lib/session.ts';

const ROOT = resolve(import.meta.dir, '..');
const SCRIPT = join(ROOT, 'image/rootfs/usr/lib/hark/system-upgrade');
const dir = mkdtempSync(join(tmpdir(), 'hark-upgrade-'));
const bin = join(dir, 'bin');
const state = join(dir, 'apt');
const log = join(dir, 'apt.log');

function fake(name: string, body: string) {
  writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(bin, name), 0o755);
}

beforeAll(() => {
  mkdirSync(bin, { recursive: true });
  fake(
    'apt-get',
    `echo "$*" >>"${log}"
case "$*" in
  *" update") [ -n "\${FAIL:-}" ] && { echo "E: Failed to fetch http://deb.debian.org/debian/dists/trixie/InRelease  Temporary failure resolving 'deb.debian.org'"; exit 100; }; exit 0 ;;
  *" -s upgrade") printf 'Inst openssl [3.5.1-1] (3.5.1-1+deb13u1 Debian-Security:13/stable-security [arm64])\\nInst libssl3t64 [3.5.1-1] (3.5.1-1+deb13u1 Debian-Security:13/stable-security [arm64])\\nInst tzdata [2025b-4] (2025c-0+deb13u1 Debian:13.3/stable-updates [all])\\nConf openssl (3.5.1-1+deb13u1 Debian-Security:13/stable-security [arm64])\\n' ;;
  *" upgrade") echo "upgraded" ;;
esac`,
  );
  fake('id', 'echo 0');
});

const upgrade = (arg: string, env: Record<string, string> = {}) => {
  const r = Bun.spawnSync(['sh', SCRIPT, arg], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, HARK_APT_STATE: state, ...env }, stdout: 'pipe', stderr: 'pipe' });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
};
const pending = () => JSON.parse(readFileSync(join(state, 'pending.json'), 'utf8')) as { pending: number | null; security: number | null; error: string | null; checked_at: string };

describe('hark system upgrade', () => {
  test('--check counts what is waiting (security apart) into pending.json, keeping the lists on the data partition', () => {
    const r = upgrade('check');
    expect(r).toEqual({ code: 0, out: '3 Debian updates waiting (2 security)\n' });
    expect(pending()).toMatchObject({ pending: 3, security: 2, error: null });
    expect(readFileSync(log, 'utf8')).toContain(`-o Dir::State::Lists=${state}/lists`);
  });

  test('an archive that cannot be reached is written down as the reason, not as a count', () => {
    const r = upgrade('check', { FAIL: '1' });
    expect(r.code).toBe(1);
    expect(pending()).toMatchObject({ pending: null, security: null });
    expect(pending().error).toStartWith("could not reach Debian's archive: E: Failed to fetch http://deb.debian.org/debian/dists/trixie/InRelease");
  });

  test('run installs them (apt-get upgrade, keeping changed config files) on a writable root, then counts again', () => {
    const r = upgrade('run');
    expect(r.code).toBe(0);
    expect(r.out).toContain('installed (a new kernel takes effect at the next boot)');
    expect(readFileSync(log, 'utf8')).toMatch(/-y -o Dpkg::Options::=--force-confold upgrade/);
  });

  test('anything else is a usage error', () => {
    expect(upgrade('everything').code).toBe(64);
  });
});

describe('the System page says how many are waiting', () => {
  let h: HarkProcess;
  beforeAll(async () => {
    upgrade('check');
    h = await startHark('[input]\nsource = "tone"\n[webrtc]\nenabled = false\n[admin]\npassword = "upgrade-page-pw"\n', { env: { HARK_APT_PENDING_FILE: join(state, 'pending.json') } });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  test('3 waiting, 2 of them security fixes, and how to install them; /api/update says the same', async () => {
    const { cookie } = await session(h.url, 'upgrade-page-pw');
    const page = await (await fetch(`${h.url}/system`, { headers: { cookie } })).text();
    expect(page).toContain("<b>Debian's own updates:</b> 3 waiting, 2 of them security fixes");
    expect(page).toContain('<code>sudo hark system upgrade</code>');
    const u = (await (await fetch(`${h.url}/api/update`, { headers: { cookie } })).json()) as { debian: { pending: number; security: number } };
    expect(u.debian).toMatchObject({ pending: 3, security: 2 });
  }, 60_000);
});
