import { randomBytes } from "node:crypto";
import { formatIP, parseIP, type IPFamily } from "../net/ip.js";

/**
 * The speakers' heartbeat datagram, and the two Lease annotations that let a peer check it.
 *
 * Wire format, version 1, big-endian, 39 + n bytes (at most 292):
 *
 *   offset size  field
 *        0    4  magic "BLHB"
 *        4    1  version (1)
 *        5    1  flags: bit 0 apiHealthy, bit 1 leaving, bit 2 holdsYou; other bits 0
 *        6   16  token: the sender's per-process random secret (its Lease annotation)
 *       22    8  incarnation: the sender's process start, ms since the epoch (≤ 2^53 − 1)
 *       30    8  seq: increases by one per datagram within an incarnation (≤ 2^53 − 1)
 *       38    1  n: length of the node name (1–253)
 *       39    n  node name, a DNS-1123 subdomain (lowercase ASCII)
 *
 * Decoding is strict (exact length, known version, no unknown flag bits, a valid node name)
 * and never throws: anything else is dropped with a reason the caller counts. Times in a
 * heartbeat are never compared with the receiver's clock; `incarnation` only tells one run
 * of a speaker from the next.
 *
 * The token is sent in clear: it keeps out senders that cannot read Leases (an off-LAN
 * spoofer needs API read access), not an attacker on the LAN, who can forge ARP anyway.
 */

export const HEARTBEAT_MAGIC = Uint8Array.of(0x42, 0x4c, 0x48, 0x42); // "BLHB"
export const HEARTBEAT_VERSION = 1;
export const HEARTBEAT_DEFAULT_PORT = 7946;
/** Lease annotation: the speaker's current heartbeat token (32 lowercase hex digits). */
export const HEARTBEAT_TOKEN_ANNOTATION = "barelb.io/heartbeat-token";
/** Lease annotation: where the speaker receives heartbeats, "ip:port" ("[ip6]:port"). */
export const HEARTBEAT_ADDR_ANNOTATION = "barelb.io/heartbeat-addr";

const TOKEN_BYTES = 16;
const HEADER_BYTES = 39;
const MAX_NODE_NAME = 253;
const FLAG_API_HEALTHY = 0x01;
const FLAG_LEAVING = 0x02;
const FLAG_HOLDS_YOU = 0x04;
const KNOWN_FLAGS = FLAG_API_HEALTHY | FLAG_LEAVING | FLAG_HOLDS_YOU;

export interface Heartbeat {
  node: string;
  /** 32 lowercase hex digits. */
  token: string;
  incarnation: number;
  seq: number;
  /** The sender renewed its own Lease within its lease duration. */
  apiHealthy: boolean;
  /** The sender is stopping (SIGTERM): not live from now on. */
  leaving: boolean;
  /**
   * The sender holds the recipient (anti-flap hold): heartbeats are unicast, so each peer is
   * told whether the sender counts it yet. Absent: false.
   */
  holdsYou?: boolean;
}

export type HeartbeatDecodeError =
  "short" | "magic" | "version" | "flags" | "length" | "node-name" | "incarnation" | "seq";

export type HeartbeatDecodeResult =
  { ok: true; heartbeat: Heartbeat } | { ok: false; error: HeartbeatDecodeError };

const tokenPattern = /^[0-9a-f]{32}$/;
// DNS-1123 subdomain: dot-separated labels of [a-z0-9-], each starting and ending alphanumeric.
const nodeNamePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isHeartbeatToken(s: string): boolean {
  return tokenPattern.test(s);
}

export function isNodeName(s: string): boolean {
  return s.length >= 1 && s.length <= MAX_NODE_NAME && nodeNamePattern.test(s);
}

/** A fresh random token for one speaker process. */
export function newHeartbeatToken(): string {
  return randomBytes(TOKEN_BYTES).toString("hex");
}

/** Encodes a heartbeat; throws on a field no peer would accept (a bug in the sender). */
export function encodeHeartbeat(hb: Heartbeat): Uint8Array {
  if (!isNodeName(hb.node)) throw new Error(`invalid node name in heartbeat: ${hb.node}`);
  if (!isHeartbeatToken(hb.token)) throw new Error("invalid heartbeat token");
  for (const [name, v] of [
    ["incarnation", hb.incarnation],
    ["seq", hb.seq],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`invalid heartbeat ${name}: ${v}`);
  }
  const name = Buffer.from(hb.node, "ascii");
  const out = new Uint8Array(HEADER_BYTES + name.length);
  const view = new DataView(out.buffer);
  out.set(HEARTBEAT_MAGIC, 0);
  out[4] = HEARTBEAT_VERSION;
  out[5] =
    (hb.apiHealthy ? FLAG_API_HEALTHY : 0) |
    (hb.leaving ? FLAG_LEAVING : 0) |
    (hb.holdsYou === true ? FLAG_HOLDS_YOU : 0);
  out.set(Buffer.from(hb.token, "hex"), 6);
  view.setBigUint64(22, BigInt(hb.incarnation));
  view.setBigUint64(30, BigInt(hb.seq));
  out[38] = name.length;
  out.set(name, HEADER_BYTES);
  return out;
}

/** Decodes one datagram. Never throws. */
export function decodeHeartbeat(buf: Uint8Array): HeartbeatDecodeResult {
  try {
    return decodeStrict(buf);
  } catch {
    // Unreachable by construction; kept so that no input can ever escape as an exception.
    return { ok: false, error: "length" };
  }
}

function decodeStrict(buf: Uint8Array): HeartbeatDecodeResult {
  if (buf.length < HEADER_BYTES) return { ok: false, error: "short" };
  for (let i = 0; i < HEARTBEAT_MAGIC.length; i++) {
    if (buf[i] !== HEARTBEAT_MAGIC[i]) return { ok: false, error: "magic" };
  }
  if (buf[4] !== HEARTBEAT_VERSION) return { ok: false, error: "version" };
  const flags = buf[5] ?? 0;
  if ((flags & ~KNOWN_FLAGS) !== 0) return { ok: false, error: "flags" };
  const nameLen = buf[38] ?? 0;
  if (nameLen === 0 || buf.length !== HEADER_BYTES + nameLen) return { ok: false, error: "length" };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const incarnation = view.getBigUint64(22);
  if (incarnation > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, error: "incarnation" };
  const seq = view.getBigUint64(30);
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, error: "seq" };
  const nameBytes = buf.subarray(HEADER_BYTES);
  // Only printable ASCII can pass the name pattern; checking bytes first keeps decoding of
  // arbitrary bytes to a string out of the question.
  if (nameBytes.some((b) => b < 0x21 || b > 0x7e)) return { ok: false, error: "node-name" };
  const node = Buffer.from(nameBytes).toString("ascii");
  if (!isNodeName(node)) return { ok: false, error: "node-name" };
  return {
    ok: true,
    heartbeat: {
      node,
      token: Buffer.from(buf.subarray(6, 6 + TOKEN_BYTES)).toString("hex"),
      incarnation: Number(incarnation),
      seq: Number(seq),
      apiHealthy: (flags & FLAG_API_HEALTHY) !== 0,
      leaving: (flags & FLAG_LEAVING) !== 0,
      ...((flags & FLAG_HOLDS_YOU) !== 0 ? { holdsYou: true } : {}),
    },
  };
}

export interface HeartbeatAddress {
  /** Canonical text (dotted quad; RFC 5952). */
  ip: string;
  port: number;
  family: IPFamily;
}

/** "192.0.2.10:7946" or "[2001:db8::10]:7946"; the form of the heartbeat-addr annotation. */
export function formatHeartbeatAddress(a: { ip: string; port: number }): string {
  return a.ip.includes(":") ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`;
}

/** Parses the heartbeat-addr annotation. IPv6 must be in brackets. Null when invalid. */
export function parseHeartbeatAddress(text: string): HeartbeatAddress | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text);
  if (m === null) return null;
  const host = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  if (port < 1 || port > 65_535) return null;
  const parsed = parseIP(host);
  if (!parsed.ok) return null;
  // "[192.0.2.1]:1" and "2001:db8::1:1" are ambiguous or odd: brackets iff IPv6.
  if ((m[1] !== undefined) !== (parsed.value.family === 6)) return null;
  return { ip: formatIP(parsed.value), port, family: parsed.value.family };
}
