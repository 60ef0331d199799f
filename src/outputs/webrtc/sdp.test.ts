import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NotAcceptableError, SdpError } from './errors.ts';
import { planAudio, type NegotiationPolicy } from './negotiate.ts';
import { ntpMiddle32, parseRtcp, rttFromReport } from './rtcp.ts';
import { addHostCandidates, parseIceFragment, parseOffer } from './sdp.ts';
import { etagMatches, iceServerLinks, toRtcIceServer } from './server.ts';

const FIXTURES = join(import.meta.dir, '../../../test/fixtures/webrtc');
const chromium = readFileSync(join(FIXTURES, 'chromium-offer.sdp'), 'utf8');
const firefox = readFileSync(join(FIXTURES, 'firefox-offer.sdp'), 'utf8');

const policy = (over: Partial<NegotiationPolicy['opus']> = {}, codecs: NegotiationPolicy['codecs'] = ['opus', 'pcmu', 'pcma', 'g722']): NegotiationPolicy => ({
  codecs,
  inputChannels: 2,
  opus: {
    stereo: true,
    bitrateKbps: 96,
    frameMs: 10,
    lowDelay: false,
    useinbandfec: true,
    usedtx: false,
    cbr: false,
    honourMinptime: true,
    maxplaybackrate: 48000,
    complexity: 10,
    ...over,
  },
});

/** Replace Chromium's Opus fmtp line. */
const withOpusFmtp = (fmtp: string) => chromium.replace(/a=fmtp:111 [^\r\n]*/, `a=fmtp:111 ${fmtp}`);

describe('parseOffer', () => {
  test("reads Chromium's offer: audio recvonly with its codecs, and the data channel", () => {
    const o = parseOffer(chromium);
    expect(o.media.map((m) => [m.kind, m.mid, m.direction])).toEqual([
      ['audio', '0', 'recvonly'],
      ['application', '1', 'sendrecv'],
    ]);
    const audio = o.media[0]!;
    expect(audio.rtpmaps.get(111)).toEqual({ encoding: 'opus', clockRate: 48000, channels: 2 });
    expect(audio.fmtp.get(111)?.get('useinbandfec')).toBe('1');
    expect(audio.rtcpFb.get(111)).toEqual(['transport-cc']);
    expect(o.iceUfrag.length).toBeGreaterThanOrEqual(4);
  });

  test("reads Firefox's offer (session-level fingerprint, stereo=1 already)", () => {
    const o = parseOffer(firefox);
    expect(o.media[0]!.fmtp.get(109)?.get('stereo')).toBe('1');
    expect(o.iceUfrag).toBe('8a1c2e7f');
  });

  test.each([
    ['an empty body', '', /empty/],
    ['a first line other than v=0', chromium.replace('v=0', 'v=1'), /starts with "v=0"/],
    ['a line that is not type=value', chromium.replace('s=-', 'hello'), /line 3: not an SDP line/],
    ['a NUL byte', chromium.replace('s=-', 's=\0'), /control character 0x00/],
    ['no m= section', chromium.slice(0, chromium.indexOf('m=audio')), /no m= section/],
    ['no ICE credentials', chromium.replace(/a=ice-ufrag:[^\r\n]*\r\n/g, ''), /no a=ice-ufrag/],
    ['no fingerprint', chromium.replace(/a=fingerprint:[^\r\n]*\r\n/g, ''), /no a=fingerprint/],
    ['plain RTP', chromium.replace('UDP/TLS/RTP/SAVPF', 'RTP/AVP'), /RTP\/AVP; WebRTC media needs/],
    ['a payload type above 127', chromium.replace('SAVPF 111 63', 'SAVPF 300 63'), /payload type 300 is outside/],
    ['a dynamic payload type without rtpmap', chromium.replace('a=rtpmap:63 red/48000/2\r\n', ''), /payload type 63 has no a=rtpmap/],
    ['a broken rtpmap', chromium.replace('a=rtpmap:111 opus/48000/2', 'a=rtpmap:111 opus'), /malformed a=rtpmap/],
    ['two sections with one mid', chromium.replace('a=mid:1', 'a=mid:0'), /a=mid:0 is used by two/],
    ['a short ice-pwd', chromium.replace(/a=ice-pwd:[^\r\n]*/g, 'a=ice-pwd:short'), /ice-pwd must be 22–256/],
    ['a malformed candidate', chromium.replace(/a=candidate:[^\r\n]*/, 'a=candidate:x'), /malformed a=candidate/],
    ['a 5000-character line', chromium.replace('s=-', `s=${'x'.repeat(5000)}`), /5002 characters long/],
    ['1500 lines', chromium + 'a=x\r\n'.repeat(1500), /1549 lines; hark accepts at most 1000/],
    ['a truncated offer', chromium.slice(0, Math.floor(chromium.length * 0.3)), /no a=ice-ufrag|no a=fingerprint|malformed/],
  ])('refuses %s with a reason', (_name, sdp, reason) => {
    expect(() => parseOffer(sdp)).toThrow(SdpError);
    expect(() => parseOffer(sdp)).toThrow(reason);
  });
});

describe('planAudio', () => {
  test("Chromium's default offer: Opus on its payload type, mono (no stereo=1), FEC on, 10 ms", () => {
    const plan = planAudio(parseOffer(chromium), policy())!;
    expect(plan.codec).toBe('opus');
    expect(plan.payloadType).toBe(111);
    expect(plan.spec).toMatchObject({ codec: 'opus', channels: 1, bitrateKbps: 96, frameMs: 10, fec: true, dtx: false, cbr: false, application: 'audio' });
    expect(plan.fmtp).toContain('sprop-stereo=0');
    expect(plan.nack).toBe(false);
  });

  test('stereo=1 in the offer gets stereo; the answer says sprop-stereo=1', () => {
    const plan = planAudio(parseOffer(withOpusFmtp('minptime=10;useinbandfec=1;stereo=1')), policy())!;
    expect(plan.spec).toMatchObject({ channels: 2 });
    expect(plan.fmtp).toContain('stereo=1;sprop-stereo=1');
  });

  test('Firefox: its payload type 109, stereo', () => {
    const plan = planAudio(parseOffer(firefox), policy())!;
    expect(plan).toMatchObject({ payloadType: 109, codec: 'opus', spec: { channels: 2 } });
  });

  test.each([
    ['maxaveragebitrate caps the bitrate', 'maxaveragebitrate=32000', { bitrateKbps: 32 }, 'maxaveragebitrate=32000'],
    ['usedtx=1 with usedtx allowed', 'usedtx=1', { dtx: true }, 'usedtx=1'],
    ['cbr=1', 'cbr=1', { cbr: true }, 'cbr=1'],
    ['useinbandfec=0', 'useinbandfec=0', { fec: false }, 'useinbandfec=0'],
    ['minptime=20 lengthens the frames', 'minptime=20', { frameMs: 20 }, 'minptime=20'],
    ['maxplaybackrate=16000 limits the band', 'maxplaybackrate=16000', { maxBandwidth: 'wideband' }, 'maxplaybackrate=16000'],
  ])('%s', (_name, fmtp, spec, answer) => {
    const plan = planAudio(parseOffer(withOpusFmtp(fmtp)), policy({ usedtx: true }))!;
    expect(plan.spec).toMatchObject(spec);
    expect(plan.fmtp).toContain(answer);
  });

  test('opus.low_delay: RESTRICTED_LOWDELAY and no inband FEC, even when the offer asks', () => {
    const plan = planAudio(parseOffer(chromium), policy({ lowDelay: true }))!;
    expect(plan.spec).toMatchObject({ application: 'restricted-lowdelay', fec: false });
    expect(plan.fmtp).toContain('useinbandfec=0');
  });

  test('honour_minptime = false keeps 2.5 ms frames for a browser that says minptime=10', () => {
    expect(planAudio(parseOffer(chromium), policy({ frameMs: 2.5, honourMinptime: false }))!.spec).toMatchObject({ frameMs: 2.5 });
    expect(planAudio(parseOffer(chromium), policy({ frameMs: 2.5 }))!.spec).toMatchObject({ frameMs: 10 });
  });

  test('rtcp-fb nack in the offer is answered', () => {
    const plan = planAudio(parseOffer(chromium.replace('a=rtcp-fb:111 transport-cc', 'a=rtcp-fb:111 nack')), policy())!;
    expect(plan.nack).toBe(true);
  });

  test.each([
    ['no Opus: PCMU', 'SAVPF 0 8 9', 'pcmu', 0],
    ['PCMA only', 'SAVPF 8', 'pcma', 8],
    ['G.722 only', 'SAVPF 9', 'g722', 9],
  ])('falls back — %s', (_name, formats, codec, pt) => {
    const plan = planAudio(parseOffer(chromium.replace('SAVPF 111 63 9 0 8 13 110 126', formats)), policy())!;
    expect(plan).toMatchObject({ codec, payloadType: pt, clockRate: 8000, spec: { codec, frameMs: 10 } });
  });

  test('webrtc.codecs decides the preference', () => {
    expect(planAudio(parseOffer(chromium), policy({}, ['g722', 'opus']))!.codec).toBe('g722');
  });

  test.each([
    ['only codecs hark does not send', chromium.replace('SAVPF 111 63 9 0 8 13 110 126', 'SAVPF 13 126').replace(/m=application[\s\S]*$/, ''), /no acceptable audio codec: the offer has cn, telephone-event/],
    ['a sendonly audio section', chromium.replace('a=recvonly', 'a=sendonly').replace(/m=application[\s\S]*$/, ''), /sendonly: a WHEP offer must be recvonly/],
    ['video only', chromium.replace('m=audio', 'm=video').replace(/m=application[\s\S]*$/, ''), /no audio m= section \(only video\)/],
  ])('refuses %s (406)', (_name, sdp, reason) => {
    const offer = parseOffer(sdp);
    expect(() => planAudio(offer, policy())).toThrow(NotAcceptableError);
    expect(() => planAudio(offer, policy())).toThrow(reason);
  });

  test('a data channel without usable audio is an MP3-only listener', () => {
    expect(planAudio(parseOffer(chromium.replace('SAVPF 111 63 9 0 8 13 110 126', 'SAVPF 13')), policy())).toBeUndefined();
  });
});

describe('trickle ICE fragments', () => {
  const frag = ['a=ice-ufrag:pSiI', 'a=ice-pwd:z9IF2I4jRSKEO+xygQ9cKaK/', 'm=audio 9 UDP/TLS/RTP/SAVPF 0', 'a=mid:0', 'a=candidate:1 1 udp 2113937151 192.0.2.9 5000 typ host', 'a=end-of-candidates', ''].join('\r\n');

  test('candidates belong to the mid they follow', () => {
    expect(parseIceFragment(frag, '0')).toEqual({
      ufrag: 'pSiI',
      pwd: 'z9IF2I4jRSKEO+xygQ9cKaK/',
      candidates: [{ mid: '0', candidate: 'candidate:1 1 udp 2113937151 192.0.2.9 5000 typ host' }],
      endOfCandidates: true,
    });
  });

  test.each([
    ['an empty fragment', '', /empty/],
    ['a malformed candidate', 'a=candidate:1 1 udp', /malformed a=candidate/],
    ['garbage', '\u0001\u0002', /control character/],
  ])('refuses %s', (_n, text, reason) => {
    expect(() => parseIceFragment(text, '0')).toThrow(reason);
  });
});

describe('answer shaping and headers', () => {
  test('additional hosts become host candidates on the shared port, before end-of-candidates', () => {
    const answer = 'v=0\r\nm=audio 8189 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 UDP 2114977791 192.0.2.2 8189 typ host\r\na=end-of-candidates\r\nm=application 8189 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:1\r\n';
    const out = addHostCandidates(answer, ['203.0.113.7', '2001:db8::7'], 8189);
    const lines = out.split('\r\n');
    const eoc = lines.indexOf('a=end-of-candidates');
    expect(lines[eoc - 2]).toMatch(/^a=candidate:h1 1 UDP \d+ 203\.0\.113\.7 8189 typ host$/);
    expect(lines[eoc - 1]).toMatch(/^a=candidate:h2 1 UDP \d+ 2001:db8::7 8189 typ host$/);
    expect(parseInt(lines[eoc - 2]!.split(' ')[3]!)).toBeLessThan(2 ** 32);
  });

  test('If-Match: strong entity-tags, lists', () => {
    expect(etagMatches('"abc"', '"abc"')).toBe(true);
    expect(etagMatches('"x", "abc"', '"abc"')).toBe(true);
    expect(etagMatches('abc', '"abc"')).toBe(true);
    expect(etagMatches('"abd"', '"abc"')).toBe(false);
    expect(etagMatches('W/"abc"', '"abc"')).toBe(false);
  });

  test('ICE server Link headers (RFC 9725 §4.6) and libdatachannel forms', () => {
    const servers = [
      { url: 'stun:stun.example.net:3478', username: '', credential: '' },
      { url: 'turn:turn.example.net:3478?transport=tcp', username: 'u', credential: 'p"w' },
    ];
    expect(iceServerLinks(servers)).toEqual([
      '<stun:stun.example.net:3478>; rel="ice-server"',
      '<turn:turn.example.net:3478?transport=tcp>; rel="ice-server"; username="u"; credential="p\\"w"; credential-type="password"',
    ]);
    expect(toRtcIceServer(servers[0]!)).toBe('stun:stun.example.net:3478');
    expect(toRtcIceServer(servers[1]!)).toEqual({ hostname: 'turn.example.net', port: 3478, username: 'u', password: 'p"w', relayType: 'TurnTcp' });
    expect(() => toRtcIceServer({ url: 'http://x', username: '', credential: '' })).toThrow('not stun:');
  });
});

describe('RTCP from listeners', () => {
  test('a receiver report: loss, jitter, and the round trip from LSR/DLSR', () => {
    const b = Buffer.alloc(32);
    b[0] = 0x81; // V=2, one report block
    b[1] = 201;
    b.writeUInt16BE(7, 2);
    b.writeUInt32BE(0x11111111, 4); // reporter
    b.writeUInt32BE(0xabcdef01, 8); // about us
    b[12] = 64; // 25 % lost
    b.writeUIntBE(3, 13, 3);
    b.writeUInt32BE(480, 20);
    const now = ntpMiddle32();
    b.writeUInt32BE((now - 65536 * 0.05 - 65536 * 0.01 + 2 ** 32) % 2 ** 32 >>> 0, 24); // SR sent 60 ms ago
    b.writeUInt32BE(65536 * 0.05, 28); // held 50 ms by the listener
    const r = parseRtcp(b);
    expect(r.reports).toHaveLength(1);
    expect(r.reports[0]).toMatchObject({ ssrc: 0xabcdef01, fractionLost: 0.25, cumulativeLost: 3, jitter: 480 });
    expect(rttFromReport(r.reports[0]!, now)).toBeCloseTo(10, 0);
  });

  test('BYE and generic NACK (with its bitmask) are counted', () => {
    const bye = Buffer.from([0x81, 203, 0, 1, 0, 0, 0, 1]);
    const nack = Buffer.from([0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 10, 0b0000_0000, 0b0000_0101]);
    expect(parseRtcp(bye).bye).toBe(true);
    expect(parseRtcp(nack).nacked).toBe(3);
    expect(parseRtcp(Buffer.concat([nack, bye]))).toMatchObject({ bye: true, nacked: 3 });
    expect(parseRtcp(Buffer.from([1, 2, 3]))).toEqual({ reports: [], bye: false, nacked: 0 });
  });
});
