import { describe, expect, it } from "vitest";
import type { V1Service } from "@kubernetes/client-node";
import type { Ownership } from "../../../src/dataplane/index.js";
import { score, type NodeFacts, type ServiceFacts } from "../../../src/speaker/election.js";
import {
  ANY_INTERFACE,
  gainedAnnouncements,
  ownershipStep,
  unannounceable,
  type OwnershipInput,
} from "../../../src/speaker/ownership.js";
import type { AnnouncedIP } from "../../../src/speaker/world.js";

const NODES = ["n1", "n2", "n3"];
const nodeMap = new Map<string, NodeFacts>(
  NODES.map((name) => [
    name,
    { name, labels: { "kubernetes.io/hostname": name }, networkUnavailable: false },
  ]),
);
const service = (name: string): V1Service => ({ metadata: { namespace: "ns", name, uid: name } });
const facts = (key: string): ServiceFacts => ({
  key,
  local: false,
  endpointNodes: new Set(NODES),
  readyEndpoints: 1,
});
const announced = (ip: string, interfaces: string[] = [], holders = ["a"]): AnnouncedIP => ({
  ip,
  services: holders.map((h) => facts(`ns/${h}`)),
  nodeSelectors: [],
  interfaces,
  pool: "p",
  protocol: "layer2",
  holders: holders.map(service),
});
/** The node the election gives `ip` among `names`. */
const winner = (ip: string, names = NODES) =>
  [...names].sort((a, b) =>
    score(a, ip) < score(b, ip) ? -1 : score(a, ip) > score(b, ip) ? 1 : 0,
  )[0] ?? "";

const IPS = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "2001:db8::5"];
const ipMap = (entries: AnnouncedIP[]) => new Map(entries.map((e) => [e.ip, e]));
const all = ipMap(IPS.map((ip) => announced(ip)));

function step(over: Partial<OwnershipInput>) {
  return ownershipStep({
    self: "n1",
    ips: all,
    nodes: nodeMap,
    members: new Set(NODES),
    quiet: false,
    previous: new Map(),
    ...over,
  });
}
/** What `self` wins among `members`. */
const wins = (self: string, members = NODES) => IPS.filter((ip) => winner(ip, members) === self);

describe("ownershipStep", () => {
  it.each(NODES)("node %s owns exactly the IPs it wins, every one gained at first", (self) => {
    const s = step({ self });
    expect([...s.owned.keys()]).toEqual(wins(self));
    expect(s.gained).toEqual(wins(self));
    expect(s.lost).toEqual([]);
  });

  it("never elects, owns or gains an IP of a BGP pool: every node advertises those over BGP", () => {
    const mixed = ipMap([
      ...IPS.map((ip) => announced(ip)),
      { ...announced("198.51.100.7"), pool: "routed", protocol: "bgp" },
      { ...announced("2001:db8::77"), pool: "routed", protocol: "bgp" },
    ]);
    for (const self of NODES) {
      const s = step({ self, ips: mixed });
      expect([...s.owned.keys()]).toEqual(wins(self));
      expect(s.gained).toEqual(wins(self));
      expect([...s.elected.keys()].sort()).toEqual([...IPS].sort());
    }
    // An IP whose pool became a BGP pool is lost by its layer-2 owner, to no layer-2 node.
    const self = winner("192.0.2.1");
    const before = step({ self }).owned;
    const moved = ipMap(
      IPS.map((ip) =>
        ip === "192.0.2.1" ? { ...announced(ip), protocol: "bgp" as const } : announced(ip),
      ),
    );
    const s = step({ self, ips: moved, previous: before });
    expect(s.owned.has("192.0.2.1")).toBe(false);
    expect(s.lost).toContainEqual({ ip: "192.0.2.1", owner: null });
  });

  it("the nodes' shares partition the IPs: every IP owned by exactly one node", () => {
    const owners = NODES.flatMap((self) => [...step({ self }).owned.keys()]);
    expect(owners.sort()).toEqual([...IPS].sort());
  });

  it("owns nothing in the start-up quiet period, and loses what it had", () => {
    const before = step({ self: "n1" }).owned;
    const s = step({ self: "n1", quiet: true, previous: before });
    expect(s.owned.size).toBe(0);
    expect(s.gained).toEqual([]);
    expect(s.lost.map((l) => l.ip)).toEqual([...before.keys()]);
    // Still elected: the winner is told even though it does not announce yet.
    expect([...s.elected.values()].filter((e) => e.owner === "n1").length).toBe(before.size);
  });

  it("a node that is not a member owns nothing, and each lost IP names its new owner", () => {
    for (const self of NODES) {
      const previous = step({ self }).owned;
      const others = NODES.filter((n) => n !== self);
      const s = step({ self, members: new Set(others), previous });
      expect(s.owned.size).toBe(0);
      expect(s.lost).toEqual([...previous.keys()].map((ip) => ({ ip, owner: winner(ip, others) })));
    }
  });

  it("gains what a departed member owned, and nothing else changes", () => {
    const gone = "n3";
    const rest = ["n1", "n2"];
    for (const self of rest) {
      const previous = step({ self }).owned;
      const s = step({ self, members: new Set(rest), previous });
      expect(s.gained).toEqual(
        IPS.filter((ip) => winner(ip) === gone && winner(ip, rest) === self),
      );
      expect(s.lost).toEqual([]);
    }
  });

  it("an unchanged world gains and loses nothing", () => {
    const first = step({});
    const again = step({ previous: first.owned });
    expect(again.gained).toEqual([]);
    expect(again.lost).toEqual([]);
    expect([...again.owned.keys()]).toEqual([...first.owned.keys()]);
  });

  it("an IP whose Service went away is lost, with no owner", () => {
    const mine = wins("n1");
    const ip = mine[0];
    if (ip === undefined) throw new Error("n1 wins no IP of the table: change IPS");
    const previous = step({}).owned;
    const s = step({ ips: ipMap(IPS.filter((i) => i !== ip).map((i) => announced(i))), previous });
    expect(s.lost).toEqual([{ ip, owner: null }]);
  });

  it("announces on the pool's interfaces, else on every usable one (one shared object)", () => {
    const ips = ipMap(IPS.map((ip, i) => announced(ip, i % 2 === 0 ? ["eth1"] : [])));
    for (const self of NODES) {
      for (const [ip, o] of step({ self, ips }).owned) {
        const want: Ownership =
          IPS.indexOf(ip) % 2 === 0 ? { interfaces: ["eth1"] } : ANY_INTERFACE;
        expect(o).toEqual(want);
        if (want === ANY_INTERFACE) expect(o).toBe(ANY_INTERFACE);
      }
    }
  });
});

describe("gainedAnnouncements", () => {
  const self = NODES.find((n) => wins(n).length > 0) ?? "n1";
  const ip = wins(self)[0] ?? "";

  it("one nodeAssigned Event per Service holding the IP, naming the interfaces present", () => {
    const ips = ipMap([announced(ip, ["eth1", "wlan0"], ["a", "b"])]);
    const s = step({ self, ips });
    const out = gainedAnnouncements(s, ips, ["eth0", "eth1"], self);
    expect(out).toEqual([
      {
        ip,
        interfaces: ["eth1"],
        events: ["a", "b"].map((name) => ({
          service: service(name),
          type: "Normal",
          reason: "nodeAssigned",
          message: `announcing ${ip} from node ${self} on eth1`,
        })),
      },
    ]);
  });

  it("every usable interface when the pool names none", () => {
    const ips = ipMap([announced(ip)]);
    const out = gainedAnnouncements(step({ self, ips }), ips, ["eth0", "eth1"], self);
    expect(out[0]?.interfaces).toEqual(["eth0", "eth1"]);
    expect(out[0]?.events[0]?.message).toBe(`announcing ${ip} from node ${self} on eth0, eth1`);
  });

  it("announceFailed when the node has none of the pool's interfaces", () => {
    const ips = ipMap([announced(ip, ["eth9"])]);
    const out = gainedAnnouncements(step({ self, ips }), ips, ["eth0"], self);
    expect(out[0]?.interfaces).toEqual([]);
    expect(out[0]?.events[0]).toMatchObject({
      type: "Warning",
      reason: "announceFailed",
      message: `node ${self} should announce ${ip} but has none of the interfaces eth9`,
    });
  });

  it("nothing for IPs held before", () => {
    const ips = ipMap([announced(ip)]);
    const first = step({ self, ips });
    expect(
      gainedAnnouncements(step({ self, ips, previous: first.owned }), ips, ["eth0"], self),
    ).toEqual([]);
  });
});

describe("unannounceable", () => {
  it.each([
    ["nothing owned", new Map(), ["eth0"], 0],
    [
      "the pool's interface is here",
      new Map([["192.0.2.1", { interfaces: ["eth0"] }]]),
      ["eth0", "eth1"],
      0,
    ],
    ["any interface, and one is usable", new Map([["192.0.2.1", {}]]), ["eth0"], 0],
    [
      "the pool's interface is missing",
      new Map([["192.0.2.1", { interfaces: ["eth9"] }]]),
      ["eth0"],
      1,
    ],
    [
      "any interface, none usable",
      new Map([
        ["192.0.2.1", {}],
        ["192.0.2.2", { interfaces: [] }],
      ]),
      [],
      2,
    ],
  ] as const)("%s: %d", (_what, owned, usable, n) => {
    expect(unannounceable(owned, usable)).toBe(n);
  });
});
