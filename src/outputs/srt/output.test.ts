import { describe, expect, test } from 'bun:test';
import { SRT_REJ_BADSECRET, SRT_REJ_PEER, SRT_REJ_TIMEOUT, SRT_REJ_UNSECURE, SrtSocket } from '../../../ffi/srt.ts';
import type { EncodedPacket } from '../../codecs/index.ts';
import { srtTarget } from '../../config/srt-url.ts';
import type { PacketSource } from '../packet-source.ts';
import { SrtLinkError, SrtOutput, rejectMessage } from './output.ts';

/** A source that never sends: these tests look at states, not audio. */
const silent: PacketSource = { subscribe: (_s, _l: (p: EncodedPacket) => void) => () => {} };

function output(url: string, extra: Partial<ConstructorParameters<typeof SrtOutput>[1]> = {}) {
  return new SrtOutput(silent, {
    id: 't',
    url,
    target: srtTarget({ url, passphrase: '', pbkeylen: 16, latency_ms: 120, stream_id: '' }),
    payload: 'opus',
    spec: { codec: 'opus', channels: 2, bitrateKbps: 128, frameMs: 20, application: 'audio', fec: false, dtx: false, cbr: false, complexity: 5 },
    backoff: { initialMs: 50, maxMs: 100, jitter: 0, authMs: 100, authMaxMs: 100, busyMs: 100, busyMaxMs: 100, stableMs: 1000 },
    ...extra,
  });
}

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await Bun.sleep(20);
  }
}

describe('SRT output states', () => {
  test('reject reasons: a wrong or missing passphrase is auth_failed, a refusal waits as "refused", a timeout retries', () => {
    const o = output('srt://127.0.0.1:9?mode=caller');
    expect(o.failure(new SrtLinkError(rejectMessage(SRT_REJ_BADSECRET, 'h:1'), SRT_REJ_BADSECRET))).toEqual({ kind: 'auth', message: 'wrong passphrase: h:1 uses another one' });
    expect(o.failure(new SrtLinkError('x', SRT_REJ_UNSECURE)).kind).toBe('auth');
    expect(o.failure(new SrtLinkError(rejectMessage(SRT_REJ_PEER, 'h:1'), SRT_REJ_PEER))).toEqual({ kind: 'transient', message: 'the receiver at h:1 refused the connection', state: 'refused' });
    expect(o.failure(new SrtLinkError(rejectMessage(1403, 'h:1'), 1403))).toMatchObject({ state: 'refused', message: 'the receiver at h:1 refused the connection (code 1403: check stream_id)' });
    expect(o.failure(new SrtLinkError(rejectMessage(SRT_REJ_TIMEOUT, 'h:1'), SRT_REJ_TIMEOUT))).toEqual({ kind: 'transient', message: 'no answer from h:1 (is the receiver listening?)' });
  });

  test('a caller with nobody listening retries with the reason; close stops it', async () => {
    const probe = SrtSocket.create();
    probe.bind('127.0.0.1', 0);
    const port = probe.localAddress().port;
    probe.close();
    const o = output(`srt://127.0.0.1:${port}?mode=caller`, { socket: { connectTimeoutMs: 300 } });
    o.start();
    expect(o.state).toBe('connecting');
    await until(() => o.state === 'retrying');
    expect(o.status().last_error).toBe(`no answer from 127.0.0.1:${port} (is the receiver listening?)`);
    expect(o.status().status).toMatch(/^retrying in \d+ s: no answer/);
    await o.close();
    expect(o.state).toBe('stopped');
  });

  test('a listener whose port is taken says so and retries; it listens once the port is free', async () => {
    const squatter = SrtSocket.create();
    squatter.bind('127.0.0.1', 0);
    squatter.listen(1);
    const port = squatter.localAddress().port;
    const o = output(`srt://127.0.0.1:${port}?mode=listener`);
    o.start();
    await until(() => o.state === 'retrying');
    expect(o.status().last_error).toMatch(/already listening on the same port|srt_bind/);
    squatter.close();
    await until(() => o.state === 'connecting');
    expect(o.status().status).toBe(`waiting for a receiver to call port ${port}`);
    await o.close();
  });
});
