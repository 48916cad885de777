import { decodeArpFrame, isArpProbe, PROBE_SENDER_IP } from "./arp.js";
import { PACKET_OUTGOING } from "./bpf.js";
import { formatMac } from "./ethernet.js";
import { decodeNdpMessage, ICMPV6_NEIGHBOR_ADVERTISEMENT, NDP_HOP_LIMIT } from "./ndp.js";
import type { ReceivedIcmp6 } from "./sockets.js";

/**
 * Another host on the LAN using an address this node announces or is about to: pure
 * functions of one received frame, what this node's MACs are and which IPs it watches, so
 * every rule is a table test. The data plane feeds them every ARP frame and every Neighbor
 * Advertisement it reads; what to do about a claim is the speaker's choice.
 *
 * A claim is a frame from a MAC that is not one of this node's which says "this address is
 * mine" (RFC 5227 2.1.1 and 2.4, RFC 4862 5.4.3 and 5.4.4):
 * - any ARP packet (request or reply, gratuitous or not) whose sender address is the IP;
 * - while probing only: another host's ARP probe for the IP (it is about to take it);
 * - a Neighbor Advertisement for the IP with a target link-layer address, which a host
 *   answering a duplicate address probe, or announcing its address, includes.
 * An ARP probe for an IP this node already announces is not a claim: the owner answers it,
 * as the kernel does for its own addresses, and a prober following RFC 5227 then backs off
 * (`arping -D` run by someone checking the address is one).
 */

/** How far along this node is with an IP: announcing it, or probing before announcing. */
export type Watched = "owned" | "probing";

export type ClaimKind = "arp-reply" | "arp-request" | "arp-probe" | "neighbor-advertisement";

export interface AddressClaim {
  ip: string;
  family: 4 | 6;
  /** The claiming host's MAC, "aa:bb:cc:dd:ee:ff". */
  mac: string;
  /** The interface the frame arrived on. */
  iface: string;
  kind: ClaimKind;
  /** Whether this node was announcing the IP or probing for it. */
  phase: Watched;
}

/** What the claim rules need to know about this node. */
export interface ClaimContext {
  /** The interface the frame arrived on. */
  iface: string;
  /** Whether a MAC ("aa:bb:…") is one of this node's interfaces'. */
  isOwnMac: (mac: string) => boolean;
  /** Whether this node announces `ip` (canonical text) or probes for it. */
  watched: (ip: string) => Watched | undefined;
}

/** The claim an ARP frame makes on a watched IP, or null. */
export function arpClaim(
  frame: Uint8Array,
  pktType: number,
  ctx: ClaimContext,
): AddressClaim | null {
  if (pktType === PACKET_OUTGOING) return null;
  const d = decodeArpFrame(frame);
  if (!d.ok) return null;
  const f = d.value;
  const mac = formatMac(f.senderMac);
  if (ctx.isOwnMac(mac) || ctx.isOwnMac(formatMac(f.src))) return null;
  if (isArpProbe(f)) {
    if (ctx.watched(f.targetIp) !== "probing") return null;
    return {
      ip: f.targetIp,
      family: 4,
      mac,
      iface: ctx.iface,
      kind: "arp-probe",
      phase: "probing",
    };
  }
  if (f.senderIp === PROBE_SENDER_IP) return null;
  const phase = ctx.watched(f.senderIp);
  if (phase === undefined) return null;
  return {
    ip: f.senderIp,
    family: 4,
    mac,
    iface: ctx.iface,
    kind: f.op === 2 ? "arp-reply" : "arp-request",
    phase,
  };
}

/**
 * The claim a received ICMPv6 message makes on a watched IP, or null: a valid on-link
 * Neighbor Advertisement (hop limit 255, checksum) whose target is watched and whose target
 * link-layer address is not this node's.
 */
export function neighborAdvertisementClaim(
  m: ReceivedIcmp6,
  ctx: ClaimContext,
): AddressClaim | null {
  if (m.payload[0] !== ICMPV6_NEIGHBOR_ADVERTISEMENT || m.hopLimit !== NDP_HOP_LIMIT) return null;
  const d = decodeNdpMessage(m.payload, { src: m.src, dst: m.dst });
  if (!d.ok || d.value.type !== ICMPV6_NEIGHBOR_ADVERTISEMENT) return null;
  const na = d.value;
  if (na.targetLinkAddress === undefined) return null;
  const mac = formatMac(na.targetLinkAddress);
  if (ctx.isOwnMac(mac)) return null;
  const phase = ctx.watched(na.target);
  if (phase === undefined) return null;
  return {
    ip: na.target,
    family: 6,
    mac,
    iface: ctx.iface,
    kind: "neighbor-advertisement",
    phase,
  };
}
