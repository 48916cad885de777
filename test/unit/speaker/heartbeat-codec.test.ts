import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeHeartbeat,
  encodeHeartbeat,
  formatHeartbeatAddress,
  isHeartbeatToken,
  newHeartbeatToken,
  parseHeartbeatAddress,
  type Heartbeat,
} from "../../../src/speaker/heartbeat-codec.js";

// The heartbeat datagram: strict decoding that never throws, and the Lease annotation that
// says where a speaker listens.

const TOKEN = "00112233445566778899aabbccddeeff";
const hb = (over: Partial<Heartbeat> = {}): Heartbeat => ({
  node: "node-1",
  token: TOKEN,
  incarnation: 1_767_225_600_000,
  seq: 42,
  apiHealthy: true,
  leaving: false,
  ...over,
});

function edit(buf: Uint8Array, at: number, value: number): Uint8Array {
  const out = buf.slice();
  out[at] = value;
  return out;
}

describe("heartbeat codec", () => {
  it("encodes the documented layout", () => {
    const b = encodeHeartbeat(hb({ apiHealthy: true, leaving: true }));
    expect(b.length).toBe(39 + "node-1".length);
    expect(Buffer.from(b.subarray(0, 4)).toString("ascii")).toBe("BLHB");
    expect(b[4]).toBe(1);
    expect(b[5]).toBe(0b11);
    expect(Buffer.from(b.subarray(6, 22)).toString("hex")).toBe(TOKEN);
    const view = new DataView(b.buffer);
    expect(view.getBigUint64(22)).toBe(1_767_225_600_000n);
    expect(view.getBigUint64(30)).toBe(42n);
    expect(b[38]).toBe(6);
    expect(Buffer.from(b.subarray(39)).toString("ascii")).toBe("node-1");
  });

  it("encodes holdsYou as flag bit 2", () => {
    expect(encodeHeartbeat(hb({ apiHealthy: false, holdsYou: true }))[5]).toBe(0b100);
  });

  it.each([
    ["plain", hb()],
    ["leaving, API stale", hb({ apiHealthy: false, leaving: true })],
    ["holding the recipient", hb({ holdsYou: true })],
    ["zero seq and incarnation", hb({ seq: 0, incarnation: 0 })],
    ["largest safe integers", hb({ seq: Number.MAX_SAFE_INTEGER, incarnation: 2 ** 53 - 1 })],
    ["a 253-character FQDN node name", hb({ node: `${"a".repeat(61)}.`.repeat(4) + "b" })],
  ])("round-trips %s", (_name, h) => {
    expect(decodeHeartbeat(encodeHeartbeat(h))).toEqual({ ok: true, heartbeat: h });
  });

  it("decodes from a view into a larger buffer (as dgram hands them over)", () => {
    const inner = encodeHeartbeat(hb());
    const big = new Uint8Array(inner.length + 10);
    big.set(inner, 5);
    expect(decodeHeartbeat(big.subarray(5, 5 + inner.length))).toEqual({
      ok: true,
      heartbeat: hb(),
    });
  });

  const valid = encodeHeartbeat(hb());
  const withName = (name: string) => {
    const n = Buffer.from(name, "latin1");
    const out = new Uint8Array(39 + n.length);
    out.set(valid.subarray(0, 38));
    out[38] = n.length;
    out.set(n, 39);
    return out;
  };
  it.each([
    ["empty", new Uint8Array(0), "short"],
    ["a header cut short", valid.subarray(0, 38), "short"],
    ["wrong magic", edit(valid, 0, 0x41), "magic"],
    ["version 2", edit(valid, 4, 2), "version"],
    ["version 0", edit(valid, 4, 0), "version"],
    ["an unknown flag", edit(valid, 5, 0x08), "flags"],
    ["a name length of zero", edit(valid, 38, 0), "length"],
    ["a name length past the end", edit(valid, 38, 7), "length"],
    ["a trailing byte", Uint8Array.from([...valid, 0]), "length"],
    ["an incarnation above 2^53", edit(valid, 22, 0x01), "incarnation"],
    ["a seq above 2^53", edit(valid, 30, 0x80), "seq"],
    ["an upper-case name", withName("Node-1"), "node-name"],
    ["a name with a NUL", withName("node\u00001"), "node-name"],
    ["a name with a space", withName("node 1"), "node-name"],
    ["a name starting with a dash", withName("-node"), "node-name"],
    ["a name with an empty label", withName("a..b"), "node-name"],
    ["a non-ASCII name", withName("nöde"), "node-name"],
  ])("drops %s", (_name, buf, error) => {
    expect(decodeHeartbeat(buf)).toEqual({ ok: false, error });
  });

  it("refuses to encode what no peer would accept", () => {
    expect(() => encodeHeartbeat(hb({ node: "Node" }))).toThrow(/node name/);
    expect(() => encodeHeartbeat(hb({ token: "xyz" }))).toThrow(/token/);
    expect(() => encodeHeartbeat(hb({ seq: -1 }))).toThrow(/seq/);
    expect(() => encodeHeartbeat(hb({ incarnation: 1.5 }))).toThrow(/incarnation/);
  });

  it("makes 128-bit random tokens", () => {
    const a = newHeartbeatToken();
    expect(isHeartbeatToken(a)).toBe(true);
    expect(newHeartbeatToken()).not.toBe(a);
    expect(isHeartbeatToken(TOKEN.toUpperCase())).toBe(false);
  });

  it("never throws on random bytes, and accepts only what re-encodes to the same bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 320 }), (bytes) => {
        const r = decodeHeartbeat(bytes);
        if (r.ok) expect(encodeHeartbeat(r.heartbeat)).toEqual(bytes);
      }),
      { numRuns: 20_000 },
    );
  });

  it("never throws on mutated valid datagrams", () => {
    const mutated = fc
      .tuple(
        fc.array(fc.tuple(fc.nat(valid.length + 4), fc.integer({ min: 0, max: 255 })), {
          maxLength: 4,
        }),
        fc.nat(valid.length + 8),
      )
      .map(([edits, len]) => {
        const out = new Uint8Array(len);
        out.set(valid.subarray(0, Math.min(len, valid.length)));
        for (const [at, v] of edits) if (at < len) out[at] = v;
        return out;
      });
    fc.assert(
      fc.property(mutated, (bytes) => {
        const r = decodeHeartbeat(bytes);
        if (r.ok) expect(encodeHeartbeat(r.heartbeat)).toEqual(bytes);
      }),
      { numRuns: 20_000 },
    );
  });

  it("round-trips any valid heartbeat", () => {
    const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
    const heartbeat = fc.record({
      node: fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join(".")),
      token: fc
        .uint8Array({ minLength: 16, maxLength: 16 })
        .map((b) => Buffer.from(b).toString("hex")),
      incarnation: fc.maxSafeNat(),
      seq: fc.maxSafeNat(),
      apiHealthy: fc.boolean(),
      leaving: fc.boolean(),
    });
    const withHold = fc
      .tuple(heartbeat, fc.boolean())
      .map(([h, holds]) => (holds ? { ...h, holdsYou: true } : h));
    fc.assert(
      fc.property(withHold, (h) => {
        expect(decodeHeartbeat(encodeHeartbeat(h))).toEqual({ ok: true, heartbeat: h });
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("heartbeat address annotation", () => {
  it.each([
    ["192.0.2.10:7946", { ip: "192.0.2.10", port: 7946, family: 4 }],
    ["[2001:db8::10]:7946", { ip: "2001:db8::10", port: 7946, family: 6 }],
    ["[2001:DB8:0:0::10]:1", { ip: "2001:db8::10", port: 1, family: 6 }],
  ])("parses %s", (text, want) => {
    expect(parseHeartbeatAddress(text)).toEqual(want);
  });

  it.each([
    "",
    "192.0.2.10",
    "192.0.2.10:",
    "192.0.2.10:0",
    "192.0.2.10:65536",
    "192.0.2.256:7946",
    "2001:db8::10:7946", // ambiguous without brackets
    "[192.0.2.10]:7946",
    "[fe80::1%eth0]:7946",
    "node-1:7946",
    " 192.0.2.10:7946",
  ])("rejects %j", (text) => {
    expect(parseHeartbeatAddress(text)).toBeNull();
  });

  it("formats what it parses", () => {
    for (const t of ["192.0.2.10:7946", "[2001:db8::10]:7946"]) {
      const a = parseHeartbeatAddress(t);
      expect(a).not.toBeNull();
      if (a !== null) expect(formatHeartbeatAddress(a)).toBe(t);
    }
  });
});
