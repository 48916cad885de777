import { frameMessage, type MessageType } from "../../../src/bgp/header.js";
import { parseIP, type IP } from "../../../src/net/ip.js";
import type { Prefix } from "../../../src/bgp/prefix.js";

/** Bytes from hex written with spaces between fields, as the RFC layouts show them. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ""), "hex");
}

export const MARKER = "ff".repeat(16);

/** A whole message around a hand-written body: the header is not what these tests check. */
export function frame(type: MessageType, body: string): Buffer {
  return frameMessage(type, hex(body));
}

export function ip(text: string): IP {
  const r = parseIP(text);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

export function prefix(text: string): Prefix {
  const [addr = "", length = ""] = text.split("/");
  return { ip: ip(addr), length: Number(length) };
}

/** Like `hex`, as a plain Uint8Array: what decoders give for data and raw values. */
export function bytes(text: string): Uint8Array {
  return new Uint8Array(hex(text));
}
