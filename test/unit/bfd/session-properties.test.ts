import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  encodeControl,
  openSession,
  step,
  type Input,
  type SessionConfig,
} from "../../../src/bfd/index.js";
import { controlPacket } from "./arbitraries.js";

/**
 * Any sequence of inputs (packets of any content, timers, admin changes, new intervals) at
 * rising times. Invariants: nothing throws; every packet the session sends is one the encoder
 * takes (so never P with F, never Init or Up without the peer's discriminator); a session is
 * Init or Up only with a peer; the next deadline is always in the future.
 */

const LOCAL = 0x1234;

const config: fc.Arbitrary<Omit<SessionConfig, "localDiscriminator">> = fc.record({
  desiredMinTxUs: fc.integer({ min: 10_000, max: 60_000_000 }),
  requiredMinRxUs: fc.integer({ min: 10_000, max: 60_000_000 }),
  detectMult: fc.integer({ min: 1, max: 255 }),
  passive: fc.boolean(),
});

const input: fc.Arbitrary<Input> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .tuple(controlPacket, fc.constantFrom(0, LOCAL, LOCAL, 0x9999))
      .map(([packet, your]) => ({
        kind: "packet" as const,
        packet: {
          ...packet,
          yourDiscriminator:
            your === 0 && (packet.state === "Init" || packet.state === "Up") ? LOCAL : your,
        },
      })),
  },
  { weight: 3, arbitrary: fc.constant({ kind: "timer" as const }) },
  { weight: 1, arbitrary: fc.boolean().map((up) => ({ kind: "admin" as const, up })) },
  { weight: 1, arbitrary: config.map((c) => ({ kind: "configure" as const, config: c })) },
);

describe("BFD session properties", () => {
  it("any inputs: no throw, encodable packets, a peer when Init or Up, deadlines ahead", () => {
    fc.assert(
      fc.property(
        config,
        fc.array(fc.tuple(input, fc.nat(5_000_000), fc.double({ min: 0, max: 1, noNaN: true })), {
          maxLength: 40,
        }),
        (c, inputs) => {
          let now = 0;
          let s = openSession({ ...c, localDiscriminator: LOCAL }, now, 0.5);
          for (const [i, dt, random] of inputs) {
            now += dt;
            // A timer fires at its deadline, not before: the edge never calls early.
            const at = i.kind === "timer" ? Math.max(now, s.deadline ?? now) : now;
            now = at;
            s = step(s.session, i, now, random);
            for (const p of s.send) expect(() => encodeControl(p)).not.toThrow();
            if (s.session.state === "Init" || s.session.state === "Up") {
              expect(s.session.remoteDiscr).not.toBe(0);
            }
            if (s.deadline !== undefined) expect(s.deadline).toBeGreaterThan(now);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
