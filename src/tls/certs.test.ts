import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoxCertificates, RENEW_BEFORE_MS, SERVER_DAYS, TlsError, boxNames, checkCertificate } from './certs.ts';

const dir = mkdtempSync(join(tmpdir(), 'hark-certs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const iface = (address: string, family: 'IPv4' | 'IPv6') => ({ address, family, internal: false, netmask: '', mac: '', cidr: null }) as never;

describe('boxNames', () => {
  test('host name, <host>.local, localhost, the IPv4 addresses (IPv6 ones come and go: only when configured), extra names; junk is left out', () => {
    const n = boxNames(['Studio.example.org', '10.1.2.3', '[fd00::9]', 'not a name', '*.wild'], 'Studio', {
      eth0: [iface('192.168.1.20', 'IPv4'), iface('fe80::1%eth0', 'IPv6'), iface('2001:db8::20', 'IPv6')],
    });
    expect(n.dns).toEqual(['localhost', 'studio', 'studio.example.org', 'studio.local']);
    expect(n.ips).toEqual(['10.1.2.3', '127.0.0.1', '192.168.1.20', '::1', 'fd00::9']);
  });
});

describe('BoxCertificates', () => {
  const certs = new BoxCertificates(join(dir, 'tls'));
  const a = boxNames([], 'studio', { eth0: [iface('192.168.1.20', 'IPv4')] });
  const b = boxNames([], 'studio', { eth0: [iface('192.168.1.77', 'IPv4')] });

  test('a new address re-issues the server certificate, signed by the same CA; expiry and a new CA do too', async () => {
    expect(await certs.ensureCa()).toBe(true);
    expect(await certs.ensureCa()).toBe(false);
    const ca = readFileSync(certs.caCert, 'utf8');
    expect(certs.reissueReason(a)).toBe('there is none yet');
    await certs.issue(a);
    expect(certs.reissueReason(a)).toBeNull();
    expect(certs.reissueReason(b)).toBe('the names or addresses changed');
    await certs.issue(b);
    expect(certs.reissueReason(b)).toBeNull();
    expect(readFileSync(certs.caCert, 'utf8')).toBe(ca);
    const text = Bun.spawnSync(['openssl', 'x509', '-in', certs.cert, '-noout', '-ext', 'subjectAltName']).stdout.toString();
    expect(text).toContain('IP Address:192.168.1.77');
    expect(text).not.toContain('192.168.1.20');
    // Near expiry (30 days before the end of its 397).
    const later = Date.now() + SERVER_DAYS * 86400_000 - RENEW_BEFORE_MS + 86400_000;
    expect(certs.reissueReason(b, later)).toMatch(/^it expires on \d{4}-\d\d-\d\d$/);
    // Another CA (copied in from another box): the server certificate is made again.
    rmSync(certs.caCert);
    rmSync(certs.caKey);
    await certs.ensureCa();
    expect(certs.reissueReason(b)).toBe('the CA changed');
  });

  test('checkCertificate: good; a key of another pair, a CA certificate, junk and an expired one are refused with the field and why', async () => {
    await certs.issue(b);
    const cert = readFileSync(certs.cert, 'utf8');
    const key = readFileSync(certs.key, 'utf8');
    expect(checkCertificate(cert, key).names).toContain('studio.local');
    const refused = (c: string, k: string, now?: number) => {
      try {
        checkCertificate(c, k, now);
      } catch (e) {
        return `${(e as TlsError).field}: ${(e as Error).message}`;
      }
      return 'accepted';
    };
    expect(refused(cert, readFileSync(certs.caKey, 'utf8'))).toBe('key: this key does not belong to the certificate (they are from different pairs)');
    expect(refused(readFileSync(certs.caCert, 'utf8'), readFileSync(certs.caKey, 'utf8'))).toBe('cert: this is a CA certificate, not a certificate for a server');
    expect(refused('junk', key)).toStartWith('cert: this is not a certificate in PEM form');
    expect(refused(cert, 'junk')).toStartWith('key: this is not a private key in PEM form');
    expect(refused(cert, '')).toBe('key: no private key was given');
    expect(refused(cert, key, Date.now() + 400 * 86400_000)).toMatch(/^cert: the certificate expired on \d{4}-\d\d-\d\d$/);
    expect(refused('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', key)).toStartWith('cert: the certificate could not be read');
  });
});
