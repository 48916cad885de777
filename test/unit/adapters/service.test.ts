import { describe, expect, it } from "vitest";
import type { V1Service } from "@kubernetes/client-node";
import { annotation, isHandled, statusIPs, toRequest } from "../../../src/adapters/service.js";

const svc = (
  over: {
    spec?: V1Service["spec"];
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  } = {},
): V1Service => ({
  metadata: {
    namespace: "shop",
    name: "web",
    annotations: over.annotations ?? {},
    labels: over.labels ?? {},
  },
  spec: {
    type: "LoadBalancer",
    ports: [{ port: 80, protocol: "TCP" }],
    selector: { app: "web" },
    ...over.spec,
  },
});

describe("which Services the controller handles", () => {
  it.each([
    ["LoadBalancer, no class, no --lb-class", svc(), undefined, true],
    ["ClusterIP", svc({ spec: { type: "ClusterIP" } }), undefined, false],
    ["NodePort", svc({ spec: { type: "NodePort" } }), undefined, false],
    [
      "another class, no --lb-class",
      svc({ spec: { type: "LoadBalancer", loadBalancerClass: "other" } }),
      undefined,
      false,
    ],
    ["no class, --lb-class set", svc(), "barelb.io/lb", false],
    [
      "the --lb-class class",
      svc({ spec: { type: "LoadBalancer", loadBalancerClass: "barelb.io/lb" } }),
      "barelb.io/lb",
      true,
    ],
    [
      "another class, --lb-class set",
      svc({ spec: { type: "LoadBalancer", loadBalancerClass: "x" } }),
      "barelb.io/lb",
      false,
    ],
  ])("%s → %s", (_name, s, cls, expected) => {
    expect(isHandled(s, cls)).toBe(expected);
  });
});

describe("annotations", () => {
  it("prefers barelb.io over metallb.io over metallb.universe.tf", () => {
    const s = svc({
      annotations: {
        "metallb.universe.tf/address-pool": "old",
        "metallb.io/address-pool": "mid",
        "barelb.io/address-pool": "new",
      },
    });
    expect(annotation(s, "address-pool")).toEqual({ key: "barelb.io/address-pool", value: "new" });
    expect(
      annotation(
        svc({ annotations: { "metallb.universe.tf/address-pool": "old" } }),
        "address-pool",
      )?.value,
    ).toBe("old");
  });
});

describe("Service → allocator request", () => {
  it("maps a plain Service", () => {
    expect(toRequest(svc({ labels: { tier: "front" } }))).toEqual({
      ok: true,
      request: {
        key: "shop/web",
        namespace: "shop",
        labels: { tier: "front" },
        families: [4],
        familyPolicy: "SingleStack",
        requestedIPs: [],
        pool: undefined,
        sharingKey: "",
        ports: [{ protocol: "TCP", port: 80 }],
        backendKey: "",
      },
    });
  });

  it("reads dual-stack families in order", () => {
    const r = toRequest(
      svc({
        spec: {
          type: "LoadBalancer",
          ipFamilies: ["IPv6", "IPv4"],
          ipFamilyPolicy: "RequireDualStack",
        },
      }),
    );
    expect(r.ok && [r.request.families, r.request.familyPolicy]).toEqual([
      [6, 4],
      "RequireDualStack",
    ]);
  });

  it("takes requested IPs from spec.loadBalancerIP or the annotation (any spelling)", () => {
    const a = toRequest(svc({ spec: { type: "LoadBalancer", loadBalancerIP: "192.0.2.40" } }));
    expect(a.ok && a.request.requestedIPs).toEqual(["192.0.2.40"]);
    const b = toRequest(
      svc({ annotations: { "metallb.universe.tf/loadBalancerIPs": "192.0.2.40, 2001:db8::40" } }),
    );
    expect(b.ok && b.request.requestedIPs).toEqual(["192.0.2.40", "2001:db8::40"]);
    const same = toRequest(
      svc({
        spec: { type: "LoadBalancer", loadBalancerIP: "192.0.2.40" },
        annotations: { "barelb.io/loadBalancerIPs": "192.0.2.40" },
      }),
    );
    expect(same.ok).toBe(true);
  });

  it("refuses different IPs in spec.loadBalancerIP and the annotation, naming both", () => {
    const r = toRequest(
      svc({
        spec: { type: "LoadBalancer", loadBalancerIP: "192.0.2.40" },
        annotations: { "barelb.io/loadBalancerIPs": "192.0.2.41" },
      }),
    );
    expect(r.ok).toBe(false);
    expect(!r.ok && r.field).toBe("barelb.io/loadBalancerIPs");
    expect(!r.ok && r.message).toContain("spec.loadBalancerIP (192.0.2.40)");
    expect(!r.ok && r.message).toContain("(192.0.2.41)");
  });

  it("keys Local services by their selector, Cluster services by nothing", () => {
    const local = toRequest(
      svc({
        spec: {
          type: "LoadBalancer",
          externalTrafficPolicy: "Local",
          selector: { b: "2", a: "1" },
        },
      }),
    );
    expect(local.ok && local.request.backendKey).toBe("local:a=1,b=2");
    const cluster = toRequest(
      svc({ spec: { type: "LoadBalancer", externalTrafficPolicy: "Cluster" } }),
    );
    expect(cluster.ok && cluster.request.backendKey).toBe("");
  });

  it("reads pool and sharing annotations, trimmed", () => {
    const r = toRequest(
      svc({
        annotations: { "barelb.io/address-pool": " lan ", "metallb.io/allow-shared-ip": " key1 " },
      }),
    );
    expect(r.ok && [r.request.pool, r.request.sharingKey]).toEqual(["lan", "key1"]);
  });
});

describe("status", () => {
  it("reads ingress IPs in order", () => {
    const s: V1Service = {
      ...svc(),
      status: {
        loadBalancer: {
          ingress: [{ ip: "192.0.2.40" }, { hostname: "x" }, { ip: "2001:db8::40" }],
        },
      },
    };
    expect(statusIPs(s)).toEqual(["192.0.2.40", "2001:db8::40"]);
  });
});
