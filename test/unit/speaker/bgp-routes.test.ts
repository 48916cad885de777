import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseConfig, type Config } from "../../../src/config/index.js";
import { parseIP } from "../../../src/net/ip.js";
import {
  bgpAdvertisers,
  bgpPlan,
  maskAddress,
  selectedPeers,
  type BgpIPFacts,
  type BgpPlanInput,
} from "../../../src/speaker/bgp-routes.js";
import { EXCLUDE_LABEL, type NodeFacts, type ServiceFacts } from "../../../src/speaker/election.js";

function config(text: string): Config {
  const r = parseConfig(text);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join("\n"));
  return r.config;
}

const PEERS = `peers:
- peer-address: 192.0.2.1
  peer-asn: 64501
  my-asn: 64500
- peer-address: 2001:db8::1
  peer-asn: 64500
  my-asn: 64500
  node-selectors:
  - match-labels: {rack: a}
`;

const base = config(`${PEERS}
bgp-communities:
  no-advertise: 65535:65282
address-pools:
- name: routed
  protocol: bgp
  addresses: [198.51.100.0/24, 2001:db8:5::/64]
- name: aggregated
  protocol: bgp
  addresses: [192.0.2.128/26, 2001:db8:6::/64]
  bgp-advertisements:
  - aggregation-length: 32
    aggregation-length-v6: 128
    localpref: 100
    communities: [no-advertise, "64500:1"]
  - aggregation-length: 27
    aggregation-length-v6: 120
    communities: ["large:64500:7:9"]
- name: zoned
  protocol: bgp
  addresses: [198.51.101.0/28]
  node-selectors:
  - matchLabels: {zone: east}
- name: lan
  protocol: layer2
  addresses: [192.0.2.64/27]
`);

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

const ip = (
  addr: string,
  pool: string | undefined,
  services: ServiceFacts[] = [svc("ns/a")],
  cfg: Config = base,
): BgpIPFacts => ({
  ip: addr,
  pool,
  services,
  nodeSelectors: cfg.pools.find((p) => p.name === pool)?.nodeSelectors ?? [],
});

const plan = (over: Partial<BgpPlanInput>) =>
  bgpPlan({ config: base, node: node("n1", { rack: "a" }), live: true, ips: [], ...over });
/** The prefixes n1 sends (the same on every session). */
const prefixes = (over: Partial<BgpPlanInput>) =>
  plan(over)[0]?.routes.map((r) => r.prefix) ?? "no session";

const NO_ADVERTISE = 65535 * 65536 + 65282;
const C64500_1 = 64500 * 65536 + 1;

describe("BGP sessions of a node", () => {
  it.each([
    [
      "every peer on a node of rack a",
      { rack: "a" },
      ["192.0.2.1:179 as 64500", "[2001:db8::1]:179 as 64500"],
    ],
    ["only the unselective peer elsewhere", { rack: "b" }, ["192.0.2.1:179 as 64500"]],
    [
      "sessions kept on an excluded node",
      { rack: "a", [EXCLUDE_LABEL]: "" },
      ["192.0.2.1:179 as 64500", "[2001:db8::1]:179 as 64500"],
    ],
  ])("%s", (_name, labels, keys) => {
    expect(plan({ node: node("n1", labels) }).map((s) => s.key)).toEqual(keys);
  });

  it("opens no session without its Node object, or without peers", () => {
    expect(plan({ node: undefined })).toEqual([]);
    expect(plan({ config: { ...base, peers: [] } })).toEqual([]);
  });

  it("keys a session by address, port, source and local AS; a repeat on the node gets #2", () => {
    const c = config(`peers:
- {peer-address: 192.0.2.1, peer-asn: 64501, my-asn: 64500, peer-port: 1179, source-address: 192.0.2.10}
- {peer-address: 192.0.2.1, peer-asn: 64501, my-asn: 64500, peer-port: 1179, source-address: 192.0.2.10, hold-time: 9s}
- {peer-address: 192.0.2.1, peer-asn: 64501, my-asn: 64502}
address-pools: []
`);
    expect(selectedPeers(c.peers, node("n1")).map((p) => p.key)).toEqual([
      "192.0.2.1:1179 from 192.0.2.10 as 64500",
      "192.0.2.1:1179 from 192.0.2.10 as 64500 #2",
      "192.0.2.1:179 as 64502",
    ]);
    // Keys do not move with other settings.
    expect(selectedPeers(c.peers.slice(1), node("n1")).map((p) => p.key)[0]).toBe(
      "192.0.2.1:1179 from 192.0.2.10 as 64500",
    );
  });

  it("gives every session the same routes, of both families", () => {
    const sessions = plan({ ips: [ip("198.51.100.7", "routed"), ip("2001:db8:5::7", "routed")] });
    expect(sessions).toHaveLength(2);
    expect(sessions[0]?.routes).toEqual([
      { prefix: "198.51.100.7/32", family: 4, communities: [], largeCommunities: [] },
      { prefix: "2001:db8:5::7/128", family: 6, communities: [], largeCommunities: [] },
    ]);
    expect(sessions[1]?.routes).toBe(sessions[0]?.routes);
  });
});

describe("BGP routes of a node", () => {
  const local = (nodes: string[], ready = nodes.length) =>
    svc("ns/l", { local: true, endpointNodes: new Set(nodes), readyEndpoints: ready });
  const cases: [string, Partial<BgpPlanInput>, string[]][] = [
    ["Cluster: advertised", { ips: [ip("198.51.100.7", "routed")] }, ["198.51.100.7/32"]],
    [
      "Cluster: advertised by a node with no endpoint too",
      { ips: [ip("198.51.100.7", "routed", [svc("ns/a", { endpointNodes: new Set(["n2"]) })])] },
      ["198.51.100.7/32"],
    ],
    [
      "no ready endpoint anywhere: not advertised",
      {
        ips: [
          ip("198.51.100.7", "routed", [
            svc("ns/a", { readyEndpoints: 0, endpointNodes: new Set() }),
          ]),
        ],
      },
      [],
    ],
    [
      "Local with a ready endpoint here",
      { ips: [ip("198.51.100.7", "routed", [local(["n1"])])] },
      ["198.51.100.7/32"],
    ],
    [
      "Local with endpoints elsewhere only",
      { ips: [ip("198.51.100.7", "routed", [local(["n2"])])] },
      [],
    ],
    [
      "shared IP: a Local Service without endpoints is left out, as in layer 2",
      { ips: [ip("198.51.100.7", "routed", [svc("ns/a"), local([], 0)])] },
      ["198.51.100.7/32"],
    ],
    [
      "shared IP: every Local Service with endpoints needs one here",
      { ips: [ip("198.51.100.7", "routed", [local(["n1"]), { ...local(["n2"]), key: "ns/m" }])] },
      [],
    ],
    ["a layer-2 pool's IP: never", { ips: [ip("192.0.2.70", "lan")] }, []],
    ["an IP in no pool: never", { ips: [ip("198.51.102.1", undefined)] }, []],
    [
      "excluded by label",
      { node: node("n1", { [EXCLUDE_LABEL]: "" }), ips: [ip("198.51.100.7", "routed")] },
      [],
    ],
    ["NetworkUnavailable", { node: node("n1", {}, true), ips: [ip("198.51.100.7", "routed")] }, []],
    ["not live", { live: false, ips: [ip("198.51.100.7", "routed")] }, []],
    [
      "pool node selectors: selected",
      { node: node("n1", { zone: "east" }), ips: [ip("198.51.101.3", "zoned")] },
      ["198.51.101.3/32"],
    ],
    ["pool node selectors: not selected", { ips: [ip("198.51.101.3", "zoned")] }, []],
  ];
  it.each(cases)("%s", (_name, over, want) => {
    expect(prefixes(over)).toEqual(want);
  });

  it("sends one route per advertisement, aggregated, with localpref and communities", () => {
    const routes = plan({
      ips: [ip("192.0.2.140", "aggregated"), ip("192.0.2.141", "aggregated")],
    })[0]?.routes;
    expect(routes).toEqual([
      {
        prefix: "192.0.2.128/27",
        family: 4,
        communities: [],
        largeCommunities: [{ globalAdmin: 64500, localData1: 7, localData2: 9 }],
      },
      {
        prefix: "192.0.2.140/32",
        family: 4,
        localPref: 100,
        communities: [NO_ADVERTISE, C64500_1],
        largeCommunities: [],
      },
      {
        prefix: "192.0.2.141/32",
        family: 4,
        localPref: 100,
        communities: [NO_ADVERTISE, C64500_1],
        largeCommunities: [],
      },
    ]);
  });

  it("aggregates IPv6 with aggregation-length-v6", () => {
    expect(prefixes({ ips: [ip("2001:db8:6::1:2", "aggregated")] })).toEqual([
      "2001:db8:6::1:0/120",
      "2001:db8:6::1:2/128",
    ]);
  });

  it("merges advertisements giving one prefix: communities in order first seen, highest localpref", () => {
    const c = config(`${PEERS}
address-pools:
- name: merged
  protocol: bgp
  addresses: [198.51.100.0/24]
  bgp-advertisements:
  - {aggregation-length: 24, localpref: 50, communities: ["64500:2", "64500:1"]}
  - {aggregation-length: 24, localpref: 200, communities: ["64500:1", "large:1:2:3"]}
  - {aggregation-length: 24, communities: ["64500:3", "large:1:2:3"]}
`);
    const routes = plan({
      config: c,
      ips: [ip("198.51.100.1", "merged", undefined, c), ip("198.51.100.2", "merged", undefined, c)],
    })[0]?.routes;
    expect(routes).toEqual([
      {
        prefix: "198.51.100.0/24",
        family: 4,
        localPref: 200,
        communities: [64500 * 65536 + 2, C64500_1, 64500 * 65536 + 3],
        largeCommunities: [{ globalAdmin: 1, localData1: 2, localData2: 3 }],
      },
    ]);
  });

  it("orders routes IPv4 first, then by address and length, whatever the order of the IPs", () => {
    expect(
      prefixes({
        ips: [
          ip("2001:db8:5::1", "routed"),
          ip("198.51.100.9", "routed"),
          ip("192.0.2.130", "aggregated"),
          ip("198.51.100.1", "routed"),
        ],
      }),
    ).toEqual([
      "192.0.2.128/27",
      "192.0.2.130/32",
      "198.51.100.1/32",
      "198.51.100.9/32",
      "2001:db8:5::1/128",
    ]);
  });
});

describe("bgpAdvertisers", () => {
  const nodes = new Map(
    [
      node("n1", { rack: "a" }),
      node("n2", { rack: "b" }),
      node("n3", { [EXCLUDE_LABEL]: "" }),
      node("n4", {}, true),
    ].map((n) => [n.name, n]),
  );
  const live = new Set(["n1", "n2", "n3", "n4"]);

  it("names the eligible nodes a peer selects, sorted", () => {
    expect(bgpAdvertisers(ip("198.51.100.7", "routed"), base, nodes, live)).toEqual(["n1", "n2"]);
    expect(bgpAdvertisers(ip("198.51.100.7", "routed"), base, nodes, new Set(["n2"]))).toEqual([
      "n2",
    ]);
  });

  it("leaves out nodes no peer selects, and IPs of other pools", () => {
    const onlyRackA = { ...base, peers: base.peers.slice(1) };
    expect(bgpAdvertisers(ip("198.51.100.7", "routed"), onlyRackA, nodes, live)).toEqual(["n1"]);
    expect(bgpAdvertisers(ip("192.0.2.70", "lan"), base, nodes, live)).toEqual([]);
  });
});

describe("BGP routes, properties", () => {
  const names = ["n1", "n2", "n3", "n4", "n5"];
  const nodeArb = fc.record({
    name: fc.constantFrom(...names),
    excluded: fc.boolean(),
    unavailable: fc.boolean(),
    live: fc.boolean(),
  });
  const ipArb = fc.integer({ min: 0, max: 255 }).map((i) => `198.51.100.${i}`);

  it("a Cluster IP is advertised by every eligible node and never by an excluded one", () => {
    fc.assert(
      fc.property(nodeArb, fc.uniqueArray(ipArb, { maxLength: 8 }), (n, addrs) => {
        const facts = node(n.name, n.excluded ? { [EXCLUDE_LABEL]: "" } : {}, n.unavailable);
        const got = plan({
          node: facts,
          live: n.live,
          ips: addrs.map((a) => ip(a, "routed")),
        })[0]?.routes.map((r) => r.prefix);
        const eligible = n.live && !n.excluded && !n.unavailable;
        expect(got).toEqual(
          eligible
            ? [...addrs].sort((a, b) => Number(parseV4(a) - parseV4(b))).map((a) => `${a}/32`)
            : [],
        );
      }),
    );
  });

  it("aggregation yields prefixes that contain their IPs, one route per prefix", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 63 }), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 26, max: 32 }),
        fc.integer({ min: 64, max: 128 }),
        (offsets, len4, len6) => {
          const c = config(`${PEERS}
address-pools:
- name: p
  protocol: bgp
  addresses: [192.0.2.128/26, 2001:db8:7::/64]
  bgp-advertisements:
  - {aggregation-length: ${len4}, aggregation-length-v6: ${len6}}
`);
          const addrs = offsets.flatMap((o) => [
            `192.0.2.${128 + o}`,
            `2001:db8:7::${o.toString(16)}`,
          ]);
          const routes =
            plan({ config: c, ips: addrs.map((a) => ip(a, "p", undefined, c)) })[0]?.routes ?? [];
          expect(new Set(routes.map((r) => r.prefix)).size).toBe(routes.length);
          for (const a of addrs) {
            const parsed = parseIP(a);
            if (!parsed.ok) throw new Error(a);
            const { family, value } = parsed.value;
            const len = family === 4 ? len4 : len6;
            const net = maskAddress(family, value, len);
            expect(
              routes.some((r) => r.family === family && r.prefix === prefixText(family, net, len)),
            ).toBe(true);
          }
          for (const r of routes) {
            const [addr = "", len = ""] = r.prefix.split("/");
            const parsed = parseIP(addr);
            if (!parsed.ok) throw new Error(addr);
            // The network address has no host bits.
            expect(maskAddress(parsed.value.family, parsed.value.value, Number(len))).toBe(
              parsed.value.value,
            );
          }
        },
      ),
    );
  });
});

function parseV4(a: string): bigint {
  const p = parseIP(a);
  if (!p.ok) throw new Error(a);
  return p.value.value;
}

/** A prefix's text, written here without src/net (an oracle independent of the code). */
function prefixText(family: 4 | 6, value: bigint, len: number): string {
  return `${formatValue(family, value)}/${len}`;
}

function formatValue(family: 4 | 6, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join(".");
  const groups = Array.from({ length: 8 }, (_, i) => (value >> BigInt(112 - 16 * i)) & 0xffffn);
  return compressV6(groups.map((g) => g.toString(16)));
}

/** RFC 5952: the longest run of two or more zero groups becomes `::`. */
function compressV6(groups: string[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}
