import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeMessage, encodeMessage, type Message } from "../../../src/bgp/index.js";
import { message, open, update } from "./arbitraries.js";

/** Every value the encoders accept decodes back to itself: encode → decode = identity. */

const roundTrips = (m: Message) => {
  expect(decodeMessage(encodeMessage(m))).toEqual({ ok: true, value: m });
};

describe("BGP round trips", () => {
  it("OPEN", () => {
    fc.assert(
      fc.property(open, (o) => roundTrips({ type: "open", open: o })),
      { numRuns: 2000 },
    );
  });

  it("UPDATE", () => {
    fc.assert(
      fc.property(update, (u) => roundTrips({ type: "update", update: u })),
      {
        numRuns: 2000,
      },
    );
  });

  it("every message type", () => {
    fc.assert(fc.property(message, roundTrips), { numRuns: 5000 });
  });
});
