/**
 * One line per event on stdout. Under systemd (JOURNAL_STREAM set) each line starts with a
 * syslog priority prefix like `<6>`, which journald turns into the entry's priority
 * (sd-daemon(3)); on a terminal the level is written as a word instead.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const SYSLOG: Record<LogLevel, number> = { debug: 7, info: 6, warn: 4, error: 3 };
const journald = !!process.env.JOURNAL_STREAM;

let threshold: LogLevel = parseLevel(process.env.HARK_LOG_LEVEL) ?? 'info';
let envOverride = parseLevel(process.env.HARK_LOG_LEVEL) !== undefined;
const tail: string[] = [];
/** Lines kept: the diagnostic report carries them all (http/diag.ts), the log page the last few hundred. */
const TAIL_MAX = 2000;

function parseLevel(s: string | undefined): LogLevel | undefined {
  return s && s in ORDER ? (s as LogLevel) : undefined;
}

/** Set the level from config; HARK_LOG_LEVEL in the environment wins. */
export function setLogLevel(level: LogLevel): void {
  if (!envOverride) threshold = level;
}

/** For tests: ignore the environment. */
export function forceLogLevel(level: LogLevel): void {
  threshold = level;
  envOverride = true;
}

/** The last lines logged (for the admin page's log tail). */
export function logTail(): readonly string[] {
  return tail;
}

/** A logger whose lines carry a component prefix, e.g. `[icecast main]`. */
export class Logger {
  constructor(readonly prefix: string) {}

  child(sub: string): Logger {
    return new Logger(`${this.prefix} ${sub}`);
  }

  debug(msg: string): void {
    this.write('debug', msg);
  }
  info(msg: string): void {
    this.write('info', msg);
  }
  warn(msg: string): void {
    this.write('warn', msg);
  }
  error(msg: string): void {
    this.write('error', msg);
  }

  private write(level: LogLevel, msg: string): void {
    if (ORDER[level] < ORDER[threshold]) return;
    const text = `[${escapeControls(this.prefix)}] ${escapeControls(msg.replaceAll('\n', ' '))}`;
    tail.push(`${new Date().toISOString()} ${level} ${text}`);
    if (tail.length > TAIL_MAX) tail.shift();
    const line = journald ? `<${SYSLOG[level]}>${text}\n` : `${level.padEnd(5)} ${text}\n`;
    process.stdout.write(line);
  }
}

/**
 * Control characters written as text (`\x1b`, `\x00`, `\u202e`): log lines carry what
 * clients sent (titles, user agents, paths), and a terminal or `journalctl` must show them,
 * never obey them (escape sequences, carriage returns that hide a line, bidi overrides).
 */
export function escapeControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

export function logger(prefix: string): Logger {
  return new Logger(prefix);
}
