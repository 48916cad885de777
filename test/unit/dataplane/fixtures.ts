import { ARP_REPLY, ARP_REQUEST, encodeArpFrame, type ArpOp } from "../../../src/dataplane/arp.js";
import { BROADCAST_MAC, parseMac } from "../../../src/dataplane/ethernet.js";
import { ipv6Bytes, solicitedNodeGroup } from "../../../src/dataplane/inet.js";
import { encodeNdpMessage, ICMPV6_NEIGHBOR_SOLICITATION } from "../../../src/dataplane/ndp.js";
import type { ReceivedIcmp6 } from "../../../src/dataplane/sockets.js";

/** Frames and addresses shared by the data-plane unit tests. */

export const mac = (s: string): Uint8Array => parseMac(s) ?? new Uint8Array(6);
export const ip6 = ipv6Bytes;

export const CLIENT_MAC = mac("02:00:00:00:00:01");
export const ETH0 = { index: 2, name: "eth0", mac: mac("02:00:00:00:00:0a"), ipv6LinkLocal: true };
export const ETH1 = { index: 3, name: "eth1", mac: mac("02:00:00:00:00:0b"), ipv6LinkLocal: true };

export function arpRequest(
  targetIp: string,
  opts: { src?: Uint8Array; dst?: Uint8Array; op?: ArpOp; senderIp?: string } = {},
): Buffer {
  const src = opts.src ?? CLIENT_MAC;
  return encodeArpFrame({
    dst: opts.dst ?? BROADCAST_MAC,
    src,
    op: opts.op ?? ARP_REQUEST,
    senderMac: src,
    senderIp: opts.senderIp ?? "192.0.2.2",
    targetMac: opts.op === ARP_REPLY ? src : new Uint8Array(6),
    targetIp,
  });
}

/** A Neighbor Solicitation as the ICMPv6 socket delivers it. */
export function solicitation(
  target: string,
  opts: {
    src?: string;
    /** Default: the target's solicited-node group; "target": unicast to the target (NUD). */
    dst?: "target";
    lla?: Uint8Array | null;
    hopLimit?: number;
    ifindex?: number;
  } = {},
): ReceivedIcmp6 {
  const src = ip6(opts.src ?? "2001:db8::2");
  const dst = opts.dst === "target" ? ip6(target) : solicitedNodeGroup(ip6(target));
  const lla = opts.lla === null ? undefined : (opts.lla ?? CLIENT_MAC);
  const payload = encodeNdpMessage(
    {
      type: ICMPV6_NEIGHBOR_SOLICITATION,
      target,
      ...(lla === undefined ? {} : { sourceLinkAddress: lla }),
    },
    { src, dst },
  );
  return { payload, src, dst, ifindex: opts.ifindex ?? ETH0.index, hopLimit: opts.hopLimit ?? 255 };
}

/** The whole Ethernet frame carrying `m`, as a packet socket reads it (padded to 60 bytes). */
export function ipv6Frame(
  m: ReceivedIcmp6,
  opts: { dstMac?: Uint8Array; nextHeader?: number; pad?: number } = {},
): Buffer {
  const f = Buffer.alloc(14 + 40 + m.payload.length + (opts.pad ?? 0));
  f.set(opts.dstMac ?? ETH0.mac, 0);
  f.set(CLIENT_MAC, 6);
  f.writeUInt16BE(0x86dd, 12);
  f[14] = 0x60;
  f.writeUInt16BE(m.payload.length, 18);
  f[20] = opts.nextHeader ?? 58;
  f[21] = m.hopLimit;
  f.set(m.src, 22);
  f.set(m.dst, 38);
  f.set(m.payload, 54);
  return f;
}
