/**
 * The image's first-boot step (image/deb/usr/lib/hark/firstboot.ts), run on the host: a
 * hark.toml from the boot partition gets HTTPS on 443 unless it says otherwise, and a CA saved
 * there (hark-ca.crt + hark-ca.key, from another box) becomes this box's CA — checked, 0600,
 * and gone from the FAT partition.
 */
import { describe, expect, test } from 'bun:test';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'smol-toml';
import { BoxCertificates } from '../src/tls/certs.ts';

const ROOT = resolve(import.meta.dir, '..');
const FIRSTBOOT = join(ROOT, 'image/deb/usr/lib/hark/firstboot.ts');

function box(): { boot: string; etc: string } {
  const d = mkdtempSync(join(tmpdir(), 'hark-firstboot-tls-'));
  const boot = join(d, 'boot');
  const etc = join(d, 'etc');
  mkdirSync(boot);
  mkdirSync(etc);
  return { boot, etc };
}

function firstboot(b: { boot: string; etc: string }): string {
  const r = Bun.spawnSync([process.execPath, FIRSTBOOT, join(b.boot, 'hark.toml'), b.etc], { env: { ...process.env, HARK_ROOT: ROOT }, stdout: 'pipe', stderr: 'pipe' });
  expect(r.exitCode).toBe(0);
  return r.stdout.toString() + r.stderr.toString();
}

describe('first boot', () => {
  test('a hark.toml from the boot partition gets [tls] enabled = true, port = 443 (and http.port = 80)', () => {
    const b = box();
    writeFileSync(join(b.boot, 'hark.toml'), '[mp3]\nbitrate_kbps = 192\n');
    firstboot(b);
    const doc = parse(readFileSync(join(b.etc, 'hark.toml'), 'utf8')) as { tls: { enabled: boolean; port: number }; http: { port: number } };
    expect(doc.tls).toEqual({ enabled: true, port: 443 });
    expect(doc.http.port).toBe(80);
  }, 60_000);

  test('…unless it says otherwise: [tls] enabled = false stays off', () => {
    const b = box();
    writeFileSync(join(b.boot, 'hark.toml'), '[tls]\nenabled = false\n');
    firstboot(b);
    const doc = parse(readFileSync(join(b.etc, 'hark.toml'), 'utf8')) as { tls: { enabled: boolean } };
    expect(doc.tls.enabled).toBe(false);
  }, 60_000);

  test("another box's CA on the boot partition becomes this box's (key 0600), and leaves the boot partition; a wrong pair is refused, saying why", async () => {
    const other = new BoxCertificates(join(mkdtempSync(join(tmpdir(), 'hark-other-box-')), 'tls'));
    await other.ensureCa();
    const b = box();
    copyFileSync(other.caCert, join(b.boot, 'hark-ca.crt'));
    copyFileSync(other.caKey, join(b.boot, 'hark-ca.key'));
    expect(firstboot(b)).toContain('installed the certificate authority');
    expect(readFileSync(join(b.etc, 'tls/ca.key'), 'utf8')).toBe(readFileSync(other.caKey, 'utf8'));
    expect(statSync(join(b.etc, 'tls/ca.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(b.etc, 'tls/ca.crt'), 'utf8')).toBe(readFileSync(other.caCert, 'utf8'));
    expect(existsSync(join(b.boot, 'hark-ca.key'))).toBe(false);
    expect(existsSync(join(b.boot, 'hark-ca.crt'))).toBe(false);

    // A key that is not the CA's own.
    const third = new BoxCertificates(join(mkdtempSync(join(tmpdir(), 'hark-third-box-')), 'tls'));
    await third.ensureCa();
    copyFileSync(other.caCert, join(b.boot, 'hark-ca.crt'));
    copyFileSync(third.caKey, join(b.boot, 'hark-ca.key'));
    firstboot(b);
    expect(readFileSync(join(b.boot, 'hark-ca-error.txt'), 'utf8')).toContain('hark-ca.key is not the key of hark-ca.crt');
    expect(existsSync(join(b.boot, 'hark-ca.key'))).toBe(false);
    expect(readFileSync(join(b.etc, 'tls/ca.key'), 'utf8')).toBe(readFileSync(other.caKey, 'utf8'));
  }, 60_000);
});
