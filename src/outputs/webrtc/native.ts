/**
 * node-datachannel (libdatachannel, its TLS and SCTP stacks) is loaded at the first WHEP offer,
 * not at start: the addon alone costs a few MB of RSS that an idle box with no listener never
 * needs (bench/idle-rss.ts). Once loaded it stays (a native addon cannot be unloaded).
 * probeNative() checks at start, in a short-lived child process, that the addon loads, so a
 * broken install still shows in the status at once rather than at the first listener.
 */
import type * as Nd from 'node-datachannel';

export interface NativeRtc {
  nd: typeof Nd.default;
  session: typeof import('./session.ts');
}

let loading: Promise<NativeRtc> | undefined;

/** The addon and the session module built on it; the same promise for every caller. */
export function loadNative(): Promise<NativeRtc> {
  loading ??= Promise.all([import('node-datachannel'), import('./session.ts')]).then(([m, session]) => ({ nd: m.default, session }));
  return loading;
}

/** Whether node-datachannel loads, tried in a child process: null if it does, else why not. */
export async function probeNative(): Promise<string | null> {
  let path: string;
  try {
    path = Bun.resolveSync('node-datachannel', import.meta.dir);
  } catch (e) {
    return `node-datachannel is not installed (${(e as Error).message})`;
  }
  const code = 'try { require(process.env.HARK_ND_PATH) } catch (e) { process.stderr.write(String(e?.message ?? e)); process.exit(1) }';
  const child = Bun.spawn([process.execPath, '-e', code], {
    env: { ...process.env, HARK_ND_PATH: path },
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
  });
  const [exit, err] = await Promise.all([child.exited, new Response(child.stderr).text()]);
  if (exit === 0) return null;
  return `node-datachannel cannot be loaded: ${err.trim().slice(0, 600) || `exit code ${exit}`}`;
}
