import { describe, expect, it } from "vitest";
import { icmpv6Checksum } from "../../../src/dataplane/checksum.js";
import { parseMac } from "../../../src/dataplane/ethernet.js";
import { ipv6Bytes, solicitedNodeGroup } from "../../../src/dataplane/inet.js";
import {
  decodeNdpMessage,
  encodeNdpMessage,
  ICMPV6_NEIGHBOR_ADVERTISEMENT,
  ICMPV6_NEIGHBOR_SOLICITATION,
  icmp6FromFrame,
  solicitedAdvertisement,
  unsolicitedAdvertisement,
} from "../../../src/dataplane/ndp.js";
import { ipv6Frame, solicitation } from "./fixtures.js";

const clientMac = parseMac("02:00:00:00:00:01") ?? new Uint8Array(6);
const nodeMac = parseMac("02:00:00:00:00:0a") ?? new Uint8Array(6);
const client = ipv6Bytes("2001:db8::2");
const vip = ipv6Bytes("2001:db8::1:5");
const group = solicitedNodeGroup(vip);

const ns = (sourceLinkAddress?: Uint8Array) => ({
  type: ICMPV6_NEIGHBOR_SOLICITATION as typeof ICMPV6_NEIGHBOR_SOLICITATION,
  target: "2001:db8::1:5",
  ...(sourceLinkAddress === undefined ? {} : { sourceLinkAddress }),
});

describe("Neighbor Solicitation", () => {
  it("encodes type, target and source link-layer option, with checksum", () => {
    const m = encodeNdpMessage(ns(clientMac), { src: client, dst: group });
    expect(m.length).toBe(32);
    expect(m[0]).toBe(135);
    expect(m.subarray(8, 24)).toEqual(Buffer.from(vip));
    expect(m.subarray(24).toString("hex")).toBe("0101020000000001");
    expect(icmpv6Checksum(client, group, m)).toBe(0);
  });

  it("round-trips and validates the checksum", () => {
    const m = encodeNdpMessage(ns(clientMac), { src: client, dst: group });
    const d = decodeNdpMessage(m, { src: client, dst: group });
    expect(d).toEqual({
      ok: true,
      value: {
        type: ICMPV6_NEIGHBOR_SOLICITATION,
        target: "2001:db8::1:5",
        targetBytes: vip,
        sourceLinkAddress: clientMac,
      },
    });
    const corrupt = Buffer.from(m);
    corrupt[20] = (corrupt[20] ?? 0) ^ 1;
    expect(decodeNdpMessage(corrupt, { src: client, dst: group })).toEqual({
      ok: false,
      error: "bad ICMPv6 checksum",
    });
  });

  it("skips unknown options and keeps the first source link-layer address", () => {
    const base = encodeNdpMessage(ns(clientMac));
    const unknown = Buffer.from([14, 1, 1, 2, 3, 4, 5, 6]); // nonce option, 8 bytes
    const second = Buffer.from([1, 1, 9, 9, 9, 9, 9, 9]);
    const d = decodeNdpMessage(
      Buffer.concat([base.subarray(0, 24), unknown, base.subarray(24), second]),
    );
    expect(
      d.ok && d.value.type === ICMPV6_NEIGHBOR_SOLICITATION && d.value.sourceLinkAddress,
    ).toEqual(clientMac);
  });

  const valid = encodeNdpMessage(ns(clientMac));
  const with_ = (offset: number, value: number) => {
    const m = Buffer.from(valid);
    m[offset] = value;
    return m;
  };
  it.each([
    ["too short", valid.subarray(0, 23), /too short/],
    ["another ICMPv6 type", with_(0, 128), /type 128/],
    ["code not 0", with_(1, 1), /code 1/],
    ["multicast target", with_(8, 0xff), /multicast/],
    ["option of length 0", with_(25, 0), /length 0/],
    ["option past the end", with_(25, 2), /past the end/],
    ["truncated option header", Buffer.concat([valid, Buffer.from([1])]), /truncated/],
    ["long link-layer option", Buffer.concat([with_(25, 2), Buffer.alloc(8)]), /16 bytes/],
  ])("rejects %s", (_name, m, error) => {
    const d = decodeNdpMessage(m);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error).toMatch(error);
  });

  it("accepts a duplicate address probe only to a solicited-node group and without source LLA", () => {
    const unspecified = new Uint8Array(16);
    const probe = encodeNdpMessage(ns(), { src: unspecified, dst: group });
    expect(decodeNdpMessage(probe, { src: unspecified, dst: group }).ok).toBe(true);
    const unicast = encodeNdpMessage(ns(), { src: unspecified, dst: vip });
    expect(decodeNdpMessage(unicast, { src: unspecified, dst: vip }).ok).toBe(false);
    const withLla = encodeNdpMessage(ns(clientMac), { src: unspecified, dst: group });
    expect(decodeNdpMessage(withLla, { src: unspecified, dst: group }).ok).toBe(false);
  });
});

describe("Neighbor Advertisement", () => {
  it("solicited: S=1 O=1, target link-layer option", () => {
    const m = encodeNdpMessage(solicitedAdvertisement(vip, nodeMac), {
      src: ipv6Bytes("fe80::a"),
      dst: client,
    });
    expect(m[0]).toBe(136);
    expect(m[4]).toBe(0x60);
    expect(m.subarray(24).toString("hex")).toBe("020102000000000a");
    const d = decodeNdpMessage(m, { src: ipv6Bytes("fe80::a"), dst: client });
    expect(d).toEqual({
      ok: true,
      value: {
        type: ICMPV6_NEIGHBOR_ADVERTISEMENT,
        router: false,
        solicited: true,
        override: true,
        target: "2001:db8::1:5",
        targetBytes: vip,
        targetLinkAddress: nodeMac,
      },
    });
  });

  it("unsolicited: S=0 O=1, valid to all nodes", () => {
    const allNodes = ipv6Bytes("ff02::1");
    const m = encodeNdpMessage(unsolicitedAdvertisement(vip, nodeMac), {
      src: ipv6Bytes("fe80::a"),
      dst: allNodes,
    });
    expect(m[4]).toBe(0x20);
    expect(decodeNdpMessage(m, { src: ipv6Bytes("fe80::a"), dst: allNodes }).ok).toBe(true);
  });

  it("rejects a solicited advertisement sent to a multicast address", () => {
    const allNodes = ipv6Bytes("ff02::1");
    const m = encodeNdpMessage(solicitedAdvertisement(vip, nodeMac), {
      src: ipv6Bytes("fe80::a"),
      dst: allNodes,
    });
    expect(decodeNdpMessage(m, { src: ipv6Bytes("fe80::a"), dst: allNodes })).toEqual({
      ok: false,
      error: "solicited advertisement sent to a multicast address",
    });
  });
});

describe("icmp6FromFrame", () => {
  const m = solicitation("2001:db8::1:5", { dst: "target" });
  const frame = ipv6Frame(m, { pad: 8 });

  it("reads the message up to the IPv6 payload length, not the Ethernet padding", () => {
    const d = icmp6FromFrame(frame);
    expect(d.ok && d.value.payload.length).toBe(m.payload.length);
    expect(d.ok && d.value.hopLimit).toBe(255);
  });

  const patched = (offset: number, value: number) => {
    const f = Buffer.from(frame);
    f[offset] = value;
    return f;
  };
  it.each([
    ["too short for IPv6", frame.subarray(0, 53)],
    ["not IPv6 (EtherType)", patched(12, 0x08)],
    ["IP version 4", patched(14, 0x45)],
    ["an extension header first", ipv6Frame(m, { nextHeader: 0 })],
    ["a payload length past the frame", patched(19, 200)],
  ])("refuses %s", (_name, f) => {
    expect(icmp6FromFrame(f).ok).toBe(false);
  });
});
