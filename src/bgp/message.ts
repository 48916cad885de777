import {
  decodeHeader,
  frameMessage,
  HEADER_LEN,
  MSG_KEEPALIVE,
  MSG_NOTIFICATION,
  MSG_OPEN,
  MSG_ROUTE_REFRESH,
  MSG_UPDATE,
} from "./header.js";
import {
  decodeNotificationBody,
  encodeNotificationBody,
  ERR_HEADER,
  fail,
  HEADER_BAD_LENGTH,
  ok,
  type BgpResult,
  type Notification,
} from "./notification.js";
import { decodeOpenBody, encodeOpenBody, type Open } from "./open.js";
import { decodeUpdateBody, encodeUpdateBody, type Update } from "./update.js";
import { copy, u16, u8, Writer } from "./wire.js";

/**
 * Whole BGP messages: the five types behind one encoder and one decoder, so the transport
 * deals in bytes and the state machine in values. KEEPALIVE is a bare header (RFC 4271 4.4);
 * ROUTE-REFRESH asks the peer to send its routes of one family again (RFC 2918 3).
 */

export type Message =
  | { readonly type: "open"; readonly open: Open }
  | { readonly type: "update"; readonly update: Update }
  | { readonly type: "notification"; readonly notification: Notification }
  | { readonly type: "keepalive" }
  | { readonly type: "route-refresh"; readonly afi: number; readonly safi: number };

/** The bytes of `m`, header included. Throws a RangeError on a value it cannot carry. */
export function encodeMessage(m: Message): Buffer {
  switch (m.type) {
    case "open":
      return frameMessage(MSG_OPEN, encodeOpenBody(m.open));
    case "update":
      return frameMessage(MSG_UPDATE, encodeUpdateBody(m.update));
    case "notification":
      return frameMessage(MSG_NOTIFICATION, encodeNotificationBody(m.notification));
    case "keepalive":
      return frameMessage(MSG_KEEPALIVE, new Uint8Array(0));
    case "route-refresh":
      // The third byte is Reserved (RFC 2918), the subtype of RFC 7313: 0, a plain request.
      return frameMessage(MSG_ROUTE_REFRESH, new Writer().u16(m.afi).u8(0).u8(m.safi).bytes());
  }
}

/**
 * Decodes exactly one message: `bytes` must be the whole message as the header's length says
 * (else 1/2, with the length field as data). Returns the value or the NOTIFICATION to send;
 * never throws.
 */
export function decodeMessage(bytes: Uint8Array): BgpResult<Message> {
  const header = decodeHeader(bytes);
  if (!header.ok) return header;
  const { type, length } = header.value;
  if (length !== bytes.length) {
    return fail(
      ERR_HEADER,
      HEADER_BAD_LENGTH,
      `length field ${length} but ${bytes.length} bytes`,
      copy(bytes, 16, 18),
    );
  }
  const body = bytes.subarray(HEADER_LEN);
  switch (type) {
    case MSG_OPEN: {
      const open = decodeOpenBody(body);
      return open.ok ? ok({ type: "open", open: open.value }) : open;
    }
    case MSG_UPDATE: {
      const update = decodeUpdateBody(body);
      return update.ok ? ok({ type: "update", update: update.value }) : update;
    }
    case MSG_NOTIFICATION: {
      const n = decodeNotificationBody(body);
      return n.ok ? ok({ type: "notification", notification: n.value }) : n;
    }
    case MSG_KEEPALIVE:
      return ok({ type: "keepalive" });
    case MSG_ROUTE_REFRESH:
      return ok({ type: "route-refresh", afi: u16(body, 0), safi: u8(body, 3) });
  }
}
