/**
 * Boot a hark image in qemu-system-aarch64 (`virt` machine, TCG) with the image's own kernel
 * and initramfs (copied out of the boot partition with mtools), user-mode networking with
 * ports forwarded to 127.0.0.1, and the serial console in a file. Every wait has a deadline.
 */
import { createServer } from 'node:net';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { FatPartition, partitionTable, run } from './image.ts';

export interface GuestOptions {
  disk: string;
  cpu: string;
  /** Where the kernel, initramfs, console log and SSH key live. */
  dir: string;
  /** Kernel arguments added to the image's cmdline.txt. */
  extraArgs?: string[];
  memoryMb?: number;
  smp?: number;
  user: string;
  key: string;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Guest {
  proc?: Subprocess;
  httpPort = 0;
  /** The host's port forwarded to the guest's 443 (HTTPS for the admin pages). */
  httpsPort = 0;
  sshPort = 0;
  startedAt = 0;
  readonly console: string;
  exited?: number;

  constructor(readonly o: GuestOptions) {
    this.console = join(o.dir, `console-${o.cpu}.log`);
  }

  /** The kernel command line the image boots with, its console moved to the virt machine's PL011. */
  cmdline(): string {
    const boot = new FatPartition(this.o.disk, partitionTable(this.o.disk).partitions[0]!.start);
    const line = boot.read('cmdline.txt')!.trim();
    const args = line.split(/\s+/).filter((a) => !a.startsWith('console='));
    return [...args, 'console=ttyAMA0,115200', ...(this.o.extraArgs ?? [])].join(' ');
  }

  /** Copy the kernel and initramfs named in config.txt out of the boot partition. */
  private extractKernel(): { kernel: string; initrd: string } {
    const boot = new FatPartition(this.o.disk, partitionTable(this.o.disk).partitions[0]!.start);
    const config = boot.read('config.txt') ?? '';
    const kernelName = config.match(/^kernel=(\S+)/m)?.[1] ?? 'kernel8.img';
    const initrdName = config.match(/^initramfs (\S+)/m)?.[1];
    const kernel = join(this.o.dir, 'kernel');
    const initrd = join(this.o.dir, 'initrd');
    run(['mcopy', '-o', '-n', '-i', `${this.o.disk}@@${partitionTable(this.o.disk).partitions[0]!.start}`, `::/${kernelName}`, kernel]);
    if (!initrdName) throw new Error('config.txt names no initramfs');
    run(['mcopy', '-o', '-n', '-i', `${this.o.disk}@@${partitionTable(this.o.disk).partitions[0]!.start}`, `::/${initrdName}`, initrd]);
    return { kernel, initrd };
  }

  async start(): Promise<void> {
    mkdirSync(this.o.dir, { recursive: true });
    const { kernel, initrd } = this.extractKernel();
    this.httpPort = await freePort();
    this.httpsPort = await freePort();
    this.sshPort = await freePort();
    const append = this.cmdline();
    writeFileSync(this.console, `# qemu ${this.o.cpu}: ${append}\n`);
    const args = [
      'qemu-system-aarch64',
      '-M', 'virt',
      '-cpu', this.o.cpu,
      '-smp', String(this.o.smp ?? 2),
      '-m', String(this.o.memoryMb ?? 1024),
      '-accel', 'tcg,thread=multi',
      '-kernel', kernel,
      '-initrd', initrd,
      '-append', append,
      '-drive', `if=none,id=hd0,format=raw,file=${this.o.disk}`,
      '-device', 'virtio-blk-pci,drive=hd0',
      '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${this.httpPort}-:80,hostfwd=tcp:127.0.0.1:${this.httpsPort}-:443,hostfwd=tcp:127.0.0.1:${this.sshPort}-:22`,
      '-device', 'virtio-net-pci,netdev=n0',
      '-device', 'virtio-rng-pci',
      '-display', 'none',
      '-monitor', 'none',
      '-serial', `file:${this.console}.serial`,
      '-no-reboot',
      // test/image/run kills it by this pid if the test itself is killed.
      '-pidfile', join(this.o.dir, 'qemu.pid'),
    ];
    this.startedAt = performance.now();
    this.proc = Bun.spawn(args, { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' });
    void this.proc.exited.then((code) => {
      this.exited = code;
      appendFileSync(this.console, `# qemu exited ${code}\n`);
    });
  }

  /** Seconds since QEMU was started. */
  elapsed(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  /** The serial console so far (the kernel's and systemd's messages). */
  consoleText(): string {
    const f = `${this.console}.serial`;
    return existsSync(f) ? readFileSync(f, 'latin1') : '';
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.httpPort}${path}`;
  }

  /** Poll until `path` answers 200; returns the seconds since start. Throws with the console tail. */
  async waitHttp(path: string, timeoutS: number): Promise<number> {
    const deadline = performance.now() + timeoutS * 1000;
    let last = '';
    while (performance.now() < deadline) {
      if (this.exited !== undefined) throw new Error(`QEMU exited (${this.exited}) before ${path} answered\n${this.tail()}`);
      try {
        const r = await fetch(this.url(path), { signal: AbortSignal.timeout(5000) });
        if (r.status === 200) return this.elapsed();
        last = `HTTP ${r.status}`;
      } catch (e) {
        last = (e as Error).message;
      }
      await sleep(2000);
    }
    throw new Error(`${path} did not answer 200 within ${timeoutS} s (last: ${last})\n${this.tail()}`);
  }

  tail(lines = 40): string {
    return `--- console (${this.o.cpu}), last ${lines} lines ---\n${this.consoleText().split('\n').slice(-lines).join('\n')}`;
  }

  private sshArgs(): string[] {
    return [
      '-i', this.o.key,
      '-p', String(this.sshPort),
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'LogLevel=ERROR',
      '-o', 'BatchMode=yes',
      '-o', 'ConnectTimeout=30',
      '-o', 'ServerAliveInterval=10',
    ];
  }

  /** Run a shell command in the guest as the SSH user; never hangs past `timeoutS`. */
  ssh(command: string, opts: { timeoutS?: number; allowFail?: boolean; stdin?: string } = {}) {
    // ssh's own failures (exit 255 before the command ran: the emulated guest too busy to
    // answer the banner in time, sshd restarting) are retried three times; the command's are not.
    for (let attempt = 1; ; attempt++) {
      const r = run(['ssh', ...this.sshArgs(), `${this.o.user}@127.0.0.1`, command], {
        timeoutMs: (opts.timeoutS ?? 120) * 1000,
        allowFail: attempt < 4 ? true : opts.allowFail,
        stdin: opts.stdin,
      });
      const sshFailed = r.code === 255 && /banner exchange|kex_exchange_identification|Connection (timed out|refused|reset|closed)/.test(r.stderr);
      if (!sshFailed || attempt >= 4) {
        if (r.code !== 0 && !opts.allowFail) throw new Error(`ssh ${command} exited ${r.code}: ${r.stderr}`);
        return r;
      }
      Bun.sleepSync(5000);
    }
  }

  scp(local: string, remote: string): void {
    const a = this.sshArgs().map((x) => (x === '-p' ? '-P' : x));
    run(['scp', ...a, local, `${this.o.user}@127.0.0.1:${remote}`], { timeoutMs: 120_000 });
  }

  async waitSsh(timeoutS: number): Promise<number> {
    const deadline = performance.now() + timeoutS * 1000;
    let last = '';
    while (performance.now() < deadline) {
      if (this.exited !== undefined) throw new Error(`QEMU exited (${this.exited}) before SSH answered\n${this.tail()}`);
      const r = this.ssh('true', { allowFail: true, timeoutS: 30 });
      if (r.code === 0) return this.elapsed();
      last = r.stderr.trim();
      await sleep(3000);
    }
    throw new Error(`SSH did not let ${this.o.user} in within ${timeoutS} s (last: ${last})\n${this.tail()}`);
  }

  /** Power off cleanly (so the disk is consistent for the next boot); kill after the deadline. */
  async stop(timeoutS = 180): Promise<void> {
    if (!this.proc || this.exited !== undefined) return;
    this.ssh('sudo systemctl poweroff', { allowFail: true, timeoutS: 30 });
    const deadline = performance.now() + timeoutS * 1000;
    while (this.exited === undefined && performance.now() < deadline) await sleep(1000);
    if (this.exited === undefined) {
      appendFileSync(this.console, `# no poweroff within ${timeoutS} s: killing QEMU\n`);
      this.proc.kill('SIGKILL');
      await this.proc.exited;
    }
  }

  kill(): void {
    if (this.proc && this.exited === undefined) this.proc.kill('SIGKILL');
  }
}
