/**
 * The CLI's line to the running daemon: HTTP over its Unix socket (mode 0660, group hark).
 * Being able to open the socket is the login — SSH decides who gets that far.
 */
import { existsSync } from 'node:fs';
import { defaultConfigPath, loadConfig } from '../config/load.ts';
import { socketPathOf } from '../control/paths.ts';

/** Exit codes, as the CLI documents them. */
export const EXIT = {
  ok: 0,
  /** The daemon refused (a bad value, an action that failed) or something went wrong. */
  failed: 1,
  /** Wrong usage, or a config file that does not validate. */
  usage: 2,
  /** No daemon to talk to. */
  notRunning: 3,
  /** The socket exists but this user may not open it. */
  permission: 4,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The socket: --socket, $HARK_SOCKET, the config's control.socket, then the usual places. */
export function findSocket(opts: { socket?: string; config?: string }): string {
  if (opts.socket) return opts.socket;
  if (process.env.HARK_SOCKET) return process.env.HARK_SOCKET;
  const cfg = opts.config ?? defaultConfigPath();
  let config;
  try {
    config = loadConfig(cfg);
  } catch {
    // An unreadable config still leaves the usual places.
  }
  if (config?.control.socket) return socketPathOf(config, cfg);
  // Under systemd the daemon's socket is in its RuntimeDirectory (/run/hark).
  if (existsSync('/run/hark/hark.sock')) return '/run/hark/hark.sock';
  return config ? socketPathOf(config, cfg) : '/run/hark/hark.sock';
}

export interface Reply {
  status: number;
  body: unknown;
  text: string;
  response: Response;
}

export class Client {
  constructor(readonly socket: string) {}

  /** One request; throws CliError for a daemon that cannot be reached. */
  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const init: RequestInit & { unix: string } = { method, unix: this.socket, headers: { ...headers } };
    if (body !== undefined) {
      if (typeof body === 'string' || body instanceof Blob) init.body = body;
      else {
        init.body = JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] = 'application/json';
      }
    }
    try {
      return await fetch(`http://localhost${path}`, init);
    } catch (e) {
      const err = e as Error & { code?: string };
      const code = err.code ?? '';
      if (code === 'EACCES' || code === 'EPERM' || /permission denied/i.test(err.message)) {
        throw new CliError(`permission denied on ${this.socket}: join group hark (sudo usermod -aG hark $USER, then log in again) or use sudo`, EXIT.permission);
      }
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'FailedToOpenSocket' || /ENOENT|ECONNREFUSED|Unable to connect|FailedToOpenSocket/i.test(`${code} ${err.message}`)) {
        throw new CliError(`hark is not running (nothing answers on ${this.socket}): sudo systemctl start hark`, EXIT.notRunning);
      }
      throw new CliError(`cannot reach hark on ${this.socket}: ${err.message}`, EXIT.notRunning);
    }
  }

  /** A request whose answer must be 2xx JSON (or text); refusals become CliError(1). */
  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const res = await this.request(method, path, body, headers);
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        // Leave it as text.
      }
    }
    if (!res.ok) {
      const e = parsed as { error?: string; field?: string };
      const msg = typeof e === 'object' && e?.error ? e.error : text.trim() || `${res.status} ${res.statusText}`;
      throw new CliError(msg, EXIT.failed);
    }
    return { status: res.status, body: parsed, text, response: res };
  }
}
