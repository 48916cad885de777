import { copy } from "./wire.js";
import {
  ERR_HEADER,
  fail,
  HEADER_BAD_LENGTH,
  HEADER_BAD_TYPE,
  HEADER_NOT_SYNCHRONIZED,
  ok,
} from "./notification.js";
import type { BgpResult } from "./notification.js";

/**
 * The BGP message header (RFC 4271 4.1): 16 bytes of marker (all ones), a 2-byte length that
 * counts the whole message, header included, and a type byte.
 *
 * TCP gives a byte stream, so the transport reads a header, learns the length, and waits for
 * the rest: `decodeHeader` gives it that length only once the header has passed every check of
 * RFC 4271 6.1, so a corrupt stream is refused before a single body byte is trusted.
 */

export const HEADER_LEN = 19;
/** RFC 4271's limit; the extended messages of RFC 8654 are not offered. */
export const MAX_MESSAGE_LEN = 4096;

export const MSG_OPEN = 1;
export const MSG_UPDATE = 2;
export const MSG_NOTIFICATION = 3;
export const MSG_KEEPALIVE = 4;
export const MSG_ROUTE_REFRESH = 5;
export type MessageType =
  | typeof MSG_OPEN
  | typeof MSG_UPDATE
  | typeof MSG_NOTIFICATION
  | typeof MSG_KEEPALIVE
  | typeof MSG_ROUTE_REFRESH;

/**
 * Smallest and largest length of each type, header included (RFC 4271 4.2-4.5; RFC 2918 3 for
 * ROUTE-REFRESH, which has a fixed 4-byte body).
 */
const LENGTHS: Readonly<Record<MessageType, readonly [number, number]>> = {
  [MSG_OPEN]: [29, MAX_MESSAGE_LEN],
  [MSG_UPDATE]: [23, MAX_MESSAGE_LEN],
  [MSG_NOTIFICATION]: [21, MAX_MESSAGE_LEN],
  [MSG_KEEPALIVE]: [HEADER_LEN, HEADER_LEN],
  [MSG_ROUTE_REFRESH]: [23, 23],
};

export interface Header {
  readonly type: MessageType;
  /** The whole message's length, header included. */
  readonly length: number;
}

function isMessageType(t: number): t is MessageType {
  return t >= MSG_OPEN && t <= MSG_ROUTE_REFRESH;
}

/**
 * Checks the first 19 bytes of `bytes` as a header (RFC 4271 6.1): marker all ones (else
 * 1/1), a length within the type's bounds (else 1/2, with the length field as data), a known
 * type (else 1/3, with the type as data). Bytes after the header are not looked at.
 */
export function decodeHeader(bytes: Uint8Array): BgpResult<Header> {
  if (bytes.length < HEADER_LEN) {
    return fail(ERR_HEADER, HEADER_BAD_LENGTH, `${bytes.length} bytes are too few for a header`);
  }
  for (let i = 0; i < 16; i++) {
    if (bytes[i] !== 0xff) {
      return fail(ERR_HEADER, HEADER_NOT_SYNCHRONIZED, "marker is not all ones");
    }
  }
  const length = ((bytes[16] ?? 0) << 8) | (bytes[17] ?? 0);
  const type = bytes[18] ?? 0;
  const lengthField = copy(bytes, 16, 18);
  if (length < HEADER_LEN || length > MAX_MESSAGE_LEN) {
    return fail(ERR_HEADER, HEADER_BAD_LENGTH, `length ${length} out of range`, lengthField);
  }
  if (!isMessageType(type)) {
    return fail(ERR_HEADER, HEADER_BAD_TYPE, `unknown message type ${type}`, copy(bytes, 18, 19));
  }
  const [min, max] = LENGTHS[type];
  if (length < min || length > max) {
    return fail(
      ERR_HEADER,
      HEADER_BAD_LENGTH,
      `length ${length} out of range for message type ${type}`,
      lengthField,
    );
  }
  return ok({ type, length });
}

/**
 * A whole message: header, then `body`. Throws a RangeError when the message would pass
 * 4096 bytes: the caller splits its routes over several UPDATEs before this.
 */
export function frameMessage(type: MessageType, body: Uint8Array): Buffer {
  const length = HEADER_LEN + body.length;
  if (length > MAX_MESSAGE_LEN) {
    throw new RangeError(`a BGP message of ${length} bytes passes ${MAX_MESSAGE_LEN}`);
  }
  const out = Buffer.alloc(length, 0xff);
  out.writeUInt16BE(length, 16);
  out[18] = type;
  out.set(body, HEADER_LEN);
  return out;
}
