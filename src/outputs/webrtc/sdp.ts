/**
 * SDP as WHEP needs it: parse and validate a browser's offer (RFC 8866 syntax, the WebRTC
 * attributes of RFC 8839/8842), parse trickle-ICE fragments (RFC 8840), and add candidates to
 * an answer. Everything a client can get wrong is an SdpError naming the line, so a refusal
 * says what to fix instead of surfacing as a libdatachannel exception.
 */
import { SdpError } from './errors.ts';

/** Offers longer than this are refused before parsing (a browser's offer has ~40–80 lines). */
export const MAX_SDP_LINES = 1000;
/** Longest line accepted (a fingerprint line is ~110 characters). */
export const MAX_LINE_LENGTH = 4096;

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface RtpMap {
  encoding: string;
  clockRate: number;
  channels: number;
}

/** One m= section. */
export interface SdpMedia {
  /** Position among the m= sections (0-based). */
  index: number;
  kind: string;
  port: number;
  proto: string;
  formats: string[];
  /** a=mid, or the index as libdatachannel assigns when there is none. */
  mid: string;
  direction: Direction;
  rtpmaps: Map<number, RtpMap>;
  /** fmtp parameters per payload type; keys lower-cased. */
  fmtp: Map<number, Map<string, string>>;
  /** a=rtcp-fb values per payload type ("nack", "transport-cc" …); "*" applies to all. */
  rtcpFb: Map<number | '*', string[]>;
  /** Line number of the m= line (1-based). */
  line: number;
}

export interface SdpOffer {
  media: SdpMedia[];
  iceUfrag: string;
  icePwd: string;
  /** Line count, for logs. */
  lines: number;
}

const DIRECTIONS = new Set<string>(['sendrecv', 'sendonly', 'recvonly', 'inactive']);
/** RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/". */
const ICE_CHARS = /^[A-Za-z0-9+/]+$/;
/** RFC 8122 §5: hash-func SP fingerprint (hex pairs separated by ':'). */
const FINGERPRINT = /^[A-Za-z0-9-]+ [0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$/;
/** RFC 8839 §5.1 candidate-attribute, up to the candidate type. */
const CANDIDATE = /^candidate:[A-Za-z0-9+/]{1,32} \d{1,3} [A-Za-z]+ \d{1,10} [^\s]{1,255} \d{1,5} typ [a-z]+( .*)?$/;
/** Static payload types hark can send without an a=rtpmap (RFC 3551 table 4). */
const STATIC_PT: Record<number, RtpMap> = {
  0: { encoding: 'pcmu', clockRate: 8000, channels: 1 },
  8: { encoding: 'pcma', clockRate: 8000, channels: 1 },
  9: { encoding: 'g722', clockRate: 8000, channels: 1 },
};

function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Characters other than printable text, tab and line ends (NUL bytes, escapes …). */
function checkCharacters(text: string): void {
  // eslint-disable-next-line no-control-regex
  const bad = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.exec(text);
  if (bad) {
    const line = text.slice(0, bad.index).split('\n').length;
    throw new SdpError(`control character 0x${bad[0].charCodeAt(0).toString(16).padStart(2, '0')} in the SDP`, line);
  }
}

function int(value: string, min: number, max: number, what: string, line: number): number {
  if (!/^\d{1,10}$/.test(value)) throw new SdpError(`${what} "${value}" is not a number`, line);
  const n = Number(value);
  if (n < min || n > max) throw new SdpError(`${what} ${n} is outside ${min}–${max}`, line);
  return n;
}

/** fmtp parameter list: `key=value;key=value` (keys lower-cased, as RFC 7587 §7 says they are case-insensitive). */
export function parseFmtp(params: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of params.split(';')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq < 0) out.set(p.toLowerCase(), '');
    else out.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
  }
  return out;
}

/**
 * Parse and validate a WebRTC offer. Checks what libdatachannel would otherwise trip over or
 * silently accept: SDP syntax, an m= section at all, ICE credentials and a DTLS fingerprint
 * for every transport, payload types and their rtpmaps.
 */
export function parseOffer(text: string): SdpOffer {
  if (text.trim() === '') throw new SdpError('the offer is empty');
  checkCharacters(text);
  const lines = splitLines(text);
  if (lines.length > MAX_SDP_LINES) throw new SdpError(`the offer has ${lines.length} lines; hark accepts at most ${MAX_SDP_LINES}`);
  if (lines[0] !== 'v=0') throw new SdpError(`an SDP description starts with "v=0", not "${lines[0]!.slice(0, 40)}"`, 1);

  const session = { o: false, s: false, t: false, ufrag: '', pwd: '', fingerprint: false, direction: 'sendrecv' as Direction };
  const media: SdpMedia[] = [];
  const perMedia: { ufrag: string; pwd: string; fingerprint: boolean; midSet: boolean }[] = [];
  const mids = new Set<string>();

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const n = i + 1;
    if (raw.length > MAX_LINE_LENGTH) throw new SdpError(`line is ${raw.length} characters long; at most ${MAX_LINE_LENGTH}`, n);
    if (!/^[a-z]=/.test(raw)) throw new SdpError(`not an SDP line (expected "<letter>=…"): "${raw.slice(0, 40)}"`, n);
    const type = raw[0]!;
    const value = raw.slice(2);
    const m = media.at(-1);
    const pm = perMedia.at(-1);

    if (type === 'm') {
      const parts = value.split(' ');
      if (parts.length < 4 || parts.some((p) => p === '')) throw new SdpError(`malformed m= line: "${value.slice(0, 60)}"`, n);
      const [kind, portField, proto, ...formats] = parts as [string, string, string, ...string[]];
      const port = int(portField.split('/')[0]!, 0, 65535, 'port', n);
      if (kind === 'audio' || kind === 'video') {
        for (const f of formats) int(f, 0, 127, 'payload type', n);
      }
      media.push({
        index: media.length,
        kind,
        port,
        proto,
        formats,
        mid: String(media.length),
        direction: session.direction,
        rtpmaps: new Map(),
        fmtp: new Map(),
        rtcpFb: new Map(),
        line: n,
      });
      perMedia.push({ ufrag: '', pwd: '', fingerprint: false, midSet: false });
      continue;
    }
    if (type === 'o') session.o = true;
    else if (type === 's') session.s = true;
    else if (type === 't') session.t = true;
    if (type !== 'a') continue;

    const colon = value.indexOf(':');
    const name = colon < 0 ? value : value.slice(0, colon);
    const arg = colon < 0 ? '' : value.slice(colon + 1);
    switch (name) {
      case 'ice-ufrag':
        if (arg.length < 4 || arg.length > 256 || !ICE_CHARS.test(arg)) throw new SdpError('a=ice-ufrag must be 4–256 ice-chars (RFC 8839 §5.4)', n);
        if (pm) pm.ufrag = arg;
        else session.ufrag = arg;
        break;
      case 'ice-pwd':
        if (arg.length < 22 || arg.length > 256 || !ICE_CHARS.test(arg)) throw new SdpError('a=ice-pwd must be 22–256 ice-chars (RFC 8839 §5.4)', n);
        if (pm) pm.pwd = arg;
        else session.pwd = arg;
        break;
      case 'fingerprint':
        if (!FINGERPRINT.test(arg)) throw new SdpError(`malformed a=fingerprint: "${arg.slice(0, 60)}"`, n);
        if (pm) pm.fingerprint = true;
        else session.fingerprint = true;
        break;
      case 'setup':
        if (!['actpass', 'active', 'passive', 'holdconn'].includes(arg)) throw new SdpError(`a=setup:${arg.slice(0, 20)} is not actpass, active or passive`, n);
        break;
      case 'candidate':
        if (!CANDIDATE.test(value)) throw new SdpError(`malformed a=candidate: "${value.slice(0, 80)}"`, n);
        break;
      case 'mid':
        if (!m) break;
        if (!arg || arg.length > 32 || !/^[\x21-\x7e]+$/.test(arg)) throw new SdpError('a=mid must be 1–32 visible characters', n);
        if (mids.has(arg)) throw new SdpError(`a=mid:${arg} is used by two m= sections`, n);
        mids.add(arg);
        m.mid = arg;
        pm!.midSet = true;
        break;
      case 'rtpmap': {
        if (!m) throw new SdpError('a=rtpmap before any m= line', n);
        const r = /^(\d{1,3}) ([A-Za-z0-9_.-]+)\/(\d{1,6})(?:\/(\d{1,2}))?$/.exec(arg);
        if (!r) throw new SdpError(`malformed a=rtpmap: "${arg.slice(0, 60)}"`, n);
        const pt = int(r[1]!, 0, 127, 'payload type', n);
        m.rtpmaps.set(pt, { encoding: r[2]!.toLowerCase(), clockRate: Number(r[3]), channels: r[4] ? Number(r[4]) : 1 });
        break;
      }
      case 'fmtp': {
        if (!m) throw new SdpError('a=fmtp before any m= line', n);
        const r = /^(\d{1,3}) (.*)$/.exec(arg);
        if (!r) throw new SdpError(`malformed a=fmtp: "${arg.slice(0, 60)}"`, n);
        m.fmtp.set(int(r[1]!, 0, 127, 'payload type', n), parseFmtp(r[2]!));
        break;
      }
      case 'rtcp-fb': {
        if (!m) break;
        const r = /^(\d{1,3}|\*) (.+)$/.exec(arg);
        if (!r) throw new SdpError(`malformed a=rtcp-fb: "${arg.slice(0, 60)}"`, n);
        const pt = r[1] === '*' ? '*' : int(r[1]!, 0, 127, 'payload type', n);
        const list = m.rtcpFb.get(pt) ?? [];
        list.push(r[2]!.trim().toLowerCase());
        m.rtcpFb.set(pt, list);
        break;
      }
      default:
        if (DIRECTIONS.has(name) && colon < 0) {
          if (m) m.direction = name as Direction;
          else session.direction = name as Direction;
        }
    }
  }

  if (!session.o || !session.s || !session.t) {
    const missing = ['o', 's', 't'].filter((k) => !session[k as 'o' | 's' | 't']);
    throw new SdpError(`the session part lacks its ${missing.map((k) => `${k}=`).join(', ')} line${missing.length > 1 ? 's' : ''} (RFC 8866 §5)`);
  }
  if (media.length === 0) throw new SdpError('the offer has no m= section: nothing to negotiate');

  // Every transport needs ICE credentials and a DTLS fingerprint, from its own section or the
  // session level. With BUNDLE only the first section's are used, but browsers repeat them.
  for (let k = 0; k < media.length; k++) {
    const mm = media[k]!;
    const pm = perMedia[k]!;
    if (mm.port === 0) continue;
    if (!(pm.ufrag || session.ufrag) || !(pm.pwd || session.pwd)) {
      throw new SdpError(`m=${mm.kind} has no a=ice-ufrag/a=ice-pwd: not a WebRTC (ICE) offer`, mm.line);
    }
    if (!(pm.fingerprint || session.fingerprint)) throw new SdpError(`m=${mm.kind} has no a=fingerprint: not a DTLS-SRTP offer`, mm.line);
    if ((mm.kind === 'audio' || mm.kind === 'video') && !/^UDP\/TLS\/RTP\/SAVPF?$|^TCP\/TLS\/RTP\/SAVPF?$/.test(mm.proto)) {
      throw new SdpError(`m=${mm.kind} uses ${mm.proto}; WebRTC media needs UDP/TLS/RTP/SAVPF`, mm.line);
    }
    if (mm.kind === 'application' && !/DTLS\/SCTP/.test(mm.proto)) {
      throw new SdpError(`m=application uses ${mm.proto}; data channels need UDP/DTLS/SCTP`, mm.line);
    }
    if (mm.kind === 'audio') {
      for (const f of mm.formats) {
        const pt = Number(f);
        // RFC 3551 §6: 0–34 are static assignments; anything above needs its rtpmap.
        if (!mm.rtpmaps.has(pt) && pt >= 35) throw new SdpError(`payload type ${pt} has no a=rtpmap`, mm.line);
      }
    }
  }
  const first = perMedia.findIndex((_, k) => media[k]!.port !== 0);
  const fm = perMedia[first < 0 ? 0 : first]!;
  return { media, iceUfrag: fm.ufrag || session.ufrag, icePwd: fm.pwd || session.pwd, lines: lines.length };
}

/** The encoding of payload type `pt` in `m`: its a=rtpmap, or the static assignment. */
export function rtpMapOf(m: SdpMedia, pt: number): RtpMap | undefined {
  return m.rtpmaps.get(pt) ?? (pt < 96 ? STATIC_PT[pt] : undefined);
}

/** An application/trickle-ice-sdpfrag body (RFC 8840 §4.4). */
export interface IceFragment {
  ufrag?: string;
  pwd?: string;
  candidates: { mid: string; candidate: string }[];
  endOfCandidates: boolean;
}

/**
 * Parse a trickle-ICE SDP fragment. Candidates belong to the a=mid of the m= line they follow;
 * candidates before any m= line go to `defaultMid` (the first bundled section).
 */
export function parseIceFragment(text: string, defaultMid: string): IceFragment {
  checkCharacters(text);
  const lines = splitLines(text);
  if (lines.length > MAX_SDP_LINES) throw new SdpError(`the fragment has ${lines.length} lines; hark accepts at most ${MAX_SDP_LINES}`);
  const out: IceFragment = { candidates: [], endOfCandidates: false };
  let mid = defaultMid;
  let any = false;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const n = i + 1;
    if (raw === '') continue;
    if (raw.length > MAX_LINE_LENGTH) throw new SdpError(`line is ${raw.length} characters long; at most ${MAX_LINE_LENGTH}`, n);
    if (!/^[a-z]=/.test(raw)) throw new SdpError(`not an SDP line: "${raw.slice(0, 40)}"`, n);
    any = true;
    if (raw.startsWith('m=')) {
      mid = defaultMid;
      continue;
    }
    if (!raw.startsWith('a=')) continue;
    const value = raw.slice(2);
    if (value.startsWith('ice-ufrag:')) {
      const u = value.slice(10);
      if (u.length < 4 || u.length > 256 || !ICE_CHARS.test(u)) throw new SdpError('a=ice-ufrag must be 4–256 ice-chars', n);
      out.ufrag = u;
    } else if (value.startsWith('ice-pwd:')) {
      const p = value.slice(8);
      if (p.length < 22 || p.length > 256 || !ICE_CHARS.test(p)) throw new SdpError('a=ice-pwd must be 22–256 ice-chars', n);
      out.pwd = p;
    } else if (value.startsWith('mid:')) {
      mid = value.slice(4);
      if (!mid || mid.length > 32) throw new SdpError('a=mid must be 1–32 characters', n);
    } else if (value.startsWith('candidate:')) {
      if (!CANDIDATE.test(value)) throw new SdpError(`malformed a=candidate: "${value.slice(0, 80)}"`, n);
      out.candidates.push({ mid, candidate: value });
    } else if (value === 'end-of-candidates') {
      out.endOfCandidates = true;
    }
  }
  if (!any) throw new SdpError('the fragment is empty');
  return out;
}

/**
 * Add host candidates for extra addresses (webrtc.additional_hosts: a NAT's public address, a
 * DNS name's addresses) to the first m= section of an answer, on the shared UDP port. Their
 * priority sits just under the real host candidates', so a LAN path still wins.
 */
export function addHostCandidates(answer: string, addresses: string[], port: number): string {
  if (addresses.length === 0) return answer;
  const eol = answer.includes('\r\n') ? '\r\n' : '\n';
  const lines = splitLines(answer);
  const firstM = lines.findIndex((l) => l.startsWith('m='));
  if (firstM < 0) return answer;
  let end = lines.findIndex((l, i) => i > firstM && l.startsWith('m='));
  if (end < 0) end = lines.length;
  const eoc = lines.findIndex((l, i) => i > firstM && i < end && l === 'a=end-of-candidates');
  const at = eoc >= 0 ? eoc : end;
  const add = addresses.map((addr, i) => {
    // RFC 8445 §5.1.2.1: (2^24)·type preference + (2^8)·local preference + (256 − component).
    const priority = 126 * 2 ** 24 + (30000 - i) * 2 ** 8 + 255;
    return `a=candidate:h${i + 1} 1 UDP ${priority} ${addr} ${port} typ host`;
  });
  lines.splice(at, 0, ...add);
  return lines.join(eol) + eol;
}
