/**
 * A Bun preload (`bun --preload test/lib/loaded-modules.ts PROGRAM`) that writes, as the
 * process exits, the JSON list of every module file it loaded (Bun's `require.cache` holds the
 * ES modules too) to the file named by $HARK_LOADED_MODULES. Used to check what a command
 * pulls in (test/cli-modules.test.ts).
 */
import { writeFileSync } from 'node:fs';

const out = process.env.HARK_LOADED_MODULES;
if (out) process.on('exit', () => writeFileSync(out, JSON.stringify(Object.keys(require.cache).sort())));
