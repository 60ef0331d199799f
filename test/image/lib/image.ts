/**
 * Reading a built hark image without mounting anything: the MBR through sfdisk, the FAT boot
 * partition through mtools, the ext4 partitions through debugfs (`file?offset=N`). Used by
 * the image checks and the QEMU boot test.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dir, '../../..');
export const WORK = process.env.HARK_IMAGE_TEST_WORK ?? join(ROOT, 'dist/build/test');

/** What script/image wrote to dist/image.env (version, variant, disk_id, image, seconds). */
export function buildInfo(): Record<string, string> {
  const file = join(ROOT, 'dist/image.env');
  if (!existsSync(file)) throw new Error(`${file} not found: build the image first (script/image --debian-only)`);
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = line.match(/^(\w+)=(.*)$/);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export function run(cmd: string[], opts: { stdin?: Uint8Array | string; timeoutMs?: number; allowFail?: boolean } = {}) {
  const r = Bun.spawnSync(cmd, {
    stdin: opts.stdin === undefined ? 'ignore' : typeof opts.stdin === 'string' ? Buffer.from(opts.stdin) : opts.stdin,
    stdout: 'pipe',
    stderr: 'pipe',
    timeout: opts.timeoutMs ?? 120_000,
  });
  const res = { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString(), raw: r.stdout };
  if (!opts.allowFail && res.code !== 0) {
    throw new Error(`${cmd.join(' ')} exited ${res.code}${r.signalCode ? ` (${r.signalCode})` : ''}: ${res.stderr.trim() || res.stdout.trim()}`);
  }
  return res;
}

/**
 * The raw image: the .img itself, or the .img.xz decompressed once into the work directory
 * (reused while the .xz is unchanged).
 */
export function rawImage(image = buildInfo().image!): string {
  const abs = resolve(ROOT, image);
  if (!abs.endsWith('.xz')) return abs;
  mkdirSync(WORK, { recursive: true });
  const out = join(WORK, 'image.img');
  const stamp = `${out}.from`;
  const key = `${abs} ${statSync(abs).mtimeMs} ${statSync(abs).size}`;
  if (!existsSync(out) || !existsSync(stamp) || readFileSync(stamp, 'utf8') !== key) {
    run(['sh', '-c', `xz -dc -T0 '${abs}' | cp --sparse=always /dev/stdin '${out}.part' && mv '${out}.part' '${out}'`], {
      timeoutMs: 600_000,
    });
    writeFileSync(stamp, key);
  }
  return out;
}

export interface Partition {
  number: number;
  start: number; // bytes
  size: number; // bytes
  type: string;
  bootable: boolean;
}

export interface PartitionTable {
  label: string;
  id: string;
  sectorSize: number;
  partitions: Partition[];
}

export function partitionTable(img: string): PartitionTable {
  const j = JSON.parse(run(['sfdisk', '--json', img]).stdout).partitiontable;
  const ss = j.sectorsize ?? 512;
  return {
    label: j.label,
    id: j.id,
    sectorSize: ss,
    partitions: (j.partitions as { node: string; start: number; size: number; type: string; bootable?: boolean }[]).map((p, i) => ({
      number: i + 1,
      start: p.start * ss,
      size: p.size * ss,
      type: p.type,
      bootable: !!p.bootable,
    })),
  };
}

/** The FAT boot partition, through mtools (`-i image@@offset`). */
export class FatPartition {
  constructor(
    readonly img: string,
    readonly offset: number,
  ) {}
  private get spec() {
    return `${this.img}@@${this.offset}`;
  }
  list(): string[] {
    return run(['mdir', '-b', '-i', this.spec, '::/'], { allowFail: true })
      .stdout.split('\n')
      .map((l) => l.trim().replace(/^::\//, ''))
      .filter(Boolean);
  }
  read(name: string): string | undefined {
    const r = run(['mtype', '-i', this.spec, `::/${name}`], { allowFail: true });
    return r.code === 0 ? r.stdout : undefined;
  }
  size(name: string): number {
    const r = run(['mdir', '-i', this.spec, `::/${name}`], { allowFail: true });
    const m = r.stdout.match(/\s(\d[\d ]*)\s+\d{4}-\d\d-\d\d/);
    return m ? Number(m[1]!.replaceAll(' ', '')) : -1;
  }
  label(): string {
    return run(['mlabel', '-s', '-i', this.spec, '::']).stdout.replace(/^.*is\s+/, '').trim();
  }
  write(name: string, content: string | Uint8Array): void {
    const tmp = join(WORK, `mcopy-${process.pid}`);
    mkdirSync(WORK, { recursive: true });
    writeFileSync(tmp, content);
    run(['mcopy', '-o', '-i', this.spec, tmp, `::/${name}`]);
    rmSync(tmp);
  }
  remove(name: string): void {
    run(['mdel', '-i', this.spec, `::/${name}`], { allowFail: true });
  }
}

/** An ext4 partition, through debugfs (read-only). */
export class Ext4Partition {
  constructor(
    readonly img: string,
    readonly offset: number,
  ) {}
  private debugfs(req: string, allowFail = true) {
    return run(['debugfs', '-R', req, `${this.img}?offset=${this.offset}`], { allowFail, timeoutMs: 120_000 });
  }
  read(path: string): string | undefined {
    const raw = this.readBytes(path);
    return raw === undefined ? undefined : raw.toString();
  }
  readBytes(path: string): Buffer | undefined {
    if (!this.exists(path)) return undefined;
    const r = this.debugfs(`cat "${path}"`);
    return r.code === 0 ? Buffer.from(r.raw) : undefined;
  }
  /** Inode facts: type (regular/directory/symlink), mode, uid, gid, size, symlink target. */
  stat(path: string): { type: string; mode: number; uid: number; gid: number; size: number; target?: string } | undefined {
    const out = this.debugfs(`stat "${path}"`).stdout;
    const m = out.match(/Type: (\S+)\s+Mode:\s+(\d+)/);
    if (!m) return undefined;
    const uid = out.match(/User:\s+(\d+)/);
    const gid = out.match(/Group:\s+(\d+)/);
    const size = out.match(/Size:\s+(\d+)/);
    const target = out.match(/Fast link dest: "(.*)"/);
    return {
      type: m[1]!,
      mode: Number.parseInt(m[2]!, 8),
      uid: Number(uid?.[1] ?? -1),
      gid: Number(gid?.[1] ?? -1),
      size: Number(size?.[1] ?? -1),
      target: target?.[1],
    };
  }
  exists(path: string): boolean {
    return this.debugfs(`stat "${path}"`).stdout.includes('Inode:');
  }
  list(dir: string): string[] {
    const out = this.debugfs(`ls -p "${dir}"`).stdout;
    return out
      .split('\n')
      .map((l) => l.split('/')[5])
      .filter((n): n is string => !!n && n !== '.' && n !== '..');
  }
  label(): string {
    return run(['sh', '-c', `dumpe2fs -h '${this.img}?offset=${this.offset}' 2>/dev/null | sed -n 's/^Filesystem volume name: *//p'`]).stdout.trim();
  }
}

/**
 * The four partitions of a hark image: boot (FAT), conf (/etc/hark), root, data (/var/lib/hark:
 * recordings, updates, hark's home; last, grown to fill the card at the first boot).
 */
export function openImage(img: string) {
  const table = partitionTable(img);
  const [p1, p2, p3, p4] = table.partitions;
  if (!p1 || !p2 || !p3 || !p4) throw new Error(`${img}: expected 4 partitions, found ${table.partitions.length}`);
  return {
    table,
    boot: new FatPartition(img, p1.start),
    conf: new Ext4Partition(img, p2.start),
    root: new Ext4Partition(img, p3.start),
    data: new Ext4Partition(img, p4.start),
  };
}
