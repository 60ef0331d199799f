#!/usr/bin/env bun
/**
 * `hark`: control the running daemon over SSH (its Unix socket), and check or prepare config
 * files without one. `hark help` lists the commands; exit codes: 0 ok, 1 refused or failed,
 * 2 wrong usage or an invalid config, 3 hark is not running, 4 no permission on the socket.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'smol-toml';
import { ConfigError, loadConfig, parseConfig } from '../config/load.ts';
import { getPath } from '../config/store.ts';
import { Auth, PasswordError, SCOPES, checkPasswordRules, isScope } from '../control/auth.ts';
import { stateDirOf } from '../control/paths.ts';
import { VERSION } from '../version.ts';
import { CliError, Client, EXIT, findSocket } from './client.ts';
import type { OutputStatus } from '../outputs/link.ts';

export const USAGE = `usage: hark [--socket PATH] [--config FILE] COMMAND

  status [--json]             state, input, levels, outputs and alerts
  live | stop                 start or stop Icecast, WHIP and recording
  mute | unmute               silence every output (the meters keep showing the input)
  mute | unmute PROGRAM       silence one program alone (a [[program]] id, e.g. es)
  record [start|stop]         record now, on air or not (on|off too; recording.max_minutes
                              stops it by itself), or stop recording
  mark [LABEL]                put a mark in the log
  metadata TITLE              set the title listeners see
  devices [--json]            PipeWire capture devices (* default, > in use)
  input NODE                  capture from NODE (a node.name from \`hark devices\`; "" = default)
  listeners [--json]          who is listening
  config get [KEY] [--json]   the running config, or one key (e.g. icecast.0.port)
  config set KEY VALUE ...    change keys; applied at once where possible
  config edit                 edit the config file in $VISUAL/$EDITOR; refused edits reopen
  config check FILE           validate a file without a daemon (exit 2 naming the key)
  logs [-f] [-n N]            the log tail; -f follows
  passwd [--stdin] [--revoke-tokens]   set the admin password (--config FILE: without a daemon);
                              every browser is logged out; --revoke-tokens also revokes every API token
  token create [--scope read|control|admin] NAME | list | revoke ID
                              API tokens for /api/* (Authorization: Bearer); scope: read = status
                              and metrics, control = also the actions and the title, admin
                              (default) = everything but the password
  diag [FILE | -]             save the diagnostic report to send to whoever helps (versions, the box,
                              status, devices, the settings without secrets, the last 2,000 log
                              lines); default FILE: hark-diag-<host>-<time>.txt here; - prints it
  backup [FILE | -] [--stdin] save a backup: settings, password, API tokens, last state, the box's
                              certificate authority (no recordings); asks for a passphrase to lock
                              it (--stdin reads it); default FILE: hark-backup-<host>-<time>.json here
  restore FILE [--stdin]      put a backup back (asks for its passphrase when locked); hark restarts
  update FILE [--allow-downgrade]   install a signed hark release (hark-<version>-arm64.hark); hark
                              restarts into it, and goes back by itself if it does not serve in 90 s
  restart                     restart hark in place
  system readonly on|off|status           the read-only root (the image's script)
  system upgrade [--check]    install Debian's own updates (security fixes; with the read-only root
                              too), or only count them (--check); needs sudo
  version

The daemon's socket: --socket, $HARK_SOCKET, control.socket in --config, /run/hark/hark.sock.
Exit codes: 0 ok, 1 refused or failed, 2 usage or invalid config, 3 hark not running, 4 permission.`;

interface Opts {
  socket?: string;
  config?: string;
  json: boolean;
  follow: boolean;
  stdin: boolean;
  allowDowngrade: boolean;
  lines?: number;
  rest: string[];
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { json: false, follow: false, stdin: false, allowDowngrade: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (name: string) => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new CliError(`${name} needs a value`, EXIT.usage);
      return v;
    };
    if (a === '--') {
      o.rest.push(...argv.slice(i + 1));
      break;
    } else if (a === '--socket' || a.startsWith('--socket=')) o.socket = value('--socket');
    else if (a === '--config' || a.startsWith('--config=')) o.config = value('--config');
    else if (a === '--json') o.json = true;
    else if (a === '-f' || a === '--follow') o.follow = true;
    else if (a === '--stdin') o.stdin = true;
    else if (a === '--allow-downgrade') o.allowDowngrade = true;
    else if (a === '-n' || a.startsWith('-n=') || a === '--lines' || a.startsWith('--lines=')) {
      const n = Number(value('-n'));
      if (!Number.isInteger(n) || n < 1) throw new CliError('-n: a positive number of lines', EXIT.usage);
      o.lines = n;
    } else if (a === '-h' || a === '--help') o.rest.unshift('help');
    else o.rest.push(a);
  }
  return o;
}

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
const err = (s: string) => process.stderr.write(`hark: ${s}\n`);

function need(args: string[], n: number, usage: string): void {
  if (args.length < n) throw new CliError(`usage: hark ${usage}`, EXIT.usage);
}

// ---- formatting ------------------------------------------------------------------------

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows.map((r) => r.map((x, c) => (c === r.length - 1 ? x : pad(x, widths[c]! + 2))).join('').trimEnd()).join('\n');
}

function duration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

interface Status {
  version: string;
  control?: { state: string; title: string };
  uptime_s: number;
  input: { source: string; state: string; message: string; device: string; format: { rate: number; channels: number } };
  levels: { peak_dbfs: number[]; rms_dbfs: number[] };
  programs?: { id: string; name: string; muted: boolean; main: boolean; levels: { post: { peak_dbfs: number[] } }; listeners: { webrtc: number; stream_mp3: number } }[];
  alerts: { id: string; severity: string; message: string }[];
  outputs: Record<string, unknown>;
  output_list?: OutputStatus[];
  update?: { running_from: string; trial?: string; last?: { at: string; outcome: string; message: string } };
}

function formatStatus(s: Status): string {
  const lines: string[] = [];
  const state = s.control?.state ?? '?';
  lines.push(`hark ${s.version}: ${state.toUpperCase()}${s.control?.title ? ` — "${s.control.title}"` : ''} (up ${duration(s.uptime_s)})`);
  lines.push(`input     ${s.input.source} ${s.input.state}${s.input.message ? `: ${s.input.message}` : ''}${s.input.device ? ` [${s.input.device}]` : ''}`);
  const names = s.levels.peak_dbfs.length === 1 ? ['M'] : ['L', 'R', '3', '4', '5', '6', '7', '8'];
  lines.push(`levels    ${s.levels.peak_dbfs.map((p, i) => `${names[i]} ${p <= -119 ? '-inf' : p.toFixed(1)}`).join('  ')} dBFS peak`);
  // Programs, when there are [[program]] entries (one, main, is the input above).
  const progs = s.programs ?? [];
  if (progs.length > 1 || (progs[0] && progs[0].id !== 'main')) {
    lines.push('programs');
    lines.push(
      table(
        progs.map((p) => [
          `${p.id}${p.main ? ' (main)' : ''}`,
          p.muted ? 'MUTED' : `${Math.max(...p.levels.post.peak_dbfs).toFixed(1)} dBFS peak`,
          `${p.listeners.webrtc + p.listeners.stream_mp3} listening`,
          p.name,
        ]),
      )
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  const rows: string[][] = [];
  for (const o of s.output_list ?? []) {
    const detail = o.detail !== o.state ? o.detail : '';
    // An output that connects somewhere says where; the others what they are doing.
    const text = o.connects !== undefined ? `${o.where}${detail ? `: ${detail}` : ''}` : detail;
    rows.push([o.kind === 'http_mp3' ? 'stream.mp3' : o.id ? `${o.kind} ${o.id}` : o.kind, o.state, text]);
  }
  lines.push('outputs');
  lines.push(
    table(rows)
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n'),
  );
  lines.push(`alerts    ${s.alerts.length ? s.alerts.map((a) => `${a.id}: ${a.message}`).join('; ') : 'none'}`);
  const u = s.update;
  if (u?.trial) lines.push(`update    ${u.trial} on trial: confirmed once it serves (or rolled back within 90 s)`);
  else if (u?.last) lines.push(`update    ${u.last.outcome === 'rolled-back' ? 'ROLLED BACK: ' : u.last.outcome === 'interrupted' ? 'NOT INSTALLED: ' : ''}${u.last.message} (${u.last.at.slice(0, 16).replace('T', ' ')} UTC)`);
  return lines.join('\n');
}

function formatValue(key: string, v: unknown): string {
  if (v === null || typeof v !== 'object') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object')) return JSON.stringify(v);
  if (!key) return stringify(v as never);
  // An entry of an array of tables (icecast.0) has no header of its own: its keys, labelled.
  if (/\.\d+$/.test(key)) return `# ${key}\n${stringify(v as never)}`;
  return stringify(key.split('.').reduceRight<unknown>((acc, part) => ({ [part]: acc }), v) as never);
}

function saveSummary(r: { changed: string[]; applied: string[]; restart_required: string[]; comments_preserved: boolean }): string {
  if (!r.changed.length) return 'no change';
  const parts = [`saved: ${r.changed.join(', ')}`];
  if (r.restart_required.length) parts.push(`takes effect after \`hark restart\`: ${r.restart_required.join(', ')}`);
  else parts.push('applied');
  if (!r.comments_preserved) parts.push('(the file was rewritten; comments were not kept)');
  return parts.join('; ');
}

// ---- password input --------------------------------------------------------------------

async function readLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    chunks.push(Buffer.from(c));
    if (Buffer.concat(chunks).includes(10)) break;
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** Read a password from the terminal without echoing it. */
async function promptHidden(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) throw new CliError('no terminal to ask for the password: use --stdin', EXIT.usage);
  process.stderr.write(prompt);
  process.stdin.setRawMode(true);
  process.stdin.resume();
  let s = '';
  try {
    for await (const chunk of process.stdin) {
      for (const ch of Buffer.from(chunk).toString('utf8')) {
        if (ch === '\r' || ch === '\n') return s;
        if (ch === '\u0003') throw new CliError('cancelled', EXIT.failed);
        if (ch === '\u007f' || ch === '\b') s = s.slice(0, -1);
        else s += ch;
      }
    }
    return s;
  } finally {
    process.stdin.setRawMode(false);
    process.stdin.pause();
    process.stderr.write('\n');
  }
}

async function newPassword(o: Opts): Promise<string> {
  if (o.stdin) return readLine();
  const a = await promptHidden('New admin password: ');
  checkPasswordRules(a);
  const b = await promptHidden('Again: ');
  if (a !== b) throw new CliError('the two passwords differ; nothing changed', EXIT.failed);
  return a;
}

/** A refusal from the daemon: its message, and the field it names. */
async function refusal(res: Response): Promise<{ error: string; field?: string }> {
  const text = await res.text();
  try {
    const j = JSON.parse(text) as { error?: string; field?: string };
    return { error: j.error ?? text, field: j.field };
  } catch {
    return { error: text };
  }
}

/** `hark backup`: the passphrase from --stdin, or asked twice on a terminal (empty: none). */
async function backup(o: Opts, args: string[], client: () => Client): Promise<number> {
  if (args.length > 1) throw new CliError('usage: hark backup [FILE | -] [--stdin]', EXIT.usage);
  let passphrase: string | undefined;
  if (o.stdin) passphrase = await readLine();
  else if (process.stdin.isTTY) {
    passphrase = await promptHidden('Passphrase to lock the backup with (at least 8 characters; you need it to restore): ');
    if (passphrase && passphrase !== (await promptHidden('Again: '))) throw new CliError('the two passphrases differ; no backup made', EXIT.failed);
  }
  const res = await client().request('POST', '/api/backup', passphrase ? { passphrase } : {});
  if (!res.ok) {
    const r = await refusal(res);
    const hint = r.field === 'passphrase' && !passphrase ? ' (run it in a terminal to be asked, or give it with --stdin)' : '';
    throw new CliError(`${r.error}${hint}`, EXIT.failed);
  }
  const saved = await saveDownload(res, args[0], 'hark-backup.json');
  if (saved) out(`saved the backup to ${saved.file}${passphrase ? ', locked with your passphrase' : ''}. Keep it somewhere other than this box.`);
  return EXIT.ok;
}

/**
 * A file the daemon sends (a backup, the diagnostic report): printed for `-`, else written 0600
 * to `arg` or, without one, here under the name the daemon gives. Returns where, or null when printed.
 */
async function saveDownload(res: Response, arg: string | undefined, fallback: string): Promise<{ file: string; bytes: number } | null> {
  const text = await res.text();
  if (arg === '-') {
    process.stdout.write(text);
    return null;
  }
  const named = res.headers.get('content-disposition')?.match(/filename="([^"/]+)"/)?.[1] ?? fallback;
  const file = resolve(arg ?? named);
  try {
    writeFileSync(file, text, { mode: 0o600 });
  } catch (e) {
    throw new CliError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.failed);
  }
  return { file, bytes: text.length };
}

/** `hark restore FILE`: asks for the passphrase on a terminal when the file is locked. */
async function restore(o: Opts, args: string[], client: () => Client): Promise<number> {
  if (args.length !== 1) throw new CliError('usage: hark restore FILE [--stdin]', EXIT.usage);
  const file = resolve(args[0]!);
  let text: string;
  try {
    if (statSync(file).size > 512 * 1024) throw new CliError(`${file} is not a hark backup: it is larger than 512 kB`, EXIT.failed);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.failed);
  }
  let passphrase: string | undefined;
  if (o.stdin) passphrase = await readLine();
  else if (/"encrypted":\s*true/.test(text) && process.stdin.isTTY) passphrase = await promptHidden('Passphrase of the backup: ');
  const res = await client().request('POST', '/api/restore', passphrase ? { backup: text, passphrase } : { backup: text });
  if (!res.ok) {
    const r = await refusal(res);
    const hint = r.field === 'passphrase' && !passphrase ? ' (run it in a terminal to be asked, or give it with --stdin)' : '';
    throw new CliError(`${r.error}${hint}; nothing changed`, EXIT.failed);
  }
  out(((await res.json()) as { message: string }).message);
  return EXIT.ok;
}

/** `hark update FILE`: the release streamed to the daemon, which checks and installs it. */
async function update(o: Opts, args: string[], client: () => Client): Promise<number> {
  if (args.length !== 1) throw new CliError('usage: hark update FILE [--allow-downgrade]', EXIT.usage);
  const file = resolve(args[0]!);
  try {
    if (!statSync(file).isFile()) throw new CliError(`${file} is not a file`, EXIT.failed);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.failed);
  }
  out(`sending ${file} to hark (${Math.round(statSync(file).size / 1048576)} MB); checking and unpacking it takes a minute`);
  const res = await client().request('POST', `/api/update${o.allowDowngrade ? '?allow_downgrade=1' : ''}`, Bun.file(file), { 'content-type': 'application/octet-stream' });
  if (!res.ok) {
    const r = await refusal(res);
    const hint = r.field === 'version' && /older/.test(r.error) ? ' (add --allow-downgrade to install it anyway)' : '';
    throw new CliError(`${r.error}${hint}`, EXIT.failed);
  }
  out(((await res.json()) as { message: string }).message);
  out('`hark status` shows whether it was kept.');
  return EXIT.ok;
}

// ---- commands --------------------------------------------------------------------------

async function run(o: Opts): Promise<number> {
  const [cmd, ...args] = o.rest;
  const client = () => new Client(findSocket(o));

  switch (cmd) {
    case undefined:
    case 'help':
      out(USAGE);
      return cmd === undefined ? EXIT.usage : EXIT.ok;
    case 'version':
      out(VERSION);
      return EXIT.ok;

    case 'status': {
      const r = await client().call('GET', '/api/status');
      out(o.json ? JSON.stringify(r.body, null, 2) : formatStatus(r.body as Status));
      return EXIT.ok;
    }
    case 'live':
    case 'stop':
    case 'mute':
    case 'unmute': {
      const program = args[0];
      if (program !== undefined) {
        if (cmd !== 'mute' && cmd !== 'unmute') throw new CliError(`usage: hark ${cmd} (it takes no program)`, EXIT.usage);
        if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(program)) throw new CliError(`not a program id: ${JSON.stringify(program.slice(0, 40))} (lower-case letters, digits, - and _; \`hark status\` lists the programs)`, EXIT.usage);
        const r = await client().call('POST', `/api/actions/${cmd}`, { program });
        out((r.body as { message: string }).message);
        return EXIT.ok;
      }
      const r = await client().call('POST', `/api/${cmd}`);
      const b = r.body as { state: string; message: string };
      out(`${b.message} (now ${b.state})`);
      return EXIT.ok;
    }
    case 'record': {
      const how = args[0] ?? 'start';
      const on = how === 'on' || how === 'start';
      if (!on && how !== 'off' && how !== 'stop') throw new CliError('usage: hark record [start|stop]', EXIT.usage);
      const r = await client().call('POST', `/api/actions/${on ? 'record' : 'stop_recording'}`);
      out((r.body as { message: string }).message);
      return EXIT.ok;
    }
    case 'mark': {
      const r = await client().call('POST', '/api/mark', { label: args.join(' ') });
      out((r.body as { message: string }).message);
      return EXIT.ok;
    }
    case 'metadata': {
      need(args, 1, 'metadata TITLE');
      const r = await client().call('POST', '/api/metadata', { title: args.join(' ') });
      out(`title "${(r.body as { title: string }).title}"`);
      return EXIT.ok;
    }
    case 'devices': {
      const r = await client().call('GET', '/api/devices');
      const b = r.body as { devices: { name: string; description: string; kind: string; channels: number | null; isDefault: boolean }[]; error: string };
      if (o.json) {
        out(JSON.stringify(b, null, 2));
        return EXIT.ok;
      }
      if (b.error) err(`PipeWire: ${b.error}`);
      const cur = ((await client().call('GET', '/api/config')).body as { input: { device: string } }).input.device;
      if (!b.devices.length) out('no capture devices');
      else out(table([['', 'NODE', 'CH', 'DESCRIPTION'], ...b.devices.map((d) => [`${d.name === cur ? '>' : ' '}${d.isDefault ? '*' : ' '}`, d.name, String(d.channels ?? '?'), `${d.description}${d.kind === 'monitor' ? ' (monitor)' : ''}`])]));
      return b.error && !b.devices.length ? EXIT.failed : EXIT.ok;
    }
    case 'input': {
      need(args, 1, 'input NODE   (see `hark devices`; "" for the default source)');
      const r = await client().call('POST', '/api/input', { device: args[0] });
      out((r.body as { message: string }).message);
      return EXIT.ok;
    }
    case 'listeners': {
      const r = await client().call('GET', '/api/listeners');
      const b = r.body as { webrtc?: { id: string; remote: string; codec: string; state: string; user_agent: string }[]; stream_mp3?: { id: number; remote: string; userAgent: string; bytes: number }[] };
      if (o.json) {
        out(JSON.stringify(b, null, 2));
        return EXIT.ok;
      }
      const rows = [
        ...(b.stream_mp3 ?? []).map((l) => ['mp3', l.remote, `${Math.round(l.bytes / 1024)} kB`, l.userAgent]),
        ...(b.webrtc ?? []).map((l) => [`webrtc ${l.codec}`, l.remote, l.state, l.user_agent]),
      ];
      out(rows.length ? table([['VIA', 'FROM', 'STATE', 'PLAYER'], ...rows]) : 'nobody is listening');
      return EXIT.ok;
    }
    case 'config':
      return config(o, args, client);
    case 'logs': {
      const c = client();
      const res = await c.request('GET', `/api/logs?lines=${o.lines ?? 50}${o.follow ? '&follow=1' : ''}`);
      if (!res.ok) throw new CliError(`${res.status}: ${await res.text()}`, EXIT.failed);
      for await (const chunk of res.body!) process.stdout.write(chunk);
      return EXIT.ok;
    }
    case 'passwd':
      return passwd(o, client);
    case 'token': {
      const [sub, arg] = args;
      if (sub === 'create') {
        const words = args.slice(1);
        let scope = 'admin';
        const i = words.findIndex((w) => w === '--scope' || w.startsWith('--scope='));
        if (i >= 0) {
          const w = words[i]!;
          const v = w.includes('=') ? w.slice(w.indexOf('=') + 1) : words[i + 1];
          words.splice(i, w.includes('=') ? 1 : 2);
          if (!isScope(v)) throw new CliError(`--scope: one of ${SCOPES.join(', ')}`, EXIT.usage);
          scope = v;
        }
        if (!words.length) throw new CliError('usage: hark token create [--scope read|control|admin] NAME', EXIT.usage);
        const r = await client().call('POST', '/api/tokens', { name: words.join(' '), scope });
        const b = r.body as { id: string; token: string; scope: string };
        out(b.token);
        process.stderr.write(`token ${b.id} (${b.scope}) created; it is shown only this once\n`);
        return EXIT.ok;
      }
      if (sub === 'list') {
        const r = await client().call('GET', '/api/tokens');
        const list = r.body as { id: string; name: string; created: string; scope: string }[];
        out(list.length ? table([['ID', 'SCOPE', 'NAME', 'CREATED'], ...list.map((t) => [t.id, t.scope, t.name, t.created])]) : 'no API tokens');
        return EXIT.ok;
      }
      if (sub === 'revoke' && arg) {
        await client().call('DELETE', `/api/tokens/${encodeURIComponent(arg)}`);
        out(`token ${arg} revoked`);
        return EXIT.ok;
      }
      throw new CliError('usage: hark token create [--scope read|control|admin] NAME | list | revoke ID', EXIT.usage);
    }
    case 'diag': {
      if (args.length > 1) throw new CliError('usage: hark diag [FILE | -]', EXIT.usage);
      const res = await client().request('GET', '/api/diag');
      if (!res.ok) throw new CliError(`${res.status}: ${await res.text()}`, EXIT.failed);
      const saved = await saveDownload(res, args[0], 'hark-diag.txt');
      if (saved) out(`saved the diagnostic report to ${saved.file} (${Math.ceil(saved.bytes / 1024)} kB): it holds no password, token or key; read it before you send it`);
      return EXIT.ok;
    }
    case 'backup':
      return backup(o, args, client);
    case 'restore':
      return restore(o, args, client);
    case 'update':
      return update(o, args, client);
    case 'restart': {
      await client().call('POST', '/api/restart');
      out('restarting');
      return EXIT.ok;
    }
    case 'system':
      return system(args);
    default:
      throw new CliError(`unknown command "${cmd}" (hark help lists them)`, EXIT.usage);
  }
}

async function config(o: Opts, args: string[], client: () => Client): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'check': {
      need(rest, 1, 'config check FILE');
      const file = rest[0]!;
      if (!existsSync(file)) throw new CliError(`${file}: no such file`, EXIT.usage);
      try {
        parseConfig(readFileSync(file, 'utf8'), file);
      } catch (e) {
        if (e instanceof ConfigError) throw new CliError(e.message, EXIT.usage);
        throw new CliError(`${file}: ${(e as Error).message}`, EXIT.usage);
      }
      out(`${file}: ok`);
      return EXIT.ok;
    }
    case 'get': {
      const r = await client().call('GET', '/api/config');
      const key = rest[0] ?? '';
      const v = getPath(r.body, key);
      if (v === undefined) throw new CliError(`${key}: unknown key`, EXIT.failed);
      out(o.json ? JSON.stringify(v, null, 2) : formatValue(key, v));
      return EXIT.ok;
    }
    case 'set': {
      if (rest.length < 2 || rest.length % 2) throw new CliError('usage: hark config set KEY VALUE [KEY VALUE …]', EXIT.usage);
      const entries: Record<string, string> = {};
      for (let i = 0; i < rest.length; i += 2) entries[rest[i]!] = rest[i + 1]!;
      const r = await client().call('PATCH', '/api/config', entries);
      out(saveSummary(r.body as never));
      return EXIT.ok;
    }
    case 'edit': {
      const c = client();
      const current = (await c.call('GET', '/api/config/text')).text;
      const dir = mkdtempSync(join(tmpdir(), 'hark-edit-'));
      const file = join(dir, 'hark.toml');
      writeFileSync(file, current, { mode: 0o600 });
      const editor = process.env.VISUAL || process.env.EDITOR || 'vi';
      try {
        for (;;) {
          const p = Bun.spawnSync(['sh', '-c', `${editor} "$1"`, 'editor', file], { stdio: ['inherit', 'inherit', 'inherit'] });
          if (p.exitCode !== 0) throw new CliError(`${editor} exited with ${p.exitCode}; nothing saved`, EXIT.failed);
          const text = readFileSync(file, 'utf8');
          if (text === current) {
            out('no change');
            return EXIT.ok;
          }
          const res = await c.request('PUT', '/api/config', text, { 'content-type': 'application/toml' });
          const body = (await res.json().catch(() => ({}))) as { error?: string };
          if (res.ok) {
            out(saveSummary(body as never));
            return EXIT.ok;
          }
          err(`refused: ${body.error ?? res.status}`);
          if (!process.stdin.isTTY) {
            err(`your edit is kept in ${file}`);
            return EXIT.failed;
          }
          process.stderr.write('Edit again? [Y/n] ');
          const a = (await readLine()).trim().toLowerCase();
          if (a === 'n' || a === 'no') {
            err(`nothing saved; your edit is kept in ${file}`);
            return EXIT.failed;
          }
        }
      } finally {
        if (existsSync(file) && readFileSync(file, 'utf8') === current) rmSync(dir, { recursive: true, force: true });
      }
    }
    default:
      throw new CliError('usage: hark config get [KEY] | set KEY VALUE … | edit | check FILE', EXIT.usage);
  }
}

/**
 * `hark passwd`: through the daemon, or — with --config FILE, or when no daemon runs — by
 * writing auth.json beside the config (the image's first boot does `--stdin --config`).
 */
async function passwd(o: Opts, client: () => Client): Promise<number> {
  const pw = await newPassword(o);
  try {
    checkPasswordRules(pw);
  } catch (e) {
    throw new CliError((e as PasswordError).message, EXIT.failed);
  }
  const revokeTokens = o.rest.includes('--revoke-tokens');
  if (!o.config) {
    try {
      const r = await client().call('POST', '/api/password', { password: pw, ...(revokeTokens ? { revoke_tokens: true } : {}) });
      const n = (r.body as { revoked_tokens?: number }).revoked_tokens ?? 0;
      out(`admin password set; every browser session has ended${revokeTokens ? `; ${n} API token${n === 1 ? '' : 's'} revoked` : ''}`);
      return EXIT.ok;
    } catch (e) {
      if (!(e instanceof CliError) || e.code !== EXIT.notRunning) throw e;
      err('hark is not running: writing the password file directly');
    }
  }
  const file = resolve(o.config ?? (await import('../config/load.ts')).defaultConfigPath());
  let cfg;
  try {
    cfg = loadConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(e.message, EXIT.usage);
    throw e;
  }
  const auth = new Auth(join(stateDirOf(cfg, file), 'auth.json'));
  const { revoked } = await auth.setPassword(pw, { revokeTokens });
  out(`admin password set (${auth.file})${revokeTokens ? `; ${revoked} API token${revoked === 1 ? '' : 's'} revoked` : ''}`);
  return EXIT.ok;
}

/** `hark system readonly …` and `hark system upgrade` are the image's scripts; the CLI only hands over to them. */
function system(args: string[]): number {
  const [what, ...rest] = args;
  if (what === 'upgrade') {
    if (rest.length > 1 || (rest[0] !== undefined && rest[0] !== '--check')) throw new CliError('usage: hark system upgrade [--check]', EXIT.usage);
    const script = process.env.HARK_UPGRADE_HOOK ?? '/usr/lib/hark/system-upgrade';
    if (!existsSync(script)) throw new CliError(`${script} is not installed (it comes with the hark image)`, 69);
    const p = Bun.spawnSync([script, rest[0] === '--check' ? 'check' : 'run'], { stdio: ['inherit', 'inherit', 'inherit'] });
    return p.exitCode ?? EXIT.failed;
  }
  if (what !== 'readonly') throw new CliError('usage: hark system readonly on|off|status | hark system upgrade [--check]', EXIT.usage);
  const hook = process.env.HARK_READONLY_HOOK ?? '/usr/lib/hark/readonly';
  if (!existsSync(hook)) throw new CliError(`${hook} is not installed (it comes with the hark image)`, 69);
  const p = Bun.spawnSync([hook, ...rest], { stdio: ['inherit', 'inherit', 'inherit'] });
  return p.exitCode ?? EXIT.failed;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await run(parseArgs(process.argv.slice(2)));
  } catch (e) {
    if (e instanceof CliError) {
      err(e.message);
      code = e.code;
    } else if (e instanceof PasswordError) {
      err(e.message);
      code = EXIT.failed;
    } else {
      err((e as Error).stack ?? String(e));
      code = EXIT.failed;
    }
  }
  process.exit(code);
}
