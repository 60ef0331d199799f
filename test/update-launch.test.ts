/**
 * The launcher's trial rules (image/deb/usr/lib/hark/launch), run as hark.service runs it, with
 * trees whose bin/bun is a small script that says which tree ran and exits as told: what a
 * power cut at each step of an update leaves, a version that exits at start, one that hangs.
 * test/update.test.ts runs real hark versions through the same launcher.
 */
import { describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const LAUNCH = resolve(import.meta.dir, '../image/deb/usr/lib/hark/launch');

/** A tree whose "bun" logs the tree and trial it ran as, then exits with the code in its file `exit` (or sleeps when it says "hang"). */
function tree(root: string, version: string, behaviour: string): string {
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'src'), { recursive: true });
  writeFileSync(join(root, 'src/main.ts'), '');
  writeFileSync(join(root, 'package.json'), `{\n  "name": "hark",\n  "version": "${version}"\n}\n`);
  writeFileSync(join(root, 'behaviour'), behaviour);
  writeFileSync(
    join(root, 'bin/bun'),
    `#!/bin/sh\necho "${version} trial=\${HARK_UPDATE_TRIAL:-} launcher=\${HARK_LAUNCHER:-} root=\$HARK_ROOT" >>"$LOG"\nb=$(cat "$HARK_ROOT/behaviour")\nif [ "$b" = hang ]; then exec sleep 30; fi\nexit "$b"\n`,
  );
  chmodSync(join(root, 'bin/bun'), 0o755);
  return root;
}

function box() {
  const d = mkdtempSync(join(tmpdir(), 'hark-launch-'));
  const U = join(d, 'update');
  mkdirSync(join(U, 'releases'), { recursive: true });
  const factory = tree(join(d, 'opt-hark'), '0.1.0', '0');
  const log = join(d, 'log');
  let starts = 0;
  writeFileSync(log, '');
  const env = { ...process.env, HARK_UPDATE_DIR: U, HARK_FACTORY_ROOT: factory, HARK_SERVICE_ENTRY: '/nonexistent', LOG: log, HARK_TRIAL_S: '90' };
  /** One start, as systemd would make it: the launcher's output and the tree's exit code. */
  const start = async (extra: Record<string, string> = {}) => {
    // Output to a file, as to the journal: the trial timer (a child that outlives a quick exit,
    // as systemd would kill it) must not hold a pipe open.
    const outFile = join(d, `out-${++starts}`);
    const p = Bun.spawn(['sh', LAUNCH, '--config', '/x'], { env: { ...env, ...extra }, stdout: Bun.file(outFile), stderr: Bun.file(outFile) });
    const code = await p.exited;
    return { code, out: readFileSync(outFile, 'utf8') };
  };
  const ran = () => readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
  const install = (version: string, behaviour: string, o: { switched?: boolean; previous?: string } = {}) => {
    tree(join(U, 'releases', version), version, behaviour);
    writeFileSync(join(U, 'pending.json'), JSON.stringify({ from: '0.1.0', to: version }));
    writeFileSync(join(U, 'trial'), `${version} 0\n`);
    if (o.previous) symlinkSync(`releases/${o.previous}`, join(U, 'previous'));
    if (o.switched !== false) symlinkSync(`releases/${version}`, join(U, 'current'));
  };
  const last = () => JSON.parse(readFileSync(join(U, 'last.json'), 'utf8')) as { outcome: string; from: string; to: string; message: string };
  return { U, factory, start, ran, install, last };
}

describe('the launcher', () => {
  test('no update: the image’s own hark, started as the launcher (HARK_LAUNCHER=1), no trial', async () => {
    const b = box();
    expect((await b.start()).code).toBe(0);
    expect(b.ran()).toEqual([`0.1.0 trial= launcher=1 root=${b.factory}`]);
  });

  test('an update on trial is started and counted; a version that exits before serving twice is rolled back to the previous one', async () => {
    const b = box();
    tree(join(b.U, 'releases/0.2.0'), '0.2.0', '0');
    b.install('0.3.0', '3', { previous: '0.2.0' });
    await b.start();
    expect(readFileSync(join(b.U, 'trial'), 'utf8').trim()).toBe('0.3.0 1');
    await b.start();
    const third = await b.start();
    expect(third.out).toContain('rolled back: hark 0.3.0 stopped before it served audio (2 starts); running 0.2.0');
    expect(b.ran().map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['0.3.0 trial=0.3.0', '0.3.0 trial=0.3.0', '0.2.0 trial=']);
    expect(readlinkSync(join(b.U, 'current'))).toBe('releases/0.2.0');
    expect(existsSync(join(b.U, 'previous'))).toBe(false);
    expect(existsSync(join(b.U, 'trial'))).toBe(false);
    expect(existsSync(join(b.U, 'releases/0.3.0'))).toBe(false);
    expect(b.last()).toMatchObject({ outcome: 'rolled-back', from: '0.3.0', to: '0.2.0', message: 'hark 0.3.0 stopped before it served audio (2 starts), so hark went back to 0.2.0 by itself.' });
  });

  test('with no previous release the rollback goes to the image’s own hark', async () => {
    const b = box();
    b.install('0.2.0', '1');
    await b.start();
    await b.start();
    await b.start();
    expect(b.ran().at(-1)).toBe(`0.1.0 trial= launcher=1 root=${b.factory}`);
    expect(existsSync(join(b.U, 'current'))).toBe(false);
    expect(b.last().to).toBe('0.1.0');
  });

  test('a version that does not serve within the trial time is stopped and rolled back at the restart', async () => {
    const b = box();
    b.install('0.2.0', 'hang');
    const t0 = Date.now();
    const first = await b.start({ HARK_TRIAL_S: '1' });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(first.code).not.toBe(0);
    expect(first.out).toContain('hark 0.2.0 has not served within 1 s: stopping it (it will be rolled back)');
    expect(readFileSync(join(b.U, 'trial'), 'utf8').trim()).toBe('0.2.0 99');
    const second = await b.start();
    expect(second.out).toContain('rolled back: hark 0.2.0 did not start serving audio within 90 s');
    expect(b.ran().at(-1)).toStartWith('0.1.0 trial=');
  });

  test('a confirmed trial (hark removed the trial file) is not stopped by the trial timer', async () => {
    const b = box();
    b.install('0.2.0', 'hang');
    const p = Bun.spawn(['sh', LAUNCH], { env: { ...process.env, HARK_UPDATE_DIR: b.U, HARK_FACTORY_ROOT: b.factory, LOG: join(b.U, '..', 'log'), HARK_TRIAL_S: '2' }, stdout: 'ignore', stderr: 'ignore' });
    // What service.ts does once healthy.
    for (let i = 0; i < 50 && !existsSync(join(b.U, 'trial')); i++) await Bun.sleep(20);
    for (let i = 0; i < 50 && readFileSync(join(b.U, 'trial'), 'utf8').trim() !== '0.2.0 1'; i++) await Bun.sleep(20);
    Bun.spawnSync(['rm', join(b.U, 'trial')]);
    await Bun.sleep(3000);
    expect(p.exitCode).toBeNull();
    p.kill();
    await p.exited;
  });

  describe('a power cut at each step of an update leaves a box that starts a working hark', () => {
    test('during the unpack (.incoming left): the running version starts and the half-unpacked tree is removed', async () => {
      const b = box();
      mkdirSync(join(b.U, '.incoming-0.2.0/src'), { recursive: true });
      await b.start();
      expect(b.ran()).toEqual([`0.1.0 trial= launcher=1 root=${b.factory}`]);
      expect(existsSync(join(b.U, '.incoming-0.2.0'))).toBe(false);
      // The page and `hark status` say what happened to this update, not an older outcome.
      expect(b.last()).toMatchObject({
        outcome: 'interrupted',
        from: '0.1.0',
        to: '0.2.0',
        message: 'The update to hark 0.2.0 did not finish installing (the power went or hark stopped while it was being installed); hark 0.1.0 runs as before. Install it again.',
      });
    });

    test('after the trial was written, before the switch: the old version starts and the stale trial is dropped', async () => {
      const b = box();
      b.install('0.2.0', '0', { switched: false });
      const r = await b.start();
      expect(r.out).toContain('an update to 0.2.0 did not finish installing; staying on the current version (0.1.0)');
      expect(b.ran()).toEqual([`0.1.0 trial= launcher=1 root=${b.factory}`]);
      expect(existsSync(join(b.U, 'trial'))).toBe(false);
      expect(b.last()).toMatchObject({ outcome: 'interrupted', from: '0.1.0', to: '0.2.0' });
    });

    test('after the switch: the new version starts on trial', async () => {
      const b = box();
      b.install('0.2.0', '0');
      await b.start();
      expect(b.ran()[0]).toBe(`0.2.0 trial=0.2.0 launcher=1 root=${join(b.U, 'releases/0.2.0')}`);
    });

    test('during the trial (one start spent): the next boot gives it its second start', async () => {
      const b = box();
      b.install('0.2.0', '0');
      writeFileSync(join(b.U, 'trial'), '0.2.0 1\n');
      await b.start();
      expect(b.ran()[0]).toStartWith('0.2.0 trial=0.2.0');
      expect(readFileSync(join(b.U, 'trial'), 'utf8').trim()).toBe('0.2.0 2');
    });

    test('a damaged update tree (no bin/bun): the image’s own hark starts', async () => {
      const b = box();
      b.install('0.2.0', '0');
      Bun.spawnSync(['rm', join(b.U, 'releases/0.2.0/bin/bun')]);
      const r = await b.start();
      expect(r.out).toContain(`the update in ${b.U}/releases/0.2.0 is damaged; running the image's own hark`);
      expect(b.ran()).toEqual([`0.1.0 trial= launcher=1 root=${b.factory}`]);
    });
  });
});
