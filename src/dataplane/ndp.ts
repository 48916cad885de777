import { formatIPBytes } from "../net/ip.js";
import { icmpv6Checksum } from "./checksum.js";
import { copyBytes, invalid, ok, type Decoded } from "./decoded.js";
import { ETH_HEADER_LEN, ETHERTYPE_IPV6, writeEthernetHeader } from "./ethernet.js";
import {
  ipv6Bytes,
  isIPv6Multicast,
  isIPv6Unspecified,
  isSolicitedNodeGroup,
  solicitedNodeGroup,
} from "./inet.js";

/**
 * ICMPv6 Neighbor Solicitation and Advertisement (RFC 4861 4.3, 4.4) as ICMPv6 messages,
 * i.e. what a raw ICMPv6 socket reads and writes: no IPv6 header.
 */

export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
/** RFC 4861: a Neighbor Discovery message with any other hop limit came from off-link. */
export const NDP_HOP_LIMIT = 255;

const OPT_SOURCE_LLA = 1;
const OPT_TARGET_LLA = 2;
const NDP_HEADER_LEN = 24; // type, code, checksum, 4 bytes flags/reserved, target

export interface NeighborSolicitation {
  type: typeof ICMPV6_NEIGHBOR_SOLICITATION;
  target: string;
  targetBytes: Uint8Array;
  /** The solicitor's MAC from the source link-layer address option, when present. */
  sourceLinkAddress?: Uint8Array;
}

export interface NeighborAdvertisement {
  type: typeof ICMPV6_NEIGHBOR_ADVERTISEMENT;
  router: boolean;
  solicited: boolean;
  override: boolean;
  target: string;
  targetBytes: Uint8Array;
  targetLinkAddress?: Uint8Array;
}

export type NdpMessage = NeighborSolicitation | NeighborAdvertisement;

/** The IPv6 addresses a message travelled between, for the checks that depend on them. */
export interface NdpAddresses {
  src: Uint8Array;
  dst: Uint8Array;
}

/**
 * Decodes and validates a Neighbor Solicitation or Advertisement (RFC 4861 7.1.1, 7.1.2,
 * except the hop limit, which is not part of the message: the caller checks it). With
 * `addr`, also the checksum and the rules that depend on the addresses.
 */
export function decodeNdpMessage(msg: Uint8Array, addr?: NdpAddresses): Decoded<NdpMessage> {
  if (msg.length < NDP_HEADER_LEN) return invalid(`message of ${msg.length} bytes is too short`);
  const type = msg[0];
  if (type !== ICMPV6_NEIGHBOR_SOLICITATION && type !== ICMPV6_NEIGHBOR_ADVERTISEMENT) {
    return invalid(`ICMPv6 type ${type ?? 0} is not a neighbor solicitation or advertisement`);
  }
  if (msg[1] !== 0) return invalid(`ICMPv6 code ${msg[1] ?? 0} is not 0`);
  if (addr !== undefined) {
    if (addr.src.length !== 16 || addr.dst.length !== 16)
      return invalid("addresses must be 16 bytes");
    if (icmpv6Checksum(addr.src, addr.dst, msg) !== 0) return invalid("bad ICMPv6 checksum");
  }
  const targetBytes = copyBytes(msg, 8, 24);
  if (isIPv6Multicast(targetBytes)) return invalid("target is a multicast address");

  let sourceLinkAddress: Uint8Array | undefined;
  let targetLinkAddress: Uint8Array | undefined;
  for (let o = NDP_HEADER_LEN; o < msg.length;) {
    if (o + 2 > msg.length) return invalid("truncated option");
    const optType = msg[o] ?? 0;
    const optLen = (msg[o + 1] ?? 0) * 8;
    if (optLen === 0) return invalid("option of length 0");
    if (o + optLen > msg.length) return invalid("option runs past the end of the message");
    if (optType === OPT_SOURCE_LLA || optType === OPT_TARGET_LLA) {
      // On Ethernet, a link-layer address option is 8 bytes: type, length, MAC.
      if (optLen !== 8) return invalid(`link-layer address option of ${optLen} bytes`);
      const mac = copyBytes(msg, o + 2, o + 8);
      if (optType === OPT_SOURCE_LLA) sourceLinkAddress ??= mac;
      else targetLinkAddress ??= mac;
    }
    o += optLen;
  }

  const target = formatIPBytes(6, targetBytes);
  if (type === ICMPV6_NEIGHBOR_SOLICITATION) {
    if (addr !== undefined && isIPv6Unspecified(addr.src)) {
      if (!isSolicitedNodeGroup(addr.dst)) {
        return invalid("duplicate address probe not sent to a solicited-node group");
      }
      if (sourceLinkAddress !== undefined) {
        return invalid("duplicate address probe with a source link-layer address");
      }
    }
    return ok({
      type,
      target,
      targetBytes,
      ...(sourceLinkAddress === undefined ? {} : { sourceLinkAddress }),
    });
  }
  const flags = msg[4] ?? 0;
  const solicited = (flags & 0x40) !== 0;
  if (addr !== undefined && solicited && isIPv6Multicast(addr.dst)) {
    return invalid("solicited advertisement sent to a multicast address");
  }
  return ok({
    type,
    router: (flags & 0x80) !== 0,
    solicited,
    override: (flags & 0x20) !== 0,
    target,
    targetBytes,
    ...(targetLinkAddress === undefined ? {} : { targetLinkAddress }),
  });
}

/** An ICMPv6 message read from a whole Ethernet frame, with its IPv6 header's fields. */
export interface Icmp6InFrame {
  payload: Uint8Array;
  src: Uint8Array;
  dst: Uint8Array;
  hopLimit: number;
}

const IPV6_START = 14; // after the Ethernet header
const IPV6_HEADER_LEN = 40;
const NEXT_HEADER_ICMPV6 = 58;

/**
 * The ICMPv6 message in an Ethernet frame carrying IPv6 whose next header is ICMPv6 (no
 * extension headers), for what a packet socket reads: the payload ends where the IPv6
 * payload length says (Ethernet pads short frames).
 */
export function icmp6FromFrame(frame: Uint8Array): Decoded<Icmp6InFrame> {
  if (frame.length < IPV6_START + IPV6_HEADER_LEN)
    return invalid(`frame of ${frame.length} bytes is too short for IPv6`);
  if ((frame[12] ?? 0) * 256 + (frame[13] ?? 0) !== 0x86dd) return invalid("not IPv6");
  if ((frame[IPV6_START] ?? 0) >> 4 !== 6) return invalid("IP version is not 6");
  if (frame[IPV6_START + 6] !== NEXT_HEADER_ICMPV6) return invalid("next header is not ICMPv6");
  const length = (frame[IPV6_START + 4] ?? 0) * 256 + (frame[IPV6_START + 5] ?? 0);
  const start = IPV6_START + IPV6_HEADER_LEN;
  if (start + length > frame.length) return invalid("IPv6 payload runs past the frame");
  return ok({
    payload: copyBytes(frame, start, start + length),
    src: copyBytes(frame, IPV6_START + 8, IPV6_START + 24),
    dst: copyBytes(frame, IPV6_START + 24, IPV6_START + 40),
    hopLimit: frame[IPV6_START + 7] ?? 0,
  });
}

function targetBytesOf(m: { target: string; targetBytes?: Uint8Array }): Uint8Array {
  const b = m.targetBytes ?? ipv6Bytes(m.target);
  if (b.length !== 16) throw new RangeError(`not an IPv6 address: ${m.target}`);
  return b;
}

function linkAddressOption(type: number, mac: Uint8Array): Uint8Array {
  if (mac.length !== 6) throw new RangeError("a MAC address is 6 bytes");
  const o = new Uint8Array(8);
  o[0] = type;
  o[1] = 1;
  o.set(mac, 2);
  return o;
}

/**
 * Encodes a message. The checksum is filled in when `addr` is given; a raw ICMPv6 socket
 * computes it itself and ignores what is there.
 */
export function encodeNdpMessage(
  m:
    | (Omit<NeighborSolicitation, "targetBytes"> & { targetBytes?: Uint8Array })
    | (Omit<NeighborAdvertisement, "targetBytes"> & { targetBytes?: Uint8Array }),
  addr?: NdpAddresses,
): Buffer {
  const option =
    m.type === ICMPV6_NEIGHBOR_SOLICITATION
      ? m.sourceLinkAddress && linkAddressOption(OPT_SOURCE_LLA, m.sourceLinkAddress)
      : m.targetLinkAddress && linkAddressOption(OPT_TARGET_LLA, m.targetLinkAddress);
  const out = Buffer.alloc(NDP_HEADER_LEN + (option?.length ?? 0));
  out[0] = m.type;
  if (m.type === ICMPV6_NEIGHBOR_ADVERTISEMENT) {
    out[4] = (m.router ? 0x80 : 0) | (m.solicited ? 0x40 : 0) | (m.override ? 0x20 : 0);
  }
  out.set(targetBytesOf(m), 8);
  if (option !== undefined) out.set(option, NDP_HEADER_LEN);
  if (addr !== undefined) out.writeUInt16BE(icmpv6Checksum(addr.src, addr.dst, out), 2);
  return out;
}

/**
 * The solicited advertisement answering a solicitation for `target`: S=1, and O=1 because
 * the address is ours (not anycast, not proxied): when an address moves between nodes, a
 * neighbor holding the old node's MAC must replace it.
 */
export function solicitedAdvertisement(target: Uint8Array, mac: Uint8Array): NeighborAdvertisement {
  return {
    type: ICMPV6_NEIGHBOR_ADVERTISEMENT,
    router: false,
    solicited: true,
    override: true,
    target: formatIPBytes(6, target),
    targetBytes: target,
    targetLinkAddress: mac,
  };
}

/** The unsolicited advertisement sent to all nodes when an address arrives: S=0, O=1. */
export function unsolicitedAdvertisement(
  target: Uint8Array,
  mac: Uint8Array,
): NeighborAdvertisement {
  return {
    type: ICMPV6_NEIGHBOR_ADVERTISEMENT,
    router: false,
    solicited: false,
    override: true,
    target: formatIPBytes(6, target),
    targetBytes: target,
    targetLinkAddress: mac,
  };
}

/** An ICMPv6 message with the IPv6 and Ethernet headers around it, for a packet socket. */
export interface Icmp6FrameFields {
  dstMac: Uint8Array;
  srcMac: Uint8Array;
  src: Uint8Array;
  dst: Uint8Array;
  hopLimit: number;
  /** The ICMPv6 message; its checksum is filled in here, from `src` and `dst`. */
  payload: Uint8Array;
}

/**
 * Encodes a whole Ethernet frame carrying one ICMPv6 message (no extension headers, traffic
 * class and flow label 0), with the ICMPv6 checksum computed: what `icmp6FromFrame` reads.
 * Needed where a raw ICMPv6 socket cannot send, e.g. from the unspecified address.
 */
export function encodeIcmp6Frame(f: Icmp6FrameFields): Buffer {
  if (f.src.length !== 16 || f.dst.length !== 16)
    throw new RangeError("addresses must be 16 bytes");
  const out = Buffer.alloc(IPV6_START + IPV6_HEADER_LEN + f.payload.length);
  writeEthernetHeader(out, { dst: f.dstMac, src: f.srcMac, ethertype: ETHERTYPE_IPV6 });
  const ip = ETH_HEADER_LEN;
  out[ip] = 0x60;
  out.writeUInt16BE(f.payload.length, ip + 4);
  out[ip + 6] = NEXT_HEADER_ICMPV6;
  out[ip + 7] = f.hopLimit;
  out.set(f.src, ip + 8);
  out.set(f.dst, ip + 24);
  const start = IPV6_START + IPV6_HEADER_LEN;
  out.set(f.payload, start);
  out.writeUInt16BE(0, start + 2);
  out.writeUInt16BE(icmpv6Checksum(f.src, f.dst, out.subarray(start)), start + 2);
  return out;
}

/** The Ethernet address an IPv6 multicast group is sent to: 33:33 and the group's last 4 bytes. */
export function ipv6MulticastMac(group: Uint8Array): Uint8Array {
  const m = new Uint8Array(6);
  m[0] = 0x33;
  m[1] = 0x33;
  m.set(group.subarray(12, 16), 2);
  return m;
}

const UNSPECIFIED = new Uint8Array(16);

/**
 * A duplicate address probe for `target` from `mac` (RFC 4862 5.4.2), as a whole frame: a
 * Neighbor Solicitation from the unspecified address to the target's solicited-node group,
 * without a source link-layer address option. A host that uses `target` answers with a
 * Neighbor Advertisement to all nodes (ff02::1). A raw ICMPv6 socket cannot send it: given
 * the unspecified address as source, the kernel picks one of its own.
 */
export function dadProbeFrame(target: Uint8Array, mac: Uint8Array): Buffer {
  const group = solicitedNodeGroup(target);
  return encodeIcmp6Frame({
    dstMac: ipv6MulticastMac(group),
    srcMac: mac,
    src: UNSPECIFIED,
    dst: group,
    hopLimit: NDP_HOP_LIMIT,
    payload: encodeNdpMessage({
      type: ICMPV6_NEIGHBOR_SOLICITATION,
      target: formatIPBytes(6, target),
      targetBytes: target,
    }),
  });
}
