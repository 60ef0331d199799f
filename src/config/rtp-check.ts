/**
 * The `[[rtp]]` entries' checks the schema cannot express: a destination that is an address
 * (unicast or a usable multicast group), an even port, a packet time the payload allows,
 * distinct ids that fit in /rtp/<id>.sdp, a program that exists. Each refusal names its key path.
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';
import type { EntryProblem } from './check.ts';
import { resolveProgramId, resolvePrograms } from './programs.ts';
import { PROGRAM_ID_PATTERN, type Config } from './schema.ts';

type RtpEntry = Config['rtp'][number];

/** An entry's id: its `id`, else rtpN (the name in /rtp/<id>.sdp, logs and status). */
export function rtpEntryId(e: Pick<RtpEntry, 'id'>, i: number): string {
  return e.id || `rtp${i + 1}`;
}

/** The packet time an entry sends: packet_ms, or the payload's usual (0). */
export function rtpPacketMs(e: Pick<RtpEntry, 'payload' | 'packet_ms'>): number {
  if (e.packet_ms !== 0) return e.packet_ms;
  return e.payload === 'opus' ? 20 : 1;
}

const PCM_PACKET_MS = [1, 4];
const OPUS_PACKET_MS = [2.5, 5, 10, 20];
const ID = new RegExp(PROGRAM_ID_PATTERN);

function addressProblem(a: string): string | null {
  if (!isIP(a)) return `not an IPv4 or IPv6 address: ${JSON.stringify(a.slice(0, 64))} (a name is not resolved here; give the address)`;
  if (isIPv4(a)) {
    const b = a.split('.').map(Number);
    if (b[0] === 0 || a === '255.255.255.255') return `${a} is not an address packets can be sent to`;
    if (b[0]! >= 240) return `${a} is in the reserved range 240.0.0.0/4`;
    if (b[0] === 224 && b[1] === 0 && b[2] === 0) return `${a} is in 224.0.0.0/24, reserved for routing protocols on the local link; use a group in 239.0.0.0/8 (e.g. 239.69.1.10)`;
    return null;
  }
  if (a === '::') return ':: is not an address packets can be sent to';
  if (/^ff[0-9a-f]?[0-2]:/i.test(a)) return `${a} is a reserved or interface/link-local-only multicast scope; use a site (ff05::) or organisation (ff08::) group`;
  return null;
}

/** The first problem of the [[rtp]] entries, or null. */
export function checkRtpEntries(c: Config): EntryProblem | null {
  const ids = new Map<string, number>();
  const dests = new Map<string, number>();
  for (const [i, e] of c.rtp.entries()) {
    const at = `rtp.${i}`;
    if (e.id !== '' && !ID.test(e.id)) return { path: `${at}.id`, reason: 'lower-case letters, digits, - and _ (it is part of /rtp/<id>.sdp), starting with a letter or digit, up to 32' };
    const id = rtpEntryId(e, i);
    if (ids.has(id)) return { path: `${at}.id`, reason: `"${id}" is used by rtp.${ids.get(id)}; give each a distinct id` };
    ids.set(id, i);
    const bad = addressProblem(e.address);
    if (bad) return { path: `${at}.address`, reason: bad };
    if (e.port % 2 !== 0) return { path: `${at}.port`, reason: `an even port (RTP's; RTCP is the next one up), got ${e.port}` };
    const dest = `${e.address.toLowerCase()} ${e.port}`;
    if (dests.has(dest)) return { path: `${at}.port`, reason: `rtp.${dests.get(dest)} already sends to ${e.address} port ${e.port}` };
    dests.set(dest, i);
    if (e.payload === 'opus' ? !OPUS_PACKET_MS.includes(rtpPacketMs(e)) : !PCM_PACKET_MS.includes(rtpPacketMs(e))) {
      const allowed = e.payload === 'opus' ? '2.5, 5, 10 or 20 (Opus frame sizes)' : '1 or 4 (AES67 packet times)';
      return { path: `${at}.packet_ms`, reason: `${e.payload.toUpperCase()} packets are ${allowed} ms, or 0 for the usual; got ${e.packet_ms}` };
    }
    if (e.source_address !== '') {
      if (!isIP(e.source_address)) return { path: `${at}.source_address`, reason: `not an IPv4 or IPv6 address: ${JSON.stringify(e.source_address.slice(0, 64))}` };
      if (isIPv6(e.source_address) !== isIPv6(e.address)) return { path: `${at}.source_address`, reason: `${e.source_address} and the destination ${e.address} are not both IPv4 or both IPv6` };
    }
    if (resolveProgramId(c, e.program) === undefined) {
      return { path: `${at}.program`, reason: `no program "${e.program}": the programs are ${resolvePrograms(c).map((p) => p.id).join(', ')}` };
    }
  }
  return null;
}
