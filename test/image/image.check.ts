/**
 * Checks of the built image and .deb, without booting: the partition table, the boot files,
 * the root file system's contents, the unit files, the size. Reads dist/image.env (written
 * by script/image). Run: bun test ./test/image/image.check.ts  (test/image/run does it all)
 */
import { beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildInfo, openImage, rawImage, ROOT, run } from './lib/image.ts';

const info = buildInfo();
const variant = info.variant!;
const version = info.version!;
const diskId = info.disk_id!.replace(/^0x/, '').toLowerCase();
const MiB = 1024 * 1024;
let img: ReturnType<typeof openImage>;
let passwd = '';
let group = '';

beforeAll(() => {
  img = openImage(rawImage());
  passwd = img.root.read('/etc/passwd') ?? '';
  group = img.root.read('/etc/group') ?? '';
}, 600_000);

const dpkgStatus = () => img.root.read('/var/lib/dpkg/status')!;
const installed = (pkg: string) =>
  new RegExp(`^Package: ${pkg.replaceAll('.', '\\.')}\\n(?:[^\\n]+\\n)*?Status: install ok installed`, 'm').test(dpkgStatus());
const uidOf = (name: string) => Number(passwd.split('\n').find((l) => l.startsWith(`${name}:`))?.split(':')[2] ?? NaN);
const membersOf = (name: string) => (group.split('\n').find((l) => l.startsWith(`${name}:`))?.split(':')[3] ?? '').split(',');

describe('the compressed image', () => {
  test('is at most 500 MB and its .sha256 matches', () => {
    const xz = join(ROOT, info.image!);
    expect(xz.endsWith('.img.xz')).toBe(true);
    const size = statSync(xz).size;
    console.log(`image: ${info.image} ${(size / 1e6).toFixed(1)} MB compressed (built in ${info.seconds} s)`);
    expect(size).toBeLessThanOrEqual(500e6);
    const sum = readFileSync(`${xz}.sha256`, 'utf8').split(/\s+/)[0];
    expect(run(['sha256sum', xz], { timeoutMs: 300_000 }).stdout.split(/\s+/)[0]).toBe(sum);
  });
});

describe('partition table', () => {
  test('MBR with the disk id of the build: bootfs (FAT32, bootable), hark-conf, rootfs, hark-data (ext4) last', () => {
    const t = img.table;
    expect(t.label).toBe('dos');
    expect(t.id.replace(/^0x/, '').toLowerCase()).toBe(diskId);
    expect(t.partitions.map((p) => p.type)).toEqual(['c', '83', '83', '83']);
    expect(t.partitions.map((p) => p.bootable)).toEqual([true, false, false, false]);
    for (const p of t.partitions) expect(p.start % (4 * MiB)).toBe(0);
    expect(t.partitions[0]!.size).toBe(512 * MiB);
    expect(t.partitions[1]!.size).toBe(64 * MiB);
    // The root is small: what is installed, and room for security updates (not the card).
    console.log(`root partition ${(t.partitions[2]!.size / MiB).toFixed(0)} MiB, data partition ${(t.partitions[3]!.size / MiB).toFixed(0)} MiB before it grows`);
    expect(t.partitions[2]!.size).toBeLessThan(3 * 1024 * MiB);
    // hark-data is last and ends the disk, so it can grow to the rest of the card.
    const last = t.partitions[3]!;
    expect(last.start).toBeGreaterThan(t.partitions[2]!.start);
    expect(last.size).toBe(256 * MiB);
    expect(statSync(rawImage()).size).toBeGreaterThanOrEqual(last.start + last.size);
  });
  test('labels: bootfs, hark-conf, rootfs, hark-data', () => {
    expect(img.boot.label()).toBe('bootfs');
    expect(img.conf.label()).toBe('hark-conf');
    expect(img.root.label()).toBe('rootfs');
    expect(img.data.label()).toBe('hark-data');
  });
  test('the data partition holds /var/lib/hark (hark\'s home: its PipeWire units), owned by hark; the root only the mount point', () => {
    expect(img.data.stat('/')!.uid).toBe(uidOf('hark'));
    expect(img.data.stat('/.config/systemd/user/default.target.wants/pipewire.service')?.type).toBe('symlink');
    expect(img.root.list('/var/lib/hark')).toEqual([]);
  });
});

describe('boot partition', () => {
  test('cmdline.txt: root by PARTUUID of partition 3, rootwait, one line', () => {
    const cmdline = img.boot.read('cmdline.txt')!;
    expect(cmdline.trim().split('\n')).toHaveLength(1);
    expect(cmdline).toContain(`root=PARTUUID=${diskId}-03`);
    expect(cmdline).toContain('rootwait');
    expect(cmdline).not.toContain('hark.readonly=1');
    if (variant === 'debian') {
      expect(cmdline).toContain('console=ttyS1,115200');
      expect(cmdline).not.toMatch(/\bcma=/);
    }
  });
  test('config.txt, kernel, initramfs, DTBs and the firmware are there', () => {
    const files = img.boot.list();
    const config = img.boot.read('config.txt')!;
    expect(config).toContain('arm_64bit=1');
    for (const f of ['bootcode.bin', 'start.elf', 'fixup.dat', 'start4.elf', 'fixup4.dat']) expect(files).toContain(f);
    if (variant === 'debian') {
      const kernel = config.match(/^kernel=(\S+)/m)?.[1];
      const initrd = config.match(/^initramfs (\S+)/m)?.[1];
      expect(kernel).toMatch(/^vmlinuz-.*-arm64$/);
      expect(initrd).toMatch(/^initrd\.img-.*-arm64$/);
      expect(files).toContain(kernel!);
      expect(files).toContain(initrd!);
      expect(img.boot.size(kernel!)).toBeGreaterThan(10 * MiB);
      expect(img.boot.size(initrd!)).toBeGreaterThan(5 * MiB);
      // Every board's device tree (upstream names), the Pi 5's from the trixie-backports kernel.
      const dtbs = {
        pi3: 'bcm2837-rpi-3-b.dtb',
        'pi3+': 'bcm2837-rpi-3-b-plus.dtb',
        '3a+': 'bcm2837-rpi-3-a-plus.dtb',
        pi02: 'bcm2837-rpi-zero-2-w.dtb',
        pi4: 'bcm2711-rpi-4-b.dtb',
        pi400: 'bcm2711-rpi-400.dtb',
        cm4: 'bcm2711-rpi-cm4-io.dtb',
        pi5: 'bcm2712-rpi-5-b.dtb',
        'pi5 d0': 'bcm2712-d-rpi-5-b.dtb',
        'pi5 d0 (firmware name)': 'bcm2712d0-rpi-5-b.dtb',
      };
      for (const [board, dtb] of Object.entries(dtbs)) expect(`${board}: ${files.includes(dtb) ? dtb : `${dtb} missing`}`).toBe(`${board}: ${dtb}`);
      expect(img.boot.size('bcm2712d0-rpi-5-b.dtb')).toBe(img.boot.size('bcm2712-d-rpi-5-b.dtb'));
      // A config.txt section per board; each device_tree= it names is on the partition.
      const sections = [...config.matchAll(/^\[(\w+\+?)\]$/gm)].map((m) => m[1]);
      for (const sec of ['pi3', 'pi02', 'pi4', 'pi400', 'cm4', 'pi5', 'pi500', 'cm5', 'all']) expect(sections).toContain(sec);
      expect(sections.at(-1)).toBe('all');
      const named = [...config.matchAll(/^device_tree=(\S+)$/gm)].map((m) => m[1]!);
      expect(named.length).toBeGreaterThanOrEqual(5);
      for (const dtb of named) expect(files).toContain(dtb);
      expect(config).toMatch(/\[pi500\]\ndevice_tree=bcm2712-d-rpi-5-b\.dtb/);
      expect(config).toMatch(/\[cm5\]\ndevice_tree=bcm2712-rpi-5-b\.dtb/);
      expect(config).toContain('upstream_kernel=1');
    } else {
      expect(config).toContain('auto_initramfs=1');
      for (const f of ['kernel8.img', 'kernel_2712.img', 'bcm2710-rpi-3-b.dtb', 'bcm2711-rpi-4-b.dtb', 'bcm2712-rpi-5-b.dtb']) {
        expect(files).toContain(f);
      }
    }
  });
  test('cloud-init seed for Raspberry Pi Imager (meta-data, user-data, network-config) and the README', () => {
    const files = img.boot.list();
    for (const f of ['meta-data', 'user-data', 'network-config', 'README-hark.txt']) expect(files).toContain(f);
    expect(img.boot.read('user-data')!.startsWith('#cloud-config')).toBe(true);
    expect(files).not.toContain('hark.toml');
  });
});

describe('settings partition (/etc/hark)', () => {
  test('hark.toml with http.port = 80, owned by hark, mode 0600', () => {
    const toml = img.conf.read('/hark.toml')!;
    expect(toml).toMatch(/\[http\]\s*\nport = 80/);
    // The admin pages over HTTPS on 443 (hark makes its certificate at the first start).
    expect(toml).toMatch(/\[tls\]\s*\nenabled = true\s*\nport = 443/);
    const st = img.conf.stat('/hark.toml')!;
    expect(st.uid).toBe(uidOf('hark'));
    expect(st.mode & 0o777).toBe(0o600);
    expect(img.conf.stat('/')!.uid).toBe(uidOf('hark'));
  });
  test('fstab mounts it on /etc/hark; boot on /boot/firmware; root from partition 3; the data partition on /var/lib/hark', () => {
    const fstab = img.root.read('/etc/fstab')!;
    expect(fstab).toMatch(new RegExp(`PARTUUID=${diskId}-02\\s+/etc/hark\\s+ext4`));
    expect(fstab).toMatch(new RegExp(`PARTUUID=${diskId}-04\\s+/var/lib/hark\\s+ext4`));
    expect(fstab).toMatch(new RegExp(`PARTUUID=${diskId}-01\\s+/boot/firmware\\s+vfat`));
    expect(fstab).toMatch(new RegExp(`PARTUUID=${diskId}-03\\s+/\\s+ext4`));
  });
});

describe('root file system', () => {

  test('the packages hark needs are installed', () => {
    const want = ['hark', 'pipewire', 'wireplumber', 'libopus0', 'libmp3lame0', 'libgpiod3', 'avahi-daemon', 'openssh-server', 'cloud-init', 'rtkit', 'libc6-dev', 'openssl'];
    want.push(...(variant === 'debian' ? ['linux-image-arm64', 'raspi-firmware'] : ['linux-image-rpi-v8', 'linux-image-rpi-2712', 'raspi-config']));
    expect(want.filter((p) => !installed(p))).toEqual([]);
  });
  test('no compiler at runtime (gcc, cc, clang, tcc are absent)', () => {
    for (const p of ['gcc', 'cpp', 'clang', 'tcc', 'binutils']) expect(installed(p)).toBe(false);
    for (const f of ['/usr/bin/gcc', '/usr/bin/cc', '/usr/bin/ld', '/usr/bin/as']) expect(img.root.exists(f)).toBe(false);
  });
  test('the ffi shims need no headers that are not in the image, and libc.so is there for TinyCC', () => {
    const shims = img.root.list('/opt/hark/ffi').filter((f) => f.endsWith('.c'));
    expect(shims.length).toBeGreaterThan(0);
    for (const shim of shims) {
      const text = img.root.read(`/opt/hark/ffi/${shim}`)!;
      for (const m of text.matchAll(/^\s*#\s*include\s*<([^>]+)>/gm)) {
        const h = m[1]!;
        const found = ['/usr/include', '/usr/include/aarch64-linux-gnu', '/usr/include/pipewire-0.3', '/usr/include/spa-0.2'].some((d) =>
          img.root.exists(`${d}/${h}`),
        );
        expect(`${shim}: <${h}> ${found ? 'present' : 'MISSING from the image'}`).toBe(`${shim}: <${h}> present`);
      }
    }
    expect(img.root.exists('/usr/lib/aarch64-linux-gnu/libc.so')).toBe(true);
  });
  test(`hark ${version} in /opt/hark: sources, Bun ${'for linux-aarch64'}, node_modules with node-datachannel's arm64 prebuild`, () => {
    expect(img.root.exists('/opt/hark/src/main.ts')).toBe(true);
    expect(JSON.parse(img.root.read('/opt/hark/package.json')!).version).toBe(version);
    const elfMachine = (path: string) => img.root.readBytes(path)!.readUInt16LE(18);
    const EM_AARCH64 = 183;
    expect(elfMachine('/opt/hark/bin/bun')).toBe(EM_AARCH64);
    // hark owns its Bun (dpkg-statoverride), read-only: it may page out Bun's unused code.
    const bun = img.root.stat('/opt/hark/bin/bun')!;
    expect(bun.uid).toBe(uidOf('hark'));
    expect(bun.mode & 0o777).toBe(0o555);
    const ndc = '/opt/hark/node_modules/@node-datachannel/linux-arm64-gnu';
    const node = img.root.list(ndc).find((f) => f.endsWith('.node'));
    expect(node).toBeDefined();
    expect(elfMachine(`${ndc}/${node}`)).toBe(EM_AARCH64);
    expect(img.root.exists('/opt/hark/node_modules/@node-datachannel/linux-x64-gnu')).toBe(false);
  });
  test('the hark user: system account in audio, gpio and pipewire; lingering; PipeWire and WirePlumber enabled for it', () => {
    const uid = uidOf('hark');
    expect(uid).toBeLessThan(1000);
    for (const g of ['audio', 'gpio', 'pipewire']) expect(membersOf(g)).toContain('hark');
    expect(img.root.exists('/var/lib/systemd/linger/hark')).toBe(true);
    // Its home, /var/lib/hark, is the data partition.
    const wants = '/.config/systemd/user/default.target.wants';
    expect(img.data.stat(`${wants}/pipewire.service`)?.type).toBe('symlink');
    expect(img.data.stat(`${wants}/wireplumber.service`)?.type).toBe('symlink');
    expect(img.data.stat('/')!.uid).toBe(uid);
    // Its WirePlumber starts every device at unity gain (the boot test hears the level).
    const wp = img.data.stat('/.config/wireplumber/wireplumber.conf.d/50-hark.conf');
    expect(wp?.type).toBe('symlink');
    expect(wp?.target).toBe('/usr/lib/hark/wireplumber.conf');
    expect(img.root.read('/usr/lib/hark/wireplumber.conf')).toContain('device.routes.default-sink-volume = 1.0');
  });
  test('hark.service: notify + watchdog, Restart=always, hardening, port 80 through a capability', () => {
    const unit = img.root.read('/usr/lib/systemd/system/hark.service')!;
    expect(unit).toContain("ExecStartPre=+-/bin/sh -c 'echo 4096 > /sys/kernel/debug/fault_around_bytes'");
    const lines = new Set(unit.split('\n').map((l) => l.trim()));
    for (const l of [
      'Type=notify',
      'User=hark',
      'Restart=always',
      'WatchdogSec=30',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ReadWritePaths=/etc/hark',
      'PrivateTmp=yes',
      'SupplementaryGroups=audio gpio pipewire',
      'AmbientCapabilities=CAP_NET_BIND_SERVICE',
      'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
      'ExecStart=/usr/lib/hark/launch --config /etc/hark/hark.toml',
      'Environment=MIMALLOC_SCAVENGER=0',
      'Environment=HARK_SETUP_CODE_FILE=/run/hark/hark-setup.txt',
      // How the last run ended, for the "hark restarted" alert (src/notify/restart.ts).
      `ExecStopPost=-/bin/sh -c 'echo "$$SERVICE_RESULT $$EXIT_CODE $$EXIT_STATUS" > /etc/hark/last-exit'`,
    ]) {
      expect(lines.has(l) ? l : `missing: ${l}`).toBe(l);
    }
    expect(unit).not.toMatch(/^User=root/m);
  });
  test('enabled at boot: hark, hark-firstboot, hark-admins, ssh, avahi, NetworkManager, cloud-init', () => {
    const links = [
      '/etc/systemd/system/multi-user.target.wants/hark.service',
      '/etc/systemd/system/multi-user.target.wants/hark-firstboot.service',
      '/etc/systemd/system/multi-user.target.wants/hark-setup-file.path',
      '/etc/systemd/system/cloud-init.target.wants/hark-admins.service',
      '/etc/systemd/system/multi-user.target.wants/avahi-daemon.service',
      '/etc/systemd/system/multi-user.target.wants/NetworkManager.service',
      '/etc/systemd/system/ssh.service.wants/hark-ssh-hostkeys.service',
    ];
    expect(links.filter((l) => img.root.stat(l)?.type !== 'symlink')).toEqual([]);
    expect(img.root.exists('/usr/lib/systemd/system/cloud-init-local.service')).toBe(true);
  });
  test('first boot, read-only root, CLI: the scripts and the initramfs hook are in place', () => {
    for (const f of ['/usr/lib/hark/firstboot.ts', '/usr/lib/hark/service.ts', '/usr/lib/hark/readonly', '/usr/lib/hark/admins', '/usr/bin/hark']) {
      expect(img.root.stat(f)?.type).toBe('regular');
    }
    // The two .ts wrappers call hark's own modules, which are in hark's tree.
    expect(img.root.read('/usr/lib/hark/firstboot.ts')).toContain('/src/system/firstboot.ts');
    expect(img.root.read('/usr/lib/hark/service.ts')).toContain('/src/system/service.ts');
    for (const f of ['/opt/hark/src/system/firstboot.ts', '/opt/hark/src/system/service.ts']) expect(img.root.stat(f)?.type).toBe('regular');
    expect(img.root.stat('/usr/lib/hark/readonly')!.mode & 0o111).toBe(0o111);
    expect(img.root.exists('/usr/share/initramfs-tools/scripts/init-bottom/hark-readonly')).toBe(true);
    const unit = img.root.read('/usr/lib/systemd/system/hark-firstboot.service')!;
    expect(unit).toContain('ConditionPathExists=|/boot/firmware/hark.toml');
    expect(unit).toContain('ConditionPathExists=|/boot/firmware/hark-ca.key');
    expect(unit).toContain('ConditionPathExists=|/boot/firmware/hark-factory-reset');
    expect(unit).toContain('Before=hark.service');
  });
  test('avahi announces the admin page (_http._tcp, port 80); the host is hark', () => {
    const svc = img.root.read('/etc/avahi/services/hark.service')!;
    expect(svc).toContain('<type>_http._tcp</type>');
    expect(svc).toContain('<port>80</port>');
    expect(svc).toContain('<type>_https._tcp</type>');
    expect(svc).toContain('<port>443</port>');
    expect(img.root.read('/etc/hostname')!.trim()).toBe('hark');
    expect(img.root.read('/etc/nsswitch.conf')!).toMatch(/^hosts:.*mdns/m);
  });
  test('cloud-init reads the bootfs partition (NoCloud), once systemd has checked and mounted it', () => {
    const cfg = img.root.read('/etc/cloud/cloud.cfg.d/99_hark.cfg')!;
    expect(cfg).toContain('fs_label: bootfs');
    // Otherwise its first stage can race the fsck and mount of the partition and boot without
    // the Imager settings (DataSourceNone), as one QEMU boot did.
    const dropIn = img.root.read('/etc/systemd/system/cloud-init-local.service.d/hark-bootfs.conf') ?? '';
    expect(dropIn).toMatch(/^RequiresMountsFor=\/boot\/firmware$/m);
  });
  test('every box gets its own identity: no SSH host keys, empty machine-id', () => {
    expect(img.root.list('/etc/ssh').filter((f) => f.startsWith('ssh_host_'))).toEqual([]);
    expect(img.root.stat('/etc/machine-id')!.size).toBe(0);
  });
  test('snd-aloop and the PL061 GPIO driver exist for the boot test', () => {
    if (variant !== 'debian') return;
    const modules = img.root.list('/usr/lib/modules');
    expect(modules.length).toBe(1);
    const k = modules[0]!;
    expect(img.root.exists(`/usr/lib/modules/${k}/kernel/sound/drivers/snd-aloop.ko.xz`)).toBe(true);
    expect(img.root.read(`/boot/config-${k}`)!).toContain('CONFIG_GPIO_PL061=y');
  });
});

/** An ini file's sections as maps (avahi-daemon.conf). */
function ini(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const m = line.match(/^\[(.+)\]$/);
    if (m) section = m[1]!;
    else if (line.includes('=')) (out[section] ??= {})[line.slice(0, line.indexOf('=')).trim()] = line.slice(line.indexOf('=') + 1).trim();
  }
  return out;
}

describe('updates, the kernel and the data partition', () => {
  test("the release key: /usr/lib/hark/release-key.pem is Ed25519, the public half of the key this build signed with", async () => {
    const { createPrivateKey, createPublicKey } = await import('node:crypto');
    const pem = img.root.read('/usr/lib/hark/release-key.pem')!;
    const key = createPublicKey(pem);
    expect(key.asymmetricKeyType).toBe('ed25519');
    const ours = createPublicKey(createPrivateKey(readFileSync(info.release_key!, 'utf8')));
    expect(key.export({ type: 'spki', format: 'der' }).toString('hex')).toBe(ours.export({ type: 'spki', format: 'der' }).toString('hex'));
    expect(img.root.stat('/usr/lib/hark/release-key.pem')!.uid).toBe(0);
  });
  test(`the release file dist/hark-${version}-arm64.hark is signed with that key and holds this build's /opt/hark`, async () => {
    const { checkRelease, publicKeyOf } = await import('../../src/system/release.ts');
    const file = join(ROOT, info.release!);
    const r = checkRelease(file, publicKeyOf(img.root.read('/usr/lib/hark/release-key.pem')!), { arch: 'arm64', running: '0.0.0' });
    expect(r.header).toMatchObject({ product: 'hark', version, arch: 'arm64' });
    console.log(`release: ${info.release} ${(statSync(file).size / 1e6).toFixed(1)} MB`);
  });
  test('hark.service starts /usr/lib/hark/launch (root-owned, executable): the image’s hark or an update, with the trial rules', () => {
    const st = img.root.stat('/usr/lib/hark/launch')!;
    expect(st.uid).toBe(0);
    expect(st.mode & 0o111).not.toBe(0);
    expect(img.root.read('/usr/lib/hark/launch')).toContain('MAX_STARTS=${HARK_TRIAL_STARTS:-2}');
  });
  test('the kernel comes from trixie-backports and is pinned there (apt preferences); apt knows the backports source', () => {
    expect(dpkgStatus()).toMatch(/^Package: linux-image-arm64\n(?:[^\n]+\n)*?Version: \S*~bpo13/m);
    const pref = img.root.read('/etc/apt/preferences.d/hark-kernel.pref')!;
    expect(pref).toMatch(/Package: linux-base linux-image-arm64 .*\nPin: release n=trixie-backports\nPin-Priority: 990/);
    const sources = [img.root.read('/etc/apt/sources.list') ?? '', ...img.root.list('/etc/apt/sources.list.d').map((f) => img.root.read(`/etc/apt/sources.list.d/${f}`) ?? '')].join('\n');
    expect(sources).toContain('trixie-backports');
  });
  test('Debian updates: `hark system upgrade [--check]` runs /usr/lib/hark/system-upgrade; hark-apt-check.timer counts them daily for the System page', () => {
    expect(img.root.read('/usr/bin/hark')).toContain('exec /usr/lib/hark/system-upgrade');
    const script = img.root.read('/usr/lib/hark/system-upgrade')!;
    expect(script).toContain('Dir::State::Lists=$STATE/lists');
    expect(script).toContain('mount -o remount,ro "$LOWER"');
    expect(img.root.stat('/usr/lib/hark/system-upgrade')!.mode & 0o111).not.toBe(0);
    expect(img.root.read('/usr/lib/systemd/system/hark-apt-check.service')).toContain('ExecStart=/usr/lib/hark/system-upgrade check');
    expect(img.root.exists('/etc/systemd/system/timers.target.wants/hark-apt-check.timer')).toBe(true);
  });
  test('hark-grow-data.service grows the data partition at boot (enabled, runs growpart and resize2fs); cloud-init does not grow the root', () => {
    expect(img.root.read('/usr/lib/systemd/system/hark-grow-data.service')).toContain('ExecStart=/usr/lib/hark/grow-data');
    expect(img.root.exists('/etc/systemd/system/multi-user.target.wants/hark-grow-data.service')).toBe(true);
    const script = img.root.read('/usr/lib/hark/grow-data')!;
    expect(script).toContain('growpart');
    expect(script).toContain('resize2fs');
    const cc = img.root.read('/etc/cloud/cloud.cfg.d/99_hark.cfg')!;
    expect(cc).toContain("mode: 'off'");
    expect(cc).toContain('resize_rootfs: false');
  });
});

describe('the box keeps its name (<hostname>.local) when addresses change', () => {
  test('avahi runs over IPv4 only: use-ipv6=no, publish-aaaa-on-ipv4=no, publish-a-on-ipv6 off (avahi/avahi#117)', () => {
    const conf = ini(img.root.read('/etc/avahi/avahi-daemon.conf')!);
    expect(conf.server?.['use-ipv4']).toBe('yes');
    expect(conf.server?.['use-ipv6']).toBe('no');
    expect(conf.publish?.['publish-aaaa-on-ipv4']).toBe('no');
    expect(conf.publish?.['publish-a-on-ipv6'] ?? 'no').toBe('no');
    // Publishing stays on: the host name and the admin page's _http._tcp.
    expect(conf.publish?.['disable-publishing'] ?? 'no').toBe('no');
    expect(conf.publish?.['publish-addresses'] ?? 'yes').toBe('yes');
    expect(conf.server?.['host-name']).toBeUndefined();
  });
  test('hark-mdns-name.service is installed, enabled and runs the guard', () => {
    const unit = img.root.read('/usr/lib/systemd/system/hark-mdns-name.service')!;
    expect(unit).toContain('ExecStart=/usr/lib/hark/mdns-name');
    expect(unit).toContain('After=avahi-daemon.service');
    expect(img.root.stat('/etc/systemd/system/multi-user.target.wants/hark-mdns-name.service')?.type).toBe('symlink');
    const st = img.root.stat('/usr/lib/hark/mdns-name')!;
    expect(st.type).toBe('regular');
    expect(st.mode & 0o755).toBe(0o755);
    // It hands hark the name avahi announces, in a world-readable runtime directory hark reads.
    expect(unit).toContain('RuntimeDirectory=hark-mdns');
    expect(unit).toContain('RuntimeDirectoryMode=0755');
    expect(unit).toContain('Environment=HARK_MDNS_NAME_FILE=/run/hark-mdns/name');
    expect(img.root.read('/usr/lib/systemd/system/hark.service')).toContain('Environment=HARK_MDNS_NAME_FILE=/run/hark-mdns/name');
  });

  test('hark-timezone.service is installed, enabled, and hark keeps the zone on the data partition', () => {
    const unit = img.root.read('/usr/lib/systemd/system/hark-timezone.service')!;
    expect(unit).toContain('ExecStart=/usr/lib/hark/timezone');
    expect(unit).toContain('RequiresMountsFor=/etc/hark');
    expect(img.root.stat('/etc/systemd/system/multi-user.target.wants/hark-timezone.service')?.type).toBe('symlink');
    expect(img.root.stat('/usr/lib/hark/timezone')!.mode & 0o755).toBe(0o755);
    expect(img.root.read('/usr/lib/systemd/system/hark.service')).toContain('Environment=HARK_TIMEZONE_FILE=/etc/hark/timezone');
  });

  describe("the guard's decisions (the image's /usr/lib/hark/mdns-name against a fake avahi)", () => {
    /**
     * Run the guard for `rounds` rounds with a fake busctl (avahi's D-Bus answers from files), a
     * fake ip (this box's addresses) and a fake sleep that ends the run. Returns the
     * SetHostName calls and what the guard logged.
     */
    function guard(o: { hostname: string; avahiName: string; resolves?: string; state?: string; sticky?: boolean; rounds?: number; maxPerHour?: number }) {
      const dir = mkdtempSync(join(tmpdir(), 'hark-mdns-name-'));
      try {
        const bin = join(dir, 'bin');
        run(['mkdir', '-p', bin]);
        writeFileSync(join(dir, 'hostname'), `${o.hostname}\n`);
        writeFileSync(join(dir, 'name'), o.avahiName);
        writeFileSync(join(dir, 'state'), o.state ?? 'i 2');
        writeFileSync(join(dir, 'resolves'), o.resolves ?? '');
        writeFileSync(join(dir, 'calls'), '');
        const script = join(dir, 'mdns-name');
        writeFileSync(script, img.root.read('/usr/lib/hark/mdns-name')!);
        const exe = (name: string, body: string) => {
          writeFileSync(join(bin, name), `#!/bin/sh\nF=${dir}\n${body}\n`);
          chmodSync(join(bin, name), 0o755);
        };
        // busctl [--timeout=N] call org.freedesktop.Avahi / org.freedesktop.Avahi.Server METHOD [SIG ARGS...]
        exe(
          'busctl',
          `shift 5; m=$1; shift
case "$m" in
  GetState) cat $F/state; echo ;;
  GetHostName) printf 's "%s"\\n' "$(cat $F/name)" ;;
  GetHostNameFqdn) printf 's "%s.local"\\n' "$(cat $F/name)" ;;
  ResolveHostName) a=$(cat $F/resolves); [ -n "$a" ] || { echo "Call failed: Timeout reached" >&2; exit 1; }
    printf 'iisisu 2 0 "%s" 0 "%s" 0\\n' "$3" "$a" ;;
  SetHostName) echo "SetHostName $2" >>$F/calls; ${o.sticky === false ? ':' : 'printf %s "$2" >$F/name'} ;;
esac`,
        );
        exe('ip', `echo '1: lo    inet 127.0.0.1/8 scope host lo'; echo '2: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global eth0'; echo '2: eth0    inet6 fd00::5054:ff:fe12:3456/64 scope global dynamic'`);
        exe('sleep', `n=$(( $(cat $F/sleeps 2>/dev/null || echo 0) + 1 )); echo $n >$F/sleeps; [ $n -le ${o.rounds ?? 3} ] || kill -TERM $PPID`);
        const out = Bun.spawnSync(['sh', script], {
          env: { PATH: `${bin}:${process.env.PATH}`, HARK_MDNS_HOSTNAME_FILE: join(dir, 'hostname'), HARK_MDNS_MAX_PER_HOUR: String(o.maxPerHour ?? 6), HARK_MDNS_NAME_FILE: join(dir, 'announced') },
          stdout: 'pipe',
          stderr: 'pipe',
          timeout: 30_000,
        });
        const announced = existsSync(join(dir, 'announced')) ? readFileSync(join(dir, 'announced'), 'utf8') : null;
        const leftovers = readdirSync(dir).filter((f) => f.startsWith('announced.'));
        return { calls: readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').filter(Boolean), log: out.stdout.toString() + out.stderr.toString(), name: readFileSync(join(dir, 'name'), 'utf8'), announced, leftovers };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }

    test('avahi has the host name: nothing to do', () => {
      const r = guard({ hostname: 'studio', avahiName: 'studio' });
      expect(r.calls).toEqual([]);
      expect(r.log).toBe('');
    });
    test('it writes the name avahi announces for hark (HARK_MDNS_NAME_FILE), whole, and the clash name while another host has the name', () => {
      const r = guard({ hostname: 'studio', avahiName: 'studio' });
      expect(r.announced).toBe('studio.local\n');
      expect(r.leftovers).toEqual([]);
      expect(guard({ hostname: 'studio', avahiName: 'studio-2', resolves: '10.0.2.150' }).announced).toBe('studio-2.local\n');
      // Not yet running (probing): nothing written, hark keeps <hostname>.local.
      expect(guard({ hostname: 'studio', avahiName: 'studio-2', state: 'i 1' }).announced).toBeNull();
    });
    test('renamed to studio-2 and nothing answers for studio.local: set back to studio, once, and said why', () => {
      const r = guard({ hostname: 'studio', avahiName: 'studio-2' });
      expect(r.calls).toEqual(['SetHostName studio']);
      expect(r.name).toBe('studio');
      expect(r.log).toContain('set back to studio.local');
    });
    test("renamed while a stale copy of the box's own record (one of its addresses) answers: set back", () => {
      expect(guard({ hostname: 'studio', avahiName: 'studio-2', resolves: '10.0.2.15' }).calls).toEqual(['SetHostName studio']);
      expect(guard({ hostname: 'studio', avahiName: 'studio-2', resolves: 'fd00::5054:ff:fe12:3456' }).calls).toEqual(['SetHostName studio']);
    });
    test('another host answers for studio.local: the box keeps studio-2 and says so once', () => {
      const r = guard({ hostname: 'studio', avahiName: 'studio-2', resolves: '10.0.2.150', rounds: 5 });
      expect(r.calls).toEqual([]);
      expect(r.log.trim().split('\n')).toEqual(['avahi calls this box studio-2.local: another host (10.0.2.150) answers for studio.local, so it keeps studio-2.local']);
    });
    test('a system host name with a domain: avahi uses its first label', () => {
      expect(guard({ hostname: 'studio.example.org', avahiName: 'studio' }).calls).toEqual([]);
      expect(guard({ hostname: 'studio.example.org', avahiName: 'studio-3' }).calls).toEqual(['SetHostName studio']);
    });
    test('while avahi is still probing or registering (not running) it waits', () => {
      expect(guard({ hostname: 'studio', avahiName: 'studio-2', state: 'i 1' }).calls).toEqual([]);
      expect(guard({ hostname: 'studio', avahiName: 'studio-2', state: 'i 3' }).calls).toEqual([]);
    });
    test('bounded: if avahi renames again and again, at most HARK_MDNS_MAX_PER_HOUR set-backs an hour', () => {
      const r = guard({ hostname: 'studio', avahiName: 'studio-2', sticky: false, rounds: 10, maxPerHour: 3 });
      expect(r.calls).toEqual(['SetHostName studio', 'SetHostName studio', 'SetHostName studio']);
      expect(r.log.match(/set-backs this hour already/g)).toHaveLength(1);
    });
  });
});

describe("the System page's power and time zone actions (polkit)", () => {
  const RULE = '/usr/share/polkit-1/rules.d/50-hark.rules';
  const ALLOWED = [
    'org.freedesktop.login1.reboot',
    'org.freedesktop.login1.reboot-multiple-sessions',
    'org.freedesktop.login1.power-off',
    'org.freedesktop.login1.power-off-multiple-sessions',
    'org.freedesktop.timedate1.set-timezone',
  ];
  const OTHERS = [
    'org.freedesktop.login1.reboot-ignore-inhibit',
    'org.freedesktop.login1.power-off-ignore-inhibit',
    'org.freedesktop.login1.halt',
    'org.freedesktop.login1.suspend',
    'org.freedesktop.login1.set-reboot-to-firmware-setup',
    'org.freedesktop.login1.set-wall-message',
    'org.freedesktop.timedate1.set-time',
    'org.freedesktop.timedate1.set-ntp',
    'org.freedesktop.timedate1.set-local-rtc',
    'org.freedesktop.hostname1.set-hostname',
    'org.freedesktop.systemd1.manage-units',
    'org.freedesktop.NetworkManager.settings.modify.system',
  ];
  /** The rule's answer, evaluated the way polkitd does (addRule with a function of action and subject). */
  function decide(ruleText: string, actionId: string, user: string): string | null {
    const rules: ((a: { id: string }, s: { user: string }) => unknown)[] = [];
    const polkit = { Result: { YES: 'yes', NO: 'no', AUTH_ADMIN: 'auth_admin', NOT_HANDLED: null }, addRule: (f: (typeof rules)[number]) => rules.push(f), log: () => {} };
    new Function('polkit', ruleText)(polkit);
    for (const r of rules) {
      const v = r({ id: actionId }, { user });
      if (v !== null && v !== undefined) return v as string;
    }
    return null;
  }

  test('polkitd and tzdata are installed (logind and timedated ask polkit; the zones are there)', () => {
    expect(['polkitd', 'tzdata'].filter((p) => !installed(p))).toEqual([]);
    expect(img.root.exists('/usr/share/zoneinfo/Europe/Berlin')).toBe(true);
    expect(img.root.exists('/usr/lib/systemd/systemd-timedated')).toBe(true);
  });
  test(`${RULE}: user hark may reboot, power off and set the time zone, and nothing else; no other user may`, () => {
    const text = img.root.read(RULE)!;
    expect(text).toBeDefined();
    expect(img.root.stat(RULE)!.mode & 0o644).toBe(0o644);
    for (const a of ALLOWED) expect(`${a}: ${decide(text, a, 'hark')}`).toBe(`${a}: yes`);
    for (const a of OTHERS) expect(`${a}: ${decide(text, a, 'hark')}`).toBe(`${a}: null`);
    for (const u of ['tester', 'nobody', 'root', 'pi', 'hark2']) for (const a of ALLOWED) expect(`${u} ${a}: ${decide(text, a, u)}`).toBe(`${u} ${a}: null`);
  });
});

describe(`the .deb (dist/hark_${version}_arm64.deb)`, () => {
  const deb = join(ROOT, `dist/hark_${version}_arm64.deb`);
  test('package fields and dependencies', () => {
    expect(existsSync(deb)).toBe(true);
    const f = run(['dpkg-deb', '--field', deb, 'Package', 'Version', 'Architecture', 'Depends']).stdout;
    expect(f).toContain('Package: hark');
    expect(f).toContain(`Version: ${version}`);
    expect(f).toContain('Architecture: arm64');
    for (const d of ['pipewire', 'wireplumber', 'libopus0', 'libmp3lame0', 'libgpiod3', 'avahi-daemon', 'libc6-dev']) expect(f).toContain(d);
  });
  test('contents: hark, Bun, units, scripts; maintainer scripts', () => {
    const list = run(['dpkg-deb', '--contents', deb], { timeoutMs: 300_000 }).stdout;
    for (const p of [
      './opt/hark/bin/bun',
      './opt/hark/src/main.ts',
      './usr/lib/systemd/system/hark.service',
      './usr/lib/systemd/system/hark-firstboot.service',
      './usr/lib/systemd/system/hark-setup-file.path',
      './usr/lib/systemd/system/hark-setup-file.service',
      './usr/lib/hark/service.ts',
      './usr/lib/hark/firstboot.ts',
      './opt/hark/src/system/service.ts',
      './opt/hark/src/system/firstboot.ts',
      './usr/bin/hark',
      './etc/avahi/services/hark.service',
      './usr/share/polkit-1/rules.d/50-hark.rules',
    ]) {
      expect(list).toContain(p);
    }
    expect(list).not.toContain('.test.ts');
    const ctl = run(['dpkg-deb', '--ctrl-tarfile', deb]).raw;
    const names = run(['tar', '-t'], { stdin: ctl }).stdout;
    for (const n of ['./preinst', './postinst', './prerm', './postrm', './triggers', './conffiles']) expect(names).toContain(n);
  });
});
