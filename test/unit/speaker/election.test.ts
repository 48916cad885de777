import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  elect,
  EXCLUDE_LABEL,
  score,
  type IPFacts,
  type NodeFacts,
  type ServiceFacts,
} from "../../../src/speaker/election.js";

const node = (
  name: string,
  labels: Record<string, string> = {},
  networkUnavailable = false,
): NodeFacts => ({
  name,
  labels: { "kubernetes.io/hostname": name, ...labels },
  networkUnavailable,
});
const svc = (key: string, over: Partial<ServiceFacts> = {}): ServiceFacts => ({
  key,
  local: false,
  endpointNodes: new Set(["n1"]),
  readyEndpoints: 1,
  ...over,
});
const ipf = (
  ip: string,
  services: ServiceFacts[] = [svc("ns/a")],
  nodeSelectors: IPFacts["nodeSelectors"] = [],
): IPFacts => ({
  ip,
  services,
  nodeSelectors,
});
const nodes = (...ns: NodeFacts[]) => new Map(ns.map((n) => [n.name, n]));
const all = nodes(node("n1", { zone: "a" }), node("n2", { zone: "b" }), node("n3", { zone: "a" }));
const members = new Set(["n1", "n2", "n3"]);
/** The node the hash prefers for ip among `names`. */
const hashWinner = (ip: string, names: string[]) =>
  [...names].sort((a, b) => (score(a, ip) < score(b, ip) ? -1 : 1))[0];

describe("election", () => {
  it("gives each IP to the eligible node with the lowest rendezvous score", () => {
    for (const ip of ["192.0.2.40", "192.0.2.41", "2001:db8::1:5"]) {
      const o = elect([ipf(ip)], all, members).get(ip);
      expect(o).toEqual({ ip, owner: hashWinner(ip, ["n1", "n2", "n3"]), candidates: 3 });
    }
  });

  it("announces nothing for an IP whose Services have no ready endpoint", () => {
    expect(
      elect(
        [ipf("192.0.2.40", [svc("ns/a", { readyEndpoints: 0, endpointNodes: new Set() })])],
        all,
        members,
      ).get("192.0.2.40"),
    ).toEqual({
      ip: "192.0.2.40",
      owner: null,
      why: "no ready endpoints",
    });
  });

  it.each([
    ["not a live member", nodes(node("n1"), node("n2"), node("n3")), new Set(["n2"]), ["n2"]],
    [
      "labelled exclude-from-external-load-balancers",
      nodes(node("n1", { [EXCLUDE_LABEL]: "" }), node("n2"), node("n3")),
      members,
      ["n2", "n3"],
    ],
    [
      "NetworkUnavailable",
      nodes(node("n1"), node("n2", {}, true), node("n3")),
      members,
      ["n1", "n3"],
    ],
    ["without a Node object", nodes(node("n1"), node("n3")), members, ["n1", "n3"]],
  ])("skips a node %s", (_why, ns, m, expected) => {
    for (const ip of ["192.0.2.40", "192.0.2.41", "192.0.2.42", "192.0.2.43"]) {
      const o = elect([ipf(ip)], ns, m).get(ip);
      expect(o?.owner).toBe(hashWinner(ip, expected));
    }
  });

  it("keeps to the pool's node-selectors", () => {
    const sel = [{ matchLabels: { zone: "a" }, matchExpressions: [] }];
    for (const ip of ["192.0.2.40", "192.0.2.41", "192.0.2.42"]) {
      expect(elect([ipf(ip, [svc("ns/a")], sel)], all, members).get(ip)?.owner).toBe(
        hashWinner(ip, ["n1", "n3"]),
      );
    }
  });

  it("follows the ready endpoints of a Local Service, and nobody announces when none is on a live node", () => {
    const local = svc("ns/a", { local: true, endpointNodes: new Set(["n2"]) });
    expect(elect([ipf("192.0.2.40", [local])], all, members).get("192.0.2.40")?.owner).toBe("n2");
    expect(
      elect([ipf("192.0.2.40", [local])], all, new Set(["n1", "n3"])).get("192.0.2.40"),
    ).toEqual({
      ip: "192.0.2.40",
      owner: null,
      why: "no eligible node",
    });
  });

  it("puts a shared IP on one node that suits every Service with endpoints", () => {
    const a = svc("ns/a", { local: true, endpointNodes: new Set(["n1", "n3"]) });
    const b = svc("ns/b", { local: true, endpointNodes: new Set(["n3"]) });
    const idle = svc("ns/c", { local: true, endpointNodes: new Set(), readyEndpoints: 0 });
    expect(elect([ipf("192.0.2.40", [a, b, idle])], all, members).get("192.0.2.40")?.owner).toBe(
      "n3",
    );
  });

  describe("preferred node (barelb.io/preferred-node)", () => {
    const ips = ["192.0.2.40", "192.0.2.41", "192.0.2.42", "192.0.2.43", "2001:db8::1:5"];
    /** A node the hash would not pick for `ip`, so a preference is visible. */
    const loser = (ip: string) =>
      ["n1", "n2", "n3"].find((n) => n !== hashWinner(ip, ["n1", "n2", "n3"])) ?? "";
    const sel = [{ matchLabels: { zone: "a" }, matchExpressions: [] }];

    it.each([
      [
        "an eligible member: it announces",
        (ip: string) => loser(ip),
        all,
        members,
        [],
        "preferred",
      ],
      [
        "not a live member: the hash among the others",
        () => "n2",
        all,
        new Set(["n1", "n3"]),
        [],
        ["n1", "n3"],
      ],
      [
        "labelled exclude-from-external-load-balancers: the hash among the others",
        () => "n1",
        nodes(node("n1", { [EXCLUDE_LABEL]: "" }), node("n2"), node("n3")),
        members,
        [],
        ["n2", "n3"],
      ],
      [
        "not selected by the pool's node-selectors: the hash among those selected",
        () => "n2",
        all,
        members,
        sel,
        ["n1", "n3"],
      ],
      ["unknown (no such node): the hash", () => "n9", all, members, [], ["n1", "n2", "n3"]],
      ["empty: the hash", () => "", all, members, [], ["n1", "n2", "n3"]],
    ] as const)("preferred node %s", (_why, prefer, ns, m, selectors, expected) => {
      for (const ip of ips) {
        const p = prefer(ip);
        const o = elect([ipf(ip, [svc("ns/a", { preferredNode: p })], selectors)], ns, m).get(ip);
        expect(o?.owner).toBe(expected === "preferred" ? p : hashWinner(ip, [...expected]));
      }
    });

    it("counts the candidates as without a preference", () => {
      const ip = "192.0.2.40";
      expect(
        elect([ipf(ip, [svc("ns/a", { preferredNode: loser(ip) })])], all, members).get(ip),
      ).toEqual({ ip, owner: loser(ip), candidates: 3 });
    });

    it("a Local Service's preferred node without a ready endpoint: the nodes with one", () => {
      const local = svc("ns/a", {
        local: true,
        endpointNodes: new Set(["n2"]),
        preferredNode: "n1",
      });
      expect(elect([ipf("192.0.2.40", [local])], all, members).get("192.0.2.40")?.owner).toBe("n2");
    });

    it("shared IP: the first eligible preference by Service key; an idle Service's does not count", () => {
      const ip = "192.0.2.40";
      const a = svc("ns/a", { preferredNode: "n2" });
      const b = svc("ns/b", { preferredNode: "n3" });
      const idle = svc("ns/0", {
        preferredNode: "n1",
        readyEndpoints: 0,
        endpointNodes: new Set(),
      });
      expect(elect([ipf(ip, [b, a, idle])], all, members).get(ip)?.owner).toBe("n2");
      expect(elect([ipf(ip, [b, a])], all, new Set(["n1", "n3"])).get(ip)?.owner).toBe("n3");
    });

    it("moves back to the preferred node once it is eligible again", () => {
      const ip = "192.0.2.41";
      const p = loser(ip);
      const facts = [ipf(ip, [svc("ns/a", { preferredNode: p })])];
      const without = new Set([...members].filter((n) => n !== p));
      expect(elect(facts, all, without).get(ip)?.owner).not.toBe(p);
      expect(elect(facts, all, members).get(ip)?.owner).toBe(p);
    });
  });

  const ipArb = fc.integer({ min: 1, max: 254 }).map((i) => `198.51.100.${i}`);
  const namesArb = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), {
    minLength: 1,
    maxLength: 6,
  });

  it("gives the same answer whatever order the members are listed in (property)", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(ipArb, { minLength: 1, maxLength: 20 }),
        namesArb,
        (ips, names) => {
          const ns = nodes(...names.map((n) => node(n)));
          const facts = ips.map((ip) => ipf(ip, [svc("ns/a", { endpointNodes: new Set(names) })]));
          const a = elect(facts, ns, new Set(names));
          const b = elect(facts, ns, new Set([...names].reverse()));
          expect([...b]).toEqual([...a]);
        },
      ),
    );
  });

  it("moves only the IPs a departing node held, and only those a joining node wins (property)", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(ipArb, { minLength: 1, maxLength: 30 }),
        namesArb.filter((n) => n.length >= 2),
        (ips, names) => {
          const ns = nodes(...names.map((n) => node(n)));
          const facts = ips.map((ip) => ipf(ip, [svc("ns/a", { endpointNodes: new Set(names) })]));
          const before = elect(facts, ns, new Set(names));
          const gone = names[0] ?? "";
          const after = elect(facts, ns, new Set(names.slice(1)));
          for (const ip of ips) {
            const was = before.get(ip)?.owner;
            if (was !== gone)
              expect(after.get(ip)?.owner).toBe(was); // untouched
            else expect(after.get(ip)?.owner).not.toBe(gone);
          }
          // And joining back restores exactly the previous answer.
          expect([...elect(facts, ns, new Set(names))]).toEqual([...before]);
        },
      ),
    );
  });
});
