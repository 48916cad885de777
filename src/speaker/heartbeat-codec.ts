import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { formatIP, parseIP, type IPFamily } from "../net/ip.js";
import type { HeartbeatKey, HeartbeatKeys } from "./heartbeat-keys.js";

/**
 * The speakers' heartbeat datagram, and the two Lease annotations that let a peer check it.
 *
 * Wire format, version 2, big-endian, 75 + n bytes (at most 328):
 *
 *   offset  size  field
 *        0     4  magic "BLHB"
 *        4     1  version (2)
 *        5     1  flags: bit 0 apiHealthy, bit 1 leaving, bit 2 holdsYou; other bits 0
 *        6     4  key id: which shared key signed it (heartbeat-keys.ts)
 *       10    16  token: the sender's per-process random run id (its Lease annotation)
 *       26     8  incarnation: the sender's process start, ms since the epoch (≤ 2^53 − 1)
 *       34     8  seq: increases by one per datagram within an incarnation (≤ 2^53 − 1)
 *       42     1  n: length of the node name (1–253)
 *       43     n  node name, a DNS-1123 subdomain (lowercase ASCII)
 *   43 + n    32  HMAC-SHA256 under the key named by the key id, of bytes 0 to 42 + n
 *
 * Decoding is strict and never throws: exact length and known version first, then the key
 * (unknown, or retired after its grace: dropped), then the HMAC (compared in constant time:
 * a forged or altered datagram is dropped), and only then the fields (no unknown flag bits,
 * a valid node name). Whatever fails is dropped with a reason the caller counts. Times in a
 * heartbeat are never compared with the receiver's clock; `incarnation` only tells one run
 * of a speaker from the next.
 *
 * The HMAC makes heartbeats unforgeable without the key (what that does and does not protect:
 * heartbeat-keys.ts). The token is no secret: it is signed with the rest, and binds every
 * datagram to the sender's current run, the one its Lease names, so that datagrams of an
 * earlier run cannot be replayed into a later one; incarnation and seq refuse replays within
 * a run (membership.ts). Version 1 (a token sent in clear, no HMAC) is refused: during a
 * rolling upgrade from it, old and new speakers count each other by their Leases alone.
 */

export const HEARTBEAT_MAGIC = Uint8Array.of(0x42, 0x4c, 0x48, 0x42); // "BLHB"
export const HEARTBEAT_VERSION = 2;
export const HEARTBEAT_DEFAULT_PORT = 7946;
/** Lease annotation: the speaker's current run token (32 lowercase hex digits). */
export const HEARTBEAT_TOKEN_ANNOTATION = "barelb.io/heartbeat-token";
/** Lease annotation: where the speaker receives heartbeats, "ip:port" ("[ip6]:port"). */
export const HEARTBEAT_ADDR_ANNOTATION = "barelb.io/heartbeat-addr";

const KEY_ID_AT = 6;
const TOKEN_AT = 10;
const TOKEN_BYTES = 16;
const INCARNATION_AT = 26;
const SEQ_AT = 34;
const NAME_LEN_AT = 42;
const HEADER_BYTES = 43;
const MAC_BYTES = 32;
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
  /** The sender's view of the API server is current (a recent successful read or write). */
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
  | "short"
  | "magic"
  | "version"
  | "length"
  | "unknown-key" // signed with a key this node does not know (a different Secret, or later)
  | "old-key" // signed with a key this node retired after its rotation grace
  | "bad-mac" // forged, or altered on the way
  | "flags"
  | "node-name"
  | "incarnation"
  | "seq";

export type HeartbeatDecodeResult =
  { ok: true; heartbeat: Heartbeat; keyId: number } | { ok: false; error: HeartbeatDecodeError };

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

function mac(key: HeartbeatKey, signed: Uint8Array): Buffer {
  return createHmac("sha256", key.secret).update(signed).digest();
}

/**
 * Encodes and signs a heartbeat with `key`; throws on a field no peer would accept (a bug in
 * the sender).
 */
export function encodeHeartbeat(hb: Heartbeat, key: HeartbeatKey): Uint8Array {
  if (!isNodeName(hb.node)) throw new Error(`invalid node name in heartbeat: ${hb.node}`);
  if (!isHeartbeatToken(hb.token)) throw new Error("invalid heartbeat token");
  for (const [name, v] of [
    ["incarnation", hb.incarnation],
    ["seq", hb.seq],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`invalid heartbeat ${name}: ${v}`);
  }
  const name = Buffer.from(hb.node, "ascii");
  const signedLength = HEADER_BYTES + name.length;
  const out = new Uint8Array(signedLength + MAC_BYTES);
  const view = new DataView(out.buffer);
  out.set(HEARTBEAT_MAGIC, 0);
  out[4] = HEARTBEAT_VERSION;
  out[5] =
    (hb.apiHealthy ? FLAG_API_HEALTHY : 0) |
    (hb.leaving ? FLAG_LEAVING : 0) |
    (hb.holdsYou === true ? FLAG_HOLDS_YOU : 0);
  view.setUint32(KEY_ID_AT, key.id);
  out.set(Buffer.from(hb.token, "hex"), TOKEN_AT);
  view.setBigUint64(INCARNATION_AT, BigInt(hb.incarnation));
  view.setBigUint64(SEQ_AT, BigInt(hb.seq));
  out[NAME_LEN_AT] = name.length;
  out.set(name, HEADER_BYTES);
  out.set(mac(key, out.subarray(0, signedLength)), signedLength);
  return out;
}

/** Checks the signature of one datagram with `keys`, then decodes it. Never throws. */
export function decodeHeartbeat(buf: Uint8Array, keys: HeartbeatKeys): HeartbeatDecodeResult {
  try {
    return decodeStrict(buf, keys);
  } catch {
    // Unreachable by construction; kept so that no input can ever escape as an exception.
    return { ok: false, error: "length" };
  }
}

function decodeStrict(buf: Uint8Array, keys: HeartbeatKeys): HeartbeatDecodeResult {
  if (buf.length < HEADER_BYTES + MAC_BYTES) return { ok: false, error: "short" };
  for (let i = 0; i < HEARTBEAT_MAGIC.length; i++) {
    if (buf[i] !== HEARTBEAT_MAGIC[i]) return { ok: false, error: "magic" };
  }
  if (buf[4] !== HEARTBEAT_VERSION) return { ok: false, error: "version" };
  const nameLen = buf[NAME_LEN_AT] ?? 0;
  const signedLength = HEADER_BYTES + nameLen;
  if (nameLen === 0 || buf.length !== signedLength + MAC_BYTES) {
    return { ok: false, error: "length" };
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const keyId = view.getUint32(KEY_ID_AT);
  const key = keys.lookup(keyId);
  if (!key.ok) return { ok: false, error: key.error };
  const want = mac(key.key, buf.subarray(0, signedLength));
  if (!timingSafeEqual(want, buf.subarray(signedLength))) return { ok: false, error: "bad-mac" };

  const flags = buf[5] ?? 0;
  if ((flags & ~KNOWN_FLAGS) !== 0) return { ok: false, error: "flags" };
  const incarnation = view.getBigUint64(INCARNATION_AT);
  if (incarnation > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, error: "incarnation" };
  const seq = view.getBigUint64(SEQ_AT);
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, error: "seq" };
  const nameBytes = buf.subarray(HEADER_BYTES, signedLength);
  // Only printable ASCII can pass the name pattern; checking bytes first keeps decoding of
  // arbitrary bytes to a string out of the question.
  if (nameBytes.some((b) => b < 0x21 || b > 0x7e)) return { ok: false, error: "node-name" };
  const node = Buffer.from(nameBytes).toString("ascii");
  if (!isNodeName(node)) return { ok: false, error: "node-name" };
  return {
    ok: true,
    keyId,
    heartbeat: {
      node,
      token: Buffer.from(buf.subarray(TOKEN_AT, TOKEN_AT + TOKEN_BYTES)).toString("hex"),
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
