import fc from "fast-check";
import type { BfdState, ControlPacket } from "../../../src/bfd/index.js";

const state: fc.Arbitrary<BfdState> = fc.constantFrom("AdminDown", "Down", "Init", "Up");
const u32 = fc.nat({ max: 0xffff_ffff });

/** Every Control packet the encoder accepts (and so the decoder must too). */
export const controlPacket: fc.Arbitrary<ControlPacket> = fc
  .record({
    diagnostic: fc.integer({ min: 0, max: 31 }),
    state,
    pf: fc.constantFrom("", "P", "F"),
    controlPlaneIndependent: fc.boolean(),
    demand: fc.boolean(),
    detectMult: fc.integer({ min: 1, max: 255 }),
    myDiscriminator: fc.integer({ min: 1, max: 0xffff_ffff }),
    yourDiscriminator: u32,
    desiredMinTxUs: u32,
    requiredMinRxUs: u32,
    requiredMinEchoRxUs: u32,
  })
  .map(({ pf, ...p }) => ({
    ...p,
    poll: pf === "P",
    final: pf === "F",
    // Init and Up name the peer: a packet in those states always has Your Discriminator.
    yourDiscriminator:
      (p.state === "Init" || p.state === "Up") && p.yourDiscriminator === 0
        ? 1
        : p.yourDiscriminator,
  }));
