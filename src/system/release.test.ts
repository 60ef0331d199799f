import { describe, expect, test } from 'bun:test';
import { generateKeyPairSync, createHash, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RELEASE_MAGIC, ReleaseError, checkRelease, compareVersions, packRelease, publicKeyOf } from './release.ts';

const pair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { priv: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), pub: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
};
const ours = pair();
const theirs = pair();
const dir = mkdtempSync(join(tmpdir(), 'hark-release-'));
const payload = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
let n = 0;
const write = (bytes: Uint8Array) => {
  const f = join(dir, `r${n++}.hark`);
  writeFileSync(f, bytes);
  return f;
};
const check = (bytes: Uint8Array, o: { running?: string; arch?: string; allowDowngrade?: boolean } = {}) =>
  checkRelease(write(bytes), publicKeyOf(ours.pub), { running: o.running ?? '0.1.0', arch: o.arch ?? 'arm64', allowDowngrade: o.allowDowngrade });
const refusal = (bytes: Uint8Array, o: Parameters<typeof check>[1] = {}) => {
  try {
    check(bytes, o);
  } catch (e) {
    if (e instanceof ReleaseError) return { field: e.field, message: e.message };
    throw e;
  }
  throw new Error('accepted');
};
const good = packRelease(payload, { version: '0.2.0', arch: 'arm64' }, ours.priv);

describe('release files', () => {
  test('a signed release for this architecture and a newer version is accepted, with its header', () => {
    const r = check(good);
    expect(r.header.version).toBe('0.2.0');
    expect(r.header.payload.size).toBe(payload.length);
    expect(r.payloadOffset).toBe(good.length - payload.length);
  });

  test('versions compare numerically; a pre-release sorts before its release', () => {
    expect(compareVersions('0.10.0', '0.9.9')).toBe(1);
    expect(compareVersions('1.0.0-rc.1', '1.0.0')).toBe(-1);
    expect(compareVersions('1.0.0', '1.0.0')).toBe(0);
  });

  test('each bad file is refused with its reason and the part at fault', () => {
    expect(refusal(new TextEncoder().encode('PK\x03\x04 a zip file'))).toEqual({ field: 'file', message: 'this is not a hark release file (it does not start with "HARKREL1"); download the .hark file of a release' });
    expect(refusal(new Uint8Array(0)).field).toBe('file');
    // Cut inside the header and inside the payload.
    expect(refusal(good.slice(0, 40))).toEqual({ field: 'file', message: 'the release file is cut short (40 bytes): download it again' });
    const cut = refusal(good.slice(0, good.length - 1000));
    expect(cut).toEqual({ field: 'payload', message: `the release file is cut short: ${payload.length - 1000} of ${payload.length} payload bytes; download it again` });
    // One byte of the payload changed.
    const bad = good.slice();
    bad[bad.length - 5]! ^= 0xff;
    expect(refusal(bad)).toEqual({ field: 'payload', message: 'the release file is corrupted (its checksum does not match): download it again' });
    // Trailing bytes.
    expect(refusal(new Uint8Array([...good, 1, 2, 3])).message).toBe('the release file has 3 bytes more than its header says');
    // Signed by someone else; the signature zeroed (unsigned); the header altered after signing.
    const sigMsg = "the release is not signed with hark's release key (unsigned, altered, or from someone else): nothing was installed";
    expect(refusal(packRelease(payload, { version: '0.2.0', arch: 'arm64' }, theirs.priv))).toEqual({ field: 'signature', message: sigMsg });
    const headerLength = new DataView(good.buffer).getUint32(8);
    const unsigned = good.slice();
    unsigned.fill(0, 12 + headerLength, 12 + headerLength + 64);
    expect(refusal(unsigned)).toEqual({ field: 'signature', message: sigMsg });
    const altered = good.slice();
    const text = new TextDecoder().decode(altered.subarray(12, 12 + headerLength)).replace('"0.2.0"', '"9.2.0"');
    altered.set(new TextEncoder().encode(text), 12);
    expect(refusal(altered)).toEqual({ field: 'signature', message: sigMsg });
  });

  test('another architecture, another product, an older or the same version: refused; an older one with allowDowngrade is taken', () => {
    expect(refusal(packRelease(payload, { version: '0.2.0', arch: 'armhf' }, ours.priv))).toEqual({ field: 'arch', message: 'this release is built for armhf; this box is arm64' });
    expect(refusal(packRelease(payload, { version: '0.0.9', arch: 'arm64' }, ours.priv))).toEqual({
      field: 'version',
      message: 'hark 0.0.9 is older than the running 0.1.0: allow a downgrade to install it',
    });
    expect(check(packRelease(payload, { version: '0.0.9', arch: 'arm64' }, ours.priv), { allowDowngrade: true }).header.version).toBe('0.0.9');
    expect(refusal(packRelease(payload, { version: '0.1.0', arch: 'arm64' }, ours.priv))).toEqual({ field: 'version', message: 'hark 0.1.0 is already running' });
    // A validly signed file of another product (same format, same key).
    const header = Buffer.from(JSON.stringify({ product: 'volumio', version: '9.0.0', arch: 'arm64', created: '', payload: { format: 'tar.gz', size: payload.length, sha256: createHash('sha256').update(payload).digest('hex') } }));
    const head = Buffer.alloc(12 + header.length);
    head.write(RELEASE_MAGIC, 0, 'latin1');
    head.writeUInt32BE(header.length, 8);
    header.copy(head, 12);
    const other = Buffer.concat([head, sign(null, head, { key: ours.priv, format: 'pem' }), payload]);
    expect(refusal(other)).toEqual({ field: 'product', message: 'this is a release of "volumio", not of hark' });
  });

  test('the key must be Ed25519', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => publicKeyOf(publicKey.export({ type: 'spki', format: 'pem' }).toString())).toThrow('the release key is ec, not Ed25519');
  });
});
