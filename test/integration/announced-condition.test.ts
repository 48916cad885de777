import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import type { KubeConfig, V1Service } from "@kubernetes/client-node";
import { KubeClient, RESOURCES, resourcePath } from "../../src/k8s/api.js";
import { ServiceStatusWriter } from "../../src/controller/status-writer.js";
import {
  ANNOUNCED_CONDITION,
  announcedConditions,
  SPEAKER_FIELD_MANAGER,
} from "../../src/speaker/announced-condition.js";
import { ConditionWriter } from "../../src/speaker/condition-writer.js";
import {
  createTestNamespace,
  eventually,
  integrationKubeConfig,
  kubeClientFor,
} from "../helpers/k8s.js";

// The speaker's "who announces" conditions and the controller's ingress on one Service, on a
// real API server: server-side apply (speakers, one field manager per family) beside the
// controller's merge patch, neither removing the other's fields, and the last applier named.

const kc = integrationKubeConfig();
const log = pino({ level: process.env.BARELB_TEST_LOG ?? "silent" });

describe.runIf(kc !== null)("the announced conditions on a real API server", () => {
  const admin = kc as KubeConfig;
  const client: KubeClient = kubeClientFor(admin);
  let ns = "";
  const stop = new AbortController();
  const writer = new ConditionWriter(client, () => true, log);
  const running = writer.run(stop.signal);
  const svcPath = (name?: string, subresource?: "status") =>
    resourcePath(RESOURCES.services, {
      namespace: ns,
      name,
      ...(subresource === undefined ? {} : { subresource }),
    });

  beforeAll(async () => {
    ns = await createTestNamespace(admin, "it-cond");
  });
  afterAll(async () => {
    stop.abort();
    await running;
    if (ns !== "") await client.delete(resourcePath(RESOURCES.namespaces, { name: ns }));
    client.close();
  });

  const create = (name: string) =>
    client.create<V1Service>(svcPath(), {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name },
      spec: { type: "LoadBalancer", ports: [{ port: 80, protocol: "TCP" }] },
    });
  /** What a speaker on `node` applies when it gains `ip` of Service `svc`. */
  const gain = (svc: V1Service, node: string, ip: string) =>
    writer.add(
      announcedConditions(
        [{ ip, interfaces: ["eth0"], events: [{ service: svc }] }],
        node,
        new Date(),
      ),
    );
  const conditions = async (name: string) =>
    Object.fromEntries(
      ((await client.get<V1Service>(svcPath(name))).status?.conditions ?? []).map((c) => [
        c.type,
        `${c.status} ${c.reason}: ${c.message}`,
      ]),
    );

  it("keeps the controller's ingress and each family's condition, naming the last applier", async () => {
    const svc = await create("web");
    const controller = new ServiceStatusWriter(client);
    const ingress = async () =>
      (await client.get<V1Service>(svcPath("web"))).status?.loadBalancer?.ingress?.map((i) => i.ip);

    // node-a gains the IPv4 address before the controller's ingress is seen by anyone else.
    gain(svc, "node-a", "192.0.2.10");
    await eventually("node-a's condition", async () =>
      (await conditions("web"))[ANNOUNCED_CONDITION.IPv4] !== undefined ? true : undefined,
    );
    await controller.write(svc, ["192.0.2.10", "2001:db8::10"], "p1");
    // node-b gains the IPv6 address: its apply (the other family's manager) leaves node-a's.
    gain(svc, "node-b", "2001:db8::10");
    await eventually("node-b's condition", async () =>
      (await conditions("web"))[ANNOUNCED_CONDITION.IPv6] !== undefined ? true : undefined,
    );
    expect(await conditions("web")).toEqual({
      [ANNOUNCED_CONDITION.IPv4]: "True Announcing: node node-a announces 192.0.2.10 on eth0",
      [ANNOUNCED_CONDITION.IPv6]: "True Announcing: node node-b announces 2001:db8::10 on eth0",
    });
    expect(await ingress()).toEqual(["192.0.2.10", "2001:db8::10"]);

    // node-a dies without a word; node-c takes the IPv4 address over and replaces the condition.
    gain(svc, "node-c", "192.0.2.10");
    await eventually("node-c named", async () =>
      (await conditions("web"))[ANNOUNCED_CONDITION.IPv4]?.includes("node-c") === true
        ? true
        : undefined,
    );
    expect(await conditions("web")).toEqual({
      [ANNOUNCED_CONDITION.IPv4]: "True Announcing: node node-c announces 192.0.2.10 on eth0",
      [ANNOUNCED_CONDITION.IPv6]: "True Announcing: node node-b announces 2001:db8::10 on eth0",
    });
    expect(await ingress()).toEqual(["192.0.2.10", "2001:db8::10"]);

    // The controller writes again (a clear, then another assignment): the conditions stay.
    await controller.clear(svc);
    await controller.write(svc, ["192.0.2.11"], "p1");
    expect(await ingress()).toEqual(["192.0.2.11"]);
    expect(Object.keys(await conditions("web")).sort()).toEqual([
      ANNOUNCED_CONDITION.IPv4,
      ANNOUNCED_CONDITION.IPv6,
    ]);
    // One field manager per family, each owning its condition; the controller's elsewhere.
    const managers = (await client.get<V1Service>(svcPath("web"))).metadata?.managedFields ?? [];
    const owned = (m: string) =>
      JSON.stringify(managers.find((f) => f.manager === m && f.subresource === "status")?.fieldsV1);
    expect(owned(SPEAKER_FIELD_MANAGER.IPv4)).toContain(ANNOUNCED_CONDITION.IPv4);
    expect(owned(SPEAKER_FIELD_MANAGER.IPv4)).not.toContain(ANNOUNCED_CONDITION.IPv6);
    expect(owned(SPEAKER_FIELD_MANAGER.IPv4)).not.toContain("loadBalancer");
  });

  it("why one manager per family: an apply removes what the same manager applied before", async () => {
    const svc = await create("one-manager");
    const [v4] = announcedConditions(
      [{ ip: "192.0.2.20", interfaces: ["eth0"], events: [{ service: svc }] }],
      "node-a",
      new Date(),
    );
    const [v6] = announcedConditions(
      [{ ip: "2001:db8::20", interfaces: ["eth0"], events: [{ service: svc }] }],
      "node-b",
      new Date(),
    );
    if (v4 === undefined || v6 === undefined) throw new Error("no apply");
    await client.apply(svcPath("one-manager", "status"), v4.body, "shared", { force: true });
    await client.apply(svcPath("one-manager", "status"), v6.body, "shared", { force: true });
    expect(Object.keys(await conditions("one-manager"))).toEqual([ANNOUNCED_CONDITION.IPv6]);
  });

  it("writes nothing for an IP this node no longer announces", async () => {
    const svc = await create("lost");
    const gone = new ConditionWriter(client, () => false, log);
    const halt = new AbortController();
    const run = gone.run(halt.signal);
    gone.add(
      announcedConditions(
        [{ ip: "192.0.2.30", interfaces: ["eth0"], events: [{ service: svc }] }],
        "node-a",
        new Date(),
      ),
    );
    // Then a write through the other writer: once it shows, the first had its turn long before.
    gain(svc, "node-b", "2001:db8::30");
    await eventually("node-b's condition", async () =>
      (await conditions("lost"))[ANNOUNCED_CONDITION.IPv6] !== undefined ? true : undefined,
    );
    halt.abort();
    await run;
    expect(gone.writes).toBe(0);
    expect(Object.keys(await conditions("lost"))).toEqual([ANNOUNCED_CONDITION.IPv6]);
  });
});
