import { ARP_REQUEST, arpReplyTo, decodeArpFrame, encodeArpFrame } from "./arp.js";
import { PACKET_OUTGOING } from "./bpf.js";
import { isBroadcastMac, macEquals } from "./ethernet.js";
import { isIPv6Multicast, isIPv6Unspecified } from "./inet.js";
import {
  decodeNdpMessage,
  encodeNdpMessage,
  ICMPV6_NEIGHBOR_SOLICITATION,
  NDP_HOP_LIMIT,
  solicitedAdvertisement,
} from "./ndp.js";
import type { OwnedSet } from "./owned.js";
import type { ReceivedIcmp6 } from "./sockets.js";

/**
 * What to do with one received ARP request or Neighbor Solicitation: pure functions of the
 * frame, the interface it came in on and the owned set, so every rule is a table test.
 */

/** The interface a frame arrived on, as the responders see it. */
export interface ResponderInterface {
  index: number;
  name: string;
  mac: Uint8Array;
}

export type IgnoreReason =
  | "malformed"
  | "own-frame"
  | "not-request"
  | "not-for-this-host"
  | "not-owned"
  | "interface-not-allowed"
  | "hop-limit"
  | "wrong-interface"
  | "no-source-link-address";

export type ArpOutcome =
  | { action: "reply"; ip: string; frame: Buffer }
  | { action: "ignore"; reason: IgnoreReason; ip?: string };

/**
 * Answers an ARP request for an owned IPv4 address arriving on an interface allowed for it,
 * from that interface's MAC, to the requester.
 */
export function answerArp(
  frame: Uint8Array,
  pktType: number,
  iface: ResponderInterface,
  owned: OwnedSet,
): ArpOutcome {
  if (pktType === PACKET_OUTGOING || (frame.length >= 12 && macEquals(frame, 6, iface.mac))) {
    return { action: "ignore", reason: "own-frame" };
  }
  const d = decodeArpFrame(frame);
  if (!d.ok) return { action: "ignore", reason: "malformed" };
  const req = d.value;
  if (req.op !== ARP_REQUEST) return { action: "ignore", reason: "not-request" };
  if (!isBroadcastMac(req.dst) && !macEquals(req.dst, 0, iface.mac)) {
    return { action: "ignore", reason: "not-for-this-host" };
  }
  const entry = owned.get(req.targetIp);
  if (entry === undefined) return { action: "ignore", reason: "not-owned" };
  if (!owned.allows(req.targetIp, iface.name)) {
    return { action: "ignore", reason: "interface-not-allowed", ip: req.targetIp };
  }
  return { action: "reply", ip: req.targetIp, frame: encodeArpFrame(arpReplyTo(req, iface.mac)) };
}

export type NdpOutcome =
  | { action: "reply"; ip: string; payload: Buffer; dst: Uint8Array; src: Uint8Array }
  | { action: "ignore"; reason: IgnoreReason; ip?: string };

/**
 * Answers a Neighbor Solicitation for an owned IPv6 address, if it is a valid on-link
 * solicitation (hop limit 255, checksum, RFC 4861 7.1.1). A multicast one must carry the
 * solicitor's link-layer address; a unicast one (a neighbor checking the entry it holds,
 * NUD) need not, and is answered either way (RFC 4861 4.3, 7.2.4). Duplicate address probes
 * (unspecified source) get no answer, so a node joining the link can still claim an address
 * nobody really uses. The answer is a solicited advertisement to the solicitor, with this
 * interface's MAC.
 */
export function answerNeighborSolicitation(
  m: ReceivedIcmp6,
  iface: ResponderInterface,
  owned: OwnedSet,
): NdpOutcome {
  if (m.hopLimit !== NDP_HOP_LIMIT) return { action: "ignore", reason: "hop-limit" };
  if (m.ifindex !== 0 && m.ifindex !== iface.index)
    return { action: "ignore", reason: "wrong-interface" };
  const d = decodeNdpMessage(m.payload, { src: m.src, dst: m.dst });
  if (!d.ok) return { action: "ignore", reason: "malformed" };
  const ns = d.value;
  if (ns.type !== ICMPV6_NEIGHBOR_SOLICITATION) return { action: "ignore", reason: "not-request" };
  if (isIPv6Unspecified(m.src) || (ns.sourceLinkAddress === undefined && isIPv6Multicast(m.dst))) {
    return { action: "ignore", reason: "no-source-link-address" };
  }
  if (ns.sourceLinkAddress !== undefined && macEquals(ns.sourceLinkAddress, 0, iface.mac))
    return { action: "ignore", reason: "own-frame" };
  const entry = owned.get(ns.target);
  if (entry === undefined) return { action: "ignore", reason: "not-owned" };
  if (!owned.allows(ns.target, iface.name)) {
    return { action: "ignore", reason: "interface-not-allowed", ip: ns.target };
  }
  return {
    action: "reply",
    ip: ns.target,
    payload: encodeNdpMessage(solicitedAdvertisement(ns.targetBytes, iface.mac)),
    dst: m.src,
    // From the advertised address itself, as a host that owns an address answers (and as
    // clients such as ndisc6 expect: they drop answers from other global addresses).
    src: ns.targetBytes,
  };
}
