/**
 * One HTTP/1.1 request over a fresh TCP connection from a chosen local address (Linux routes
 * all of 127.0.0.0/8 to loopback, so 127.0.0.2, 127.0.0.3 … are distinct clients to the
 * server). Connection: close; the answer is read to the end (bounded by `timeoutMs`).
 */
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  setCookies: string[];
  body: string;
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', i);
    if (eol < 0) break;
    const n = parseInt(b.subarray(i, eol).toString('latin1'), 16);
    if (!n) break;
    out.push(b.subarray(eol + 2, eol + 2 + n));
    i = eol + 2 + n + 2;
  }
  return Buffer.concat(out);
}

export function rawRequest(
  o: { host?: string; port: number; localAddress: string; method: string; path: string; headers?: Record<string, string>; body?: string },
  timeoutMs = 60_000,
): Promise<RawResponse> {
  const host = o.host ?? '127.0.0.1';
  const body = Buffer.from(o.body ?? '');
  const head = [`${o.method} ${o.path} HTTP/1.1`, `Host: ${host}:${o.port}`, 'Connection: close', ...(body.length || o.method === 'POST' ? [`Content-Length: ${body.length}`] : [])];
  for (const [k, v] of Object.entries(o.headers ?? {})) head.push(`${k}: ${v}`);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host, port: o.port, localAddress: o.localAddress });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`${o.method} ${o.path} from ${o.localAddress}: no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), body])));
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`${o.method} ${o.path} from ${o.localAddress}: the connection closed without an answer`));
      const lines = all.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0]!.split(' ')[1]);
      const headers: Record<string, string> = {};
      const setCookies: string[] = [];
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        const k = l.slice(0, i).trim().toLowerCase();
        const v = l.slice(i + 1).trim();
        if (k === 'set-cookie') setCookies.push(v);
        headers[k] = v;
      }
      let rest: Buffer = all.subarray(end + 4);
      if ((headers['transfer-encoding'] ?? '').includes('chunked')) rest = dechunk(rest);
      resolve({ status, headers, setCookies, body: rest.toString('utf8') });
    });
  });
}
