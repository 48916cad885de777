import { describe, expect, it } from "vitest";
import {
  formatIPv6,
  isSolicitedNodeGroup,
  parseIPv4,
  parseIPv6,
  parseIp,
  solicitedNodeGroup,
} from "../../../src/dataplane/inet.js";

describe("IPv4 text", () => {
  it.each([
    ["192.0.2.1", [192, 0, 2, 1]],
    ["0.0.0.0", [0, 0, 0, 0]],
    ["255.255.255.255", [255, 255, 255, 255]],
  ])("parses %s", (text, bytes) => {
    expect([...(parseIPv4(text) ?? [])]).toEqual(bytes);
  });
  it.each(["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-4", "a.b.c.d", "1.2.3.4 "])(
    "rejects %j",
    (text) => expect(parseIPv4(text)).toBeUndefined(),
  );
});

describe("IPv6 text (RFC 5952 output)", () => {
  it.each([
    ["2001:db8::1", "2001:db8::1"],
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["fe80::", "fe80::"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["2001:db8::0:1:0:0:0", "2001:db8:0:0:1::"], // the longer run wins
    ["::ffff:192.0.2.1", "::ffff:c000:201"],
    ["2001:db8:0:1::1:0", "2001:db8:0:1::1:0"],
  ])("%s → %s", (text, canonical) => {
    const b = parseIPv6(text);
    expect(b).toBeDefined();
    expect(formatIPv6(b ?? new Uint8Array(16))).toBe(canonical);
    expect(parseIp(text)?.text).toBe(canonical);
  });
  it.each([
    "",
    ":",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "12345::",
    "g::",
    "fe80::1%eth0",
    "::1.2.3",
  ])("rejects %j", (text) => expect(parseIPv6(text)).toBeUndefined());
});

describe("solicited-node group", () => {
  it("keeps the low 24 bits under ff02::1:ff00:0/104", () => {
    const g = solicitedNodeGroup(parseIPv6("2001:db8::1:abcd:ef12") ?? new Uint8Array(16));
    expect(formatIPv6(g)).toBe("ff02::1:ffcd:ef12");
    expect(isSolicitedNodeGroup(g)).toBe(true);
    expect(isSolicitedNodeGroup(parseIPv6("ff02::1") ?? new Uint8Array(16))).toBe(false);
  });
});
