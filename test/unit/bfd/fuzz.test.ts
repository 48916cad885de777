import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeControl, encodeControl, type Decoded } from "../../../src/bfd/index.js";
import { controlPacket } from "./arbitraries.js";

/**
 * Random and mutated bytes into the decoder. Properties: nothing throws; a refusal has a
 * reason and a detail; an accepted packet re-encodes to the bytes it was read from (its first
 * 24, but for a Length above 24, which RFC 5880 6.8.6 lets through), so what is read is what is
 * meant.
 */

const RUNS = 50_000;

function check(bytes: Uint8Array): boolean {
  let r: Decoded | undefined;
  expect(() => (r = decodeControl(bytes))).not.toThrow();
  if (r === undefined) return false;
  if (!r.ok) {
    expect(r.detail.length).toBeGreaterThan(0);
    return true;
  }
  const read = Buffer.from(bytes.subarray(0, 24));
  read[3] = 24;
  expect(Buffer.from(encodeControl(r.packet))).toEqual(read);
  return true;
}

/** A valid packet with a few bytes overwritten, maybe cut or extended. */
const mutated = fc
  .record({
    valid: controlPacket.map(encodeControl),
    edits: fc.array(fc.tuple(fc.nat(40), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    size: fc.option(fc.nat(48), { nil: undefined }),
  })
  .map(({ valid, edits, size }) => {
    const out = new Uint8Array(size ?? valid.length);
    out.set(valid.subarray(0, out.length));
    for (const [i, v] of edits) if (i < out.length) out[i] = v;
    return out;
  });

describe("BFD decoder fuzz", () => {
  it("arbitrary bytes never throw", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), check), { numRuns: RUNS });
  });

  it("mutated valid packets never throw, and what is accepted re-encodes exactly", () => {
    fc.assert(fc.property(mutated, check), { numRuns: RUNS });
  });
});
