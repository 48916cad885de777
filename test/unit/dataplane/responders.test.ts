import { describe, expect, it } from "vitest";
import { ARP_REPLY, decodeArpFrame } from "../../../src/dataplane/arp.js";
import { PACKET_BROADCAST, PACKET_HOST, PACKET_OUTGOING } from "../../../src/dataplane/bpf.js";
import { formatMac } from "../../../src/dataplane/ethernet.js";
import { formatIPBytes } from "../../../src/net/ip.js";
import { decodeNdpMessage, icmp6FromFrame } from "../../../src/dataplane/ndp.js";
import { OwnedSet } from "../../../src/dataplane/owned.js";
import { answerArp, answerNeighborSolicitation } from "../../../src/dataplane/responders.js";
import { arpRequest, ETH0, ETH1, ipv6Frame, mac, solicitation } from "./fixtures.js";

const { owned } = OwnedSet.from([
  ["192.0.2.40", {}],
  ["192.0.2.41", { interfaces: ["eth1"] }],
  ["2001:db8::1:5", {}],
  ["2001:0db8::1:6", { interfaces: ["eth1"] }],
]);

describe("answerArp", () => {
  it("answers a broadcast request for an owned IP from the interface's MAC", () => {
    const out = answerArp(arpRequest("192.0.2.40"), PACKET_BROADCAST, ETH0, owned);
    expect(out.action).toBe("reply");
    if (out.action !== "reply") return;
    const r = decodeArpFrame(out.frame);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.op).toBe(ARP_REPLY);
    expect(formatMac(r.value.src)).toBe("02:00:00:00:00:0a");
    expect(formatMac(r.value.senderMac)).toBe("02:00:00:00:00:0a");
    expect(formatMac(r.value.dst)).toBe("02:00:00:00:00:01");
    expect(r.value.senderIp).toBe("192.0.2.40");
    expect(r.value.targetIp).toBe("192.0.2.2");
    expect(out.ip).toBe("192.0.2.40");
  });

  it.each([
    [
      "a request unicast to this interface",
      arpRequest("192.0.2.40", { dst: ETH0.mac }),
      PACKET_BROADCAST,
      "reply",
    ],
    [
      "an owned IP allowed on eth1 only",
      arpRequest("192.0.2.41"),
      PACKET_BROADCAST,
      "interface-not-allowed",
    ],
    ["an IP not owned", arpRequest("192.0.2.42"), PACKET_BROADCAST, "not-owned"],
    ["a reply", arpRequest("192.0.2.40", { op: ARP_REPLY }), PACKET_BROADCAST, "not-request"],
    ["our own frame (by pkttype)", arpRequest("192.0.2.40"), PACKET_OUTGOING, "own-frame"],
    [
      "our own frame (by source MAC)",
      arpRequest("192.0.2.40", { src: ETH0.mac }),
      PACKET_BROADCAST,
      "own-frame",
    ],
    [
      "a request unicast to another host",
      arpRequest("192.0.2.40", { dst: mac("02:00:00:00:00:99") }),
      PACKET_BROADCAST,
      "not-for-this-host",
    ],
    [
      "a probe (RFC 5227: sender IP 0.0.0.0), defended as the kernel does",
      arpRequest("192.0.2.40", { senderIp: "0.0.0.0" }),
      PACKET_BROADCAST,
      "reply",
    ],
    [
      "a NUD probe: unicast to this interface (pkttype host)",
      arpRequest("192.0.2.40", { dst: ETH0.mac }),
      PACKET_HOST,
      "reply",
    ],
    ["garbage", Buffer.alloc(60, 0xab), PACKET_BROADCAST, "malformed"],
    ["an empty frame", Buffer.alloc(0), PACKET_BROADCAST, "malformed"],
  ])("%s → %s", (_name, frame, pktType, expected) => {
    const out = answerArp(frame, pktType, ETH0, owned);
    expect(out.action === "reply" ? "reply" : out.reason).toBe(expected);
  });

  it("answers on the interface the IP is allowed on", () => {
    expect(answerArp(arpRequest("192.0.2.41"), PACKET_BROADCAST, ETH1, owned).action).toBe("reply");
  });

  it("answers nothing once the IP leaves the set", () => {
    expect(answerArp(arpRequest("192.0.2.40"), PACKET_BROADCAST, ETH0, OwnedSet.empty).action).toBe(
      "ignore",
    );
  });
});

describe("answerNeighborSolicitation", () => {
  it("answers with a solicited advertisement to the solicitor", () => {
    const m = solicitation("2001:db8::1:5");
    const out = answerNeighborSolicitation(m, ETH0, owned);
    expect(out.action).toBe("reply");
    if (out.action !== "reply") return;
    expect(formatIPBytes(6, out.dst)).toBe("2001:db8::2");
    const na = decodeNdpMessage(out.payload);
    expect(na.ok).toBe(true);
    if (!na.ok || na.value.type !== 136) return;
    expect(na.value.solicited).toBe(true);
    expect(na.value.override).toBe(true);
    expect(na.value.target).toBe("2001:db8::1:5");
    expect(formatMac(na.value.targetLinkAddress ?? new Uint8Array(6))).toBe("02:00:00:00:00:0a");
  });

  it.each([
    ["hop limit 64 (from off-link)", solicitation("2001:db8::1:5", { hopLimit: 64 }), "hop-limit"],
    ["hop limit unknown", solicitation("2001:db8::1:5", { hopLimit: -1 }), "hop-limit"],
    [
      "arrived on another interface",
      solicitation("2001:db8::1:5", { ifindex: 3 }),
      "wrong-interface",
    ],
    [
      "no source link-layer option",
      solicitation("2001:db8::1:5", { lla: null }),
      "no-source-link-address",
    ],
    [
      "a duplicate address probe",
      solicitation("2001:db8::1:5", { src: "::", dst: "target", lla: null }),
      "malformed",
    ],
    [
      "a duplicate address probe to the group",
      solicitation("2001:db8::1:5", { src: "::", lla: null }),
      "no-source-link-address",
    ],
    ["not owned", solicitation("2001:db8::1:7"), "not-owned"],
    ["owned, allowed on eth1 only", solicitation("2001:db8::1:6"), "interface-not-allowed"],
    ["our own solicitation", solicitation("2001:db8::1:5", { lla: ETH0.mac }), "own-frame"],
  ])("%s → %s", (_name, m, reason) => {
    const out = answerNeighborSolicitation(m, ETH0, owned);
    expect(out.action === "reply" ? "reply" : out.reason).toBe(reason);
  });

  it.each([
    ["with", {}],
    ["without", { lla: null }],
  ] as const)(
    "answers a unicast solicitation (NUD) %s the source link-layer option",
    (_name, opts) => {
      const m = solicitation("2001:db8::1:5", { dst: "target", ...opts });
      const out = answerNeighborSolicitation(m, ETH0, owned);
      expect(out.action).toBe("reply");
      if (out.action !== "reply") return;
      expect(formatIPBytes(6, out.dst)).toBe("2001:db8::2");
      expect(formatIPBytes(6, out.src)).toBe("2001:db8::1:5");
    },
  );

  it("answers a unicast solicitation read from a whole frame by the packet socket", () => {
    const m = solicitation("2001:db8::1:5", { dst: "target" });
    const d = icmp6FromFrame(ipv6Frame(m, { pad: 6 }));
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value).toEqual({
      payload: new Uint8Array(m.payload),
      src: m.src,
      dst: m.dst,
      hopLimit: 255,
    });
    const out = answerNeighborSolicitation({ ...d.value, ifindex: ETH0.index }, ETH0, owned);
    expect(out.action).toBe("reply");
  });

  it("drops a corrupted message (checksum)", () => {
    const m = solicitation("2001:db8::1:5");
    const payload = Buffer.from(m.payload);
    payload[10] = (payload[10] ?? 0) ^ 0x40;
    expect(answerNeighborSolicitation({ ...m, payload }, ETH0, owned)).toEqual({
      action: "ignore",
      reason: "malformed",
    });
  });
});
