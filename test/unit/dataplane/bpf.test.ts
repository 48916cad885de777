import { describe, expect, it } from "vitest";
import {
  ARP_REPLY,
  ARP_REQUEST,
  encodeArpFrame,
  gratuitousArp,
} from "../../../src/dataplane/arp.js";
import {
  arpFilter,
  BPF_OPCODES as op,
  flatten,
  PACKET_BROADCAST,
  PACKET_HOST,
  PACKET_MULTICAST,
  PACKET_OUTGOING,
  unicastNeighborSolicitationFilter,
  type Instruction,
} from "../../../src/dataplane/bpf.js";
import { ICMPV6_NEIGHBOR_ADVERTISEMENT } from "../../../src/dataplane/ndp.js";
import { ipv6Frame, solicitation } from "./fixtures.js";
import { parseMac } from "../../../src/dataplane/ethernet.js";

/**
 * A classic BPF interpreter for the instructions our filters use, following the kernel's
 * semantics (out-of-bounds loads drop the packet), so the filter is tested without a socket.
 */
function run(prog: readonly Instruction[], frame: Uint8Array, pktType: number): number {
  let a = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const ins = prog[pc];
    if (ins === undefined) throw new Error("fell off the program");
    const [code, jt, jf, k] = ins;
    if (code === (op.BPF_LD | op.BPF_W | op.BPF_ABS) && k >= 0xfffff000) {
      if (k !== 0xfffff004) throw new Error(`unsupported ancillary load ${k}`);
      a = pktType;
    } else if ((code & 0x07) === op.BPF_LD && (code & 0xe0) === op.BPF_ABS) {
      const size = { [op.BPF_W]: 4, [op.BPF_H]: 2, [op.BPF_B]: 1 }[code & 0x18];
      if (size === undefined) throw new Error(`bad size in ${code}`);
      if (k + size > frame.length) return 0;
      a = 0;
      for (let i = 0; i < size; i++) a = a * 256 + (frame[k + i] ?? 0);
    } else if (code === (op.BPF_JMP | op.BPF_JEQ | op.BPF_K)) {
      pc += a === k ? jt : jf;
    } else if (code === (op.BPF_RET | op.BPF_K)) {
      return k;
    } else {
      throw new Error(`unsupported instruction ${code}`);
    }
  }
  throw new Error("no return");
}

const mac = parseMac("02:00:00:00:00:0a") ?? new Uint8Array(6);
const request = encodeArpFrame(gratuitousArp("192.0.2.40", mac, ARP_REQUEST));
const reply = encodeArpFrame(gratuitousArp("192.0.2.40", mac, ARP_REPLY));

describe("ARP filter", () => {
  const prog = arpFilter();

  it("is a valid program: every jump lands inside it, and it ends in returns", () => {
    prog.forEach(([code, jt, jf], pc) => {
      if ((code & 0x07) === op.BPF_JMP) {
        expect(pc + 1 + jt).toBeLessThan(prog.length);
        expect(pc + 1 + jf).toBeLessThan(prog.length);
      }
    });
    expect(prog.at(-1)).toEqual([op.BPF_RET, 0, 0, 0]);
    expect(flatten(prog).length).toBe(prog.length * 4);
  });

  it.each([
    ["an ARP request to this host", request, PACKET_BROADCAST, true],
    ["an ARP request unicast to this host", request, PACKET_HOST, true],
    ["an ARP request this host sends", request, PACKET_OUTGOING, false],
    ["an ARP reply (broadcast, gratuitous)", reply, PACKET_BROADCAST, true],
    ["an ARP reply unicast to this host (answering a probe)", reply, PACKET_HOST, true],
    ["an ARP reply this host sends", reply, PACKET_OUTGOING, false],
    [
      "a truncated frame (the decoder refuses the rest)",
      request.subarray(0, 19),
      PACKET_BROADCAST,
      false,
    ],
    [
      "an IPv4 frame",
      Buffer.concat([request.subarray(0, 12), Buffer.from([0x08, 0x00]), request.subarray(14)]),
      PACKET_HOST,
      false,
    ],
    [
      "ARP for another protocol",
      Buffer.concat([request.subarray(0, 16), Buffer.from([0x86, 0xdd]), request.subarray(18)]),
      PACKET_HOST,
      false,
    ],
  ])("%s: accepted = %s", (_name, frame, pktType, accepted) => {
    expect(run(prog, frame, pktType) > 0).toBe(accepted);
  });
});

describe("unicast Neighbor Solicitation filter", () => {
  const prog = unicastNeighborSolicitationFilter();
  const ns = ipv6Frame(solicitation("2001:db8::1:5", { dst: "target" }));
  const na = Buffer.from(ns);
  na[54] = ICMPV6_NEIGHBOR_ADVERTISEMENT;

  it("is a valid program: every jump lands inside it, and it ends in returns", () => {
    prog.forEach(([code, jt, jf], pc) => {
      if ((code & 0x07) === op.BPF_JMP) {
        expect(pc + 1 + jt).toBeLessThan(prog.length);
        expect(pc + 1 + jf).toBeLessThan(prog.length);
      }
    });
    expect(prog.at(-1)).toEqual([op.BPF_RET, 0, 0, 0]);
  });

  it.each([
    ["a solicitation to this host's MAC (NUD)", ns, PACKET_HOST, true],
    ["a solicitation to a multicast group (the ICMPv6 socket's)", ns, PACKET_MULTICAST, false],
    ["a solicitation this host sends", ns, PACKET_OUTGOING, false],
    ["an advertisement", na, PACKET_HOST, false],
    [
      "UDP over IPv6",
      ipv6Frame(solicitation("2001:db8::1:5"), { nextHeader: 17 }),
      PACKET_HOST,
      false,
    ],
    ["a truncated frame", ns.subarray(0, 54), PACKET_HOST, false],
    ["an ARP request", request, PACKET_HOST, false],
  ])("%s: accepted = %s", (_name, frame, pktType, accepted) => {
    expect(run(prog, frame, pktType) > 0).toBe(accepted);
  });
});
