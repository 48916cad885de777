import { describe, expect, it } from "vitest";
import {
  ALL_NODES,
  ipv6Bytes,
  isIPv6LinkLocal,
  isIPv6Multicast,
  isIPv6Unspecified,
  isSolicitedNodeGroup,
  solicitedNodeGroup,
} from "../../../src/dataplane/inet.js";
import { formatIPBytes } from "../../../src/net/ip.js";

// Parsing and formatting are tested with the address library (test/unit/net/ip.test.ts);
// here, what the NDP code adds on bytes.

describe("ipv6Bytes", () => {
  it("gives the 16 bytes of an IPv6 address", () => {
    expect(formatIPBytes(6, ipv6Bytes("2001:0DB8::0:1"))).toBe("2001:db8::1");
    expect(formatIPBytes(6, ALL_NODES)).toBe("ff02::1");
  });
  it.each(["192.0.2.1", "::ffff:192.0.2.1", "fe80::1%eth0", "::1.2.3", ""])("refuses %j", (text) =>
    expect(() => ipv6Bytes(text)).toThrow(RangeError),
  );
});

describe("address classes", () => {
  it.each([
    ["ff02::1", { multicast: true, unspecified: false, linkLocal: false }],
    ["::", { multicast: false, unspecified: true, linkLocal: false }],
    ["fe80::1", { multicast: false, unspecified: false, linkLocal: true }],
    ["febf::1", { multicast: false, unspecified: false, linkLocal: true }],
    ["fec0::1", { multicast: false, unspecified: false, linkLocal: false }],
    ["2001:db8::1", { multicast: false, unspecified: false, linkLocal: false }],
  ])("%s", (text, want) => {
    const packet = Uint8Array.of(0, 0, ...ipv6Bytes(text));
    expect({
      multicast: isIPv6Multicast(packet, 2),
      unspecified: isIPv6Unspecified(packet, 2),
      linkLocal: isIPv6LinkLocal(packet, 2),
    }).toEqual(want);
  });
});

describe("solicited-node group", () => {
  it("keeps the low 24 bits under ff02::1:ff00:0/104", () => {
    const g = solicitedNodeGroup(ipv6Bytes("2001:db8::1:abcd:ef12"));
    expect(formatIPBytes(6, g)).toBe("ff02::1:ffcd:ef12");
    expect(isSolicitedNodeGroup(g)).toBe(true);
    expect(isSolicitedNodeGroup(ipv6Bytes("ff02::1"))).toBe(false);
  });
});
