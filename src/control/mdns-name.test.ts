import { afterEach, describe, expect, test } from 'bun:test';
import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultMdnsName, MAX_AGE_MS, mdnsName, parseMdnsName } from './mdns-name.ts';

const dir = mkdtempSync(join(tmpdir(), 'hark-mdns-'));
const file = join(dir, 'name');
const saved = process.env.HARK_MDNS_NAME_FILE;
afterEach(() => {
  if (saved === undefined) delete process.env.HARK_MDNS_NAME_FILE;
  else process.env.HARK_MDNS_NAME_FILE = saved;
});

describe("the box's mDNS name", () => {
  test('what avahi announces, from the file hark-mdns-name writes', () => {
    writeFileSync(file, 'studio-2.local\n');
    expect(mdnsName({ file, host: 'studio' })).toBe('studio-2.local');
    // The path comes from HARK_MDNS_NAME_FILE (hark.service sets it).
    process.env.HARK_MDNS_NAME_FILE = file;
    expect(mdnsName({ host: 'studio' })).toBe('studio-2.local');
    // A bare label is on .local; case and a final dot do not matter.
    writeFileSync(file, 'Studio-3.\n');
    expect(mdnsName({ file, host: 'studio' })).toBe('studio-3.local');
  });

  test('no file, no variable, a stale file or garbage in it: <hostname>.local, as today', () => {
    delete process.env.HARK_MDNS_NAME_FILE;
    expect(mdnsName({ host: 'studio' })).toBe('studio.local');
    expect(mdnsName({ file: join(dir, 'absent'), host: 'studio' })).toBe('studio.local');
    expect(mdnsName({ file: dir, host: 'studio' })).toBe('studio.local');
    writeFileSync(file, 'studio-2.local\n');
    const old = (Date.now() - MAX_AGE_MS - 5000) / 1000;
    utimesSync(file, old, old);
    expect(mdnsName({ file, host: 'studio' })).toBe('studio.local');
    for (const bad of ['', '\n', 'a b.local', 'x.local\ny.local', '<script>.local', '-lead.local', 'é.local', 'a..local', `${'a'.repeat(64)}.local`, 'x'.repeat(600)]) {
      writeFileSync(file, bad);
      expect(mdnsName({ file, host: 'studio' }), JSON.stringify(bad)).toBe('studio.local');
      expect(parseMdnsName(bad), JSON.stringify(bad)).toBeNull();
    }
  });

  test('the fallback is the host name on .local, whatever form the host name has', () => {
    expect(defaultMdnsName('Studio')).toBe('studio.local');
    expect(defaultMdnsName('studio.local')).toBe('studio.local');
    expect(defaultMdnsName('studio.example.org')).toBe('studio.local');
  });
});
