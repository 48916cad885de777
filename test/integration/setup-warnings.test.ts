import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { EXCLUDE_LABEL } from "../../src/controller/setup-warnings.js";
import { mergePatch } from "../../src/k8s/client.js";
import { registerNodes } from "../../src/lab/nodes.js";
import { createTestNamespace, eventually, integrationKubeConfig } from "../helpers/k8s.js";
import {
  pools,
  putConfig,
  ServiceFixture,
  startTestController,
  type TestController,
} from "../helpers/controller.js";

// The controller's warnings about setups that are valid but fail silently, from real Node
// objects. Nodes are cluster-wide: the "every node excluded" step assumes no other file of
// the shared API server leaves Nodes without the label (none registers Nodes there today),
// and the Nodes' addresses are in no other file's pool (every controller of the run skips them).

const kc = integrationKubeConfig();

describe.runIf(kc !== null)("controller warnings about the setup, on a real API server", () => {
  const admin = kc as KubeConfig;
  const core = admin.makeApiClient(CoreV1Api);
  const suffix = Math.random().toString(16).slice(2, 8);
  const names = [`warn-a-${suffix}`, `warn-b-${suffix}`];
  let ns = "";
  let dir = "";
  let svc: ServiceFixture;
  let ctl: TestController | undefined;

  const gauges = async (): Promise<string> =>
    (await ctl?.handle.registry.getSingleMetricAsString("barelb_config_warnings")) ?? "";
  const waitGauge = (kind: string, value: number) =>
    eventually(`barelb_config_warnings{kind="${kind}"} ${value}`, async () =>
      (await gauges()).split("\n").includes(`barelb_config_warnings{kind="${kind}"} ${value}`)
        ? true
        : undefined,
    );
  const label = (name: string, value: string | null) =>
    core.patchNode(
      { name, body: { metadata: { labels: { [EXCLUDE_LABEL]: value } } } },
      mergePatch,
    );

  beforeAll(async () => {
    ns = await createTestNamespace(admin, "it-warnings");
    svc = new ServiceFixture(admin, ns, `barelb.io/it-warn-${suffix}`);
    await putConfig(
      core,
      ns,
      pools("- name: lan", "  protocol: layer2", "  addresses: [198.51.100.128/28]"),
    );
    dir = await mkdtemp(join(tmpdir(), "barelb-it-warn-"));
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, admin.exportConfig());
    await registerNodes(kubeconfig, [
      { name: names[0] ?? "", ipv4: "198.51.100.128", ipv6: "2001:db8:77::a" },
      { name: names[1] ?? "", ipv4: "198.51.100.200", ipv6: "2001:db8:77::b" },
    ]);
    ctl = startTestController(admin, { namespace: ns, lbClass: svc.lbClass });
    await ctl.handle.restored;
  });
  afterAll(async () => {
    await ctl?.stop();
    for (const name of names) await core.deleteNode({ name }).catch(() => undefined);
    if (ns !== "") await core.deleteNamespace({ name: ns });
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  it("warns on the ConfigMap when a pool holds a node's address", async () => {
    const ev = await svc.waitEvent("barelb-config", "PoolOverlapsNode", "198.51.100.128");
    expect(ev.type).toBe("Warning");
    expect(ev.message).toContain(`pool "lan" holds 198.51.100.128, node ${names[0]}'s address`);
    expect(ev.message).not.toContain("198.51.100.200");
    await waitGauge("PoolOverlapsNode", 1);
    await waitGauge("AllNodesExcluded", 0);
  });

  it("never hands out a node's address by itself, but gives it to a Service that asks", async () => {
    await svc.create("first");
    expect(await svc.waitIPs("first", (ips) => ips.length === 1, "an IP")).toEqual([
      "198.51.100.129",
    ]);
    await svc.create("asks", { loadBalancerIP: "198.51.100.128" });
    expect(await svc.waitIPs("asks", (ips) => ips.length === 1, "an IP")).toEqual([
      "198.51.100.128",
    ]);
  });

  it("warns when every node carries the exclude label, and stops when one does not", async () => {
    for (const name of names) await label(name, "true");
    const ev = await svc.waitEvent("barelb-config", "AllNodesExcluded");
    expect(ev.type).toBe("Warning");
    expect(ev.message).toContain(`kubectl label node ${names[0]} ${EXCLUDE_LABEL}-`);
    await waitGauge("AllNodesExcluded", 2);
    await label(names[1] ?? "", null);
    await waitGauge("AllNodesExcluded", 0);
  });
});
