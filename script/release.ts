#!/usr/bin/env bun
/**
 * script/release.ts: make and sign hark release files (src/system/release.ts has the format).
 *
 *   bun script/release.ts pack DIR --key KEY.pem --out FILE [--arch arm64] [--version V]
 *       DIR is hark's tree as /opt/hark holds it (bin/bun, src, ffi, web, node_modules,
 *       package.json); V defaults to DIR/package.json's version and must match it.
 *   bun script/release.ts keygen KEY.pem      a new Ed25519 key pair: KEY.pem (private, 0600)
 *                                             and KEY.pub.pem (public: what the image carries)
 *   bun script/release.ts pubkey KEY.pem OUT  the public key of a private key
 *
 * script/image packs and signs with $HARK_RELEASE_KEY. The CI uses the test key in
 * test/fixtures/release-test-key.pem, whose private half is public: an image built with it
 * accepts releases from anyone. Build real images with a key of your own, kept secret.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packRelease, isVersion } from '../src/system/release.ts';

function die(msg: string): never {
  process.stderr.write(`script/release.ts: ${msg}\n`);
  process.exit(2);
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined) die(`${name} needs a value`);
  args.splice(i, 2);
  return v;
}

export function publicPemOf(privatePem: string): string {
  return createPublicKey(createPrivateKey(privatePem)).export({ type: 'spki', format: 'pem' }).toString();
}

export async function packDir(dir: string, o: { keyPem: string; arch: string; version?: string; commit?: string }): Promise<Uint8Array> {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string };
  const version = o.version ?? pkg.version;
  if (!isVersion(version)) die(`no valid version (${String(version)})`);
  if (pkg.version !== version) die(`${dir}/package.json says ${String(pkg.version)}, not ${version}`);
  if (!existsSync(join(dir, 'bin/bun')) || !existsSync(join(dir, 'src/main.ts'))) die(`${dir} is not hark's tree (bin/bun and src/main.ts)`);
  const tar = Bun.spawn(['tar', '-C', dir, '--owner=0', '--group=0', '--numeric-owner', '--sort=name', '-czf', '-', '.'], { stdout: 'pipe', stderr: 'inherit' });
  const payload = new Uint8Array(await new Response(tar.stdout).arrayBuffer());
  if ((await tar.exited) !== 0) die('tar failed');
  return packRelease(payload, { version, arch: o.arch, commit: o.commit }, o.keyPem);
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const cmd = args.shift();
  if (cmd === 'keygen') {
    const out = args[0] ?? die('usage: keygen KEY.pem');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(out, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    chmodSync(out, 0o600);
    writeFileSync(out.replace(/\.pem$/, '') + '.pub.pem', publicKey.export({ type: 'spki', format: 'pem' }));
    console.log(`${out} (private) and ${out.replace(/\.pem$/, '')}.pub.pem (public)`);
  } else if (cmd === 'pubkey') {
    const [key, out] = args;
    if (!key || !out) die('usage: pubkey KEY.pem OUT');
    writeFileSync(out, publicPemOf(readFileSync(key, 'utf8')));
  } else if (cmd === 'pack') {
    const keyFile = flag(args, '--key') ?? die('--key KEY.pem is needed');
    const outFile = flag(args, '--out') ?? die('--out FILE is needed');
    const arch = flag(args, '--arch') ?? 'arm64';
    const version = flag(args, '--version');
    const commit = flag(args, '--commit');
    const dir = args[0] ?? die('usage: pack DIR --key KEY.pem --out FILE');
    const bytes = await packDir(dir, { keyPem: readFileSync(keyFile, 'utf8'), arch, version, commit });
    await Bun.write(outFile, bytes);
    console.log(`${outFile}: ${(bytes.length / 1048576).toFixed(1)} MB`);
  } else {
    die('usage: pack DIR --key KEY.pem --out FILE [--arch A] [--version V] | keygen KEY.pem | pubkey KEY.pem OUT');
  }
}
