import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { SERVICELB_NAME_LABEL, SERVICELB_NAMESPACE_LABEL } from "../../src/adapters/foreign-lb.js";
import { RESOURCES, resourcePath } from "../../src/k8s/api.js";
import { setTimeout as sleep } from "node:timers/promises";
import {
  createTestNamespace,
  eventually,
  integrationKubeConfig,
  kubeClientFor,
} from "../helpers/k8s.js";
import {
  pools,
  putConfig,
  ServiceFixture,
  startTestController,
  type TestController,
} from "../helpers/controller.js";

// Another LoadBalancer implementation acting on the Services barelb handles, on a real API
// server: k3s ServiceLB's svclb-* pods (objects only: this API server has no kubelet, so they
// stay Pending, which is all the controller looks at), and a status written by another field
// manager, as ServiceLB's or MetalLB's controller would write it.

const kc = integrationKubeConfig();
const HOLD_MS = 8_000;

describe.runIf(kc !== null)("another LoadBalancer implementation, on a real API server", () => {
  const admin = kc as KubeConfig;
  const core = admin.makeApiClient(CoreV1Api);
  const client = kubeClientFor(admin);
  const suffix = Math.random().toString(16).slice(2, 8);
  const podName = `svclb-web-${suffix}-x7k2p`;
  let ns = "";
  let svc: ServiceFixture;
  let ctl: TestController | undefined;

  const gauge = async (kind: string): Promise<string | undefined> =>
    (await ctl?.handle.registry.getSingleMetricAsString("barelb_controller_foreign_load_balancers"))
      ?.split("\n")
      .find((l) => l.startsWith(`barelb_controller_foreign_load_balancers{kind="${kind}"}`))
      ?.split(" ")[1];
  const waitGauge = (kind: string, value: string) =>
    eventually(`gauge ${kind} = ${value}`, async () =>
      (await gauge(kind)) === value ? true : undefined,
    );
  /** A merge patch of the status by another field manager, as another implementation writes it. */
  const writeStatus = (name: string, ip: string, fieldManager: string) =>
    client.mergePatch(
      resourcePath(RESOURCES.services, { namespace: ns, name, subresource: "status" }),
      { status: { loadBalancer: { ingress: [{ ip }] } } },
      { fieldManager },
    );

  beforeAll(async () => {
    ns = await createTestNamespace(admin, "it-foreign");
    svc = new ServiceFixture(admin, ns, `barelb.io/it-foreign-${suffix}`);
    await putConfig(
      core,
      ns,
      pools("- name: lan", "  protocol: layer2", "  addresses: [192.0.2.248/29]"),
    );
    // MetalLB's controller left this one before barelb starts: the takeover, not a fight.
    await svc.create("left");
    await writeStatus("left", "192.0.2.254", "controller");
    // The pods' namespace needs its default ServiceAccount (no controller-manager makes it here).
    await core
      .createNamespacedServiceAccount({
        namespace: "kube-system",
        body: { metadata: { name: "default" } },
      })
      .catch(() => undefined);
    ctl = startTestController(admin, {
      namespace: ns,
      lbClass: svc.lbClass,
      foreignWriteHoldMs: HOLD_MS,
    });
    await ctl.handle.restored;
  });
  afterAll(async () => {
    await ctl?.stop();
    await core
      .deleteNamespacedPod({ name: podName, namespace: "kube-system" })
      .catch(() => undefined);
    if (ns !== "") await core.deleteNamespace({ name: ns });
  });

  it("keeps the IP MetalLB left, without a warning", async () => {
    expect(await svc.waitIPs("left", (ips) => ips.length === 1, "an IP")).toEqual(["192.0.2.254"]);
    await eventually("the pool annotation", async () =>
      (await svc.read("left")).metadata?.annotations?.["barelb.io/ip-allocated-from-pool"] === "lan"
        ? true
        : undefined,
    );
    expect((await svc.events("left")).map((e) => e.reason)).not.toContain("ForeignLoadBalancer");
  });

  it("stands back while k3s ServiceLB's pods serve a Service, then writes its IP back", async () => {
    await svc.create("web");
    const [ip] = await svc.waitIPs("web", (ips) => ips.length === 1, "an IP");
    expect(ip).toMatch(/^192\.0\.2\.2(4[89]|5[0-5])$/);

    await core.createNamespacedPod({
      namespace: "kube-system",
      body: {
        metadata: {
          name: podName,
          labels: {
            app: `svclb-web-${suffix}`,
            [SERVICELB_NAME_LABEL]: "web",
            [SERVICELB_NAMESPACE_LABEL]: ns,
          },
        },
        spec: {
          automountServiceAccountToken: false,
          containers: [{ name: "lb-tcp-80", image: "rancher/klipper-lb:v0.4.9" }],
        },
      },
    });
    const ev = await svc.waitEvent("web", "ForeignLoadBalancer", "k3s ServiceLB");
    expect(ev.type).toBe("Warning");
    expect(ev.message).toContain(`pod kube-system/${podName}`);
    expect(ev.message).toContain("--disable servicelb");
    await waitGauge("ServiceLB", "1");

    // ServiceLB writes a node's address; barelb leaves it (no write loop).
    const writes = ctl?.handle.writer.writes ?? 0;
    await writeStatus("web", "198.51.100.7", "k3s");
    await sleep(1_500);
    expect(await svc.ips("web")).toEqual(["198.51.100.7"]);
    expect(ctl?.handle.writer.writes).toBe(writes);

    // ServiceLB goes (k3s --disable servicelb deletes its pods): barelb's IP comes back.
    await core.deleteNamespacedPod({
      name: podName,
      namespace: "kube-system",
      gracePeriodSeconds: 0,
    });
    expect(await svc.waitIPs("web", (ips) => ips[0] === ip, "its IP back")).toEqual([ip]);
    await waitGauge("ServiceLB", "0");
  });

  it("warns when another field manager writes the status, and writes back once after the hold", async () => {
    await svc.create("fought");
    const [ip] = await svc.waitIPs("fought", (ips) => ips.length === 1, "an IP");
    const writes = ctl?.handle.writer.writes ?? 0;
    // managedFields times have whole seconds: a write in barelb's own second is not ordered.
    await sleep(1_100);
    await writeStatus("fought", "198.51.100.9", "svclb");
    const ev = await svc.waitEvent("fought", "ForeignLoadBalancer", '"svclb"');
    expect(await svc.ips("fought")).toEqual(["198.51.100.9"]);
    expect(ctl?.handle.writer.writes).toBe(writes);
    expect(ev.type).toBe("Warning");
    expect(ev.message).toContain("loadBalancerClass");
    await waitGauge("StatusWriter", "1");

    expect(
      await svc.waitIPs("fought", (ips) => ips[0] === ip, "its IP back after the hold", 15_000),
    ).toEqual([ip]);
    expect(ctl?.handle.writer.writes).toBe(writes + 1);
    await waitGauge("StatusWriter", "0");
  });

  it("leaves a Service of another class alone, though an earlier barelb wrote it", async () => {
    await svc.create("handed");
    await svc.waitIPs("handed", (ips) => ips.length === 1, "an IP");
    // barelb moves to another class (as the ForeignLoadBalancer message suggests); the
    // implementation that keeps the Service has written its own status meanwhile. The Service
    // is that class's now (another barelb's, say): this controller writes nothing to it.
    await ctl?.stop();
    await writeStatus("handed", "198.51.100.11", "k3s");
    ctl = startTestController(admin, { namespace: ns, lbClass: `${svc.lbClass}-other` });
    await ctl.handle.restored;
    await svc.create("mine", { loadBalancerClass: `${svc.lbClass}-other` });
    await svc.waitIPs("mine", (ips) => ips.length === 1, "an IP"); // handed was seen by then
    expect(ctl.handle.writer.writesIn.get(ns)).toBe(1);
    expect((await svc.events("handed")).map((e) => e.reason)).not.toContain("ClearAssignment");
    expect(await svc.ips("handed")).toEqual(["198.51.100.11"]);
  });
});
