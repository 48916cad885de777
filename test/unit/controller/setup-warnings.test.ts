import { describe, expect, it } from "vitest";
import { parseConfig, type Config } from "../../../src/config/index.js";
import {
  apiServerAddresses,
  EXCLUDE_LABEL,
  nodeFacts,
  setupWarnings,
  type NodeFacts,
} from "../../../src/controller/setup-warnings.js";

function config(): Config {
  const r = parseConfig(
    [
      "address-pools:",
      "- name: lan",
      "  protocol: layer2",
      "  addresses: [192.0.2.0/28, 2001:db8::10-2001:db8::1f]",
      "- name: other",
      "  protocol: layer2",
      "  addresses: [198.51.100.7]",
    ].join("\n"),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

const node = (
  name: string,
  addresses: string[],
  excluded = false,
  labels: Record<string, string> = {},
): NodeFacts => ({
  name,
  addresses,
  excluded,
  labels,
});

describe("setupWarnings", () => {
  const cases: {
    name: string;
    nodes: NodeFacts[];
    api?: string[];
    kinds: string[];
    says?: string[];
  }[] = [
    { name: "no nodes, no API address: nothing", nodes: [], kinds: [] },
    {
      name: "nodes outside every pool: nothing",
      nodes: [node("a", ["192.0.2.16", "2001:db8::20"]), node("b", ["203.0.113.1"])],
      api: ["192.0.2.100"],
      kinds: [],
    },
    {
      name: "a node's IPv4 address inside a pool, named with its pool",
      nodes: [node("a", ["192.0.2.5"]), node("b", ["192.0.2.40"])],
      kinds: ["PoolOverlapsNode"],
      says: ['pool "lan" holds 192.0.2.5, node a\'s address', "remove it from the pool"],
    },
    {
      name: "an IPv6 address written in another form is still found",
      nodes: [node("a", ["2001:0db8:0000::001f"])],
      kinds: ["PoolOverlapsNode"],
      says: ["2001:db8::1f"],
    },
    {
      name: "the API server's address inside a pool",
      nodes: [node("a", ["192.0.2.40"])],
      api: ["198.51.100.7"],
      kinds: ["PoolOverlapsAPIServer"],
      says: ['pool "other" holds 198.51.100.7, the API server\'s address'],
    },
    {
      name: "a host name for the API server is skipped",
      nodes: [],
      api: ["api.example"],
      kinds: [],
    },
    {
      name: "every node excluded: says how to remove the label",
      nodes: [node("b", ["203.0.113.2"], true), node("a", ["203.0.113.1"], true)],
      kinds: ["AllNodesExcluded"],
      says: ["every node (a, b)", `kubectl label node a ${EXCLUDE_LABEL}-`],
    },
    {
      name: "one node not excluded: nothing",
      nodes: [node("a", [], true), node("b", [])],
      kinds: [],
    },
    {
      name: "all three at once, in a fixed order",
      nodes: [node("a", ["192.0.2.1"], true)],
      api: ["192.0.2.2"],
      kinds: ["PoolOverlapsNode", "PoolOverlapsAPIServer", "AllNodesExcluded"],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const found = setupWarnings(config(), c.nodes, c.api ?? []);
      expect(found.map((w) => w.kind)).toEqual(c.kinds);
      const text = found.map((w) => w.message).join("\n");
      for (const s of c.says ?? []) expect(text).toContain(s);
    });
  }

  it("a BGP peer whose node-selectors select no node is named; one that selects a node is not", () => {
    const r = parseConfig(
      [
        "peers:",
        "- peer-address: 192.0.2.1",
        "  peer-asn: 64512",
        "  my-asn: 64513",
        "  node-selectors: [{match-labels: {rack: a}}]",
        "- peer-address: 192.0.2.2",
        "  peer-asn: 64512",
        "  my-asn: 64513",
        "  node-selectors: [{match-labels: {rack: b}}]",
        "- peer-address: 192.0.2.3",
        "  peer-asn: 64512",
        "  my-asn: 64513",
        "address-pools:",
        "- name: routed",
        "  protocol: bgp",
        "  addresses: [198.51.100.0/28]",
      ].join("\n"),
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const found = setupWarnings(r.config, [node("n1", [], false, { rack: "a" })], []);
    expect(found).toMatchObject([{ kind: "BGPPeerSelectsNoNode", count: 1 }]);
    expect(found[0]?.message).toContain("BGP peer 192.0.2.2: its node-selectors select no node");
    expect(
      setupWarnings(r.config, [node("n1", [], false, { rack: "b" })], [])[0]?.message,
    ).toContain("192.0.2.1");
    // No nodes known yet: nothing to say.
    expect(setupWarnings(r.config, [], [])).toEqual([]);
  });

  it("counts each address once per kind, in one message", () => {
    const [w] = setupWarnings(config(), [node("a", ["192.0.2.1", "192.0.2.2"])], []);
    expect(w?.count).toBe(2);
    expect(w?.message.match(/ holds /g)).toHaveLength(2);
  });

  it("without a config, only the exclude check runs", () => {
    expect(setupWarnings(null, [node("a", ["192.0.2.1"], true)], ["192.0.2.2"])).toMatchObject([
      { kind: "AllNodesExcluded", count: 1 },
    ]);
  });

  it("names at most five nodes", () => {
    const nodes = Array.from({ length: 7 }, (_, i) => node(`n${i}`, [], true));
    expect(setupWarnings(null, nodes, [])[0]?.message).toContain("n4 and 2 more");
  });
});

describe("nodeFacts", () => {
  it("keeps InternalIP and ExternalIP, and sees the label whatever its value", () => {
    expect(
      nodeFacts({
        metadata: { name: "a", labels: { [EXCLUDE_LABEL]: "" } },
        status: {
          addresses: [
            { type: "InternalIP", address: "192.0.2.1" },
            { type: "ExternalIP", address: "198.51.100.1" },
            { type: "Hostname", address: "a" },
          ],
        },
      }),
    ).toEqual({
      name: "a",
      addresses: ["192.0.2.1", "198.51.100.1"],
      excluded: true,
      labels: { [EXCLUDE_LABEL]: "" },
    });
    expect(nodeFacts({ metadata: { name: "b" } }).excluded).toBe(false);
  });
});

describe("apiServerAddresses", () => {
  it.each([
    ["https://192.0.2.9:6443", ["192.0.2.9"]],
    ["https://[2001:db8::9]:6443", ["2001:db8::9"]],
    ["https://api.example:6443", []],
    ["not a url", []],
  ])("%s", (url, want) => {
    expect(apiServerAddresses(url)).toEqual(want);
  });
});
