/**
 * Apply a hark.toml dropped on the boot partition (by Raspberry Pi Imager's user, or by hand
 * from any PC): validate it with hark's own loader, install it as /etc/hark/hark.toml (on the
 * data partition), hand the admin password to hark and remove every plaintext copy.
 * Run by hark-firstboot.service before hark.service, at every boot where the file exists.
 *
 * Never keeps the box from booting: whatever goes wrong is written, readable from any PC, to
 * hark-config-error.txt beside it, the file is renamed hark.toml.refused (password scrubbed),
 * the previous /etc/hark/hark.toml stays, and this exits 0. Success leaves
 * hark-config-applied.txt instead.
 *
 * The boot file is hark's normal TOML plus, optionally:
 *     [admin]
 *     password = "…"      # plaintext, only here; never stored
 * The password is handed to the CLI (control issue) as `hark passwd --stdin --config FILE`;
 * until that exists the password is not set, and the error file says so. Unless the file says
 * otherwise, http.port = 80 and [tls] enabled = true, port = 443 are added.
 *
 * hark-ca.crt and hark-ca.key beside it (another box's CA) become this box's CA: see importCa.
 *
 * Usage: bun /usr/lib/hark/firstboot.ts [BOOT_TOML [ETC_DIR]]
 */
import { chmodSync, chownSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const HARK_ROOT = process.env.HARK_ROOT ?? '/opt/hark';
const bootFile = process.argv[2] ?? '/boot/firmware/hark.toml';
const etcDir = process.argv[3] ?? '/etc/hark';
const bootDir = dirname(bootFile);
const target = join(etcDir, 'hark.toml');
const errorFile = join(bootDir, 'hark-config-error.txt');
const appliedFile = join(bootDir, 'hark-config-applied.txt');
const refusedFile = `${bootFile}.refused`;
const cli = `${HARK_ROOT}/src/cli/main.ts`;
/** On the device hark serves the admin page on port 80 unless the file says otherwise. */
const DEVICE_PORT = 80;
/** …and the admin pages over HTTPS on 443 (hark makes its CA and certificate at its first start). */
const DEVICE_TLS_PORT = 443;
/** A CA to share between boxes: saved beside hark.toml, moved into hark's tls directory. */
const caCertFile = join(bootDir, 'hark-ca.crt');
const caKeyFile = join(bootDir, 'hark-ca.key');
const caErrorFile = join(bootDir, 'hark-ca-error.txt');

const log = (msg: string) => process.stdout.write(`[firstboot] ${msg}\n`);

/** Write a file durably: temp file, fsync, rename, fsync the directory. */
function writeDurably(file: string, text: string, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  syncDir(dirname(file));
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // vfat directories cannot always be fsynced; the rename is already issued.
  }
}

/** The text with every `password = …` assignment replaced, for files that are kept. */
function scrub(text: string): string {
  return text.replace(/^(\s*)(password\s*=).*$/gim, '$1# password removed by hark at boot: write it again to set it');
}

function stamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function refuse(reason: string, text: string | undefined): void {
  log(`refused: ${reason}`);
  writeDurably(
    errorFile,
    [
      `hark could not apply ${basename(bootFile)} (${stamp()}):`,
      '',
      `  ${reason}`,
      '',
      `The file was renamed ${basename(refusedFile)} (any password in it removed); hark runs on`,
      `with its previous settings. Fix the file, save it as ${basename(bootFile)} again and restart.`,
      '',
    ].join('\r\n'),
  );
  if (text !== undefined) writeDurably(refusedFile, scrub(text));
  rmSync(bootFile, { force: true });
  rmSync(appliedFile, { force: true });
  syncDir(bootDir);
}

/**
 * hark-ca.crt + hark-ca.key on the boot partition (another box's /etc/hark/tls/ca.crt and ca.key):
 * this box's certificate is then signed by that CA, so devices that trust it trust this box
 * too. Checked (a CA certificate, the key its own), installed 0600 for hark, removed from the
 * FAT partition (anyone with the card could read the key there); hark issues a new server
 * certificate at its start. A refusal is explained in hark-ca-error.txt.
 */
async function importCa(): Promise<void> {
  if (!existsSync(caCertFile) && !existsSync(caKeyFile)) return;
  const { X509Certificate, createPrivateKey } = await import('node:crypto');
  let why = '';
  try {
    if (!existsSync(caCertFile) || !existsSync(caKeyFile)) why = 'both hark-ca.crt and hark-ca.key are needed';
    else {
      const cert = new X509Certificate(readFileSync(caCertFile));
      if (!cert.ca) why = 'hark-ca.crt is not a CA certificate';
      else if (!cert.checkPrivateKey(createPrivateKey(readFileSync(caKeyFile)))) why = 'hark-ca.key is not the key of hark-ca.crt';
      else if (cert.validToDate.getTime() < Date.now()) why = `hark-ca.crt expired on ${cert.validToDate.toISOString().slice(0, 10)}`;
    }
    if (!why) {
      const tls = join(etcDir, 'tls');
      mkdirSync(tls, { recursive: true, mode: 0o700 });
      writeDurably(join(tls, 'ca.key'), readFileSync(caKeyFile, 'utf8'), 0o600);
      writeDurably(join(tls, 'ca.crt'), readFileSync(caCertFile, 'utf8'), 0o644);
      for (const f of ['server.crt', 'server.key', 'server-names.json']) rmSync(join(tls, f), { force: true });
      ownByHark(join(tls, 'ca.key'));
      chmodSync(join(tls, 'ca.key'), 0o600);
      rmSync(caErrorFile, { force: true });
      log(`installed the certificate authority from ${caCertFile}`);
    }
  } catch (e) {
    why = `could not read them: ${(e as Error).message}`;
  }
  if (why) {
    log(`CA refused: ${why}`);
    writeDurably(caErrorFile, `hark did not use hark-ca.crt and hark-ca.key (${stamp()}):\r\n\r\n  ${why}\r\n\r\nBoth files were deleted from this drive. Save them again, fixed, and restart.\r\n`);
  }
  rmSync(caKeyFile, { force: true });
  rmSync(caCertFile, { force: true });
  syncDir(bootDir);
}

async function main(): Promise<void> {
  await importCa();
  if (!existsSync(bootFile)) {
    log(`${bootFile}: nothing to apply`);
    return;
  }
  let text: string;
  try {
    text = readFileSync(bootFile, 'utf8');
  } catch (e) {
    return refuse(`cannot read the file: ${(e as Error).message}`, undefined);
  }
  const { parse, stringify } = await import(`${HARK_ROOT}/node_modules/smol-toml/dist/index.js`);
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    const err = e as { line?: number; column?: number; message: string };
    const where = err.line ? `line ${err.line}, column ${err.column}: ` : '';
    return refuse(`not valid TOML: ${where}${err.message.split('\n')[0]}`, text);
  }

  // Take the plaintext password out before anything else sees or stores the document.
  let password: string | undefined;
  const admin = doc.admin as Record<string, unknown> | undefined;
  if (admin && typeof admin === 'object' && 'password' in admin) {
    if (typeof admin.password !== 'string' || admin.password.length === 0) {
      return refuse('admin.password: must be a non-empty string', text);
    }
    password = admin.password;
    delete admin.password;
    if (Object.keys(admin).length === 0) delete doc.admin;
  }
  // The device's HTTP port is 80 (hark.service holds CAP_NET_BIND_SERVICE for it).
  const http = (doc.http ??= {}) as Record<string, unknown>;
  const portAdded = http.port === undefined;
  if (portAdded) http.port = DEVICE_PORT;
  // The admin pages over HTTPS on 443 unless the file says otherwise ([tls] enabled = false).
  const tls = (doc.tls ??= {}) as Record<string, unknown>;
  let tlsAdded = false;
  if (tls && typeof tls === 'object' && !Array.isArray(tls)) {
    if (tls.enabled === undefined) tls.enabled = tlsAdded = true;
    if (tls.port === undefined) {
      tls.port = DEVICE_TLS_PORT;
      tlsAdded = true;
    }
  }

  // Keep the user's text (and its comments) when nothing had to change; otherwise rewrite.
  const out =
    password === undefined && !portAdded && !tlsAdded
      ? text
      : `# Applied by hark from ${bootFile} at ${stamp()}.\n${stringify(doc)}\n`;
  const staged = `${target}.new`;
  writeDurably(staged, out, 0o600);

  const check = validate(staged);
  if (check) {
    rmSync(staged, { force: true });
    return refuse(check, text);
  }

  if (existsSync(target)) renameSync(target, `${target}.bak`);
  renameSync(staged, target);
  syncDir(etcDir);
  ownByHark(target);
  log(`installed ${target}`);

  const notes: string[] = [];
  if (password !== undefined) {
    const err = setPassword(password);
    if (err) notes.push(`The admin password was NOT set: ${err}`);
    else notes.push('The admin password was set.');
  }
  rmSync(bootFile, { force: true });
  rmSync(errorFile, { force: true });
  rmSync(refusedFile, { force: true });
  syncDir(bootDir);
  const summary = [`hark applied ${basename(bootFile)} at ${stamp()}; it now lives in ${target}.`, ...notes, ''];
  if (notes.some((n) => n.includes('NOT'))) {
    // A password that could not be set is an error the user must see.
    writeDurably(errorFile, summary.join('\r\n'));
  }
  writeDurably(appliedFile, summary.join('\r\n'));
  log(summary.join(' ').trim());
}

/** undefined when hark accepts the file, else the reason (key path first). */
function validate(file: string): string | undefined {
  if (existsSync(cli)) {
    // The control issue's `hark config check FILE` is the one authority once it exists.
    const r = Bun.spawnSync([process.execPath, cli, 'config', 'check', file], { stdout: 'pipe', stderr: 'pipe' });
    if (r.exitCode === 0) return undefined;
    const msg = `${r.stderr.toString()}${r.stdout.toString()}`.trim().replace(/^hark: /, '');
    return msg.replaceAll(file, basename(bootFile)) || `hark config check exited ${r.exitCode}`;
  }
  const r = Bun.spawnSync(
    [
      process.execPath,
      '-e',
      `const { loadConfig } = await import(${JSON.stringify(`${HARK_ROOT}/src/config/load.ts`)});
       try { loadConfig(process.argv[1]); } catch (e) { console.error(e.message); process.exit(2); }`,
      file,
    ],
    { stdout: 'pipe', stderr: 'pipe' },
  );
  if (r.exitCode === 0) return undefined;
  return (r.stderr.toString().trim() || `the config loader exited ${r.exitCode}`).replaceAll(file, basename(bootFile));
}

/** Hand the password to hark's CLI; returns why it could not, or undefined. */
function setPassword(password: string): string | undefined {
  if (!existsSync(cli)) return `the hark CLI (${cli}) is not in this build, so there is nothing to set it with`;
  const r = Bun.spawnSync([process.execPath, cli, 'passwd', '--stdin', '--config', target], {
    stdin: Buffer.from(`${password}\n`),
    stdout: 'pipe',
    stderr: 'pipe',
  });
  if (r.exitCode === 0) {
    ownByHark(target);
    return undefined;
  }
  return `hark passwd --stdin exited ${r.exitCode}: ${r.stderr.toString().trim()}`;
}

/** The hark user's uid and gid, from /etc/passwd (undefined outside the device). */
function harkIds(): { uid: number; gid: number } | undefined {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('hark:'));
    if (!line) return undefined;
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}

/**
 * Everything in hark's config directory belongs to the hark user (this runs as root, and so
 * does the CLI it calls): hark.toml 0600 (it may hold passwords), whatever else keeps its mode.
 */
function ownByHark(file: string): void {
  const ids = harkIds();
  if (!ids || process.getuid?.() !== 0) return;
  const dir = dirname(file);
  try {
    chownSync(dir, ids.uid, ids.gid);
    for (const name of readdirSync(dir)) {
      if (name === 'lost+found') continue;
      chownSync(join(dir, name), ids.uid, ids.gid);
    }
    chmodSync(file, 0o600);
  } catch (e) {
    log(`cannot give ${dir} to the hark user: ${(e as Error).message}`);
  }
}

try {
  await main();
} catch (e) {
  // Unexpected: still report it where the user looks, and let the boot go on.
  const msg = (e as Error).stack ?? String(e);
  log(`failed: ${msg}`);
  try {
    writeDurably(errorFile, `hark could not apply ${basename(bootFile)} (${stamp()}):\r\n\r\n${msg}\r\n`);
    if (existsSync(bootFile)) {
      writeDurably(refusedFile, scrub(readFileSync(bootFile, 'utf8')));
      rmSync(bootFile, { force: true });
    }
  } catch {
    // Nothing more can be done; the journal has the message.
  }
}
