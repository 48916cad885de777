import type { V1Condition, V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { explain, type StatusSnapshot } from "../../../src/status/explain.js";
import { announcedConditions, parseAnnouncing } from "../../../src/speaker/announced-condition.js";
import type { LeaseJson } from "../../../src/k8s/microtime.js";
import { microTimeNow } from "../../../src/k8s/microtime.js";
import { renderStatus } from "../../../src/status/render.js";

// `barelb status`'s reasons, from snapshots of what the API would show. Every Service without
// an IP, and every IP nobody announces, must come with a reason.

const NOW = Date.parse("2026-11-30T12:00:00Z");
const EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers";

const POOLS = [
  "address-pools:",
  "- name: lan",
  "  protocol: layer2",
  "  addresses: [192.0.2.10-192.0.2.11]",
  "- name: only-b",
  "  protocol: layer2",
  "  auto-assign: false",
  "  addresses: [198.51.100.0/30]",
  "  node-selectors:",
  "  - matchLabels: {rack: b}",
].join("\n");

function node(name: string, labels: Record<string, string> = {}, address?: string): V1Node {
  return {
    metadata: { name, labels },
    status: address === undefined ? {} : { addresses: [{ type: "InternalIP", address }] },
  };
}

function speakerLease(
  name: string,
  over: { ageS?: number; membership?: string; warnings?: unknown; sessions?: unknown } = {},
): LeaseJson {
  const annotations: Record<string, string> = {};
  if (over.membership !== undefined) annotations["barelb.io/membership"] = over.membership;
  if (over.sessions !== undefined)
    annotations["barelb.io/bgp-sessions"] =
      typeof over.sessions === "string" ? over.sessions : JSON.stringify(over.sessions);
  if (over.warnings !== undefined)
    annotations["barelb.io/node-warnings"] = JSON.stringify(over.warnings);
  return {
    metadata: { name: `barelb-speaker-${name}`, annotations },
    spec: { renewTime: microTimeNow(NOW - (over.ageS ?? 3) * 1000), leaseDurationSeconds: 40 },
  };
}

function controllerLease(ageS = 2): LeaseJson {
  return {
    metadata: { name: "barelb-controller" },
    spec: {
      holderIdentity: "barelb-controller-0",
      renewTime: microTimeNow(NOW - ageS * 1000),
      leaseDurationSeconds: 15,
    },
  };
}

let created = 0;
function service(
  name: string,
  over: {
    ips?: string[];
    pool?: string;
    annotations?: Record<string, string>;
    local?: boolean;
    conditions?: V1Condition[];
  } = {},
): V1Service {
  const annotations = { ...(over.annotations ?? {}) };
  if (over.pool !== undefined) annotations["barelb.io/ip-allocated-from-pool"] = over.pool;
  return {
    metadata: {
      namespace: "default",
      name,
      uid: `uid-${name}`,
      annotations,
      creationTimestamp: new Date(NOW - 3_600_000 + created++ * 1000),
    },
    spec: {
      type: "LoadBalancer",
      ports: [{ port: 80, protocol: "TCP" }],
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      externalTrafficPolicy: over.local === true ? "Local" : "Cluster",
    },
    status: {
      loadBalancer: { ingress: (over.ips ?? []).map((ip) => ({ ip })) },
      ...(over.conditions === undefined ? {} : { conditions: over.conditions }),
    },
  };
}

/** A ready endpoint of `svc` on each of `nodes`. */
function slice(svc: string, nodes: string[], ready = true): V1EndpointSlice {
  return {
    addressType: "IPv4",
    metadata: {
      namespace: "default",
      name: `${svc}-x`,
      labels: { "kubernetes.io/service-name": svc },
    },
    endpoints: nodes.map((n) => ({ addresses: ["10.0.0.1"], nodeName: n, conditions: { ready } })),
  };
}

/** The condition node `by` writes when it starts announcing `ip` for `svc`. */
function announcing(svcName: string, ip: string, by: string, interfaces = ["eth0"]) {
  const applies = announcedConditions(
    [{ ip, interfaces, events: [{ service: service(svcName) }] }],
    by,
    new Date(NOW - 60_000),
  );
  // As JSON from the API server: lastTransitionTime is a string there too.
  return applies.map((a) => a.body.status.conditions[0]) as unknown as V1Condition[];
}

function snapshot(over: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    now: NOW,
    namespace: "barelb-system",
    configMapName: "barelb-config",
    lbClass: undefined,
    server: "https://203.0.113.1:6443",
    configMap: { metadata: { name: "barelb-config" }, data: { config: POOLS } },
    services: [],
    slices: [],
    nodes: [node("n1", { rack: "a" }), node("n2", { rack: "b" })],
    leases: [controllerLease(), speakerLease("n1"), speakerLease("n2")],
    foreign: new Map(),
    unreadable: [],
    ...over,
  };
}

/** The invariant of the issue: no Service is pending or unannounced without a reason. */
function expectEveryProblemExplained(r: Awaited<ReturnType<typeof explain>>) {
  for (const s of r.services) {
    const unannounced = s.ips.filter(
      (ip) => !s.announcedBy.some((a) => a.ip === ip) && !s.advertisedBy.some((a) => a.ip === ip),
    );
    if (s.ips.length === 0 || unannounced.length > 0) {
      expect(s.reason, `${s.namespace}/${s.name}`).toEqual(expect.any(String));
      expect(s.reason).not.toContain("a bug");
    }
  }
  for (const n of r.nodes) if (n.state !== "live") expect(n.reason).toEqual(expect.any(String));
}

describe("barelb status: explain", () => {
  it("parses back what the announcing node wrote (node and interfaces)", () => {
    const [c] = announcing("web", "192.0.2.10", "n1", ["eth0", "eth1"]);
    expect(parseAnnouncing(c?.message ?? "", "192.0.2.10")).toEqual({
      node: "n1",
      interfaces: ["eth0", "eth1"],
    });
    expect(parseAnnouncing(c?.message ?? "", "192.0.2.11")).toBeNull();
    expect(parseAnnouncing("no node announces 192.0.2.10: x", "192.0.2.10")).toBeNull();
  });

  it("all well: IP, pool, the announcing node and its interfaces, no reason", async () => {
    const r = await explain(
      snapshot({
        services: [
          service("web", {
            ips: ["192.0.2.10"],
            pool: "lan",
            conditions: announcing("web", "192.0.2.10", "n2"),
          }),
        ],
        slices: [slice("web", ["n1"])],
      }),
    );
    expect(r.config).toEqual({
      state: "loaded",
      error: null,
      configMap: "ConfigMap barelb-system/barelb-config",
    });
    expect(r.controller.state).toBe("leading");
    expect(r.pools).toEqual([
      { name: "lan", family: "IPv4", total: 2, inUse: 1 },
      { name: "only-b", family: "IPv4", total: 4, inUse: 0 },
    ]);
    expect(r.services).toEqual([
      {
        namespace: "default",
        name: "web",
        ips: ["192.0.2.10"],
        pool: "lan",
        announcedBy: [{ ip: "192.0.2.10", node: "n2", interfaces: ["eth0"] }],
        advertisedBy: [],
        reason: null,
      },
    ]);
    expect(r.nodes.map((n) => [n.name, n.state, n.reason])).toEqual([
      ["n1", "live", null],
      ["n2", "live", null],
    ]);
    expect(r.warnings).toEqual([]);
    expect(renderStatus(r)).toContain("Nothing to report");
  });

  it("a pending Service gets the allocator's reason (pool exhausted)", async () => {
    const r = await explain(
      snapshot({
        services: [
          service("a", { ips: ["192.0.2.10"], pool: "lan" }),
          service("b", { ips: ["192.0.2.11"], pool: "lan" }),
          service("c"),
        ],
      }),
    );
    const c = r.services.find((s) => s.name === "c");
    expect(c?.ips).toEqual([]);
    expect(c?.reason).toMatch(/^no IP: .*lan/);
    expect(c?.reason).toMatch(/no free|exhausted|full/i);
    expect(r.pools[0]).toEqual({ name: "lan", family: "IPv4", total: 2, inUse: 2 });
    expectEveryProblemExplained(r);
  });

  it("a Service asking for an unknown pool says so", async () => {
    const r = await explain(
      snapshot({
        services: [service("x", { annotations: { "metallb.io/address-pool": "nope" } })],
      }),
    );
    expect(r.services[0]?.reason).toContain('"nope"');
    expectEveryProblemExplained(r);
  });

  it("a Service that would get an IP but has none: the controller is down", async () => {
    const r = await explain(
      snapshot({ services: [service("new")], leases: [controllerLease(120), speakerLease("n1")] }),
    );
    expect(r.controller.state).toBe("down");
    expect(r.services[0]?.reason).toContain("would give it 192.0.2.10 from pool lan");
    expect(r.services[0]?.reason).toContain("no controller leads");
    expect(r.warnings.map((w) => w.kind)).toContain("ControllerNotLeading");
    expectEveryProblemExplained(r);
  });

  it("before switching from MetalLB: which IPs the controller would keep, and which it would move and why", async () => {
    const left = (name: string, ip: string) => {
      const svc = service(name, {
        ips: [ip],
        annotations: { "metallb.io/ip-allocated-from-pool": "default" },
      });
      svc.metadata = { ...svc.metadata, managedFields: [] };
      return svc;
    };
    // No barelb running yet: only its ConfigMap, and the Services as MetalLB left them.
    const r = await explain(
      snapshot({ services: [left("kept", "192.0.2.11"), left("moved", "192.0.2.99")], leases: [] }),
    );
    const reason = (n: string) => r.services.find((s) => s.name === n)?.reason ?? "";
    expect(reason("kept")).not.toContain("would change");
    expect(reason("moved")).toContain(
      "the controller would change its IPs to 192.0.2.10 (IP 192.0.2.99 in its status, set before barelb handled the Service, cannot be kept (192.0.2.99 is not in any address pool",
    );
  });

  it("no controller Lease at all: absent", async () => {
    const r = await explain(snapshot({ services: [service("new")], leases: [] }));
    expect(r.controller.state).toBe("absent");
    expect(r.services[0]?.reason).toContain("is the controller Deployment running?");
  });

  it("config missing, refused: said, and pending Services point at it", async () => {
    const missing = await explain(snapshot({ configMap: null, services: [service("s")] }));
    expect(missing.config.state).toBe("missing");
    expect(missing.config.error).toContain("not found");
    expect(missing.services[0]?.reason).toContain("pool config is missing");
    expect(missing.pools).toEqual([]);
    const refused = await explain(
      snapshot({
        configMap: { data: { config: "address-pools:\n- name: x\n  protocol: bgp\n" } },
        services: [service("s")],
      }),
    );
    expect(refused.config.state).toBe("refused");
    expect(refused.config.error).toMatch(/addresses|bgp/);
    expect(refused.config.error).toContain("last config it accepted");
    expect(refused.warnings.map((w) => w.kind)).toEqual(["InvalidConfig"]);
    expectEveryProblemExplained(refused);
  });

  it("the announcing node's speaker is down: named, and who should take over", async () => {
    const r = await explain(
      snapshot({
        services: [
          service("web", {
            ips: ["192.0.2.10"],
            pool: "lan",
            conditions: announcing("web", "192.0.2.10", "n1"),
          }),
        ],
        slices: [slice("web", ["n1"])],
        leases: [controllerLease(), speakerLease("n1", { ageS: 90 }), speakerLease("n2")],
      }),
    );
    const n1 = r.nodes.find((n) => n.name === "n1");
    expect(n1?.state).toBe("down");
    expect(n1?.reason).toContain("last renewed 90s ago");
    expect(r.services[0]?.announcedBy).toEqual([]);
    expect(r.services[0]?.reason).toContain("node n1 announced it but is down");
    expect(r.services[0]?.reason).toContain("node n2 should take over");
    expectEveryProblemExplained(r);
  });

  it("every node excluded: nodes say why, the IP says no eligible node, a warning", async () => {
    const r = await explain(
      snapshot({
        nodes: [node("n1", { [EXCLUDE]: "" }), node("n2", { [EXCLUDE]: "true" })],
        services: [service("web", { ips: ["192.0.2.10"], pool: "lan" })],
        slices: [slice("web", ["n1"])],
      }),
    );
    expect(r.nodes.map((n) => n.state)).toEqual(["excluded", "excluded"]);
    expect(r.services[0]?.reason).toContain(`no eligible node: labelled ${EXCLUDE} (n1, n2)`);
    expect(r.warnings.map((w) => w.kind)).toEqual(["AllNodesExcluded"]);
    expectEveryProblemExplained(r);
  });

  it("pool node-selectors and Local endpoints: each node's reason", async () => {
    const r = await explain(
      snapshot({
        nodes: [node("n1", { rack: "a" }), node("n2", { rack: "b" }), node("n3", { rack: "b" })],
        leases: [controllerLease(), speakerLease("n1"), speakerLease("n2")],
        services: [
          service("sel", {
            ips: ["198.51.100.1"],
            pool: "only-b",
            annotations: { "barelb.io/address-pool": "only-b" },
            local: true,
          }),
        ],
        slices: [slice("sel", ["n1"])],
      }),
    );
    const reason = r.services[0]?.reason ?? "";
    expect(reason).toContain("198.51.100.1: nobody announces it: no eligible node:");
    expect(reason).toContain("not selected by the pool's node-selectors (n1)");
    expect(reason).toContain(
      "no ready endpoint of default/sel (externalTrafficPolicy: Local) (n2)",
    );
    expect(reason).toContain("speaker not live (n3)");
    expect(r.nodes.find((n) => n.name === "n3")?.state).toBe("absent");
    expectEveryProblemExplained(r);
  });

  describe("BGP pools: advertised by every eligible node a peer selects", () => {
    const bgpConfig = (peers: string) =>
      [
        peers,
        POOLS,
        "- name: routed",
        "  protocol: bgp",
        "  addresses: [198.51.100.16/29]",
        "  bgp-advertisements:",
        "  - {aggregation-length: 32, localpref: 100}",
      ].join("\n");
    const PEERS = "peers:\n- {peer-address: 192.0.2.1, peer-asn: 64501, my-asn: 64500}";
    const withBgp = (over: Partial<StatusSnapshot>, peers = PEERS) =>
      snapshot({
        configMap: { metadata: { name: "barelb-config" }, data: { config: bgpConfig(peers) } },
        nodes: [
          node("n1", { rack: "a" }),
          node("n2", { rack: "b" }),
          node("n3", { [EXCLUDE]: "" }),
        ],
        leases: [controllerLease(), speakerLease("n1"), speakerLease("n2"), speakerLease("n3")],
        ...over,
      });
    const routed = (over: Parameters<typeof service>[1] = {}) =>
      service("web", { ips: ["198.51.100.17"], pool: "routed", ...over });

    it("Cluster: every eligible node, no layer-2 owner, no reason", async () => {
      const r = await explain(withBgp({ services: [routed()], slices: [slice("web", ["n1"])] }));
      expect(r.services[0]).toMatchObject({
        announcedBy: [],
        advertisedBy: [{ ip: "198.51.100.17", nodes: ["n1", "n2"] }],
        reason: null,
      });
      const text = renderStatus(r);
      expect(text).toContain("BGP: n1, n2");
      expect(text).not.toContain("should announce");
      expectEveryProblemExplained(r);
    });

    it("Local: the nodes with a ready endpoint; a speaker not live advertises nothing", async () => {
      const r = await explain(
        withBgp({
          services: [routed({ local: true })],
          slices: [slice("web", ["n1", "n2"])],
          leases: [controllerLease(), speakerLease("n2")],
        }),
      );
      expect(r.services[0]?.advertisedBy).toEqual([{ ip: "198.51.100.17", nodes: ["n2"] }]);
    });

    it("a starting or held speaker advertises: BGP has no election, quiet period or hold", async () => {
      const r = await explain(
        withBgp({
          services: [routed()],
          slices: [slice("web", ["n1"])],
          leases: [
            controllerLease(),
            speakerLease("n1", { membership: "starting" }),
            speakerLease("n2", { membership: "held" }),
          ],
        }),
      );
      expect(r.services[0]?.advertisedBy).toEqual([{ ip: "198.51.100.17", nodes: ["n1", "n2"] }]);
    });

    it("ignores a layer-2 condition left from when the pool was layer 2", async () => {
      const r = await explain(
        withBgp({
          services: [routed({ conditions: announcing("web", "198.51.100.17", "n1") })],
          slices: [slice("web", ["n1"])],
        }),
      );
      expect(r.services[0]?.announcedBy).toEqual([]);
      expect(r.services[0]?.advertisedBy).toEqual([{ ip: "198.51.100.17", nodes: ["n1", "n2"] }]);
    });

    describe("the BGP sessions the speakers publish on their Leases", () => {
      const UP = { peer: "192.0.2.1", state: "Established", bfd: "Up" };
      const TIMED_OUT = {
        peer: "192.0.2.1",
        state: "Active",
        error: "connect-failed: TCP connect timed out",
      };
      const BAD_AS = {
        peer: "2001:db8::1",
        state: "Idle",
        error: "notification-received: peer sent OPEN Message Error / Bad Peer AS",
      };
      const leases = (n1: unknown, n2: unknown) => [
        controllerLease(),
        speakerLease("n1", n1 === undefined ? {} : { sessions: n1 }),
        speakerLease("n2", n2 === undefined ? {} : { sessions: n2 }),
        speakerLease("n3"),
      ];

      it("per node, in the report and under the node's row; none published: nothing shown", async () => {
        const r = await explain(
          withBgp({
            services: [routed()],
            slices: [slice("web", ["n1"])],
            leases: leases([UP, BAD_AS], undefined),
          }),
        );
        expect(r.nodes.map((n) => [n.name, n.bgpSessions])).toEqual([
          ["n1", [UP, BAD_AS]],
          ["n2", []],
          ["n3", []],
        ]);
        // One Established session is enough: n1 advertises, and nothing is wrong with the IP.
        expect(r.services[0]?.advertisedBy).toEqual([{ ip: "198.51.100.17", nodes: ["n1", "n2"] }]);
        expect(r.services[0]?.reason).toBeNull();
        const text = renderStatus(r);
        expect(text).toMatch(
          /^n1 +live +-\n {2}bgp: 192\.0\.2\.1 Established \(BFD Up\); 2001:db8::1 Idle: notification-received: peer sent OPEN Message Error \/ Bad Peer AS\nn2 +live +-\nn3 /m,
        );
        expect(text.match(/bgp:/g)).toHaveLength(1);
        expectEveryProblemExplained(r);
      });

      it("an advertising node with no Established session is not counted, and is the reason", async () => {
        const r = await explain(
          withBgp({
            services: [routed()],
            slices: [slice("web", ["n1"])],
            leases: leases([TIMED_OUT], [UP]),
          }),
        );
        expect(r.services[0]?.advertisedBy).toEqual([{ ip: "198.51.100.17", nodes: ["n2"] }]);
        expect(r.services[0]?.reason).toBe(
          "198.51.100.17: node n1 advertises it but has no Established BGP session (192.0.2.1: Active: connect-failed: TCP connect timed out)",
        );
        expect(renderStatus(r)).not.toContain("Nothing to report");
        expectEveryProblemExplained(r);
      });

      it("no advertising node with an Established session: no router gets the IP", async () => {
        const r = await explain(
          withBgp({
            services: [routed({ local: true })],
            slices: [slice("web", ["n1", "n2"])],
            leases: leases([TIMED_OUT], [{ ...TIMED_OUT, state: "Connect" }, BAD_AS]),
          }),
        );
        expect(r.services[0]?.advertisedBy).toEqual([]);
        expect(r.services[0]?.reason).toBe(
          "198.51.100.17: no router gets it: " +
            "node n1 advertises it but has no Established BGP session (192.0.2.1: Active: connect-failed: TCP connect timed out); " +
            "node n2 advertises it but has no Established BGP session (192.0.2.1: Connect: connect-failed: TCP connect timed out; 2001:db8::1: Idle: notification-received: peer sent OPEN Message Error / Bad Peer AS)",
        );
        expect(renderStatus(r)).toContain("ANNOUNCED BY");
        expectEveryProblemExplained(r);
      });

      it("sessions of a node that advertises nothing (no endpoint under Local) are shown, not a reason", async () => {
        const r = await explain(
          withBgp({
            services: [routed({ local: true })],
            slices: [slice("web", ["n2"])],
            leases: leases([TIMED_OUT], [UP]),
          }),
        );
        expect(r.services[0]).toMatchObject({
          advertisedBy: [{ ip: "198.51.100.17", nodes: ["n2"] }],
          reason: null,
        });
        expect(r.nodes[0]?.bgpSessions).toEqual([TIMED_OUT]);
      });

      it("an unreadable annotation, an empty list and a dead speaker's sessions show nothing", async () => {
        const r = await explain(
          withBgp({
            services: [routed()],
            slices: [slice("web", ["n1"])],
            leases: [
              controllerLease(),
              speakerLease("n1", { sessions: "{not json" }),
              speakerLease("n2", { sessions: [] }),
              speakerLease("n3", { sessions: [TIMED_OUT], ageS: 90 }),
            ],
          }),
        );
        expect(r.nodes.map((n) => n.bgpSessions)).toEqual([[], [], []]);
        expect(r.services[0]).toMatchObject({
          advertisedBy: [{ ip: "198.51.100.17", nodes: ["n1", "n2"] }],
          reason: null,
        });
        expect(renderStatus(r)).not.toContain("bgp:");
      });
    });

    it.each([
      [
        "no ready endpoints",
        {},
        PEERS,
        "198.51.100.17: no node advertises it over BGP: no ready endpoints: no Pod behind the Service is Ready",
      ],
      [
        "no peers",
        { slices: [slice("web", ["n1"])] },
        "",
        "198.51.100.17: no node advertises it over BGP: the config has no peers: list the routers under peers",
      ],
      [
        "peers selecting other nodes, and an excluded one",
        { slices: [slice("web", ["n1"])] },
        PEERS.replace("}", ", node-selectors: [{match-labels: {rack: b}}]}").replace(
          "rack: b",
          "rack: c",
        ),
        "198.51.100.17: no node advertises it over BGP: no eligible node: selected by no peer's node-selectors (n1, n2, n3)",
      ],
      [
        "the only selected node excluded",
        { slices: [slice("web", ["n1"])] },
        `${PEERS}\n- {peer-address: 192.0.2.2, peer-asn: 64501, my-asn: 64500, node-selectors: [{match-expressions: [{key: ${EXCLUDE}, operator: Exists}]}]}`.replace(
          "- {peer-address: 192.0.2.1, peer-asn: 64501, my-asn: 64500}\n",
          "",
        ),
        `198.51.100.17: no node advertises it over BGP: no eligible node: selected by no peer's node-selectors (n1, n2); labelled ${EXCLUDE} (n3)`,
      ],
    ])("nobody: %s", async (_name, over, peers, reason) => {
      const r = await explain(withBgp({ services: [routed()], ...over }, peers));
      expect(r.services[0]?.advertisedBy).toEqual([]);
      expect(r.services[0]?.reason).toMatch(new RegExp(`^${escape(reason)}`));
      expectEveryProblemExplained(r);
    });

    it("a pending Service's reason is the allocator's, as for layer 2", async () => {
      const full = Array.from({ length: 8 }, (_, i) =>
        service(`s${i}`, { ips: [`198.51.100.${16 + i}`], pool: "routed" }),
      );
      const r = await explain(
        withBgp({
          services: [
            ...full,
            service("late", { annotations: { "barelb.io/address-pool": "routed" } }),
          ],
        }),
      );
      const late = r.services.find((s) => s.name === "late");
      expect(late?.reason).toMatch(/^no IP: .*routed/);
      expect(late?.reason).not.toContain("a bug");
    });
  });

  it("no ready endpoints at all", async () => {
    const r = await explain(
      snapshot({ services: [service("web", { ips: ["192.0.2.10"], pool: "lan" })] }),
    );
    expect(r.services[0]?.reason).toMatch(
      /^192\.0\.2\.10: nobody announces it: no ready endpoints: no Pod behind the Service is Ready/,
    );
  });

  it("an elected node that has not written its condition yet", async () => {
    const r = await explain(
      snapshot({
        services: [service("web", { ips: ["192.0.2.10"], pool: "lan" })],
        slices: [slice("web", ["n1"])],
      }),
    );
    expect(r.services[0]?.reason).toMatch(
      /^192\.0\.2\.10: node n[12] should announce it but has not said so/,
    );
  });

  it("a False condition's message is the reason (AnnounceFailed, AddressInUse)", async () => {
    const r = await explain(
      snapshot({
        services: [
          service("web", {
            ips: ["192.0.2.10"],
            pool: "lan",
            conditions: [
              {
                type: "barelb.io/AnnouncedIPv4",
                status: "False",
                reason: "AddressInUse",
                message: "192.0.2.10 is answered by 02:00:00:00:00:99 on the LAN",
                lastTransitionTime: new Date(NOW),
              },
            ],
          }),
        ],
        slices: [slice("web", ["n1"])],
      }),
    );
    expect(r.services[0]?.reason).toBe(
      "192.0.2.10: 192.0.2.10 is answered by 02:00:00:00:00:99 on the LAN",
    );
  });

  it("a NotAnnounced condition gives way to the reason node by node", async () => {
    const notAnnounced = (message: string): V1Condition[] => [
      {
        type: "barelb.io/AnnouncedIPv4",
        status: "False",
        reason: "NotAnnounced",
        message,
        lastTransitionTime: new Date(NOW),
      },
    ];
    const r = await explain(
      snapshot({
        nodes: [node("n1", { [EXCLUDE]: "" }), node("n2", { [EXCLUDE]: "" })],
        services: [
          service("web", {
            ips: ["192.0.2.10"],
            pool: "lan",
            conditions: notAnnounced(
              "no node announces 192.0.2.10: no eligible node (node n1 stopped announcing it)",
            ),
          }),
        ],
        slices: [slice("web", ["n1"])],
      }),
    );
    expect(r.services[0]?.reason).toBe(
      `192.0.2.10: nobody announces it: no eligible node: labelled ${EXCLUDE} (n1, n2)`,
    );
    // Once a node may announce again, the old condition is not the reason any more.
    const later = await explain(
      snapshot({
        services: [
          service("web", {
            ips: ["192.0.2.10"],
            pool: "lan",
            conditions: notAnnounced("no node announces 192.0.2.10: no eligible node"),
          }),
        ],
        slices: [slice("web", ["n1"])],
      }),
    );
    expect(later.services[0]?.reason).toMatch(/node n[12] should announce it but has not said so/);
  });

  it("AddressInUse, announced anyway (True): the conflict is the reason", async () => {
    const r = await explain(
      snapshot({
        services: [
          service("web", {
            ips: ["192.0.2.10"],
            pool: "lan",
            conditions: [
              {
                type: "barelb.io/AnnouncedIPv4",
                status: "True",
                reason: "AddressInUse",
                message:
                  "another host (02:00:00:00:00:99) claims 192.0.2.10; node n1 keeps announcing it",
                lastTransitionTime: new Date(NOW),
              },
            ],
          }),
        ],
        slices: [slice("web", ["n1"])],
      }),
    );
    expect(r.services[0]?.reason).toContain("02:00:00:00:00:99");
  });

  it("speakers' own states and node warnings from their Leases", async () => {
    const r = await explain(
      snapshot({
        nodes: [node("n1"), node("n2"), node("n3"), node("n4")],
        leases: [
          controllerLease(),
          speakerLease("n1", { membership: "held" }),
          speakerLease("n2", { membership: "fenced" }),
          speakerLease("n3", {
            membership: "eligible",
            warnings: [{ kind: "WirelessInterface", message: "wlan0 is Wi-Fi" }],
          }),
        ],
      }),
    );
    expect(r.nodes.map((n) => [n.name, n.state])).toEqual([
      ["n1", "held"],
      ["n2", "fenced"],
      ["n3", "live"],
      ["n4", "absent"],
    ]);
    expect(r.nodes[2]?.warnings).toEqual([
      { kind: "WirelessInterface", message: "wlan0 is Wi-Fi" },
    ]);
    expect(r.warnings).toContainEqual({
      kind: "WirelessInterface",
      object: "Node n3",
      message: "wlan0 is Wi-Fi",
    });
    expectEveryProblemExplained(r);
  });

  it("a pool holding a node's address is a warning", async () => {
    const r = await explain(snapshot({ nodes: [node("n1", {}, "192.0.2.11")] }));
    expect(r.warnings.map((w) => w.kind)).toEqual(["PoolOverlapsNode"]);
  });

  it("another implementation acting on a Service is its reason and a warning", async () => {
    const r = await explain(
      snapshot({
        services: [service("web")],
        foreign: new Map([["default/web", "k3s ServiceLB acts on it"]]),
      }),
    );
    expect(r.services[0]?.reason).toContain("k3s ServiceLB acts on it");
    expect(r.warnings.map((w) => w.kind)).toContain("ForeignLoadBalancer");
  });

  it("Services of another class are left out; what could not be read is named", async () => {
    const other = service("other");
    other.spec = { ...other.spec, loadBalancerClass: "example.com/other" };
    const r = await explain(snapshot({ services: [other], unreadable: ["nodes"] }));
    expect(r.services).toEqual([]);
    expect(r.unreadable).toEqual(["nodes"]);
    expect(renderStatus(r)).toContain("you may not read nodes");
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
