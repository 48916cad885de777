import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoreV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { parse } from "yaml";
import { runCli } from "../../src/cli/run.js";
import { loadKubeClient, RESOURCES, resourcePath } from "../../src/k8s/api.js";
import { loadKubeConfig } from "../../src/k8s/client.js";
import { createLab, type Lab } from "../../src/lab/lab.js";
import {
  BARELB_NAMESPACE,
  LabCluster,
  sampleService,
  setEndpoints,
} from "../../src/lab/cluster.js";
import { score } from "../../src/speaker/election.js";
import { answering, owner } from "../helpers/arp-owner.js";
import { eventually } from "../helpers/k8s.js";
import { prereqs } from "../helpers/prereq.js";
import { statusReport } from "../helpers/status.js";

// The switch from MetalLB as docs/migration.md tells it, in the lab: a Service as MetalLB
// left it (its controller's status, its pool annotation) and answered on the LAN by the node
// MetalLB's speaker chose; the user imports MetalLB's objects with `barelb config import
// metallb`, applies the result, stops MetalLB's speakers and starts barelb. The Service keeps
// its IP, the controller writes it once (its own pool annotation), and the LAN client's
// neighbor entry moves to barelb's node from its gratuitous ARP, without the client asking.
// MetalLB's speaker is played by the old node's kernel holding the address: it answers ARP
// for it as MetalLB's speaker would, and stops when the address is removed.

const NS = "default";

interface NeighJson {
  dst: string;
  lladdr?: string;
}

describe.runIf(prereqs("switch-from-MetalLB e2e", ["root", "ip", "arping", "setpriv", "go"]))(
  "switching from MetalLB in the lab",
  () => {
    let lab: Lab;
    let cluster: LabCluster | undefined;
    let dir = "";
    let ip = "";
    let ip2 = "";
    let oldNode = "";
    const core = () => loadKubeConfig(lab.kubeconfig).makeApiClient(CoreV1Api);
    const exec = (host: string, argv: string[]) => lab.exec(lab.node(host), argv);
    const clientNeighbor = async (): Promise<string | undefined> => {
      const { stdout } = await lab.exec(lab.client, ["ip", "-j", "neigh", "show", ip]);
      return (JSON.parse(stdout === "" ? "[]" : stdout) as NeighJson[])[0]?.lladdr?.toLowerCase();
    };
    const macOf = (node: string) => lab.node(node).mac.toLowerCase();

    beforeAll(async () => {
      lab = await createLab({ nodes: 3, controlPlane: true, persistent: false });
      dir = await mkdtemp(join(tmpdir(), "barelb-switch-"));
      const [first] = lab.addresses.vipRange4.split("-");
      const parts = (first ?? "").split(".").map(Number);
      ip = [...parts.slice(0, 3), (parts[3] ?? 0) + 7].join(".");
      ip2 = [...parts.slice(0, 3), (parts[3] ?? 0) + 8].join(".");
      // The node MetalLB announced from: one that barelb's election does not pick, so the
      // LAN sees the switch.
      const byScore = lab.nodes
        .map((n) => n.name)
        .sort((a, b) => (score(a, ip) < score(b, ip) ? -1 : 1));
      oldNode = byScore[byScore.length - 1] ?? "";

      // The Service as MetalLB left it: its controller's status, its pool annotation.
      await core().createNamespacedService({
        namespace: NS,
        body: {
          ...sampleService(),
          metadata: {
            name: "sample",
            annotations: { "metallb.universe.tf/ip-allocated-from-pool": "lan" },
          },
        },
      });
      await loadKubeClient(lab.kubeconfig).mergePatch(
        resourcePath(RESOURCES.services, { namespace: NS, name: "sample", subresource: "status" }),
        { status: { loadBalancer: { ingress: [{ ip, ipMode: "VIP" }] } } },
        { fieldManager: "controller" },
      );
      await setEndpoints(
        lab,
        NS,
        "sample",
        lab.nodes.map((n) => ({ node: n.name })),
      );
      // A second Service as MetalLB left it, whose speaker the user forgets to stop.
      await core().createNamespacedService({
        namespace: NS,
        body: {
          ...sampleService(),
          metadata: {
            name: "second",
            annotations: { "metallb.universe.tf/ip-allocated-from-pool": "lan" },
          },
        },
      });
      await exec(oldNode, ["ip", "addr", "add", `${ip2}/32`, "dev", "eth0"]);
      await loadKubeClient(lab.kubeconfig).mergePatch(
        resourcePath(RESOURCES.services, { namespace: NS, name: "second", subresource: "status" }),
        { status: { loadBalancer: { ingress: [{ ip: ip2, ipMode: "VIP" }] } } },
        { fieldManager: "controller" },
      );
      await setEndpoints(
        lab,
        NS,
        "second",
        lab.nodes.map((n) => ({ node: n.name })),
      );
      // MetalLB's speaker answering on the old node; the client talks to the IP once.
      await exec(oldNode, ["ip", "addr", "add", `${ip}/32`, "dev", "eth0"]);
      await lab.exec(lab.client, ["ping", "-c", "1", "-W", "2", ip]);
    });
    afterAll(async () => {
      await cluster?.stop();
      await lab.down();
      if (dir !== "") await rm(dir, { recursive: true, force: true });
    });

    it("before: the old node answers, and the client's entry points at it", async () => {
      expect(await answering(lab, ip)).toEqual([oldNode]);
      expect(await clientNeighbor()).toBe(macOf(oldNode));
    });

    it("switches: the same IP, barelb's pool annotation, the client follows barelb's gratuitous ARP", async () => {
      // 1. Import MetalLB's objects.
      const metallb = join(dir, "metallb.yaml");
      await writeFile(
        metallb,
        [
          "apiVersion: metallb.io/v1beta1",
          "kind: IPAddressPool",
          "metadata: {name: lan, namespace: metallb-system}",
          `spec: {addresses: ["${lab.addresses.vipRange4}"]}`,
          "---",
          "apiVersion: metallb.io/v1beta1",
          "kind: L2Advertisement",
          "metadata: {name: lan, namespace: metallb-system}",
          "spec: {ipAddressPools: [lan]}",
          "",
        ].join("\n"),
      );
      let out = "";
      let err = "";
      const code = await runCli(["node", "barelb", "config", "import", "metallb", metallb], {
        writeOut: (s) => (out += s),
        writeErr: (s) => (err += s),
      });
      expect(err).toBe("");
      expect(code).toBe(0);
      const configMap = parse(out) as V1ConfigMap;
      expect(configMap.metadata?.name).toBe("barelb-config");

      // 2. Stop MetalLB's speakers, 3. start barelb with the imported config.
      await exec(oldNode, ["ip", "addr", "del", `${ip}/32`, "dev", "eth0"]);
      const started = Date.now();
      cluster = await LabCluster.start(lab, {
        configMap: {
          ...configMap,
          metadata: { ...configMap.metadata, namespace: BARELB_NAMESPACE },
        },
      });

      // The client's kernel entry moves to barelb's node without the client asking again.
      const now = await owner(lab, ip, "barelb's node answering");
      expect(now).not.toBe(oldNode);
      await eventually(
        "the client's neighbor entry to move to barelb's node",
        async () => ((await clientNeighbor()) === macOf(now) ? true : undefined),
        15_000,
        100,
      );
      console.log(
        `switch: ${ip} answered by ${now} ${Date.now() - started} ms after barelb started`,
      );
      expect(await answering(lab, ip)).toEqual([now]);

      // The same IP, and the controller's one write: its pool annotation.
      const svc = await core().readNamespacedService({ name: "sample", namespace: NS });
      expect(svc.status?.loadBalancer?.ingress?.map((i) => i.ip)).toEqual([ip]);
      expect(svc.metadata?.annotations?.["barelb.io/ip-allocated-from-pool"]).toBe("lan");
      const r = await eventually("status names the owner", async () => {
        const x = await statusReport(lab.kubeconfig);
        const s = x.services.find((y) => y.name === "sample");
        return s?.announcedBy[0]?.node === now ? x : undefined;
      });
      expect(r.services.find((y) => y.name === "sample")?.reason).toBeNull();
      expect(r.warnings).toEqual([]);
    });

    it("a MetalLB speaker still answering: barelb holds its IP back (AddressInUse) until it stops", async () => {
      const held = await eventually(
        "barelb status naming the address in use",
        async () => {
          const x = await statusReport(lab.kubeconfig);
          const s = x.services.find((y) => y.name === "second");
          return s?.reason?.includes(macOf(oldNode)) === true ? s : undefined;
        },
        30_000,
        500,
      );
      expect(held.ips).toEqual([ip2]);
      expect(held.announcedBy).toEqual([]);
      // Only the old node answers: barelb does not fight it.
      expect(await answering(lab, ip2)).toEqual([oldNode]);
      // MetalLB's speaker stops: barelb's next probe (within 30 s) finds the address free.
      await exec(oldNode, ["ip", "addr", "del", `${ip2}/32`, "dev", "eth0"]);
      const node = await eventually(
        "a barelb node answering for the released IP",
        async () => {
          const a = await answering(lab, ip2, 1);
          return a.length === 1 && a[0] !== undefined ? a[0] : undefined;
        },
        45_000,
        500,
      );
      expect(node).toMatch(/^node-/);
      const svc = await core().readNamespacedService({ name: "second", namespace: NS });
      expect(svc.status?.loadBalancer?.ingress?.map((i) => i.ip)).toEqual([ip2]);
    }, 120_000);
  },
);
