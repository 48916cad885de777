import { copy } from "./wire.js";
/**
 * BGP errors: the NOTIFICATION message (RFC 4271 4.5), the catalogue of its error codes and
 * subcodes with the RFCs' names, and the result every decoder of this folder returns.
 *
 * A decoder that finds a message wrong does not throw and does not invent a reason: it returns
 * the code and subcode (and data) that RFC 4271 section 6 says the speaker must send back in
 * its NOTIFICATION before closing, so the session layer only has to forward it. `reason` is
 * for the log line; the peer sees the code, subcode and data.
 */

export const ERR_HEADER = 1;
export const ERR_OPEN = 2;
export const ERR_UPDATE = 3;
export const ERR_HOLD_TIMER = 4;
export const ERR_FSM = 5;
export const ERR_CEASE = 6;
export const ERR_ROUTE_REFRESH = 7;

/** Message Header Error subcodes (RFC 4271 6.1). */
export const HEADER_NOT_SYNCHRONIZED = 1;
export const HEADER_BAD_LENGTH = 2;
export const HEADER_BAD_TYPE = 3;

/** OPEN Message Error subcodes (RFC 4271 6.2; 7 from RFC 5492). */
export const OPEN_UNSPECIFIC = 0;
export const OPEN_UNSUPPORTED_VERSION = 1;
export const OPEN_BAD_PEER_AS = 2;
export const OPEN_BAD_BGP_ID = 3;
export const OPEN_UNSUPPORTED_PARAMETER = 4;
export const OPEN_UNACCEPTABLE_HOLD_TIME = 6;
export const OPEN_UNSUPPORTED_CAPABILITY = 7;

/** UPDATE Message Error subcodes (RFC 4271 6.3). */
export const UPDATE_MALFORMED_ATTRIBUTE_LIST = 1;
export const UPDATE_UNRECOGNIZED_WELL_KNOWN = 2;
export const UPDATE_MISSING_WELL_KNOWN = 3;
export const UPDATE_ATTRIBUTE_FLAGS = 4;
export const UPDATE_ATTRIBUTE_LENGTH = 5;
export const UPDATE_INVALID_ORIGIN = 6;
export const UPDATE_INVALID_NEXT_HOP = 8;
export const UPDATE_OPTIONAL_ATTRIBUTE = 9;
export const UPDATE_INVALID_NETWORK = 10;
export const UPDATE_MALFORMED_AS_PATH = 11;

/** Cease subcodes (RFC 4486; shutdown communication of 2 and 4 in RFC 9003). */
export const CEASE_MAX_PREFIXES = 1;
export const CEASE_ADMINISTRATIVE_SHUTDOWN = 2;
export const CEASE_PEER_DECONFIGURED = 3;
export const CEASE_ADMINISTRATIVE_RESET = 4;
export const CEASE_CONNECTION_REJECTED = 5;
export const CEASE_OTHER_CONFIGURATION_CHANGE = 6;
export const CEASE_CONNECTION_COLLISION = 7;
export const CEASE_OUT_OF_RESOURCES = 8;

/** Names of the codes, then of each code's subcodes, as the RFCs spell them (for logs). */
const NAMES: ReadonlyMap<number, readonly [string, Readonly<Record<number, string>>]> = new Map([
  [
    ERR_HEADER,
    [
      "Message Header Error",
      { 1: "Connection Not Synchronized", 2: "Bad Message Length", 3: "Bad Message Type" },
    ],
  ],
  [
    ERR_OPEN,
    [
      "OPEN Message Error",
      {
        0: "Unspecific",
        1: "Unsupported Version Number",
        2: "Bad Peer AS",
        3: "Bad BGP Identifier",
        4: "Unsupported Optional Parameter",
        6: "Unacceptable Hold Time",
        7: "Unsupported Capability",
      },
    ],
  ],
  [
    ERR_UPDATE,
    [
      "UPDATE Message Error",
      {
        1: "Malformed Attribute List",
        2: "Unrecognized Well-known Attribute",
        3: "Missing Well-known Attribute",
        4: "Attribute Flags Error",
        5: "Attribute Length Error",
        6: "Invalid ORIGIN Attribute",
        8: "Invalid NEXT_HOP Attribute",
        9: "Optional Attribute Error",
        10: "Invalid Network Field",
        11: "Malformed AS_PATH",
      },
    ],
  ],
  [ERR_HOLD_TIMER, ["Hold Timer Expired", {}]],
  [
    ERR_FSM,
    [
      "Finite State Machine Error",
      {
        1: "Receive Unexpected Message in OpenSent State",
        2: "Receive Unexpected Message in OpenConfirm State",
        3: "Receive Unexpected Message in Established State",
      },
    ],
  ],
  [
    ERR_CEASE,
    [
      "Cease",
      {
        1: "Maximum Number of Prefixes Reached",
        2: "Administrative Shutdown",
        3: "Peer De-configured",
        4: "Administrative Reset",
        5: "Connection Rejected",
        6: "Other Configuration Change",
        7: "Connection Collision Resolution",
        8: "Out of Resources",
      },
    ],
  ],
  [ERR_ROUTE_REFRESH, ["ROUTE-REFRESH Message Error", { 1: "Invalid Message Length" }]],
]);

/**
 * "Cease / Administrative Shutdown": the RFC names of a code and subcode, for log lines and
 * Events. Unknown ones are shown by number, and subcode 0 of a code without one is left out.
 */
export function errorName(code: number, subcode: number): string {
  const entry = NAMES.get(code);
  if (entry === undefined) return `error ${code}/${subcode}`;
  const [name, subcodes] = entry;
  const sub = subcodes[subcode];
  if (sub !== undefined) return `${name} / ${sub}`;
  return subcode === 0 ? name : `${name} / subcode ${subcode}`;
}

/** A NOTIFICATION message (RFC 4271 4.5): sent before closing, with what went wrong. */
export interface Notification {
  readonly code: number;
  readonly subcode: number;
  /** Depends on the code and subcode: e.g. the bad length, the offending attribute. */
  readonly data: Uint8Array;
}

/** What a decoder found wrong: the NOTIFICATION to send, and a reason for the log. */
export interface BgpError extends Notification {
  readonly reason: string;
}

/** What every decoder of this folder returns: it never throws on input bytes. */
export type BgpResult<T> = { ok: true; value: T } | { ok: false; error: BgpError };

export const ok = <T>(value: T): BgpResult<T> => ({ ok: true, value });

const EMPTY = new Uint8Array(0);

export function fail<T>(
  code: number,
  subcode: number,
  reason: string,
  data: Uint8Array = EMPTY,
): BgpResult<T> {
  return { ok: false, error: { code, subcode, data, reason } };
}

/** The body of a NOTIFICATION (after the header): code, subcode, data. */
export function encodeNotificationBody(n: Notification): Uint8Array {
  if (!isByte(n.code) || !isByte(n.subcode)) {
    throw new RangeError(`error code and subcode are bytes: ${n.code}/${n.subcode}`);
  }
  const out = new Uint8Array(2 + n.data.length);
  out[0] = n.code;
  out[1] = n.subcode;
  out.set(n.data, 2);
  return out;
}

/**
 * Decodes a NOTIFICATION body. Any code is accepted, known or not: the peer is closing the
 * session anyway, and answering a NOTIFICATION with one is forbidden (RFC 4271 6).
 */
export function decodeNotificationBody(body: Uint8Array): BgpResult<Notification> {
  if (body.length < 2) {
    return fail(ERR_HEADER, HEADER_BAD_LENGTH, "NOTIFICATION shorter than its code and subcode");
  }
  return ok({ code: body[0] ?? 0, subcode: body[1] ?? 0, data: copy(body, 2) });
}

/** The longest shutdown communication (RFC 9003 2): 255 bytes of UTF-8. */
export const SHUTDOWN_MESSAGE_MAX = 255;

/**
 * The data of a Cease / Administrative Shutdown or Reset that carries a message for the
 * router's operator (RFC 9003): a length byte and UTF-8 text. A message too long is cut at a
 * character boundary rather than refused: a speaker going down must still say goodbye.
 */
export function shutdownData(message: string): Uint8Array {
  const utf8 = new TextEncoder().encode(message);
  let end = Math.min(utf8.length, SHUTDOWN_MESSAGE_MAX);
  // Do not cut inside a multibyte character: back off over continuation bytes (10xxxxxx).
  while (end < utf8.length && end > 0 && ((utf8[end] ?? 0) & 0xc0) === 0x80) end--;
  const out = new Uint8Array(1 + end);
  out[0] = end;
  out.set(utf8.subarray(0, end), 1);
  return out;
}

/** The operator's message in a shutdown NOTIFICATION's data, or undefined when none is valid. */
export function shutdownMessage(n: Notification): string | undefined {
  if (n.code !== ERR_CEASE) return undefined;
  if (n.subcode !== CEASE_ADMINISTRATIVE_SHUTDOWN && n.subcode !== CEASE_ADMINISTRATIVE_RESET) {
    return undefined;
  }
  const length = n.data[0];
  if (length === undefined || n.data.length < 1 + length) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(n.data.subarray(1, 1 + length));
  } catch {
    return undefined;
  }
}

function isByte(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 255;
}
