/**
 * SourceConnection against misbehaving servers on 127.0.0.1: one that never answers (connect
 * timeout), one that closes its side after accepting (half-close), one that stops reading
 * (write timeout), one that does not know PUT; and the protocol helpers.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import type { TCPSocketListener } from 'bun';
import { SourceConnection, DEFAULT_CONNECT } from './connection.ts';
import { classifyResponse, IcecastError, parseResponseHead, sourceRequest, type StreamInfo } from './protocol.ts';
import { resolveTarget } from '../../config/icecast-target.ts';

const info: StreamInfo = { name: 'n\r\nX-Evil: 1', description: 'd', genre: 'g', url: 'u', public: true, format: 'mp3', bitrateKbps: 128, channels: 2, sampleRate: 48000 };
let servers: TCPSocketListener<unknown>[] = [];
afterEach(() => {
  for (const s of servers) s.stop(true);
  servers = [];
});

/** A server that runs `onRequest` once it has the request head. */
function server(onRequest: (s: import('bun').Socket<unknown>, head: string) => void) {
  const heads = new Map<unknown, string>();
  const srv = Bun.listen({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      data(s, d) {
        const prev = heads.get(s) ?? '';
        if (prev.includes('\r\n\r\n')) return;
        const cur = prev + Buffer.from(d).toString('latin1');
        heads.set(s, cur);
        if (cur.includes('\r\n\r\n')) onRequest(s, cur);
      },
    },
  });
  servers.push(srv);
  return { host: '127.0.0.1', port: srv.port, mount: '/m.mp3', user: 'source', password: 'pw' };
}

async function failure(p: Promise<unknown>): Promise<IcecastError> {
  try {
    await p;
  } catch (e) {
    return e as IcecastError;
  }
  throw new Error('expected a failure');
}

describe('SourceConnection', () => {
  test('a server that accepts and never answers: connect timeout, never stuck', async () => {
    const t = server(() => {});
    const t0 = performance.now();
    const err = await failure(SourceConnection.open(t, 'PUT', info, { ...DEFAULT_CONNECT, connectTimeoutMs: 700 }));
    expect(err.kind).toBe('timeout');
    expect(err.message).toContain('no answer');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(650);
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  test('PUT with Basic auth and sanitised ice-* headers; 200 then streaming', async () => {
    let head = '';
    const got: Uint8Array[] = [];
    const t = server((s, h) => {
      head = h;
      s.write('HTTP/1.0 200 OK\r\n\r\n');
    });
    const c = await SourceConnection.open(t, 'PUT', info);
    expect(head).toStartWith('PUT /m.mp3 HTTP/1.1\r\n');
    expect(head).toContain(`Authorization: Basic ${btoa('source:pw')}\r\n`);
    expect(head).toContain('Content-Type: audio/mpeg\r\n');
    expect(head).toContain('ice-public: 1\r\n');
    expect(head).toContain('ice-name: n X-Evil: 1\r\n');
    expect(head).not.toContain('\r\nX-Evil');
    c.write(new Uint8Array(1000));
    await Bun.sleep(50);
    expect(c.bytesSent).toBe(1000);
    c.close();
    void got;
  });

  test('a server that half-closes after accepting is noticed at once', async () => {
    const t = server((s) => {
      s.write('HTTP/1.0 200 OK\r\n\r\n');
      setTimeout(() => s.shutdown(), 200);
    });
    const c = await SourceConnection.open(t, 'PUT', info);
    const t0 = performance.now();
    const ended = new Promise<IcecastError>((r) => c.onEnd(r));
    const pump = setInterval(() => c.write(new Uint8Array(500)), 20);
    const err = await ended;
    clearInterval(pump);
    expect(err.kind).toBe('network');
    expect(err.message).toContain('closed the connection');
    // Noticed from the close itself, not by the write timeout (10 s) that would end it
    // otherwise: the bound tells the two apart without timing the scheduler.
    expect(performance.now() - t0).toBeLessThan(DEFAULT_CONNECT.writeTimeoutMs / 2);
  });

  test('a server that stops reading: write timeout ends the connection', async () => {
    // Python holds the connection open and never reads, with a tiny receive buffer.
    const py = Bun.spawn(
      [
        'python3',
        '-c',
        `import socket,time,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(('127.0.0.1',0)); s.listen(1); print(s.getsockname()[1], flush=True)
c,_=s.accept(); c.recv(4096); c.sendall(b'HTTP/1.0 200 OK\\r\\n\\r\\n'); time.sleep(30)`,
      ],
      { stdout: 'pipe', stderr: 'inherit' },
    );
    try {
      const reader = py.stdout.getReader();
      const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
      const c = await SourceConnection.open({ host: '127.0.0.1', port, mount: '/m', user: 's', password: 'p' }, 'PUT', info, {
        ...DEFAULT_CONNECT,
        writeTimeoutMs: 1000,
        maxQueueBytes: 64 << 20,
      });
      const ended = new Promise<IcecastError>((r) => c.onEnd(r));
      const chunk = new Uint8Array(64 * 1024);
      const pump = setInterval(() => c.write(chunk), 10);
      const t0 = performance.now();
      const err = await Promise.race([ended, Bun.sleep(15_000).then(() => null)]);
      clearInterval(pump);
      expect(err).not.toBeNull();
      expect(err!.kind).toBe('timeout');
      expect(err!.message).toContain('stopped reading');
      expect(performance.now() - t0).toBeLessThan(15_000);
    } finally {
      py.kill();
    }
  }, 20_000);

  test('answers are classified: auth, mount in use, PUT unknown, other refusals', async () => {
    const cases: [string, string][] = [
      ['HTTP/1.0 401 Authentication Required\r\n\r\n', 'auth'],
      ['HTTP/1.0 403 Mountpoint in use\r\nContent-Type: text/plain\r\n\r\nMountpoint in use', 'mount_in_use'],
      ['HTTP/1.0 400 unknown request\r\n\r\n', 'method'],
      ['HTTP/1.0 403 Content-type not supported\r\n\r\n', 'refused'],
      ['SSH-2.0-OpenSSH_9\r\n', 'protocol'],
    ];
    for (const [answer, kind] of cases) {
      const t = server((s) => {
        s.write(answer);
        s.end();
      });
      const err = await failure(SourceConnection.open(t, 'PUT', info));
      expect(err.kind as string).toBe(kind);
    }
  });

  test('connection refused is a network error naming the address', async () => {
    const t = server(() => {});
    servers.pop()!.stop(true);
    const err = await failure(SourceConnection.open(t, 'PUT', info));
    expect(err.kind).toBe('network');
    expect(err.message).toContain(`refused by 127.0.0.1:${t.port}`);
  });
});

describe('protocol', () => {
  test('SOURCE is HTTP/1.0; 100 Continue is skipped by the reader; targets from url or parts', () => {
    const t = resolveTarget({ url: 'http://me:p%40ss@ice.example:8001/live.mp3', host: '', port: 8000, mount: '', user: '', password: '' });
    expect(t).toEqual({ host: 'ice.example', port: 8001, mount: '/live.mp3', user: 'me', password: 'p@ss' });
    expect(resolveTarget({ url: '', host: 'h', port: 8000, mount: 'x.ogg', user: '', password: 'p' })).toEqual({ host: 'h', port: 8000, mount: '/x.ogg', user: 'source', password: 'p' });
    expect(() => resolveTarget({ url: '', host: 'h', port: 8000, mount: '', user: '', password: '' })).toThrow(/^mount:/);
    expect(() => resolveTarget({ url: 'ftp://h/x', host: '', port: 8000, mount: '', user: '', password: '' })).toThrow(/^url:/);
    expect(sourceRequest('SOURCE', t, info, 'hark')).toStartWith('SOURCE /live.mp3 HTTP/1.0\r\n');
    const head = parseResponseHead(new TextEncoder().encode('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\n'))!;
    expect(head.status).toBe(100);
    expect(classifyResponse({ status: 200, reason: 'OK' })).toBeNull();
    expect(parseResponseHead(new TextEncoder().encode('HTTP/1.0 200 O'))).toBeUndefined();
  });
});
