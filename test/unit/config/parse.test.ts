import { describe, expect, it } from "vitest";

import {
  extractConfigText,
  findPool,
  findPoolForIP,
  parseConfig,
  type Config,
} from "../../../src/config/index.js";
import { parseIP } from "../../../src/net/ip.js";

function ok(text: string): Config {
  const r = parseConfig(text);
  if (!r.ok)
    throw new Error(`expected a valid config, got:\n${r.errors.map((e) => e.message).join("\n")}`);
  return r.config;
}

function messages(text: string): string[] {
  const r = parseConfig(text);
  if (r.ok) throw new Error("expected errors, got a valid config");
  return r.errors.map((e) => e.message);
}

/** A one-pool config with the given extra lines (indented under the pool). */
function pool(extra: string, name = "lan"): string {
  return `address-pools:\n- name: ${name}\n  protocol: layer2\n${extra
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n")}\n`;
}

describe("MetalLB v0.12 configs are accepted verbatim", () => {
  it("the Raspberry Pi user's ConfigMap (one-space data indent, start-end range)", () => {
    const manifest = [
      "apiVersion: v1",
      "kind: ConfigMap",
      "metadata:",
      "  namespace: metallb-system",
      "  name: config",
      "data:",
      " config: |",
      "  address-pools:",
      "  - name: default",
      "    protocol: layer2",
      "    addresses:",
      "    - 192.168.3.100-192.168.3.200",
      "",
    ].join("\n");
    const text = extractConfigText(manifest);
    expect(text).toMatchObject({ ok: true, source: "configmap", name: "config" });
    if (!text.ok) return;
    const config = ok(text.text);
    expect(config.pools).toHaveLength(1);
    const p = config.pools[0];
    expect(p).toMatchObject({
      name: "default",
      protocol: "layer2",
      autoAssign: true,
      avoidBuggyIPs: false,
      priority: undefined,
      namespaces: [],
      serviceSelectors: [],
      nodeSelectors: [],
      interfaces: [],
      families: [4],
      size: { 4: 101n, 6: 0n },
    });
    expect(p?.addresses).toEqual([
      {
        text: "192.168.3.100-192.168.3.200",
        kind: "range",
        family: 4,
        start: 0xc0a80364n,
        end: 0xc0a803c8n,
      },
    ]);
  });

  it("a CIDR pool, an auto-assign: false pool, avoid-buggy-ips and IPv6", () => {
    const config = ok(`
address-pools:
- name: my-ip-space
  protocol: layer2
  addresses:
  - 192.168.1.240/28
- name: expensive
  protocol: layer2
  addresses:
  - 42.176.25.64/30
  auto-assign: false
- name: whole-subnet
  protocol: layer2
  addresses:
  - 192.168.10.0/24
  avoid-buggy-ips: true
- name: v6
  protocol: layer2
  addresses:
  - fc00:f853:0ccd:e799::/124
  - 192.168.20.10 - 192.168.20.20
`);
    expect(config.pools.map((p) => [p.name, p.autoAssign, p.avoidBuggyIPs, p.families])).toEqual([
      ["my-ip-space", true, false, [4]],
      ["expensive", false, false, [4]],
      ["whole-subnet", true, true, [4]],
      ["v6", true, false, [4, 6]],
    ]);
    expect(findPool(config, "whole-subnet")?.size).toEqual({ 4: 254n, 6: 0n });
    const lookup = (text: string) => {
      const ip = parseIP(text);
      return ip.ok ? findPoolForIP(config, ip.value)?.name : "bad test IP";
    };
    expect(lookup("192.168.20.15")).toBe("v6");
    expect(lookup("fc00:f853:ccd:e799::f")).toBe("v6");
    expect(lookup("42.176.25.66")).toBe("expensive");
    expect(lookup("192.168.1.239")).toBeUndefined();
    expect(findPool(config, "v6")?.size).toEqual({ 4: 11n, 6: 16n });
  });

  it("YAML 1.1 booleans that go-yaml v2 (MetalLB) read as booleans", () => {
    const config = ok(pool("addresses: [10.0.0.0/30]\nauto-assign: no\navoid-buggy-ips: Yes"));
    expect(config.pools[0]).toMatchObject({ autoAssign: false, avoidBuggyIPs: true });
  });

  it("merge keys (<<), which go-yaml v2 supports", () => {
    const config = ok(`address-pools:
- &base
  name: a
  protocol: layer2
  auto-assign: false
  addresses: [10.0.0.0/30]
- <<: *base
  name: b
  addresses: [10.0.1.0/30]
`);
    expect(config.pools.map((p) => [p.name, p.autoAssign])).toEqual([
      ["a", false],
      ["b", false],
    ]);
  });

  it("protocol bgp, and peers alone: pools of both protocols coexist", () => {
    const both = parseConfig(
      pool("addresses: [10.0.0.0/24]") +
        pool("addresses: [10.0.1.0/24]", "routed")
          .replace("address-pools:\n", "")
          .replace("layer2", "bgp"),
    );
    expect(both.ok && both.config.pools.map((p) => [p.name, p.protocol])).toEqual([
      ["lan", "layer2"],
      ["routed", "bgp"],
    ]);
    const peers = parseConfig(
      "peers:\n- peer-address: 10.0.0.1\n  peer-asn: 64501\n  my-asn: 64500\n",
    );
    expect(peers.ok && peers.config.peers).toHaveLength(1);
  });

  it("an empty config is valid, with no pools and a warning", () => {
    for (const text of ["", "# nothing yet\n", "address-pools: []\n", "address-pools:\n"]) {
      const r = parseConfig(text);
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(r.config.pools).toEqual([]);
      expect(r.warnings.map((w) => w.message)).toEqual([
        "address-pools: no address pools: no Service will get an IP",
      ]);
    }
  });
});

describe("barelb's per-pool keys", () => {
  it("parses priority, namespaces, selectors and interfaces", () => {
    const config = ok(
      pool(`addresses: [10.0.0.0/24]
priority: 10
namespaces: [prod, web-1]
service-selectors:
- matchLabels: {tier: web, app.kubernetes.io/name: shop}
- matchExpressions:
  - {key: env, operator: In, values: [prod, staging]}
  - {key: legacy, operator: DoesNotExist}
node-selectors:
- matchLabels: {kubernetes.io/hostname: raspi002}
interfaces: [eth0, enp3s0.100]`),
    );
    expect(config.pools[0]).toMatchObject({
      priority: 10,
      namespaces: ["prod", "web-1"],
      serviceSelectors: [
        { matchLabels: { tier: "web", "app.kubernetes.io/name": "shop" }, matchExpressions: [] },
        {
          matchLabels: {},
          matchExpressions: [
            { key: "env", operator: "In", values: ["prod", "staging"] },
            { key: "legacy", operator: "DoesNotExist", values: [] },
          ],
        },
      ],
      nodeSelectors: [
        { matchLabels: { "kubernetes.io/hostname": "raspi002" }, matchExpressions: [] },
      ],
      interfaces: ["eth0", "enp3s0.100"],
    });
  });

  it("returns a deeply frozen config", () => {
    const config = ok(pool("addresses: [10.0.0.0/24]\nservice-selectors: [{matchLabels: {a: b}}]"));
    const p = config.pools[0];
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.pools)).toBe(true);
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p?.addresses[0])).toBe(true);
    expect(Object.isFrozen(p?.size)).toBe(true);
    expect(Object.isFrozen(p?.serviceSelectors[0]?.matchLabels)).toBe(true);
    expect(() => {
      (p?.namespaces as string[]).push("x");
    }).toThrow(TypeError);
  });

  it("warns when a CIDR has host bits set, and widens it like Go's net.ParseCIDR", () => {
    const r = parseConfig(pool("addresses: [192.168.1.77/24]"));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.pools[0]?.size[4]).toBe(256n);
    expect(r.warnings.map((w) => w.message)).toEqual([
      'pool "lan": addresses[0] "192.168.1.77/24": host bits set; using the whole network 192.168.1.0/24',
    ]);
  });
});

describe("every rule rejects with pool, key and value", () => {
  const cases: [string, string, string[]][] = [
    [
      "malformed IPv4 in a CIDR",
      pool("addresses: [192.168.3.0/24, 192.168.3.300/24]"),
      ['pool "lan": addresses[1] "192.168.3.300/24": invalid IPv4 address'],
    ],
    [
      "malformed IPv6",
      pool("addresses: ['2001:db8::g/64']"),
      ['pool "lan": addresses[0] "2001:db8::g/64": invalid IPv6 address'],
    ],
    [
      "IPv4 prefix out of range",
      pool("addresses: [10.0.0.0/33]"),
      ['pool "lan": addresses[0] "10.0.0.0/33": prefix length /33 out of range for IPv4 (0-32)'],
    ],
    [
      "IPv6 prefix out of range",
      pool("addresses: ['2001:db8::/129']"),
      [
        'pool "lan": addresses[0] "2001:db8::/129": prefix length /129 out of range for IPv6 (0-128)',
      ],
    ],
    [
      "reversed range",
      pool("addresses: [10.0.0.10 - 10.0.0.5]"),
      [
        'pool "lan": addresses[0] "10.0.0.10 - 10.0.0.5": reversed range: start 10.0.0.10 is after end 10.0.0.5',
      ],
    ],
    [
      "a zone",
      pool("addresses: ['fe80::1%eth0']"),
      [
        'pool "lan": addresses[0] "fe80::1%eth0": invalid IPv6 address: zone "%eth0" is not allowed (an address here is not tied to one link)',
      ],
    ],
    [
      "an IPv4-mapped address",
      pool("addresses: ['::ffff:10.0.0.1']"),
      [
        'pool "lan": addresses[0] "::ffff:10.0.0.1": invalid IPv6 address: IPv4-mapped address; write the IPv4 address 10.0.0.1 instead',
      ],
    ],
    [
      "a non-string address",
      pool("addresses: [10]"),
      ['pool "lan": addresses[0] "10": must be a string, not a number'],
    ],
    [
      "no addresses key",
      "address-pools:\n- name: lan\n  protocol: layer2\n",
      ['pool "lan": addresses: missing: list at least one CIDR, range or IP address'],
    ],
    [
      "empty addresses",
      pool("addresses: []"),
      ['pool "lan": addresses: empty: list at least one CIDR, range or IP address'],
    ],
    [
      "addresses not a list",
      pool("addresses: 10.0.0.0/24"),
      [
        'pool "lan": addresses "10.0.0.0/24": must be a list of CIDRs, ranges or IP addresses, not a string',
      ],
    ],
    [
      "overlap within a pool",
      pool("addresses: [10.0.0.0/24, 10.0.0.128-10.0.1.5]"),
      ['pool "lan": addresses[1] "10.0.0.128-10.0.1.5": overlaps addresses[0] "10.0.0.0/24"'],
    ],
    [
      "identical entries",
      pool("addresses: ['2001:db8::/120', '2001:db8::/120']"),
      ['pool "lan": addresses[1] "2001:db8::/120": overlaps addresses[0] "2001:db8::/120"'],
    ],
    [
      "overlap across pools names both pools and both entries",
      `address-pools:
- name: a
  protocol: layer2
  addresses: [192.168.1.0/24]
- name: b
  protocol: layer2
  addresses: [10.9.9.9, 192.168.1.250-192.168.2.10]
`,
      [
        'pool "b": addresses[1] "192.168.1.250-192.168.2.10": overlaps pool "a" addresses[0] "192.168.1.0/24"',
      ],
    ],
    [
      "an unknown protocol",
      pool("addresses: [10.0.0.0/24]").replace("layer2", "arp"),
      ['pool "lan": protocol "arp": unknown protocol (expected layer2 or bgp)'],
    ],
    [
      "missing protocol",
      "address-pools:\n- name: lan\n  addresses: [10.0.0.0/24]\n",
      ['pool "lan": protocol: missing (write protocol: layer2, or protocol: bgp)'],
    ],
    [
      "bgp-advertisements in a layer2 pool",
      pool("addresses: [10.0.0.0/24]\nbgp-advertisements: [{aggregation-length: 32}]"),
      [
        'pool "lan": bgp-advertisements: only for protocol: bgp pools (MetalLB refuses it in a layer2 pool too): remove it or set protocol: bgp',
      ],
    ],
    [
      "unknown top-level key",
      "address-pool:\n- name: lan\n",
      [
        "address-pool: unknown key (expected one of address-pools, peers, bgp-communities, bfd-profiles)",
      ],
    ],
    [
      "unknown pool key, with a kebab-case hint",
      pool("addresses: [10.0.0.0/24]\nautoAssign: false\ncolour: blue"),
      [
        'pool "lan": autoAssign: unknown key (did you mean auto-assign?)',
        'pool "lan": colour: unknown key (expected one of name, protocol, addresses, auto-assign, avoid-buggy-ips, priority, namespaces, service-selectors, node-selectors, interfaces, bgp-advertisements)',
      ],
    ],
    [
      "missing name",
      "address-pools:\n- protocol: layer2\n  addresses: [10.0.0.0/24]\n",
      ["address-pools[0].name: missing: every pool needs a name"],
    ],
    [
      "empty name, located by index",
      "address-pools:\n- name: ''\n  protocol: layer2\n  addresses: [10.0.0.0/33]\n",
      [
        'address-pools[0].name "": empty: every pool needs a name',
        'address-pools[0].addresses[0] "10.0.0.0/33": prefix length /33 out of range for IPv4 (0-32)',
      ],
    ],
    [
      "duplicate names",
      `address-pools:
- name: lan
  protocol: layer2
  addresses: [10.0.0.0/24]
- name: lan
  protocol: layer2
  addresses: [10.0.1.0/24]
`,
      ['pool "lan": name "lan": duplicate pool name (address-pools[0] and address-pools[1])'],
    ],
    [
      "wrong types",
      pool(
        "addresses: [10.0.0.0/24]\nauto-assign: sometimes\navoid-buggy-ips: 1\npriority: high\nnamespaces: prod\ninterfaces: [eth0, 7]",
      ),
      [
        'pool "lan": auto-assign "sometimes": must be true or false, not a string',
        'pool "lan": avoid-buggy-ips "1": must be true or false, not a number',
        'pool "lan": priority "high": must be an integer (lower is preferred)',
        'pool "lan": namespaces "prod": must be a list of namespaces, not a string',
        'pool "lan": interfaces[1] "7": must be a string, not a number (quote it)',
      ],
    ],
    [
      "fractional priority",
      pool("addresses: [10.0.0.0/24]\npriority: 1.5"),
      ['pool "lan": priority "1.5": must be an integer (lower is preferred)'],
    ],
    [
      "bad and duplicate namespaces and interfaces",
      pool(
        "addresses: [10.0.0.0/24]\nnamespaces: [prod, Prod, prod]\ninterfaces: [eth0, this-name-is-too-long0, eth0]",
      ),
      [
        'pool "lan": namespaces[1] "Prod": invalid namespace name: must be lowercase alphanumerics or \'-\', start and end alphanumeric, at most 63 characters',
        'pool "lan": namespaces[2] "prod": duplicate namespace',
        "pool \"lan\": interfaces[1] \"this-name-is-too-long0\": invalid interface name: 1-15 characters, no '/', ':' or whitespace",
        'pool "lan": interfaces[2] "eth0": duplicate interface',
      ],
    ],
    [
      "malformed selectors",
      pool(`addresses: [10.0.0.0/24]
service-selectors:
- matchLabels: {"-bad": x, ok: 1, good: "spaces not ok"}
  matchExpressions:
  - {key: a, operator: Equals, values: [x]}
  - {key: b, operator: In}
  - {key: c, operator: Exists, values: [x]}
  - {key: d, operator: In, values: [x, x]}
  - {operator: In, values: [x], extra: 1}
- matchLable: {a: b}
- just-a-string
node-selectors: {a: b}`),
      [
        "pool \"lan\": service-selectors[0].matchLabels \"-bad\": invalid label key: the name part must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
        'pool "lan": service-selectors[0].matchLabels.ok "1": must be a string, not a number (quote it)',
        "pool \"lan\": service-selectors[0].matchLabels.good \"spaces not ok\": invalid label value: must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
        'pool "lan": service-selectors[0].matchExpressions[0].operator "Equals": must be one of In, NotIn, Exists, DoesNotExist',
        'pool "lan": service-selectors[0].matchExpressions[1].values: must not be empty for operator In',
        'pool "lan": service-selectors[0].matchExpressions[2].values: must be empty for operator Exists',
        'pool "lan": service-selectors[0].matchExpressions[3].values[1] "x": duplicate value',
        'pool "lan": service-selectors[0].matchExpressions[4].extra: unknown key (expected key, operator, values)',
        'pool "lan": service-selectors[0].matchExpressions[4].key: missing',
        'pool "lan": service-selectors[1].matchLable: unknown key (expected matchLabels, matchExpressions)',
        'pool "lan": service-selectors[2] "just-a-string": must be a label selector map (matchLabels, matchExpressions), not a string',
        'pool "lan": node-selectors "a map": must be a list of label selectors, not a map',
      ],
    ],
    [
      "label key prefix and length rules",
      pool(`addresses: [10.0.0.0/24]
node-selectors:
- matchLabels:
    Example.COM/x: a
    /x: a
    a/b/c: a
    ${"k".repeat(64)}: a
    ok: ${"v".repeat(64)}`),
      [
        "pool \"lan\": node-selectors[0].matchLabels \"Example.COM/x\": invalid label key: the prefix before '/' must be a DNS subdomain (lowercase alphanumerics, '-', '.'; at most 253 characters)",
        "pool \"lan\": node-selectors[0].matchLabels \"/x\": invalid label key: the prefix before '/' must be a DNS subdomain (lowercase alphanumerics, '-', '.'; at most 253 characters)",
        "pool \"lan\": node-selectors[0].matchLabels \"a/b/c\": invalid label key: the name part must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
        `pool "lan": node-selectors[0].matchLabels "${"k".repeat(64)}": invalid label key: the name part is longer than 63 characters`,
        `pool "lan": node-selectors[0].matchLabels.ok "${"v".repeat(64)}": invalid label value: longer than 63 characters`,
      ],
    ],
    [
      "duplicate selectors",
      pool(
        "addresses: [10.0.0.0/24]\nservice-selectors: [{matchLabels: {a: b}}, {matchLabels: {a: b}}]",
      ),
      ['pool "lan": service-selectors[1]: duplicate selector'],
    ],
    [
      "a pool that is not a map",
      "address-pools:\n- 10.0.0.0/24\n",
      ['address-pools[0] "10.0.0.0/24": a pool must be a map, not a string'],
    ],
    [
      "a config that is not a map",
      "- name: lan\n",
      ["the config must be a map with address-pools, not a list"],
    ],
    ["YAML syntax error", "address-pools:\n- name: lan\n  protocol: [layer2\n", []],
    ["duplicate YAML keys", pool("addresses: [10.0.0.0/24]\naddresses: [10.0.1.0/24]"), []],
    [
      "several YAML documents",
      "address-pools: []\n---\naddress-pools: []\n",
      ["expected one YAML document, found several (---)"],
    ],
  ];

  it.each(cases)("%s", (_name, text, expected) => {
    const got = messages(text);
    if (expected.length === 0) {
      // YAML errors: the message comes from the YAML parser; check the prefix and location.
      expect(got.length).toBeGreaterThan(0);
      for (const m of got) expect(m).toMatch(/^YAML: [^\n]* at line \d+, column \d+$/);
      return;
    }
    expect(got).toEqual(expected);
  });

  it("collects all errors of all pools at once, in file order, and fills structured fields", () => {
    const r = parseConfig(`address-pools:
- name: a
  protocol: arp
  addresses: [10.0.0.0/33]
- name: b
  protocol: layer2
  addresses: [10.1.0.0/16]
  priority: x
- name: c
  protocol: layer2
  addresses: [10.1.2.3]
`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([
      {
        pool: "a",
        key: "protocol",
        value: "arp",
        reason: "unknown protocol (expected layer2 or bgp)",
        message: 'pool "a": protocol "arp": unknown protocol (expected layer2 or bgp)',
      },
      {
        pool: "a",
        key: "addresses[0]",
        value: "10.0.0.0/33",
        reason: "prefix length /33 out of range for IPv4 (0-32)",
        message:
          'pool "a": addresses[0] "10.0.0.0/33": prefix length /33 out of range for IPv4 (0-32)',
      },
      {
        pool: "b",
        key: "priority",
        value: "x",
        reason: "must be an integer (lower is preferred)",
        message: 'pool "b": priority "x": must be an integer (lower is preferred)',
      },
      {
        pool: "c",
        key: "addresses[0]",
        value: "10.1.2.3",
        reason: 'overlaps pool "b" addresses[0] "10.1.0.0/16"',
        message: 'pool "c": addresses[0] "10.1.2.3": overlaps pool "b" addresses[0] "10.1.0.0/16"',
      },
    ]);
  });

  it("adjacent blocks do not overlap; IPv4 and IPv6 never overlap", () => {
    const config = ok(`address-pools:
- name: a
  protocol: layer2
  addresses: [10.0.0.0/25, 10.0.0.128-10.0.0.255, '::a00:0/120']
- name: b
  protocol: layer2
  addresses: [10.0.1.0]
`);
    expect(config.pools.map((p) => p.size)).toEqual([
      { 4: 256n, 6: 256n },
      { 4: 1n, 6: 0n },
    ]);
  });
});

describe("extractConfigText", () => {
  it("returns a bare config unchanged", () => {
    const text = pool("addresses: [10.0.0.0/24]");
    expect(extractConfigText(text)).toEqual({ ok: true, text, source: "config" });
  });

  it("leaves YAML syntax errors of a bare config to parseConfig", () => {
    const text = "address-pools: [\n";
    expect(extractConfigText(text)).toEqual({ ok: true, text, source: "config" });
    expect(parseConfig(text).ok).toBe(false);
  });

  it("picks barelb-config out of a multi-document manifest", () => {
    const text = `apiVersion: v1
kind: Namespace
metadata: {name: barelb-system}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other, namespace: barelb-system}
data: {config: "nope"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: barelb-config, namespace: barelb-system}
data:
  config: |
    address-pools:
    - name: default
      protocol: layer2
      addresses: [198.51.100.10-198.51.100.20]
`;
    const r = extractConfigText(text);
    expect(r).toMatchObject({ ok: true, source: "configmap", name: "barelb-config" });
    if (r.ok) expect(ok(r.text).pools[0]?.name).toBe("default");
  });

  it.each([
    [
      "kind: Deployment\napiVersion: apps/v1\n",
      "kind: expected a ConfigMap with data.config or a bare barelb config, found Deployment",
    ],
    [
      "kind: ConfigMap\napiVersion: v1\ndata: {other: x}\n",
      "data.config: the ConfigMap has no data.config",
    ],
    [
      "kind: ConfigMap\napiVersion: v1\ndata:\n  config: {address-pools: []}\n",
      'data.config: must be a string (use "config: |" for a block of YAML), not a map',
    ],
    [
      "kind: ConfigMap\nmetadata: {name: a}\ndata: {config: x}\n---\nkind: ConfigMap\nmetadata: {name: b}\ndata: {config: y}\n",
      "found 2 ConfigMaps; keep only one, or name the barelb one barelb-config",
    ],
  ])("rejects %j", (text, message) => {
    const r = extractConfigText(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.message)).toEqual([message]);
  });
});
