/**
 * "Test the connection" for an [[icecast]] entry: one source handshake with its credentials
 * and mount (PUT, then SOURCE for servers that do not know PUT), closed at once. It says what
 * the live output would meet: refused, unreachable, wrong password, mount taken, or fine.
 */
import type { Config } from '../../config/schema.ts';
import { DEFAULT_CONNECT, SourceConnection } from '../../outputs/icecast/connection.ts';
import { IcecastError } from '../../outputs/icecast/protocol.ts';
import { resolveTarget } from '../../config/icecast-target.ts';
import { VERSION } from '../../version.ts';

export async function testIcecast(e: Config['icecast'][number]): Promise<{ ok: boolean; message: string }> {
  let target;
  try {
    target = resolveTarget(e);
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
  const info = {
    name: e.name,
    description: e.description,
    genre: e.genre,
    url: e.website,
    public: false,
    format: e.format,
    bitrateKbps: e.bitrate_kbps,
    channels: 2,
    sampleRate: 48_000,
  };
  const opts = { ...DEFAULT_CONNECT, userAgent: `hark/${VERSION} (connection test)` };
  for (const method of ['PUT', 'SOURCE'] as const) {
    try {
      const c = await SourceConnection.open(target, method, info, opts);
      c.close();
      const secure = !target.tls ? '' : target.tls.verify ? ' over a secure connection' : " over an encrypted connection, but without checking the server's certificate";
      return { ok: true, message: `Connected to ${target.host}:${target.port}${target.mount}${secure}: the server accepted the user, password and mount.` };
    } catch (err) {
      if (err instanceof IcecastError && err.kind === 'method' && method === 'PUT') continue;
      return { ok: false, message: `${target.host}:${target.port}${target.mount}: ${(err as Error).message}` };
    }
  }
  return { ok: false, message: 'the server accepts neither PUT nor SOURCE' };
}
