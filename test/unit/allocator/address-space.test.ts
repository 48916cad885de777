import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { AddressSpace } from "../../../src/allocator/address-space.js";
import { isBuggyIPv4 } from "../../../src/net/ip.js";

/** An AddressSpace plus the held set it consults, and a brute-force answer to compare with. */
function harness(ranges: { start: bigint; end: bigint }[], avoidBuggy: boolean) {
  const held = new Set<bigint>();
  const space = new AddressSpace(4, ranges, avoidBuggy, (v) => held.has(v));
  const brute = (): bigint | undefined => {
    const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : 1));
    for (const r of sorted) {
      for (let v = r.start; v <= r.end; v++) {
        if (!held.has(v) && !(avoidBuggy && isBuggyIPv4(v))) return v;
      }
    }
    return undefined;
  };
  const take = (v: bigint): void => {
    held.add(v);
    space.take(v);
  };
  const release = (v: bigint): void => {
    held.delete(v);
    space.release(v);
  };
  return { held, space, brute, take, release };
}

describe("AddressSpace", () => {
  it("hands out the lowest free address, reusing freed ones first", () => {
    const h = harness([{ start: 10n, end: 19n }], false);
    for (let i = 0; i < 5; i++) {
      const v = h.space.lowestFree();
      expect(v).toBe(BigInt(10 + i));
      if (v !== undefined) h.take(v);
    }
    h.release(12n);
    h.release(11n);
    expect(h.space.lowestFree()).toBe(11n);
    h.take(11n);
    expect(h.space.lowestFree()).toBe(12n);
    // Releasing the address just below the hint lowers the hint: nothing is kept for it.
    h.release(14n);
    h.release(13n);
    expect(h.space.lowestFree()).toBe(12n);
  });

  it("skips addresses held out of order (explicit requests) and avoided ones", () => {
    const h = harness([{ start: 0xc0000200n, end: 0xc0000301n }], true); // 192.0.2.0-192.0.3.1
    h.take(0xc0000201n);
    h.take(0xc0000202n);
    expect(h.space.lowestFree()).toBe(0xc0000203n);
    h.take(0xc00002fen); // .254
    for (let v = 0xc0000203n; v < 0xc00002fen; v++) h.take(v);
    // .255 and 192.0.3.0 are avoided: the next is 192.0.3.1, then nothing.
    expect(h.space.lowestFree()).toBe(0xc0000301n);
    h.take(0xc0000301n);
    expect(h.space.lowestFree()).toBeUndefined();
  });

  it("keeps state proportional to addresses in use in a /8", () => {
    const h = harness([{ start: 0x0a000000n, end: 0x0affffffn }], false);
    for (let i = 0; i < 10_000; i++) {
      const v = h.space.lowestFree();
      if (v === undefined) throw new Error("full");
      h.take(v);
    }
    expect(h.space.inUse).toBe(10_000);
    expect(h.space.overhead).toBeLessThan(10);
    // Free everything in reverse: the hint walks back; nothing accumulates.
    for (const v of [...h.held].reverse()) h.release(v);
    expect(h.space.overhead).toBeLessThan(10);
    expect(h.space.lowestFree()).toBe(0x0a000000n);
    // Free in allocation order: the freed set grows, then shrinks as addresses are reused.
    for (let i = 0; i < 1000; i++) h.take(h.space.lowestFree() ?? -1n);
    for (const v of [...h.held].slice(0, 999)) h.release(v);
    expect(h.space.overhead).toBeLessThan(1000 * 3 + 100);
    for (let i = 0; i < 999; i++) h.take(h.space.lowestFree() ?? -1n);
    expect(h.space.overhead).toBeLessThan(200);
  });

  it("agrees with a brute force under any sequence of takes and releases", () => {
    const rangesArb = fc
      .uniqueArray(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 6 })
      .map((starts) =>
        starts
          .sort((a, b) => a - b)
          .map((s, i, all) => ({
            start: BigInt(s * 16 + 250), // crosses .255/.0 boundaries
            end: BigInt(Math.min(s * 16 + 250 + ((i * 7) % 15), (all[i + 1] ?? 1000) * 16 + 249)),
          })),
      );
    const op = fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant("alloc" as const) }), weight: 3 },
      { arbitrary: fc.record({ kind: fc.constant("take" as const), pick: fc.nat() }), weight: 1 },
      {
        arbitrary: fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }),
        weight: 2,
      },
    );
    fc.assert(
      fc.property(
        rangesArb,
        fc.boolean(),
        fc.array(op, { minLength: 20, maxLength: 200 }),
        (ranges, avoid, ops) => {
          const h = harness(ranges, avoid);
          const all: bigint[] = [];
          for (const r of ranges) for (let v = r.start; v <= r.end; v++) all.push(v);
          for (const o of ops) {
            if (o.kind === "alloc") {
              const got = h.space.lowestFree();
              expect(got).toBe(h.brute());
              if (got !== undefined) h.take(got);
            } else if (o.kind === "take") {
              const free = all.filter((v) => !h.held.has(v) && !(avoid && isBuggyIPv4(v)));
              const v = free[o.pick % Math.max(free.length, 1)];
              if (v !== undefined) h.take(v);
            } else {
              const held = [...h.held];
              const v = held[o.pick % Math.max(held.length, 1)];
              if (v !== undefined) h.release(v);
            }
            expect(h.space.inUse).toBe(h.held.size);
          }
          expect(h.space.lowestFree()).toBe(h.brute());
        },
      ),
      { numRuns: 300 },
    );
  });
});
