/**
 * `[[rtp]]` to a multicast group with SAP (issue 20), in a network namespace this test creates:
 * loopback only, with the multicast routes on lo, so nothing leaves the machine and no other
 * test's traffic is seen. ffmpeg joins the group from the served SDP and decodes the tone;
 * the SAP announcement on 239.255.255.255:9875 carries the same SDP, and a deletion follows
 * the stop.
 */
import { describe, expect, test } from 'bun:test';
import { join } from 'node:path';

interface Result {
  sdp: string;
  sap: { deletion: boolean; origin: string; type: string; payload: string; from: string }[];
  announced: number;
  status: { state: string; multicast: boolean; packets: number; sap_announcements: number; ttl: number };
  code: number;
  seconds: number;
  freq: number[];
  level: number[];
  ffmpeg: string;
  harkLog: string;
}

/**
 * IPv4: loopback only, 224.0.0.0/4 routed to lo. IPv6 multicast is not looped back on lo, so
 * the IPv6 run adds a veth pair (its far end unused) with fd00::1 and routes ff00::/8 there:
 * still nothing outside the namespace.
 */
async function inNamespace(args: string[], v6 = false): Promise<Result> {
  const setup = [
    'ip link set lo up',
    'ip link set lo multicast on',
    'ip route add 224.0.0.0/4 dev lo',
    ...(v6 ? ['ip link add v0 type veth peer name v1', 'ip link set v1 up', 'ip link set v0 multicast on up', 'ip -6 addr add fd00::1/64 dev v0 nodad', 'ip -6 route add ff00::/8 dev v0 table local'] : []),
  ].join(' && ');
  const ns = process.getuid?.() === 0 ? ['unshare', '-n'] : ['unshare', '-rn'];
  const p = Bun.spawn([...ns, 'sh', '-c', `${setup} && exec "$0" "$@"`, process.execPath, join(import.meta.dir, 'fixtures/rtp-multicast.ts'), ...args], {
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`the namespace run failed (${code}):\n${err}\n${out}`);
  return JSON.parse(out.trim().split('\n').pop()!) as Result;
}

describe('RTP multicast in a private network namespace', () => {
  test('L24 1 ms to 239.69.1.10: ffmpeg joins from the SDP and hears the tone; SAP announces the same SDP and deletes it at stop', async () => {
    const r = await inNamespace(['239.69.1.10', '5004', 'l24', '1']);
    expect(r.code).toBe(0);
    // The SDP: multicast c= with the TTL, what AES67 receivers read.
    expect(r.sdp).toContain('c=IN IP4 239.69.1.10/1\r\n');
    expect(r.sdp).toContain('m=audio 5004 RTP/AVP 96\r\na=rtpmap:96 L24/48000/2\r\na=ptime:1\r\n');
    expect(r.sdp).toContain('a=ts-refclk:local\r\n');
    // ffmpeg received and decoded 3 s of the 997 Hz tone at -18 dBFS on both channels.
    expect(r.seconds, r.ffmpeg + r.harkLog).toBeGreaterThan(2.9);
    for (const f of r.freq) expect(Math.abs(f - 997)).toBeLessThan(2);
    for (const l of r.level) expect(Math.abs(l - -18)).toBeLessThan(0.1);
    expect(r.status.state).toBe('live');
    expect(r.status.multicast).toBe(true);
    expect(r.status.sap_announcements).toBeGreaterThanOrEqual(1);
    // SAP: the first announcement arrived at once and is the SDP served over HTTP, byte for byte.
    const ann = r.sap.filter((m) => !m.deletion);
    expect(ann.length).toBeGreaterThanOrEqual(1);
    expect(ann[0]!.type).toBe('application/sdp');
    expect(ann[0]!.payload).toBe(r.sdp);
    expect(ann[0]!.origin).toBe('127.0.0.1');
    // The stop sends the deletion, naming the session by its o= line.
    const del = r.sap.filter((m) => m.deletion);
    expect(del.length).toBe(1);
    expect(del[0]!.payload).toBe(`${r.sdp.split('\r\n').find((l) => l.startsWith('o='))}\r\n`);
  }, 60_000);

  test('Opus 10 ms mono to an IPv6 group: ffmpeg hears the tone', async () => {
    const r = await inNamespace(['ff05::1:10', '5006', 'opus', '10', 'channels = 1'], true);
    expect(r.sdp).toContain('c=IN IP6 ff05::1:10\r\n');
    expect(r.sdp).toContain('a=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=0; sprop-stereo=0\r\na=ptime:10\r\n');
    expect(r.seconds, r.ffmpeg + r.harkLog).toBeGreaterThan(2.9);
    for (const f of r.freq) expect(Math.abs(f - 997)).toBeLessThan(2);
    for (const l of r.level) expect(Math.abs(l - -18)).toBeLessThan(0.5);
    expect(r.sdp).toContain('o=- ');
    expect(r.sdp).toContain(' IN IP6 fd00::1\r\n'); // the address it sends from
    const ann = r.sap.filter((m) => !m.deletion)[0]!;
    expect(ann.payload).toBe(r.sdp);
    // To ff05::2:7ffe (the site-local SAP group), from fd00::1, its origin field that address.
    expect(ann.from).toBe('fd00::1');
    expect(ann.origin).toBe('fd00:0:0:0:0:0:0:1');
  }, 60_000);
});
