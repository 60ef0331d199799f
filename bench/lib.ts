/** Shared bits for benchmarks: the machine line and appending rows to bench/RESULTS.md. */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

export const RESULTS = join(import.meta.dir, 'RESULTS.md');

export function machineLine(): string {
  const model = cpus()[0]?.model?.trim() ?? 'unknown CPU';
  return `${process.arch}, ${cpus().length} cores, ${model}, bun ${Bun.version}`;
}

/** Append a section: a heading with date, machine and command, then the table rows. */
export function appendResults(title: string, command: string, header: string[], rows: (string | number)[][], notes = ''): void {
  if (!existsSync(RESULTS)) writeFileSync(RESULTS, '# Benchmark results\n\nAppended by `script/bench`; newest last.\n');
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  const text = [
    '',
    `## ${title} — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${machineLine()}. Command: \`${command}\``,
    '',
    line(header),
    line(header.map(() => '---')),
    ...rows.map(line),
    notes ? `\n${notes}` : '',
  ].join('\n');
  appendFileSync(RESULTS, `${text}\n`);
  process.stdout.write(`${text}\n`);
}

export function rssKb(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(s.match(/VmRSS:\s+(\d+)/)![1]);
}

/** utime+stime of a process in seconds (from /proc/<pid>/stat, clock ticks of 100 Hz). */
export function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
