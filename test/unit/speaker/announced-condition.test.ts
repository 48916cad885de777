import { describe, expect, it } from "vitest";
import type { V1Service } from "@kubernetes/client-node";
import type { ElectedOwner } from "../../../src/speaker/election.js";
import {
  ANNOUNCED_CONDITION,
  announcedConditions,
  familyOf,
  SPEAKER_FIELD_MANAGER,
  withdrawnConditions,
} from "../../../src/speaker/announced-condition.js";

const svc = (namespace: string, name: string): V1Service => ({ metadata: { namespace, name } });
const now = new Date("2026-11-30T08:00:00.123Z");

describe("announcedConditions", () => {
  it("writes one True condition per Service holding a gained IP, naming node, IP and interfaces", () => {
    const applies = announcedConditions(
      [
        {
          ip: "192.0.2.10",
          interfaces: ["eth0", "eth1"],
          events: [{ service: svc("a", "web") }, { service: svc("b", "dns") }],
        },
      ],
      "node-1",
      now,
    );
    expect(applies.map((a) => [a.namespace, a.name, a.fieldManager])).toEqual([
      ["a", "web", "barelb-speaker-ipv4"],
      ["b", "dns", "barelb-speaker-ipv4"],
    ]);
    expect(applies[0]?.ip).toBe("192.0.2.10");
    expect(applies[0]?.body).toEqual({
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: "a", name: "web" },
      status: {
        conditions: [
          {
            type: "barelb.io/AnnouncedIPv4",
            status: "True",
            reason: "Announcing",
            message: "node node-1 announces 192.0.2.10 on eth0, eth1",
            lastTransitionTime: "2026-11-30T08:00:00Z",
          },
        ],
      },
    });
  });

  it("gives each family its own condition type and field manager (dual-stack owners differ)", () => {
    const applies = announcedConditions(
      [
        { ip: "192.0.2.10", interfaces: ["eth0"], events: [{ service: svc("a", "web") }] },
        { ip: "2001:db8::10", interfaces: ["eth0"], events: [{ service: svc("a", "web") }] },
      ],
      "node-1",
      now,
    );
    expect(
      applies.map((a) => [a.family, a.fieldManager, a.body.status.conditions[0].type]),
    ).toEqual([
      ["IPv4", SPEAKER_FIELD_MANAGER.IPv4, ANNOUNCED_CONDITION.IPv4],
      ["IPv6", SPEAKER_FIELD_MANAGER.IPv6, ANNOUNCED_CONDITION.IPv6],
    ]);
    expect(SPEAKER_FIELD_MANAGER.IPv4).not.toBe(SPEAKER_FIELD_MANAGER.IPv6);
  });

  it("says AnnounceFailed (False) when the node has none of the pool's interfaces", () => {
    const [a] = announcedConditions(
      [{ ip: "2001:db8::10", interfaces: [], events: [{ service: svc("a", "web") }] }],
      "node-2",
      now,
    );
    expect(a?.body.status.conditions[0]).toMatchObject({
      status: "False",
      reason: "AnnounceFailed",
      message: "node node-2 should announce 2001:db8::10 but has none of the pool's interfaces",
    });
  });

  it("writes nothing when nothing was gained", () => {
    expect(announcedConditions([], "node-1", now)).toEqual([]);
  });

  it("marks each apply as about an IP this node announces", () => {
    const applies = announcedConditions(
      [{ ip: "192.0.2.10", interfaces: [], events: [{ service: svc("a", "web") }] }],
      "node-1",
      now,
    );
    expect(applies.map((a) => a.announced)).toEqual([true]);
  });

  it.each([
    ["192.0.2.1", "IPv4"],
    ["2001:db8::1", "IPv6"],
    ["::ffff:192.0.2.1", "IPv6"],
  ])("familyOf(%s) = %s", (ip, family) => {
    expect(familyOf(ip)).toBe(family);
  });
});

describe("withdrawnConditions", () => {
  const ips = new Map([
    ["192.0.2.10", { holders: [svc("a", "web"), svc("b", "dns")] }],
    ["192.0.2.11", { holders: [svc("a", "moved")] }],
    ["192.0.2.12", { holders: [svc("a", "kept")] }],
  ]);
  const elected = new Map<string, ElectedOwner>([
    ["192.0.2.10", { ip: "192.0.2.10", owner: null, why: "no ready endpoints" }],
    ["192.0.2.11", { ip: "192.0.2.11", owner: "node-2", candidates: 2 }],
    ["192.0.2.12", { ip: "192.0.2.12", owner: "node-1", candidates: 2 }],
  ]);

  it("says NotAnnounced, with the election's reason, for a standing IP nobody is elected for", () => {
    const { applies, standing } = withdrawnConditions(
      new Set(["192.0.2.10", "192.0.2.11", "192.0.2.12"]),
      { owned: new Map([["192.0.2.12", {}]]), elected },
      ips,
      "node-1",
      now,
    );
    expect(applies.map((a) => [a.namespace, a.name, a.announced])).toEqual([
      ["a", "web", false],
      ["b", "dns", false],
    ]);
    expect(applies[0]?.body.status.conditions[0]).toEqual({
      type: "barelb.io/AnnouncedIPv4",
      status: "False",
      reason: "NotAnnounced",
      message:
        "no node announces 192.0.2.10: no ready endpoints (node node-1 stopped announcing it)",
      lastTransitionTime: "2026-11-30T08:00:00Z",
    });
    // Owned here, or elected to another node that may not have written yet: still standing.
    expect([...standing].sort()).toEqual(["192.0.2.11", "192.0.2.12"]);
  });

  it("withdraws an IP lost to another node once nobody is elected for it (that node never wrote)", () => {
    // Step 1: lost to node-2 (in its start-up quiet period, say): nothing written, it stands.
    const first = withdrawnConditions(
      new Set(["192.0.2.11"]),
      { owned: new Map(), elected },
      ips,
      "node-1",
      now,
    );
    expect(first.applies).toEqual([]);
    // Step 2: every node excluded before node-2 announced: withdrawn here.
    const second = withdrawnConditions(
      first.standing,
      {
        owned: new Map(),
        elected: new Map([
          ["192.0.2.11", { ip: "192.0.2.11", owner: null, why: "no eligible node" }],
        ]),
      },
      ips,
      "node-1",
      now,
    );
    expect(second.applies.map((a) => [a.name, a.body.status.conditions[0].reason])).toEqual([
      ["moved", "NotAnnounced"],
    ]);
    expect(second.standing.size).toBe(0);
  });

  it("withdraws its layer-2 condition once the IP's pool is a BGP pool (layer 2 elects nobody for it)", () => {
    // The pool of 192.0.2.12, announced here, was edited from layer2 to bgp: the election
    // skips it (no entry in `elected`), so only the node that wrote the condition can end it.
    const routed = new Map<string, { holders: V1Service[]; protocol?: "bgp" }>([
      ...ips,
      ["192.0.2.12", { holders: [svc("a", "kept")], protocol: "bgp" as const }],
    ]);
    const r = withdrawnConditions(
      new Set(["192.0.2.11", "192.0.2.12"]),
      { owned: new Map(), elected: new Map([...elected].filter(([ip]) => ip !== "192.0.2.12")) },
      routed,
      "node-1",
      now,
    );
    expect(r.applies.map((a) => [a.ip, a.name, a.announced, a.bgp])).toEqual([
      ["192.0.2.12", "kept", false, true],
    ]);
    expect(r.applies[0]?.body.status.conditions[0]).toEqual({
      type: "barelb.io/AnnouncedIPv4",
      status: "False",
      reason: "NotAnnounced",
      message:
        "no node announces 192.0.2.12 over ARP/NDP: its pool is a BGP pool now, and the nodes advertise it to their BGP peers (node node-1 stopped announcing it)",
      lastTransitionTime: "2026-11-30T08:00:00Z",
    });
    // Written once: it no longer stands. The layer-2 IP lost to node-2 still does.
    expect([...r.standing]).toEqual(["192.0.2.11"]);
    const again = withdrawnConditions(
      r.standing,
      { owned: new Map(), elected },
      routed,
      "node-1",
      now,
    );
    expect(again.applies).toEqual([]);
  });

  it("keeps a layer-2 IP (protocol given) standing while it is owned or elected", () => {
    const layer2 = new Map([
      ["192.0.2.12", { holders: [svc("a", "kept")], protocol: "layer2" as const }],
    ]);
    const r = withdrawnConditions(
      new Set(["192.0.2.12"]),
      { owned: new Map([["192.0.2.12", {}]]), elected },
      layer2,
      "node-1",
      now,
    );
    expect(r).toEqual({ applies: [], standing: new Set(["192.0.2.12"]) });
  });

  it("forgets an IP no Service holds any more, without a write", () => {
    const r = withdrawnConditions(
      new Set(["192.0.2.99"]),
      { owned: new Map(), elected: new Map() },
      ips,
      "node-1",
      now,
    );
    expect(r).toEqual({ applies: [], standing: new Set() });
  });
});
