import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ARP_REQUEST,
  arpProbe,
  decodeArpFrame,
  encodeArpFrame,
  gratuitousArp,
  isArpProbe,
} from "../../../src/dataplane/arp.js";
import { PACKET_BROADCAST, PACKET_OUTGOING } from "../../../src/dataplane/bpf.js";
import {
  arpClaim,
  neighborAdvertisementClaim,
  type ClaimContext,
  type Watched,
} from "../../../src/dataplane/conflicts.js";
import { BROADCAST_MAC, formatMac } from "../../../src/dataplane/ethernet.js";
import { ALL_NODES, ipv6Bytes, solicitedNodeGroup } from "../../../src/dataplane/inet.js";
import {
  dadProbeFrame,
  decodeNdpMessage,
  encodeIcmp6Frame,
  encodeNdpMessage,
  icmp6FromFrame,
  solicitedAdvertisement,
  unsolicitedAdvertisement,
} from "../../../src/dataplane/ndp.js";
import { formatIPBytes } from "../../../src/net/ip.js";
import { arpRequest, ETH0, mac, solicitation } from "./fixtures.js";

// The probes a speaker sends before announcing a new IP, and the claims of other hosts it
// watches for (src/dataplane/conflicts.ts).

const FOREIGN = mac("02:00:00:00:00:99");

describe("ARP probe (RFC 5227 2.1.1)", () => {
  it("is a broadcast request from 0.0.0.0, target the IP, and round-trips", () => {
    const p = arpProbe("192.0.2.50", ETH0.mac);
    const bytes = encodeArpFrame(p);
    expect(bytes.subarray(28, 32).toString("hex")).toBe("00000000"); // sender IP
    expect(bytes.subarray(32, 38).toString("hex")).toBe("000000000000"); // target MAC
    const d = decodeArpFrame(bytes);
    expect(d).toEqual({ ok: true, value: p });
    expect(d.ok && isArpProbe(d.value)).toBe(true);
    expect(isArpProbe(gratuitousArp("192.0.2.50", ETH0.mac, ARP_REQUEST))).toBe(false);
  });

  it("round-trips for any IPv4 address and MAC", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.uint8Array({ minLength: 6, maxLength: 6 }), (ip, m) => {
        const d = decodeArpFrame(encodeArpFrame(arpProbe(ip, m)));
        return (
          d.ok &&
          isArpProbe(d.value) &&
          d.value.targetIp === ip &&
          formatMac(d.value.src) === formatMac(m)
        );
      }),
    );
  });
});

describe("ICMPv6 in a whole frame, and the duplicate address probe (RFC 4862 5.4.2)", () => {
  it("encodeIcmp6Frame round-trips through icmp6FromFrame with a valid checksum", () => {
    const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
    fc.assert(
      fc.property(
        addr,
        addr,
        fc.integer({ min: 0, max: 255 }),
        fc.ipV6(),
        fc.boolean(),
        (src, dst, hopLimit, target, solicited) => {
          const na = solicited
            ? solicitedAdvertisement(ipv6Bytes(target), FOREIGN)
            : unsolicitedAdvertisement(ipv6Bytes(target), FOREIGN);
          const payload = encodeNdpMessage(na);
          const f = icmp6FromFrame(
            encodeIcmp6Frame({ dstMac: FOREIGN, srcMac: ETH0.mac, src, dst, hopLimit, payload }),
          );
          if (!f.ok) return false;
          const { value } = f;
          const decoded = decodeNdpMessage(value.payload, { src: value.src, dst: value.dst });
          // A solicited advertisement to a multicast address is invalid whatever the checksum.
          const multicastSolicited = solicited && dst[0] === 0xff;
          return (
            value.hopLimit === hopLimit &&
            Buffer.compare(value.src, src) === 0 &&
            Buffer.compare(value.dst, dst) === 0 &&
            decoded.ok === !multicastSolicited &&
            (!decoded.ok || decoded.value.target === formatIPBytes(6, ipv6Bytes(target)))
          );
        },
      ),
    );
  });

  it("a DAD probe: from ::, to the solicited-node group and its MAC, hop limit 255, no source link-layer option", () => {
    const target = ipv6Bytes("2001:db8::1:9");
    const frame = dadProbeFrame(target, ETH0.mac);
    expect(formatMac(frame.subarray(0, 6))).toBe("33:33:ff:01:00:09");
    expect(formatMac(frame.subarray(6, 12))).toBe(formatMac(ETH0.mac));
    const m = icmp6FromFrame(frame);
    if (!m.ok) expect.fail(m.error);
    expect(formatIPBytes(6, m.value.src)).toBe("::");
    expect(Buffer.compare(m.value.dst, solicitedNodeGroup(target))).toBe(0);
    expect(m.value.hopLimit).toBe(255);
    // The decoder's own DAD rules (solicited-node destination, no link-layer option) hold.
    expect(decodeNdpMessage(m.value.payload, { src: m.value.src, dst: m.value.dst })).toEqual({
      ok: true,
      value: { type: 135, target: "2001:db8::1:9", targetBytes: target },
    });
  });
});

describe("claims", () => {
  const ctx = (watched: Record<string, Watched>): ClaimContext => ({
    iface: "eth0",
    isOwnMac: (m) => m === formatMac(ETH0.mac),
    watched: (ip) => watched[ip],
  });
  const owned = ctx({ "192.0.2.40": "owned", "2001:db8::1:5": "owned" });
  const probing = ctx({ "192.0.2.40": "probing", "2001:db8::1:5": "probing" });
  const arp = (f: Parameters<typeof encodeArpFrame>[0]) => encodeArpFrame(f);
  const fromForeign = { src: FOREIGN, senderIp: "192.0.2.40" };

  it.each([
    [
      "gratuitous request, owned",
      arp(gratuitousArp("192.0.2.40", FOREIGN, ARP_REQUEST)),
      owned,
      "arp-request",
    ],
    [
      "gratuitous request, probing",
      arp(gratuitousArp("192.0.2.40", FOREIGN, ARP_REQUEST)),
      probing,
      "arp-request",
    ],
    [
      "reply from the IP, owned",
      arpRequest("192.0.2.9", { ...fromForeign, op: 2 }),
      owned,
      "arp-reply",
    ],
    [
      "reply from the IP, probing",
      arpRequest("192.0.2.9", { ...fromForeign, op: 2 }),
      probing,
      "arp-reply",
    ],
    [
      "request from the IP (resolving someone)",
      arpRequest("192.0.2.9", fromForeign),
      owned,
      "arp-request",
    ],
    ["another host's probe, probing", arp(arpProbe("192.0.2.40", FOREIGN)), probing, "arp-probe"],
    [
      "another host's probe, owned (answered instead)",
      arp(arpProbe("192.0.2.40", FOREIGN)),
      owned,
      null,
    ],
    ["a request for the IP from another address", arpRequest("192.0.2.40"), owned, null],
    [
      "this node's own gratuitous ARP",
      arp(gratuitousArp("192.0.2.40", ETH0.mac, ARP_REQUEST)),
      owned,
      null,
    ],
    [
      "a claim on an IP not watched",
      arp(gratuitousArp("192.0.2.41", FOREIGN, ARP_REQUEST)),
      owned,
      null,
    ],
    ["a probe for an IP not watched", arp(arpProbe("192.0.2.41", FOREIGN)), probing, null],
    ["garbage", Buffer.alloc(60), owned, null],
  ])("ARP: %s → %s", (_name, frame, c, kind) => {
    const claim = arpClaim(frame, PACKET_BROADCAST, c);
    expect(claim?.kind ?? null).toBe(kind);
    if (claim !== null) {
      expect(claim).toMatchObject({
        ip: "192.0.2.40",
        family: 4,
        mac: "02:00:00:00:00:99",
        iface: "eth0",
      });
    }
  });

  it("ARP: a frame this host sends is never a claim", () => {
    const f = arp(gratuitousArp("192.0.2.40", FOREIGN, ARP_REQUEST));
    expect(arpClaim(f, PACKET_OUTGOING, owned)).toBeNull();
  });

  it("ARP: a frame whose Ethernet source is this node's is not a claim", () => {
    const f = arp({
      ...gratuitousArp("192.0.2.40", FOREIGN, ARP_REQUEST),
      src: ETH0.mac,
      dst: BROADCAST_MAC,
    });
    expect(arpClaim(f, PACKET_BROADCAST, owned)).toBeNull();
  });

  const na = (target: string, lla: Uint8Array | undefined, hopLimit = 255) => {
    const src = ipv6Bytes("fe80::99");
    const m = unsolicitedAdvertisement(ipv6Bytes(target), lla ?? FOREIGN);
    const payload = encodeNdpMessage(
      lla === undefined ? { ...m, targetLinkAddress: undefined } : m,
      { src, dst: ALL_NODES },
    );
    return { payload, src, dst: ALL_NODES, ifindex: ETH0.index, hopLimit };
  };

  it.each([
    ["foreign advertisement, owned", na("2001:db8::1:5", FOREIGN), owned, "owned"],
    ["foreign advertisement, probing", na("2001:db8::1:5", FOREIGN), probing, "probing"],
    ["this node's own advertisement", na("2001:db8::1:5", ETH0.mac), owned, null],
    ["no target link-layer address (no MAC to name)", na("2001:db8::1:5", undefined), owned, null],
    ["off-link (hop limit 64)", na("2001:db8::1:5", FOREIGN, 64), owned, null],
    ["another target", na("2001:db8::1:6", FOREIGN), owned, null],
    ["a solicitation", solicitation("2001:db8::1:5"), owned, null],
  ])("NDP: %s → %s", (_name, m, c, phase) => {
    const claim = neighborAdvertisementClaim(m, c);
    expect(claim?.phase ?? null).toBe(phase);
    if (claim !== null)
      expect(claim).toMatchObject({ ip: "2001:db8::1:5", family: 6, mac: "02:00:00:00:00:99" });
  });

  it("NDP: a bad checksum is not a claim", () => {
    const m = na("2001:db8::1:5", FOREIGN);
    const payload = Buffer.from(m.payload);
    payload[3] = (payload[3] ?? 0) ^ 0xff;
    expect(neighborAdvertisementClaim({ ...m, payload }, owned)).toBeNull();
  });
});
