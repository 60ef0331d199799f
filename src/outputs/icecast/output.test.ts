/**
 * IcecastOutput's state machine against small fake servers: PUT → SOURCE fallback, status
 * strings, reconnect after a drop, close() during a connect.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import type { TCPSocketListener } from 'bun';
import type { EncodedPacket } from '../../codecs/encoder.ts';
import { DEFAULT_BACKOFF } from '../backoff.ts';
import { IcecastOutput } from './output.ts';

class FakeSource {
  listeners = new Set<(p: EncodedPacket) => void>();
  subscribe(_s: unknown, l: (p: EncodedPacket) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  push(n: number) {
    for (const l of this.listeners) l({ data: new Uint8Array(n).fill(0xff), pts: 0, frames: 1152 });
  }
}

let servers: TCPSocketListener<unknown>[] = [];
let outputs: IcecastOutput[] = [];
afterEach(() => {
  for (const o of outputs) o.close();
  for (const s of servers) s.stop(true);
  servers = [];
  outputs = [];
});

/** A server that answers each request head with `answer(method)`; counts bytes after the head. */
function fakeIcecast(answer: (method: string) => string) {
  const st = { methods: [] as string[], body: 0, sockets: [] as import('bun').Socket<unknown>[] };
  const heads = new Map<unknown, string>();
  const srv = Bun.listen({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open: (s) => void st.sockets.push(s),
      data(s, d) {
        const prev = heads.get(s) ?? '';
        if (prev.includes('\r\n\r\n')) {
          st.body += d.byteLength;
          return;
        }
        const cur = prev + Buffer.from(d).toString('latin1');
        heads.set(s, cur);
        const end = cur.indexOf('\r\n\r\n');
        if (end >= 0) {
          const method = cur.slice(0, cur.indexOf(' '));
          st.methods.push(method);
          st.body += cur.length - end - 4;
          const a = answer(method);
          s.write(a);
          if (!a.includes(' 200 ')) s.end();
        }
      },
    },
  });
  servers.push(srv);
  return { st, port: srv.port };
}

function output(port: number, source: FakeSource) {
  const o = new IcecastOutput(source, {
    id: 'test',
    target: { host: '127.0.0.1', port, mount: '/m.mp3', user: 'source', password: 'pw' },
    info: { name: 'n', description: '', genre: '', url: '', public: false, format: 'mp3', bitrateKbps: 128, channels: 2, sampleRate: 48000 },
    spec: { codec: 'mp3', channels: 2, bitrateKbps: 128, mode: 'cbr' },
    backoff: { ...DEFAULT_BACKOFF, initialMs: 100, maxMs: 400 },
  });
  outputs.push(o);
  return o;
}

async function until(pred: () => boolean, ms = 3000) {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error('condition not reached');
    await Bun.sleep(10);
  }
}

describe('IcecastOutput', () => {
  test('falls back from PUT to SOURCE for an older server, then streams packets', async () => {
    const { st, port } = fakeIcecast((m) => (m === 'PUT' ? 'HTTP/1.0 400 unknown request\r\n\r\n' : 'HTTP/1.0 200 OK\r\n\r\n'));
    const src = new FakeSource();
    const o = output(port, src);
    expect(o.status().status).toBe('stopped');
    o.start();
    expect(o.state).toBe('connecting');
    expect(o.status().status).toBe(`connecting to 127.0.0.1:${port}/m.mp3`);
    await until(() => o.state === 'live');
    expect(st.methods).toEqual(['PUT', 'SOURCE']);
    expect(o.status()).toMatchObject({ method: 'SOURCE', status: 'live', last_error: null, connects: 1 });
    src.push(417);
    src.push(417);
    await until(() => st.body === 834);
    expect(o.status().bytes).toBe(834);
  });

  test('a dropped connection shows "retrying in N s: <reason>" and comes back', async () => {
    const { st, port } = fakeIcecast(() => 'HTTP/1.0 200 OK\r\n\r\n');
    const src = new FakeSource();
    const o = output(port, src);
    o.start();
    await until(() => o.state === 'live');
    st.sockets[0]!.end();
    await until(() => o.state === 'retrying');
    const s = o.status();
    expect(s.status).toMatch(/^retrying in \d+ s: 127\.0\.0\.1:\d+ closed the connection$/);
    expect(s.connected_since).toBeNull();
    await until(() => o.state === 'live');
    expect(o.status().connects).toBe(2);
  });

  test('"mount in use" right after our own drop (Icecast still holds the dead source) retries in 5 s, not 30', async () => {
    let first = true;
    const { st, port } = fakeIcecast(() => {
      const a = first ? 'HTTP/1.0 200 OK\r\n\r\n' : 'HTTP/1.0 403 Mountpoint in use\r\n\r\n';
      first = false;
      return a;
    });
    const o = output(port, new FakeSource());
    o.start();
    await until(() => o.state === 'live');
    st.sockets[0]!.end();
    await until(() => o.state === 'mount_in_use');
    const s = o.status();
    expect(s.status).toMatch(/^mount in use: another source is connected to \/m\.mp3 \(retrying in [45] s\)$/);
    expect(s.retry_in_s).toBeLessThanOrEqual(5);
  });

  test('close() while connecting leaves it stopped; nothing reconnects afterwards', async () => {
    const { st, port } = fakeIcecast(() => '');
    const o = output(port, new FakeSource());
    o.start();
    await until(() => st.methods.length === 1);
    o.close();
    expect(o.state).toBe('stopped');
    await Bun.sleep(300);
    expect(o.state).toBe('stopped');
    expect(st.methods.length).toBe(1);
  });
});
