/**
 * libsrt (libsrt.so.1.5, Debian package libsrt1.5-openssl) bound with bun:ffi: the dlopen
 * table, the constants hark uses, and the owner classes SrtSocket and SrtPoller.
 *
 * Every socket hark makes is non-blocking (SRTO_SNDSYN = SRTO_RCVSYN = false): connect,
 * accept, send and receive return at once and the caller looks again (a timer on the JS
 * thread, or SrtPoller.wait with a timeout inside a Worker). No libsrt call made here blocks
 * the JS thread, and no callback is ever handed to libsrt (its threads would call it).
 *
 * SRT_TRACEBSTATS is read by byte offset; the offsets are those of struct CBytePerfMon in
 * srt.h (libsrt 1.5), the same on x86-64 and arm64 (LP64: int 4, int64/double 8, natural
 * alignment). ffi/srt.test.ts checks them against the header with gcc when it is installed.
 */
import { LibraryCallError, LibraryLoadError, LibrarySettingError } from './errors.ts';
import { dlopen } from 'bun:ffi';
import { isIPv4, isIPv6 } from 'node:net';

const SONAME = 'libsrt.so.1.5';
const DEBIAN_PACKAGE = 'libsrt1.5-openssl';

// Socket options (srt.h enum SRT_SOCKOPT).
export const SRTO_SNDSYN = 1;
export const SRTO_RCVSYN = 2;
export const SRTO_LINGER = 7;
export const SRTO_REUSEADDR = 15;
export const SRTO_LATENCY = 23;
export const SRTO_PASSPHRASE = 26;
export const SRTO_PBKEYLEN = 27;
export const SRTO_KMSTATE = 28;
export const SRTO_CONNTIMEO = 36;
export const SRTO_SNDKMSTATE = 40;
export const SRTO_RCVKMSTATE = 41;
export const SRTO_RCVLATENCY = 43;
export const SRTO_PEERLATENCY = 44;
export const SRTO_STREAMID = 46;
export const SRTO_PAYLOADSIZE = 49;
export const SRTO_TRANSTYPE = 50;
export const SRTO_PEERIDLETIMEO = 56;
/** SRTO_TRANSTYPE value: live mode (srt.h SRT_TRANSTYPE). */
export const SRTT_LIVE = 0;
/** The live-mode payload: 7 × 188-byte TS packets (srt.h SRT_LIVE_DEF_PLSIZE). */
export const SRT_LIVE_PAYLOAD = 1316;

/** Socket states (srt.h SRT_SOCKSTATUS), by name. */
const SOCK_STATES = ['', 'init', 'opened', 'listening', 'connecting', 'connected', 'broken', 'closing', 'closed', 'nonexist'] as const;
export type SrtSockState = Exclude<(typeof SOCK_STATES)[number], ''>;

/** Reject reasons (srt.h SRT_REJECT_REASON) hark acts on. */
export const SRT_REJ_PEER = 2;
export const SRT_REJ_BADSECRET = 10;
export const SRT_REJ_UNSECURE = 11;
export const SRT_REJ_TIMEOUT = 16;
/** Reasons ≥ 1000 are set by the application (srt.h SRT_REJC_PREDEFINED / SRT_REJC_USERDEFINED). */
export const SRT_REJC_PREDEFINED = 1000;

// Error codes (srt.h SRT_ERRNO) that non-blocking calls return for "not now".
export const SRT_EASYNCSND = 6001;
export const SRT_EASYNCRCV = 6002;
export const SRT_ECONNLOST = 2001;
export const SRT_ENOCONN = 2002;

// epoll events (srt.h SRT_EPOLL_OPT).
export const SRT_EPOLL_IN = 0x1;
export const SRT_EPOLL_OUT = 0x4;
export const SRT_EPOLL_ERR = 0x8;
/** srt_epoll_set flag: waiting on an empty set is not an error (srt.h SRT_EPOLL_FLAGS). */
const SRT_EPOLL_ENABLE_EMPTY = 1;

/** sizeof(SRT_TRACEBSTATS) in libsrt 1.5 (struct CBytePerfMon). */
export const TRACEBSTATS_SIZE = 496;
/** Byte offsets of the CBytePerfMon fields hark reads (srt.h, libsrt 1.5). */
export const TRACEBSTATS_OFFSETS = {
  msTimeStamp: 0,
  pktSentTotal: 8,
  pktRecvTotal: 16,
  pktSndLossTotal: 24,
  pktRcvLossTotal: 28,
  pktRetransTotal: 32,
  pktSndDropTotal: 64,
  pktRcvDropTotal: 68,
  pktRcvUndecryptTotal: 72,
  byteSentTotal: 80,
  byteRecvTotal: 88,
  byteRetransTotal: 104,
  pktRcvRetrans: 164,
  mbpsSendRate: 184,
  mbpsRecvRate: 192,
  pktRcvBelated: 224,
  pktFlightSize: 320,
  msRTT: 328,
  mbpsBandwidth: 336,
  pktSndBuf: 364,
  byteSndBuf: 368,
  msSndBuf: 372,
  msSndTsbPdDelay: 376,
  pktRcvBuf: 380,
  msRcvBuf: 388,
  msRcvTsbPdDelay: 392,
  pktSentUniqueTotal: 432,
  pktRecvUniqueTotal: 440,
} as const;
/** sizeof(SRT_MSGCTRL) (srt.h SRT_MsgCtrl_). */
const MSGCTRL_SIZE = 48;
/** Offset of SRT_MSGCTRL.srctime (uint64_t, µs on libsrt's clock; after four ints). */
const MSGCTRL_SRCTIME = 16;
/** sizeof(SRT_EPOLL_EVENT): { SRTSOCKET fd; int events; }. */
const EPOLL_EVENT_SIZE = 8;

/** libsrt refused a call; `reason` is srt_getlasterror_str()'s text, `code` its SRT_ERRNO. */
export class SrtError extends LibraryCallError {
  override readonly name = 'SrtError';
}

/** A setting outside what libsrt takes (it would refuse or silently clamp it). */
export class SrtConfigError extends LibrarySettingError {
  override readonly name = 'SrtConfigError';
}

/** libsrt.so.1.5 could not be loaded. */
export class SrtLoadError extends LibraryLoadError {
  override readonly name = 'SrtLoadError';
  constructor(cause: unknown) {
    super(SONAME, DEBIAN_PACKAGE, cause);
  }
}

function openLibrary() {
  return dlopen(SONAME, {
    srt_startup: { args: [], returns: 'i32' },
    srt_cleanup: { args: [], returns: 'i32' },
    // Returns a socket id the caller closes with srt_close.
    srt_create_socket: { args: [], returns: 'i32' },
    // Frees the socket (libsrt closes it in its own GC thread later).
    srt_close: { args: ['i32'], returns: 'i32' },
    // Reads optval (ours, borrowed for the call; libsrt copies it).
    srt_setsockflag: { args: ['i32', 'i32', 'ptr', 'i32'], returns: 'i32' },
    // Writes optval/optlen (ours, borrowed for the call).
    srt_getsockflag: { args: ['i32', 'i32', 'ptr', 'ptr'], returns: 'i32' },
    // Reads the sockaddr (ours, borrowed for the call).
    srt_bind: { args: ['i32', 'ptr', 'i32'], returns: 'i32' },
    srt_listen: { args: ['i32', 'i32'], returns: 'i32' },
    // Writes addr/addrlen (ours); returns a new socket the caller closes.
    srt_accept: { args: ['i32', 'ptr', 'ptr'], returns: 'i32' },
    // Reads the sockaddr (ours, borrowed for the call).
    srt_connect: { args: ['i32', 'ptr', 'i32'], returns: 'i32' },
    // Writes name/namelen (ours, borrowed for the call).
    srt_getsockname: { args: ['i32', 'ptr', 'ptr'], returns: 'i32' },
    srt_getpeername: { args: ['i32', 'ptr', 'ptr'], returns: 'i32' },
    // Writes mctrl (ours).
    srt_msgctrl_init: { args: ['ptr'], returns: 'void' },
    // Reads buf and mctrl (ours, borrowed; libsrt copies the payload into its send buffer).
    srt_sendmsg2: { args: ['i32', 'ptr', 'i32', 'ptr'], returns: 'i32' },
    // Writes buf (ours, borrowed for the call).
    srt_recvmsg: { args: ['i32', 'ptr', 'i32'], returns: 'i32' },
    // Returns a thread-local static string (valid until the next libsrt call on this thread).
    srt_getlasterror_str: { args: [], returns: 'cstring' },
    // Writes errno_loc (ours, may be null).
    srt_getlasterror: { args: ['ptr'], returns: 'i32' },
    srt_clearlasterror: { args: [], returns: 'void' },
    // Writes perf (ours, borrowed for the call).
    srt_bstats: { args: ['i32', 'ptr', 'i32'], returns: 'i32' },
    srt_bistats: { args: ['i32', 'ptr', 'i32', 'i32'], returns: 'i32' },
    srt_getsockstate: { args: ['i32'], returns: 'i32' },
    srt_getrejectreason: { args: ['i32'], returns: 'i32' },
    // libsrt's clock (µs): the one SRT_MSGCTRL.srctime is on.
    srt_time_now: { args: [], returns: 'i64' },
    // Returns a static string; nothing to free.
    srt_rejectreason_str: { args: ['i32'], returns: 'cstring' },
    srt_getversion: { args: [], returns: 'u32' },
    // Returns an epoll id the caller frees with srt_epoll_release.
    srt_epoll_create: { args: [], returns: 'i32' },
    srt_epoll_release: { args: ['i32'], returns: 'i32' },
    // Reads events (ours, borrowed for the call).
    srt_epoll_add_usock: { args: ['i32', 'i32', 'ptr'], returns: 'i32' },
    srt_epoll_remove_usock: { args: ['i32', 'i32'], returns: 'i32' },
    // Writes fdsSet (ours, borrowed for the call). Blocks up to msTimeOut: 0 on the JS thread.
    srt_epoll_uwait: { args: ['i32', 'ptr', 'i32', 'i64'], returns: 'i32' },
    srt_epoll_set: { args: ['i32', 'i32'], returns: 'i32' },
    srt_setloglevel: { args: ['i32'], returns: 'void' },
  });
}

type Symbols = ReturnType<typeof openLibrary>['symbols'];
let loaded: Symbols | undefined;

/**
 * The libsrt symbols, loaded and srt_startup()ed on first use so that importing this module
 * never fails. srt_cleanup is left to process exit: libsrt's threads are shared by every
 * socket, and a box that streams SRT streams it until it stops.
 */
function srt(): Symbols {
  if (!loaded) {
    let lib: Symbols;
    try {
      lib = openLibrary().symbols;
    } catch (e) {
      throw new SrtLoadError(e);
    }
    if (lib.srt_startup() < 0) throw lastError(lib, 'srt_startup');
    // LOG_CRIT (2): libsrt logs to stderr, and at LOG_ERR already on every refused handshake
    // and every empty non-blocking accept. hark reports what matters through its states and the
    // reject reason; HARK_SRT_LOGLEVEL (syslog levels, 7 = debug) brings libsrt's own words back.
    lib.srt_setloglevel(Number(process.env.HARK_SRT_LOGLEVEL ?? 2));
    loaded = lib;
  }
  return loaded;
}

function lastError(lib: Symbols, operation: string): SrtError {
  const code = lib.srt_getlasterror(null);
  const reason = String(lib.srt_getlasterror_str() ?? 'unknown error');
  return new SrtError(operation, code, reason);
}

/** libsrt's version, e.g. "1.5.1". */
export function srtVersion(): string {
  const v = srt().srt_getversion();
  return `${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** libsrt's clock now, in µs (srt_time_now): what a message's source time (SrtSocket.send) is on. */
export function srtTimeNowUs(): number {
  return Number(srt().srt_time_now());
}

/** What srt_rejectreason_str says of a reject reason. */
export function rejectReasonText(reason: number): string {
  return String(srt().srt_rejectreason_str(reason) ?? `reason ${reason}`);
}

/** A socket address as libsrt reads it: struct sockaddr_in / sockaddr_in6 (Linux layout). */
export function sockaddr(host: string, port: number): Uint8Array {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new SrtConfigError('port', `${port} is not a port 0–65535`);
  if (host === '' || isIPv4(host)) {
    const a = new Uint8Array(16);
    const v = new DataView(a.buffer);
    v.setUint16(0, 2, true); // AF_INET, host order
    v.setUint16(2, port, false); // sin_port, network order
    const parts = (host || '0.0.0.0').split('.').map(Number);
    a.set(parts, 4);
    return a;
  }
  if (isIPv6(host)) {
    const a = new Uint8Array(28);
    const v = new DataView(a.buffer);
    v.setUint16(0, 10, true); // AF_INET6
    v.setUint16(2, port, false);
    a.set(ipv6Bytes(host), 8);
    return a;
  }
  throw new SrtConfigError('host', `"${host}" is not an IP address (resolve names first)`);
}

function ipv6Bytes(host: string): number[] {
  const h = host.replace(/^\[|\]$/g, '').split('%')[0]!;
  const [head, tail] = h.includes('::') ? h.split('::') : [h, undefined];
  const conv = (s: string | undefined): number[] => {
    if (!s) return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (g.includes('.')) {
        for (const b of g.split('.').map(Number)) out.push(b);
      } else {
        const n = parseInt(g, 16);
        out.push(n >> 8, n & 0xff);
      }
    }
    return out;
  };
  const a = conv(head);
  const b = conv(tail);
  if (tail === undefined) return a;
  return [...a, ...new Array<number>(16 - a.length - b.length).fill(0), ...b];
}

/** Reads a sockaddr_in/in6 back: host and port. */
function readSockaddr(a: Uint8Array): { host: string; port: number } {
  const v = new DataView(a.buffer, a.byteOffset, a.byteLength);
  const family = v.getUint16(0, true);
  const port = v.getUint16(2, false);
  if (family === 2) return { host: Array.from(a.subarray(4, 8)).join('.'), port };
  if (family === 10) {
    const g: string[] = [];
    for (let i = 0; i < 8; i++) g.push(v.getUint16(8 + 2 * i, false).toString(16));
    return { host: g.join(':'), port };
  }
  return { host: '', port };
}

/** The link statistics hark shows (srt_bstats; totals since the connection began). */
export interface SrtStats {
  /** Round-trip time (smoothed), ms. */
  rttMs: number;
  /** Sending rate, Mbit/s (over the last stats interval). */
  sendMbps: number;
  recvMbps: number;
  /** Estimated link bandwidth, Mbit/s. */
  bandwidthMbps: number;
  pktSent: number;
  pktRecv: number;
  /** Packets the sender learned were lost (NAKed) / the receiver found missing. */
  pktSndLoss: number;
  pktRcvLoss: number;
  /** Packets sent again. */
  pktRetrans: number;
  /** Packets the sender dropped as too late (lost for good). */
  pktSndDrop: number;
  pktRcvDrop: number;
  pktRcvUndecrypt: number;
  pktRcvRetrans: number;
  byteSent: number;
  byteRecv: number;
  /** Unacknowledged data in the send buffer: packets and ms of audio. */
  pktSndBuf: number;
  msSndBuf: number;
  pktRcvBuf: number;
  msRcvBuf: number;
  /** The negotiated latency (TSBPD delay) each way, ms. */
  msSndTsbPdDelay: number;
  msRcvTsbPdDelay: number;
  pktFlightSize: number;
}

/** Decodes an SRT_TRACEBSTATS (CBytePerfMon) by offset. */
export function readTraceStats(b: Uint8Array): SrtStats {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const o = TRACEBSTATS_OFFSETS;
  const i32 = (off: number) => v.getInt32(off, true);
  const i64 = (off: number) => Number(v.getBigInt64(off, true));
  const f64 = (off: number) => v.getFloat64(off, true);
  return {
    rttMs: f64(o.msRTT),
    sendMbps: f64(o.mbpsSendRate),
    recvMbps: f64(o.mbpsRecvRate),
    bandwidthMbps: f64(o.mbpsBandwidth),
    pktSent: i64(o.pktSentTotal),
    pktRecv: i64(o.pktRecvTotal),
    pktSndLoss: i32(o.pktSndLossTotal),
    pktRcvLoss: i32(o.pktRcvLossTotal),
    pktRetrans: i32(o.pktRetransTotal),
    pktSndDrop: i32(o.pktSndDropTotal),
    pktRcvDrop: i32(o.pktRcvDropTotal),
    pktRcvUndecrypt: i32(o.pktRcvUndecryptTotal),
    pktRcvRetrans: i32(o.pktRcvRetrans),
    byteSent: i64(o.byteSentTotal),
    byteRecv: i64(o.byteRecvTotal),
    pktSndBuf: i32(o.pktSndBuf),
    msSndBuf: i32(o.msSndBuf),
    pktRcvBuf: i32(o.pktRcvBuf),
    msRcvBuf: i32(o.msRcvBuf),
    msSndTsbPdDelay: i32(o.msSndTsbPdDelay),
    msRcvTsbPdDelay: i32(o.msRcvTsbPdDelay),
    pktFlightSize: i32(o.pktFlightSize),
  };
}

/** Options SrtSocket.create sets before bind/connect (they must precede the handshake). */
export interface SrtSocketOptions {
  /** Latency (TSBPD delay) both ways, ms: SRTO_RCVLATENCY and SRTO_PEERLATENCY. Default 120. */
  latencyMs?: number;
  /** Receiver latency alone (SRTO_RCVLATENCY), when it differs from latencyMs. */
  rcvLatencyMs?: number;
  /** What we ask of the peer's receiver latency (SRTO_PEERLATENCY). */
  peerLatencyMs?: number;
  /** '' = no encryption; else 10–79 characters (SRTO_PASSPHRASE). */
  passphrase?: string;
  /** AES key length in bytes, 16 (AES-128), 24 or 32 (AES-256); used with a passphrase. */
  pbkeylen?: 16 | 24 | 32;
  /** SRTO_STREAMID, up to 512 characters (set on a caller; a listener reads the peer's). */
  streamId?: string;
  /** SRTO_PAYLOADSIZE: 1316 (7 TS packets), libsrt's live default. */
  payloadSize?: number;
  /** SRTO_CONNTIMEO, ms (libsrt's default 3000). */
  connectTimeoutMs?: number;
  /** SRTO_PEERIDLETIMEO, ms: the link breaks after this long without a word from the peer (default 5000). */
  peerIdleTimeoutMs?: number;
}

// Only a warning: sockets are closed by close(), never by the collector.
const leakWatch = new FinalizationRegistry<string>((what) => {
  console.warn(`[srt] an ${what} was garbage-collected without close(): its libsrt socket leaks`);
});

function checkInt(setting: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new SrtConfigError(setting, `${v} is not an integer ${lo}–${hi}`);
  return v;
}

/** Checks a passphrase as libsrt would (srt.h: 10..79 characters, or empty for none). */
export function checkPassphrase(p: string): string {
  const n = Buffer.byteLength(p);
  if (n !== 0 && (n < 10 || n > 79)) throw new SrtConfigError('passphrase', `${n} bytes: libsrt takes 10–79 characters, or none`);
  return p;
}

/** One SRT socket (SRTSOCKET), live mode, non-blocking. */
export class SrtSocket {
  #sock: number;
  readonly #lib = srt();
  // Buffers are passed to each call as they are, never as a pointer taken once: JSC may move
  // a small typed array's storage (a cached ptr() of the 496-byte stats block read stale data).
  readonly #int = new Int32Array(1);
  readonly #len = new Int32Array(1);
  readonly #stats = new Uint8Array(TRACEBSTATS_SIZE);
  readonly #mctrl = new Uint8Array(MSGCTRL_SIZE);
  readonly #mctrlView = new DataView(this.#mctrl.buffer);
  readonly #addr = new Uint8Array(28);

  private constructor(sock: number) {
    this.#sock = sock;
    leakWatch.register(this, 'SrtSocket', this);
  }

  /** A new live-mode, non-blocking socket with `options` set. */
  static create(options: SrtSocketOptions = {}): SrtSocket {
    const lib = srt();
    const sock = lib.srt_create_socket();
    if (sock < 0) throw lastError(lib, 'srt_create_socket');
    const s = new SrtSocket(sock);
    try {
      s.setInt(SRTO_TRANSTYPE, SRTT_LIVE);
      s.setInt(SRTO_SNDSYN, 0);
      s.setInt(SRTO_RCVSYN, 0);
      const latency = checkInt('latencyMs', options.latencyMs ?? 120, 0, 60_000);
      s.setInt(SRTO_RCVLATENCY, checkInt('rcvLatencyMs', options.rcvLatencyMs ?? latency, 0, 60_000));
      s.setInt(SRTO_PEERLATENCY, checkInt('peerLatencyMs', options.peerLatencyMs ?? latency, 0, 60_000));
      s.setInt(SRTO_PAYLOADSIZE, checkInt('payloadSize', options.payloadSize ?? SRT_LIVE_PAYLOAD, 188, 1456));
      if (options.connectTimeoutMs !== undefined) s.setInt(SRTO_CONNTIMEO, checkInt('connectTimeoutMs', options.connectTimeoutMs, 100, 120_000));
      if (options.peerIdleTimeoutMs !== undefined) s.setInt(SRTO_PEERIDLETIMEO, checkInt('peerIdleTimeoutMs', options.peerIdleTimeoutMs, 100, 600_000));
      const pass = checkPassphrase(options.passphrase ?? '');
      if (pass) {
        const keylen = options.pbkeylen ?? 16;
        if (keylen !== 16 && keylen !== 24 && keylen !== 32) throw new SrtConfigError('pbkeylen', `${keylen}: libsrt takes 16, 24 or 32`);
        s.setInt(SRTO_PBKEYLEN, keylen);
        s.setString(SRTO_PASSPHRASE, pass);
      }
      if (options.streamId) {
        if (Buffer.byteLength(options.streamId) > 512) throw new SrtConfigError('streamId', 'longer than 512 bytes');
        s.setString(SRTO_STREAMID, options.streamId);
      }
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  /** The SRTSOCKET number (for logs and SrtPoller). */
  get id(): number {
    return this.#h('id');
  }

  get closed(): boolean {
    return this.#sock < 0;
  }

  #h(operation: string): number {
    if (this.#sock < 0) throw new SrtError(operation, null, 'SrtSocket is closed');
    return this.#sock;
  }

  #check(operation: string, rc: number): number {
    if (rc < 0) throw lastError(this.#lib, operation);
    return rc;
  }

  /** srt_setsockflag with an int (bool options take an int too). */
  setInt(opt: number, value: number): void {
    this.#int[0] = value;
    this.#check(`srt_setsockflag(${opt})`, this.#lib.srt_setsockflag(this.#h('srt_setsockflag'), opt, this.#int, 4));
  }

  setString(opt: number, value: string): void {
    const b = Buffer.from(value);
    this.#check(`srt_setsockflag(${opt})`, this.#lib.srt_setsockflag(this.#h('srt_setsockflag'), opt, b.length ? b : new Uint8Array(1), b.length));
  }

  getInt(opt: number): number {
    this.#len[0] = 4;
    this.#check(`srt_getsockflag(${opt})`, this.#lib.srt_getsockflag(this.#h('srt_getsockflag'), opt, this.#int, this.#len));
    return this.#int[0]!;
  }

  getString(opt: number, max = 512): string {
    const b = new Uint8Array(max + 1);
    this.#len[0] = max;
    this.#check(`srt_getsockflag(${opt})`, this.#lib.srt_getsockflag(this.#h('srt_getsockflag'), opt, b, this.#len));
    return Buffer.from(b.subarray(0, this.#len[0])).toString();
  }

  /** Bind to a local address ('' = any IPv4; '::' for IPv6) and port (0 = any). */
  bind(host: string, port: number): void {
    const a = sockaddr(host, port);
    this.#check('srt_bind', this.#lib.srt_bind(this.#h('srt_bind'), a, a.length));
  }

  listen(backlog = 1): void {
    this.#check('srt_listen', this.#lib.srt_listen(this.#h('srt_listen'), backlog));
  }

  /**
   * A pending connection, as its own socket (the caller owns it and closes it), or null when
   * none is waiting. Never blocks.
   */
  accept(): SrtSocket | null {
    this.#len[0] = this.#addr.length;
    const ns = this.#lib.srt_accept(this.#h('srt_accept'), this.#addr, this.#len);
    if (ns < 0) {
      const code = this.#lib.srt_getlasterror(null);
      if (code === SRT_EASYNCRCV) return null;
      throw lastError(this.#lib, 'srt_accept');
    }
    return new SrtSocket(ns);
  }

  /** Start connecting to an IP address; returns at once (watch `state`). */
  connect(host: string, port: number): void {
    const a = sockaddr(host, port);
    this.#check('srt_connect', this.#lib.srt_connect(this.#h('srt_connect'), a, a.length));
  }

  /** The local address (the port a bind to 0 got). */
  localAddress(): { host: string; port: number } {
    this.#len[0] = this.#addr.length;
    this.#check('srt_getsockname', this.#lib.srt_getsockname(this.#h('srt_getsockname'), this.#addr, this.#len));
    return readSockaddr(this.#addr);
  }

  peerAddress(): { host: string; port: number } {
    this.#len[0] = this.#addr.length;
    this.#check('srt_getpeername', this.#lib.srt_getpeername(this.#h('srt_getpeername'), this.#addr, this.#len));
    return readSockaddr(this.#addr);
  }

  /** srt_getsockstate, by name ('closed' once close() was called here). */
  get state(): SrtSockState {
    if (this.#sock < 0) return 'closed';
    return SOCK_STATES[this.#lib.srt_getsockstate(this.#sock)] || 'nonexist';
  }

  /** Why the handshake was refused (srt_getrejectreason); 0 while unknown. */
  get rejectReason(): number {
    return this.#sock < 0 ? 0 : this.#lib.srt_getrejectreason(this.#sock);
  }

  /**
   * Send one message (≤ the payload size). Returns the bytes taken, or 0 when the send buffer
   * is full (non-blocking: the message was not queued). Throws SrtError when the link is gone.
   */
  send(data: Uint8Array, srctimeUs = 0): number {
    const sock = this.#h('srt_sendmsg2');
    // libsrt writes back into the control block (srctime, msgno, pktseq): a block reused as it
    // came back would give every later message the first one's source time, and the sender
    // stalls. Fresh defaults each time (srctime 0 = "now").
    this.#lib.srt_msgctrl_init(this.#mctrl);
    if (srctimeUs > 0) this.#mctrlView.setBigUint64(MSGCTRL_SRCTIME, BigInt(Math.round(srctimeUs)), true);
    const n = this.#lib.srt_sendmsg2(sock, data, data.length, this.#mctrl);
    if (n < 0) {
      if (this.#lib.srt_getlasterror(null) === SRT_EASYNCSND) return 0;
      throw lastError(this.#lib, 'srt_sendmsg2');
    }
    return n;
  }

  /**
   * Receive one message into `buf` (≥ 1316 bytes for TS). Returns its length, or 0 when none
   * is ready yet. Throws SrtError when the link is gone.
   */
  recv(buf: Uint8Array): number {
    const n = this.#lib.srt_recvmsg(this.#h('srt_recvmsg'), buf, buf.length);
    if (n < 0) {
      if (this.#lib.srt_getlasterror(null) === SRT_EASYNCRCV) return 0;
      throw lastError(this.#lib, 'srt_recvmsg');
    }
    return n;
  }

  /** The link statistics (srt_bistats, instantaneous values for the buffers and RTT). */
  stats(clear = false): SrtStats {
    this.#check('srt_bistats', this.#lib.srt_bistats(this.#h('srt_bistats'), this.#stats, clear ? 1 : 0, 1));
    return readTraceStats(this.#stats);
  }

  /** Close the socket. Idempotent. */
  close(): void {
    if (this.#sock < 0) return;
    this.#lib.srt_close(this.#sock);
    this.#sock = -1;
    leakWatch.unregister(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * An SRT epoll set (srt_epoll_*): which sockets are readable, writable or broken. wait(0)
 * never blocks and is what the JS thread uses; a Worker may wait longer.
 */
export class SrtPoller {
  #eid: number;
  readonly #lib = srt();
  readonly #ev = new Int32Array(1);
  readonly #events: Uint8Array;
  readonly #view: DataView;

  constructor(readonly maxEvents = 16) {
    checkInt('maxEvents', maxEvents, 1, 1024);
    const eid = this.#lib.srt_epoll_create();
    if (eid < 0) throw lastError(this.#lib, 'srt_epoll_create');
    this.#eid = eid;
    this.#lib.srt_epoll_set(eid, SRT_EPOLL_ENABLE_EMPTY);
    this.#events = new Uint8Array(maxEvents * EPOLL_EVENT_SIZE);
    this.#view = new DataView(this.#events.buffer);
    leakWatch.register(this, 'SrtPoller', this);
  }

  #h(operation: string): number {
    if (this.#eid < 0) throw new SrtError(operation, null, 'SrtPoller is closed');
    return this.#eid;
  }

  add(sock: SrtSocket, events = SRT_EPOLL_IN | SRT_EPOLL_ERR): void {
    this.#ev[0] = events;
    if (this.#lib.srt_epoll_add_usock(this.#h('srt_epoll_add_usock'), sock.id, this.#ev) < 0) throw lastError(this.#lib, 'srt_epoll_add_usock');
  }

  remove(sock: SrtSocket): void {
    if (sock.closed || this.#eid < 0) return;
    this.#lib.srt_epoll_remove_usock(this.#eid, sock.id);
  }

  /**
   * How many sockets are ready, waiting up to `timeoutMs` (0: look and return); the i-th one's
   * id and events are then readySock(i) and readyEvents(i). Allocates nothing (a receiving
   * thread calls it up to ~200 times a second while it waits for the next packet).
   */
  poll(timeoutMs = 0): number {
    const n = this.#lib.srt_epoll_uwait(this.#h('srt_epoll_uwait'), this.#events, this.maxEvents, timeoutMs);
    if (n < 0) {
      // A timeout with nothing ready is an error in libsrt's eyes (ETIMEOUT).
      this.#lib.srt_clearlasterror();
      return 0;
    }
    return Math.min(n, this.maxEvents);
  }

  readySock(i: number): number {
    return this.#view.getInt32(i * EPOLL_EVENT_SIZE, true);
  }

  readyEvents(i: number): number {
    return this.#view.getInt32(i * EPOLL_EVENT_SIZE + 4, true);
  }

  /** Ready sockets and their events, waiting up to `timeoutMs` (0: look and return). */
  wait(timeoutMs = 0): { sock: number; events: number }[] {
    const n = this.poll(timeoutMs);
    const out: { sock: number; events: number }[] = [];
    for (let i = 0; i < n; i++) out.push({ sock: this.readySock(i), events: this.readyEvents(i) });
    return out;
  }

  close(): void {
    if (this.#eid < 0) return;
    this.#lib.srt_epoll_release(this.#eid);
    this.#eid = -1;
    leakWatch.unregister(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
