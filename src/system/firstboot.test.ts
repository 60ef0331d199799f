import { describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyBootFiles, scrub } from './firstboot.ts';

const PASSWORD = 'choir loft 1987 speaker';

function box(): { boot: string; etc: string; bootFile: string; lines: string[]; run: () => Promise<void> } {
  const d = mkdtempSync(join(tmpdir(), 'hark-firstboot-unit-'));
  const boot = join(d, 'boot');
  const etc = join(d, 'etc');
  mkdirSync(boot);
  mkdirSync(etc);
  const lines: string[] = [];
  const bootFile = join(boot, 'hark.toml');
  return { boot, etc, bootFile, lines, run: () => applyBootFiles({ bootFile, etcDir: etc, log: (m) => lines.push(m) }) };
}

/** Every file under `dir`, as text. */
function texts(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'));
}

describe('first boot (src/system/firstboot.ts)', () => {
  test('a hark.toml with an admin password: installed 0600 with port 80 and HTTPS on 443, the password set as a hash, the plaintext nowhere', async () => {
    const b = box();
    writeFileSync(b.bootFile, `# from the PC\n[mp3]\nbitrate_kbps = 192\n[admin]\npassword = "${PASSWORD}"\n`);
    await b.run();
    const etc = readFileSync(join(b.etc, 'hark.toml'), 'utf8');
    expect(etc).toContain('bitrate_kbps = 192');
    expect(etc).toMatch(/\[http\]\nport = 80/);
    expect(etc).toMatch(/\[tls\]\nenabled = true\nport = 443/);
    expect(statSync(join(b.etc, 'hark.toml')).mode & 0o777).toBe(0o600);
    const auth = JSON.parse(readFileSync(join(b.etc, 'auth.json'), 'utf8')) as { password_hash: string };
    expect(await Bun.password.verify(PASSWORD, auth.password_hash)).toBe(true);
    expect(existsSync(b.bootFile)).toBe(false);
    expect(readFileSync(join(b.boot, 'hark-config-applied.txt'), 'utf8')).toContain('now lives in');
    expect(readFileSync(join(b.boot, 'hark-config-applied.txt'), 'utf8')).toContain('The admin password was set.');
    expect(existsSync(join(b.boot, 'hark-config-error.txt'))).toBe(false);
    for (const t of [...texts(b.boot), ...texts(b.etc), ...b.lines]) expect(t).not.toContain(PASSWORD);
    // Durable writes leave no temp file behind on either partition.
    expect(readdirSync(b.boot)).toEqual(['hark-config-applied.txt']);
    expect(readdirSync(b.etc).sort()).toEqual(['auth.json', 'hark.toml']);
  });

  test('a file that already says everything is installed as written, comments and all', async () => {
    const b = box();
    const text = '# the choir box\n[http]\nport = 8081\n[tls]\nenabled = false\nport = 8443\n';
    writeFileSync(b.bootFile, text);
    await b.run();
    expect(readFileSync(join(b.etc, 'hark.toml'), 'utf8')).toBe(text);
  });

  test('a value hark refuses: the error file names the key (and the boot file, not the staged copy); the old config stays; the refused copy has no password', async () => {
    const b = box();
    writeFileSync(join(b.etc, 'hark.toml'), '[mp3]\nbitrate_kbps = 128\n');
    writeFileSync(b.bootFile, `[mp3]\nbitrate_kbps = 7\n[admin]\npassword = "${PASSWORD}"\n`);
    await b.run();
    const err = readFileSync(join(b.boot, 'hark-config-error.txt'), 'utf8');
    expect(err).toContain('mp3.bitrate_kbps');
    expect(err).toContain('hark.toml');
    expect(err).not.toContain('hark.toml.new');
    expect(readFileSync(join(b.etc, 'hark.toml'), 'utf8')).toBe('[mp3]\nbitrate_kbps = 128\n');
    expect(existsSync(join(b.etc, 'hark.toml.new'))).toBe(false);
    expect(existsSync(b.bootFile)).toBe(false);
    const refused = readFileSync(`${b.bootFile}.refused`, 'utf8');
    expect(refused).toContain('bitrate_kbps = 7');
    expect(refused).not.toContain(PASSWORD);
    expect(existsSync(join(b.etc, 'auth.json'))).toBe(false);
  });

  test('not TOML at all: refused with the line and column', async () => {
    const b = box();
    writeFileSync(b.bootFile, '[mp3\nbitrate_kbps = 192\n');
    await b.run();
    expect(readFileSync(join(b.boot, 'hark-config-error.txt'), 'utf8')).toMatch(/not valid TOML: line 1, column \d+/);
  });

  test('a password hark does not accept: the config is applied, and the error file says the password was NOT set and why', async () => {
    const b = box();
    writeFileSync(b.bootFile, '[admin]\npassword = "short"\n');
    await b.run();
    expect(existsSync(join(b.etc, 'hark.toml'))).toBe(true);
    expect(existsSync(join(b.etc, 'auth.json'))).toBe(false);
    const err = readFileSync(join(b.boot, 'hark-config-error.txt'), 'utf8');
    expect(err).toContain('The admin password was NOT set: password: at least');
    for (const t of [...texts(b.boot), ...texts(b.etc)]) expect(t).not.toMatch(/"short"/);
  });

  test('no file on the boot partition: nothing changes', async () => {
    const b = box();
    await b.run();
    expect(b.lines).toEqual([`${b.bootFile}: nothing to apply`]);
    expect(readdirSync(b.boot)).toEqual([]);
    expect(readdirSync(b.etc)).toEqual([]);
  });

  test('hark-factory-reset: settings, password, tokens, state and time zone go; recordings and the CA stay; the old settings kept 0600; the done file says what happened', async () => {
    const b = box();
    writeFileSync(join(b.etc, 'hark.toml'), '[metadata]\ntitle = "Evensong"\n[[icecast]]\nid = "main"\nurl = "http://source:pw@127.0.0.1:8000/a.mp3"\n');
    writeFileSync(join(b.etc, 'hark.toml.bak'), '# old\n');
    writeFileSync(join(b.etc, 'auth.json'), '{"password_hash":"$argon2id$x","tokens":[{"id":"t","name":"n","hash":"h","created":"c"}]}');
    writeFileSync(join(b.etc, 'state.json'), '{"live":true,"muted":false}');
    writeFileSync(join(b.etc, 'timezone'), 'Europe/London\n');
    mkdirSync(join(b.etc, 'tls'));
    writeFileSync(join(b.etc, 'tls', 'ca.crt'), 'CA');
    mkdirSync(join(b.etc, 'recordings'));
    writeFileSync(join(b.etc, 'recordings', 'hark-2026-11-29T10-00-00Z.mp3'), 'ID3');
    writeFileSync(join(b.boot, 'hark-factory-reset.txt'), 'please\r\n');
    await b.run();
    for (const f of ['hark.toml.bak', 'auth.json', 'state.json', 'timezone']) expect({ f, there: existsSync(join(b.etc, f)) }).toEqual({ f, there: false });
    // The settings a new card has: port 80 and HTTPS on 443 (not hark's own 8080), nothing else.
    const fresh = readFileSync(join(b.etc, 'hark.toml'), 'utf8');
    expect(fresh.replace(/^#.*\n/, '')).toBe('[http]\nport = 80\n\n[tls]\nenabled = true\nport = 443\n');
    expect(statSync(join(b.etc, 'hark.toml')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(b.etc, 'recordings', 'hark-2026-11-29T10-00-00Z.mp3'), 'utf8')).toBe('ID3');
    expect(readFileSync(join(b.etc, 'tls', 'ca.crt'), 'utf8')).toBe('CA');
    expect(readFileSync(join(b.etc, 'hark.toml.before-reset'), 'utf8')).toContain('title = "Evensong"');
    expect(statSync(join(b.etc, 'hark.toml.before-reset')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(b.etc, 'factory-reset.json'), 'utf8')).at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(existsSync(join(b.boot, 'hark-factory-reset.txt'))).toBe(false);
    const done = readFileSync(join(b.boot, 'hark-factory-reset-done.txt'), 'utf8');
    expect(done).toContain('hark was reset to its factory settings at');
    expect(done).toContain('Gone: the settings; the admin password, the API tokens and every login; the time zone and the last state.');
    expect(done).toContain('Kept: the recordings');
    expect(b.lines.join('\n')).toContain('factory reset (hark-factory-reset.txt)');
    // The next boot without the file changes nothing more.
    await b.run();
    expect(existsSync(join(b.etc, 'hark.toml.before-reset'))).toBe(true);
  });

  test('a factory reset with a hark.toml beside it: reset first, then the new settings and password are applied', async () => {
    const b = box();
    writeFileSync(join(b.etc, 'hark.toml'), '[metadata]\ntitle = "Old"\n');
    writeFileSync(join(b.boot, 'hark-factory-reset'), '');
    writeFileSync(b.bootFile, `[metadata]\ntitle = "New"\n[admin]\npassword = "${PASSWORD}"\n`);
    await b.run();
    const etc = readFileSync(join(b.etc, 'hark.toml'), 'utf8');
    expect(etc).toContain('title = "New"');
    const auth = JSON.parse(readFileSync(join(b.etc, 'auth.json'), 'utf8')) as { password_hash: string };
    expect(await Bun.password.verify(PASSWORD, auth.password_hash)).toBe(true);
    expect(readFileSync(join(b.etc, 'hark.toml.before-reset'), 'utf8')).toContain('title = "Old"');
  });

  test('scrub replaces every password assignment', () => {
    expect(scrub('[admin]\n  password = "x"\nPassword="y"\nuser = "z"\n')).toBe(
      '[admin]\n  # password removed by hark at boot: write it again to set it\n# password removed by hark at boot: write it again to set it\nuser = "z"\n',
    );
  });
});
