/**
 * Why a WHEP request was refused. Each class is one reason a client can act on; the HTTP edge
 * (src/http/whep.ts) maps them to status codes, nothing here knows about HTTP.
 */

/** The SDP offer or the trickle-ICE fragment is not well-formed (or not a WebRTC offer). */
export class SdpError extends Error {
  override readonly name = 'SdpError';
  constructor(
    message: string,
    /** 1-based line number the problem was found on, when there is one. */
    readonly line?: number,
  ) {
    super(line ? `line ${line}: ${message}` : message);
  }
}

/** The offer is well-formed but hark cannot send anything it accepts (codec, direction). */
export class NotAcceptableError extends Error {
  override readonly name = 'NotAcceptableError';
}

/** No listener session with this id (never existed, deleted, or pruned). */
export class SessionNotFoundError extends Error {
  override readonly name = 'SessionNotFoundError';
  constructor(readonly id: string) {
    super(`no WHEP session ${id}`);
  }
}

/** webrtc.max_listeners sessions exist already. */
export class CapacityError extends Error {
  override readonly name = 'CapacityError';
  constructor(readonly limit: number) {
    super(`hark has its maximum of ${limit} WebRTC listeners (webrtc.max_listeners)`);
  }
}

/** One client address already holds its share of sessions (webrtc.max_listeners_per_address). */
export class ClientCapacityError extends Error {
  override readonly name = 'ClientCapacityError';
  constructor(readonly limit: number) {
    super(`this address already has ${limit} WebRTC listeners open, the most one address may have (webrtc.max_listeners_per_address): stop one first`);
  }
}

/** WebRTC cannot take listeners right now (the UDP port is taken, or the output is closed). */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
}

/** A PATCH without If-Match (RFC 9725 §4.3.1: the entity-tag is required). */
export class PreconditionRequiredError extends Error {
  override readonly name = 'PreconditionRequiredError';
  constructor() {
    super('If-Match with the ETag from the POST response is required');
  }
}

/** A PATCH whose If-Match is not the session's entity-tag. */
export class PreconditionFailedError extends Error {
  override readonly name = 'PreconditionFailedError';
  constructor(
    readonly sent: string,
    readonly current: string,
  ) {
    super(`If-Match ${sent} does not match the session's ETag ${current}`);
  }
}

/** An ICE restart request: libdatachannel cannot restart ICE on a live connection. */
export class IceRestartUnsupportedError extends Error {
  override readonly name = 'IceRestartUnsupportedError';
  constructor() {
    super('ICE restarts are not supported: DELETE this session and POST a new offer');
  }
}
