/**
 * The `[[rtp]]` output (issue 20) with real parts: a hark playing its test tone sends L24, L16
 * and Opus over RTP to loopback; ffmpeg opens each /rtp/<id>.sdp and decodes the tone at its
 * frequency and level. Status, /metrics, hostile ids and bad settings (file and API) too.
 * Multicast and SAP run in a network namespace: rtp-multicast.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../src/config/load.ts';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { freeRtpPort, receiveWithFfmpeg } from './lib/rtp.ts';
import { parseRtp, type RtpHeader } from '../src/outputs/rtp/protocol.ts';
import { channel, dominantFrequency, toneDbfs } from './lib/signal.ts';
import { until } from './lib/wait.ts';

const FREQ = 1000;
const LEVEL = -12;
let hark: HarkProcess;
const ports: Record<string, number> = {};
const dir = mkdtempSync(join(tmpdir(), 'hark-rtp-'));

/** [id, payload, packet_ms, channels, allowed level error (dB)]. */
const STREAMS: [string, 'l24' | 'l16' | 'opus', number, 1 | 2, number][] = [
  ['aes67', 'l24', 1, 2, 0.1],
  ['pcm16', 'l16', 4, 1, 0.1],
  ['opus', 'opus', 20, 2, 0.5],
];

beforeAll(async () => {
  let toml = `[input]\nsource = "tone"\n[tone]\nfrequency = ${FREQ}\nlevel_dbfs = ${LEVEL}\n[webrtc]\nenabled = false\n`;
  for (const [id, payload, ms, ch] of STREAMS) {
    ports[id] = await freeRtpPort();
    toml += `[[rtp]]\nid = "${id}"\naddress = "127.0.0.1"\nport = ${ports[id]}\npayload = "${payload}"\npacket_ms = ${ms}\nchannels = ${ch}\n`;
  }
  hark = await startHark(toml);
  await hark.waitFor(/\[rtp opus\] live/);
});

afterAll(async () => {
  expect(await hark.stop()).toBe(0);
});

describe('RTP to a receiver: ffmpeg opens /rtp/<id>.sdp', () => {
  for (const [id, payload, ms, ch, tol] of STREAMS) {
    test(`${payload} ${ms} ms ${ch === 2 ? 'stereo' : 'mono'}: the ${FREQ} Hz tone at ${LEVEL} dBFS`, async () => {
      const r = await fetch(`${hark.url}/rtp/${id}.sdp`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/sdp');
      const sdp = await r.text();
      const enc = payload === 'opus' ? 'opus/48000/2' : `${payload.toUpperCase()}/48000/${ch}`;
      expect(sdp).toContain(`m=audio ${ports[id]} RTP/AVP 96\r\n`);
      expect(sdp).toContain(`a=rtpmap:96 ${enc}\r\n`);
      expect(sdp).toContain(`a=ptime:${ms}\r\n`);
      expect(sdp).toContain('c=IN IP4 127.0.0.1\r\n'); // unicast: no TTL
      expect(sdp.startsWith('v=0\r\no=- ')).toBe(true);
      const { samples, log } = await receiveWithFfmpeg(sdp, dir, id, 3, ch);
      expect(samples.length, log).toBeGreaterThan(48000 * ch * 2.5);
      for (let c = 0; c < ch; c++) {
        const one = channel(samples, ch, c).subarray(48000 * 0.5);
        expect(Math.abs(dominantFrequency(one) - FREQ)).toBeLessThan(2);
        expect(Math.abs(toneDbfs(one, FREQ) - LEVEL)).toBeLessThan(tol);
      }
    }, 40_000);
  }

  test('/api/status and /metrics count each stream\'s packets and bytes', async () => {
    type S = { id: string; state: string; packets: number; bytes: number; packet_ms: number; payload: string; sdp_url: string; multicast: boolean; ssrc: number };
    const list = async () => ((await (await fetch(`${hark.url}/api/status`)).json()) as { outputs: { rtp: S[] } }).outputs.rtp;
    // Receivers on the ports (with none, the kernel refuses unicast packets: counted as send_failures).
    const got: Record<string, { n: number; bytes: number }> = {};
    const headers: RtpHeader[] = [];
    const socks = await Promise.all(
      STREAMS.map(([id]) => {
        got[id] = { n: 0, bytes: 0 };
        return Bun.udpSocket({ port: ports[id], socket: {
            data: (_s, d) => {
              got[id]!.n += 1;
              got[id]!.bytes += d.byteLength;
              if (id === 'aes67' && headers.length < 500) headers.push(parseRtp(new Uint8Array(d))!);
            },
          },
        });
      }),
    );
    await Bun.sleep(200);
    const a = await list();
    expect(a.map((s) => s.id)).toEqual(['aes67', 'pcm16', 'opus']);
    for (const s of a) {
      expect(s.state).toBe('live');
      expect(s.sdp_url).toBe(`/rtp/${s.id}.sdp`);
      expect(s.multicast).toBe(false);
    }
    await Bun.sleep(1000);
    const b = await list();
    // 1 ms packets: ~1000 a second of 12 + 48 × 2 × 3 bytes; 4 ms: ~250 of 12 + 192 × 2.
    const aes = b[0]!.packets - a[0]!.packets;
    expect(aes).toBeGreaterThan(800);
    expect(aes).toBeLessThan(1300);
    expect(b[0]!.bytes - a[0]!.bytes).toBe(aes * (12 + 48 * 2 * 3));
    const p16 = b[1]!.packets - a[1]!.packets;
    expect(p16).toBeGreaterThan(180);
    expect(p16).toBeLessThan(330);
    expect(b[2]!.packets - a[2]!.packets).toBeGreaterThan(35);
    for (const sk of socks) sk.close();
    // What was sent arrived (loopback loses nothing): a second's worth and more.
    expect(got.aes67!.n).toBeGreaterThan(aes);
    expect(got.aes67!.bytes % (12 + 48 * 2 * 3)).toBe(0);
    expect(got.pcm16!.bytes % (12 + 192 * 2)).toBe(0);
    // RFC 3550 on the wire: one SSRC (the one the status names), payload type 96, sequence +1
    // and timestamp +48 (1 ms of the 48 kHz sample clock) from packet to packet, no marker mid-stream.
    expect(headers.length).toBe(500);
    const ssrc = b[0]!.ssrc;
    for (let i = 1; i < headers.length; i++) {
      const [p, q] = [headers[i - 1]!, headers[i]!];
      expect({ i, ssrc: q.ssrc, pt: q.payloadType, marker: q.marker, seq: q.seq, ts: q.timestamp }).toEqual({ i, ssrc, pt: 96, marker: false, seq: (p.seq + 1) & 0xffff, ts: (p.timestamp + 48) % 2 ** 32 });
    }
    const metrics = await (await fetch(`${hark.url}/metrics`)).text();
    expect(metrics).toMatch(/hark_rtp_packets_total\{id="aes67"\} \d+/);
    expect(metrics).toMatch(/hark_output_up\{output="rtp",id="opus",state="live"\} 1/);
    expect(metrics).toMatch(/hark_output_bytes_total\{output="rtp",id="pcm16"\} \d+/);
  });

  test('hostile and unknown ids: 404 naming what was asked and the streams there are; never a crash', async () => {
    const r = await fetch(`${hark.url}/rtp/nope.sdp`);
    expect(r.status).toBe(404);
    expect((await r.json()).error).toBe('no such RTP stream: no [[rtp]] entry "nope"; the RTP streams are /rtp/aes67.sdp, /rtp/pcm16.sdp, /rtp/opus.sdp');
    for (const id of ['../etc/passwd', '%2e%2e', 'a'.repeat(5000), '<script>', 'AES67', 'aes67.sdp', '\u0000', 'aes67%00', 'aes67.SDP', '']) {
      const res = await fetch(`${hark.url}/rtp/${encodeURIComponent(id)}.sdp`);
      expect([400, 404, 414, 431]).toContain(res.status);
      const text = await res.text();
      if (text) expect(res.headers.get('content-type') ?? '').toStartWith('application/json');
      expect(text).not.toContain('<script>');
    }
    expect((await fetch(`${hark.url}/rtp/aes67`)).status).toBe(404);
    expect((await fetch(`${hark.url}/api/status`)).status).toBe(200);
  });
});

describe('the Outputs page', () => {
  test('lists each stream with its live state, and its form refuses an odd port with the reason', async () => {
    const page = await (await fetch(`${hark.url}/outputs`)).text();
    expect(page).toContain('<h2>Network audio (RTP, AES67)</h2>');
    expect(page).toMatch(/RTP <b>aes67<\/b><\/span> <span class="where">127\.0\.0\.1:\d+ L24<\/span>/);
    expect(page).toMatch(/id="rtp-state-0"\s*><span class="pill ok" data-state="live">live<\/span> <small>sending L24 stereo, 1 ms packets<\/small>/);
    const form = await (await fetch(`${hark.url}/ui/rtp/new`)).text();
    for (const name of ['address', 'port', 'payload', 'sap', 'packet_ms', 'ttl']) expect(form).toContain(`name="${name}"`);
    const r = await fetch(`${hark.url}/ui/rtp`, { method: 'POST', body: new URLSearchParams({ address: '239.69.1.11', port: '5005', payload: 'l24', packet_ms: '0', channels: '2', enabled: 'true' }) });
    expect(r.status).toBe(422);
    // Beside the field, in the check's words.
    expect(await r.text()).toMatch(/<span class="err" id="f-rtp-new-port-err" role="alert">an even port \(RTP&#39;s; RTCP is the next one up\), got 5005<\/span>/);
  });
});

/** [what, the [[rtp]] entry's TOML, key path, reason ('' : the schema's own words)]. */
const BAD: [string, string, string, string][] = [
  ['a name instead of an address', 'address = "studio.local"', 'rtp.0.address', 'not an IPv4 or IPv6 address: "studio.local" (a name is not resolved here; give the address)'],
  ['no address', 'port = 5004', 'rtp.0.address', ''],
  ['the broadcast address', 'address = "255.255.255.255"', 'rtp.0.address', '255.255.255.255 is not an address packets can be sent to'],
  ['a routing-protocol group', 'address = "224.0.0.5"', 'rtp.0.address', '224.0.0.5 is in 224.0.0.0/24, reserved for routing protocols on the local link; use a group in 239.0.0.0/8 (e.g. 239.69.1.10)'],
  ['a link-local IPv6 group', 'address = "ff02::1"', 'rtp.0.address', 'ff02::1 is a reserved or interface/link-local-only multicast scope; use a site (ff05::) or organisation (ff08::) group'],
  ['an odd port', 'address = "239.69.1.10"\nport = 5005', 'rtp.0.port', 'an even port (RTP\'s; RTCP is the next one up), got 5005'],
  ['a port below 1024', 'address = "239.69.1.10"\nport = 80', 'rtp.0.port', ''],
  ['a port above 65534', 'address = "239.69.1.10"\nport = 65536', 'rtp.0.port', ''],
  ['20 ms of L24', 'address = "239.69.1.10"\npayload = "l24"\npacket_ms = 20', 'rtp.0.packet_ms', 'L24 packets are 1 or 4 (AES67 packet times) ms, or 0 for the usual; got 20'],
  ['1 ms of Opus', 'address = "239.69.1.10"\npayload = "opus"\npacket_ms = 1', 'rtp.0.packet_ms', 'OPUS packets are 2.5, 5, 10 or 20 (Opus frame sizes) ms, or 0 for the usual; got 1'],
  ['3 ms packets', 'address = "239.69.1.10"\npacket_ms = 3', 'rtp.0.packet_ms', ''],
  ['an unknown payload', 'address = "239.69.1.10"\npayload = "flac"', 'rtp.0.payload', ''],
  ['three channels', 'address = "239.69.1.10"\nchannels = 3', 'rtp.0.channels', ''],
  ['a TTL of 0', 'address = "239.69.1.10"\nttl = 0', 'rtp.0.ttl', ''],
  ['a static payload type', 'address = "239.69.1.10"\npayload_type = 10', 'rtp.0.payload_type', ''],
  ['an id with a path in it', 'id = "../x"\naddress = "239.69.1.10"', 'rtp.0.id', 'lower-case letters, digits, - and _ (it is part of /rtp/<id>.sdp), starting with a letter or digit, up to 32'],
  ['a source address of the other family', 'address = "239.69.1.10"\nsource_address = "::1"', 'rtp.0.source_address', '::1 and the destination 239.69.1.10 are not both IPv4 or both IPv6'],
  ['an unknown program', 'address = "239.69.1.10"\nprogram = "es"', 'rtp.0.program', 'no program "es": the programs are main'],
  ['an unknown key', 'address = "239.69.1.10"\ndscp = 46', 'rtp.0.dscp', ''],
];

describe('bad [[rtp]] settings are refused, naming the key', () => {
  for (const [what, entry, path, reason] of BAD) {
    test(what, () => {
      let err: unknown;
      try {
        parseConfig(`[[rtp]]\n${entry}\n`);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).path).toBe(path);
      if (reason) expect((err as ConfigError).reason).toBe(reason);
    });
  }
  test('two entries to the same group and port, and two with one id', () => {
    const two = (a: string, b: string) => () => parseConfig(`[[rtp]]\n${a}\n[[rtp]]\n${b}\n`);
    expect(two('address = "239.1.1.1"', 'address = "239.1.1.1"')).toThrow('rtp.1.port: rtp.0 already sends to 239.1.1.1 port 5004');
    expect(two('address = "239.1.1.1"', 'id = "rtp1"\naddress = "239.1.1.2"')).toThrow('rtp.1.id: "rtp1" is used by rtp.0; give each a distinct id');
  });

  test('PATCH /api/config refuses them with the key path; the running streams and the file stay', async () => {
    const file = join(hark.dir, 'hark.toml');
    const before = readFileSync(file, 'utf8');
    for (const [entry, want] of [
      [{ address: '239.69.1.10', port: 5005 }, 'rtp.0.port: an even port'],
      [{ address: '239.69.1.10', payload: 'l24', packet_ms: 20 }, 'rtp.0.packet_ms: L24 packets are 1 or 4'],
      [{ address: 'not-an-ip' }, 'rtp.0.address: not an IPv4 or IPv6 address'],
    ] as const) {
      const r = await fetch(`${hark.url}/api/config`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rtp: [entry] }) });
      expect(r.status).toBe(422);
      expect((await r.json()).error).toContain(want);
    }
    expect(readFileSync(file, 'utf8')).toBe(before);
    const st = (await (await fetch(`${hark.url}/api/status`)).json()) as { outputs: { rtp: { id: string; state: string }[] } };
    expect(st.outputs.rtp.map((s) => `${s.id} ${s.state}`)).toEqual(['aes67 live', 'pcm16 live', 'opus live']);
  });

  test('PATCH /api/config adds a stream live, and it sends at once', async () => {
    const port = await freeRtpPort();
    const cur = ((await (await fetch(`${hark.url}/api/config`)).json()) as { rtp: object[] }).rtp;
    const r = await fetch(`${hark.url}/api/config`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rtp: [...cur, { id: 'added', address: '127.0.0.1', port, payload: 'l16', packet_ms: 1, channels: 2 }] }),
    });
    expect(r.status, await r.clone().text()).toBe(200);
    await until(async () => ((await (await fetch(`${hark.url}/api/status`)).json()) as { outputs: { rtp: { id: string; state: string; packets: number }[] } }).outputs.rtp.some((s) => s.id === 'added' && s.packets > 100), 5000, 'the added stream sends');
    const { samples } = await receiveWithFfmpeg(await (await fetch(`${hark.url}/rtp/added.sdp`)).text(), dir, 'added', 2, 1);
    expect(Math.abs(dominantFrequency(samples.subarray(24000)) - FREQ)).toBeLessThan(2);
  }, 30_000);
});
