import { describe, expect, test } from 'bun:test';
import { buildSap, buildSdp, isMulticast, parseRtp, parseSap, RtpPacketizer, sapAddress, type SdpOptions } from './protocol.ts';

describe('RTP header (RFC 3550 §5.1)', () => {
  test('version 2, marker on the first packet only, sequence and timestamp from the sample clock, wrapping', () => {
    const p = new RtpPacketizer(97, 0xdeadbeef, 0xffff_fff0, 0xfffe);
    const a = p.packet(Uint8Array.of(1, 2, 3), 0);
    expect(Array.from(a.subarray(0, 12))).toEqual([0x80, 0x80 | 97, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xf0, 0xde, 0xad, 0xbe, 0xef]);
    expect(Array.from(a.subarray(12))).toEqual([1, 2, 3]);
    const b = parseRtp(p.packet(new Uint8Array(4), 48))!;
    expect(b).toMatchObject({ marker: false, payloadType: 97, seq: 0xffff, timestamp: 0x20, ssrc: 0xdeadbeef });
    expect(parseRtp(p.packet(new Uint8Array(4), 96))!.seq).toBe(0);
    p.restart();
    expect(parseRtp(p.packet(new Uint8Array(4), 144))!.marker).toBe(true);
  });

  test('parseRtp refuses what is not RTP v2 with a whole header; never throws on junk', () => {
    expect(parseRtp(new Uint8Array(11))).toBeNull();
    expect(parseRtp(Uint8Array.of(0x40, ...new Array(11).fill(0)))).toBeNull(); // version 1
    expect(parseRtp(Uint8Array.of(0x8f, ...new Array(11).fill(0)))).toBeNull(); // 15 CSRCs, none there
    expect(parseRtp(Uint8Array.of(0x90, ...new Array(11).fill(0), 0, 0, 0xff, 0xff))).toBeNull(); // extension longer than the packet
    expect(parseRtp(Uint8Array.of(0xa0, ...new Array(11).fill(0), 200))).toBeNull(); // padding longer than the payload
    for (let i = 0; i < 2000; i++) {
      const junk = crypto.getRandomValues(new Uint8Array(Math.floor(Math.random() * 64)));
      const r = parseRtp(junk);
      if (r) expect(r.payload.length).toBeGreaterThanOrEqual(0);
    }
  });
});

const BASE: SdpOptions = {
  id: 'studio',
  sessionId: 3900000000,
  sessionVersion: 3900000000,
  origin: '192.168.1.20',
  address: '239.69.1.10',
  port: 5004,
  ttl: 16,
  payload: 'l24',
  payloadType: 96,
  channels: 2,
  packetMs: 1,
  timestampBase: 12345,
  program: 'main',
};

describe('SDP (RFC 8866)', () => {
  test('AES67-style L24 multicast: the exact lines, CRLF', () => {
    expect(buildSdp(BASE)).toBe(
      [
        'v=0',
        'o=- 3900000000 3900000000 IN IP4 192.168.1.20',
        's=hark studio',
        'i=stereo L24, program main',
        'c=IN IP4 239.69.1.10/16',
        't=0 0',
        'a=recvonly',
        'm=audio 5004 RTP/AVP 96',
        'a=rtpmap:96 L24/48000/2',
        'a=ptime:1',
        'a=maxptime:1',
        'a=ts-refclk:local',
        'a=mediaclk:direct=12345',
        '',
      ].join('\r\n'),
    );
  });

  test('unicast has no TTL; IPv6 multicast none either (RFC 8866 §5.7); Opus: 48000/2 and its fmtp', () => {
    expect(buildSdp({ ...BASE, address: '192.168.1.30' })).toContain('c=IN IP4 192.168.1.30\r\n');
    const v6 = buildSdp({ ...BASE, origin: 'fd00::1', address: 'ff05::1:10', payload: 'opus', channels: 1, packetMs: 20 });
    expect(v6).toContain('o=- 3900000000 3900000000 IN IP6 fd00::1\r\n');
    expect(v6).toContain('c=IN IP6 ff05::1:10\r\n');
    expect(v6).toContain('a=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=0; sprop-stereo=0\r\na=ptime:20\r\n');
    expect(v6).not.toContain('mediaclk');
    expect(buildSdp({ ...BASE, payload: 'l16', channels: 1, packetMs: 4 })).toContain('a=rtpmap:96 L16/48000/1\r\na=ptime:4\r\n');
  });

  test('multicast addresses', () => {
    for (const a of ['224.0.1.1', '239.69.1.10', 'ff05::1', 'FF0E::1']) expect(isMulticast(a)).toBe(true);
    for (const a of ['192.168.1.1', '240.0.0.1', '::1', 'fe80::1', 'nonsense']) expect(isMulticast(a)).toBe(false);
  });
});

describe('SAP (RFC 2974)', () => {
  test('the group follows the scope', () => {
    expect(sapAddress('239.69.1.10')).toBe('239.255.255.255');
    expect(sapAddress('224.2.1.1')).toBe('224.2.127.254');
    expect(sapAddress('192.168.1.30')).toBe('239.255.255.255');
    expect(sapAddress('ff05::1:10')).toBe('ff05::2:7ffe');
    expect(sapAddress('ff0e::1')).toBe('ff0e::2:7ffe');
    expect(sapAddress('fd00::5')).toBe('ff05::2:7ffe');
  });

  test('announcement and deletion: header bits, origin, payload type; parsed back', () => {
    const sdp = buildSdp(BASE);
    const a = buildSap(sdp, '192.168.1.20', false);
    expect(a[0]).toBe(0x20); // V=1, IPv4, announce
    expect(a[1]).toBe(0);
    expect(Array.from(a.subarray(4, 8))).toEqual([192, 168, 1, 20]);
    expect(parseSap(a)).toMatchObject({ deletion: false, origin: '192.168.1.20', type: 'application/sdp', payload: sdp });
    const d = buildSap(sdp, '192.168.1.20', true);
    expect(d[0]).toBe(0x24);
    const pd = parseSap(d)!;
    expect(pd.payload).toBe('o=- 3900000000 3900000000 IN IP4 192.168.1.20\r\n');
    expect(pd.hash).toBe(parseSap(a)!.hash); // the same message id names the session deleted
    const six = buildSap(sdp, 'fd00::1:2', false);
    expect(six[0]).toBe(0x30);
    expect(Array.from(six.subarray(4, 20))).toEqual([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
    expect(parseSap(six)!.origin).toBe('fd00:0:0:0:0:0:1:2');
    const full = buildSap(sdp, '2001:db8:1:2:3:4:5:6', false);
    expect(Array.from(full.subarray(4, 20))).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6]);
    const mapped = buildSap(sdp, '::ffff:192.0.2.1', false);
    expect(Array.from(mapped.subarray(4, 20))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
  });

  test('parseSap: junk, encrypted, truncated → null; never throws', () => {
    expect(parseSap(new Uint8Array(3))).toBeNull();
    expect(parseSap(Uint8Array.of(0x40, 0, 0, 1, 1, 2, 3, 4))).toBeNull(); // version 2
    expect(parseSap(Uint8Array.of(0x22, 0, 0, 1, 1, 2, 3, 4, 0))).toBeNull(); // encrypted
    expect(parseSap(Uint8Array.of(0x20, 255, 0, 1, 1, 2, 3, 4, 0))).toBeNull(); // auth data past the end
    expect(parseSap(Uint8Array.of(0x20, 0, 0, 1, 10, 0, 0, 1, ...new TextEncoder().encode('v=0\r\n')))!.payload).toBe('v=0\r\n');
    for (let i = 0; i < 2000; i++) parseSap(crypto.getRandomValues(new Uint8Array(Math.floor(Math.random() * 80))));
  });
});
