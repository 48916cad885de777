/**
 * BGP-4 messages as values: pure encoders and decoders, no sockets, no timers; and the
 * session state machine built on them (session.ts), as pure: it returns the actions (connect,
 * send, set a timer deadline) that the TCP transport at the edge carries out.
 *
 * Decoders take bytes and return `BgpResult`: the value, or the NOTIFICATION (code, subcode,
 * data) that RFC 4271 section 6 says to send for that fault. They never throw, whatever the
 * bytes. Encoders take the program's own values and throw a RangeError on one the wire cannot
 * carry: that is a bug of the caller, not of the peer.
 */

export * from "./attributes.js";
export * from "./header.js";
export * from "./message.js";
export * from "./notification.js";
export * from "./open.js";
export * from "./prefix.js";
export * from "./update.js";
export * from "./session.js";
export * from "./outbound.js";
export * from "./stream.js";
