import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { createTestNamespace, eventually, integrationKubeConfig } from "../helpers/k8s.js";
import {
  putConfig,
  ServiceFixture,
  startTestController,
  type TestController,
} from "../helpers/controller.js";

// The controller hands out a BGP pool's IPs exactly as a layer-2 pool's: the protocol only
// changes who announces them (the speakers), never who gets which IP. State builds up from
// step to step.

const kc = integrationKubeConfig();

/** MetalLB v0.12's BGP form, as its documentation writes it, beside a layer-2 pool. */
const config = (routedProtocol: "bgp" | "layer2") => `peers:
- peer-address: 192.0.2.1
  peer-asn: 64501
  my-asn: 64500
bgp-communities:
  no-advertise: 65535:65282
address-pools:
- name: routed
  protocol: ${routedProtocol}
  addresses:
  - 198.51.100.20-198.51.100.21
${
  routedProtocol === "bgp"
    ? `  bgp-advertisements:
  - aggregation-length: 32
    localpref: 100
    communities: [no-advertise]
`
    : ""
}- name: lan
  protocol: layer2
  addresses:
  - 192.0.2.32/31
${routedProtocol === "layer2" ? "- name: late\n  protocol: layer2\n  addresses: [192.0.2.40/32]\n" : ""}`;

describe.runIf(kc !== null)("controller with a BGP pool, on a real API server", () => {
  const admin = kc as KubeConfig;
  const core = admin.makeApiClient(CoreV1Api);
  let ns = "";
  let svc: ServiceFixture;
  let ctl: TestController | undefined;
  const lbClass = `barelb.io/it-${Math.random().toString(16).slice(2, 8)}`;

  beforeAll(async () => {
    ns = await createTestNamespace(admin, "it-controller-bgp");
    svc = new ServiceFixture(admin, ns, lbClass);
    await putConfig(core, ns, config("bgp"));
    ctl = startTestController(admin, { namespace: ns, lbClass });
    await ctl.handle.restored;
  });
  afterAll(async () => {
    await ctl?.stop();
    if (ns !== "") await core.deleteNamespace({ name: ns });
  });

  it("loads the config with peers and a BGP pool", async () => {
    await eventually("config loaded", async () => {
      const text =
        (await ctl?.handle.registry.getSingleMetricAsString("barelb_config_loaded")) ?? "";
      return text.includes("barelb_config_loaded 1") ? true : undefined;
    });
    expect(
      (await ctl?.handle.registry.getSingleMetricAsString("barelb_config_stale")) ?? "",
    ).toContain("barelb_config_stale 0");
  });

  it("gives a new Service the BGP pool's first IP, in status, annotation and Event", async () => {
    await svc.create("a");
    expect(await svc.waitIPs("a", (ips) => ips.length === 1, "an IP")).toEqual(["198.51.100.20"]);
    const a = await svc.read("a");
    expect(a.metadata?.annotations?.["barelb.io/ip-allocated-from-pool"]).toBe("routed");
    await svc.waitEvent("a", "IPAllocated", "Assigned IP 198.51.100.20 from pool routed");
  });

  it("serves a requested IP and the pool annotation, from either protocol's pool", async () => {
    await svc.create("r", { loadBalancerIP: "198.51.100.21" });
    expect(await svc.waitIPs("r", (ips) => ips.length === 1, "an IP")).toEqual(["198.51.100.21"]);
    await svc.create("l", {}, { "metallb.universe.tf/address-pool": "lan" });
    expect(await svc.waitIPs("l", (ips) => ips.length === 1, "an IP")).toEqual(["192.0.2.32"]);
  });

  it("goes on to the next pool, layer 2, when the BGP pool is full", async () => {
    await svc.create("next");
    expect(await svc.waitIPs("next", (ips) => ips.length === 1, "an IP")).toEqual(["192.0.2.33"]);
  });

  it("refuses an IP of the full BGP pool, naming the pool", async () => {
    await svc.create("full", {}, { "barelb.io/address-pool": "routed" });
    const ev = await svc.waitEvent("full", "AllocationFailed", "routed");
    expect(ev.type).toBe("Warning");
    expect(await svc.ips("full")).toEqual([]);
  });

  it("moves no IP when the pool's protocol changes", async () => {
    const names = ["a", "r", "l", "next"];
    const before = await Promise.all(names.map((n) => svc.ips(n)));
    await putConfig(core, ns, config("layer2"));
    // The edit adds the pool "late": a Service that asks for it gets an IP once it is loaded.
    await svc.create("late", {}, { "barelb.io/address-pool": "late" });
    expect(await svc.waitIPs("late", (ips) => ips.length === 1, "an IP")).toEqual(["192.0.2.40"]);
    await eventually("controller idle", () => (ctl?.handle.idle() ? true : undefined));
    expect(await Promise.all(names.map((n) => svc.ips(n)))).toEqual(before);
  });
});
