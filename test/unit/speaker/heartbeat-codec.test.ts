import { createHmac } from "node:crypto";
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
import {
  heartbeatKeyFromText,
  HeartbeatKeyring,
  type HeartbeatKey,
  type HeartbeatKeys,
} from "../../../src/speaker/heartbeat-keys.js";

// The heartbeat datagram: signed with the shared key, strict decoding that never throws, and
// the Lease annotation that says where a speaker listens.

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
const KEY = heartbeatKeyFromText("k".repeat(32));
const OTHER = heartbeatKeyFromText("x".repeat(40));
const keys: HeartbeatKeys = new HeartbeatKeyring(KEY);
const enc = (h: Heartbeat) => encodeHeartbeat(h, KEY);
const dec = (b: Uint8Array) => decodeHeartbeat(b, keys);
const ok = (h: Heartbeat) => ({ ok: true, keyId: KEY.id, heartbeat: h });

/** Signs bytes as the format says (HMAC-SHA256 over all but the last 32 bytes): re-signs edits. */
function resign(buf: Uint8Array, key: HeartbeatKey = KEY): Uint8Array {
  const out = buf.slice();
  const body = out.subarray(0, out.length - 32);
  out.set(createHmac("sha256", key.secret).update(body).digest(), out.length - 32);
  return out;
}

/** Byte `at` of `buf` (0 past the end). */
const byteAt = (buf: Uint8Array, i: number): number => buf[i] ?? 0;

function edit(buf: Uint8Array, at: number, value: number): Uint8Array {
  const out = buf.slice();
  out[at] = value;
  return out;
}

describe("heartbeat codec", () => {
  it("encodes the documented layout", () => {
    const b = enc(hb({ apiHealthy: true, leaving: true }));
    expect(b.length).toBe(75 + "node-1".length);
    expect(Buffer.from(b.subarray(0, 4)).toString("ascii")).toBe("BLHB");
    expect(b[4]).toBe(2);
    expect(b[5]).toBe(0b11);
    const view = new DataView(b.buffer);
    expect(view.getUint32(6)).toBe(KEY.id);
    expect(Buffer.from(b.subarray(10, 26)).toString("hex")).toBe(TOKEN);
    expect(view.getBigUint64(26)).toBe(1_767_225_600_000n);
    expect(view.getBigUint64(34)).toBe(42n);
    expect(b[42]).toBe(6);
    expect(Buffer.from(b.subarray(43, 49)).toString("ascii")).toBe("node-1");
    const tag = createHmac("sha256", KEY.secret).update(b.subarray(0, 49)).digest();
    expect(Buffer.from(b.subarray(49))).toEqual(tag);
  });

  it("encodes holdsYou as flag bit 2", () => {
    expect(enc(hb({ apiHealthy: false, holdsYou: true }))[5]).toBe(0b100);
  });

  it.each([
    ["plain", hb()],
    ["leaving, API stale", hb({ apiHealthy: false, leaving: true })],
    ["holding the recipient", hb({ holdsYou: true })],
    ["zero seq and incarnation", hb({ seq: 0, incarnation: 0 })],
    ["largest safe integers", hb({ seq: Number.MAX_SAFE_INTEGER, incarnation: 2 ** 53 - 1 })],
    ["a 253-character FQDN node name", hb({ node: `${"a".repeat(61)}.`.repeat(4) + "b" })],
  ])("round-trips %s", (_name, h) => {
    expect(dec(enc(h))).toEqual(ok(h));
  });

  it("decodes from a view into a larger buffer (as dgram hands them over)", () => {
    const inner = enc(hb());
    const big = new Uint8Array(inner.length + 10);
    big.set(inner, 5);
    expect(dec(big.subarray(5, 5 + inner.length))).toEqual(ok(hb()));
  });

  const valid = enc(hb());
  const signedLength = valid.length - 32;
  const withName = (name: string) => {
    const n = Buffer.from(name, "latin1");
    const out = new Uint8Array(43 + n.length + 32);
    out.set(valid.subarray(0, 42));
    out[42] = n.length;
    out.set(n, 43);
    return resign(out);
  };
  // Structure first (it says where the tag is), then key and tag, then the fields: a field
  // error is only reported for a datagram signed with a known key.
  it.each([
    ["empty", new Uint8Array(0), "short"],
    ["a datagram cut short", valid.subarray(0, 74), "short"],
    ["wrong magic", edit(valid, 0, 0x41), "magic"],
    ["version 1 (the unsigned format)", resign(edit(valid, 4, 1)), "version"],
    ["version 3", edit(valid, 4, 3), "version"],
    ["a name length of zero", edit(valid, 42, 0), "length"],
    ["a name length past the end", edit(valid, 42, 7), "length"],
    ["a trailing byte", Uint8Array.from([...valid, 0]), "length"],
    ["the tag cut by a byte", valid.subarray(0, signedLength + 31), "length"],
    ["an unknown key id", resign(edit(valid, 6, byteAt(valid, 6) ^ 0xff)), "unknown-key"],
    ["a tampered flag", edit(valid, 5, byteAt(valid, 5) ^ 0x02), "bad-mac"],
    ["a tampered seq", edit(valid, 41, byteAt(valid, 41) ^ 0x01), "bad-mac"],
    ["a tampered name", edit(valid, 47, 0x32), "bad-mac"],
    [
      "a tampered tag",
      edit(valid, valid.length - 1, byteAt(valid, valid.length - 1) ^ 0x80),
      "bad-mac",
    ],
    ["an unknown flag", resign(edit(valid, 5, 0x08)), "flags"],
    ["an incarnation above 2^53", resign(edit(valid, 26, 0x01)), "incarnation"],
    ["a seq above 2^53", resign(edit(valid, 34, 0x80)), "seq"],
    ["an upper-case name", withName("Node-1"), "node-name"],
    ["a name with a NUL", withName("node\u00001"), "node-name"],
    ["a name with a space", withName("node 1"), "node-name"],
    ["a name starting with a dash", withName("-node"), "node-name"],
    ["a name with an empty label", withName("a..b"), "node-name"],
    ["a non-ASCII name", withName("nöde"), "node-name"],
  ])("drops %s", (_name, buf, error) => {
    expect(dec(buf)).toEqual({ ok: false, error });
  });

  it("drops a datagram forged with another key, whatever key id it claims", () => {
    // Signed with the forger's own key: its id is unknown here.
    expect(dec(encodeHeartbeat(hb({ leaving: true }), OTHER))).toEqual({
      ok: false,
      error: "unknown-key",
    });
    // The real key id, copied from a sniffed datagram, with the forger's tag.
    const forged = encodeHeartbeat(hb({ leaving: true }), { id: KEY.id, secret: OTHER.secret });
    expect(dec(forged)).toEqual({ ok: false, error: "bad-mac" });
  });

  it("refuses to encode what no peer would accept", () => {
    expect(() => enc(hb({ node: "Node" }))).toThrow(/node name/);
    expect(() => enc(hb({ token: "xyz" }))).toThrow(/token/);
    expect(() => enc(hb({ seq: -1 }))).toThrow(/seq/);
    expect(() => enc(hb({ incarnation: 1.5 }))).toThrow(/incarnation/);
  });

  it("makes 128-bit random tokens", () => {
    const a = newHeartbeatToken();
    expect(isHeartbeatToken(a)).toBe(true);
    expect(newHeartbeatToken()).not.toBe(a);
    expect(isHeartbeatToken(TOKEN.toUpperCase())).toBe(false);
  });

  it("never throws on random bytes, and accepts only what re-encodes to the same bytes", () => {
    // Random bytes with a valid header and a known key id, so that the tag check is reached.
    const header = valid.subarray(0, 10);
    const candidates = fc.oneof(
      fc.uint8Array({ maxLength: 340 }),
      fc
        .uint8Array({ minLength: 33, maxLength: 330 })
        .map((rest) => Uint8Array.from([...header, ...rest])),
    );
    fc.assert(
      fc.property(candidates, (bytes) => {
        const r = dec(bytes);
        if (r.ok) expect(enc(r.heartbeat)).toEqual(bytes);
      }),
      { numRuns: 20_000 },
    );
  });

  it("never throws on mutated valid datagrams, and refuses every one that changed", () => {
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
        const r = dec(bytes);
        if (r.ok) expect(bytes).toEqual(valid);
        else expect(Buffer.from(bytes).equals(Buffer.from(valid))).toBe(false);
      }),
      { numRuns: 20_000 },
    );
  });

  it("refuses every single-bit flip of a signed datagram", () => {
    for (let bit = 0; bit < valid.length * 8; bit++) {
      const flipped = edit(valid, bit >> 3, (valid[bit >> 3] ?? 0) ^ (1 << (bit & 7)));
      expect(dec(flipped).ok, `bit ${bit}`).toBe(false);
    }
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
        expect(dec(enc(h))).toEqual(ok(h));
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
