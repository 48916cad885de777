import { endianness } from "node:os";
import { describe, expect, it } from "vitest";
import {
  AF_INET,
  attributes,
  dumpRequest,
  parseAddressMessage,
  parseLinkMessage,
  RTM_GETADDR,
  RTM_GETLINK,
} from "../../../src/dataplane/rtnetlink.js";

/** Builds netlink structures in the host's byte order, as the kernel sends them. */
const le = endianness() === "LE";
const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  if (le) b.writeUInt16LE(n);
  else b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  if (le) b.writeUInt32LE(n);
  else b.writeUInt32BE(n);
  return b;
};
const attr = (type: number, payload: Uint8Array) => {
  const len = 4 + payload.length;
  return Buffer.concat([u16(len), u16(type), payload, Buffer.alloc(((len + 3) & ~3) - len)]);
};
const str = (s: string) => Buffer.from(`${s}\0`, "latin1");

function linkMessage(o: { index: number; type?: number; flags: number; attrs: Buffer[] }) {
  const ifinfomsg = Buffer.concat([
    Buffer.from([0, 0]),
    u16(o.type ?? 1),
    u32(o.index),
    u32(o.flags),
    u32(0xffffffff),
  ]);
  return Buffer.concat([ifinfomsg, ...o.attrs]);
}

describe("rtnetlink parsing", () => {
  it("reads a veth link: name, MAC, flags, kind", () => {
    const msg = linkMessage({
      index: 7,
      flags: 0x1 | 0x2 | 0x40 | 0x1000 | 0x10000, // UP BROADCAST RUNNING MULTICAST LOWER_UP
      attrs: [
        attr(3, str("eth0")),
        attr(4, u32(1500)), // IFLA_MTU: ignored
        attr(1, Buffer.from([2, 0, 0, 0, 0, 7])),
        attr(18 | 0x8000, attr(1, str("veth"))), // nested flag set, as some kernels send it
      ],
    });
    expect(parseLinkMessage(msg)).toEqual({
      index: 7,
      name: "eth0",
      type: 1,
      mac: Uint8Array.of(2, 0, 0, 0, 0, 7),
      up: true,
      running: true,
      broadcast: true,
      noarp: false,
      loopback: false,
      kind: "veth",
    });
  });

  it("reads master, NOARP, loopback; ignores master 0", () => {
    const port = parseLinkMessage(
      linkMessage({ index: 3, flags: 0x80, attrs: [attr(3, str("eth3")), attr(10, u32(5))] }),
    );
    expect(port).toMatchObject({ name: "eth3", master: 5, noarp: true, up: false });
    const lo = parseLinkMessage(
      linkMessage({
        index: 1,
        type: 772,
        flags: 0x9,
        attrs: [attr(3, str("lo")), attr(10, u32(0))],
      }),
    );
    expect(lo).toMatchObject({ name: "lo", type: 772, loopback: true });
    expect(lo?.master).toBeUndefined();
  });

  it("rejects messages without a name or too short, and stops at a broken attribute", () => {
    expect(parseLinkMessage(linkMessage({ index: 3, flags: 1, attrs: [] }))).toBeUndefined();
    expect(parseLinkMessage(Buffer.alloc(10))).toBeUndefined();
    const broken = Buffer.concat([attr(3, str("a")), u16(200), u16(1)]);
    expect([...attributes(broken, 0)].map(([t]) => t)).toEqual([3]);
  });

  it("reads an IPv6 address message", () => {
    const ifaddrmsg = Buffer.concat([Buffer.from([10, 64, 0, 253]), u32(7)]);
    const fe80 = Buffer.from("fe800000000000000000000000000001", "hex");
    expect(parseAddressMessage(Buffer.concat([ifaddrmsg, attr(1, fe80)]))).toEqual({
      family: 10,
      index: 7,
      address: Uint8Array.from(fe80),
    });
    expect(parseAddressMessage(ifaddrmsg)).toEqual({ family: 10, index: 7 });
  });

  it("builds dump requests", () => {
    expect(dumpRequest(RTM_GETLINK)).toEqual(new Uint8Array(16));
    expect([...dumpRequest(RTM_GETADDR)]).toEqual([10, 0, 0, 0, 0, 0, 0, 0]);
    expect([...dumpRequest(RTM_GETADDR, AF_INET)]).toEqual([2, 0, 0, 0, 0, 0, 0, 0]);
  });
});
