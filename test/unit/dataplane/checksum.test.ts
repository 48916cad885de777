import { describe, expect, it } from "vitest";
import { icmpv6Checksum, internetChecksum } from "../../../src/dataplane/checksum.js";
import { ipv6Bytes } from "../../../src/dataplane/inet.js";

describe("internet checksum", () => {
  it("matches the RFC 1071 example", () => {
    // RFC 1071 4.1: the sum of 0001 f203 f4f5 f6f7 is ddf2; the checksum is its complement.
    expect(internetChecksum(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7))).toBe(
      0x220d,
    );
  });
  it("pads an odd length with a zero byte", () => {
    expect(internetChecksum(Uint8Array.of(0x12, 0x34, 0x56))).toBe(
      internetChecksum(Uint8Array.of(0x12, 0x34, 0x56, 0)),
    );
  });
  it("is 0 over data that includes its own checksum", () => {
    const data = Uint8Array.of(0x45, 0x00, 0x00, 0x1c, 0, 0, 0x12, 0x34);
    const c = internetChecksum(data);
    expect(internetChecksum(Uint8Array.of(...data, c >> 8, c & 0xff))).toBe(0);
  });
});

describe("ICMPv6 checksum", () => {
  const src = ipv6Bytes("fe80::1");
  const dst = ipv6Bytes("ff02::1:ff00:2");
  it("matches a hand-computed pseudo-header sum", () => {
    // NS for ::2, no options. Pseudo-header words fe80 0001 ff02 0001 ff00 0002, length 0018,
    // next header 003a; message words 8700 0002. Sum 0x383da, folded 0x83dd, complement 0x7c22.
    const msg = new Uint8Array(24);
    msg[0] = 135;
    msg[23] = 2;
    expect(icmpv6Checksum(src, dst, msg)).toBe(0x7c22);
  });
});
