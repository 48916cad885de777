import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import { parseConfig, type Config } from "../../../src/config/index.js";
import { eventTarget } from "../../../src/adapters/service.js";
import {
  announcedIPs,
  endpointSummaries,
  nodeFacts,
  layer2IPs,
  slimEndpointSlice,
  slimNode,
  slimService,
} from "../../../src/speaker/world.js";

const config = ((): Config => {
  const r = parseConfig(`address-pools:
- name: lan
  protocol: layer2
  addresses: [192.0.2.32/27]
  interfaces: [eth1]
  node-selectors:
  - matchLabels: {zone: a}
- name: v6
  protocol: layer2
  addresses: [2001:db8::1:0/112]
- name: routed
  protocol: bgp
  addresses: [198.51.100.0/28]
`);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join("\n"));
  return r.config;
})();

const service = (
  name: string,
  ips: string[],
  over: Partial<V1Service["spec"]> = {},
  pool?: string,
): V1Service => ({
  metadata: {
    namespace: "shop",
    name,
    annotations: pool ? { "barelb.io/ip-allocated-from-pool": pool } : {},
  },
  spec: { type: "LoadBalancer", ...over },
  status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
});

const slice = (svc: string, endpoints: V1EndpointSlice["endpoints"]): V1EndpointSlice => ({
  addressType: "IPv4",
  metadata: { namespace: "shop", name: `${svc}-x`, labels: { "kubernetes.io/service-name": svc } },
  endpoints,
});

describe("speaker world", () => {
  it("reads Node labels and the NetworkUnavailable condition", () => {
    const n: V1Node = {
      metadata: { name: "n1", labels: { zone: "a" } },
      status: { conditions: [{ type: "NetworkUnavailable", status: "True" }] },
    };
    expect(nodeFacts(n)).toEqual({ name: "n1", labels: { zone: "a" }, networkUnavailable: true });
    expect(nodeFacts({ metadata: { name: "n2" } }).networkUnavailable).toBe(false);
  });

  it("counts ready and serving endpoints per node, not unready ones", () => {
    const sums = endpointSummaries([
      slice("web", [
        { addresses: ["10.0.0.1"], nodeName: "n1", conditions: { ready: true } },
        { addresses: ["10.0.0.2"], nodeName: "n2", conditions: {} }, // nil ready = ready
        { addresses: ["10.0.0.3"], nodeName: "n3", conditions: { ready: false } },
        {
          addresses: ["10.0.0.4"],
          nodeName: "n4",
          conditions: { ready: false, serving: true, terminating: true },
        },
      ]),
      slice("web", [{ addresses: ["10.0.0.5"], nodeName: "n5", conditions: { ready: true } }]),
    ]);
    expect(sums.get("shop/web")).toEqual({ nodes: new Set(["n1", "n2", "n4", "n5"]), ready: 4 });
  });

  it("groups Services by IP, finds each IP's pool, and skips Services barelb does not handle", () => {
    const ips = announcedIPs(
      [
        service("a", ["192.0.2.40"], { externalTrafficPolicy: "Local" }, "lan"),
        service("b", ["192.0.2.40"]), // shares a's IP; pool found by address
        service("c", ["2001:db8:0:0::1:5"]), // any spelling: keys are canonical
        service("other", ["192.0.2.41"], { loadBalancerClass: "someone.else/lb" }),
        service("plain", ["192.0.2.42"], { type: "ClusterIP" }),
      ],
      endpointSummaries([slice("a", [{ addresses: ["10.0.0.1"], nodeName: "n1" }])]),
      config,
      undefined,
    );
    expect([...ips.keys()]).toEqual(["192.0.2.40", "2001:db8::1:5"]);
    const shared = ips.get("192.0.2.40");
    expect(shared?.pool).toBe("lan");
    expect(shared?.interfaces).toEqual(["eth1"]);
    expect(shared?.nodeSelectors).toHaveLength(1);
    expect(
      shared?.services.map((s) => [s.key, s.local, s.readyEndpoints, [...s.endpointNodes]]),
    ).toEqual([
      ["shop/a", true, 1, ["n1"]],
      ["shop/b", false, 0, []],
    ]);
    expect(ips.get("2001:db8::1:5")?.pool).toBe("v6");
    expect([...ips.values()].map((i) => i.protocol)).toEqual(["layer2", "layer2"]);
  });

  it("gives each IP its pool's protocol; an IP in no pool counts as layer 2", () => {
    const ips = announcedIPs(
      [
        service("a", ["198.51.100.3"]),
        service("b", ["192.0.2.40"]),
        service("c", ["198.51.100.200"]), // in no pool (the pool was removed)
      ],
      new Map(),
      config,
      undefined,
    );
    expect([...ips.values()].map((i) => [i.ip, i.pool, i.protocol])).toEqual([
      ["198.51.100.3", "routed", "bgp"],
      ["192.0.2.40", "lan", "layer2"],
      ["198.51.100.200", undefined, "layer2"],
    ]);
    expect([...layer2IPs(ips.values())].map((i) => i.ip)).toEqual(["192.0.2.40", "198.51.100.200"]);
  });

  it("reads each Service's preferred node (barelb.io/preferred-node, trimmed; empty is none)", () => {
    const withPreference = (name: string, ip: string, value: string): V1Service => {
      const s = service(name, [ip]);
      return {
        ...s,
        metadata: { ...s.metadata, annotations: { "barelb.io/preferred-node": value } },
      };
    };
    const ips = announcedIPs(
      [
        withPreference("a", "192.0.2.40", " n2 "),
        withPreference("b", "192.0.2.41", ""),
        service("c", ["192.0.2.42"]),
      ],
      endpointSummaries([]),
      config,
      undefined,
    );
    expect([...ips.values()].map((i) => i.services[0]?.preferredNode)).toEqual([
      "n2",
      undefined,
      undefined,
    ]);
  });
});

// ---- the slim cache copies ------------------------------------------------------------------

const word = fc.constantFrom("a", "b", "web", "db", "x");
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const annotationKey = fc.constantFrom(
  "barelb.io/ip-allocated-from-pool",
  "metallb.universe.tf/ip-allocated-from-pool",
  "barelb.io/allow-shared-ip",
  "barelb.io/preferred-node",
  "kubectl.kubernetes.io/last-applied-configuration",
  "example.com/other",
);
const fullService: fc.Arbitrary<V1Service> = fc.record({
  metadata: fc.record({
    namespace: word,
    name: word,
    uid: fc.uuid(),
    resourceVersion: fc.nat().map(String),
    labels: fc.dictionary(word, word),
    annotations: maybe(fc.dictionary(annotationKey, fc.constantFrom("lan", "v6", "nope", "k"))),
    managedFields: fc.constant([{ manager: "kubectl", operation: "Apply" }]),
  }),
  spec: fc.record({
    type: fc.constantFrom("LoadBalancer", "ClusterIP", "NodePort"),
    loadBalancerClass: maybe(fc.constantFrom("", "someone.else/lb")),
    externalTrafficPolicy: maybe(fc.constantFrom("Cluster", "Local")),
    ports: fc.constant([{ name: "http", port: 80, protocol: "TCP" }]),
    selector: fc.dictionary(word, word),
    clusterIP: fc.constant("10.96.0.10"),
  }),
  status: maybe(
    fc.record({
      loadBalancer: fc.record({
        ingress: maybe(
          fc.array(
            fc.record({
              ip: maybe(fc.constantFrom("192.0.2.40", "192.0.2.41", "2001:db8::1:5", "bad")),
              hostname: maybe(fc.constant("lb.example")),
              ipMode: maybe(fc.constant("VIP")),
            }),
            { maxLength: 2 },
          ),
        ),
      }),
    }),
  ),
});
const fullSlice: fc.Arbitrary<V1EndpointSlice> = fc.record({
  addressType: fc.constantFrom("IPv4", "IPv6"),
  metadata: fc.record({
    namespace: word,
    name: word,
    resourceVersion: fc.nat().map(String),
    labels: maybe(
      fc.record(
        {
          "kubernetes.io/service-name": word,
          "endpointslice.kubernetes.io/managed-by": fc.constant("endpointslice-controller"),
        },
        { requiredKeys: ["endpointslice.kubernetes.io/managed-by"] },
      ),
    ),
  }),
  endpoints: fc.array(
    fc.record({
      addresses: fc.constant(["10.0.0.1"]),
      nodeName: maybe(fc.constantFrom("n1", "n2", "n3")),
      zone: maybe(fc.constant("z1")),
      conditions: maybe(fc.record({ ready: maybe(fc.boolean()), serving: maybe(fc.boolean()) })),
      targetRef: fc.constant({ kind: "Pod", name: "p" }),
    }),
    { maxLength: 4 },
  ),
  ports: fc.constant([{ name: "http", port: 80 }]),
});
const fullNode: fc.Arbitrary<V1Node> = fc.record({
  metadata: fc.record({
    name: fc.constantFrom("n1", "n2", "n3"),
    resourceVersion: fc.nat().map(String),
    labels: maybe(
      fc.dictionary(
        fc.constantFrom("zone", "node.kubernetes.io/exclude-from-external-load-balancers"),
        word,
      ),
    ),
  }),
  status: fc.record({
    conditions: fc.array(
      fc.record({
        type: fc.constantFrom("Ready", "NetworkUnavailable", "MemoryPressure"),
        status: fc.constantFrom("True", "False", "Unknown"),
        reason: fc.constant("KubeletReady"),
      }),
      { maxLength: 3 },
    ),
    images: fc.constant([{ names: ["registry.example/app:1"], sizeBytes: 1 }]),
    addresses: fc.constant([{ type: "InternalIP", address: "192.0.2.11" }]),
  }),
});

/** What the speaker reads of the world: the election facts and its Events' targets. */
function view(services: V1Service[], slices: V1EndpointSlice[], lbClass: string | undefined) {
  const ips = announcedIPs(services, endpointSummaries(slices), config, lbClass);
  return [...ips].map(([ip, a]) => ({
    ip,
    pool: a.pool,
    interfaces: a.interfaces,
    nodeSelectors: a.nodeSelectors,
    services: a.services.map((f) => ({ ...f, endpointNodes: [...f.endpointNodes].sort() })),
    targets: a.holders.map(eventTarget),
  }));
}

describe("speaker cache copies", () => {
  it("give the same election facts and Event targets as the full objects", () => {
    fc.assert(
      fc.property(
        fc.array(fullService, { maxLength: 6 }),
        fc.array(fullSlice, { maxLength: 6 }),
        fc.array(fullNode, { maxLength: 3 }),
        maybe(fc.constant("someone.else/lb")),
        (services, slices, nodes, lbClass) => {
          // The copies are made first: the originals must come out of it unchanged too.
          const before = structuredClone({ services, slices, nodes });
          const slim = {
            services: services.map(slimService),
            slices: slices.map(slimEndpointSlice),
            nodes: nodes.map(slimNode),
          };
          expect({ services, slices, nodes }).toEqual(before);
          expect(view(slim.services, slim.slices, lbClass)).toEqual(
            view(services, slices, lbClass),
          );
          expect(slim.nodes.map(nodeFacts)).toEqual(nodes.map(nodeFacts));
          for (const [i, s] of slim.services.entries()) {
            expect(s.metadata?.resourceVersion).toBe(services[i]?.metadata?.resourceVersion);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("drop what the speaker never reads", () => {
    const svc = slimService({
      metadata: {
        name: "web",
        namespace: "shop",
        annotations: {
          "kubectl.kubernetes.io/last-applied-configuration": "{...}",
          "barelb.io/ip-allocated-from-pool": "lan",
        },
        labels: { app: "web" },
      },
      spec: { type: "LoadBalancer", ports: [{ port: 80 }], selector: { app: "web" } },
    });
    expect(svc.metadata?.annotations).toEqual({ "barelb.io/ip-allocated-from-pool": "lan" });
    expect(svc.metadata?.labels).toBeUndefined();
    expect(svc.spec?.ports).toBeUndefined();
    const node = slimNode({
      metadata: { name: "n1" },
      status: {
        images: [{ names: ["app:1"], sizeBytes: 1 }],
        conditions: [{ type: "Ready", status: "True" }],
      },
    });
    expect(node.status).toEqual({ conditions: [] });
  });
});
