import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from "./ethernet.js";

/**
 * Classic BPF programs for the packet socket, in the flat form the addon takes:
 * [code, jt, jf, k] per instruction (linux/filter.h). The kernel runs them on every frame of
 * the bound EtherType, so what they reject never wakes the process.
 */

// Instruction classes and modes (linux/bpf_common.h).
const BPF_LD = 0x00;
const BPF_JMP = 0x05;
const BPF_RET = 0x06;
const BPF_W = 0x00;
const BPF_H = 0x08;
const BPF_B = 0x10;
const BPF_ABS = 0x20;
const BPF_JEQ = 0x10;
const BPF_K = 0x00;

/** Ancillary data: the packet type (PACKET_HOST, PACKET_OUTGOING, ...). */
const SKF_AD_OFF = -0x1000;
const SKF_AD_PKTTYPE = 4;
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;
export const PACKET_OTHERHOST = 3;
export const PACKET_OUTGOING = 4;

export const BPF_OPCODES = {
  BPF_LD,
  BPF_JMP,
  BPF_RET,
  BPF_W,
  BPF_H,
  BPF_B,
  BPF_ABS,
  BPF_JEQ,
  BPF_K,
};

export type Instruction = readonly [code: number, jt: number, jf: number, k: number];

const ld = (size: number, offset: number): Instruction => [
  BPF_LD | size | BPF_ABS,
  0,
  0,
  offset >>> 0,
];
const jeq = (k: number, jt: number, jf: number): Instruction => [
  BPF_JMP | BPF_JEQ | BPF_K,
  jt,
  jf,
  k >>> 0,
];
const ret = (k: number): Instruction => [BPF_RET | BPF_K, 0, 0, k >>> 0];

/**
 * Accepts Ethernet/IPv4 ARP packets that arrive at this host: requests, to answer them, and
 * replies, to see another host claim an address this node announces (src/dataplane/conflicts.ts);
 * the decoder refuses other operations. Drops everything else, including frames this host
 * sends, should the socket see them (one bound to ETH_P_ALL does; one bound to ETH_P_ARP, as
 * ours, does not, so that check costs nothing there).
 */
export function arpFilter(): Instruction[] {
  return acceptIf(
    [PACKET_OUTGOING, false],
    [
      [ld(BPF_H, 12), ETHERTYPE_ARP],
      [ld(BPF_H, 14), 1], // hardware type Ethernet
      [ld(BPF_H, 16), ETHERTYPE_IPV4],
      [ld(BPF_H, 18), 0x0604], // hardware length 6, protocol length 4
    ],
  );
}

/**
 * Accepts IPv6 Neighbor Solicitations sent to this host's MAC (packet type HOST): the
 * unicast ones a neighbor sends to check an entry it holds (NUD, RFC 4861 7.3.3), addressed
 * to the owned IP itself. The kernel does not deliver those to a raw ICMPv6 socket, as the
 * owned IP is not one of its addresses; multicast solicitations (to the solicited-node group,
 * packet type MULTICAST) come through the ICMPv6 socket and are not accepted here. Only
 * solicitations right after the IPv6 header (no extension headers), as Neighbor Discovery
 * sends them.
 */
export function unicastNeighborSolicitationFilter(): Instruction[] {
  return acceptIf(
    [PACKET_HOST, true],
    [
      [ld(BPF_H, 12), ETHERTYPE_IPV6],
      [ld(BPF_B, 20), 58], // next header ICMPv6
      [ld(BPF_B, 54), 135], // ICMPv6 type Neighbor Solicitation
    ],
  );
}

/**
 * A program accepting the whole frame when its packet type is (or, with `false`, is not)
 * the one given and every loaded field equals its value; dropping it otherwise.
 */
function acceptIf(
  [pktType, is]: [number, boolean],
  checks: readonly [Instruction, number][],
): Instruction[] {
  // Each check jumps to the final "drop" when it fails; `toDrop()` is that distance.
  const prog: Instruction[] = [];
  const total = 2 + checks.length * 2 + 2; // pkttype check, field checks, accept, drop
  const toDrop = () => total - 1 - (prog.length + 1);
  prog.push(ld(BPF_W, SKF_AD_OFF + SKF_AD_PKTTYPE));
  prog.push(is ? jeq(pktType, 0, toDrop()) : jeq(pktType, toDrop(), 0));
  for (const [load, value] of checks) {
    prog.push(load);
    prog.push(jeq(value, 0, toDrop()));
  }
  prog.push(ret(0x40000)); // accept, whole frame
  prog.push(ret(0)); // drop
  return prog;
}

/** The flat form the addon's PacketSocket takes. */
export function flatten(prog: readonly Instruction[]): Uint32Array {
  const out = new Uint32Array(prog.length * 4);
  prog.forEach((ins, i) => out.set(ins, i * 4));
  return out;
}
