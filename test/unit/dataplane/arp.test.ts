import { describe, expect, it } from "vitest";
import {
  ARP_REPLY,
  ARP_REQUEST,
  arpReplyTo,
  decodeArpFrame,
  encodeArpFrame,
  gratuitousArp,
  type ArpFrame,
} from "../../../src/dataplane/arp.js";
import { BROADCAST_MAC, formatMac, parseMac } from "../../../src/dataplane/ethernet.js";

const mac = (s: string) => parseMac(s) ?? new Uint8Array(6);
const client = mac("02:00:00:00:00:01");
const node = mac("02:00:00:00:00:0a");

const request: ArpFrame = {
  dst: BROADCAST_MAC,
  src: client,
  op: ARP_REQUEST,
  senderMac: client,
  senderIp: "192.0.2.2",
  targetMac: new Uint8Array(6),
  targetIp: "192.0.2.40",
};

describe("ARP frames", () => {
  it("encodes the RFC 826 layout, padded to 60 bytes", () => {
    const f = encodeArpFrame(request);
    expect(f.length).toBe(60);
    expect(f.subarray(0, 22).toString("hex")).toBe(
      "ffffffffffff" + "020000000001" + "0806" + "0001" + "0800" + "06" + "04" + "0001",
    );
    expect(f.subarray(22, 42).toString("hex")).toBe(
      "020000000001" + "c0000202" + "000000000000" + "c0000228",
    );
    expect(f.subarray(42).every((b) => b === 0)).toBe(true);
  });

  it("round-trips", () => {
    const d = decodeArpFrame(encodeArpFrame(request));
    expect(d).toEqual({ ok: true, value: request });
  });

  it("accepts a frame without padding (42 bytes, as sent by a raw socket)", () => {
    expect(decodeArpFrame(encodeArpFrame(request).subarray(0, 42)).ok).toBe(true);
  });

  const valid = encodeArpFrame(request);
  const mutate = (offset: number, value: number) => {
    const f = Buffer.from(valid);
    f[offset] = value;
    return f;
  };
  it.each([
    ["too short", valid.subarray(0, 41), /too short/],
    ["not ARP", mutate(12, 0x86), /not ARP/],
    ["hardware type", mutate(15, 6), /not Ethernet/],
    ["protocol type", mutate(16, 0x86), /not IPv4/],
    ["hardware length", mutate(18, 8), /not 6\/4/],
    ["protocol length", mutate(19, 16), /not 6\/4/],
    ["operation 3 (RARP)", mutate(21, 3), /operation 3/],
    ["operation 0", mutate(21, 0), /operation 0/],
  ])("rejects %s", (_name, frame, error) => {
    const d = decodeArpFrame(frame);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error).toMatch(error);
  });

  it("builds the reply: from our MAC, to the requester, addresses swapped", () => {
    const r = arpReplyTo(request, node);
    expect(r).toEqual({
      dst: client,
      src: node,
      op: ARP_REPLY,
      senderMac: node,
      senderIp: "192.0.2.40",
      targetMac: client,
      targetIp: "192.0.2.2",
    });
  });

  it.each([ARP_REQUEST, ARP_REPLY] as const)(
    "builds a gratuitous ARP (op %d): broadcast, sender = target",
    (op) => {
      const g = decodeArpFrame(encodeArpFrame(gratuitousArp("192.0.2.40", node, op)));
      expect(g.ok).toBe(true);
      if (!g.ok) return;
      expect(formatMac(g.value.dst)).toBe("ff:ff:ff:ff:ff:ff");
      expect(g.value.op).toBe(op);
      expect(g.value.senderIp).toBe("192.0.2.40");
      expect(g.value.targetIp).toBe("192.0.2.40");
      expect(formatMac(g.value.senderMac)).toBe("02:00:00:00:00:0a");
    },
  );

  it("refuses to encode non-IPv4 addresses or bad MACs", () => {
    expect(() => encodeArpFrame({ ...request, targetIp: "2001:db8::1" })).toThrow(RangeError);
    expect(() => encodeArpFrame({ ...request, senderMac: new Uint8Array(5) })).toThrow(RangeError);
  });
});
