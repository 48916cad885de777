import { ipToBytes, parseIP } from "../net/ip.js";

/**
 * The IPv6 address classes and groups the NDP code needs, on bytes (network order) at an
 * offset, as they sit in a packet. Parsing and formatting live in `src/net/ip.ts`, the one
 * address library of the project (and its rule on IPv4-mapped addresses); this file only
 * adds what is specific to Neighbor Discovery.
 */

/** The 16 bytes of an IPv6 address given as text; throws on anything else (constants, tests). */
export function ipv6Bytes(text: string): Uint8Array {
  const ip = parseIP(text);
  if (!ip.ok || ip.value.family !== 6) {
    throw new RangeError(`not an IPv6 address: ${JSON.stringify(text)}`);
  }
  return ipToBytes(ip.value);
}

export function isIPv6Multicast(a: Uint8Array, offset = 0): boolean {
  return a[offset] === 0xff;
}

export function isIPv6Unspecified(a: Uint8Array, offset = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[offset + i] !== 0) return false;
  return true;
}

export function isIPv6LinkLocal(a: Uint8Array, offset = 0): boolean {
  return a[offset] === 0xfe && ((a[offset + 1] ?? 0) & 0xc0) === 0x80;
}

/** ff02::1:ff00:0/104, the prefix of every solicited-node multicast group (RFC 4291 2.7.1). */
const SOLICITED_NODE_PREFIX = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff];

/** ff02::1:ffXX:XXXX, the solicited-node multicast group of an address (RFC 4291 2.7.1). */
export function solicitedNodeGroup(a: Uint8Array): Uint8Array {
  const g = new Uint8Array(16);
  g.set(SOLICITED_NODE_PREFIX);
  g.set(a.subarray(13, 16), 13);
  return g;
}

export function isSolicitedNodeGroup(a: Uint8Array, offset = 0): boolean {
  return SOLICITED_NODE_PREFIX.every((b, i) => a[offset + i] === b);
}

/** ff02::1, all nodes on the link. */
export const ALL_NODES = ipv6Bytes("ff02::1");
