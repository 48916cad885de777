import type { V1Service } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { AddressClaim } from "../../../src/dataplane/conflicts.js";
import type { Ownership } from "../../../src/dataplane/index.js";
import {
  AddressGate,
  CLAIM_SETTLE_MS,
  conflictMessage,
  HOLD_REPROBE_MS,
  REPORT_EVERY_MS,
  wasAnnounced,
} from "../../../src/speaker/address-conflict.js";
import { addressInUseConditions } from "../../../src/speaker/announced-condition.js";
import type { ElectedOwner } from "../../../src/speaker/election.js";
import { slimService } from "../../../src/speaker/world.js";

const ANY: Ownership = {};
const elected = (...ips: string[]) => new Map(ips.map((ip) => [ip, ANY]));
const claim = (ip: string, phase: AddressClaim["phase"] = "probing"): AddressClaim => ({
  ip,
  family: ip.includes(":") ? 6 : 4,
  mac: "02:00:00:00:00:99",
  iface: "eth0",
  kind: phase === "probing" ? "arp-reply" : "arp-request",
  phase,
});
const svc = (conditions: { type: string; status: string }[] = []): V1Service =>
  slimService({
    metadata: { name: "s", namespace: "default" },
    status: {
      conditions: conditions.map((c) => ({
        ...c,
        reason: "Announcing",
        message: "m",
        lastTransitionTime: new Date(0),
      })),
    },
  });

describe("wasAnnounced: a takeover is not probed, a new IP is", () => {
  const owner = (node: string | null): ElectedOwner =>
    node === null
      ? { ip: "x", owner: null, why: "no ready endpoint" }
      : { ip: "x", owner: node, candidates: 2 };
  const v4 = "192.0.2.40";
  it.each<[string, ReadonlyMap<string, ElectedOwner> | null, V1Service[], boolean]>([
    [
      "another node won it in the previous step (failover, handover)",
      new Map([[v4, owner("n2")]]),
      [],
      true,
    ],
    [
      "nobody was elected before (no ready endpoint until now)",
      new Map([[v4, owner(null)]]),
      [],
      false,
    ],
    ["not in any Service before (just assigned)", new Map(), [], false],
    [
      "this node won it but did not announce (quiet period, probe, hold)",
      new Map([[v4, owner("n1")]]),
      [],
      false,
    ],
    [
      "start-up, the Service says some node announces it",
      null,
      [svc([{ type: "barelb.io/AnnouncedIPv4", status: "True" }])],
      true,
    ],
    [
      "start-up, the Service says nobody announces it",
      null,
      [svc([{ type: "barelb.io/AnnouncedIPv4", status: "False" }])],
      false,
    ],
    [
      "start-up, only the other family is announced",
      null,
      [svc([{ type: "barelb.io/AnnouncedIPv6", status: "True" }])],
      false,
    ],
    ["start-up, no condition (never announced by barelb)", null, [svc()], false],
  ])("%s → %s", (_name, previous, holders, expected) => {
    expect(wasAnnounced(v4, "n1", previous, new Map(), holders)).toBe(expected);
  });

  it("an IP this node announces is never new", () => {
    expect(wasAnnounced(v4, "n1", null, elected(v4), [])).toBe(true);
  });
});

describe("AddressGate, in order", () => {
  const A = "192.0.2.40";
  const B = "192.0.2.41";
  const newIP = () => true;
  const takeover = () => false;

  it("hold: new IPs are probed; a clear one is announced; a conflicted one held, re-probed, then announced", () => {
    const g = new AddressGate("hold", 300);
    // 1. A is new, B is a takeover: B at once, A probed first.
    let s = g.step(elected(A, B), new Map(), (ip) => ip === A, 0);
    expect([...s.announce.keys()]).toEqual([B]);
    expect(s.probe.map((p) => p.ip)).toEqual([A]);
    // 2. Steps while probing announce nothing more and start no second probe.
    s = g.step(elected(A, B), elected(B), newIP, 100);
    expect([...s.announce.keys()]).toEqual([B]);
    expect(s.probe).toEqual([]);
    // 3. Another host answers: reported once, held.
    expect(g.probeEnded(A, { outcome: "conflict", claim: claim(A) }, 300)).toEqual({
      claim: claim(A),
      action: "held",
    });
    expect(g.isHeld(A)).toBe(true);
    s = g.step(elected(A, B), elected(B), newIP, 400);
    expect([...s.announce.keys()]).toEqual([B]);
    expect(s.held).toEqual([A]);
    // 4. Re-probed after HOLD_REPROBE_MS; still answered: no second report within a minute.
    s = g.step(elected(A, B), elected(B), newIP, 300 + HOLD_REPROBE_MS);
    expect(s.probe.map((p) => p.ip)).toEqual([A]);
    expect(
      g.probeEnded(A, { outcome: "conflict", claim: claim(A) }, 600 + HOLD_REPROBE_MS),
    ).toBeNull();
    // 5. After REPORT_EVERY_MS a re-probe that still finds it reports again.
    const t = 600 + 2 * HOLD_REPROBE_MS;
    s = g.step(elected(A, B), elected(B), newIP, t);
    expect(s.probe.map((p) => p.ip)).toEqual([A]);
    expect(g.probeEnded(A, { outcome: "conflict", claim: claim(A) }, t + 300)?.action).toBe("held");
    // 6. The host is gone: the next re-probe is clear, and A is announced.
    s = g.step(elected(A, B), elected(B), newIP, t + 300 + HOLD_REPROBE_MS);
    expect(s.probe.map((p) => p.ip)).toEqual([A]);
    expect(g.probeEnded(A, { outcome: "clear" }, t + 600 + HOLD_REPROBE_MS)).toBeNull();
    expect(g.isHeld(A)).toBe(false);
    s = g.step(elected(A, B), elected(B), newIP, t + 700 + HOLD_REPROBE_MS);
    expect([...s.announce.keys()]).toEqual([A, B]);
    // 7. Announced now: never probed again, whatever isNew says.
    s = g.step(elected(A, B), elected(A, B), newIP, t + 800 + HOLD_REPROBE_MS);
    expect([...s.announce.keys()]).toEqual([A, B]);
    expect(g.pending()).toEqual([]);
  });

  it("announce: a conflicted new IP is reported and announced anyway", () => {
    const g = new AddressGate("announce", 300);
    expect(g.step(elected(A), new Map(), newIP, 0).probe.map((p) => p.ip)).toEqual([A]);
    expect(g.probeEnded(A, { outcome: "conflict", claim: claim(A) }, 10)?.action).toBe("announced");
    expect(g.isHeld(A)).toBe(false);
    expect([...g.step(elected(A), new Map(), newIP, 20).announce.keys()]).toEqual([A]);
  });

  it("an IP elected elsewhere while probed or held: the probe is cancelled, the hold forgotten", () => {
    const g = new AddressGate("hold", 300);
    g.step(elected(A, B), new Map(), newIP, 0);
    g.probeEnded(B, { outcome: "conflict", claim: claim(B) }, 300);
    const s = g.step(elected(), new Map(), newIP, 400);
    expect(s.cancel).toEqual([A]);
    expect(g.pending()).toEqual([]);
    // A late result of the cancelled probe changes nothing.
    expect(g.probeEnded(A, { outcome: "conflict", claim: claim(A) }, 500)).toBeNull();
    expect(g.probeEnded(A, { outcome: "cancelled" }, 500)).toBeNull();
  });

  it("probing off (0): everything is announced at once", () => {
    const g = new AddressGate("hold", 0);
    const s = g.step(elected(A, B), new Map(), newIP, 0);
    expect([...s.announce.keys()]).toEqual([A, B]);
    expect(s.probe).toEqual([]);
  });

  it("takeovers are never probed", () => {
    const g = new AddressGate("hold", 300);
    expect([...g.step(elected(A), new Map(), takeover, 0).announce.keys()]).toEqual([A]);
  });

  it("claims on an owned IP: reported if still owned after the settle time, once a minute per IP", () => {
    const g = new AddressGate("hold", 300);
    const c = claim(A, "owned");
    expect(g.ownedClaim(c, false, CLAIM_SETTLE_MS)).toBeNull(); // handed over meanwhile
    expect(g.ownedClaim(c, true, CLAIM_SETTLE_MS)).toEqual({ claim: c, action: "kept" });
    expect(g.ownedClaim(c, true, CLAIM_SETTLE_MS + 1000)).toBeNull();
    expect(g.ownedClaim(claim(B, "owned"), true, CLAIM_SETTLE_MS + 1000)?.action).toBe("kept");
    g.step(elected(A), elected(A), takeover, CLAIM_SETTLE_MS + REPORT_EVERY_MS);
    expect(g.ownedClaim(c, true, CLAIM_SETTLE_MS + REPORT_EVERY_MS)?.action).toBe("kept");
  });
});

describe("what the user is told", () => {
  it.each([
    ["held", "hold", /not announced while that host answers/],
    ["announced", "announce", /announced anyway/],
    ["kept", "hold", /keeps announcing it/],
  ] as const)("%s: names the IP, the MAC, the node and the interface", (action, policy, what) => {
    const m = conflictMessage({ claim: claim("192.0.2.40"), action }, "node-1", policy);
    expect(m).toMatch(
      /^192\.0\.2\.40 is in use by another host on the LAN: MAC 02:00:00:00:00:99 /,
    );
    expect(m).toContain("seen by node node-1 on eth0");
    expect(m).toMatch(what);
  });

  it("the condition: False while held, True when announced", () => {
    const holders = [svc()];
    const [held] = addressInUseConditions("192.0.2.40", holders, true, "m", new Date(0));
    expect(held?.body.status.conditions[0]).toMatchObject({
      type: "barelb.io/AnnouncedIPv4",
      status: "False",
      reason: "AddressInUse",
      message: "m",
    });
    expect(held?.held).toBe(true);
    const [announced] = addressInUseConditions("2001:db8::1:5", holders, false, "m", new Date(0));
    expect(announced?.body.status.conditions[0]).toMatchObject({
      type: "barelb.io/AnnouncedIPv6",
      status: "True",
      reason: "AddressInUse",
    });
    expect(announced?.announced).toBe(true);
  });
});
