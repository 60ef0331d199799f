#!/usr/bin/env bun
/**
 * hark's daemon. `bun src/main.ts [--config FILE]`. Exit codes: 0 stopped by a signal,
 * 2 the configuration (or an argument) was refused, 1 anything else that kept it from running.
 */
import { existsSync } from 'node:fs';
import { ConfigError, defaultConfigPath, loadConfig } from './config/load.ts';
import { Hark } from './daemon.ts';
import { logger } from './log.ts';
import { enablePageOut, scheduleTrims } from './memory.ts';
import { VERSION } from './version.ts';
import { applyKeptTimezone } from './control/system.ts';

const USAGE = `usage: hark-daemon [--config FILE] [--port N]
  --config FILE  configuration (default ./data/hark.toml in a checkout, /etc/hark/hark.toml on the device)
  --port N       override http.port
  --version      print the version
  --help         this text`;

function die(code: number, msg: string): never {
  process.stderr.write(`hark: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv: string[]): { config: string; port?: number } {
  let config = defaultConfigPath();
  let port: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (name: string) => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined || v === '') die(2, `${name} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a === '--version') {
      process.stdout.write(`${VERSION}\n`);
      process.exit(0);
    } else if (a === '--config' || a.startsWith('--config=')) {
      config = value('--config');
    } else if (a === '--port' || a.startsWith('--port=')) {
      const v = value('--port');
      port = Number(v);
      if (!Number.isInteger(port) || port < 0 || port > 65535) die(2, `--port: must be an integer from 0 to 65535, got "${v}"`);
    } else {
      die(2, `unknown argument "${a}"\n${USAGE}`);
    }
  }
  return { config, port };
}

const args = parseArgs(process.argv.slice(2));
// The zone chosen on the System page, kept on the data partition (a read-only root loses /etc/localtime).
applyKeptTimezone();
let config;
try {
  config = loadConfig(args.config);
} catch (e) {
  if (e instanceof ConfigError) die(2, `configuration refused: ${e.message}`);
  throw e;
}

const log = logger('hark');
let hark: Hark;
let restarting = false;

/**
 * Restart in place (the System page, `hark restart`): close everything, read the config
 * file again and start a new daemon on the same port. Sessions, the run state and the config
 * live on disk, so nobody is logged out and a live box comes back live.
 */
async function restart(): Promise<void> {
  if (restarting) return;
  restarting = true;
  const port = hark.port;
  try {
    await hark.close();
    let next;
    try {
      next = loadConfig(args.config);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      log.error(`restart: the config file is refused (${e.message}); restarting with the running config`);
      next = hark.config;
    }
    // --port overrides the file without being written into it (port 0: keep the one bound).
    const override = args.port === undefined ? undefined : args.port === 0 ? port : args.port;
    hark = new Hark(next, { configPath: args.config, port: override, onRestart: () => void restart() });
    await hark.start();
    log.info('restarted');
    scheduleTrims();
  } catch (e) {
    log.error(`restart failed: ${(e as Error).message}; exiting (a supervisor starts hark again)`);
    process.exit(1);
  } finally {
    restarting = false;
  }
}

hark = new Hark(config, { configPath: args.config, port: args.port, onRestart: () => void restart() });
try {
  await hark.start();
} catch (e) {
  const err = e as Error & { code?: string };
  const port = args.port ?? config.http.port;
  if (err.code === 'EADDRINUSE' && port !== 0) die(1, `port ${port} is already in use (another hark, or another program, listens there): stop it, or choose another http.port or --port`);
  die(1, `could not start: ${err.message}`);
}
log.info(`config ${args.config}${existsSync(args.config) ? '' : ' (not found: using defaults)'}`);
// Give back what starting up used once it is over (src/memory.ts).
enablePageOut();
scheduleTrims();

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    log.info(`${sig}: shutting down`);
    await hark.close();
    process.exit(0);
  });
}
