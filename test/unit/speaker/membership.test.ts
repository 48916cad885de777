import { describe, expect, it } from "vitest";
import type { Heartbeat } from "../../../src/speaker/heartbeat-codec.js";
import {
  Membership,
  type MembershipChange,
  type MembershipOptions,
} from "../../../src/speaker/membership.js";

// Scenarios on a fake clock, seen from node "a". Peers beat every 200 ms (at t ≡ 100 mod
// 200), "a" ticks and sends every 200 ms (at t ≡ 0 mod 200), Leases are renewed every 2 s
// with a 10 s duration. Defaults: deadAfterMs 1000, hold 2 s doubling to 60 s, fencing after
// 5 s. Each test states the timeline it builds.

const token = (node: string, gen: number) =>
  `${gen.toString(16).padStart(4, "0")}${Buffer.from(node).toString("hex")}`
    .padEnd(32, "0")
    .slice(0, 32);

interface PeerSim {
  gen: number;
  incarnation: number;
  seq: number;
  beating: boolean;
  renewing: boolean;
  apiHealthy: boolean;
  renewals: number;
  address: string;
  /** The renewTime string it writes (from its own, maybe skewed, clock). */
  renewTime: (n: number) => string;
}

type Seen = MembershipChange & { t: number };

class Cluster {
  t = 0;
  api = true;
  sending = true;
  readonly m: Membership;
  readonly seen: Seen[] = [];
  readonly peers = new Map<string, PeerSim>();

  constructor(peers: string[], opts: Partial<MembershipOptions> = {}, self = "a") {
    this.m = new Membership({
      self,
      now: () => this.t,
      selfApiHealthy: () => this.api,
      onChange: (cs) => this.seen.push(...cs.map((c) => ({ ...c, t: this.t }))),
      ...opts,
    });
    this.m.tick();
    peers.forEach((n, i) => {
      this.peers.set(n, {
        gen: 1,
        incarnation: 1_000 + i,
        seq: 0,
        beating: true,
        renewing: true,
        apiHealthy: true,
        renewals: 0,
        address: `192.0.2.${10 + i}:7946`,
        renewTime: (k) => `2026-01-01T00:00:${String(k).padStart(2, "0")}.000000Z`,
      });
      this.renew(n);
    });
  }

  sim(n: string): PeerSim {
    const p = this.peers.get(n);
    if (p === undefined) throw new Error(`no peer ${n}`);
    return p;
  }

  renew(n: string): MembershipChange[] {
    const p = this.sim(n);
    p.renewals++;
    return this.m.leaseObserved(n, p.renewTime(p.renewals), 10_000, token(n, p.gen), p.address);
  }

  heartbeat(n: string, over: Partial<Heartbeat> = {}) {
    const p = this.sim(n);
    p.seq++;
    return this.m.heartbeat(
      {
        node: n,
        token: token(n, p.gen),
        incarnation: p.incarnation,
        seq: p.seq,
        apiHealthy: p.apiHealthy,
        leaving: false,
        ...over,
      },
      p.address,
    );
  }

  /** The peer's speaker restarts: new token and incarnation, new Lease written at once. */
  restart(n: string): void {
    const p = this.sim(n);
    p.gen++;
    p.incarnation = 10_000 + this.t;
    p.seq = 0;
    p.beating = true;
    p.renewing = true;
    this.renew(n);
  }

  /** Advances in 100 ms steps, delivering heartbeats, renewals, sends and ticks. */
  run(ms: number): void {
    const end = this.t + ms;
    while (this.t < end) {
      this.t = Math.floor(this.t / 100) * 100 + 100;
      if (this.t % 200 === 100) {
        for (const [n, p] of this.peers) if (p.beating) this.heartbeat(n);
      } else {
        if (this.t % 2_000 === 0) {
          for (const [n, p] of this.peers) if (p.renewing) this.renew(n);
        }
        if (this.sending) this.m.selfSent();
        this.m.tick();
      }
    }
  }

  since(t0: number, node?: string): Seen[] {
    return this.seen.filter((c) => c.t > t0 && (node === undefined || c.node === node));
  }

  /** Compact form for assertions: "t node from>to reason". */
  log(t0: number, node?: string): string[] {
    return this.since(t0, node).map((c) => `${c.t} ${c.node} ${c.from}>${c.to} ${c.reason}`);
  }
}

/** A settled three-node cluster, everybody heard and eligible; returns it at t = 3000. */
function settled(opts: Partial<MembershipOptions> = {}): Cluster {
  const c = new Cluster(["b", "c"], opts);
  c.run(3_000);
  expect(c.m.eligible()).toEqual(["a", "b", "c"]);
  expect(c.m.status().every((s) => s.heardEver)).toBe(true);
  return c;
}

describe("membership: liveness", () => {
  it("starts with this node absent, then live from its first renewal", () => {
    const c = new Cluster([]);
    c.api = false;
    const m = new Membership({ self: "a", now: () => c.t, selfApiHealthy: () => c.api });
    m.tick();
    expect(m.live()).toEqual([]);
    c.api = true;
    expect(m.tick()).toEqual([
      { node: "a", change: "joined", from: "absent", to: "eligible", reason: "lease" },
    ]);
    expect(m.live()).toEqual(["a"]);
  });

  it("knows peers first by their Lease, then by heartbeat", () => {
    const c = new Cluster(["b"]);
    expect(c.log(-1)).toEqual(["0 a absent>eligible lease", "0 b absent>eligible lease"]);
    c.run(400);
    const b = c.m.status().find((s) => s.node === "b");
    expect(b).toMatchObject({ heartbeatFresh: true, leaseLive: true, heardEver: true });
    expect(b?.heardFrom).toBe("192.0.2.10:7946");
    expect(c.m.peerAddresses()).toEqual([{ node: "b", ip: "192.0.2.10", port: 7946, family: 4 }]);
  });

  it("declares a killed peer dead within deadAfterMs + one tick, long before its Lease", () => {
    const c = settled();
    // b's last heartbeat at 3100; its Lease was renewed at 2000 and stays valid to 12000.
    c.run(100);
    c.sim("b").beating = false;
    c.sim("b").renewing = false;
    c.run(3_000);
    expect(c.log(3_100)).toEqual(["4200 b eligible>dead heartbeat-silence"]);
    expect(c.m.live()).toEqual(["a", "c"]);
    // Its Lease expiring later changes nothing more.
    c.run(10_000);
    expect(c.log(4_200)).toEqual([]);
  });

  it("keeps everybody when the API server is down for all: Leases stale, heartbeats fresh", () => {
    const c = settled();
    // The API server stops at 3000. Renewals stop; each node's own view of its API health
    // turns false 10 s after its last renewal, at slightly different moments.
    for (const p of c.peers.values()) p.renewing = false;
    c.run(9_000); // t = 12000
    c.api = false;
    c.run(300);
    c.sim("b").apiHealthy = false;
    c.run(1_500);
    c.sim("c").apiHealthy = false;
    c.run(60_000);
    expect(c.log(3_000)).toEqual([]);
    expect(c.m.eligible()).toEqual(["a", "b", "c"]);
    expect(c.m.fenced()).toEqual([]);
    expect(c.m.selfFenced()).toBe(false);
    expect(c.m.status().filter((s) => !s.self && s.leaseLive)).toEqual([]);
    // The API server returns; nodes renew at different moments: still nothing moves.
    c.api = true;
    c.run(1_000);
    c.sim("b").apiHealthy = true;
    c.sim("b").renewing = true;
    c.run(900);
    c.sim("c").apiHealthy = true;
    c.sim("c").renewing = true;
    c.run(20_000);
    expect(c.log(3_000)).toEqual([]);
  });

  it("falls back to the Lease for a peer whose heartbeats never arrive (UDP blocked)", () => {
    const c = new Cluster(["b", "c"]);
    c.sim("c").beating = false;
    c.run(30_000);
    expect(c.m.eligible()).toEqual(["a", "b", "c"]);
    expect(c.log(0, "c")).toEqual([]);
    // c's speaker dies: only its Lease can tell, 10 s after its last renewal (at 30000).
    c.sim("c").renewing = false;
    c.run(12_000);
    expect(c.log(0, "c")).toEqual(["40000 c eligible>dead lease-expired"]);
  });

  it("drops a leaving peer at once, and a peer whose Lease is deleted at once", () => {
    const c = settled();
    c.t += 50;
    const out = c.heartbeat("b", { leaving: true });
    expect(out).toEqual({
      accepted: true,
      changes: [{ node: "b", change: "left", from: "eligible", to: "dead", reason: "leaving" }],
    });
    c.sim("b").beating = false;
    expect(c.m.leaseDeleted("b")).toEqual([]); // already gone
    expect(c.m.peerAddresses().map((p) => p.node)).toEqual(["c"]);
    // No hold for a graceful stop: a new run of b is eligible as soon as its Lease appears.
    c.run(150);
    c.restart("b");
    expect(c.m.eligible()).toEqual(["a", "b", "c"]);

    expect(c.m.leaseDeleted("c")).toEqual([
      { node: "c", change: "left", from: "eligible", to: "dead", reason: "lease-deleted" },
    ]);
    // Its heartbeats can no longer be checked.
    expect(c.heartbeat("c")).toMatchObject({ accepted: false, reason: "unknown-node" });
  });

  it("stops counting itself when it leaves", () => {
    const c = settled();
    expect(c.m.leave()).toEqual([
      { node: "a", change: "left", from: "eligible", to: "dead", reason: "leaving" },
    ]);
    expect(c.m.live()).toEqual(["b", "c"]);
    expect(c.m.eligible()).toEqual(["b", "c"]);
    expect(c.m.selfLeaving()).toBe(true);
  });

  it("ignores what another node's clock says: only a change of renewTime counts", () => {
    // b's heartbeats never arrive, so its Lease decides; its clock is wildly off and even
    // goes backwards. c writes the same string twice (its clock is stuck).
    const c = new Cluster(["b", "c"]);
    c.sim("b").beating = false;
    c.sim("b").renewTime = (k) => (k % 2 === 0 ? "1970-01-01T00:00:00Z" : `2999-12-31T23:59:${k}Z`);
    c.sim("c").beating = false;
    c.sim("c").renewTime = () => "2026-01-01T00:00:00.000000Z";
    c.run(20_000);
    expect(c.log(0, "b")).toEqual([]);
    // c's string last changed at 2000 (its first write of the stuck string): expired 10 s
    // after that, on this clock.
    expect(c.log(0, "c")).toEqual(["12000 c eligible>dead lease-expired"]);
  });

  it("takes a restarted peer's new token and incarnation from its new Lease", () => {
    const c = settled();
    c.run(100); // b's last heartbeat of its first run at 3100
    c.sim("b").beating = false;
    c.sim("b").renewing = false;
    c.run(1_400); // dead at 4200
    const oldToken = token("b", 1);
    c.restart("b"); // at 4500: Lease with a new token, live by its Lease, held (died silent)
    expect(c.log(4_200, "b")).toEqual(["4500 b dead>held held"]);
    // A late datagram of the old run is refused; the new run's heartbeats are accepted.
    c.t += 10;
    expect(
      c.m.heartbeat({
        node: "b",
        token: oldToken,
        incarnation: 1_000,
        seq: 999,
        apiHealthy: true,
        leaving: false,
      }),
    ).toMatchObject({ accepted: false, reason: "bad-token" });
    c.run(2_490);
    expect(c.log(4_200, "b")).toEqual(["4500 b dead>held held", "6600 b held>eligible rejoined"]);
    expect(c.m.status().find((s) => s.node === "b")?.incarnation).toBe(14_500);
  });

  it("keeps a peer that restarts faster than deadAfterMs live throughout", () => {
    const c = settled();
    c.run(100);
    c.sim("b").beating = false;
    c.run(500);
    c.restart("b");
    c.run(3_000);
    expect(c.log(3_000, "b")).toEqual([]);
    expect(c.m.status().find((s) => s.node === "b")).toMatchObject({
      heardEver: true,
      incarnation: 13_600,
    });
  });
});

describe("membership: heartbeat validation", () => {
  it("ignores a spoofed heartbeat (wrong token): it cannot revive a dead peer", () => {
    const c = settled();
    c.run(100);
    c.sim("b").beating = false;
    c.run(1_400);
    expect(c.m.live()).toEqual(["a", "c"]);
    for (let i = 0; i < 5; i++) {
      c.t += 100;
      expect(c.heartbeat("b", { token: "f".repeat(32), seq: 10_000 + i })).toMatchObject({
        accepted: false,
        reason: "bad-token",
      });
      c.m.tick();
    }
    expect(c.m.live()).toEqual(["a", "c"]);
    expect(c.m.counters().heartbeatsDropped["bad-token"]).toBe(5);
  });

  it("ignores reordered, duplicated and older-incarnation datagrams", () => {
    const c = settled();
    const b = c.sim("b");
    const seq = b.seq;
    expect(c.heartbeat("b", { seq: seq + 5 }).accepted).toBe(true);
    expect(c.heartbeat("b", { seq: seq + 3 })).toMatchObject({ reason: "old-seq" });
    expect(c.heartbeat("b", { seq: seq + 5 })).toMatchObject({ reason: "old-seq" });
    expect(c.heartbeat("b", { seq: seq + 6 }).accepted).toBe(true);
    expect(c.heartbeat("b", { incarnation: b.incarnation - 1, seq: seq + 100 })).toMatchObject({
      reason: "old-incarnation",
    });
    // A stream of stale datagrams keeps nobody alive.
    b.beating = false;
    c.run(300);
    for (let i = 0; i < 10; i++) {
      c.t += 100;
      c.heartbeat("b", { seq: seq + 1 });
      c.m.tick();
    }
    expect(c.m.live()).toEqual(["a", "c"]);
  });

  it("refuses heartbeats it cannot check", () => {
    const c = new Cluster(["b"]);
    const from = (node: string) => ({
      node,
      token: token(node, 1),
      incarnation: 1,
      seq: 1,
      apiHealthy: true,
      leaving: false,
    });
    expect(c.m.heartbeat(from("a"))).toMatchObject({ accepted: false, reason: "self" });
    c.m.leaseObserved("d", "r1", 10_000, undefined, "192.0.2.20:7946");
    c.m.leaseObserved("e", "r1", 10_000, "not-a-token", "192.0.2.21");
    expect(c.m.heartbeat(from("d"))).toMatchObject({ accepted: false, reason: "no-token" });
    expect(c.m.heartbeat(from("zz"))).toMatchObject({ accepted: false, reason: "unknown-node" });
    // An invalid address annotation: nowhere to send; the node still counts by its Lease.
    expect(c.m.peerAddresses().map((p) => p.node)).toEqual(["b", "d"]);
    expect(c.m.live()).toEqual(["a", "b", "d", "e"]);
  });
});

describe("membership: API-stale fencing", () => {
  it("fences a node cut off from the API but still on the LAN; it fences itself too", () => {
    // b loses the API at 3000: its Lease stops; 10 s later (its lease duration) its own
    // heartbeats say apiHealthy=false (first at 13100); 5 s after that (fenceAfterMs) it is
    // fenced, at the next tick.
    const c = settled();
    c.sim("b").renewing = false;
    c.run(10_000);
    c.sim("b").apiHealthy = false;
    c.run(6_000);
    expect(c.log(3_000)).toEqual(["18200 b eligible>fenced fenced"]);
    expect(c.m.live()).toEqual(["a", "b", "c"]);
    expect(c.m.eligible()).toEqual(["a", "c"]);
    expect(c.m.fenced()).toEqual(["b"]);
    // Its API returns: unfenced at its next heartbeat.
    c.sim("b").apiHealthy = true;
    c.sim("b").renewing = true;
    c.run(200);
    expect(c.log(18_200)).toEqual(["19100 b fenced>eligible unfenced"]);

    // The same story from b's own point of view.
    const b = new Cluster(["a", "c"], {}, "b");
    b.run(13_000);
    b.api = false; // seen at its tick at 13200
    b.run(5_000);
    expect(b.m.selfFenced()).toBe(false);
    b.run(200);
    expect(b.m.selfFenced()).toBe(true);
    expect(b.log(3_000)).toEqual(["18200 b eligible>fenced fenced"]);
    expect(b.m.eligible()).toEqual(["a", "c"]);
    b.api = true; // noticed at its next tick
    b.run(200);
    expect(b.m.selfFenced()).toBe(false);
  });

  it("fences nobody when every node has lost the API", () => {
    const c = settled();
    for (const p of c.peers.values()) {
      p.renewing = false;
      p.apiHealthy = false;
    }
    c.api = false;
    c.run(60_000);
    expect(c.m.fenced()).toEqual([]);
    expect(c.m.selfFenced()).toBe(false);
    expect(c.m.eligible()).toEqual(["a", "b", "c"]);
  });

  it("does not hand over to a held node", () => {
    // a and b lose the API at 3000; c, the only healthy node, is silent 3000–4400 and held
    // 4500–6500. Fencing after 1 s here, so only the hold stands in the way.
    const c = settled({ fenceAfterMs: 1_000 });
    c.sim("b").apiHealthy = false;
    c.api = false;
    c.sim("c").beating = false;
    c.run(1_400);
    c.sim("c").beating = true;
    c.run(1_600); // t = 6000
    expect(c.m.held()).toEqual(["c"]);
    expect(c.m.fenced()).toEqual([]);
    c.run(800); // c released at 6600
    expect(c.m.held()).toEqual([]);
    expect(c.m.fenced()).toEqual(["a", "b"]);
    expect(c.m.eligible()).toEqual(["c"]);
    expect(c.m.selfFenced()).toBe(true);
  });
});

describe("membership: anti-flap hold", () => {
  it("holds a flapping peer longer each time, and lets it rejoin only once it is steady", () => {
    // b: 1 s of heartbeats, 1.2 s of silence, again and again, for 40 s; then steady.
    const c = settled();
    for (let cycle = 0; cycle < 18; cycle++) {
      c.sim("b").beating = true;
      c.run(1_000);
      c.sim("b").beating = false;
      c.run(1_200);
    }
    const flapping = c.since(3_000, "b");
    expect(flapping.filter((x) => x.to === "eligible")).toEqual([]);
    const holds = flapping.filter((x) => x.to === "held").map((x) => x.holdMs);
    expect(holds.slice(0, 6)).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000]);
    expect(new Set(holds.slice(5))).toEqual(new Set([60_000]));

    const t0 = c.t;
    c.sim("b").beating = true;
    c.run(70_000);
    // Back by the heartbeat at t0+100; released by the first tick after 60 s.
    expect(c.log(t0, "b")).toEqual([
      `${t0 + 100} b dead>held held`,
      `${t0 + 200 + 60_000} b held>eligible rejoined`,
    ]);
  });

  it("rejoins at most once per hold period when the silences are farther apart", () => {
    const c = settled();
    for (let cycle = 0; cycle < 8; cycle++) {
      c.sim("b").beating = false;
      c.run(1_200);
      c.sim("b").beating = true;
      c.run(5_000);
    }
    const b = c.since(3_000, "b");
    const rejoins = b.filter((x) => x.reason === "rejoined").map((x) => x.t);
    const holds = b.filter((x) => x.to === "held");
    expect(holds.map((h) => h.holdMs).slice(0, 3)).toEqual([2_000, 4_000, 8_000]);
    // Each rejoin comes a whole hold (to the next tick) after the return that started it.
    for (const r of rejoins) {
      const start = holds.filter((h) => h.t < r).at(-1);
      expect(r - (start?.t ?? 0) - (start?.holdMs ?? 0)).toBe(100);
    }
    expect(rejoins.length).toBeLessThanOrEqual(2);
  });

  it("starts over at 2 s once the peer has stayed eligible for 60 s", () => {
    const c = settled();
    const flap = () => {
      c.sim("b").beating = false;
      c.run(1_400);
      c.sim("b").beating = true;
    };
    flap(); // 2 s
    c.run(5_000);
    flap(); // within 60 s of the last release: 4 s
    c.run(10_000);
    flap(); // again: 8 s
    c.run(70_000);
    flap(); // eligible for more than 60 s: back to 2 s
    c.run(1_000);
    const holds = c.since(3_000, "b").filter((x) => x.to === "held");
    expect(holds.map((h) => h.holdMs)).toEqual([2_000, 4_000, 8_000, 2_000]);
  });

  it("holds no one after a graceful leave or a Lease expiry", () => {
    const c = new Cluster(["b", "c"]);
    c.sim("c").beating = false; // c by Lease only
    c.run(3_000);
    c.t += 50;
    c.heartbeat("b", { leaving: true });
    c.sim("b").beating = false;
    c.sim("c").renewing = false;
    c.run(12_950);
    c.restart("b");
    c.restart("c");
    c.sim("c").beating = false;
    c.run(400);
    expect(c.m.held()).toEqual([]);
    expect(c.m.eligible()).toEqual(["a", "b", "c"]);
  });
});

describe("membership: the observer's own stalls", () => {
  it("declares nobody dead when its own event loop lagged past deadAfterMs", () => {
    const c = settled();
    // a's loop blocks for 1.5 s: no ticks; the peers' datagrams queue in the socket.
    c.t += 1_500;
    expect(c.m.tick()).toEqual([]); // a late tick, before the queued datagrams are read
    expect(c.m.live()).toEqual(["a", "b", "c"]);
    c.heartbeat("b");
    c.heartbeat("c");
    c.run(3_000);
    expect(c.since(3_000).filter((x) => x.node !== "a")).toEqual([]);
    expect(c.m.counters().lagged).toBe(1);
  });

  it("still detects a peer that really died during the lag, one deadAfterMs later", () => {
    const c = settled();
    c.run(100);
    c.sim("c").beating = false; // last heartbeat at 3100
    c.t += 1_500;
    c.m.tick(); // 4600: late; c's silence (1.5 s) is not judged now
    expect(c.m.live()).toContain("c");
    c.run(1_400);
    expect(c.log(3_100, "c")).toEqual(["5600 c eligible>dead heartbeat-silence"]);
  });

  it("holds itself after its own heartbeats stalled, as its peers hold it", () => {
    // The peers saw 1.5 s without a heartbeat from a, declared it dead and hold it for 2 s
    // from its return; a does the same to itself, so it does not take IPs back meanwhile.
    const c = settled();
    c.t += 1_500;
    c.m.tick();
    c.heartbeat("b");
    c.heartbeat("c");
    c.run(3_000);
    // (Its own hold is 300 ms longer: peers release it at their first tick after theirs.)
    expect(c.log(3_000, "a")).toEqual([
      "4600 a eligible>held held",
      "7000 a held>eligible rejoined",
    ]);
  });

  it("holds itself after its link came back (all peers silent at once, same runs)", () => {
    const c = settled();
    // a's link goes down at 3000: nothing in, sends fail.
    for (const p of c.peers.values()) p.beating = false;
    c.sending = false;
    c.run(5_000);
    expect(c.m.live()).toEqual(["a"]); // alone, it stays eligible: it may be the survivor
    expect(c.m.eligible()).toEqual(["a"]);
    for (const p of c.peers.values()) p.beating = true;
    c.sending = true;
    c.run(3_000);
    expect(c.log(3_000)).toEqual([
      "4000 b eligible>dead heartbeat-silence",
      "4000 c eligible>dead heartbeat-silence",
      // The peers are heard at 8100; a's own sends work again at 8200.
      "8100 b dead>held held",
      "8100 c dead>held held",
      "8200 a eligible>held held",
      "10200 b held>eligible rejoined",
      "10200 c held>eligible rejoined",
      "10600 a held>eligible rejoined",
    ]);
  });

  it("does not hold itself when the silent peers come back as new runs", () => {
    const c = settled();
    for (const p of c.peers.values()) p.beating = false;
    c.run(3_000);
    c.restart("b");
    c.restart("c");
    c.run(3_000);
    expect(c.log(3_000, "a")).toEqual([]);
  });

  it("holds itself from its first renewal when its previous run died uncleanly", () => {
    const c = new Cluster(["b"], { holdSelfAtStart: true });
    c.run(3_000);
    expect(c.log(-1, "a")).toEqual(["0 a absent>held held", "2400 a held>eligible rejoined"]);
  });
});

describe("membership: reporting", () => {
  it("reports each change once, both as the return value and to onChange", () => {
    const seen: MembershipChange[] = [];
    let t = 0;
    const m = new Membership({
      self: "a",
      now: () => t,
      selfApiHealthy: () => true,
      onChange: (cs) => seen.push(...cs),
    });
    const returned = [
      ...m.tick(),
      ...m.leaseObserved("b", "r1", 10_000, token("b", 1), "192.0.2.11:7946"),
    ];
    for (t = 200; t <= 10_000; t += 200) returned.push(...m.tick());
    expect(returned).toEqual(seen);
    expect(seen.map((x) => `${x.node} ${x.change} ${x.reason}`)).toEqual([
      "a joined lease",
      "b joined lease",
      "b left lease-expired",
    ]);
  });

  it("forgets a peer whose Lease is gone and who owes no hold", () => {
    const c = settled();
    c.t += 50;
    c.heartbeat("b", { leaving: true });
    c.m.leaseDeleted("b");
    c.sim("b").beating = false;
    c.run(200);
    expect(c.m.status().map((s) => s.node)).toEqual(["a", "c"]);
  });

  it("keeps time monotonic whatever the caller passes", () => {
    const c = settled();
    c.m.tick(1);
    expect(c.m.live()).toEqual(["a", "b", "c"]);
  });
});

describe("membership: a peer's hold on this node", () => {
  // Peers' holds double with each death by silence; a restarted speaker cannot know how long
  // they hold it. Their word decides, so it never takes IPs back while they still hold it.
  it("keeps this node held while a live peer says it holds it, and lets go when it stops", () => {
    const c = settled();
    const holding = { holdsYou: true };
    // b now tells "a" it holds it (as after a's restart with a doubled hold).
    const beat = () => c.heartbeat("b", holding);
    c.t += 50;
    expect(beat().accepted).toBe(true);
    expect(c.m.held()).toEqual(["a"]);
    expect(c.m.eligible()).toEqual(["b", "c"]);
    expect(c.m.isEligible("a")).toBe(false);
    expect(c.log(3_000, "a")).toEqual(["3050 a eligible>held held"]);
    // Still held for as long as b keeps saying so, whatever this node's own hold says.
    for (let i = 0; i < 20; i++) {
      c.t += 200;
      c.m.tick();
      beat();
      c.heartbeat("c");
    }
    expect(c.m.held()).toEqual(["a"]);
    // b's next heartbeat no longer holds it: eligible at once.
    c.t += 200;
    c.heartbeat("b");
    expect(c.m.eligible()).toEqual(["a", "b", "c"]);
    expect(c.log(3_000, "a").at(-1)).toMatch(/ a held>eligible rejoined$/);
  });

  it("ignores the hold of a peer that is no longer live", () => {
    const c = settled();
    c.t += 50;
    c.heartbeat("b", { holdsYou: true });
    expect(c.m.held()).toEqual(["a"]);
    c.sim("b").beating = false; // b dies (silence) while it held "a"
    c.run(1_400);
    expect(c.m.live()).not.toContain("b");
    expect(c.m.held()).toEqual([]);
    expect(c.m.isEligible("a")).toBe(true);
  });

  it("tells each peer whether it holds it", () => {
    const c = settled();
    expect(c.m.holds("b")).toBe(false);
    c.sim("b").beating = false;
    c.run(1_400); // b dies by silence
    c.sim("b").beating = true;
    c.run(200); // back: held for 2 s
    expect(c.m.holds("b")).toBe(true);
    expect(c.m.holds("c")).toBe(false);
    c.run(2_400);
    expect(c.m.holds("b")).toBe(false);
  });
});
