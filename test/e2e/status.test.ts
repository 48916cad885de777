import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoreV1Api } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { loadKubeConfig, mergePatch } from "../../src/k8s/client.js";
import { ensureControlPlaneBinaries } from "../../src/lab/controlplane.js";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { packageRoot } from "../../src/util/paths.js";
import { run } from "../../src/util/proc.js";
import {
  applyConfigMap,
  BARELB_NAMESPACE,
  LabCluster,
  sampleService,
  setEndpoints,
} from "../../src/lab/cluster.js";
import type { StatusReport } from "../../src/status/explain.js";
import { owner, serviceIP } from "../helpers/arp-owner.js";
import { eventually } from "../helpers/k8s.js";
import { prereqs } from "../helpers/prereq.js";
import { statusReport } from "../helpers/status.js";

// `barelb status -o json` against a lab with real speakers (three node namespaces, a LAN
// client): who announces is the node the LAN client's arping finds, and each setup that
// fails silently, made for real, is named with its reason.

const NS = "default";
const EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers";

describe.runIf(prereqs("status e2e", ["root", "ip", "arping", "curl", "setpriv", "go"]))(
  "barelb status in the lab",
  () => {
    let lab: Lab;
    let cluster: LabCluster;
    let ip = "";
    let stopped = "";
    const core = () => loadKubeConfig(lab.kubeconfig).makeApiClient(CoreV1Api);

    const status = () => statusReport(lab.kubeconfig);
    /** Polls the report until `ok` holds (the speakers act within a second or two). */
    const statusUntil = (what: string, ok: (r: StatusReport) => boolean) =>
      eventually(
        what,
        async () => {
          const r = await status();
          return ok(r) ? r : undefined;
        },
        20_000,
      );
    const sample = (r: StatusReport) => r.services.find((s) => s.name === "sample");
    const poolConfig = (extra: string[] = []) => ({
      metadata: { name: "barelb-config", namespace: BARELB_NAMESPACE },
      data: {
        config: stringify({
          "address-pools": [
            {
              name: "default",
              protocol: "layer2",
              addresses: [lab.addresses.vipRange4, lab.addresses.vipCidr6, ...extra],
            },
          ],
        }),
      },
    });

    beforeAll(async () => {
      lab = await createLab({ nodes: 3, controlPlane: true, persistent: false });
      cluster = await LabCluster.start(lab);
      await core().createNamespacedService({ namespace: NS, body: sampleService() });
      await setEndpoints(
        lab,
        NS,
        "sample",
        lab.nodes.map((n) => ({ node: n.name })),
      );
      ip = await serviceIP(lab, NS, "sample");
    });
    afterAll(async () => {
      await cluster.stop();
      await lab.down();
    });

    it("names the node the LAN finds answering, and its interface", async () => {
      const answering = await owner(lab, ip, "an owner answering");
      // Every speaker past its start-up: their Leases say so within a second or so.
      const r = await statusUntil(
        "the owner's condition, every speaker live",
        (x) => sample(x)?.reason === null && x.nodes.every((n) => n.state === "live"),
      );
      expect(r.config.state).toBe("loaded");
      expect(r.controller.state).toBe("leading");
      expect(sample(r)?.ips).toContain(ip);
      const by = sample(r)?.announcedBy.find((a) => a.ip === ip);
      expect(by?.node).toBe(answering);
      expect(by?.interfaces.length).toBeGreaterThan(0);
      expect(r.nodes.map((n) => n.state)).toEqual(["live", "live", "live"]);
      expect(r.warnings).toEqual([]);
    });

    it("runs as a kubectl plugin: kubectl barelb status, with kubectl's KUBECONFIG", async () => {
      // The package's bin kubectl-barelb (dist/cli/main.js) on the PATH, the project's Node 22
      // first, and the real kubectl built with the control plane.
      const bin = await mkdtemp(join(tmpdir(), "barelb-plugin-"));
      try {
        await symlink(join(packageRoot(), "dist", "cli", "main.js"), join(bin, "kubectl-barelb"));
        const kubectl = join(await ensureControlPlaneBinaries(), "kubectl");
        const path = [
          bin,
          join(packageRoot(), "node_modules", "node", "bin"),
          process.env.PATH ?? "",
        ];
        const res = await run(
          "env",
          [
            `PATH=${path.join(delimiter)}`,
            `KUBECONFIG=${lab.kubeconfig}`,
            kubectl,
            "barelb",
            "status",
            "-o",
            "json",
          ],
          { timeoutMs: 60_000 },
        );
        const r = JSON.parse(res.stdout) as StatusReport;
        expect(sample(r)?.ips).toContain(ip);
        expect(r.config.state).toBe("loaded");
      } finally {
        await rm(bin, { recursive: true, force: true });
      }
    });

    it("a pool holding a node's address is named", async () => {
      const node = lab.nodes[0]?.name ?? "";
      const address = lab.addresses.node4(1);
      await applyConfigMap(core(), poolConfig([`${address}/32`]));
      const r = await statusUntil("PoolOverlapsNode", (x) =>
        x.warnings.some((w) => w.kind === "PoolOverlapsNode"),
      );
      const w = r.warnings.find((x) => x.kind === "PoolOverlapsNode");
      expect(w?.message).toContain(`holds ${address}, node ${node}'s address`);
      await applyConfigMap(core(), poolConfig());
    });

    it("k3s ServiceLB acting on the Service is named, and ends with its pods", async () => {
      // A pod as k3s ServiceLB makes them (this lab has no kubelet: the object is enough). Its
      // namespace needs the default ServiceAccount, which no controller-manager makes here.
      await core()
        .createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: "default" } } })
        .catch(() => undefined);
      const pod = await core().createNamespacedPod({
        namespace: NS,
        body: {
          metadata: {
            name: "svclb-sample-5f7d9",
            labels: {
              app: "svclb-sample-5f7d9",
              "svccontroller.k3s.cattle.io/svcname": "sample",
              "svccontroller.k3s.cattle.io/svcnamespace": NS,
            },
          },
          spec: {
            automountServiceAccountToken: false,
            containers: [{ name: "lb-tcp-80", image: "rancher/klipper-lb:v0.4.9" }],
          },
        },
      });
      try {
        const r = await statusUntil("ForeignLoadBalancer", (x) =>
          x.warnings.some((w) => w.kind === "ForeignLoadBalancer"),
        );
        const w = r.warnings.find((x) => x.kind === "ForeignLoadBalancer");
        expect(w?.object).toBe(`Service ${NS}/sample`);
        expect(w?.message).toContain("--disable servicelb");
        expect(sample(r)?.reason).toContain(w?.message ?? "?");
      } finally {
        await core().deleteNamespacedPod({
          name: pod.metadata?.name ?? "",
          namespace: NS,
          gracePeriodSeconds: 0,
        });
      }
      await statusUntil("no ForeignLoadBalancer", (x) => sample(x)?.reason === null);
    });

    it("after a graceful stop: the node has no speaker, and the new owner is named", async () => {
      stopped = await owner(lab, ip, "an owner answering");
      await cluster.stopSpeaker(stopped, "SIGTERM");
      const after = await owner(lab, ip, "another owner answering", stopped);
      const r = await statusUntil(
        "the new owner named",
        (x) => sample(x)?.announcedBy.find((a) => a.ip === ip)?.node === after,
      );
      const gone = r.nodes.find((n) => n.name === stopped);
      expect(gone?.state).toBe("absent");
      expect(gone?.reason).toContain("no speaker");
    });

    it("the exclude label on every node, while the restarted winner is still quiet: each node and the Service say why", async () => {
      // The stopped speaker was the owner with every node live, so it wins the IP back when it
      // returns: the interim owner gives it up at once, and the returning one announces only
      // after its start-up quiet period (about 1.4 s). Every node is excluded inside that
      // window, so the node that announced last is the one that must withdraw its condition.
      cluster.startSpeaker(stopped);
      await statusUntil("the restarted speaker's Lease", (x) =>
        x.nodes.every((n) => n.state === "live"),
      );
      const label = (value: string | null) =>
        Promise.all(
          lab.nodes.map((n) =>
            core().patchNode(
              { name: n.name, body: { metadata: { labels: { [EXCLUDE]: value } } } },
              mergePatch,
            ),
          ),
        );
      await label("");
      try {
        const r = await statusUntil("nobody announces", (x) =>
          (sample(x)?.reason ?? "").includes("no eligible node"),
        );
        expect(r.nodes.map((n) => n.state)).toEqual(["excluded", "excluded", "excluded"]);
        expect(r.warnings.map((w) => w.kind)).toContain("AllNodesExcluded");
        expect(sample(r)?.announcedBy).toEqual([]);
        expect(sample(r)?.reason).toContain(
          `${ip}: nobody announces it: no eligible node: labelled ${EXCLUDE}`,
        );
        const svc = await core().readNamespacedService({ name: "sample", namespace: NS });
        const cond = svc.status?.conditions?.find((c) => c.type.startsWith("barelb.io/Announced"));
        expect(cond?.reason).toBe("NotAnnounced");
      } finally {
        await label(null);
      }
      await owner(lab, ip, "an owner answering again");
    });
  },
);
