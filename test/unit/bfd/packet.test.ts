import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeControl,
  diagnosticName,
  encodeControl,
  type ControlPacket,
  type DropReason,
} from "../../../src/bfd/index.js";
import { controlPacket } from "./arbitraries.js";

/** Hex written by hand from the layout of RFC 5880 4.1 (spaces for reading only). */
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));

const base: ControlPacket = {
  diagnostic: 0,
  state: "Down",
  poll: false,
  final: false,
  controlPlaneIndependent: false,
  demand: false,
  detectMult: 3,
  myDiscriminator: 1,
  yourDiscriminator: 0,
  desiredMinTxUs: 1_000_000,
  requiredMinRxUs: 300_000,
  requiredMinEchoRxUs: 0,
};

describe("BFD Control packet: byte-exact", () => {
  it.each<[string, ControlPacket, string]>([
    // vers 1 diag 0 | Down, no flags | mult 3 | len 24; discriminators; 1 s; 300 ms; echo 0
    ["a new session, Down", base, "20 40 03 18 00000001 00000000 000f4240 000493e0 00000000"],
    [
      "Init answering with F",
      { ...base, state: "Init", final: true, yourDiscriminator: 0x0a0b0c0d },
      "20 90 03 18 00000001 0a0b0c0d 000f4240 000493e0 00000000",
    ],
    [
      "Up polling for 300 ms",
      { ...base, state: "Up", poll: true, yourDiscriminator: 2, desiredMinTxUs: 300_000 },
      "20 e0 03 18 00000001 00000002 000493e0 000493e0 00000000",
    ],
    [
      "Down after the detection time, diag 1",
      { ...base, diagnostic: 1, yourDiscriminator: 0 },
      "21 40 03 18 00000001 00000000 000f4240 000493e0 00000000",
    ],
    [
      "AdminDown, diag 7, multiplier 255",
      { ...base, diagnostic: 7, state: "AdminDown", detectMult: 255, myDiscriminator: 0xffffffff },
      "27 00 ff 18 ffffffff 00000000 000f4240 000493e0 00000000",
    ],
    [
      "Up with C and D, echo 50 ms",
      {
        ...base,
        state: "Up",
        controlPlaneIndependent: true,
        demand: true,
        yourDiscriminator: 7,
        requiredMinEchoRxUs: 50_000,
      },
      "20 ca 03 18 00000001 00000007 000f4240 000493e0 0000c350",
    ],
  ])("%s", (_name, packet, bytes) => {
    expect(Buffer.from(encodeControl(packet)).toString("hex")).toBe(bytes.replace(/\s+/g, ""));
    expect(decodeControl(hex(bytes))).toEqual({ ok: true, packet });
  });

  it("ignores bytes past the Length field's count", () => {
    const bytes = hex("20 40 03 18 00000001 00000000 000f4240 000493e0 00000000 deadbeef");
    expect(decodeControl(bytes)).toEqual({ ok: true, packet: base });
  });

  it.each<[string, string, DropReason]>([
    ["23 bytes", "20 40 03 18 00000001 00000000 000f4240 000493e0 000000", "too-short"],
    ["version 0", "00 40 03 18 00000001 00000000 000f4240 000493e0 00000000", "version"],
    ["version 2", "40 40 03 18 00000001 00000000 000f4240 000493e0 00000000", "version"],
    ["length 23", "20 40 03 17 00000001 00000000 000f4240 000493e0 00000000", "length"],
    [
      "length past the payload",
      "20 40 03 19 00000001 00000000 000f4240 000493e0 00000000",
      "length",
    ],
    [
      "detect mult 0",
      "20 40 00 18 00000001 00000000 000f4240 000493e0 00000000",
      "detect-mult-zero",
    ],
    ["multipoint", "20 41 03 18 00000001 00000000 000f4240 000493e0 00000000", "multipoint"],
    [
      "my discriminator 0",
      "20 40 03 18 00000000 00000000 000f4240 000493e0 00000000",
      "my-discriminator-zero",
    ],
    [
      "Up without your discriminator",
      "20 c0 03 18 00000001 00000000 000f4240 000493e0 00000000",
      "your-discriminator-zero",
    ],
    [
      "Init without your discriminator",
      "20 80 03 18 00000001 00000000 000f4240 000493e0 00000000",
      "your-discriminator-zero",
    ],
    ["P and F", "20 70 03 18 00000001 00000000 000f4240 000493e0 00000000", "poll-and-final"],
    // A set, Simple Password (type 1, length 7, key id 1, "pass"): 24 + 7 = 31 bytes.
    [
      "simple password",
      "20 44 03 1f 00000001 00000000 000f4240 000493e0 00000000 01 07 01 70617373",
      "authentication",
    ],
    [
      "A set without room for the section",
      "20 44 03 18 00000001 00000000 000f4240 000493e0 00000000",
      "length",
    ],
  ])("drops %s", (_name, bytes, reason) => {
    const r = decodeControl(hex(bytes));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe(reason);
  });

  it("Down and AdminDown may leave your discriminator 0", () => {
    expect(decodeControl(hex("27 00 03 18 00000001 00000000 000f4240 000493e0 00000000")).ok).toBe(
      true,
    );
  });

  it("the encoder refuses what the wire cannot carry", () => {
    expect(() => encodeControl({ ...base, detectMult: 0 })).toThrow(RangeError);
    expect(() => encodeControl({ ...base, myDiscriminator: 0 })).toThrow(RangeError);
    expect(() => encodeControl({ ...base, diagnostic: 32 })).toThrow(RangeError);
    expect(() => encodeControl({ ...base, desiredMinTxUs: 2 ** 32 })).toThrow(RangeError);
    expect(() => encodeControl({ ...base, poll: true, final: true })).toThrow(RangeError);
    expect(() => encodeControl({ ...base, state: "Up", yourDiscriminator: 0 })).toThrow(RangeError);
  });

  it("names the diagnostic codes", () => {
    expect(diagnosticName(1)).toBe("Control Detection Time Expired");
    expect(diagnosticName(3)).toBe("Neighbor Signaled Session Down");
    expect(diagnosticName(7)).toBe("Administratively Down");
    expect(diagnosticName(9)).toBe("reserved diagnostic 9");
  });
});

describe("BFD Control packet: round trips", () => {
  it("encode → decode = identity", () => {
    fc.assert(
      fc.property(controlPacket, (p) => {
        const bytes = encodeControl(p);
        expect(bytes.length).toBe(24);
        expect(decodeControl(bytes)).toEqual({ ok: true, packet: p });
      }),
      { numRuns: 5000 },
    );
  });
});
