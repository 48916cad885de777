import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { createTestNamespace, eventually, integrationKubeConfig } from "../helpers/k8s.js";
import {
  pools,
  putConfig,
  ServiceFixture,
  startTestController,
  type TestController,
} from "../helpers/controller.js";

// The controller against a real API server, one rule after another; state builds up from
// step to step (MetalLB's allocator tests read the same way).

const kc = integrationKubeConfig();

const smallPool = pools(
  "- name: small",
  "  protocol: layer2",
  "  addresses:",
  "  - 192.0.2.32-192.0.2.34",
  "- name: reserved",
  "  protocol: layer2",
  "  auto-assign: false",
  "  addresses:",
  "  - 198.51.100.10/31",
);

describe.runIf(kc !== null)("controller on a real API server", () => {
  const admin = kc as KubeConfig;
  const core = admin.makeApiClient(CoreV1Api);
  let ns = "";
  let svc: ServiceFixture;
  let ctl: TestController | undefined;
  const lbClass = `barelb.io/it-${Math.random().toString(16).slice(2, 8)}`;

  beforeAll(async () => {
    ns = await createTestNamespace(admin, "it-controller");
    svc = new ServiceFixture(admin, ns, lbClass);
    await putConfig(core, ns, smallPool);
    ctl = startTestController(admin, { namespace: ns, lbClass });
    await ctl.handle.restored;
  });
  afterAll(async () => {
    await ctl?.stop();
    if (ns !== "") await core.deleteNamespace({ name: ns });
  });

  it("gives a new LoadBalancer Service the lowest free IP, in status and annotation", async () => {
    await svc.create("a");
    expect(await svc.waitIPs("a", (ips) => ips.length === 1, "an IP")).toEqual(["192.0.2.32"]);
    const a = await svc.read("a");
    expect(a.status?.loadBalancer?.ingress).toEqual([{ ip: "192.0.2.32", ipMode: "VIP" }]);
    expect(a.metadata?.annotations?.["barelb.io/ip-allocated-from-pool"]).toBe("small");
    await svc.waitEvent("a", "IPAllocated", "Assigned IP 192.0.2.32 from pool small");
  });

  it("ignores Services of another class and other types", async () => {
    await svc.create("other-class", { loadBalancerClass: "someone.else/lb" });
    await svc.create("plain", { type: "ClusterIP", loadBalancerClass: undefined });
    await svc.create("b");
    await svc.waitIPs("b", (ips) => ips.length === 1, "an IP");
    // b was handled after the other two were created: they were seen and left alone.
    expect(await svc.ips("other-class")).toEqual([]);
    expect(await svc.ips("plain")).toEqual([]);
  });

  it("refuses a requested IP held by a Service it may not share with, naming the holder", async () => {
    await svc.create("c", { loadBalancerIP: "192.0.2.32" });
    const ev = await svc.waitEvent("c", "AllocationFailed");
    expect(ev.type).toBe("Warning");
    expect(ev.message).toContain("192.0.2.32");
    expect(ev.message).toContain(`${ns}/a`);
    expect(await svc.ips("c")).toEqual([]);
  });

  it("serves the pool annotation even from an auto-assign: false pool", async () => {
    await svc.create("r", {}, { "metallb.universe.tf/address-pool": "reserved" });
    expect(await svc.waitIPs("r", (ips) => ips.length === 1, "an IP")).toEqual(["198.51.100.10"]);
  });

  it("gives a deleted Service's IP to the pending Service that asked for it", async () => {
    await svc.delete("a");
    expect(await svc.waitIPs("c", (ips) => ips.length === 1, "the freed IP")).toEqual([
      "192.0.2.32",
    ]);
  });

  it("keeps the old pools when the ConfigMap is edited into an invalid config", async () => {
    const before = await svc.ips("b");
    await putConfig(
      core,
      ns,
      pools("- name: small", "  protocol: arp", "  addresses: [192.0.2.300/24]"),
    );
    const ev = await svc.waitEvent("barelb-config", "InvalidConfig");
    expect(ev.type).toBe("Warning");
    expect(ev.message).toContain('pool "small": addresses[0] "192.0.2.300/24"');
    expect(ev.message).toContain('pool "small": protocol "arp": unknown protocol');
    await eventually("stale gauge", async () =>
      (await ctl?.handle.registry.getSingleMetricAsString("barelb_config_stale"))?.includes(
        "barelb_config_stale 1",
      )
        ? true
        : undefined,
    );
    // Still allocating from the last good config, and nothing moved.
    await svc.create("d");
    expect(await svc.waitIPs("d", (ips) => ips.length === 1, "an IP")).toEqual(["192.0.2.34"]);
    expect(await svc.ips("b")).toEqual(before);
  });

  it("applies a valid edit live: a removed pool's Services lose their IPs and are told why", async () => {
    await putConfig(
      core,
      ns,
      pools("- name: small", "  protocol: layer2", "  addresses:", "  - 192.0.2.32-192.0.2.35"),
    );
    const ev = await svc.waitEvent("r", "AllocationFailed", "reserved");
    expect(ev.message).toContain("reserved");
    await svc.waitIPs("r", (ips) => ips.length === 0, "its IP cleared");
    const r = await svc.read("r");
    expect(r.metadata?.annotations?.["barelb.io/ip-allocated-from-pool"]).toBeUndefined();
    await svc.waitEvent("r", "ClearAssignment", "198.51.100.10");
    expect(
      (await ctl?.handle.registry.getSingleMetricAsString("barelb_config_stale")) ?? "",
    ).toContain("barelb_config_stale 0");
  });

  it("frees the IP when a Service stops being a LoadBalancer, for a pending one to take", async () => {
    await svc.create("e"); // pool of 4: b .33, c .32, d .34, e .35
    expect(await svc.waitIPs("e", (ips) => ips.length === 1, "an IP")).toEqual(["192.0.2.35"]);
    await svc.create("f");
    await svc.waitEvent("f", "AllocationFailed", "small");
    await svc.core.patchNamespacedService({
      name: "d",
      namespace: ns,
      body: [
        { op: "replace", path: "/spec/type", value: "ClusterIP" },
        { op: "remove", path: "/spec/loadBalancerClass" },
      ],
    });
    expect(await svc.waitIPs("f", (ips) => ips.length === 1, "d's IP")).toEqual(["192.0.2.34"]);
    const d = await svc.read("d");
    expect(d.status?.loadBalancer?.ingress ?? []).toEqual([]);
    expect(d.metadata?.annotations?.["barelb.io/ip-allocated-from-pool"]).toBeUndefined();
  });

  it("moves nothing, and writes nothing, when the controller restarts", async () => {
    const names = ["b", "c", "e", "f"];
    const before = await Promise.all(names.map((n) => svc.ips(n)));
    await ctl?.stop();
    ctl = startTestController(admin, { namespace: ns, lbClass });
    await ctl.handle.restored;
    await eventually("controller idle", () => (ctl?.handle.idle() ? true : undefined));
    expect(await Promise.all(names.map((n) => svc.ips(n)))).toEqual(before);
    expect(ctl.handle.writer.writes).toBe(0);
  });

  it("writes the ipMode a Service asks for (barelb.io/ip-mode), which the API server keeps", async () => {
    const ipMode = async () =>
      ((await svc.read("b")).status?.loadBalancer?.ingress ?? []).map((i) => i.ipMode);
    // b holds the ip-allocated-from-pool annotation, so the annotations object exists.
    const path = "/metadata/annotations/barelb.io~1ip-mode";
    const annotate = (value: string | null) =>
      svc.core.patchNamespacedService({
        name: "b",
        namespace: ns,
        body: [value === null ? { op: "remove", path } : { op: "add", path, value }],
      });
    const ips = await svc.ips("b");
    await annotate("Proxy");
    await eventually("ipMode Proxy", async () =>
      (await ipMode()).join() === "Proxy" ? true : undefined,
    );
    expect(await svc.ips("b")).toEqual(ips);
    await annotate("DSR");
    await svc.waitEvent("b", "AllocationFailed", "barelb.io/ip-mode");
    expect(await ipMode()).toEqual(["Proxy"]);
    await annotate(null);
    await eventually("ipMode VIP", async () =>
      (await ipMode()).join() === "VIP" ? true : undefined,
    );
    expect(await svc.ips("b")).toEqual(ips);
  });
});
