import { describe, expect, it } from "vitest";
import {
  AS_TRANS,
  decodeHeader,
  decodeMessage,
  encodeMessage,
  errorName,
  MSG_NOTIFICATION,
  MSG_OPEN,
  MSG_UPDATE,
  shutdownData,
  shutdownMessage,
  type Message,
} from "../../../src/bgp/index.js";
import { bytes, frame, hex, ip, MARKER, prefix } from "./fixtures.js";

// Byte-exact examples written by hand from the RFCs' layouts (field by field, one per
// group of hex), then decoded back. The OPEN captured from a Cisco router is dpkt's test
// vector: a real implementation's bytes, with the capabilities spread over three parameters.

const examples: [string, Message, string][] = [
  ["KEEPALIVE (RFC 4271 4.4)", { type: "keepalive" }, `${MARKER} 0013 04`],
  [
    "OPEN, AS 65001, IPv4 and IPv6 unicast, route refresh, 4-octet AS",
    {
      type: "open",
      open: {
        asn: 65001,
        holdTime: 90,
        routerId: "192.0.2.1",
        capabilities: [
          { kind: "multiprotocol", afi: 1, safi: 1 },
          { kind: "multiprotocol", afi: 2, safi: 1 },
          { kind: "route-refresh" },
          { kind: "four-octet-as", asn: 65001 },
        ],
      },
    },
    `${MARKER} 0033 01  04 fde9 005a c0000201 16` +
      ` 02 14  01 04 0001 00 01  01 04 0002 00 01  02 00  41 04 0000fde9`,
  ],
  [
    "OPEN, AS 4200000000: AS_TRANS in My AS, the real one in the capability (RFC 6793)",
    {
      type: "open",
      open: {
        asn: 4_200_000_000,
        holdTime: 0,
        routerId: "198.51.100.7",
        capabilities: [{ kind: "four-octet-as", asn: 4_200_000_000 }],
      },
    },
    `${MARKER} 0025 01  04 5ba0 0000 c6336407 08  02 06  41 04 fa56ea00`,
  ],
  [
    "OPEN without optional parameters",
    { type: "open", open: { asn: 64512, holdTime: 3, routerId: "0.0.0.1", capabilities: [] } },
    `${MARKER} 001d 01  04 fc00 0003 00000001 00`,
  ],
  [
    "NOTIFICATION Cease / Administrative Shutdown with a message (RFC 4486, RFC 9003)",
    { type: "notification", notification: { code: 6, subcode: 2, data: bytes("03 627965") } },
    `${MARKER} 0019 03  06 02 03 627965`,
  ],
  [
    "NOTIFICATION Hold Timer Expired",
    { type: "notification", notification: { code: 4, subcode: 0, data: new Uint8Array(0) } },
    `${MARKER} 0015 03  04 00`,
  ],
  [
    "ROUTE-REFRESH for IPv6 unicast (RFC 2918 3)",
    { type: "route-refresh", afi: 2, safi: 1 },
    `${MARKER} 0017 05  0002 00 01`,
  ],
  [
    "UPDATE, one IPv4 /32 with origin, AS path, next hop, local pref, community, large community",
    {
      type: "update",
      update: {
        withdrawn: [],
        attributes: {
          origin: "igp",
          asPath: [{ type: "sequence", asns: [65001] }],
          nextHop: ip("192.0.2.1"),
          localPref: 100,
          communities: [0xfde90064],
          largeCommunities: [{ global: 65001, local1: 1, local2: 2 }],
        },
        nlri: [prefix("198.51.100.10/32")],
      },
    },
    `${MARKER} 004d 02  0000  0031` +
      `  40 01 01 00` +
      `  40 02 06 02 01 0000fde9` +
      `  40 03 04 c0000201` +
      `  40 05 04 00000064` +
      `  c0 08 04 fde90064` +
      `  c0 20 0c 0000fde9 00000001 00000002` +
      `  20 c633640a`,
  ],
  [
    "UPDATE, IPv6 /128 in MP_REACH_NLRI with a global and a link-local next hop (RFC 2545)",
    {
      type: "update",
      update: {
        withdrawn: [],
        attributes: {
          origin: "igp",
          asPath: [],
          localPref: 100,
          med: 5,
          mpReach: {
            afi: 2,
            safi: 1,
            nextHop: ip("2001:db8::1"),
            linkLocalNextHop: ip("fe80::1"),
            nlri: [prefix("2001:db8:100::10/128")],
          },
        },
        nlri: [],
      },
    },
    `${MARKER} 0065 02  0000  004e` +
      `  40 01 01 00` +
      `  40 02 00` +
      `  80 04 04 00000005` +
      `  40 05 04 00000064` +
      `  80 0e 36  0002 01 20  20010db8000000000000000000000001 fe800000000000000000000000000001` +
      `  00  80 20010db8010000000000000000000010`,
  ],
  [
    "UPDATE withdrawing 198.51.100.0/24 and 192.0.2.128/25",
    {
      type: "update",
      update: {
        withdrawn: [prefix("198.51.100.0/24"), prefix("192.0.2.128/25")],
        attributes: {},
        nlri: [],
      },
    },
    `${MARKER} 0020 02  0009  18 c63364  19 c0000280  0000`,
  ],
  [
    "UPDATE withdrawing 2001:db8:1::/48 in MP_UNREACH_NLRI",
    {
      type: "update",
      update: {
        withdrawn: [],
        attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [prefix("2001:db8:1::/48")] } },
        nlri: [],
      },
    },
    `${MARKER} 0024 02  0000  000d  80 0f 0a  0002 01  30 20010db80001`,
  ],
  [
    "End-of-RIB for IPv4 (RFC 4724 2): an empty UPDATE",
    { type: "update", update: { withdrawn: [], attributes: {}, nlri: [] } },
    `${MARKER} 0017 02  0000 0000`,
  ],
  [
    "UPDATE keeping an unknown optional transitive attribute, partial bit and all",
    {
      type: "update",
      update: {
        withdrawn: [],
        attributes: {
          origin: "incomplete",
          asPath: [
            { type: "set", asns: [64512, 64513] },
            { type: "sequence", asns: [4_200_000_000] },
          ],
          atomicAggregate: true,
          aggregator: { asn: 65002, ip: ip("192.0.2.9") },
          nextHop: ip("192.0.2.2"),
          unknown: [{ flags: 0xe0, type: 99, value: bytes("abcd") }],
        },
        nlri: [prefix("0.0.0.0/0")],
      },
    },
    `${MARKER} 0049 02  0000  0031` +
      `  40 01 01 02` +
      `  40 02 10  01 02 0000fc00 0000fc01  02 01 fa56ea00` +
      `  40 03 04 c0000202` +
      `  40 06 00` +
      `  c0 07 08 0000fdea c0000209` +
      `  e0 63 02 abcd` +
      `  00`,
  ],
];

describe("BGP messages, byte for byte", () => {
  it.each(examples)("%s", (_name, message, bytes) => {
    expect(encodeMessage(message).toString("hex")).toBe(hex(bytes).toString("hex"));
    expect(decodeMessage(hex(bytes))).toEqual({ ok: true, value: message });
  });

  it("decodes a Cisco router's OPEN: capabilities in three parameters, one unknown (128)", () => {
    const captured = hex(
      `${MARKER} 002d 01 04 00ed 005a c66e837d 10  02 06 01 04 0001 00 01  02 02 80 00  02 02 02 00`,
    );
    expect(decodeMessage(captured)).toEqual({
      ok: true,
      value: {
        type: "open",
        open: {
          asn: 237,
          holdTime: 90,
          routerId: "198.110.131.125",
          capabilities: [
            { kind: "multiprotocol", afi: 1, safi: 1 },
            { kind: "unknown", code: 128, value: new Uint8Array(0) },
            { kind: "route-refresh" },
          ],
        },
      },
    });
  });

  it("sets the extended length bit exactly when a value passes 255 bytes", () => {
    const update = (n: number): Message => ({
      type: "update",
      update: {
        withdrawn: [],
        attributes: { communities: Array.from({ length: n }, (_, i) => i) },
        nlri: [],
      },
    });
    const short = encodeMessage(update(63)); // 252 bytes of value
    expect(short.subarray(23, 26).toString("hex")).toBe("c008fc");
    const long = encodeMessage(update(64)); // 256 bytes
    expect(long.subarray(23, 27).toString("hex")).toBe("d0080100");
    expect(decodeMessage(long)).toEqual({ ok: true, value: update(64) });
    // A peer may use the extended length on a short value too.
    const extendedShort = hex(`${MARKER} 001c 02 0000 0005 50 01 0001 00`);
    expect(decodeMessage(extendedShort)).toMatchObject({
      ok: true,
      value: { update: { attributes: { origin: "igp" } } },
    });
  });

  it("clears bits past a prefix's length when decoding (RFC 4271 4.3: irrelevant)", () => {
    const d = decodeMessage(hex(`${MARKER} 001b 02 0004 17 c63365 0000`));
    expect(d).toMatchObject({
      ok: true,
      value: { update: { withdrawn: [prefix("198.51.100.0/23")] } },
    });
  });
});

const o = (body: string) => frame(MSG_OPEN, body);
const u = (body: string) => frame(MSG_UPDATE, body);
/** An UPDATE of the given attributes and IPv4 NLRI. */
const withAttributes = (attributes: string, nlri = "") => {
  const a = hex(attributes);
  return u(`0000 ${a.length.toString(16).padStart(4, "0")} ${attributes} ${nlri}`);
};
const wellKnown = "40 01 01 00  40 02 00  40 03 04 c0000201";

const errors: [string, Uint8Array, number, number, string?][] = [
  ["marker not all ones", hex(`${"ff".repeat(15)}fe 0013 04`), 1, 1],
  ["length under 19", hex(`${MARKER} 0012 04`), 1, 2, "0012"],
  ["length over 4096", hex(`${MARKER} 1001 02 ${"00".repeat(4077)}`), 1, 2, "1001"],
  ["unknown type 6", hex(`${MARKER} 0013 06`), 1, 3, "06"],
  ["KEEPALIVE with a body", hex(`${MARKER} 0014 04 00`), 1, 2, "0014"],
  ["OPEN under 29 bytes", hex(`${MARKER} 001c 01 ${"00".repeat(9)}`), 1, 2, "001c"],
  ["ROUTE-REFRESH of 24 bytes", hex(`${MARKER} 0018 05 0001000100`), 1, 2, "0018"],
  ["bytes beyond the length field", hex(`${MARKER} 0013 04 00`), 1, 2, "0013"],
  ["bytes short of the length field", hex(`${MARKER} 0017 05 000100`), 1, 2, "0017"],
  ["OPEN version 3", o("03 fde9 005a c0000201 00"), 2, 1, "0004"],
  ["OPEN from AS 0 (RFC 7607)", o("04 0000 005a c0000201 00"), 2, 2],
  ["OPEN with 4-octet AS 0", o("04 5ba0 005a c0000201 08 02 06 41 04 00000000"), 2, 2],
  ["OPEN with BGP Identifier 0", o("04 fde9 005a 00000000 00"), 2, 3],
  ["OPEN with an Authentication parameter (type 1)", o("04 fde9 005a c0000201 03 01 01 00"), 2, 4],
  ["OPEN hold time 2", o("04 fde9 0002 c0000201 00"), 2, 6],
  ["OPEN parameters length past the end", o("04 fde9 005a c0000201 04 02 00"), 2, 0],
  ["OPEN bytes after the parameters", o("04 fde9 005a c0000201 00 00"), 2, 0],
  ["OPEN capability past its parameter", o("04 fde9 005a c0000201 04 02 02 41 04"), 2, 0],
  [
    "OPEN multiprotocol capability of 3 bytes",
    o("04 fde9 005a c0000201 05 02 03 01 03 000101"),
    2,
    0,
  ],
  ["UPDATE withdrawn length past the end", u("0010 0000"), 3, 1],
  ["UPDATE attributes length past the end", u("0000 0010"), 3, 1],
  ["attribute past the list", withAttributes("40 01 05 00"), 3, 1],
  ["attribute header cut short", withAttributes("40 01"), 3, 1],
  ["extended-length header cut short", withAttributes("50 01 00"), 3, 1],
  ["ORIGIN twice", withAttributes(`${wellKnown} 40 01 01 00`, "08 c6"), 3, 1],
  ["unknown well-known attribute 99", withAttributes("40 63 01 07"), 3, 2, "40630107"],
  ["IPv4 NLRI without NEXT_HOP", withAttributes("40 01 01 00  40 02 00", "08 c6"), 3, 3, "03"],
  ["IPv4 NLRI without ORIGIN", withAttributes("40 02 00  40 03 04 c0000201", "08 c6"), 3, 3, "01"],
  ["MP_REACH_NLRI with no next hop", withAttributes("40 01 01 00  80 0e 05 0002 01 00 00"), 3, 9],
  [
    "MP_REACH_NLRI without AS_PATH, next hop fine",
    withAttributes(`40 01 01 00  80 0e 15 0002 01 10 20010db8000000000000000000000001 00`),
    3,
    3,
    "02",
  ],
  ["ORIGIN sent as optional", withAttributes("80 01 01 00"), 3, 4, "80010100"],
  ["ORIGIN with the partial bit", withAttributes("60 01 01 00"), 3, 4, "60010100"],
  ["MED sent as transitive", withAttributes("c0 04 04 00000001"), 3, 4, "c0040400000001"],
  ["ORIGIN of 2 bytes", withAttributes("40 01 02 0000"), 3, 5, "4001020000"],
  ["NEXT_HOP of 16 bytes", withAttributes(`40 03 10 ${"00".repeat(16)}`), 3, 5],
  ["AGGREGATOR of 6 bytes (2-octet AS)", withAttributes("c0 07 06 fdea c0000209"), 3, 5],
  ["ORIGIN 3", withAttributes("40 01 01 03"), 3, 6, "40010103"],
  ["COMMUNITIES of 3 bytes", withAttributes("c0 08 03 000001"), 3, 9, "c00803000001"],
  ["LARGE_COMMUNITY of 8 bytes", withAttributes(`c0 20 08 ${"00".repeat(8)}`), 3, 9],
  [
    "MP_REACH_NLRI with an 8-byte IPv6 next hop",
    withAttributes(`80 0e 0d 0002 01 08 ${"00".repeat(8)} 00`),
    3,
    9,
  ],
  ["MP_UNREACH_NLRI with an IPv6 /129", withAttributes(`80 0f 04 0002 01 81`), 3, 9],
  ["IPv4 NLRI /33", withAttributes(wellKnown, "21 c0000201 00"), 3, 10],
  ["IPv4 NLRI cut short", withAttributes(wellKnown, "18 c000"), 3, 10],
  ["withdrawn /40", u("0002 28 00 0000"), 3, 10],
  ["AS_PATH segment type 5", withAttributes("40 02 06 05 01 0000fde9"), 3, 11],
  ["AS_PATH segment of 0 AS numbers", withAttributes("40 02 02 02 00"), 3, 11],
  ["AS_PATH segment past the attribute", withAttributes("40 02 06 02 02 0000fde9"), 3, 11],
];

describe("refusals carry the NOTIFICATION of RFC 4271 section 6", () => {
  it.each(errors)("%s → %d/%d", (_name, bytes, code, subcode, data) => {
    const d = decodeMessage(bytes);
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect([d.error.code, d.error.subcode]).toEqual([code, subcode]);
    if (data !== undefined) expect(Buffer.from(d.error.data).toString("hex")).toBe(data);
  });

  it("decodeHeader gives the length before the body has arrived", () => {
    expect(decodeHeader(hex(`${MARKER} 0033 01`))).toEqual({
      ok: true,
      value: { type: MSG_OPEN, length: 51 },
    });
    expect(decodeHeader(hex(`${MARKER} 00`)).ok).toBe(false);
  });

  it("keeps an MP attribute of a family it does not read as raw (IPv4 multicast)", () => {
    const d = decodeMessage(withAttributes("80 0f 03 0001 02"));
    expect(d).toMatchObject({
      ok: true,
      value: { update: { attributes: { unknown: [{ flags: 0x80, type: 15 }] } } },
    });
  });
});

describe("NOTIFICATION names and shutdown messages", () => {
  it.each([
    [6, 2, "Cease / Administrative Shutdown"],
    [6, 7, "Cease / Connection Collision Resolution"],
    [3, 1, "UPDATE Message Error / Malformed Attribute List"],
    [2, 2, "OPEN Message Error / Bad Peer AS"],
    [1, 2, "Message Header Error / Bad Message Length"],
    [4, 0, "Hold Timer Expired"],
    [6, 99, "Cease / subcode 99"],
    [42, 1, "error 42/1"],
  ])("%d/%d is %s", (code, subcode, name) => {
    expect(errorName(code, subcode)).toBe(name);
  });

  it("carries an operator's message in a Cease (RFC 9003), cut at 255 bytes on a character", () => {
    const n = { code: 6, subcode: 2, data: shutdownData("node draining") };
    expect(shutdownMessage(n)).toBe("node draining");
    const long = shutdownData("é".repeat(200)); // 400 bytes of UTF-8
    expect(long[0]).toBe(254);
    expect(shutdownMessage({ code: 6, subcode: 4, data: long })).toBe("é".repeat(127));
    expect(shutdownMessage({ code: 6, subcode: 3, data: long })).toBeUndefined();
    expect(shutdownMessage({ code: 6, subcode: 2, data: hex("05 6162") })).toBeUndefined();
  });
});

describe("encoders refuse what the wire cannot carry", () => {
  const open = { asn: 65001, holdTime: 90, routerId: "192.0.2.1", capabilities: [] };
  const update = { withdrawn: [], attributes: {}, nlri: [] };
  it.each([
    ["an AS over 65535 without its capability", { type: "open", open: { ...open, asn: 70000 } }],
    ["hold time 1", { type: "open", open: { ...open, holdTime: 1 } }],
    ["router ID 0.0.0.0", { type: "open", open: { ...open, routerId: "0.0.0.0" } }],
    [
      "an IPv6 NLRI in the classic field",
      { type: "update", update: { ...update, nlri: [prefix("2001:db8::/32")] } },
    ],
    ["host bits set", { type: "update", update: { ...update, nlri: [prefix("192.0.2.1/24")] } }],
    [
      "an IPv6 NEXT_HOP",
      { type: "update", update: { ...update, attributes: { nextHop: ip("2001:db8::1") } } },
    ],
    [
      "a raw ORIGIN",
      {
        type: "update",
        update: {
          ...update,
          attributes: { unknown: [{ flags: 0x40, type: 1, value: hex("00") }] },
        },
      },
    ],
    [
      "a message over 4096 bytes",
      {
        type: "update",
        update: { ...update, nlri: Array.from({ length: 900 }, () => prefix("198.51.100.1/32")) },
      },
    ],
  ] as [string, Message][])("%s", (_name, m) => {
    expect(() => encodeMessage(m)).toThrow(RangeError);
  });

  it("writes AS_TRANS for a 4-byte AS", () => {
    const bytes = encodeMessage({
      type: "open",
      open: { ...open, asn: 65536, capabilities: [{ kind: "four-octet-as", asn: 65536 }] },
    });
    expect(bytes.readUInt16BE(20)).toBe(AS_TRANS);
    expect(frame(MSG_NOTIFICATION, "0602")[18]).toBe(MSG_NOTIFICATION);
  });
});
