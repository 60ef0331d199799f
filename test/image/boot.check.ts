/**
 * The image, booted: qemu-system-aarch64 `virt` with the image's own kernel, first as a
 * Cortex-A72 (Pi 4) on a fresh copy with Raspberry Pi Imager-style customisation and a
 * hark.toml on the boot partition, then as a Cortex-A53 (Pi 3: catches a Bun that uses
 * instructions the Pi 3 lacks) on the same disk with the read-only root switched on.
 *
 * Features of other issues that are not in this build yet (the `hark` CLI and admin password:
 * control issue; PipeWire capture: capture issue; the GPIO binding: GPIO issue) show up as
 * `todo` with "MISSING" and the reason; they are checked for real as soon as the files exist.
 *
 * Run: bun test ./test/image/boot.check.ts  (after script/image --debian-only; test/image/run)
 * Env: HARK_BOOT_CPUS="cortex-a72 cortex-a53" (first, second), HARK_BOOT_TIMEOUT_S (ready).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { channel, decodeWithFfmpeg, dominantFrequency, rmsDbfs, sine } from '../lib/signal.ts';
import { buildInfo, FatPartition, openImage, partitionTable, rawImage, ROOT, run, WORK } from './lib/image.ts';
import { Guest, sleep } from './lib/qemu.ts';
import { TRIM_AFTER_START_MS } from '../../src/memory.ts';
import { claimWithSetupCode, login } from '../lib/session.ts';
import { packDir } from '../../script/release.ts';

const [CPU1, CPU2] = (process.env.HARK_BOOT_CPUS ?? 'cortex-a72 cortex-a53').split(/\s+/) as [string, string];
const READY_S = Number(process.env.HARK_BOOT_TIMEOUT_S ?? 900);
const info = buildInfo();
const dir = join(WORK, 'boot');
const disk = join(dir, 'disk.img');
const key = join(dir, 'id_ed25519');
const USER = 'tester';
const HOSTNAME = 'studio';
const PASSWORD = `pw-${crypto.randomUUID()}`;
const TONE_HZ = 997;
const times = join(ROOT, 'dist/boot-times.txt');
const GPIO_HOOK = join(ROOT, 'test/gpio-qemu.ts');

/** Features of other issues, found in the image's /opt/hark before booting it. */
const built = openImage(rawImage()).root;
const FEATURES = {
  cli: built.exists('/opt/hark/src/cli/main.ts'),
  capture: built.exists('/opt/hark/ffi/pipewire.ts'),
  gpio: built.exists('/opt/hark/ffi/gpiod.ts') && existsSync(GPIO_HOOK),
};
const MISSING = {
  cli: 'the hark CLI (control issue: /opt/hark/src/cli/main.ts) is not in this build',
  capture: 'PipeWire capture (capture issue: /opt/hark/ffi/pipewire.ts) is not in this build',
  gpio: 'the GPIO binding and its QEMU test (GPIO issue: /opt/hark/ffi/gpiod.ts, test/gpio-qemu.ts) are not in this build',
};
for (const [k, present] of Object.entries(FEATURES)) if (!present) console.warn(`MISSING: ${MISSING[k as keyof typeof MISSING]}`);

/** `test`, or a `todo` that says plainly what is missing (never a silent pass). */
const testIf = (present: boolean, name: string, missing: string, fn: () => Promise<void> | void, timeout = 120_000) =>
  present ? test(name, fn, timeout) : test.todo(`${name} — MISSING: ${missing}`);

function record(line: string) {
  console.log(line);
  appendFileSync(times, `${line}\n`);
}

const bump = (v: string, n: number) => v.replace(/\d+$/, (x) => String(Number(x) + n));
const V1 = bump(info.version!, 1);
const V2 = bump(info.version!, 2);
const V3 = bump(info.version!, 3);
const BACKUP_PASSPHRASE = 'boot test backup passphrase';
const TLS = { tls: { rejectUnauthorized: false } } as RequestInit;

/**
 * Another build of this release, as a developer would make one: the build's own release file
 * unpacked, its version set (and, for `broken`, a main.ts that exits at start), packed and
 * signed with the build's key (script/release.ts, as script/image does).
 */
async function otherBuild(version: string, broken = false): Promise<string> {
  const tree = join(dir, `tree-${version}`);
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  const bytes = readFileSync(join(ROOT, info.release!));
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8);
  writeFileSync(join(dir, 'payload.tgz'), bytes.subarray(12 + headerLength + 64));
  run(['tar', '-xzf', join(dir, 'payload.tgz'), '-C', tree], { timeoutMs: 300_000 });
  const pkg = JSON.parse(readFileSync(join(tree, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(tree, 'package.json'), `${JSON.stringify({ ...pkg, version }, null, 2)}\n`);
  if (broken) writeFileSync(join(tree, 'src/main.ts'), "console.error('this build is broken: it exits at start');\nprocess.exit(3);\n");
  const file = join(dir, `hark-${version}-arm64.hark`);
  writeFileSync(file, await packDir(tree, { keyPem: readFileSync(info.release_key!, 'utf8'), arch: 'arm64' }));
  rmSync(tree, { recursive: true, force: true });
  return file;
}

interface UpdateDoc {
  version: string;
  update: { running_from: string; trial?: string; last?: { outcome: string; from: string; to: string; message: string } };
}
async function statusOf(g: Guest): Promise<UpdateDoc | undefined> {
  try {
    const r = await fetch(g.url('/api/status'), { signal: AbortSignal.timeout(10_000) });
    return r.ok ? ((await r.json()) as UpdateDoc) : undefined;
  } catch {
    return undefined;
  }
}
/** Wait (polling every 3 s, at most `s` seconds) for the status to satisfy `ok`; the seconds it took. */
async function waitStatus(g: Guest, s: number, ok: (d: UpdateDoc) => boolean, what: string): Promise<number> {
  const t0 = performance.now();
  let last: UpdateDoc | undefined;
  while (performance.now() - t0 < s * 1000) {
    last = await statusOf(g);
    if (last && ok(last)) return (performance.now() - t0) / 1000;
    await sleep(3000);
  }
  throw new Error(`${what}: not within ${s} s; last status ${JSON.stringify(last?.update)} version ${last?.version}\n${g.ssh('sudo journalctl -b -u hark --no-pager | tail -40', { allowFail: true }).stdout}`);
}

/** A few seconds of /stream.mp3, decoded to mono float at 48 kHz, plus the MP3's bitrate. */
async function listen(g: Guest, seconds: number, channels: 1 | 2 = 1): Promise<{ samples: Float32Array; kbps: number; bytes: number }> {
  const ctl = new AbortController();
  const res = await fetch(g.url('/stream.mp3'), { signal: ctl.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('audio/mpeg');
  const chunks: Uint8Array[] = [];
  const reader = res.body!.getReader();
  const until = performance.now() + seconds * 1000;
  const hard = setTimeout(() => ctl.abort(), (seconds + 30) * 1000);
  try {
    while (performance.now() < until) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
  } finally {
    clearTimeout(hard);
    ctl.abort();
  }
  const bytes = Buffer.concat(chunks);
  const file = join(dir, 'stream.mp3');
  writeFileSync(file, bytes);
  const probe = run(['ffprobe', '-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=bit_rate', '-of', 'csv=p=0', file]);
  return { samples: await decodeWithFfmpeg(bytes, { format: 'mp3', channels }), kbps: Number(probe.stdout.trim()) / 1000, bytes: bytes.length };
}

function prepareDisk() {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  run(['cp', '--sparse=always', rawImage(), disk], { timeoutMs: 600_000 });
  // A bigger "card" than the image, so cloud-init's growpart has something to grow into.
  truncateSync(disk, statSync(disk).size + 1024 ** 3);
  run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'hark-boot-test', '-f', key]);
  const pub = readFileSync(`${key}.pub`, 'utf8').trim();
  const boot = new FatPartition(disk, partitionTable(disk).partitions[0]!.start);
  // What Raspberry Pi Imager 2 writes for "hostname, user, SSH key" (cloud-init NoCloud).
  boot.write(
    'user-data',
    [
      '#cloud-config',
      `hostname: ${HOSTNAME}`,
      'manage_etc_hosts: true',
      'users:',
      `  - name: ${USER}`,
      '    groups: users,adm,dialout,audio,netdev,video,plugdev,cdrom,games,input,gpio,spi,i2c,render,sudo',
      '    shell: /bin/bash',
      '    lock_passwd: true',
      '    sudo: ALL=(ALL) NOPASSWD:ALL',
      '    ssh_authorized_keys:',
      `      - ${pub}`,
      'ssh_pwauth: false',
      'timezone: Europe/London',
      '',
    ].join('\n'),
  );
  boot.write('meta-data', `instance-id: hark-boot-test-${Date.now()}\ndsmode: local\n`);
  boot.write(
    'hark.toml',
    [
      '# written by the boot test, as a user would from any PC',
      '[admin]',
      `password = "${PASSWORD}"`,
      '',
      '[input]',
      'source = "auto"',
      '',
      '[mp3]',
      'bitrate_kbps = 192',
      '',
    ].join('\n'),
  );
}

let g1: Guest;
let hostKeyAtFirstLogin = '';
/** The guest's ed25519 host key, as ssh-keyscan sees it. */
const hostKey = (g: Guest) =>
  run(['ssh-keyscan', '-T', '30', '-t', 'ed25519', '-p', String(g.sshPort), '127.0.0.1'], { allowFail: true })
    .stdout.split('\n')
    .filter((l) => l.includes('ssh-ed25519'))
    .map((l) => l.slice(l.indexOf('ssh-ed25519')).trim())[0] ?? '';
let g2: Guest | undefined;

/**
 * Play a tone into the loopback (device 1), listen to /stream.mp3, return what came out and
 * the level that went in.
 */
async function loopbackToStream(g: Guest) {
  expect(g.ssh('grep -c Loopback /proc/asound/cards').stdout.trim()).not.toBe('0');
  // Playback on device 1 of the loopback comes out of capture device 0, which PipeWire
  // (WirePlumber's ALSA monitor) presents as a source: a USB interface stand-in. snd-aloop
  // insists that both ends agree on format, rate, channels and on interleaving; PipeWire
  // opened its end first, as S32_LE, 48 kHz, stereo, non-interleaved. An end that differs
  // stops the capture (PipeWire's source then runs free, delivering silence several times
  // faster than real time: hark keeps its own clock and raises input.clock). So the test
  // plays exactly that: one S32_LE file per channel (aplay -I) straight into hw.
  const tone = sine({ frequency: TONE_HZ, dbfs: -6, seconds: 60, channels: 1 });
  const s32 = new Int32Array(tone.length);
  for (let i = 0; i < tone.length; i++) s32[i] = Math.round(tone[i]! * 0x7fffffff);
  const raw = join(dir, 'tone-s32.raw');
  writeFileSync(raw, new Uint8Array(s32.buffer));
  g.scp(raw, '/tmp/tone-s32.raw');
  g.ssh('nohup aplay -q -I -t raw -f S32_LE -r 48000 -c 2 -D hw:Loopback,1,0 /tmp/tone-s32.raw /tmp/tone-s32.raw >/tmp/aplay.log 2>&1 &');
  await sleep(3000);
  // Stereo, each channel on its own: a mono downmix of two equal channels reads 3 dB high.
  const { samples } = await listen(g, 8, 2);
  g.ssh('pkill -x aplay', { allowFail: true });
  const aplayLog = g.ssh('cat /tmp/aplay.log', { allowFail: true }).stdout.trim();
  if (aplayLog) console.log(`aplay: ${aplayLog}`);
  const left = channel(samples, 2, 0).subarray(48000 * 2);
  const right = channel(samples, 2, 1).subarray(48000 * 2);
  const f = dominantFrequency(left);
  const level = rmsDbfs(left);
  const levelR = rmsDbfs(right);
  const played = rmsDbfs(tone);
  const status = (await (await fetch(g.url('/api/status'))).json()) as {
    input: { source: string; device: string };
    audio: { discarded_frames: number };
    alerts: { id: string }[];
  };
  console.log(
    `/stream.mp3 carried ${f.toFixed(1)} Hz at ${level.toFixed(1)} / ${levelR.toFixed(1)} dBFS RMS on L / R (played ${played.toFixed(1)}); input ${JSON.stringify(status.input.source)} ${status.input.device}; discarded ${status.audio.discarded_frames}; alerts ${status.alerts.map((a) => a.id).join(', ') || 'none'}`,
  );
  return { f, level, levelR, played, discarded: status.audio.discarded_frames };
}

/**
 * Memory on the target, for bench/RESULTS.md (a reading, not a check): the daemon's RSS and
 * its parts, with its uptime (hark gives back startup memory at 10 s and 60 s: src/memory.ts).
 */
function idleMemory(g: Guest): string {
  const r = g.ssh(
    // …and how much of RssFile is the Bun executable (the pages hark's trims drop), from smaps.
    'pid=$(systemctl show -p MainPID --value hark); echo "uptime $(ps -o etimes= -p $pid | tr -d " ") s:" $(grep -E "^(VmRSS|RssAnon|RssFile):" /proc/$pid/status | tr -s " " | tr "\\n" " ") "of which the Bun executable: $(sudo awk \'/^[0-9a-f]+-[0-9a-f]+ /{p=$6} /^Rss:/{if (p ~ /\\/bun$/) s+=$2} END{print s}\' /proc/$pid/smaps) kB"',
    { allowFail: true },
  );
  return r.stdout.trim();
}

/** avahi's host name (what it answers to as <name>.local), over D-Bus. */
function mdnsName(g: Guest): string {
  const r = g.ssh('busctl call org.freedesktop.Avahi / org.freedesktop.Avahi.Server GetHostName', { allowFail: true, timeoutS: 30 });
  return /^s "(.*)"$/.exec(r.stdout.trim())?.[1] ?? `(avahi: ${r.stdout.trim() || r.stderr.trim()})`;
}

/**
 * `getent hosts <HOSTNAME>.local` in the guest (nss-mdns asks avahi). avahi probes for up to a few
 * seconds after it starts or re-registers the name, and an emulated guest can be slow to answer
 * its own query: wait until it answers, at most a minute, then show what avahi said.
 */
function resolveLocal(g: Guest): string {
  let resolved = '';
  for (let attempt = 0; attempt < 12 && !/^\d+\.\d+\.\d+\.\d+\s/.test(resolved); attempt++) {
    if (attempt > 0) Bun.sleepSync(5000);
    resolved = g.ssh(`getent hosts ${HOSTNAME}.local`, { timeoutS: 30, allowFail: true }).stdout;
  }
  if (!/^\d+\.\d+\.\d+\.\d+\s/.test(resolved)) {
    console.log(g.ssh('sudo journalctl -b -u avahi-daemon --no-pager | tail -30; grep ^hosts /etc/nsswitch.conf', { allowFail: true, timeoutS: 30 }).stdout);
  }
  return resolved;
}

describe(`first boot (${CPU1}): Imager customisation + hark.toml on the boot partition`, () => {
  beforeAll(async () => {
    if (!existsSync(times)) writeFileSync(times, '');
    prepareDisk();
    g1 = new Guest({ disk, cpu: CPU1, dir, user: USER, key, extraArgs: ['modules-load=snd-aloop'] });
    await g1.start();
    const ready = await g1.waitHttp('/api/status', READY_S);
    record(`boot-to-ready ${CPU1} first boot (cloud-init, first-boot config, growpart): ${ready.toFixed(0)} s  [${info.image}]`);
    await g1.waitSsh(300);
    hostKeyAtFirstLogin = hostKey(g1);
    // cloud-init's last stage (and hark-admins after it) must be done before the checks.
    const ci = g1.ssh('cloud-init status --wait --long', { timeoutS: 600, allowFail: true });
    console.log(ci.stdout.trim());
    record(`hark idle memory on ${CPU1} (arm64, input auto, no listeners) ${idleMemory(g1)}`);
    // HARK_BOOT_HOLD=SECONDS keeps the first-boot guest up for a developer to log into.
    const hold = Number(process.env.HARK_BOOT_HOLD ?? 0);
    if (hold > 0) {
      console.log(`holding the guest for ${hold} s: ssh -i ${key} -p ${g1.sshPort} -o StrictHostKeyChecking=no ${USER}@127.0.0.1 (touch ${dir}/release to go on)`);
      const until = Date.now() + hold * 1000;
      while (Date.now() < until && !existsSync(join(dir, 'release'))) await sleep(2000);
      rmSync(join(dir, 'release'), { force: true });
    }
  }, (READY_S + 1000 + Number(process.env.HARK_BOOT_HOLD ?? 0)) * 1000);

  test("the SSH host key a user first saw is still the box's key once the first boot is done", () => {
    expect(hostKeyAtFirstLogin).toMatch(/^ssh-ed25519 AAAA/);
    expect(hostKey(g1)).toBe(hostKeyAtFirstLogin);
  });

  afterAll(async () => {
    // Power off rather than kill: a VM killed while writing leaves the FAT partition damaged.
    if (g1 && g1.exited === undefined) await g1.stop(180);
  }, 200_000);

  test('hark answers on port 80: /api/status with its version, a JSON error for an unknown path, the admin page at /', async () => {
    const r = await fetch(g1.url('/api/status'));
    expect(r.status).toBe(200);
    const doc = (await r.json()) as { version: string; audio: { frames: number } };
    expect(doc.version).toBe(info.version!);
    const nf = await fetch(g1.url('/api/no-such-thing'));
    // 404, or 401 once the admin password guards the API (control issue).
    expect([401, 404]).toContain(nf.status);
    expect(((await nf.json()) as { error: string }).error.length).toBeGreaterThan(0);
    if (FEATURES.cli) {
      // As a browser asks for it: the admin page, which sends a visitor without a session to the
      // login form (the password came with the first-boot config), which is on HTTPS (port 443;
      // here the port forwarded to it). Followed by hand: the redirect names the guest's port.
      const page = await fetch(g1.url('/'), { redirect: 'manual', headers: { accept: 'text/html' } });
      expect(page.status).toBe(303);
      expect(page.headers.get('location')).toStartWith('/login');
      const login = await fetch(g1.url('/login'), { redirect: 'manual', headers: { accept: 'text/html' } });
      expect(login.status).toBe(308);
      expect(login.headers.get('location')).toBe('https://127.0.0.1/login');
      const form = await fetch(`https://127.0.0.1:${g1.httpsPort}/login`, { tls: { rejectUnauthorized: false }, signal: AbortSignal.timeout(60_000) } as RequestInit);
      expect(form.status).toBe(200);
      expect(form.headers.get('content-type')).toContain('text/html');
    }
  });

  test("HTTPS on 443 answers with the box's own certificate: curl --cacert with the CA fetched from /ca.crt over plain HTTP", async () => {
    const ca = await fetch(g1.url('/ca.crt'), { signal: AbortSignal.timeout(60_000) });
    expect(ca.status).toBe(200);
    expect(ca.headers.get('content-type')).toBe('application/x-x509-ca-cert');
    const caFile = join(dir, 'hark-ca.crt');
    writeFileSync(caFile, await ca.text());
    // The certificate is for the box's names: <hostname>.local, resolved here to the forwarded port.
    const url = `https://${HOSTNAME}.local:${g1.httpsPort}/api/status`;
    const resolve = ['--resolve', `${HOSTNAME}.local:${g1.httpsPort}:127.0.0.1`];
    const ok = run(['curl', '-sS', '--max-time', '60', '--cacert', caFile, ...resolve, '-o', '/dev/null', '-w', '%{http_code} %{ssl_verify_result}', url], { allowFail: true, timeoutMs: 90_000 });
    expect(`${ok.code} ${ok.stdout.trim()} ${ok.stderr.trim()}`).toBe('0 200 0 ');
    // Without the CA, curl refuses it (60: the peer's certificate cannot be verified).
    expect(run(['curl', '-sS', '--max-time', '60', ...resolve, '-o', '/dev/null', url], { allowFail: true, timeoutMs: 90_000 }).code).toBe(60);
    // The CA was made on the box at first start; its key is hark's alone.
    expect(g1.ssh('sudo stat -c %U:%a /etc/hark/tls/ca.key').stdout.trim()).toBe('hark:600');
    expect(g1.ssh('sudo journalctl -b -u hark --no-pager -o cat').stdout).toMatch(/serving https on port 443 with the box's own certificate/);
  }, 180_000);

  test('the first-boot config is applied: moved to /etc/hark, gone from the boot partition, and in effect (MP3 at 192 kbit/s)', async () => {
    expect(g1.ssh('test -e /boot/firmware/hark.toml', { allowFail: true }).code).toBe(1);
    expect(g1.ssh('cat /boot/firmware/hark-config-applied.txt').stdout).toContain('now lives in /etc/hark/hark.toml');
    const etc = g1.ssh('sudo cat /etc/hark/hark.toml').stdout;
    expect(etc).toContain('bitrate_kbps = 192');
    expect(etc).toMatch(/port = 80/);
    // HTTPS on 443 was added, as the boot file did not say otherwise.
    expect(etc).toMatch(/\[tls\][^[]*enabled = true/);
    expect(etc).toMatch(/\[tls\][^[]*port = 443/);
    expect(g1.ssh('stat -c %U:%a /etc/hark/hark.toml').stdout.trim()).toBe('hark:600');
    expect(g1.ssh('findmnt -no SOURCE,FSTYPE /etc/hark').stdout).toMatch(/ ext4/);
    const { kbps, samples } = await listen(g1, 6);
    expect(kbps).toBe(192);
    expect(samples.length).toBeGreaterThan(48000);
  }, 180_000);

  test('the plaintext password is nowhere: boot partition, /etc/hark, /var/lib/hark, logs, the journal', () => {
    // The password goes in on stdin, never on a command line (sudo logs command lines).
    const r = g1.ssh(
      'umask 077; cat >/tmp/pw; sudo grep -rlF -f /tmp/pw /boot/firmware /etc/hark /var/lib/hark /var/log /var/lib/cloud 2>/dev/null; ' +
        'sudo journalctl -b --no-pager | grep -cF -f /tmp/pw; rm -f /tmp/pw',
      { allowFail: true, stdin: PASSWORD },
    );
    expect(r.stdout.trim()).toBe('0');
  });

  testIf(FEATURES.cli, "the admin password from hark.toml works (a Bun.password hash in hark's files verifies it)", MISSING.cli, async () => {
    const files = g1.ssh("sudo grep -rhoE '[$](argon2(id|i|d)|2[aby])[$][^\"[:space:]]+' /etc/hark /var/lib/hark", { allowFail: true }).stdout;
    const hashes = files.split('\n').filter(Boolean);
    expect(hashes.length).toBeGreaterThan(0);
    const ok = await Promise.all(hashes.map((h) => Bun.password.verify(PASSWORD, h).catch(() => false)));
    expect(ok).toContain(true);
  });
  testIf(FEATURES.cli, '`hark status` over SSH', MISSING.cli, () => {
    const r = g1.ssh('hark status', { allowFail: true });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
  });
  if (!FEATURES.cli) {
    test('without the CLI: the first boot says plainly that the admin password was NOT set, and `hark` says it is not in this build', () => {
      expect(g1.ssh('cat /boot/firmware/hark-config-error.txt').stdout).toContain('The admin password was NOT set');
      const r = g1.ssh('hark status', { allowFail: true });
      expect(r.code).toBe(69);
      expect(r.stderr).toContain('not in this build');
    });
  }

  test('SSH with the key from user-data; the Imager user is an administrator of hark (groups hark, gpio, audio)', () => {
    expect(g1.ssh('id -un').stdout.trim()).toBe(USER);
    const groups = g1.ssh('id -nG').stdout.trim().split(/\s+/);
    for (const gr of ['hark', 'gpio', 'audio', 'sudo']) expect(groups).toContain(gr);
    expect(g1.ssh('sudo -n true', { allowFail: true }).code).toBe(0);
  });

  test('cloud-init applied the hostname; the data partition grew to fill the card, the root kept its size; avahi resolves <hostname>.local and announces _http._tcp', () => {
    expect(g1.ssh('hostname').stdout.trim()).toBe(HOSTNAME);
    const rootBytes = Number(g1.ssh('df -B1 --output=size / | tail -1').stdout.trim());
    const [, , part3, part4] = partitionTable(rawImage()).partitions;
    expect(rootBytes).toBeLessThan(part3!.size);
    expect(g1.ssh('findmnt -no SOURCE,FSTYPE /var/lib/hark').stdout.trim()).toMatch(/^\/dev\/\S+4\s+ext4$/);
    const dataBytes = Number(g1.ssh('df -B1 --output=size /var/lib/hark | tail -1').stdout.trim());
    expect(dataBytes).toBeGreaterThan(part4!.size + 0.8 * 1024 ** 3);
    expect(g1.ssh('systemctl is-active hark-grow-data.service', { allowFail: true }).stdout.trim()).toBe('active');
    expect(mdnsName(g1)).toBe(HOSTNAME);
    expect(resolveLocal(g1)).toMatch(/^\d+\.\d+\.\d+\.\d+\s/);
    const avahiLog = g1.ssh('sudo journalctl -b -u avahi-daemon --no-pager').stdout;
    expect(avahiLog).toMatch(/Service "hark on .*" \((\/etc\/avahi)?\/services\/hark\.service\) successfully established/);
    expect(avahiLog).not.toContain('Host name conflict');
  });

  // Read before the checks that run other Bun processes in the guest (the CLI, test/gpio-qemu.ts):
  // pages of the Bun executable they bring into the page cache after hark's last trim are mapped
  // into hark too when it next faults nearby code (the kernel's fault-around), which is the test's
  // doing, not hark's idle footprint (a 63.2 MB reading at 391 s came that way, 2026-12-03).
  test('idle memory once hark has settled (a reading for bench/RESULTS.md)', async () => {
    // Until hark has been up 20 s past its last trim after start (src/memory.ts), at most 4 minutes.
    const settledS = TRIM_AFTER_START_MS[TRIM_AFTER_START_MS.length - 1] / 1000 + 20;
    const until = Date.now() + 240_000;
    for (;;) {
      const up = Number(g1.ssh('ps -o etimes= -p $(systemctl show -p MainPID --value hark)', { allowFail: true }).stdout.trim());
      if (!(up < settledS) || Date.now() > until) break;
      await sleep(5000);
    }
    // hark.service turns the kernel's fault-around off (each fault maps its own page, not the 64 KB around it).
    expect(g1.ssh('sudo cat /sys/kernel/debug/fault_around_bytes').stdout.trim()).toBe('4096');
    const line = idleMemory(g1);
    record(`hark idle memory on ${CPU1} (arm64, input auto, no listeners yet) ${line}`);
    // Issue 2's goal: idle RSS at most 60 MB on the device.
    const rss = Number(/VmRSS: (\d+) kB/.exec(line)?.[1]);
    expect(rss).toBeGreaterThan(0);
    expect(rss).toBeLessThanOrEqual(60 * 1024);
    // hark.service turns mimalloc's scavenger thread off (MIMALLOC_SCAVENGER=0, issue 5's CPU):
    // the running daemon has none, and the memory above was read without it.
    const threads = g1.ssh('cat /proc/$(systemctl show -p MainPID --value hark)/task/*/comm').stdout.split('\n').map((t) => t.trim());
    expect(threads).toContain('Worker');
    expect(threads).not.toContain('mi-scavenger');
  }, 300_000);

  test(`the name stays exactly ${HOSTNAME}.local while IPv6 addresses come and go (no "Host name conflict")`, async () => {
    const dev = g1.ssh("ip -o -4 route show default | awk '{print $5}'").stdout.trim();
    expect(dev).not.toBe('');
    console.log(g1.ssh(`ip -o addr show dev ${dev}`).stdout.trim());
    // What a LAN does all day: global (SLAAC/DHCPv6) and temporary (privacy) addresses added
    // and withdrawn, some expiring on their own, and a prefix change. Each one, with avahi's
    // Debian defaults, withdraws and re-registers the host name's AAAA records (avahi/avahi#117).
    const churn = [
      'set -e',
      `for i in 1 2 3 4 5 6; do`,
      `  sudo ip -6 addr add fd00:ba5e:$i::1/64 dev ${dev} nodad`,
      `  sudo ip -6 addr add fd00:ba5e:$i::2/64 dev ${dev} valid_lft 4 preferred_lft 2`,
      '  sleep 1',
      `  sudo ip -6 addr del fd00:ba5e:$i::1/64 dev ${dev}`,
      'done',
      // One address flapping (added and withdrawn again and again, 0.3 s apart: a failing DAD,
      // a router renumbering): with avahi's defaults this renamed the host in every run of a
      // reproduction on the build host (image/customize).
      `for i in 1 2 3 4 5 6 7 8; do sudo ip -6 addr add fd00:ba5e::7/64 dev ${dev} nodad; sleep 0.3; sudo ip -6 addr del fd00:ba5e::7/64 dev ${dev}; sleep 0.3; done`,
      // The link-local address itself goes and comes back (a link bounce).
      `ll=$(ip -o -6 addr show dev ${dev} scope link | awk '{print $4}' | head -1)`,
      // (replace: NetworkManager may have put it back already.)
      `[ -z "$ll" ] || { sudo ip -6 addr del "$ll" dev ${dev}; sleep 1; sudo ip -6 addr replace "$ll" dev ${dev}; }`,
    ].join('\n');
    g1.ssh(churn, { timeoutS: 120 });
    // A conflict shows within a second or two of a change; watch avahi for 20 s past the last
    // one (the temporary addresses have expired by then), then look.
    const until = Date.now() + 20_000;
    let conflict = '';
    while (Date.now() < until && !conflict) {
      await sleep(4000);
      conflict = g1.ssh('sudo journalctl -b -u avahi-daemon --no-pager | grep "Host name conflict" || true').stdout.trim();
    }
    console.log(g1.ssh('sudo journalctl -b -u avahi-daemon --no-pager | tail -8').stdout.trim());
    expect(conflict).toBe('');
    expect(mdnsName(g1)).toBe(HOSTNAME);
    expect(resolveLocal(g1)).toMatch(/^\d+\.\d+\.\d+\.\d+\s/);
    // Kept by the cause being gone, not repaired afterwards by hark-mdns-name.
    expect(g1.ssh('sudo journalctl -b -u hark-mdns-name --no-pager -o cat').stdout).not.toContain('set back');
  }, 240_000);

  test(`if avahi renames the box anyway (${HOSTNAME}-2) with no other host using ${HOSTNAME}.local, hark-mdns-name sets the name back`, async () => {
    expect(g1.ssh('systemctl is-active hark-mdns-name').stdout.trim()).toBe('active');
    // What avahi does after a (spurious) conflict: take the next name.
    g1.ssh(`sudo busctl call org.freedesktop.Avahi / org.freedesktop.Avahi.Server SetHostName s ${HOSTNAME}-2`);
    const t0 = Date.now();
    let name = mdnsName(g1);
    // The guard looks every 15 s and then asks the network (up to 15 s more); three minutes
    // leave room for an emulated CPU on a loaded machine.
    while (name !== HOSTNAME && Date.now() - t0 < 180_000) {
      await sleep(3000);
      name = mdnsName(g1);
    }
    console.log(`hark-mdns-name: ${HOSTNAME}-2 -> ${name} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    expect(name).toBe(HOSTNAME);
    expect(g1.ssh('sudo journalctl -b -u hark-mdns-name --no-pager -o cat').stdout).toContain(`set back to ${HOSTNAME}.local`);
    expect(resolveLocal(g1)).toMatch(/^\d+\.\d+\.\d+\.\d+\s/);
  }, 330_000);

  test(`hark-mdns-name hands hark the announced name: /run/hark-mdns/name holds ${HOSTNAME}.local`, async () => {
    // Rewritten every 15 s (after the set-back above, the next round writes the name back).
    let text = '';
    for (let i = 0; i < 20 && text !== `${HOSTNAME}.local`; i++) {
      if (i) await sleep(3000);
      text = g1.ssh('cat /run/hark-mdns/name', { allowFail: true }).stdout.trim();
    }
    expect(text).toBe(`${HOSTNAME}.local`);
  }, 90_000);

  test('System page actions as user hark (in the sandbox hark.service has): reboot and power off are authorised, the time zone can be listed and set', () => {
    // As hark.service runs it: user hark, no session, no new privileges, a read-only system.
    const asHark = (cmd: string, allowFail = false) =>
      g1.ssh(
        `sudo systemd-run --quiet --wait --pipe --collect -p User=hark -p NoNewPrivileges=yes -p ProtectSystem=strict -p PrivateTmp=yes ` +
          `-p CapabilityBoundingSet=CAP_NET_BIND_SERVICE -p 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK' ${cmd}`,
        { allowFail, timeoutS: 60 },
      );
    const can = (what: string, user: string) =>
      g1.ssh(`sudo systemd-run --quiet --wait --pipe --collect -p User=${user} busctl call org.freedesktop.login1 /org/freedesktop/login1 org.freedesktop.login1.Manager ${what}`).stdout.trim();
    // logind asks polkit for exactly what `systemctl reboot` / `poweroff` would need, without doing it
    // (the tester's SSH session is open, so the -multiple-sessions actions are the ones asked).
    expect(can('CanReboot', 'hark')).toBe('s "yes"');
    expect(can('CanPowerOff', 'hark')).toBe('s "yes"');
    // The rule is for hark only: another system user would need an administrator's password.
    expect(can('CanReboot', 'nobody')).not.toBe('s "yes"');
    expect(asHark('timedatectl list-timezones').stdout.split('\n')).toContain('Europe/Berlin');
    const before = g1.ssh('timedatectl show -p Timezone --value').stdout.trim();
    expect(before).toBe('Europe/London'); // user-data's timezone
    try {
      const set = asHark('timedatectl set-timezone Europe/Berlin', true);
      expect(`${set.code} ${set.stderr.trim()}`).toBe('0 ');
      expect(g1.ssh('timedatectl show -p Timezone --value').stdout.trim()).toBe('Europe/Berlin');
      expect(g1.ssh('readlink /etc/localtime').stdout.trim()).toEndWith('zoneinfo/Europe/Berlin');
      // Not for others: as nobody it needs a password nobody can give here.
      const denied = g1.ssh('sudo systemd-run --quiet --wait --pipe --collect -p User=nobody timedatectl set-timezone Europe/Paris', { allowFail: true });
      expect(denied.code).not.toBe(0);
      expect(g1.ssh('timedatectl show -p Timezone --value').stdout.trim()).toBe('Europe/Berlin');
    } finally {
      asHark(`timedatectl set-timezone ${before}`, true);
    }
    expect(g1.ssh('timedatectl show -p Timezone --value').stdout.trim()).toBe(before);
  }, 240_000);

  test('hark runs as user hark, not root, with CAP_NET_BIND_SERVICE only, under its sandbox', () => {
    const pid = g1.ssh('systemctl show -p MainPID --value hark').stdout.trim();
    expect(Number(pid)).toBeGreaterThan(0);
    expect(g1.ssh(`ps -o user= -p ${pid}`).stdout.trim()).toBe('hark');
    const status = g1.ssh(`grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/${pid}/status`).stdout;
    expect(status).toMatch(/CapEff:\s+0000000000000400/); // bit 10 = CAP_NET_BIND_SERVICE
    expect(status).toMatch(/NoNewPrivs:\s+1/);
    const show = g1.ssh('systemctl show hark -p Restart -p WatchdogUSec -p ProtectSystem -p PrivateTmp -p Type').stdout;
    for (const l of ['Restart=always', 'WatchdogUSec=30s', 'ProtectSystem=strict', 'PrivateTmp=yes', 'Type=notify']) expect(show).toContain(l);
    // ProtectSystem=strict: the system is read-only for hark, its ReadWritePaths are not.
    expect(g1.ssh(`sudo nsenter -t ${pid} -m findmnt -no OPTIONS -T /usr`).stdout).toMatch(/\bro\b/);
    expect(g1.ssh(`sudo nsenter -t ${pid} -m findmnt -no OPTIONS -T /etc/hark`).stdout).toMatch(/\brw\b/);
  });

  test('PipeWire and WirePlumber run as the hark user from boot; PipeWire\'s data thread is real-time (SCHED_FIFO)', () => {
    const procs = g1.ssh('ps -eo user:20,comm | grep -E "pipewire|wireplumber"').stdout;
    expect(procs).toMatch(/^hark\s+pipewire$/m);
    expect(procs).toMatch(/^hark\s+wireplumber$/m);
    const threads = g1.ssh('ps -eLo user:20,cls,rtprio,comm | grep -E "^hark .*data-loop"', { allowFail: true }).stdout;
    expect(threads).toMatch(/\sFF\s+\d+\s+data-loop/);
  });

  test('GPIO: the PL061 controller is a /dev/gpiochip of group gpio that the Imager user can open', () => {
    const chips = g1.ssh('gpiodetect').stdout;
    expect(chips).toMatch(/pl061/i);
    expect(g1.ssh('stat -c %G:%a /dev/gpiochip0').stdout.trim()).toBe('gpio:660');
  });

  testIf(FEATURES.gpio, "the GPIO binding runs against the PL061 (test/gpio-qemu.ts, run in the guest with the image's Bun)", MISSING.gpio, () => {
    g1.scp(GPIO_HOOK, '/tmp/gpio-qemu.ts');
    g1.ssh('sudo install -D -m 644 /tmp/gpio-qemu.ts /opt/hark/test/gpio-qemu.ts');
    const r = g1.ssh('/opt/hark/bin/bun /opt/hark/test/gpio-qemu.ts', { allowFail: true, timeoutS: 300 });
    console.log(r.stdout + r.stderr);
    expect(r.code).toBe(0);
  }, 330_000);

  test('hark owns its Bun (to page out its unused code) but cannot change it: immutable, even for the hark user', () => {
    expect(g1.ssh('stat -c %U:%a /opt/hark/bin/bun').stdout.trim()).toBe('hark:555');
    expect(g1.ssh('lsattr -d /opt/hark/bin/bun').stdout).toMatch(/^....i/);
    // As hark (what PipeWire and WirePlumber run as, outside hark.service's sandbox): no way in.
    const chmod = g1.ssh('sudo -u hark chmod u+w /opt/hark/bin/bun', { allowFail: true });
    expect(chmod.code).not.toBe(0);
    expect(chmod.stderr).toContain('Operation not permitted');
    const write = g1.ssh('sudo -u hark sh -c ": >> /opt/hark/bin/bun"', { allowFail: true });
    expect(write.code).not.toBe(0);
  });

  test('idle memory again after the other checks (recorded for bench/RESULTS.md, not a goal: other Bun processes ran in the guest since hark last trimmed)', () => {
    record(`hark idle memory on ${CPU1} after the GPIO and system checks (not a goal) ${idleMemory(g1)}`);
  });

  testIf(FEATURES.capture, `snd-aloop: a ${TONE_HZ} Hz tone played into the loopback is captured by hark and arrives on /stream.mp3`, MISSING.capture, async () => {
    const { f, level, levelR, played, discarded } = await loopbackToStream(g1);
    expect(Math.abs(f - TONE_HZ)).toBeLessThan(5);
    // Unity gain: what was played is what listeners hear on L and R (MP3 at 192 kbit/s keeps the level).
    expect(Math.abs(level - played)).toBeLessThan(1.5);
    expect(Math.abs(levelR - played)).toBeLessThan(1.5);
    expect(discarded).toBe(0);
  }, 180_000);
  if (!FEATURES.capture) {
    test('without PipeWire capture: snd-aloop is loaded and played into, and hark streams its 440 Hz test tone instead', async () => {
      const { f } = await loopbackToStream(g1);
      expect(Math.abs(f - 440)).toBeLessThan(5);
    }, 180_000);
  }

  test('watchdog: a frozen hark (SIGSTOP) is killed by systemd and restarted, and serves again', async () => {
    const pid = g1.ssh('systemctl show -p MainPID --value hark').stdout.trim();
    g1.ssh(`sudo kill -STOP ${pid}`);
    const t0 = performance.now();
    let now = pid;
    while (performance.now() - t0 < 240_000) {
      await sleep(5000);
      now = g1.ssh('systemctl show -p MainPID --value hark').stdout.trim();
      if (now !== pid && now !== '0') break;
    }
    expect(now).not.toBe(pid);
    await g1.waitHttp('/api/status', 300);
    record(`watchdog restart ${CPU1}: frozen hark serving again after ${((performance.now() - t0) / 1000).toFixed(0)} s (WatchdogSec=30)`);
    expect(g1.ssh('sudo journalctl -b -u hark --no-pager').stdout).toMatch(/[Ww]atchdog timeout/);
  }, 600_000);

  test("the kernel is Debian's from trixie-backports (Linux 7, the Pi 5's device trees), pinned there", () => {
    expect(g1.ssh('uname -r').stdout.trim()).toMatch(/^7\.\d+\.\d+\+deb13-arm64$/);
    expect(g1.ssh("dpkg-query -W -f '${Version}' linux-image-arm64").stdout.trim()).toContain('bpo13');
    const policy = g1.ssh('apt-cache policy linux-image-arm64', { allowFail: true }).stdout;
    expect(policy).toMatch(/Candidate: .*bpo13/);
  });

  test('a backup made on this box (hark backup, locked with a passphrase) is kept for the third boot', () => {
    const r = g1.ssh('hark backup /tmp/hark-backup.json --stdin', { stdin: `${BACKUP_PASSPHRASE}\n` });
    expect(r.stdout).toContain('/tmp/hark-backup.json');
    const text = g1.ssh('cat /tmp/hark-backup.json').stdout;
    expect((JSON.parse(text) as { encrypted: boolean; contains: string[] }).encrypted).toBe(true);
    writeFileSync(join(dir, 'hark-backup.json'), text);
  });

  // QEMU's emulated CPU runs Bun many times slower than a Pi: a start that takes seconds there
  // takes minutes here. The trial's 90 s (hark.service, HARK_TRIAL_S) is set to 300 s for the
  // emulator with a drop-in, as a user would with `systemctl edit hark`.
  test(`update to a second build (${V1}): \`hark update FILE\`, hark restarts into it, confirms it, and says so`, async () => {
    g1.ssh(`sudo mkdir -p /etc/systemd/system/hark.service.d && printf '[Service]\\nEnvironment=HARK_TRIAL_S=300\\n' | sudo tee /etc/systemd/system/hark.service.d/qemu-trial.conf >/dev/null && sudo systemctl daemon-reload`);
    const file = await otherBuild(V1);
    g1.scp(file, '/tmp/v1.hark');
    const t0 = performance.now();
    const r = g1.ssh('hark update /tmp/v1.hark', { timeoutS: 600, allowFail: true });
    expect(`${r.code} ${r.stdout}${r.stderr}`).toContain(`hark ${V1} is installed; hark restarts into it now (from ${info.version})`);
    await waitStatus(g1, 600, (d) => d.version === V1 && d.update.last?.outcome === 'installed', `${V1} running and confirmed`);
    record(`update ${info.version} → ${V1} on ${CPU1}: installed, restarted and confirmed in ${((performance.now() - t0) / 1000).toFixed(0)} s (release ${(statSync(file).size / 1e6).toFixed(1)} MB)`);
    const d = (await statusOf(g1))!;
    expect(d.update.running_from).toBe('update');
    expect(g1.ssh('hark status').stdout).toContain(`update    Updated from ${info.version} to ${V1}: it started and serves audio.`);
    expect(g1.ssh('readlink /var/lib/hark/update/current').stdout.trim()).toBe(`releases/${V1}`);
    // The CLI follows the update too.
    expect(g1.ssh('hark version').stdout.trim()).toBe(V1);
  }, 900_000);

  test(`update to a broken build (${V2}, exits at start): ${V1} is back by itself within 2 minutes; the page and \`hark status\` say so`, async () => {
    const file = await otherBuild(V2, true);
    g1.scp(file, '/tmp/v2.hark');
    const r = g1.ssh('hark update /tmp/v2.hark', { timeoutS: 600, allowFail: true });
    expect(`${r.stdout}${r.stderr}`).toContain(`hark ${V2} is installed`);
    const back = await waitStatus(g1, 300, (d) => d.version === V1 && d.update.last?.outcome === 'rolled-back', `${V1} back after the broken ${V2}`);
    record(`update to a broken build on ${CPU1}: ${V1} serving again ${back.toFixed(0)} s after \`hark update\` returned`);
    // The 2 minutes are for a Pi; QEMU's emulated CPU starts Bun several times slower
    // (two failed starts and the old version's start), so the bound here is 5 minutes and the
    // time is recorded. On this machine's own CPU test/update.test.ts rolls back in seconds.
    expect(back).toBeLessThan(300);
    const d = (await statusOf(g1))!;
    const said = `hark ${V2} stopped before it served audio (2 starts), so hark went back to ${V1} by itself.`;
    expect(d.update.last?.message).toBe(said);
    expect(g1.ssh('hark status').stdout).toContain(`update    ROLLED BACK: ${said}`);
    const base = `https://127.0.0.1:${g1.httpsPort}`;
    const via = (req: Request) => fetch(req, TLS);
    const cookie = await login(base, PASSWORD, { via });
    const page = await (await fetch(`${base}/system`, { ...TLS, headers: { cookie } })).text();
    expect(page).toContain(said);
    expect(g1.ssh('sudo journalctl -b -u hark --no-pager').stdout).toContain('this build is broken: it exits at start');
  }, 900_000);

  test('`hark system readonly on` puts hark.readonly=1 on the kernel command line for the next boot', () => {
    const r = g1.ssh('sudo hark system readonly on');
    expect(r.stdout).toContain('on at the next boot');
    expect(g1.ssh('cat /boot/firmware/cmdline.txt').stdout).toContain('hark.readonly=1');
    if (info.variant === 'debian') expect(g1.ssh('cat /etc/default/raspi-extra-cmdline').stdout).toContain('hark.readonly=1');
  });

  test('the zone the System page keeps on the data partition is there for the next boot', () => {
    // What hark writes when the zone is set on the System page (HARK_TIMEZONE_FILE), as user hark.
    const w = g1.ssh(`sudo -u hark sh -c 'printf "Europe/Berlin\\n" > /etc/hark/timezone'`, { allowFail: true });
    expect(`${w.code} ${w.stderr.trim()}`).toBe('0 ');
    // This boot keeps its zone: the file is applied at boot.
    expect(g1.ssh('timedatectl show -p Timezone --value').stdout.trim()).toBe('Europe/London');
  });

  test('made a fresh box again for the second boot: no admin password (auth.json gone, none in hark.toml)', () => {
    g1.ssh('sudo systemctl stop hark && sudo rm -f /etc/hark/auth.json /etc/hark/setup-code');
    expect(g1.ssh('sudo grep -c "^password" /etc/hark/hark.toml', { allowFail: true }).stdout.trim()).toBe('0');
  }, 120_000);

  test('powers off cleanly', async () => {
    await g1.stop(240);
    expect(g1.exited).toBe(0);
  }, 300_000);
});

describe(`second boot (${CPU2}): same card, read-only root`, () => {
  beforeAll(async () => {
    if (g1?.exited !== 0) throw new Error('the first boot did not power off cleanly; no second boot');
    g2 = new Guest({ disk, cpu: CPU2, dir, user: USER, key, extraArgs: ['modules-load=snd-aloop'] });
    expect(g2.cmdline()).toContain('hark.readonly=1');
    await g2.start();
    const ready = await g2.waitHttp('/api/status', READY_S);
    record(`boot-to-ready ${CPU2} second boot (read-only root): ${ready.toFixed(0)} s`);
    await g2.waitSsh(300);
  }, (READY_S + 400) * 1000);

  afterAll(async () => {
    if (g2 && g2.exited === undefined) await g2.stop(180);
  }, 200_000);

  test(`Bun runs on a ${CPU2} (no SIGILL): hark serves /stream.mp3 with the settings kept on the data partition`, async () => {
    expect(g2!.consoleText()).not.toMatch(/SIGILL|Illegal instruction/);
    expect(g2!.ssh('sudo journalctl -b -u hark --no-pager').stdout).not.toMatch(/SIGILL|Illegal instruction|core-dump/i);
    // The same tone through the loopback (input auto, MP3 at 192 kbit/s from the data partition).
    const { f, level, played } = await loopbackToStream(g2!);
    expect(Math.abs(f - TONE_HZ)).toBeLessThan(5);
    expect(Math.abs(level - played)).toBeLessThan(1.5);
    const { kbps } = await listen(g2!, 3);
    expect(kbps).toBe(192);
  }, 180_000);

  test('a box without a password: hark-setup.txt on the boot partition and the console show the setup code, which claims the box from another computer once', async () => {
    let text = '';
    for (let i = 0; i < 30; i++) {
      text = g2!.ssh('cat /boot/firmware/hark-setup.txt', { allowFail: true }).stdout;
      if (/\b[A-Z2-9]{4}-[A-Z2-9]{4}\b/.test(text)) break;
      await sleep(2000);
    }
    const code = text.match(/\b([A-Z2-9]{4}-[A-Z2-9]{4})\b/)?.[1];
    expect(code).toBeDefined();
    expect(g2!.consoleText()).toContain(code!);
    // Over the forwarded HTTPS port: to the box a request from QEMU's gateway, not from itself.
    const base = `https://127.0.0.1:${g2!.httpsPort}`;
    const wrong = await claimWithSetupCode(base, 'AAAA-AAAA', 'second boot password');
    expect(wrong.askedForCode).toBe(true);
    expect(wrong.postStatus).not.toBe(303);
    const ok = await claimWithSetupCode(base, code!, 'second boot password');
    expect(`${ok.postStatus} ${ok.location}`).toBe('303 /');
    expect((await claimWithSetupCode(base, code!, 'another password here')).getStatus).toBe(404);
    let after = '';
    for (let i = 0; i < 15 && !/password is set/.test(after); i++) {
      after = g2!.ssh('cat /boot/firmware/hark-setup.txt', { allowFail: true }).stdout;
      if (!/password is set/.test(after)) await sleep(1000);
    }
    expect(after).toContain('password is set');
    expect(after).not.toContain(code!);
  }, 180_000);

  test('the read-only root (whose /etc/localtime says Europe/London) boots in the zone kept on the data partition', () => {
    expect(g2!.ssh('cat /run/hark-ro/lower/etc/timezone', { allowFail: true }).stdout.trim()).not.toBe('Europe/Berlin');
    expect(g2!.ssh('systemctl is-active hark-timezone.service', { allowFail: true }).stdout.trim()).toBe('active');
    expect(g2!.ssh('timedatectl show -p Timezone --value').stdout.trim()).toBe('Europe/Berlin');
  });

  test('the root is an overlay (writes go to RAM), /etc/hark and /boot/firmware stay writable', () => {
    expect(g2!.ssh('findmnt -no FSTYPE /').stdout.trim()).toBe('overlay');
    expect(g2!.ssh('hark system readonly status').stdout).toContain('read-only root: on');
    g2!.ssh('sudo touch /opt/hark/.overlay-probe');
    expect(g2!.ssh('test -e /run/hark-ro/lower/opt/hark/.overlay-probe', { allowFail: true }).code).toBe(1);
    expect(g2!.ssh('findmnt -no FSTYPE,OPTIONS /etc/hark').stdout).toMatch(/^ext4\s+rw/);
    expect(g2!.ssh('findmnt -no OPTIONS /run/hark-ro/lower').stdout).toMatch(/^ro/);
  });

  test('recording with the read-only root: 20 s of the tone go to the data partition (/var/lib/hark/recordings)', async () => {
    expect(g2!.ssh('findmnt -no FSTYPE,OPTIONS /var/lib/hark').stdout).toMatch(/^ext4\s+rw/);
    g2!.ssh('nohup aplay -q -I -t raw -f S32_LE -r 48000 -c 2 -D hw:Loopback,1,0 /tmp/tone-s32.raw /tmp/tone-s32.raw >/tmp/aplay.log 2>&1 &');
    g2!.ssh('hark record on && hark live');
    await sleep(22_000);
    g2!.ssh('hark record off && hark stop');
    g2!.ssh('pkill -x aplay', { allowFail: true });
    // The recordings, not the alert clips beside them (clips/): a clip may still be growing (its
    // 15 s after the alert) when the power goes, so its size is no name for it.
    const list = g2!.ssh('sudo find /var/lib/hark/recordings -type f -size +10k -not -path "*/clips/*" -printf "%p %s\\n"').stdout.trim();
    console.log(`recordings: ${list}`);
    expect(list).toMatch(/\.(opus|ogg|mp3)\s+\d+/);
    writeFileSync(join(dir, 'recordings-second-boot.txt'), list);
    g2!.ssh('sync');
  }, 180_000);

  test(`\`hark system readonly off\`, then a power cut in the middle of an update (to ${V3}): the VM is killed while it installs`, async () => {
    expect(g2!.ssh('sudo hark system readonly off').stdout).toContain('off at the next boot');
    g2!.ssh('sync');
    const file = await otherBuild(V3);
    g2!.scp(file, '/tmp/v3.hark');
    g2!.ssh('nohup hark update /tmp/v3.hark >/tmp/update.log 2>&1 &');
    // Kill it while it unpacks (or, on a fast run, while it restarts into the new version).
    let log = '';
    for (let i = 0; i < 60 && !/installing hark|is installed/.test(log); i++) {
      await sleep(1000);
      log = g2!.ssh('sudo journalctl -b -u hark --no-pager | tail -5', { allowFail: true }).stdout;
    }
    console.log(`killed during: ${log.trim().split('\n').at(-1)}`);
    g2!.kill();
    for (let i = 0; i < 30 && g2!.exited === undefined; i++) await sleep(1000);
    const boot = new FatPartition(disk, partitionTable(disk).partitions[0]!.start);
    expect(boot.read('cmdline.txt')).not.toContain('hark.readonly=1');
    // For the third boot: a factory reset by the boot partition's file.
    boot.write('hark-factory-reset', 'reset\n');
  }, 300_000);
});

describe(`third boot (${CPU1}): after the power cut, with a factory reset asked for on the boot partition`, () => {
  let g3: Guest | undefined;
  beforeAll(async () => {
    g3 = new Guest({ disk, cpu: CPU1, dir, user: USER, key, extraArgs: ['modules-load=snd-aloop'] });
    await g3.start();
    const ready = await g3.waitHttp('/api/status', READY_S);
    record(`boot-to-ready ${CPU1} third boot (after a power cut mid-update, factory reset): ${ready.toFixed(0)} s`);
    await g3.waitSsh(300);
  }, (READY_S + 400) * 1000);

  afterAll(async () => {
    if (g3 && g3.exited === undefined) await g3.stop(180);
  }, 200_000);

  test(`the power cut left a box that runs a working hark (${V1} or ${V3}) and serves audio`, async () => {
    const d = await waitStatus(g3!, 600, (x) => (x.version === V1 || x.version === V3) && !x.update.trial, 'a working hark after the power cut').then(() => statusOf(g3!));
    record(`after a power cut mid-update: hark ${d!.version} runs (${d!.update.last?.message ?? 'no outcome'})`);
    // What the page says is about this update (to V3): installed, or interrupted and V1 kept.
    expect(d!.update.last).toMatchObject(d!.version === V3 ? { outcome: 'installed', to: V3 } : { outcome: 'interrupted', to: V3, from: V1 });
    const { kbps } = await listen(g3!, 3);
    expect(kbps).toBeGreaterThan(0);
  }, 700_000);

  test('the recording made with the read-only root survived the reboot and decodes: 20 s of the tone', async () => {
    // By size: a file named -unsynced (no network time in the emulator) may have been renamed since.
    const list = readFileSync(join(dir, 'recordings-second-boot.txt'), 'utf8').trim().split('\n');
    const size = list.at(-1)!.split(' ')[1];
    const now = g3!.ssh('sudo find /var/lib/hark/recordings -type f -printf "%p %s\\n"').stdout.trim().split('\n');
    const path = now.find((l) => l.endsWith(` ${size}`))?.split(' ')[0];
    expect(path, `a file of ${size} bytes among ${now.join(', ')}`).toBeDefined();
    const b64 = g3!.ssh(`sudo base64 -w0 ${path}`).stdout.trim();
    const local = join(dir, `recording${path!.slice(path!.lastIndexOf('.'))}`);
    writeFileSync(local, Buffer.from(b64, 'base64'));
    const pcm = await decodeWithFfmpeg(local, { channels: 1 });
    const seconds = pcm.length / 48000;
    console.log(`${path}: ${seconds.toFixed(1)} s`);
    expect(seconds).toBeGreaterThan(18);
    expect(Math.abs(dominantFrequency(pcm.subarray(48000 * 2, 48000 * 12)) - TONE_HZ)).toBeLessThan(5);
  });

  test('factory reset by the boot-partition file: settings and password back to first boot, recordings kept, the file gone', () => {
    const boot = g3!.ssh('ls /boot/firmware').stdout.split('\n').map((f) => f.trim());
    expect(boot).not.toContain('hark-factory-reset');
    // …and the file that says what the reset did is there in its place.
    expect(boot).toContain('hark-factory-reset-done.txt');
    expect(g3!.ssh('cat /boot/firmware/hark-factory-reset-done.txt').stdout).toContain('hark was reset to its factory settings at');
    expect(g3!.ssh('sudo test -e /etc/hark/auth.json', { allowFail: true }).code).not.toBe(0);
    expect(g3!.ssh('hark config get mp3.bitrate_kbps').stdout.trim()).not.toBe('192');
    const list = readFileSync(join(dir, 'recordings-second-boot.txt'), 'utf8').trim().split('\n');
    const sizes = g3!.ssh('sudo find /var/lib/hark/recordings -type f -printf "%s\\n"').stdout.trim().split('\n');
    for (const l of list) expect(sizes).toContain(l.split(' ')[1]!);
  });

  test('the backup made at the first boot restores onto this fresh box: settings and password are back', async () => {
    g3!.scp(join(dir, 'hark-backup.json'), '/tmp/hark-backup.json');
    const r = g3!.ssh('hark restore /tmp/hark-backup.json --stdin', { stdin: `${BACKUP_PASSPHRASE}\n`, allowFail: true });
    expect(`${r.code} ${r.stdout}${r.stderr}`).toContain('Restored the backup of');
    await g3!.waitHttp('/api/status', 600);
    let bitrate = '';
    for (let i = 0; i < 40 && bitrate !== '192'; i++) {
      bitrate = g3!.ssh('hark config get mp3.bitrate_kbps', { allowFail: true }).stdout.trim();
      if (bitrate !== '192') await sleep(3000);
    }
    expect(bitrate).toBe('192');
    // hark restarts in place after a restore (150 ms after it answers): its listeners close and
    // open again, and a login in between meets a closed socket. The user reloads; so does this,
    // a bounded number of times, and the last error is the one reported.
    let cookie = '';
    let lastError: unknown;
    for (let i = 0; i < 30 && !cookie; i++) {
      try {
        cookie = await login(`https://127.0.0.1:${g3!.httpsPort}`, PASSWORD, { via: (req) => fetch(req, TLS) });
      } catch (e) {
        lastError = e;
        await sleep(2000);
      }
    }
    expect(cookie, `no login within 60 s of the restore: ${lastError}`).toContain('hark_session=');
  }, 400_000);
});
