/**
 * SourceConnection over TLS against TLS servers on 127.0.0.1 with certificates from the test's
 * own CA: trusted with the CA file, refused in plain words without it, for the wrong name, for
 * a self-signed certificate, for a plain-HTTP port; accepted unchecked with verify off; and
 * https:// targets from url or keys.
 */
import { afterAll, afterEach, describe, expect, test } from 'bun:test';
import type { Socket, TCPSocketListener } from 'bun';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestCa, type TestCertificate } from '../../../test/lib/icecast.ts';
import { DEFAULT_CONNECT, SourceConnection } from './connection.ts';
import { IcecastError, metadataUrl, sourceRequest, updateMetadata, type StreamInfo } from './protocol.ts';
import { resolveTarget, type IcecastTarget } from '../../config/icecast-target.ts';
import { certificateReason, readCaFile } from './tls.ts';

const info: StreamInfo = { name: 'n', description: '', genre: '', url: '', public: false, format: 'mp3', bitrateKbps: 128, channels: 2, sampleRate: 48000 };
const ca = makeTestCa();
const good = ca.issue('radio', ['radio.test', '127.0.0.1']);
const selfSigned = ca.selfSigned('selfie', ['127.0.0.1']);
const otherCa = makeTestCa('another CA');

let servers: TCPSocketListener<unknown>[] = [];
afterEach(() => {
  for (const s of servers) s.stop(true);
  servers = [];
});
afterAll(() => {
  Bun.spawnSync(['rm', '-rf', ca.dir, otherCa.dir]);
});

/** A TLS server that answers 200 to a source request and keeps what it receives. */
function tlsServer(cert: TestCertificate) {
  const got = { head: '', bytes: 0 };
  const srv = Bun.listen({
    hostname: '127.0.0.1',
    port: 0,
    tls: { cert: Bun.file(cert.certFile), key: Bun.file(cert.keyFile) },
    socket: {
      data(s: Socket<unknown>, d) {
        if (got.head.includes('\r\n\r\n')) {
          got.bytes += d.byteLength;
          return;
        }
        got.head += Buffer.from(d).toString('latin1');
        if (got.head.includes('\r\n\r\n')) s.write('HTTP/1.0 200 OK\r\n\r\n');
      },
    },
  });
  servers.push(srv);
  return { port: srv.port, got };
}

const target = (port: number, tls: IcecastTarget['tls'], host = '127.0.0.1'): IcecastTarget => ({ host, port, mount: '/m.mp3', user: 'source', password: 'pw', tls });

async function failure(p: Promise<unknown>): Promise<IcecastError> {
  try {
    await p;
  } catch (e) {
    return e as IcecastError;
  }
  throw new Error('expected a failure');
}

describe('SourceConnection over TLS', () => {
  test('with the CA file: the request travels encrypted, the server answers, the stream flows', async () => {
    const s = tlsServer(good);
    const c = await SourceConnection.open(target(s.port, { caFile: ca.caFile, verify: true }), 'PUT', info);
    expect(s.got.head).toStartWith('PUT /m.mp3 HTTP/1.1\r\n');
    expect(s.got.head).toContain(`Authorization: Basic ${btoa('source:pw')}\r\n`);
    expect(c.certificateProblem).toBeNull();
    c.write(new Uint8Array(5000));
    const end = performance.now() + 3000;
    while (s.got.bytes < 5000 && performance.now() < end) await Bun.sleep(20);
    expect(s.got.bytes).toBe(5000);
    c.close();
  });

  test('by name: a certificate for "localhost" is accepted when connecting to localhost', async () => {
    const s = tlsServer(ca.issue('local', ['localhost']));
    const c = await SourceConnection.open(target(s.port, { caFile: ca.caFile, verify: true }, 'localhost'), 'SOURCE', info);
    expect(s.got.head).toStartWith('SOURCE /m.mp3 HTTP/1.0\r\n');
    c.close();
  });

  test('a TLS server that goes away mid-stream is noticed at once, as a lost connection (not a certificate problem)', async () => {
    let peer: Socket<unknown> | undefined;
    const srv = Bun.listen({
      hostname: '127.0.0.1',
      port: 0,
      tls: { cert: Bun.file(good.certFile), key: Bun.file(good.keyFile) },
      socket: {
        data(sock, d) {
          if (!peer && Buffer.from(d).toString('latin1').includes('\r\n\r\n')) {
            peer = sock;
            sock.write('HTTP/1.0 200 OK\r\n\r\n');
          }
        },
      },
    });
    servers.push(srv);
    const c = await SourceConnection.open(target(srv.port, { caFile: ca.caFile, verify: true }), 'PUT', info);
    const ended = new Promise<IcecastError>((r) => c.onEnd(r));
    const pump = setInterval(() => c.write(new Uint8Array(500)), 20);
    await Bun.sleep(100);
    const t0 = performance.now();
    peer!.terminate();
    const err = await Promise.race([ended, Bun.sleep(DEFAULT_CONNECT.writeTimeoutMs / 2).then(() => null)]);
    clearInterval(pump);
    expect(err?.kind).toBe('network');
    // Noticed from the end of the TLS stream, not by the write timeout (10 s) that would end
    // it otherwise: the bound tells the two apart without timing the scheduler.
    expect(performance.now() - t0).toBeLessThan(DEFAULT_CONNECT.writeTimeoutMs / 2);
  });

  test('without the CA file: refused as "not trusted", in plain words, and nothing was sent', async () => {
    const s = tlsServer(good);
    const err = await failure(SourceConnection.open(target(s.port, { caFile: '', verify: true }), 'PUT', info));
    expect(err).toBeInstanceOf(IcecastError);
    expect(err.kind).toBe('tls');
    expect(err.message).toBe("the server's certificate is not trusted: it was issued by a certificate authority this box does not trust (UNABLE_TO_VERIFY_LEAF_SIGNATURE)");
    expect(s.got.head).toBe('');
  });

  test('another CA file: not trusted either', async () => {
    const s = tlsServer(good);
    const err = await failure(SourceConnection.open(target(s.port, { caFile: otherCa.caFile, verify: true }), 'PUT', info));
    expect(err.kind).toBe('tls');
    expect(err.message).toStartWith("the server's certificate is not trusted: it was issued by a certificate authority this box does not trust");
  });

  test('the wrong host name: "it is for radio.test, 127.0.0.1, not for localhost"', async () => {
    const s = tlsServer(good);
    const err = await failure(SourceConnection.open(target(s.port, { caFile: ca.caFile, verify: true }, 'localhost'), 'PUT', info));
    expect(err.kind).toBe('tls');
    expect(err.message).toBe("the server's certificate is not trusted: it is for radio.test, 127.0.0.1, not for localhost (ERR_TLS_CERT_ALTNAME_INVALID)");
    expect(s.got.head).toBe('');
  });

  test('a self-signed certificate: "it is self-signed"; trusting the certificate itself as the CA file works', async () => {
    const s = tlsServer(selfSigned);
    const err = await failure(SourceConnection.open(target(s.port, { caFile: '', verify: true }), 'PUT', info));
    expect(err.message).toBe("the server's certificate is not trusted: it is self-signed (DEPTH_ZERO_SELF_SIGNED_CERT)");
    const c = await SourceConnection.open(target(s.port, { caFile: selfSigned.certFile, verify: true }), 'PUT', info);
    c.close();
  });

  test('verify off: connects to an untrusted server, and says what it would have refused', async () => {
    const s = tlsServer(good);
    const c = await SourceConnection.open(target(s.port, { caFile: '', verify: false }, 'localhost'), 'PUT', info);
    expect(c.certificateProblem).toContain('this box does not trust');
    expect(s.got.head).toStartWith('PUT /m.mp3');
    c.close();
  });

  test('an https:// target on a plain-HTTP port: "no secure (TLS) connection … is this port for https://?"', async () => {
    // A plain server that answers anything at once with an HTTP error and closes, as Icecast does.
    const srv = Bun.listen({
      hostname: '127.0.0.1',
      port: 0,
      socket: {
        data(s) {
          s.write('HTTP/1.0 400 Bad Request\r\n\r\n');
          s.end();
        },
      },
    });
    servers.push(srv);
    const err = await failure(SourceConnection.open(target(srv.port, { caFile: '', verify: true }), 'PUT', info));
    expect(err.kind).toBe('tls');
    expect(err.message).toBe(`no secure (TLS) connection with 127.0.0.1:${srv.port}: the server there does not answer in TLS; is this port for https://?`);
  });

  test('a plain port that says nothing to a TLS hello: the timeout says TLS', async () => {
    const srv = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
    servers.push(srv);
    const err = await failure(SourceConnection.open(target(srv.port, { caFile: '', verify: true }), 'PUT', info, { ...DEFAULT_CONNECT, connectTimeoutMs: 700 }));
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe(`no secure (TLS) answer from 127.0.0.1:${srv.port} within 0.7 s; is this port for https://?`);
  });

  test('a CA file that is missing, empty, not PEM or damaged is refused by name, before connecting', async () => {
    const s = tlsServer(good);
    const junk = join(ca.dir, 'junk.pem');
    writeFileSync(junk, 'hello\n');
    const damaged = join(ca.dir, 'damaged.pem');
    writeFileSync(damaged, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const cases: [string, string][] = [
      [join(ca.dir, 'nope.pem'), `the CA file ${join(ca.dir, 'nope.pem')} cannot be read: no such file`],
      [ca.dir, `the CA file ${ca.dir} is not a file`],
      [junk, `the CA file ${junk} holds no certificate (PEM, "-----BEGIN CERTIFICATE-----")`],
      [damaged, `the CA file ${damaged}: certificate 1 is damaged`],
    ];
    for (const [file, words] of cases) {
      const err = await failure(SourceConnection.open(target(s.port, { caFile: file, verify: true }), 'PUT', info));
      expect(err.kind).toBe('tls');
      expect(err.message).toStartWith(words);
    }
    expect(s.got.head).toBe('');
    expect(readCaFile(ca.caFile)).toHaveLength(1);
  });
});

describe('the MP3 title call over https://', () => {
  test('with the CA file it reaches the server; without, "not trusted" in the same words', async () => {
    const seen: string[] = [];
    const srv = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      tls: { cert: Bun.file(good.certFile), key: Bun.file(good.keyFile) },
      fetch(req) {
        seen.push(`${new URL(req.url).searchParams.get('song')} ${req.headers.get('authorization')}`);
        return new Response('<iceresponse><message>Metadata update successful</message><return>1</return></iceresponse>');
      },
    });
    try {
      await updateMetadata(target(srv.port!, { caFile: ca.caFile, verify: true }), 'Évensong');
      expect(seen).toEqual([`Évensong Basic ${btoa('source:pw')}`]);
      let err: IcecastError | undefined;
      await updateMetadata(target(srv.port!, { caFile: '', verify: true }), 'x').catch((e) => (err = e));
      expect(err?.kind).toBe('tls');
      expect(err?.message).toStartWith("metadata update failed: the server's certificate is not trusted: it was issued by a certificate authority this box does not trust");
      expect(seen).toHaveLength(1);
    } finally {
      srv.stop(true);
    }
  });
});

describe('https:// targets', () => {
  const base = { url: '', host: '', port: 8000, mount: '', user: '', password: '' };

  test('an https:// url means TLS (port 443 by default), checked unless tls_verify = false', () => {
    expect(resolveTarget({ ...base, url: 'https://source:pw@radio.example.org/live' })).toEqual({
      host: 'radio.example.org',
      port: 443,
      mount: '/live',
      user: 'source',
      password: 'pw',
      tls: { caFile: '', verify: true },
    });
    expect(resolveTarget({ ...base, url: 'https://h:8443/m', ca_file: '/etc/ca.pem', tls_verify: false }).tls).toEqual({ caFile: '/etc/ca.pem', verify: false });
    expect(resolveTarget({ ...base, host: 'h', mount: '/m', tls: true }).tls).toEqual({ caFile: '', verify: true });
    expect(resolveTarget({ ...base, host: 'h', mount: '/m' }).tls).toBeUndefined();
  });

  test('the Host header leaves out 443 over TLS; the metadata call goes to https://', () => {
    const t = resolveTarget({ ...base, url: 'https://h/m' });
    expect(sourceRequest('PUT', t, info, 'hark')).toContain('\r\nHost: h\r\n');
    expect(sourceRequest('PUT', resolveTarget({ ...base, url: 'https://h:8443/m' }), info, 'hark')).toContain('\r\nHost: h:8443\r\n');
    expect(metadataUrl(t, 'x')).toStartWith('https://h:443/admin/metadata?');
  });

  test('contradictions and bad values are refused, naming the key', () => {
    expect(() => resolveTarget({ ...base, url: 'http://h/m', tls: true })).toThrow(/^url: starts with http:\/\/ while tls = true/);
    expect(() => resolveTarget({ ...base, url: 'http://h/m', ca_file: '/ca.pem' })).toThrow(/^ca_file: is only used over TLS/);
    expect(() => resolveTarget({ ...base, url: 'https://h/m', ca_file: '/ca\n.pem' })).toThrow(/^ca_file: a file path without control characters/);
  });

  test('certificate errors in words, with the code for the engineer', () => {
    const e = (code: string, message = '') => Object.assign(new Error(message), { code });
    expect(certificateReason(e('CERT_HAS_EXPIRED'), 'h')).toBe('it has expired (CERT_HAS_EXPIRED)');
    expect(certificateReason(e('CERT_NOT_YET_VALID'), 'h')).toBe("it is not valid yet (is this box's clock right?) (CERT_NOT_YET_VALID)");
    expect(certificateReason(e('SELF_SIGNED_CERT_IN_CHAIN'), 'h')).toBe('it was issued by a certificate authority this box does not trust (SELF_SIGNED_CERT_IN_CHAIN)');
    expect(certificateReason(e('ECONNRESET', 'reset'), 'h')).toBeNull();
    expect(certificateReason(e('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: Host: localhost. is not cert's CN: icecast"), 'localhost')).toBe(
      'it is for icecast, not for localhost (ERR_TLS_CERT_ALTNAME_INVALID)',
    );
  });
});
