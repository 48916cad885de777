import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { extractConfigText, parseConfig, type Config } from "../../../src/config/index.js";
import { importMetallb, type ImportResult } from "../../../src/config/import-metallb.js";

// `importMetallb`: MetalLB's configuration → barelb's ConfigMap. Each case is one of MetalLB's
// documented set-ups (test/fixtures/metallb/); the output must pass barelb's own parser and
// every part without an equivalent must be named.

const fixtures = join(import.meta.dirname, "../../fixtures/metallb");
const fixture = (name: string) => readFileSync(join(fixtures, name), "utf8");

function imported(...texts: string[]): Extract<ImportResult, { ok: true }> {
  const r = importMetallb(texts.map((text, i) => ({ name: `in${i}.yaml`, text })));
  if (!r.ok) throw new Error(`expected an import, got:\n${r.errors.join("\n")}`);
  return r;
}

/** The output read back the way `barelb config validate` and the controller read it. */
function reread(manifest: string): Config {
  const extracted = extractConfigText(manifest);
  if (!extracted.ok) throw new Error(extracted.errors.map((e) => e.message).join("\n"));
  expect(extracted.name).toBe("barelb-config");
  const parsed = parseConfig(extracted.text);
  if (!parsed.ok) throw new Error(parsed.errors.map((e) => e.message).join("\n"));
  return parsed.config;
}

/** A pool reduced to what the import decides. */
function summary(config: Config) {
  return config.pools.map((p) => ({
    name: p.name,
    protocol: p.protocol,
    addresses: p.addresses.map((a) => a.text),
    autoAssign: p.autoAssign,
    avoidBuggyIPs: p.avoidBuggyIPs,
    priority: p.priority,
    namespaces: p.namespaces,
    serviceSelectors: p.serviceSelectors,
    nodeSelectors: p.nodeSelectors,
    interfaces: p.interfaces,
  }));
}

const pool = (
  name: string,
  addresses: string[],
  extra: Partial<ReturnType<typeof summary>[0]> = {},
) => ({
  name,
  protocol: "layer2",
  addresses,
  autoAssign: true,
  avoidBuggyIPs: false,
  priority: undefined,
  namespaces: [],
  serviceSelectors: [],
  nodeSelectors: [],
  interfaces: [],
  ...extra,
});
const host = (name: string) => ({
  matchLabels: { "kubernetes.io/hostname": name },
  matchExpressions: [],
});

describe("MetalLB's documented set-ups", () => {
  it.each([
    {
      file: "l2-basic.yaml",
      why: "a pool in CIDR, range and IPv6 forms, announced by an advertisement naming it",
      pools: [
        pool("first-pool", ["192.0.2.0/26", "198.51.100.10-198.51.100.20", "2001:db8:10::/124"]),
      ],
      warnings: [],
    },
    {
      file: "l2-every-pool.yaml",
      why: "an advertisement naming no pool covers them all; autoAssign and avoidBuggyIPs",
      pools: [
        pool("cheap", ["192.0.2.0/24"], { avoidBuggyIPs: true }),
        pool("expensive", ["198.51.100.0/28"], { autoAssign: false }),
      ],
      warnings: [],
    },
    {
      file: "l2-node-selectors.yaml",
      why: "two advertisements' node selectors are ORed, as barelb ORs a pool's",
      pools: [
        pool("rack-pool", ["192.0.2.64/27"], {
          nodeSelectors: [
            host("node-a"),
            host("node-b"),
            {
              matchLabels: {},
              matchExpressions: [
                { key: "topology.kubernetes.io/zone", operator: "In", values: ["edge"] },
              ],
            },
          ],
        }),
      ],
      warnings: [],
    },
    {
      file: "l2-interfaces.yaml",
      why: "interfaces: exact for one advertisement, the union (named) when two disagree",
      pools: [
        pool("lan", ["192.0.2.128/28"], { interfaces: ["eth3", "eth4"] }),
        pool("split", ["198.51.100.128/28"], {
          nodeSelectors: [host("node-a"), host("node-b")],
          interfaces: ["eth3", "eth4"],
        }),
      ],
      warnings: [
        "IPAddressPool metallb-system/split: its L2Advertisements list different interfaces " +
          "(L2Advertisement metallb-system/split-a: eth3; L2Advertisement metallb-system/split-b: eth4)",
      ],
    },
    {
      file: "pool-selectors.yaml",
      why: "pools chosen by their labels; a pool no advertisement covers is named",
      pools: [
        // gold: by-tier (some nodes) and gold-too (every node) → every node.
        pool("gold", ["192.0.2.0/28"]),
        pool("silver", ["192.0.2.16/28"], {
          nodeSelectors: [{ matchLabels: { "pool-nodes": "true" }, matchExpressions: [] }],
        }),
        pool("bronze", ["192.0.2.32/28"]),
      ],
      warnings: [
        "IPAddressPool metallb-system/bronze: no L2Advertisement or BGPAdvertisement covers it, " +
          "so MetalLB assigns its addresses but does not announce them",
      ],
    },
    {
      file: "service-allocation.yaml",
      why: "priority, namespaces and serviceSelectors map; namespaceSelectors are named",
      pools: [
        pool("team-a", ["203.0.113.0/28"], {
          priority: 50,
          namespaces: ["namespace-a", "namespace-b"],
          serviceSelectors: [
            {
              matchLabels: {},
              matchExpressions: [{ key: "serviceType", operator: "In", values: ["svc-a"] }],
            },
          ],
        }),
        // priority 0 is MetalLB's "none".
        pool("by-label", ["203.0.113.16/28"], { namespaces: ["namespace-c"] }),
      ],
      warnings: [
        "IPAddressPool metallb-system/by-label: spec.serviceAllocation.namespaceSelectors: not " +
          "supported: barelb does not read Namespace labels; add the namespaces they select to " +
          "namespaces (kubectl get namespaces -l 'foo=bar')",
      ],
    },
    {
      file: "bgp.yaml",
      why: "BGP: a peer, a BFD profile, a community and a pool advertised with BGP, all exact",
      pools: [pool("routed", ["203.0.113.64/26"], { protocol: "bgp" })],
      warnings: [],
    },
    {
      file: "bgp-advanced.yaml",
      why: "BGP: every peer setting, node selectors, two advertisements of a pool, IPv6, exact",
      pools: [
        pool("bgp-pool", ["198.51.100.0/24"], { protocol: "bgp" }),
        pool("v6", ["2001:db8:7::/64"], { protocol: "bgp" }),
      ],
      warnings: [],
    },
    {
      file: "bgp-partial.yaml",
      why: "BGP parts without a v0.12 form named; a pool with layer2 and BGP stays layer2",
      pools: [
        pool("pool1", ["198.51.100.0/26"], {
          protocol: "bgp",
          nodeSelectors: [
            { matchLabels: { rack: "a" }, matchExpressions: [] },
            { matchLabels: { rack: "b" }, matchExpressions: [] },
          ],
        }),
        pool("both", ["192.0.2.64/28"]),
      ],
      warnings: [
        'BGPPeer metallb-system/peer1: spec.passwordSecret: barelb reads no Secret: write the "password" ' +
          "key of Secret metallb-system/bgp-password as password here",
        "BGPPeer metallb-system/peer2: spec.vrf: not supported",
        "IPAddressPool metallb-system/pool1: its BGPAdvertisements select different nodes",
        "BGPAdvertisement metallb-system/to-peer1: spec.peers: not supported: barelb sends a BGP " +
          "pool's routes to every peer of the node",
        "IPAddressPool metallb-system/both: MetalLB announces it with layer2 and with BGP " +
          "(BGPAdvertisement metallb-system/both-bgp); a barelb pool has one protocol: imported as layer2",
      ],
    },
    {
      file: "kubectl-list.yaml",
      why: "a kubectl List with server fields; an advertisement's serviceSelectors are named",
      pools: [pool("default", ["192.0.2.100-192.0.2.150"])],
      warnings: [
        "L2Advertisement metallb-system/default: spec.serviceSelectors: not supported: barelb " +
          "announces every Service of a pool",
      ],
    },
  ])("$file: $why", ({ file, pools, warnings }) => {
    const r = imported(fixture(file));
    expect(r.verbatim).toBe(false);
    expect(summary(reread(r.manifest))).toEqual(pools);
    expect(summary(r.config)).toEqual(pools);
    // Exactly the expected warnings, each also a comment in the config.
    expect(r.warnings).toHaveLength(warnings.length);
    for (const [i, w] of warnings.entries()) {
      expect(
        r.warnings[i]?.message.startsWith(w),
        `${r.warnings[i]?.message} starts with ${w}`,
      ).toBe(true);
      expect(r.manifest).toContain(`# ${r.warnings[i]?.message ?? ""}\n`);
    }
  });

  it("copies a v0.12 ConfigMap that barelb accepts as it is, comments and all", () => {
    const text = fixture("legacy-configmap.yaml");
    const r = imported(text);
    expect(r.verbatim).toBe(true);
    expect(r.warnings).toEqual([]);
    const inner = extractConfigText(r.manifest);
    expect(inner.ok && inner.text).toBe(
      extractConfigText(text).ok && (extractConfigText(text) as { text: string }).text,
    );
    expect(inner.ok && inner.text).toContain("# a range");
    expect(summary(reread(r.manifest))).toEqual([
      pool("default", ["192.0.2.240/28", "198.51.100.50-198.51.100.60"], {
        autoAssign: false,
        avoidBuggyIPs: true,
      }),
    ]);
  });

  it("copies a v0.12 ConfigMap with BGP unchanged: barelb reads its BGP form as it is", () => {
    const r = imported(fixture("legacy-bgp-configmap.yaml"));
    expect(r.verbatim).toBe(true);
    expect(r.warnings).toEqual([]);
    expect(summary(reread(r.manifest))).toEqual([
      pool("routed", ["203.0.113.0/26"], { protocol: "bgp" }),
      pool("lan", ["192.0.2.0/28"]),
    ]);
    expect(r.config.peers.map((p) => [p.myASN, p.peerASN])).toEqual([[64500, 64501]]);
    expect(r.config.pools[0]?.bgpAdvertisements[0]?.communities.map((c) => c.text)).toEqual([
      "65535:65282",
    ]);
  });

  it("takes the bare v0.12 config too", () => {
    const r = imported(
      "address-pools:\n- name: a\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n",
    );
    expect(r.verbatim).toBe(true);
    expect(summary(r.config)).toEqual([pool("a", ["192.0.2.0/28"])]);
  });
});

const ipPool = (name: string, spec: string, labels = "") =>
  `apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: ${name}\n  namespace: metallb-system\n${labels}spec:\n${spec}\n`;
const l2 = (name: string, spec: string) =>
  `apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: ${name}\n  namespace: metallb-system\nspec:\n${spec}\n`;
const docs = (...d: string[]) => d.join("---\n");

describe("MetalLB semantics", () => {
  it("an advertisement without node selectors makes the pool's node-selectors empty (every node)", () => {
    const r = imported(
      docs(
        ipPool("p", "  addresses: [192.0.2.0/28]"),
        l2("some", "  ipAddressPools: [p]\n  nodeSelectors:\n  - matchLabels: {rack: a}"),
        l2("all", "  ipAddressPools: [p]"),
      ),
    );
    expect(summary(r.config)[0]?.nodeSelectors).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it("one advertisement on every node and every interface includes the others: exact", () => {
    const r = imported(
      docs(
        ipPool("p", "  addresses: [192.0.2.0/28]"),
        l2("eth3-on-a", "  nodeSelectors:\n  - matchLabels: {rack: a}\n  interfaces: [eth3]"),
        l2("everything", "  ipAddressPools: [p]"),
      ),
    );
    expect(summary(r.config)[0]).toMatchObject({ nodeSelectors: [], interfaces: [] });
    expect(r.warnings).toEqual([]);
  });

  it("the same selector in two advertisements is written once", () => {
    const r = imported(
      docs(
        ipPool("p", "  addresses: [192.0.2.0/28]"),
        l2("x", "  nodeSelectors:\n  - matchLabels: {rack: a}"),
        l2("y", "  nodeSelectors:\n  - matchLabels: {rack: a}\n  - matchLabels: {rack: b}"),
      ),
    );
    expect(summary(r.config)[0]?.nodeSelectors.map((s) => s.matchLabels)).toEqual([
      { rack: "a" },
      { rack: "b" },
    ]);
  });

  it("node selectors barelb cannot read leave that advertisement out, named", () => {
    const r = imported(
      docs(
        ipPool("p", "  addresses: [192.0.2.0/28]"),
        l2("good", "  nodeSelectors:\n  - matchLabels: {rack: a}"),
        l2(
          "bad",
          "  nodeSelectors:\n  - matchExpressions: [{key: cpu, operator: Gt, values: ['4']}]",
        ),
      ),
    );
    expect(summary(r.config)[0]?.nodeSelectors.map((s) => s.matchLabels)).toEqual([{ rack: "a" }]);
    const messages = r.warnings.map((w) => w.message);
    expect(messages).toContainEqual(
      expect.stringMatching(
        /^L2Advertisement metallb-system\/bad: spec\.nodeSelectors\[0\]\.matchExpressions\[0\]\.operator "Gt": must be one of/,
      ),
    );
    expect(messages).toContain(
      "L2Advertisement metallb-system/bad: spec.nodeSelectors: cannot be expressed; this advertisement is left out",
    );
  });

  it("serviceAllocation with no namespaces or selectors: MetalLB's on-request-only pool is named", () => {
    const r = imported(
      docs(
        ipPool("p", "  addresses: [192.0.2.0/28]\n  serviceAllocation:\n    priority: 5"),
        l2("a", "  {}"),
      ),
    );
    expect(summary(r.config)[0]).toMatchObject({ priority: 5, autoAssign: true });
    expect(r.warnings.map((w) => `${w.object} ${w.field ?? ""}`)).toEqual([
      "IPAddressPool metallb-system/p spec.serviceAllocation",
    ]);
  });

  it("an advertisement naming a pool not in the input is named", () => {
    const r = imported(
      docs(ipPool("p", "  addresses: [192.0.2.0/28]"), l2("a", "  ipAddressPools: [p, q]")),
    );
    expect(r.warnings.map((w) => w.message)).toEqual([
      'L2Advertisement metallb-system/a: spec.ipAddressPools: names "q", which is not in the input',
    ]);
  });

  it("unknown kinds and fields, preferredNodeSelectors: named, not imported", () => {
    const r = imported(
      docs(
        ipPool("p", "  addresses: [192.0.2.0/28]\n  colour: blue"),
        l2(
          "a",
          "  preferredNodeSelectors:\n  - weight: 10\n    preference: {matchLabels: {rack: a}}",
        ),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: controller\n  namespace: metallb-system\n",
      ),
    );
    expect(r.warnings.map((w) => `${w.object}|${w.field ?? ""}`)).toEqual([
      "IPAddressPool metallb-system/p|spec.colour",
      "L2Advertisement metallb-system/a|spec.preferredNodeSelectors",
      "Deployment metallb-system/controller|",
    ]);
  });

  it("the deprecated AddressPool kind: its protocol and bgpAdvertisements, on every node", () => {
    const ap = (name: string, protocol: string, cidr: string, extra = "") =>
      `apiVersion: metallb.io/v1beta1\nkind: AddressPool\nmetadata:\n  name: ${name}\n  namespace: metallb-system\nspec:\n  protocol: ${protocol}\n  addresses: [${cidr}]\n${extra}`;
    const r = imported(
      docs(
        ap("a", "layer2", "192.0.2.0/28"),
        ap(
          "b",
          "bgp",
          "192.0.2.16/28",
          "  bgpAdvertisements:\n  - {aggregationLength: 28, localPref: 10, communities: [64500:1]}\n",
        ),
        ap("c", "bgp", "192.0.2.32/28"),
      ),
    );
    expect(summary(r.config).map((p) => [p.name, p.protocol])).toEqual([
      ["a", "layer2"],
      ["b", "bgp"],
      ["c", "bgp"],
    ]);
    expect(r.config.pools[1]?.bgpAdvertisements).toEqual([
      {
        aggregationLength: 28,
        aggregationLengthV6: 128,
        localPref: 10,
        communities: [{ kind: "standard", text: "64500:1", value: 64500 * 65536 + 1 }],
      },
    ]);
    expect(r.config.pools[2]?.bgpAdvertisements).toHaveLength(1);
    expect(r.warnings).toEqual([]);
  });

  it("objects read from several files are put together", () => {
    const r = imported(
      ipPool("p", "  addresses: [192.0.2.0/28]"),
      l2("a", "  nodeSelectors:\n  - matchLabels: {rack: a}"),
    );
    expect(summary(r.config)[0]?.nodeSelectors).toHaveLength(1);
    expect(r.warnings).toEqual([]);
  });
});

describe("refusals", () => {
  it("a config barelb would refuse is not printed: the parser's errors are returned", () => {
    const r = importMetallb([
      {
        name: "x.yaml",
        text: docs(
          ipPool("p", "  addresses: [192.0.2.0/28]"),
          ipPool("q", "  addresses: [192.0.2.8/29]"),
          l2("a", "  {}"),
        ),
      },
    ]);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors[0]).toMatch(
      /^the imported config is not valid: pool "q": addresses\[0\] "192.0.2.8\/29": overlaps/,
    );
  });

  it("YAML errors name the file and document", () => {
    const r = importMetallb([{ name: "x.yaml", text: "kind: IPAddressPool\n---\nkind: [\n" }]);
    expect(!r.ok && r.errors[0]).toMatch(/^x\.yaml document 2: YAML: /);
  });

  it("a document that is not an object is refused", () => {
    const r = importMetallb([{ name: "x.yaml", text: "- a\n- b\n" }]);
    expect(!r.ok && r.errors).toEqual([
      "x.yaml: expected a Kubernetes object (a map), found a list",
    ]);
  });
});

const crd = (kind: string, name: string, spec: string, version = "v1beta1") =>
  `apiVersion: metallb.io/${version}\nkind: ${kind}\nmetadata:\n  name: ${name}\n  namespace: metallb-system\nspec:\n${spec}\n`;
const PEER = "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 192.0.2.1";

describe("BGP objects", () => {
  it("bgp-advanced.yaml: every field lands where v0.12 puts it", () => {
    const config = reread(imported(fixture("bgp-advanced.yaml")).manifest);
    expect(config.peers).toHaveLength(1);
    const [peer] = config.peers;
    expect({
      ...peer,
      address: peer?.address.value,
      sourceAddress: peer?.sourceAddress?.value,
      routerID: peer?.routerID?.value,
      nodeSelectors: peer?.nodeSelectors.length,
    }).toEqual({
      myASN: 64512,
      peerASN: 64513,
      address: 0xc0000203n,
      port: 180,
      sourceAddress: 0xc000020an,
      holdTime: 90,
      keepaliveTime: 30,
      routerID: 0xc000020an,
      password: "s3cret",
      nodeSelectors: 2,
      bfdProfile: "testbfdprofile",
      ebgpMultiHop: true,
    });
    expect(peer?.nodeSelectors[0]).toEqual({
      matchLabels: { rack: "frontend" },
      matchExpressions: [{ key: "network-speed", operator: "NotIn", values: ["slow"] }],
    });
    expect(config.bfdProfiles).toEqual([
      {
        name: "testbfdprofile",
        receiveInterval: 380,
        transmitInterval: 270,
        detectMultiplier: 5,
        echoInterval: 62,
        echoMode: false,
        passiveMode: true,
        minimumTtl: 254,
      },
    ]);
    expect(Object.keys(config.communities)).toEqual(["NO_ADVERTISE", "rack-a"]);
    const ads = (name: string) =>
      config.pools
        .find((p) => p.name === name)
        ?.bgpAdvertisements.map((a) => ({ ...a, communities: a.communities.map((c) => c.text) }));
    expect(ads("bgp-pool")).toEqual([
      {
        aggregationLength: 32,
        aggregationLengthV6: 128,
        localPref: 100,
        communities: ["65535:65282"],
      },
      { aggregationLength: 24, aggregationLengthV6: 128, localPref: undefined, communities: [] },
    ]);
    expect(ads("v6")).toEqual([
      {
        aggregationLength: 32,
        aggregationLengthV6: 64,
        localPref: undefined,
        communities: ["large:64512:1:2", "64512:7"],
      },
    ]);
  });

  it("a v0.12 ConfigMap beside CRDs: its peers, communities and BGP pools are kept", () => {
    const r = imported(
      fixture("legacy-bgp-configmap.yaml"),
      docs(
        crd(
          "BGPPeer",
          "second",
          "  myASN: 64500\n  peerASN: 64502\n  peerAddress: 198.51.100.2",
          "v1beta2",
        ),
        crd("Community", "more", "  communities:\n  - {name: rack, value: '64500:9'}"),
      ),
    );
    expect(r.verbatim).toBe(false);
    expect(r.warnings).toEqual([]);
    const config = reread(r.manifest);
    expect(config.peers.map((p) => p.peerASN)).toEqual([64501, 64502]);
    expect(Object.keys(config.communities)).toEqual(["no-advertise", "rack"]);
    expect(config.pools.map((p) => [p.name, p.protocol])).toEqual([
      ["routed", "bgp"],
      ["lan", "layer2"],
    ]);
    expect(r.manifest).toContain("# from BGPPeer metallb-system/second\n");
  });

  it("a community named twice with different values: the first, and a warning", () => {
    const r = imported(
      docs(
        crd("Community", "a", "  communities:\n  - {name: x, value: '64500:1'}"),
        crd(
          "Community",
          "b",
          "  communities:\n  - {name: x, value: '64500:2'}\n  - {name: y, value: '64500:3'}",
        ),
      ),
    );
    expect(reread(r.manifest).communities.x).toMatchObject({ text: "64500:1" });
    expect(r.warnings.map((w) => w.message)).toEqual([
      'Community metallb-system/b: communities x: "64500:2" differs from "64500:1" in Community metallb-system/a; the first is imported',
    ]);
  });

  it("names a BGPPeer's fields of later versions; a peer whose selectors cannot be read is left out", () => {
    const r = imported(
      docs(
        crd(
          "BGPPeer",
          "later",
          `${PEER}\n  connectTime: 5s\n  enableGracefulRestart: true\n  disableMP: false\n  colour: red`,
          "v1beta2",
        ),
        crd(
          "BGPPeer",
          "odd",
          "  myASN: 64500\n  peerASN: 64502\n  peerAddress: 192.0.2.2\n  nodeSelectors:\n  - matchLabels: {'bad key!': x}",
          "v1beta2",
        ),
      ),
    );
    expect(reread(r.manifest).peers.map((p) => p.peerASN)).toEqual([64501]);
    expect(r.warnings.map((w) => `${w.object}|${w.field ?? ""}`)).toEqual([
      "BGPPeer metallb-system/later|spec.connectTime",
      "BGPPeer metallb-system/later|spec.enableGracefulRestart",
      "BGPPeer metallb-system/later|spec.colour",
      expect.stringMatching(/^BGPPeer metallb-system\/odd\|/),
      "BGPPeer metallb-system/odd|spec.nodeSelectors",
    ]);
  });

  it("an advertisement's peers: exact when they name every peer; a missing one is named", () => {
    const pool = ipPool("p", "  addresses: [198.51.100.0/28]");
    const every = imported(
      docs(
        pool,
        crd("BGPPeer", "r1", PEER, "v1beta2"),
        crd("BGPAdvertisement", "ad", "  peers: [r1]"),
      ),
    );
    expect(every.warnings).toEqual([]);
    const missing = imported(
      docs(
        pool,
        crd("BGPPeer", "r1", PEER, "v1beta2"),
        crd("BGPAdvertisement", "ad", "  peers: [r9]"),
      ),
    );
    expect(missing.warnings.map((w) => w.message)).toEqual([
      'BGPAdvertisement metallb-system/ad: spec.peers: names "r9", which is not in the input',
      expect.stringContaining("spec.peers: not supported"),
    ]);
  });

  it("BGPAdvertisements with the same node selectors set them on the pool, exactly", () => {
    const sel = "  nodeSelectors:\n  - matchLabels: {rack: a}";
    const r = imported(
      docs(
        ipPool("p", "  addresses: [198.51.100.0/28]"),
        crd("BGPAdvertisement", "one", `  localPref: 1\n${sel}`),
        crd("BGPAdvertisement", "two", `  aggregationLength: 28\n${sel}`),
      ),
    );
    expect(r.warnings).toEqual([]);
    expect(summary(r.config)[0]).toMatchObject({
      protocol: "bgp",
      nodeSelectors: [{ matchLabels: { rack: "a" }, matchExpressions: [] }],
    });
    expect(r.config.pools[0]?.bgpAdvertisements.map((a) => a.aggregationLength)).toEqual([32, 28]);
  });
});
