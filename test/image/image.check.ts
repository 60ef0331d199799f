/**
 * Checks of the built image and .deb, without booting: the partition table, the boot files,
 * the root file system's contents, the unit files, the size. Reads dist/image.env (written
 * by script/image). Run: bun test ./test/image/image.check.ts  (test/image/run does it all)
 */
import { beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, readFileSync, statSync } from 'node:fs';
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
  test('MBR with the disk id of the build: bootfs (FAT32, bootable), hark-data (ext4), rootfs (ext4) last', () => {
    const t = img.table;
    expect(t.label).toBe('dos');
    expect(t.id.replace(/^0x/, '').toLowerCase()).toBe(diskId);
    expect(t.partitions.map((p) => p.type)).toEqual(['c', '83', '83']);
    expect(t.partitions.map((p) => p.bootable)).toEqual([true, false, false]);
    for (const p of t.partitions) expect(p.start % (4 * MiB)).toBe(0);
    expect(t.partitions[0]!.size).toBe(512 * MiB);
    expect(t.partitions[1]!.size).toBe(64 * MiB);
    // rootfs is last and ends the disk, so growpart can take the rest of the card.
    const last = t.partitions[2]!;
    expect(last.start).toBeGreaterThan(t.partitions[1]!.start);
    expect(statSync(rawImage()).size).toBeGreaterThanOrEqual(last.start + last.size);
  });
  test('labels: bootfs, hark-data, rootfs', () => {
    expect(img.boot.label()).toBe('bootfs');
    expect(img.data.label()).toBe('hark-data');
    expect(img.root.label()).toBe('rootfs');
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
      // Pi 3, 3+, Zero 2 W, 4, 400, CM4 device trees (upstream names).
      for (const dtb of ['bcm2837-rpi-3-b.dtb', 'bcm2837-rpi-3-b-plus.dtb', 'bcm2837-rpi-zero-2-w.dtb', 'bcm2711-rpi-4-b.dtb', 'bcm2711-rpi-400.dtb']) {
        expect(files).toContain(dtb);
      }
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

describe('data partition (/etc/hark)', () => {
  test('hark.toml with http.port = 80, owned by hark, mode 0640', () => {
    const toml = img.data.read('/hark.toml')!;
    expect(toml).toMatch(/\[http\]\s*\nport = 80/);
    const st = img.data.stat('/hark.toml')!;
    expect(st.uid).toBe(uidOf('hark'));
    expect(st.mode & 0o777).toBe(0o640);
    expect(img.data.stat('/')!.uid).toBe(uidOf('hark'));
  });
  test('fstab mounts it on /etc/hark; boot on /boot/firmware; root from partition 3', () => {
    const fstab = img.root.read('/etc/fstab')!;
    expect(fstab).toMatch(new RegExp(`PARTUUID=${diskId}-02\\s+/etc/hark\\s+ext4`));
    expect(fstab).toMatch(new RegExp(`PARTUUID=${diskId}-01\\s+/boot/firmware\\s+vfat`));
    expect(fstab).toMatch(new RegExp(`PARTUUID=${diskId}-03\\s+/\\s+ext4`));
  });
});

describe('root file system', () => {
  const dpkgStatus = () => img.root.read('/var/lib/dpkg/status')!;
  const installed = (pkg: string) =>
    new RegExp(`^Package: ${pkg.replaceAll('.', '\\.')}\\n(?:[^\\n]+\\n)*?Status: install ok installed`, 'm').test(dpkgStatus());

  test('the packages hark needs are installed', () => {
    const want = ['hark', 'pipewire', 'wireplumber', 'libopus0', 'libmp3lame0', 'libgpiod3', 'avahi-daemon', 'openssh-server', 'cloud-init', 'rtkit', 'libc6-dev'];
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
    const wants = '/var/lib/hark/.config/systemd/user/default.target.wants';
    expect(img.root.stat(`${wants}/pipewire.service`)?.type).toBe('symlink');
    expect(img.root.stat(`${wants}/wireplumber.service`)?.type).toBe('symlink');
    expect(img.root.stat('/var/lib/hark')!.uid).toBe(uid);
    // Its WirePlumber starts every device at unity gain (the boot test hears the level).
    const wp = img.root.stat('/var/lib/hark/.config/wireplumber/wireplumber.conf.d/50-hark.conf');
    expect(wp?.type).toBe('symlink');
    expect(wp?.target).toBe('/usr/lib/hark/wireplumber.conf');
    expect(img.root.read('/usr/lib/hark/wireplumber.conf')).toContain('device.routes.default-sink-volume = 1.0');
  });
  test('hark.service: notify + watchdog, Restart=always, hardening, port 80 through a capability', () => {
    const unit = img.root.read('/usr/lib/systemd/system/hark.service')!;
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
      'ExecStart=/opt/hark/bin/bun /usr/lib/hark/service.ts --config /etc/hark/hark.toml',
      'Environment=MIMALLOC_SCAVENGER=0',
    ]) {
      expect(lines.has(l) ? l : `missing: ${l}`).toBe(l);
    }
    expect(unit).not.toMatch(/^User=root/m);
  });
  test('enabled at boot: hark, hark-firstboot, hark-admins, ssh, avahi, NetworkManager, cloud-init', () => {
    const links = [
      '/etc/systemd/system/multi-user.target.wants/hark.service',
      '/etc/systemd/system/multi-user.target.wants/hark-firstboot.service',
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
    expect(img.root.stat('/usr/lib/hark/readonly')!.mode & 0o111).toBe(0o111);
    expect(img.root.exists('/usr/share/initramfs-tools/scripts/init-bottom/hark-readonly')).toBe(true);
    const unit = img.root.read('/usr/lib/systemd/system/hark-firstboot.service')!;
    expect(unit).toContain('ConditionPathExists=/boot/firmware/hark.toml');
    expect(unit).toContain('Before=hark.service');
  });
  test('avahi announces the admin page (_http._tcp, port 80); the host is hark', () => {
    const svc = img.root.read('/etc/avahi/services/hark.service')!;
    expect(svc).toContain('<type>_http._tcp</type>');
    expect(svc).toContain('<port>80</port>');
    expect(img.root.read('/etc/hostname')!.trim()).toBe('hark');
    expect(img.root.read('/etc/nsswitch.conf')!).toMatch(/^hosts:.*mdns/m);
  });
  test('cloud-init reads the bootfs partition (NoCloud)', () => {
    const cfg = img.root.read('/etc/cloud/cloud.cfg.d/99_hark.cfg')!;
    expect(cfg).toContain('fs_label: bootfs');
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
      './usr/lib/hark/service.ts',
      './usr/bin/hark',
      './etc/avahi/services/hark.service',
    ]) {
      expect(list).toContain(p);
    }
    expect(list).not.toContain('.test.ts');
    const ctl = run(['dpkg-deb', '--ctrl-tarfile', deb]).raw;
    const names = run(['tar', '-t'], { stdin: ctl }).stdout;
    for (const n of ['./preinst', './postinst', './prerm', './postrm', './triggers', './conffiles']) expect(names).toContain(n);
  });
});
