import fc from "fast-check";
import { describe, expect, it } from "vitest";

import {
  countBuggyIPv4,
  formatIP,
  formatIPBytes,
  formatIPValue,
  ipFromBytes,
  ipToBytes,
  isBuggyIPv4,
  parseAddressBlock,
  parseCIDR,
  parseIP,
  parseRange,
  rangeSize,
  rangesOverlap,
  type IP,
} from "../../../src/net/ip.js";

function ip(text: string): IP {
  const r = parseIP(text);
  if (!r.ok) throw new Error(`test setup: ${text}: ${r.error}`);
  return r.value;
}

// Any 128-bit value, biased towards zero runs, where compression choices are made.
const v6 = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
  fc
    .array(fc.constantFrom(0, 0, 0, 1, 0xffff, 0xdb8), { minLength: 8, maxLength: 8 })
    .map((g) => g.reduce((acc, x) => (acc << 16n) | BigInt(x), 0n)),
  fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((v4) => (0xffffn << 32n) | v4), // mapped
);
const v4 = fc.bigInt({ min: 0n, max: (1n << 32n) - 1n });
const isMapped = (value: bigint) => value >> 32n === 0xffffn;

describe("parseIP / formatIP", () => {
  it.each([
    ["0.0.0.0", 4, 0n, "0.0.0.0"],
    ["192.168.3.100", 4, 0xc0a80364n, "192.168.3.100"],
    ["255.255.255.255", 4, 0xffffffffn, "255.255.255.255"],
    ["::", 6, 0n, "::"],
    ["::1", 6, 1n, "::1"],
    ["1::", 6, 1n << 112n, "1::"],
    ["fe80::", 6, 0xfe80n << 112n, "fe80::"],
    // RFC 5952 4.3: lowercase.
    ["2001:DB8::1", 6, 0x20010db8000000000000000000000001n, "2001:db8::1"],
    // RFC 5952 4.1: no leading zeros; 4.2.1: "::" shortens as much as possible.
    [
      "2001:0DB8:0000:0000:0000:0000:0000:0001",
      6,
      0x20010db8000000000000000000000001n,
      "2001:db8::1",
    ],
    ["2001:db8:0:0:0:0:2:1", 6, 0x20010db8000000000000000000020001n, "2001:db8::2:1"],
    // RFC 5952 4.2.2: a single zero group is not compressed.
    ["2001:db8:0:1:1:1:1:1", 6, 0x20010db8000000010001000100010001n, "2001:db8:0:1:1:1:1:1"],
    ["2001:db8:0:1::1:0", 6, 0x20010db8000000010000000000010000n, "2001:db8:0:1::1:0"],
    // RFC 5952 4.2.3: the longest run is compressed; the first on a tie.
    ["2001:0:0:1:0:0:0:1", 6, 0x20010000000000010000000000000001n, "2001:0:0:1::1"],
    ["2001:db8::0:1:0:0:0", 6, 0x20010db8000000000001000000000000n, "2001:db8:0:0:1::"],
    ["2001:db8:0:0:1:0:0:1", 6, 0x20010db8000000000001000000000001n, "2001:db8::1:0:0:1"],
    // An embedded dotted IPv4 tail (not IPv4-mapped) is accepted and printed in hex.
    ["64:ff9b::192.0.2.1", 6, 0x0064ff9b0000000000000000c0000201n, "64:ff9b::c000:201"],
    ["1:2:3:4:5:6:7:8", 6, 0x00010002000300040005000600070008n, "1:2:3:4:5:6:7:8"],
    ["1:2:3:4:5:6::8", 6, 0x00010002000300040005000600000008n, "1:2:3:4:5:6:0:8"],
  ] as const)("%s", (text, family, value, canonical) => {
    expect(parseIP(text)).toEqual({ ok: true, value: { family, value } });
    expect(formatIP({ family, value })).toBe(canonical);
    expect(formatIPBytes(family, ipToBytes({ family, value }))).toBe(canonical);
  });

  it.each([
    ["", "invalid IP address"],
    ["localhost", "invalid IP address"],
    ["1.2.3", "invalid IPv4 address"],
    ["1.2.3.4.5", "invalid IPv4 address"],
    ["256.1.1.1", "invalid IPv4 address"],
    ["192.168.3.300", "invalid IPv4 address"],
    ["1.2.3.-1", "invalid IPv4 address"],
    ["a.b.c.d", "invalid IPv4 address"],
    ["256.0.0.1", "invalid IPv4 address"],
    [" 1.2.3.4", "invalid IPv4 address"],
    ["1.2.3.4 ", "invalid IPv4 address"],
    ["010.1.1.1", 'invalid IPv4 address: octet "010" has a leading zero (ambiguous: octal?)'],
    ["01.2.3.4", 'invalid IPv4 address: octet "01" has a leading zero (ambiguous: octal?)'],
    [":", "invalid IPv6 address"],
    ["1:2:3:4:5:6:7:8:9", "invalid IPv6 address"],
    ["1:2:3:4:5:6:7", "invalid IPv6 address"],
    ["1:2:3:4:5:6:7::8", "invalid IPv6 address"],
    ["1::2::3", "invalid IPv6 address"],
    [":::", "invalid IPv6 address"],
    [":1:2:3:4:5:6:7", "invalid IPv6 address"],
    ["12345::", "invalid IPv6 address"],
    ["g::1", "invalid IPv6 address"],
    ["g::", "invalid IPv6 address"],
    ["1.2.3.4::", "invalid IPv6 address"],
    ["::1.2.3", "invalid IPv6 address"],
    ["[::1]", "invalid IPv6 address"],
    [
      "fe80::1%eth0",
      'invalid IPv6 address: zone "%eth0" is not allowed (an address here is not tied to one link)',
    ],
    [
      "::ffff:192.0.2.1",
      "invalid IPv6 address: IPv4-mapped address; write the IPv4 address 192.0.2.1 instead",
    ],
    [
      "::ffff:c000:201",
      "invalid IPv6 address: IPv4-mapped address; write the IPv4 address 192.0.2.1 instead",
    ],
    [
      "::FFFF:c000:0201",
      "invalid IPv6 address: IPv4-mapped address; write the IPv4 address 192.0.2.1 instead",
    ],
  ])("rejects %j", (text, error) => {
    expect(parseIP(text)).toEqual({ ok: false, error });
  });

  it("formats every IPv6 value like the WHATWG URL serializer (RFC 5952)", () => {
    fc.assert(
      fc.property(v6, (value) => {
        const text = formatIPValue(6, value);
        expect(`[${text}]`).toBe(new URL(`http://[${text}]/`).hostname);
      }),
    );
  });

  it("parses its own output back to the same address (parse ∘ format), in any case", () => {
    fc.assert(
      fc.property(v6, (value) => {
        fc.pre(!isMapped(value)); // refused by parseIP: see the next test
        const text = formatIPValue(6, value);
        expect(parseIP(text)).toEqual({ ok: true, value: { family: 6, value } });
        expect(parseIP(text.toUpperCase())).toEqual({ ok: true, value: { family: 6, value } });
      }),
    );
    fc.assert(
      fc.property(v4, (value) => {
        const text = formatIPValue(4, value);
        expect(parseIP(text)).toEqual({ ok: true, value: { family: 4, value } });
      }),
    );
  });

  it("formats an IPv4-mapped value in hex, and refuses that text naming the IPv4 address", () => {
    expect(formatIPValue(6, 0xffffc0000201n)).toBe("::ffff:c000:201");
    fc.assert(
      fc.property(v4, (low) => {
        const text = formatIPValue(6, (0xffffn << 32n) | low);
        expect(text.startsWith("::ffff:")).toBe(true);
        expect(parseIP(text)).toEqual({
          ok: false,
          error: `invalid IPv6 address: IPv4-mapped address; write the IPv4 address ${formatIPValue(4, low)} instead`,
        });
      }),
    );
  });
});

describe("addresses as bytes", () => {
  it.each([
    ["192.0.2.1", [192, 0, 2, 1]],
    ["0.0.0.0", [0, 0, 0, 0]],
    ["255.255.255.255", [255, 255, 255, 255]],
    ["2001:db8::1", [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
    ["ff02::1:ff00:2", [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2]],
  ])("%s in network order", (text, bytes) => {
    const a = ip(text);
    expect([...ipToBytes(a)]).toEqual(bytes);
    expect(ipFromBytes(a.family, Uint8Array.from(bytes))).toEqual(a);
    expect(formatIPBytes(a.family, Uint8Array.from(bytes))).toBe(text);
  });

  it("reads and formats at an offset inside a packet", () => {
    const frame = Uint8Array.from([9, 9, 192, 0, 2, 7, 9]);
    expect(formatIPBytes(4, frame, 2)).toBe("192.0.2.7");
    expect(ipFromBytes(4, frame, 2)).toEqual(ip("192.0.2.7"));
    expect(() => ipFromBytes(4, frame, 4)).toThrow(RangeError);
    expect(() => ipFromBytes(6, frame)).toThrow("IPv6 address needs 16 bytes at offset 0");
  });

  it("round-trips every address, and formats bytes as formatIP does", () => {
    const address: fc.Arbitrary<IP> = fc.oneof(
      v4.map((value) => ({ family: 4 as const, value })),
      v6.map((value) => ({ family: 6 as const, value })),
    );
    fc.assert(
      fc.property(address, fc.nat(8), (a, offset) => {
        const bytes = ipToBytes(a);
        expect(bytes.length).toBe(a.family === 4 ? 4 : 16);
        expect(ipFromBytes(a.family, bytes)).toEqual(a);
        const packet = new Uint8Array(offset + bytes.length + 3).fill(0xaa);
        packet.set(bytes, offset);
        expect(ipFromBytes(a.family, packet, offset)).toEqual(a);
        expect(formatIPBytes(a.family, packet, offset)).toBe(formatIP(a));
      }),
    );
  });
});

describe("parseCIDR", () => {
  it.each([
    ["192.168.1.0/24", 4, "192.168.1.0", "192.168.1.255", 24, false],
    ["192.168.1.240/28", 4, "192.168.1.240", "192.168.1.255", 28, false],
    ["10.0.0.7/32", 4, "10.0.0.7", "10.0.0.7", 32, false],
    ["0.0.0.0/0", 4, "0.0.0.0", "255.255.255.255", 0, false],
    // Host bits set: widened to the network, like Go's net.ParseCIDR.
    ["192.168.1.77/24", 4, "192.168.1.0", "192.168.1.255", 24, true],
    ["2001:db8::/64", 6, "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", 64, false],
    ["2001:db8:1::/120", 6, "2001:db8:1::", "2001:db8:1::ff", 120, false],
    ["2001:db8::5/126", 6, "2001:db8::4", "2001:db8::7", 126, true],
    ["::/0", 6, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, false],
  ] as const)("%s", (text, family, start, end, prefix, widened) => {
    expect(parseCIDR(text)).toEqual({
      ok: true,
      value: { family, start: ip(start).value, end: ip(end).value, prefix, widened },
    });
  });

  it.each([
    ["10.0.0.0/33", "prefix length /33 out of range for IPv4 (0-32)"],
    ["2001:db8::/129", "prefix length /129 out of range for IPv6 (0-128)"],
    ["10.0.0.0/", 'invalid prefix length ""'],
    ["10.0.0.0/-1", 'invalid prefix length "-1"'],
    ["10.0.0.0/2a", 'invalid prefix length "2a"'],
    ["10.0.0.0/1000", 'invalid prefix length "1000"'],
    ["10.0.0.0/8/8", "invalid CIDR"],
    ["192.168.3.300/24", "invalid IPv4 address"],
    ["10.0.0.0", "invalid CIDR"],
  ])("rejects %j", (text, error) => {
    expect(parseCIDR(text)).toEqual({ ok: false, error });
  });
});

describe("parseRange", () => {
  it.each([
    ["192.168.3.100-192.168.3.200", "192.168.3.100", "192.168.3.200"],
    ["192.168.3.100 - 192.168.3.200", "192.168.3.100", "192.168.3.200"],
    ["192.168.3.100  -192.168.3.200", "192.168.3.100", "192.168.3.200"],
    ["192.168.3.7-192.168.3.7", "192.168.3.7", "192.168.3.7"],
    ["2001:db8::1-2001:db8::ff", "2001:db8::1", "2001:db8::ff"],
  ])("%j", (text, start, end) => {
    const s = ip(start);
    expect(parseRange(text)).toEqual({
      ok: true,
      value: { family: s.family, start: s.value, end: ip(end).value },
    });
  });

  it.each([
    ["10.0.0.10-10.0.0.5", "reversed range: start 10.0.0.10 is after end 10.0.0.5"],
    ["10.0.0.1-2001:db8::1", "invalid range: start and end are not the same IP family"],
    ["10.0.0.1-10.0.0.2-10.0.0.3", "invalid range: expected exactly one '-' (start-end)"],
    ["10.0.0.1-", 'invalid range end "": invalid IP address'],
    ["10.0.0.1-10.0.0.256", 'invalid range end "10.0.0.256": invalid IPv4 address'],
    ["10.0.0.0/24-10.0.1.0/24", "invalid range: its ends must be single addresses, not CIDRs"],
  ])("rejects %j", (text, error) => {
    expect(parseRange(text)).toEqual({ ok: false, error });
  });
});

describe("parseAddressBlock", () => {
  it("tells CIDRs, ranges and single IPs apart", () => {
    const cidr = parseAddressBlock("10.0.0.0/30");
    const range = parseAddressBlock(" 10.0.1.1 - 10.0.1.3 ");
    const single = parseAddressBlock("2001:db8::9");
    expect(cidr.ok && cidr.value.kind).toBe("cidr");
    expect(cidr.ok && rangeSize(cidr.value)).toBe(4n);
    expect(range.ok && range.value.kind).toBe("range");
    expect(range.ok && rangeSize(range.value)).toBe(3n);
    expect(single.ok && single.value.kind).toBe("ip");
    expect(single.ok && rangeSize(single.value)).toBe(1n);
    expect(parseAddressBlock("")).toEqual({ ok: false, error: "empty address" });
  });

  it("overlap is per family", () => {
    const a = { family: 4 as const, start: 10n, end: 20n };
    expect(rangesOverlap(a, { family: 4, start: 20n, end: 30n })).toBe(true);
    expect(rangesOverlap(a, { family: 4, start: 21n, end: 30n })).toBe(false);
    expect(rangesOverlap(a, { family: 6, start: 10n, end: 20n })).toBe(false);
  });
});

describe("avoid-buggy-ips helpers", () => {
  it("flags .0 and .255 only", () => {
    expect(isBuggyIPv4(ip("192.168.1.0").value)).toBe(true);
    expect(isBuggyIPv4(ip("192.168.1.255").value)).toBe(true);
    expect(isBuggyIPv4(ip("192.168.1.1").value)).toBe(false);
    expect(isBuggyIPv4(ip("192.168.1.254").value)).toBe(false);
  });

  it("counts them like a brute force does", () => {
    fc.assert(
      fc.property(fc.nat(100_000), fc.nat(2_000), (start, len) => {
        const range = { family: 4 as const, start: BigInt(start), end: BigInt(start + len) };
        let brute = 0n;
        for (let v = range.start; v <= range.end; v++) if (isBuggyIPv4(v)) brute++;
        expect(countBuggyIPv4(range)).toBe(brute);
      }),
      { numRuns: 200 },
    );
    expect(countBuggyIPv4({ family: 6, start: 0n, end: 1000n })).toBe(0n);
    expect(countBuggyIPv4({ family: 4, start: 0n, end: (1n << 32n) - 1n })).toBe(1n << 25n);
  });
});
