import { describe, expect, it } from "vitest";
import type { V1ManagedFieldsEntry, V1Pod, V1Service } from "@kubernetes/client-node";
import {
  FOREIGN_WRITE_HOLD_MS,
  foreignFinding,
  foreignLoadBalancers,
  loadBalancerWriter,
  SERVICELB_NAME_LABEL,
  SERVICELB_NAMESPACE_LABEL,
  serviceLBPods,
  slimManagedFields,
  standsBack,
} from "../../../src/adapters/foreign-lb.js";

const T0 = Date.parse("2026-03-01T10:00:00Z");
const at = (s: number) => new Date(T0 + s * 1000).toISOString().replace(".000Z", "Z");

/** A managedFields entry of the status subresource, `s` seconds after T0. */
function entry(manager: string, s: number, fields: "loadBalancer" | "annotation" | "conditions") {
  const f =
    fields === "loadBalancer"
      ? { "f:status": { "f:loadBalancer": { "f:ingress": {} } } }
      : fields === "annotation"
        ? { "f:metadata": { "f:annotations": { "f:barelb.io/ip-allocated-from-pool": {} } } }
        : { "f:status": { "f:conditions": {} } };
  return {
    manager,
    operation: fields === "conditions" ? "Apply" : "Update",
    subresource: "status",
    time: at(s),
    fieldsV1: f,
  } as unknown as V1ManagedFieldsEntry;
}

function service(name: string, fields: V1ManagedFieldsEntry[] = [], type = "LoadBalancer") {
  return {
    metadata: { name, namespace: "web", managedFields: fields },
    spec: { type },
  } as V1Service;
}

function pod(name: string, namespace: string, labels: Record<string, string>): V1Pod {
  return { metadata: { name, namespace, labels } };
}

const svclb = (svc: string, svcNamespace: string | undefined, ns = "kube-system") =>
  pod(`svclb-${svc}-1a2b3c4d-x${Math.random().toString(36).slice(2, 6)}`, ns, {
    [SERVICELB_NAME_LABEL]: svc,
    ...(svcNamespace === undefined ? {} : { [SERVICELB_NAMESPACE_LABEL]: svcNamespace }),
  });

describe("foreignFinding: who wrote the status", () => {
  const cases: {
    name: string;
    fields: V1ManagedFieldsEntry[];
    want: undefined | { managers: string[]; writtenAt: number };
  }[] = [
    { name: "nobody wrote it", fields: [], want: undefined },
    {
      name: "only barelb's controller",
      fields: [entry("barelb-controller", 5, "loadBalancer")],
      want: undefined,
    },
    {
      name: "barelb under the user agent's name (before it named its manager)",
      fields: [entry("barelb", 5, "loadBalancer")],
      want: undefined,
    },
    {
      name: "the speakers write only conditions",
      fields: [
        entry("barelb-controller", 5, "loadBalancer"),
        entry("barelb-speaker-ipv4", 9, "conditions"),
      ],
      want: undefined,
    },
    {
      name: "MetalLB left it and barelb never wrote: the takeover, not a fight",
      fields: [entry("controller", 1, "loadBalancer")],
      want: undefined,
    },
    {
      name: "MetalLB left it, then barelb wrote its annotation keeping the IPs",
      fields: [entry("controller", 1, "loadBalancer"), entry("barelb-controller", 7, "annotation")],
      want: undefined,
    },
    {
      name: "someone wrote it after barelb: a fight",
      fields: [entry("barelb-controller", 5, "annotation"), entry("k3s", 8, "loadBalancer")],
      want: { managers: ["k3s"], writtenAt: T0 + 8_000 },
    },
    {
      name: "in the same second as barelb: cannot be ordered, does not count",
      fields: [entry("barelb-controller", 5, "annotation"), entry("svclb", 5, "loadBalancer")],
      want: undefined,
    },
    {
      name: "a second after barelb",
      fields: [entry("barelb-controller", 5, "annotation"), entry("svclb", 6, "loadBalancer")],
      want: { managers: ["svclb"], writtenAt: T0 + 6_000 },
    },
    {
      name: "two others; the newest time",
      fields: [
        entry("barelb-controller", 5, "annotation"),
        entry("metallb-controller", 6, "loadBalancer"),
        entry("k3s", 9, "loadBalancer"),
      ],
      want: { managers: ["k3s", "metallb-controller"], writtenAt: T0 + 9_000 },
    },
    {
      name: "a manager that writes the status but not status.loadBalancer",
      fields: [entry("barelb-controller", 5, "annotation"), entry("kube-vip", 9, "conditions")],
      want: undefined,
    },
    {
      name: "the API server's own bookkeeping",
      fields: [
        entry("barelb-controller", 5, "annotation"),
        entry("before-first-apply", 9, "loadBalancer"),
      ],
      want: undefined,
    },
  ];
  it.each(cases)("$name", ({ fields, want }) => {
    const f = foreignFinding(service("s", fields));
    if (want === undefined) {
      expect(f).toBeUndefined();
      return;
    }
    expect(f?.kind).toBe("StatusWriter");
    expect(f?.managers).toEqual(want.managers);
    expect(f?.writtenAt).toBe(want.writtenAt);
    for (const m of want.managers) expect(f?.message).toContain(`"${m}"`);
    expect(f?.message).toContain("loadBalancerClass");
    expect(f?.message).toContain("--disable servicelb");
    expect(f?.message).not.toContain("\n");
  });

  it("reads entries whose time is a Date (client-node's objects) as well as a string", () => {
    const e = entry("k3s", 8, "loadBalancer");
    const dated = { ...e, time: new Date(T0 + 8_000) } as V1ManagedFieldsEntry;
    const own = { ...entry("barelb-controller", 5, "annotation"), time: new Date(T0 + 5_000) };
    expect(foreignFinding(service("s", [own as V1ManagedFieldsEntry, dated]))?.writtenAt).toBe(
      T0 + 8_000,
    );
  });

  it("ignores Services that are not LoadBalancers", () => {
    const fields = [entry("barelb-controller", 5, "annotation"), entry("k3s", 8, "loadBalancer")];
    expect(foreignFinding(service("s", fields, "ClusterIP"), ["kube-system/svclb-s-1"])).toBe(
      undefined,
    );
  });
});

describe("foreignLoadBalancers: k3s ServiceLB's pods", () => {
  const services = [service("a"), service("b"), service("c")];

  it("names the Services whose ServiceLB pods exist, by either labelling", () => {
    const pods = [
      svclb("a", "web"), // newer k3s: kube-system, namespace label
      svclb("a", "web"),
      svclb("b", undefined, "web"), // older k3s: the Service's own namespace, no namespace label
      svclb("c", "other"), // a Service c in another namespace
      svclb("c", undefined, "klipper-lb"), // no namespace label, not in the Service's namespace
      pod("web-1", "web", { app: "a" }),
    ];
    const found = foreignLoadBalancers(pods, services);
    expect([...found.keys()].sort()).toEqual(["web/a", "web/b"]);
    const msg = found.get("web/a") ?? "";
    expect(msg).toMatch(/^k3s ServiceLB also acts on this Service \(pod kube-system\/svclb-a-/);
    expect(msg).toContain("and 1 more");
    expect(msg).toContain("--disable servicelb");
    expect(msg).toContain("loadBalancerClass");
    expect(found.get("web/b")).toContain("(pod web/svclb-b-");
    expect(found.get("web/b")).not.toContain("more");
  });

  it("says also who wrote the status, when ServiceLB's pods and its writes are both seen", () => {
    const fields = [entry("barelb-controller", 5, "annotation"), entry("k3s", 8, "loadBalancer")];
    const f = foreignFinding(service("a", fields), ["kube-system/svclb-a-1"]);
    expect(f?.kind).toBe("ServiceLB");
    expect(f?.managers).toEqual(["k3s"]);
    expect(f?.message).toContain('field manager "k3s" wrote its status.loadBalancer after barelb');
  });

  it("indexes pods by Service, sorted", () => {
    const idx = serviceLBPods([
      pod("svclb-a-2", "kube-system", {
        [SERVICELB_NAME_LABEL]: "a",
        [SERVICELB_NAMESPACE_LABEL]: "web",
      }),
      pod("svclb-a-1", "kube-system", {
        [SERVICELB_NAME_LABEL]: "a",
        [SERVICELB_NAMESPACE_LABEL]: "web",
      }),
      pod("x", "kube-system", { [SERVICELB_NAME_LABEL]: "" }),
    ]);
    expect([...idx]).toEqual([["web/a", ["kube-system/svclb-a-1", "kube-system/svclb-a-2"]]]);
  });
});

describe("standsBack", () => {
  const writer = (s: number) =>
    foreignFinding(
      service("s", [entry("barelb-controller", 0, "annotation"), entry("k3s", s, "loadBalancer")]),
    );

  it("holds for ever while ServiceLB's pods are there, and not at all without a finding", () => {
    expect(standsBack(foreignFinding(service("s"), ["kube-system/svclb-s-1"]), T0)).toBe(Infinity);
    expect(standsBack(undefined, T0)).toBe(0);
  });

  it("holds a minute after another writer's last write, then lets barelb write once", () => {
    expect(standsBack(writer(10), T0 + 10_000)).toBe(FOREIGN_WRITE_HOLD_MS);
    expect(standsBack(writer(10), T0 + 40_000)).toBe(FOREIGN_WRITE_HOLD_MS - 30_000);
    expect(standsBack(writer(10), T0 + 70_000)).toBe(0);
    expect(standsBack(writer(10), T0 + 900_000)).toBe(0);
  });

  it("never holds longer than the hold when the API server's clock is ahead", () => {
    expect(standsBack(writer(3600), T0)).toBe(FOREIGN_WRITE_HOLD_MS);
  });
});

describe("slimManagedFields", () => {
  it("keeps barelb's controller's and the status.loadBalancer writers' entries, nothing else", () => {
    const fields = [
      {
        manager: "kubectl-client-side-apply",
        operation: "Update",
        time: at(0),
        fieldsV1: { "f:spec": {} },
      },
      entry("barelb-controller", 5, "annotation"),
      entry("barelb-speaker-ipv4", 6, "conditions"),
      entry("k3s", 8, "loadBalancer"),
    ] as V1ManagedFieldsEntry[];
    const slim = slimManagedFields(fields);
    expect(slim?.map((e) => e.manager)).toEqual(["barelb-controller", "k3s"]);
    expect(slim?.[0]?.fieldsV1).toBeUndefined();
    // What the finding needs survives the cut.
    expect(foreignFinding(service("s", slim))?.managers).toEqual(["k3s"]);
    expect(slimManagedFields([entry("kube-vip", 1, "conditions")])).toBeUndefined();
    // Only barelb wrote it (nearly every Service): nothing is kept.
    expect(
      slimManagedFields([
        entry("barelb-controller", 5, "loadBalancer"),
        entry("barelb-speaker-ipv6", 6, "conditions"),
        entry("before-first-apply", 1, "loadBalancer"),
      ]),
    ).toBeUndefined();
    expect(slimManagedFields(undefined)).toBeUndefined();
  });
});

describe("loadBalancerWriter", () => {
  it("names who last wrote status.loadBalancer, if managedFields say", () => {
    expect(loadBalancerWriter(service("s", [entry("barelb-controller", 1, "loadBalancer")]))).toBe(
      "barelb",
    );
    expect(loadBalancerWriter(service("s", [entry("barelb", 1, "loadBalancer")]))).toBe("barelb");
    expect(
      loadBalancerWriter(
        service("s", [
          entry("barelb-controller", 1, "annotation"),
          entry("k3s", 2, "loadBalancer"),
        ]),
      ),
    ).toBe("other");
    // Taken over: MetalLB's controller still owns the ingress barelb kept as it was, but barelb
    // wrote the status since (its pool annotation); in the same second, it cannot be told.
    for (const [s, want] of [
      [2, "barelb"],
      [1, "other"],
    ] as const) {
      expect(
        loadBalancerWriter(
          service("s", [
            entry("controller", 1, "loadBalancer"),
            entry("barelb-controller", s, "annotation"),
          ]),
        ),
      ).toBe(want);
    }
    expect(loadBalancerWriter(service("s", [entry("barelb-speaker-ipv4", 1, "conditions")]))).toBe(
      undefined,
    );
    expect(loadBalancerWriter(service("s"))).toBeUndefined();
  });
});
