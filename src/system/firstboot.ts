/**
 * The image's first-boot step (hark-firstboot.service, through /usr/lib/hark/firstboot.ts):
 * apply a hark.toml dropped on the boot partition (by Raspberry Pi Imager's user, or by hand
 * from any PC): validate it with hark's own config loader, install it as /etc/hark/hark.toml
 * (on the data partition), hand the admin password to hark and remove every plaintext copy.
 * Runs before hark.service, at every boot where the file exists.
 *
 * Never keeps the box from booting: whatever goes wrong is written, readable from any PC, to
 * hark-config-error.txt beside it, the file is renamed hark.toml.refused (password scrubbed),
 * the previous /etc/hark/hark.toml stays, and it returns normally. Success leaves
 * hark-config-applied.txt instead.
 *
 * The boot file is hark's normal TOML plus, optionally:
 *     [admin]
 *     password = "…"      # plaintext, only here; never stored
 * The password is set as `hark passwd --stdin --config FILE` would (a hash in auth.json beside
 * the config). Unless the file says otherwise, http.port = 80 and [tls] enabled = true,
 * port = 443 are added.
 *
 * hark-ca.crt and hark-ca.key beside it (another box's CA) become this box's CA: see importCa.
 *
 * A file named hark-factory-reset (or hark-factory-reset.txt: what Windows' Notepad saves) on the
 * boot partition resets the box first: see factoryReset. A hark.toml beside it is applied after.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parse, stringify } from 'smol-toml';
import { syncDir, writeFileAtomic } from '../config/atomic.ts';
import { ConfigError, loadConfig, parseConfig } from '../config/load.ts';
import { Auth, checkPasswordRules } from '../control/auth.ts';
import { stateDirOf } from '../control/paths.ts';
import { FACTORY_RESET_MARK, resetToFactory } from './factory-reset.ts';

/** The boot partition's file that asks for a factory reset (any content; `.txt` too). */
export const FACTORY_RESET_FILE = 'hark-factory-reset';

/**
 * Every boot-partition file this step acts on. hark-firstboot.service starts when any of them is
 * there (one `ConditionPathExists=|` line each; test/firstboot-unit.test.ts holds the unit to this
 * list): a file missing from the unit would be ignored on the box, as hark-factory-reset once was.
 */
export const BOOT_TRIGGER_FILES = ['hark.toml', 'hark-ca.crt', 'hark-ca.key', FACTORY_RESET_FILE, `${FACTORY_RESET_FILE}.txt`] as const;

/** The settings file a new card has (image/customize writes the same), after a factory reset at `at`. */
export function deviceDefaults(at: string): string {
  return `# hark's settings, as a new card has them (a factory reset at ${at}). Keys and defaults: /opt/hark/README.md.\n[http]\nport = 80\n\n[tls]\nenabled = true\nport = 443\n`;
}

/** On the device hark serves the admin page on port 80 unless the file says otherwise. */
export const DEVICE_PORT = 80;
/** …and the admin pages over HTTPS on 443 (hark makes its CA and certificate at its first start). */
export const DEVICE_TLS_PORT = 443;

export interface FirstbootOptions {
  /** The file on the boot partition (default /boot/firmware/hark.toml). */
  bootFile: string;
  /** hark's config directory (default /etc/hark). */
  etcDir: string;
  /** Where progress lines go (default: stdout, "[firstboot] …"). */
  log?: (msg: string) => void;
  /** The hark user's uid/gid, to give it the files (default: from /etc/passwd, when root). */
  harkIds?: () => { uid: number; gid: number } | undefined;
}

/** Write a file on either partition durably (src/config/atomic.ts); `mode` always applies. */
function writeDurably(file: string, text: string, mode = 0o644): void {
  writeFileAtomic(file, text, { mode, forceMode: true });
}

/** The text with every `password = …` assignment replaced, for files that are kept. */
export function scrub(text: string): string {
  return text.replace(/^(\s*)(password\s*=).*$/gim, '$1# password removed by hark at boot: write it again to set it');
}

function stamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** The hark user's uid and gid, from /etc/passwd (undefined outside the device). */
function harkIdsFromPasswd(): { uid: number; gid: number } | undefined {
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
 * Apply the boot partition's hark.toml (and CA files) to `etcDir`. Never throws: every
 * problem ends in an error file beside the boot file.
 */
export async function applyBootFiles(opts: FirstbootOptions): Promise<void> {
  const { bootFile, etcDir } = opts;
  const log = opts.log ?? ((msg: string) => process.stdout.write(`[firstboot] ${msg}\n`));
  const bootDir = dirname(bootFile);
  const target = join(etcDir, 'hark.toml');
  const errorFile = join(bootDir, 'hark-config-error.txt');
  const appliedFile = join(bootDir, 'hark-config-applied.txt');
  const refusedFile = `${bootFile}.refused`;
  /** A CA to share between boxes: saved beside hark.toml, moved into hark's tls directory. */
  const caCertFile = join(bootDir, 'hark-ca.crt');
  const caKeyFile = join(bootDir, 'hark-ca.key');
  const caErrorFile = join(bootDir, 'hark-ca-error.txt');

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
   * Everything in hark's config directory belongs to the hark user (this runs as root):
   * hark.toml 0600 (it may hold passwords), whatever else keeps its mode.
   */
  function ownByHark(file: string): void {
    const ids = (opts.harkIds ?? harkIdsFromPasswd)();
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

  /**
   * hark-ca.crt + hark-ca.key on the boot partition (another box's /etc/hark/tls/ca.crt and
   * ca.key): this box's certificate is then signed by that CA, so devices that trust it trust
   * this box too. Checked (a CA certificate, the key its own), installed 0600 for hark, removed
   * from the FAT partition (anyone with the card could read the key there); hark issues a new
   * server certificate at its start. A refusal is explained in hark-ca-error.txt.
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

  /**
   * hark-factory-reset on the boot partition: the settings, the admin password, the API tokens,
   * the sessions, the last state and the time zone go back to how a new card has them; the
   * recordings stay, and so does the box's certificate authority (devices that trust it keep
   * trusting the box). The old settings are kept, readable by root only, in
   * hark.toml.before-reset for an administrator over SSH. hark-factory-reset-done.txt on the boot
   * partition says what happened; FACTORY_RESET_MARK tells hark, which logs it, shows it on the
   * dashboard and flashes its LEDs.
   */
  function factoryReset(): void {
    const trigger = BOOT_TRIGGER_FILES.filter((f) => f.startsWith(FACTORY_RESET_FILE)).map((f) => join(bootDir, f)).find((f) => existsSync(f));
    if (!trigger) return;
    let stateDir = etcDir;
    try {
      if (existsSync(target)) stateDir = stateDirOf(loadConfig(target), target);
    } catch {
      // A config hark refuses: its state is where a default one keeps it, beside it.
    }
    const { at, removed } = resetToFactory({ configFile: target, stateDir });
    // The settings a new card has: the box stays where its users find it (port 80, the admin
    // pages over HTTPS on 443), not on hark's own defaults (8080), which no one would look at.
    writeDurably(target, deviceDefaults(at), 0o600);
    ownByHark(target);
    ownByHark(join(stateDir, FACTORY_RESET_MARK));
    rmSync(trigger, { force: true });
    writeDurably(
      join(bootDir, 'hark-factory-reset-done.txt'),
      [
        `hark was reset to its factory settings at ${at}.`,
        '',
        `Gone: ${removed.length ? removed.join('; ') : 'nothing (the box had no settings yet)'}; the time zone and the last state.`,
        'Kept: the recordings, and the certificate authority your devices may trust.',
        '',
        'Open http://<the box>.local/ and set a new admin password: the setup code it asks for is in',
        'hark-setup.txt on this drive. The old settings are kept for an administrator in',
        '/etc/hark/hark.toml.before-reset (over SSH; readable by root only).',
        '',
      ].join('\r\n'),
    );
    syncDir(bootDir);
    log(`factory reset (${basename(trigger)}): ${removed.join('; ') || 'nothing to remove'}; recordings kept`);
  }

  /** undefined when hark accepts the file (as `hark config check` does), else the reason, key path first. */
  function validate(file: string): string | undefined {
    try {
      parseConfig(readFileSync(file, 'utf8'), file);
      return undefined;
    } catch (e) {
      const msg = e instanceof ConfigError ? e.message : `${file}: ${(e as Error).message}`;
      return msg.replaceAll(file, basename(bootFile));
    }
  }

  /** Set the admin password as `hark passwd --stdin --config target` does; returns why it could not, or undefined. */
  async function setPassword(password: string): Promise<string | undefined> {
    try {
      checkPasswordRules(password);
      const cfg = loadConfig(target);
      await new Auth(join(stateDirOf(cfg, target), 'auth.json')).setPassword(password);
    } catch (e) {
      return (e as Error).message;
    }
    ownByHark(target);
    return undefined;
  }

  async function apply(): Promise<void> {
    factoryReset();
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
    const out = password === undefined && !portAdded && !tlsAdded ? text : `# Applied by hark from ${bootFile} at ${stamp()}.\n${stringify(doc)}\n`;
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
      const err = await setPassword(password);
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

  try {
    await apply();
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
}

/** `firstboot.ts [BOOT_TOML [ETC_DIR]]`: the wrapper's (and hark-firstboot.service's) arguments. */
export async function firstbootMain(argv: string[]): Promise<void> {
  await applyBootFiles({ bootFile: argv[0] ?? '/boot/firmware/hark.toml', etcDir: argv[1] ?? '/etc/hark' });
}
