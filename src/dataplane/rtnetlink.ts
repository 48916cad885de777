import { endianness } from "node:os";
import type { LinkFacts } from "./interfaces.js";

/**
 * The few rtnetlink messages the interface watcher reads (RTM_NEWLINK, RTM_NEWADDR), parsed
 * from their bytes (linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h). Netlink uses the
 * host's byte order. Pure, so it is tested on bytes; and small: the netlink package's own
 * rtnetlink typings cost the speaker about 7 MiB of memory to load.
 */

export const RTM_NEWLINK = 16;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_GETADDR = 22;
export const RTNLGRP_LINK = 1;
export const RTNLGRP_IPV6_IFADDR = 9;
export const AF_INET = 2;
export const AF_INET6 = 10;

const IFF_UP = 0x1;
const IFF_BROADCAST = 0x2;
const IFF_LOOPBACK = 0x8;
const IFF_RUNNING = 0x40;
const IFF_NOARP = 0x80;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFA_ADDRESS = 1;

const IFINFOMSG_LEN = 16;
const IFADDRMSG_LEN = 8;

const littleEndian = endianness() === "LE";

/** Iterates the rtattrs in `b` from `offset`: [type, payload]. Stops at the first malformed one. */
export function* attributes(b: Uint8Array, offset: number): Generator<[number, Uint8Array]> {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let o = offset; o + 4 <= b.length;) {
    const len = view.getUint16(o, littleEndian);
    const type = view.getUint16(o + 2, littleEndian) & 0x3fff; // without NLA_F_NESTED etc.
    if (len < 4 || o + len > b.length) return;
    yield [type, b.subarray(o + 4, o + len)];
    o += (len + 3) & ~3;
  }
}

const text = (b: Uint8Array) =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1").replace(/\0.*$/s, "");

/** The body of an RTM_NEWLINK message (struct ifinfomsg + attributes). */
export function parseLinkMessage(body: Uint8Array): LinkFacts | undefined {
  if (body.length < IFINFOMSG_LEN) return undefined;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const type = view.getUint16(2, littleEndian);
  const index = view.getInt32(4, littleEndian);
  const flags = view.getUint32(8, littleEndian);
  let name: string | undefined;
  let mac: Uint8Array | undefined;
  let master: number | undefined;
  let kind: string | undefined;
  for (const [t, v] of attributes(body, IFINFOMSG_LEN)) {
    if (t === IFLA_IFNAME) name = text(v);
    else if (t === IFLA_ADDRESS) mac = Uint8Array.from(v);
    else if (t === IFLA_MASTER && v.length >= 4)
      master = new DataView(v.buffer, v.byteOffset, 4).getUint32(0, littleEndian);
    else if (t === IFLA_LINKINFO) kind = linkKind(v);
  }
  if (name === undefined || index <= 0) return undefined;
  return {
    index,
    name,
    type,
    ...(mac === undefined ? {} : { mac }),
    up: (flags & IFF_UP) !== 0,
    running: (flags & IFF_RUNNING) !== 0,
    broadcast: (flags & IFF_BROADCAST) !== 0,
    noarp: (flags & IFF_NOARP) !== 0,
    loopback: (flags & IFF_LOOPBACK) !== 0,
    ...(master === undefined || master === 0 ? {} : { master }),
    ...(kind === undefined ? {} : { kind }),
  };
}

/** IFLA_INFO_KIND inside IFLA_LINKINFO ("veth", "bridge", "bond", ...). */
export function linkKind(linkinfo: Uint8Array): string | undefined {
  for (const [t, v] of attributes(linkinfo, 0)) if (t === IFLA_INFO_KIND) return text(v);
  return undefined;
}

export interface AddressFacts {
  family: number;
  index: number;
  address?: Uint8Array;
}

/** The body of an RTM_NEWADDR message (struct ifaddrmsg + attributes). */
export function parseAddressMessage(body: Uint8Array): AddressFacts | undefined {
  if (body.length < IFADDRMSG_LEN) return undefined;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const family = body[0] ?? 0;
  const index = view.getUint32(4, littleEndian);
  for (const [t, v] of attributes(body, IFADDRMSG_LEN)) {
    if (t === IFA_ADDRESS) return { family, index, address: Uint8Array.from(v) };
  }
  return { family, index };
}

/** struct ifinfomsg / ifaddrmsg for a dump request of all links / all addresses of `family`. */
export function dumpRequest(
  type: typeof RTM_GETLINK | typeof RTM_GETADDR,
  family: typeof AF_INET | typeof AF_INET6 = AF_INET6,
): Uint8Array {
  if (type === RTM_GETLINK) return new Uint8Array(IFINFOMSG_LEN);
  const b = new Uint8Array(IFADDRMSG_LEN);
  b[0] = family;
  return b;
}
