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
      why: "BGP: every object named, the pool kept (its Services keep their IPs) and named",
      pools: [pool("routed", ["203.0.113.64/26"])],
      warnings: [
        "BGPPeer metallb-system/router: not supported: barelb has no BGP yet",
        "BFDProfile metallb-system/fast: not supported: barelb has no BGP yet",
        "Community metallb-system/communities: not supported: barelb has no BGP yet",
        "BGPAdvertisement metallb-system/routed-adv: not supported: barelb has no BGP yet",
        "IPAddressPool metallb-system/routed: MetalLB announces it with BGP only " +
          "(BGPAdvertisement metallb-system/routed-adv)",
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
    {
      file: "legacy-bgp-configmap.yaml",
      why: "a v0.12 ConfigMap with BGP: peers, communities, a bgp pool named",
      pools: [pool("routed", ["203.0.113.0/26"]), pool("lan", ["192.0.2.0/28"])],
      warnings: [
        "ConfigMap metallb-system/config: peers: not supported: barelb has no BGP yet",
        "ConfigMap metallb-system/config: bgp-communities: not supported: barelb has no BGP yet",
        "ConfigMap metallb-system/config: address-pools[0].bgp-advertisements: not supported",
        "ConfigMap metallb-system/config: address-pools[0].protocol: bgp: not supported",
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

  it("the deprecated AddressPool kind: layer2 on every node; bgp named", () => {
    const ap = (name: string, protocol: string, cidr: string) =>
      `apiVersion: metallb.io/v1beta1\nkind: AddressPool\nmetadata:\n  name: ${name}\n  namespace: metallb-system\nspec:\n  protocol: ${protocol}\n  addresses: [${cidr}]\n`;
    const r = imported(docs(ap("a", "layer2", "192.0.2.0/28"), ap("b", "bgp", "192.0.2.16/28")));
    expect(summary(r.config).map((p) => p.name)).toEqual(["a", "b"]);
    expect(r.warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/^AddressPool metallb-system\/b: spec\.protocol: bgp: not supported/),
    ]);
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
