import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Membership,
  type MembershipChange,
  type NodeState,
} from "../../../src/speaker/membership.js";

/**
 * Property tests over random event sequences seen from node "a" with peers b, c, d: Leases
 * appearing, renewing, changing token and disappearing; heartbeats valid, spoofed, stale,
 * reordered, leaving; API health flipping; sends failing; the clock jumping (lags).
 *
 * After every event:
 * - eligible() ⊆ live(); fenced() and held() ⊆ live(); no node is eligible while fenced or
 *   held; status() says the same as the lists;
 * - the changes reported so far, replayed, give every node's current state (none is lost or
 *   invented), and onChange saw exactly what the calls returned.
 * And after any such history, 70 s of a healthy steady cluster makes every node eligible:
 * no state is stuck.
 */

const PEERS = ["b", "c", "d"] as const;
type Peer = (typeof PEERS)[number];
const TOKENS = ["0".repeat(32), "1".repeat(32), "2".repeat(32)] as const;

type Op =
  | { op: "advance"; ms: number }
  | { op: "tick" }
  | { op: "lease"; node: Peer; renew: number; token: number; addr: boolean; durationMs: number }
  | { op: "leaseDeleted"; node: Peer }
  | {
      op: "heartbeat";
      node: Peer | "a" | "x";
      token: number;
      incarnation: number;
      seq: number;
      apiHealthy: boolean;
      leaving: boolean;
    }
  | { op: "selfSent" }
  | { op: "api"; healthy: boolean }
  | { op: "leave" };

const peer = fc.constantFrom(...PEERS);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("advance" as const),
      ms: fc.integer({ min: 0, max: 700 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("advance" as const),
      ms: fc.integer({ min: 700, max: 12_000 }),
    }),
  },
  { weight: 5, arbitrary: fc.constant({ op: "tick" as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("lease" as const),
      node: peer,
      renew: fc.integer({ min: 0, max: 5 }),
      token: fc.integer({ min: 0, max: 2 }),
      addr: fc.boolean(),
      durationMs: fc.constantFrom(10_000, 2_000, 0),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("leaseDeleted" as const), node: peer }) },
  {
    weight: 10,
    arbitrary: fc.record({
      op: fc.constant("heartbeat" as const),
      node: fc.constantFrom(...PEERS, "a" as const, "x" as const),
      token: fc.integer({ min: 0, max: 2 }),
      incarnation: fc.integer({ min: 1, max: 3 }),
      seq: fc.integer({ min: 0, max: 30 }),
      apiHealthy: fc.boolean(),
      leaving: fc.boolean().map((b) => b && Math.random() < 0.2),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ op: "selfSent" as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("api" as const), healthy: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ op: "leave" as const }) },
);

class Driver {
  t = 0;
  api = true;
  readonly reported = new Map<string, NodeState>();
  readonly viaListener: MembershipChange[] = [];
  readonly viaReturn: MembershipChange[] = [];
  readonly m: Membership;

  constructor(fenceAfterMs: number) {
    this.m = new Membership({
      self: "a",
      now: () => this.t,
      selfApiHealthy: () => this.api,
      fenceAfterMs,
      onChange: (cs) => this.viaListener.push(...cs),
    });
  }

  apply(o: Op): void {
    const m = this.m;
    let out: MembershipChange[] = [];
    switch (o.op) {
      case "advance":
        this.t += o.ms;
        break;
      case "tick":
        out = m.tick();
        break;
      case "lease":
        out = m.leaseObserved(
          o.node,
          `r${o.renew}`,
          o.durationMs,
          TOKENS[o.token],
          o.addr ? "192.0.2.10:7946" : "junk",
        );
        break;
      case "leaseDeleted":
        out = m.leaseDeleted(o.node);
        break;
      case "heartbeat":
        out = m.heartbeat({
          node: o.node,
          token: TOKENS[o.token] ?? "",
          incarnation: o.incarnation,
          seq: o.seq,
          apiHealthy: o.apiHealthy,
          leaving: o.leaving,
        }).changes;
        break;
      case "selfSent":
        out = m.selfSent();
        break;
      case "api":
        this.api = o.healthy;
        break;
      case "leave":
        out = m.leave();
        break;
    }
    this.viaReturn.push(...out);
    for (const c of out) {
      expect(c.from).toBe(this.reported.get(c.node) ?? "absent");
      expect(c.from).not.toBe(c.to);
      expect(c.change).toBe(
        c.to === "eligible" ? "joined" : c.from === "eligible" ? "left" : "changed",
      );
      this.reported.set(c.node, c.to);
    }
  }

  check(): void {
    const m = this.m;
    const live = new Set(m.live());
    const eligible = m.eligible();
    const fenced = m.fenced();
    const held = m.held();
    for (const n of [...eligible, ...fenced, ...held]) expect(live.has(n)).toBe(true);
    for (const n of eligible) {
      expect(fenced).not.toContain(n);
      expect(held).not.toContain(n);
    }
    expect(this.viaListener).toEqual(this.viaReturn);
    const status = m.status();
    for (const s of status) {
      expect(s.live).toBe(live.has(s.node));
      expect(s.state === "eligible").toBe(eligible.includes(s.node));
      expect(s.fenced).toBe(fenced.includes(s.node));
      expect(s.held).toBe(held.includes(s.node));
      expect(m.isEligible(s.node)).toBe(s.state === "eligible");
      // The replayed changes give the current state.
      expect(this.reported.get(s.node) ?? "absent").toBe(s.state);
    }
    // A node no longer listed was forgotten while dead; if it returns, it comes from absent.
    const listed = new Set(status.map((s) => s.node));
    for (const [n, st] of this.reported) {
      if (listed.has(n)) continue;
      expect(st).toBe("dead");
      this.reported.delete(n);
    }
  }

  /** 70 s of a healthy cluster: every peer renews with token 0 and beats every 200 ms. */
  steady(): void {
    this.api = true;
    const inc = 100;
    let seq = 1_000;
    for (let i = 0; i < 350; i++) {
      this.t += 100;
      if (i % 20 === 0) {
        for (const p of PEERS) {
          this.apply({
            op: "lease",
            node: p,
            renew: 100 + i,
            token: 0,
            addr: true,
            durationMs: 10_000,
          });
        }
      }
      seq++;
      for (const p of PEERS) {
        this.apply({
          op: "heartbeat",
          node: p,
          token: 0,
          incarnation: inc,
          seq,
          apiHealthy: true,
          leaving: false,
        });
      }
      this.apply({ op: "selfSent" });
      this.t += 100;
      this.apply({ op: "tick" });
    }
  }
}

describe("membership properties", () => {
  it("keeps its invariants under any sequence of events", () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 150 }),
        fc.constantFrom(0, 1_000, 5_000),
        (ops, fenceAfterMs) => {
          const d = new Driver(fenceAfterMs);
          for (const o of ops) {
            d.apply(o);
            d.check();
          }
        },
      ),
      { numRuns: 1_500 },
    );
  });

  it("gets every node eligible after 70 s of a steady, healthy cluster, whatever came before", () => {
    fc.assert(
      fc.property(
        fc.array(
          opArb.filter((o) => o.op !== "leave"),
          { maxLength: 100 },
        ),
        (ops) => {
          const d = new Driver(5_000);
          for (const o of ops) {
            d.apply(o);
            d.check();
          }
          d.steady();
          d.check();
          expect(d.m.eligible()).toEqual(["a", ...PEERS]);
        },
      ),
      { numRuns: 500 },
    );
  });
});
