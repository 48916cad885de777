import { describe, expect, it } from "vitest";
import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import { parseConfig, type Config } from "../../../src/config/index.js";
import { announcedIPs, endpointSummaries, nodeFacts } from "../../../src/speaker/world.js";

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
  });
});
