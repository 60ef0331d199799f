import { describe, expect, test } from 'bun:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../config/load.ts';
import { BoxNames, boxNames, forwardedBy, fromLoopback, hostOf, isLoopbackAddress, originAllowed } from './host-gate.ts';

const cfg = (allowed: string[] = [], host = '0.0.0.0') => ({ http: { port: 8080, host, allowed_hosts: allowed } });
const r = (headers: Record<string, string>) => new Request('http://localhost/', { headers });

describe('host names', () => {
  test('hostOf: lower case, no port, IPv6 in brackets and compressed, no final dot; anything else null', () => {
    expect(hostOf('Hark.Local.:8080')).toBe('hark.local');
    expect(hostOf('[0:0:0:0:0:0:0:1]:80')).toBe('[::1]');
    expect(hostOf('127.0.0.1')).toBe('127.0.0.1');
    for (const bad of ['', ' ', 'a b', 'a@b', 'a/b', 'a:b:c', '[::1', 'x:99999999', 'é.example', 'a\u0000b']) expect(hostOf(bad), bad).toBeNull();
  });

  test("boxNames: the host name, .local, loopback names, http.host and the extra names", () => {
    const n = boxNames(cfg(['radio.example.org', '2001:DB8::7', '[2001:db8::8]'], '10.9.8.7'));
    for (const h of [hostname().toLowerCase(), `${hostname().toLowerCase()}.local`, 'localhost', '127.0.0.1', '[::1]', '10.9.8.7', 'radio.example.org', '[2001:db8::7]', '[2001:db8::8]']) expect(n.has(h), h).toBe(true);
    expect(n.has('evil.example')).toBe(false);
  });

  test('the name avahi announces (HARK_MDNS_NAME_FILE, studio-2.local after a clash) is one of the box\'s names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-gate-mdns-'));
    writeFileSync(join(dir, 'name'), 'renamed-box.local\n');
    const saved = process.env.HARK_MDNS_NAME_FILE;
    process.env.HARK_MDNS_NAME_FILE = join(dir, 'name');
    try {
      expect(boxNames(cfg()).has('renamed-box.local')).toBe(true);
      expect(new BoxNames().has(cfg(), 'renamed-box.local')).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.HARK_MDNS_NAME_FILE;
      else process.env.HARK_MDNS_NAME_FILE = saved;
    }
    expect(boxNames(cfg()).has('renamed-box.local')).toBe(false);
  });

  test('BoxNames follows a new config at once', () => {
    const names = new BoxNames();
    expect(names.has(cfg(), 'radio.example.org')).toBe(false);
    expect(names.has(cfg(['radio.example.org']), 'radio.example.org')).toBe(true);
  });

  test('originAllowed: http(s) Origins naming the box, any port', () => {
    const names = (h: string) => boxNames(cfg(['radio.example.org'])).has(h);
    expect(originAllowed('http://127.0.0.1:8080', names)).toBe(true);
    expect(originAllowed('https://radio.example.org', names)).toBe(true);
    for (const o of ['http://evil.example', 'null', 'file:///x', 'ftp://127.0.0.1', 'not a url', 'http://radio.example.org.evil.example']) expect(originAllowed(o, names), o).toBe(false);
  });

  test('http.allowed_hosts is validated, naming the key', () => {
    expect(parseConfig('[http]\nallowed_hosts = ["radio.example.org", "203.0.113.5", "[2001:db8::1]", "2001:db8::2"]\n').http.allowed_hosts).toHaveLength(4);
    for (const bad of ['"http://x.example"', '"x.example:8080"', '"a b"', '""', '"*.example.org"', '5']) {
      expect(() => parseConfig(`[http]\nallowed_hosts = [${bad}]\n`), bad).toThrow(ConfigError);
      expect(() => parseConfig(`[http]\nallowed_hosts = [${bad}]\n`), bad).toThrow(/http\.allowed_hosts/);
    }
  });
});

describe('the box itself', () => {
  test('isLoopbackAddress: 127/8, ::1 and the mapped form; nothing else', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '::FFFF:127.9.9.9']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['', '10.0.0.1', '::ffff:10.0.0.1', '1127.0.0.1', '::2', 'localhost', '192.0.2.2']) expect(isLoopbackAddress(a), a).toBe(false);
  });

  test('fromLoopback: a loopback peer, no forwarding header, a loopback Host', () => {
    expect(fromLoopback('127.0.0.1', r({ host: '127.0.0.1:8080' }))).toBe(true);
    expect(fromLoopback('::1', r({ host: '[::1]:8080' }))).toBe(true);
    expect(fromLoopback('127.0.0.1', r({ host: 'localhost' }))).toBe(true);
    expect(fromLoopback('192.0.2.2', r({ host: '127.0.0.1' }))).toBe(false);
    expect(fromLoopback('127.0.0.1', r({ host: 'hark.local' }))).toBe(false);
    for (const h of ['forwarded', 'x-forwarded-for', 'x-real-ip', 'x-forwarded-host', 'x-forwarded-proto', 'via', 'cf-connecting-ip']) {
      expect(forwardedBy(r({ [h]: 'x' }))).toBe(h);
      expect(fromLoopback('127.0.0.1', r({ host: '127.0.0.1', [h]: 'x' })), h).toBe(false);
    }
  });
});

describe('hostGuard in-process (app.handle: no Host header, a whole URL)', () => {
  test("the URL's host is checked instead; every answer carries the security headers", async () => {
    const { Elysia } = await import('elysia');
    const { hostGuard, CSP } = await import('./host-gate.ts');
    const app = new Elysia().use(hostGuard({ config: cfg() })).get('/x', () => 'ok');
    const ok = await app.handle(new Request('http://localhost/x'));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toBe(CSP);
    const bad = await app.handle(new Request('http://evil.example/x'));
    expect(bad.status).toBe(421);
    expect(await bad.text()).toContain('"evil.example"');
  });
});
