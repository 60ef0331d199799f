/** Where hark keeps its own files and its socket (a light module: the CLI imports it). */
import { dirname, join, resolve } from 'node:path';
import type { Config } from '../config/schema.ts';

/** The directory hark keeps state.json and auth.json in. */
export function stateDirOf(config: Config, configPath: string | undefined): string {
  if (config.control.state_dir) return resolve(config.control.state_dir);
  return configPath ? dirname(resolve(configPath)) : process.cwd();
}

/** Where the CLI's socket is: control.socket, else $RUNTIME_DIRECTORY (systemd), else state_dir. */
export function socketPathOf(config: Config, configPath: string | undefined): string {
  if (config.control.socket) return resolve(config.control.socket);
  const rt = process.env.RUNTIME_DIRECTORY?.split(':')[0];
  if (rt) return join(rt, 'hark.sock');
  return join(stateDirOf(config, configPath), 'hark.sock');
}


/** Left in hark's state directory by a factory reset (src/system/factory-reset.ts), read by SetupCode. */
export const FACTORY_RESET_MARK = 'factory-reset.json';
