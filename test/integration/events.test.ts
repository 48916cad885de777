import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import type { CoreV1Event, KubeConfig } from "@kubernetes/client-node";
import { RESOURCES, resourcePath, type KubeClient, type KubeList } from "../../src/k8s/api.js";
import { EventRecorder, hash53, type EventTarget } from "../../src/k8s/events.js";
import { createTestNamespace, integrationKubeConfig, kubeClientFor } from "../helpers/k8s.js";

// The Event recorder on a real API server: what `kubectl describe` will show.

const kc = integrationKubeConfig();
const log = pino({ level: process.env.BARELB_TEST_LOG ?? "silent" });

describe.runIf(kc !== null)("Event recorder on a real API server", () => {
  const admin = kc as KubeConfig;
  const client: KubeClient = kubeClientFor(admin);
  let ns = "";
  beforeAll(async () => {
    ns = await createTestNamespace(admin, "it-events");
  });
  afterAll(async () => {
    if (ns !== "") await client.delete(resourcePath(RESOURCES.namespaces, { name: ns }));
    client.close();
  });

  const target = (name: string): EventTarget => ({
    kind: "Service",
    apiVersion: "v1",
    namespace: ns,
    name,
    uid: `uid-${name}`,
  });
  const written = async (name: string) =>
    (
      await client.get<KubeList<CoreV1Event>>(resourcePath(RESOURCES.events, { namespace: ns }), {
        fieldSelector: `involvedObject.name=${name}`,
      })
    ).items
      .sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""))
      .map((e) => [e.reason, e.message]);

  it("writes each Event once; a repeat within the window is dropped, a changed message is not", async () => {
    const rec = new EventRecorder(client, "barelb-test", "node-a", log);
    rec.emit(target("web"), "Normal", "nodeAssigned", "announcing 192.0.2.40 from node a");
    rec.emit(target("web"), "Normal", "nodeAssigned", "announcing 192.0.2.40 from node a");
    rec.emit(target("db"), "Normal", "nodeAssigned", "announcing 192.0.2.40 from node a");
    rec.emit(target("web"), "Normal", "nodeAssigned", "announcing 192.0.2.40 from node b");
    // Back to the first message: the last Event said b, so this one is written again.
    rec.emit(target("web"), "Normal", "nodeAssigned", "announcing 192.0.2.40 from node a");
    rec.emit(target("web"), "Warning", "announceFailed", "announcing 192.0.2.40 from node a");
    await rec.flush();
    const web = await written("web");
    expect(web).toHaveLength(4);
    expect(web).toEqual(
      expect.arrayContaining([
        ["nodeAssigned", "announcing 192.0.2.40 from node a"],
        ["nodeAssigned", "announcing 192.0.2.40 from node b"],
        ["announceFailed", "announcing 192.0.2.40 from node a"],
      ]),
    );
    expect(web.filter(([, m]) => m === "announcing 192.0.2.40 from node a")).toHaveLength(3);
    expect(await written("db")).toHaveLength(1);
  });

  it("writes a repeat again once the window has passed", async () => {
    const rec = new EventRecorder(client, "barelb-test", "node-a", log, 200);
    rec.emit(target("cache"), "Normal", "nodeAssigned", "announcing 192.0.2.41 from node a");
    await new Promise((r) => setTimeout(r, 300));
    rec.emit(target("cache"), "Normal", "nodeAssigned", "announcing 192.0.2.41 from node a");
    await rec.flush();
    expect(await written("cache")).toHaveLength(2);
  });
});

describe("hash53", () => {
  it("is stable, fits in a double exactly, and separates near-identical keys", () => {
    expect(hash53("shop/web/uid-1/nodeAssigned")).toBe(hash53("shop/web/uid-1/nodeAssigned"));
    const seen = new Set<number>();
    for (let i = 0; i < 200_000; i++) {
      const h = hash53(`bench/svc-${i}/0b7c${i.toString(16)}/nodeAssigned`);
      expect(Number.isSafeInteger(h) && h >= 0).toBe(true);
      seen.add(h);
    }
    expect(seen.size).toBe(200_000);
  });
});
