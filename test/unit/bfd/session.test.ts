import { describe, expect, it } from "vitest";
import {
  openSession,
  step,
  transmitIntervalUs,
  type ControlPacket,
  type Input,
  type SessionConfig,
  type Step,
} from "../../../src/bfd/index.js";

/**
 * The state machine of RFC 5880 6.8.6, a step at a time. Times are microseconds; `random` is
 * 0 unless a test is about jitter, so a packet's next one is exactly one interval later.
 */

const MS = 1000;
const cfgA: SessionConfig = {
  localDiscriminator: 0xa,
  desiredMinTxUs: 300 * MS,
  requiredMinRxUs: 300 * MS,
  detectMult: 3,
  passive: false,
};
const cfgB: SessionConfig = { ...cfgA, localDiscriminator: 0xb };

const on = (s: Step, input: Input, now: number, random = 0): Step =>
  step(s.session, input, now, random);
const deliver = (s: Step, packet: ControlPacket | undefined, now: number): Step => {
  if (packet === undefined) throw new Error("no packet to deliver");
  return on(s, { kind: "packet", packet }, now);
};
const only = (s: Step): ControlPacket => {
  expect(s.send).toHaveLength(1);
  return s.send[0] as ControlPacket;
};

/** A and B through the three-way handshake, A's Down first; both Up, no Poll answered yet. */
function handshake(): { a: Step; b: Step } {
  let a = openSession(cfgA, 0, 0);
  let b = openSession(cfgB, 0, 0);
  b = deliver(b, only(a), 1 * MS);
  a = deliver(a, only(b), 2 * MS);
  b = deliver(b, only(a), 3 * MS);
  return { a, b };
}

describe("BFD session: the three-way handshake", () => {
  it("Down → Init → Up on both sides, one packet each way at every change", () => {
    const a0 = openSession(cfgA, 0, 0);
    expect(a0.session.state).toBe("Down");
    // An active session sends at once: Down, nobody named yet, the one-second floor.
    expect(only(a0)).toMatchObject({
      state: "Down",
      myDiscriminator: 0xa,
      yourDiscriminator: 0,
      desiredMinTxUs: 1000 * MS,
      requiredMinRxUs: 300 * MS,
      poll: false,
    });
    expect(a0.deadline).toBe(1000 * MS);

    const b1 = deliver(openSession(cfgB, 0, 0), only(a0), 1 * MS);
    expect(b1.session.state).toBe("Init");
    expect(b1.notices).toEqual([]);
    expect(only(b1)).toMatchObject({ state: "Init", yourDiscriminator: 0xa });

    const a2 = deliver(a0, only(b1), 2 * MS);
    expect(a2.session.state).toBe("Up");
    expect(a2.notices).toEqual([{ kind: "up" }]);
    // Up lifts the one-second floor: the new 300 ms goes out with P (a Poll Sequence).
    expect(only(a2)).toMatchObject({ state: "Up", poll: true, desiredMinTxUs: 300 * MS });
    expect(a2.session.polling).toBe(true);

    const b3 = deliver(b1, only(a2), 3 * MS);
    expect(b3.session.state).toBe("Up");
    expect(b3.notices).toEqual([{ kind: "up" }]);
    // B answers A's Poll with F in the packet its own change sends.
    expect(only(b3)).toMatchObject({ state: "Up", final: true, poll: false });
    expect(b3.session.polling).toBe(true);

    const a4 = deliver(a2, only(b3), 4 * MS);
    expect(a4.session.polling).toBe(false);
    expect(a4.notices).toEqual([]);
  });

  it("both Down at once: each goes Init, then Up", () => {
    let a = openSession(cfgA, 0, 0);
    let b = openSession(cfgB, 0, 0);
    const [fromA, fromB] = [only(a), only(b)];
    a = deliver(a, fromB, 1 * MS);
    b = deliver(b, fromA, 1 * MS);
    expect([a.session.state, b.session.state]).toEqual(["Init", "Init"]);
    const [initA, initB] = [only(a), only(b)];
    a = deliver(a, initB, 2 * MS);
    b = deliver(b, initA, 2 * MS);
    expect([a.session.state, b.session.state]).toEqual(["Up", "Up"]);
  });

  it("Down ignores Up from a peer that has not seen it (no skipping Init)", () => {
    const { a } = handshake();
    const b = deliver(openSession(cfgB, 0, 0), only(a), 5 * MS);
    expect(b.session.state).toBe("Down");
  });
});

describe("BFD session: leaving Up", () => {
  it("no packet for the detection time: Down, diag 1 (Control Detection Time Expired)", () => {
    const { b } = handshake();
    // A's multiplier 3 × max(B's 300 ms, A's 300 ms) after the last packet, at 3 ms.
    expect(b.session.detectAt).toBe(3 * MS + 900 * MS);
    const early = on(b, { kind: "timer" }, 902 * MS);
    expect(early.session.state).toBe("Up");
    const down = on(early, { kind: "timer" }, 903 * MS);
    expect(down.session.state).toBe("Down");
    expect(down.notices).toEqual([{ kind: "down", diagnostic: 1 }]);
    // The peer is forgotten (bfd.RemoteDiscr 0) and told why.
    expect(only(down)).toMatchObject({ state: "Down", diagnostic: 1, yourDiscriminator: 0 });
    expect(down.session.remoteDiscr).toBe(0);
  });

  it("the peer says AdminDown: Down, diag 3 (Neighbor Signaled Session Down)", () => {
    const { a, b } = handshake();
    const a1 = on(a, { kind: "admin", up: false }, 10 * MS);
    expect(a1.session.state).toBe("AdminDown");
    expect(a1.notices).toEqual([{ kind: "down", diagnostic: 7 }]);
    expect(only(a1)).toMatchObject({ state: "AdminDown", diagnostic: 7 });
    const b1 = deliver(b, only(a1), 11 * MS);
    expect(b1.session.state).toBe("Down");
    expect(b1.notices).toEqual([{ kind: "down", diagnostic: 3 }]);
    // And B stays Down: AdminDown does not start a handshake.
    const b2 = deliver(b1, only(a1), 12 * MS);
    expect(b2.session.state).toBe("Down");
  });

  it("the peer says Down while Up: Down, diag 3", () => {
    const { b } = handshake();
    const restarted = only(openSession(cfgA, 20 * MS, 0));
    const b1 = deliver(b, restarted, 21 * MS);
    expect(b1.session.state).toBe("Down");
    expect(b1.notices).toEqual([{ kind: "down", diagnostic: 3 }]);
  });

  it("AdminDown ignores the peer and has no detection timer; admin up goes Down", () => {
    const { a, b } = handshake();
    const a1 = on(a, { kind: "admin", up: false }, 10 * MS);
    expect(a1.session.detectAt).toBeUndefined();
    const fromB = on(b, { kind: "timer" }, b.session.nextTxAt ?? 0);
    const a2 = deliver(a1, only(fromB), 300 * MS);
    expect(a2.session.state).toBe("AdminDown");
    expect(a2.ignored).toMatch(/administratively down/);
    const a3 = on(a2, { kind: "admin", up: true }, 400 * MS);
    expect(a3.session.state).toBe("Down");
    expect(a3.notices).toEqual([]);
    expect(only(a3)).toMatchObject({ state: "Down" });
  });

  it("a session opened AdminDown says so and does not go Init", () => {
    const a = openSession(cfgA, 0, 0, true);
    expect(only(a)).toMatchObject({ state: "AdminDown", diagnostic: 7 });
    const b = openSession(cfgB, 0, 0);
    expect(deliver(a, only(b), 1 * MS).session.state).toBe("AdminDown");
  });
});

describe("BFD session: what it accepts", () => {
  it("a packet for another discriminator is ignored", () => {
    const { a } = handshake();
    const b = openSession(cfgB, 0, 0);
    const stray = { ...only(b), state: "Init" as const, yourDiscriminator: 0x99 };
    const a1 = deliver(a, stray, 5 * MS);
    expect(a1.ignored).toMatch(/153 is not this session's/);
    expect(a1.session).toEqual(a.session);
  });
});

describe("BFD session: timers", () => {
  it("slow (1 s) while not Up, the profile's interval once Up and the Poll answered", () => {
    const a = openSession(cfgA, 0, 0);
    expect(a.session.nextTxAt).toBe(1000 * MS);
    const { a: polling, b } = handshake();
    const up = deliver(polling, only(b), 4 * MS); // B's F
    expect(up.session.polling).toBe(false);
    expect(transmitIntervalUs(up.session)).toBe(300 * MS);
    const next = on(up, { kind: "timer" }, up.session.nextTxAt ?? 0);
    expect(next.session.nextTxAt).toBe((up.session.nextTxAt ?? 0) + 300 * MS);
  });

  it("the interval is the larger of our Desired Min TX and the peer's Required Min RX", () => {
    const { a } = handshake();
    const slowPeer = { ...only(openSession(cfgB, 0, 0)), state: "Up" as const };
    const a1 = deliver(
      a,
      { ...slowPeer, yourDiscriminator: 0xa, requiredMinRxUs: 2000 * MS },
      5 * MS,
    );
    expect(transmitIntervalUs(a1.session)).toBe(2000 * MS);
  });

  it("jitter: 75-100% of the interval, 75-90% with multiplier 1", () => {
    const at = (random: number, detectMult: number) =>
      openSession({ ...cfgA, detectMult }, 0, random).session.nextTxAt;
    expect(at(0, 3)).toBe(1000 * MS);
    expect(at(0.5, 3)).toBe(875 * MS);
    expect(at(0.9999999, 3)).toBe(750 * MS);
    expect(at(0, 1)).toBe(750 * MS);
    expect(at(0.9999999, 1)).toBeGreaterThan(899 * MS);
    expect(at(0.9999999, 1)).toBeLessThanOrEqual(900 * MS);
  });

  it("a Poll is answered at once with F, off the transmit timer", () => {
    const { a, b } = handshake();
    const poll = { ...only(b), final: false, poll: true };
    const a1 = deliver(a, poll, 5 * MS);
    expect(a1.send.some((p) => p.final && !p.poll)).toBe(true);
  });

  it("a slower interval while Up waits for the Poll's F; a faster one does not", () => {
    let { a } = handshake();
    a = deliver(a, { ...only(handshake().b) }, 4 * MS); // the F for Up's Poll
    const slower = on(
      a,
      { kind: "configure", config: { ...cfgA, desiredMinTxUs: 600 * MS } },
      5 * MS,
    );
    expect(slower.session.polling).toBe(true);
    expect(slower.session.advertised.desiredMinTxUs).toBe(600 * MS);
    expect(slower.session.inEffect.desiredMinTxUs).toBe(300 * MS);
    const polled = on(slower, { kind: "timer" }, slower.session.nextTxAt ?? 0);
    expect(only(polled)).toMatchObject({ poll: true, desiredMinTxUs: 600 * MS });
    const finalFromB = {
      ...only(openSession(cfgB, 0, 0)),
      state: "Up" as const,
      yourDiscriminator: 0xa,
      requiredMinRxUs: 50 * MS,
      final: true,
    };
    const done = deliver(polled, finalFromB, 6 * MS);
    expect(done.session.polling).toBe(false);
    expect(done.session.inEffect.desiredMinTxUs).toBe(600 * MS);

    const faster = on(
      done,
      { kind: "configure", config: { ...cfgA, desiredMinTxUs: 100 * MS } },
      7 * MS,
    );
    expect(faster.session.inEffect.desiredMinTxUs).toBe(100 * MS);
    // The next packet comes within the new interval, not after the old one.
    expect(faster.session.nextTxAt).toBeLessThanOrEqual(7 * MS + 100 * MS);
  });

  it("nothing periodic while the peer's Required Min RX is 0", () => {
    const { a } = handshake();
    const quiet = {
      ...only(openSession(cfgB, 0, 0)),
      state: "Up" as const,
      yourDiscriminator: 0xa,
      requiredMinRxUs: 0,
    };
    const a1 = deliver(a, quiet, 5 * MS);
    expect(a1.session.nextTxAt).toBeUndefined();
    expect(a1.deadline).toBe(a1.session.detectAt);
  });
});

describe("BFD session: passive", () => {
  const passive = { ...cfgB, passive: true };

  it("sends nothing until the peer does, then takes part", () => {
    const p0 = openSession(passive, 0, 0);
    expect(p0.send).toEqual([]);
    expect(p0.deadline).toBeUndefined();
    expect(on(p0, { kind: "timer" }, 5000 * MS).send).toEqual([]);
    const a = openSession(cfgA, 0, 0);
    const p1 = deliver(p0, only(a), 1 * MS);
    expect(p1.session.state).toBe("Init");
    expect(only(p1)).toMatchObject({ state: "Init", yourDiscriminator: 0xa });
  });

  it("falls silent again once the peer has been gone for a detection time", () => {
    const p1 = deliver(openSession(passive, 0, 0), only(openSession(cfgA, 0, 0)), 1 * MS);
    // A's multiplier 3 × max(300 ms, A's 1 s while Down) = 3 s.
    const p2 = on(p1, { kind: "timer" }, 1 * MS + 3000 * MS);
    expect(p2.session.state).toBe("Down");
    expect(p2.session.localDiag).toBe(1);
    // Init → Down: it never came Up, so there is nothing to tell.
    expect(p2.notices).toEqual([]);
    expect(p2.session.nextTxAt).toBeUndefined();
    expect(p2.deadline).toBeUndefined();
  });
});
