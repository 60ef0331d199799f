import { describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoxCertificates } from '../tls/certs.ts';
import { applyBackup, BACKUP_FORMAT, BackupError, collectBackup, makeBackup, readBackup, type BackupPayload, type RestoreTarget } from './backup.ts';
import type { Credentials } from './auth.ts';

const CONFIG = `# the studio box
[[icecast]]
id = "main"
url = "http://source:ice-secret-1@radio.example.org:8000/live.mp3"
`;
const CREDS: Credentials = {
  password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
  password_set_at: '2026-11-01T10:00:00.000Z',
  tokens: [{ id: 't1', name: 'monitor', hash: 'abc', created: '2026-11-02T10:00:00.000Z', scope: 'read' }],
};
const PASS = 'correct horse battery';

function payload(over: Partial<BackupPayload> = {}): BackupPayload {
  return { config_text: CONFIG, credentials: CREDS, state: { live: true, muted: false, title: 'Evensong' }, tls_ca: null, ...over };
}

async function refusal(p: Promise<unknown>): Promise<BackupError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BackupError) return e;
    throw e;
  }
  throw new Error('not refused');
}

describe('backup files', () => {
  test('a backup with secrets needs a passphrase, and says what it holds', async () => {
    const e = await refusal(makeBackup(payload(), undefined));
    expect(e.field).toBe('passphrase');
    expect(e.message).toBe('this backup holds the admin password, API tokens, passwords or tokens in the settings: give a passphrase (at least 8 characters) to lock it with. You need it to restore.');
    expect((await refusal(makeBackup(payload(), 'short'))).message).toBe('passphrase: at least 8 characters');
  });

  test('locked: nothing secret is readable in the file; the right passphrase gives back every part', async () => {
    const made = await makeBackup(payload(), PASS, new Date('2026-12-03T10:20:00Z'));
    expect(made.encrypted).toBe(true);
    expect(made.filename).toMatch(/^hark-backup-.+-20261203-1020\.json$/);
    for (const s of ['ice-secret-1', 'argon2', 'Evensong', 'monitor']) expect(made.text).not.toContain(s);
    const env = JSON.parse(made.text);
    expect(env.product).toBe('hark-backup');
    expect(env.format).toBe(BACKUP_FORMAT);
    expect(env.contains).toEqual(['settings', 'the admin password', '1 API token', 'the last state and title']);
    const back = await readBackup(made.text, PASS);
    expect(back.payload).toEqual(payload());
    expect(back.made).toBe('2026-12-03T10:20:00.000Z');
  });

  test('a box with nothing secret backs up in the clear (and restores without a passphrase)', async () => {
    const p = payload({ config_text: '[metadata]\ntitle = "Morning"\n', credentials: null });
    const made = await makeBackup(p, undefined);
    expect(made.encrypted).toBe(false);
    expect((await readBackup(made.text)).payload).toEqual(p);
  });

  test('refused, each with its reason: wrong passphrase, none, a changed byte, another program, a newer hark, junk, settings the schema refuses', async () => {
    const made = await makeBackup(payload(), PASS);
    expect((await refusal(readBackup(made.text, 'wrong passphrase!'))).message).toBe('wrong passphrase (or the file was changed since it was made)');
    expect((await refusal(readBackup(made.text))).message).toBe('this backup is locked: give the passphrase it was made with');
    const env = JSON.parse(made.text);
    const b = Buffer.from(env.payload, 'base64');
    b[5] ^= 1;
    expect((await refusal(readBackup(JSON.stringify({ ...env, payload: b.toString('base64') }), PASS))).message).toBe('wrong passphrase (or the file was changed since it was made)');
    expect((await refusal(readBackup(JSON.stringify({ ...env, product: 'volumio-backup' }), PASS))).message).toBe('not a hark backup: it says it is "volumio-backup", from another program');
    expect((await refusal(readBackup(JSON.stringify({ ...env, format: 2, hark_version: '9.0.0' }), PASS))).message).toContain('made by a newer hark (9.0.0, format 2)');
    expect((await refusal(readBackup(made.text.slice(0, made.text.length / 2), PASS))).message).toStartWith('not a hark backup: it is not the JSON file');
    expect((await refusal(readBackup('[]'))).message).toBe('not a hark backup: it is not the JSON file a backup is');
    expect((await refusal(readBackup('x'.repeat(600 * 1024)))).message).toBe('not a hark backup: it is larger than 512 kB');
    const clear = await makeBackup(payload({ config_text: '[input]\nchannels = 9\n', credentials: null }), undefined).catch(() => null);
    expect(clear).toBeNull(); // the settings are read when made, too
    const bad = JSON.stringify({ product: 'hark-backup', format: 1, encrypted: false, payload: { ...payload({ credentials: null }), config_text: '[input]\nchannels = 9\n' } });
    const e = await refusal(readBackup(bad));
    expect(e.field).toBe('file');
    expect(e.message).toStartWith('the settings in this backup are refused: input.channels');
    const badHash = JSON.stringify({ product: 'hark-backup', format: 1, encrypted: false, payload: payload({ credentials: { password_hash: 'plaintext', tokens: [] } }) });
    expect((await refusal(readBackup(badHash))).message).toBe('not a hark backup: its password hash is not one hark makes');
    const proto = JSON.stringify({ product: 'hark-backup', format: 1, encrypted: false, payload: { ...payload({ credentials: null }), state: { live: 'yes', muted: false } } });
    expect((await refusal(readBackup(proto))).message).toBe('not a hark backup: its last state is damaged');
  });

  test("the box's certificate authority goes along; a CA whose key is not its own is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-backup-ca-'));
    const certs = new BoxCertificates(join(dir, 'tls'));
    await certs.ensureCa();
    const payloadWithCa = collectBackup({ configFile: join(dir, 'none.toml'), stateFile: join(dir, 'state.json'), tlsDir: join(dir, 'tls') }, null);
    expect(payloadWithCa.tls_ca?.cert).toContain('BEGIN CERTIFICATE');
    expect(payloadWithCa.config_text).toBe('');
    const made = await makeBackup(payloadWithCa, PASS);
    expect((await readBackup(made.text, PASS)).payload.tls_ca).toEqual(payloadWithCa.tls_ca);
    const other = new BoxCertificates(join(dir, 'tls2'));
    await other.ensureCa();
    const mixed = { ...payloadWithCa, tls_ca: { cert: payloadWithCa.tls_ca!.cert, key: readFileSync(join(dir, 'tls2', 'ca.key'), 'utf8') } };
    const e = await refusal(readBackup(JSON.stringify({ product: 'hark-backup', format: 1, encrypted: false, payload: mixed })));
    expect(e.message).toStartWith('the certificate authority in this backup is refused');
  }, 30_000);

  test('a restore writes nothing when the settings are refused, and keeps the password of a box when the backup has none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hark-restore-'));
    const written: string[] = [];
    let creds: Credentials | null = null;
    const target = (ok: boolean): RestoreTarget => ({
      configFile: join(dir, 'hark.toml'),
      stateFile: join(dir, 'state.json'),
      tlsDir: join(dir, 'tls'),
      replaceConfig: async (t) => (ok ? (written.push(t), { ok: true }) : { ok: false, error: 'input.channels: 1 or 2' }),
      restoreCredentials: (c) => (creds = c),
    });
    const b = await readBackup((await makeBackup(payload(), PASS)).text, PASS);
    expect((await refusal(applyBackup(b, target(false)))).message).toBe('the settings in this backup are refused: input.channels: 1 or 2');
    expect(existsSync(join(dir, 'state.json'))).toBe(false);
    expect(creds).toBeNull();
    expect(await applyBackup(b, target(true))).toEqual(['settings', 'the admin password', '1 API token', 'the last state and title']);
    expect(written).toEqual([CONFIG]);
    expect(creds!).toEqual(CREDS);
    expect(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).title).toBe('Evensong');
    creds = null;
    writeFileSync(join(dir, 'state.json'), '{}');
    const open = await readBackup((await makeBackup(payload({ config_text: '', credentials: null, state: null }), undefined)).text);
    expect(await applyBackup(open, target(true))).toEqual(['settings']);
    expect(creds).toBeNull();
  });

  test('the backup kept in test/fixtures (hark 0.1.0, format 1) still restores: older backups read into newer harks', async () => {
    const fixtures = join(import.meta.dir, '../../test/fixtures/backups');
    const locked = await readBackup(readFileSync(join(fixtures, 'hark-0.1.0-locked.json'), 'utf8'), 'fixture passphrase');
    expect(locked.harkVersion).toBe('0.1.0');
    expect(locked.payload.config_text).toContain('[[icecast]]');
    expect(locked.payload.credentials?.password_hash).toStartWith('$argon2id$');
    const clear = await readBackup(readFileSync(join(fixtures, 'hark-0.1.0-clear.json'), 'utf8'));
    expect(clear.payload.config_text).toContain('title = "Sunday service"');
  });
});
