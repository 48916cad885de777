import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoreV1Api } from "@kubernetes/client-node";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { LabCluster, sampleService, setEndpoints } from "../../src/lab/cluster.js";
import { netnsExec, setLinkState } from "../../src/lab/netns.js";
import { loadKubeConfig } from "../../src/k8s/client.js";
import { isRunning } from "../../src/util/proc.js";
import { prereqs } from "../helpers/prereq.js";
import { answering, owner, serviceIP } from "../helpers/arp-owner.js";
import { eventually } from "../helpers/k8s.js";
import { ANNOUNCED_CONDITION, familyOf } from "../../src/speaker/announced-condition.js";

// The speakers' failure semantics (issue 5), each seen from a LAN client: who answers ARP
// for the Service's IP. Real API server, three node namespaces, real arping.

const NS = "default";

describe.runIf(prereqs("failover e2e", ["root", "ip", "arping", "setpriv", "go"]))(
  "speaker failover",
  () => {
    let lab: Lab;
    let cluster: LabCluster;
    let ip = "";
    const core = () => loadKubeConfig(lab.kubeconfig).makeApiClient(CoreV1Api);
    /** Waits until a Service's announced condition for `at` starts with `message`. */
    const onService = (message: string, name = "sample", at = ip) =>
      eventually(
        `Service ${name}'s condition: ${message}`,
        async () => {
          const svc = await core().readNamespacedService({ name, namespace: NS });
          const c = svc.status?.conditions?.find(
            (c) => c.type === ANNOUNCED_CONDITION[familyOf(at)],
          );
          return c?.message.startsWith(message) === true ? c : undefined;
        },
        10_000,
        100,
      );
    /** Waits until the Service's announced condition names `node` (kubectl describe shows it). */
    const namedOnService = async (node: string, name = "sample", at = ip) => {
      const c = await onService(`node ${node} announces ${at} `, name, at);
      expect(c.status).toBe("True");
      return c;
    };

    beforeAll(async () => {
      lab = await createLab({ nodes: 3, controlPlane: true, persistent: false });
      cluster = await LabCluster.start(lab);
      await core().createNamespacedService({ namespace: NS, body: sampleService() });
      await setEndpoints(lab, NS, "sample", [
        { node: "node-1" },
        { node: "node-2" },
        { node: "node-3" },
      ]);
      ip = await serviceIP(lab, NS, "sample");
    });
    afterAll(async () => {
      await cluster.stop();
      await lab.down();
    });

    it("answers ARP for the IP from exactly one node", async () => {
      const o = await owner(lab, ip, "one node answering");
      expect(await answering(lab, ip, 3)).toEqual([o]);
      expect((await namedOnService(o)).reason).toBe("Announcing");
    });

    it("moves the IP at once when the owning speaker stops gracefully (SIGTERM)", async () => {
      const before = await owner(lab, ip, "an owner");
      await cluster.stopSpeaker(before, "SIGTERM");
      const after = await owner(lab, ip, "another node answering", before);
      expect(after).not.toBe(before);
      cluster.startSpeaker(before);
    });

    it("moves the IP when the owning speaker is killed (SIGKILL)", async () => {
      const before = await owner(lab, ip, "an owner");
      await cluster.stopSpeaker(before, "SIGKILL");
      const after = await owner(lab, ip, "another node answering", before);
      expect(after).not.toBe(before);
      // The new owner corrects the Service's condition the killed one left behind.
      await namedOnService(after);
      cluster.startSpeaker(before);
      // Back with a new incarnation: at most one move back, then stable.
      await new Promise((r) => setTimeout(r, 6_000));
      const settled = await owner(lab, ip, "an owner after the restart");
      for (let i = 0; i < 5; i++) expect(await answering(lab, ip, 1)).toEqual([settled]);
    });

    it("moves the IP when the owner's link goes down, and moves it back at most once", async () => {
      const before = await owner(lab, ip, "an owner");
      const host = lab.node(before);
      await setLinkState(host.netns, "eth0", false);
      const after = await owner(lab, ip, "another node answering", before);
      expect(after).not.toBe(before);
      await setLinkState(host.netns, "eth0", true);
      const seen: string[] = [];
      for (let i = 0; i < 16; i++) {
        const a = await answering(lab, ip, 1);
        expect(a.length).toBeLessThanOrEqual(1);
        if (a[0] !== undefined && a[0] !== seen.at(-1)) seen.push(a[0]);
        await new Promise((r) => setTimeout(r, 500));
      }
      // Either it stayed where it went, or it moved back once (if the hash prefers the node).
      expect(seen.length).toBeLessThanOrEqual(2);
    });

    it("keeps answering, from the same node, while the API server is stopped for 60 s", async () => {
      const before = await owner(lab, ip, "an owner");
      const apiserver = lab.record.processes.find((p) => p.name === "kube-apiserver");
      if (apiserver === undefined || !isRunning(apiserver))
        throw new Error("no running kube-apiserver");
      process.kill(apiserver.pid, "SIGSTOP");
      try {
        const until = Date.now() + 60_000;
        while (Date.now() < until) {
          expect(await answering(lab, ip, 1)).toEqual([before]);
          await new Promise((r) => setTimeout(r, 2_000));
        }
      } finally {
        process.kill(apiserver.pid, "SIGCONT");
      }
      for (let i = 0; i < 8; i++) {
        expect(await answering(lab, ip, 1)).toEqual([before]);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }, 150_000);

    it("hands the IP over when its owner is cut off from the API server but not from the LAN", async () => {
      const before = await owner(lab, ip, "an owner");
      const host = lab.node(before);
      // Only the API server's address becomes unreachable for that node; the LAN still works.
      await netnsExec(host.netns, ["ip", "route", "add", "blackhole", `${lab.record.gateway4}/32`]);
      try {
        const after = await owner(
          lab,
          ip,
          "another node answering, the cut-off one fenced",
          before,
        );
        expect(after).not.toBe(before);
        for (let i = 0; i < 5; i++) expect(await answering(lab, ip, 1)).toEqual([after]);
      } finally {
        await netnsExec(host.netns, [
          "ip",
          "route",
          "del",
          "blackhole",
          `${lab.record.gateway4}/32`,
        ]);
      }
    }, 90_000);

    it("follows the ready endpoint of an externalTrafficPolicy: Local Service", async () => {
      await core().createNamespacedService({
        namespace: NS,
        body: {
          metadata: { name: "local" },
          spec: {
            type: "LoadBalancer",
            externalTrafficPolicy: "Local",
            selector: { app: "local" },
            ports: [{ port: 80 }],
          },
        },
      });
      await setEndpoints(lab, NS, "local", [{ node: "node-2" }]);
      const localIP = await eventually(
        "the local Service's IP",
        async () =>
          (await core().readNamespacedService({ name: "local", namespace: NS })).status
            ?.loadBalancer?.ingress?.[0]?.ip,
        30_000,
      );
      expect(await owner(lab, localIP, "node-2 answering")).toBe("node-2");
      await namedOnService("node-2", "local", localIP);
      await setEndpoints(lab, NS, "local", [{ node: "node-3" }]);
      await eventually(
        "node-3 answering",
        async () => ((await answering(lab, localIP, 1))[0] === "node-3" ? true : undefined),
        30_000,
      );
      await setEndpoints(lab, NS, "local", [{ node: "node-3", ready: false }]);
      await eventually(
        "nobody answering",
        async () => ((await answering(lab, localIP, 1)).length === 0 ? true : undefined),
        30_000,
      );
      // The last owner says so on the Service rather than go on being named.
      const c = await onService(`no node announces ${localIP}: `, "local", localIP);
      expect([c.status, c.reason]).toEqual(["False", "NotAnnounced"]);
    });

    it("moves the IP off a node labelled exclude-from-external-load-balancers, and back when unlabelled", async () => {
      const before = await owner(lab, ip, "an owner");
      await core().patchNode({
        name: before,
        body: [
          {
            op: "add",
            path: "/metadata/labels/node.kubernetes.io~1exclude-from-external-load-balancers",
            value: "",
          },
        ],
      });
      const moved = await owner(lab, ip, "another node answering", before);
      expect(moved).not.toBe(before);
      await core().patchNode({
        name: before,
        body: [
          {
            op: "remove",
            path: "/metadata/labels/node.kubernetes.io~1exclude-from-external-load-balancers",
          },
        ],
      });
      expect(await owner(lab, ip, "the first node answering again", moved)).toBe(before);
    });

    it("moves the IP to the Service's preferred node while it is eligible (barelb.io/preferred-node)", async () => {
      const annotations = "/metadata/annotations";
      const key = `${annotations}/barelb.io~1preferred-node`;
      const excludeLabel =
        "/metadata/labels/node.kubernetes.io~1exclude-from-external-load-balancers";
      const hashed = await owner(lab, ip, "an owner");
      const preferred = ["node-1", "node-2", "node-3"].find((n) => n !== hashed) ?? "";
      const svc = await core().readNamespacedService({ name: "sample", namespace: NS });
      await core().patchNamespacedService({
        name: "sample",
        namespace: NS,
        body: [
          ...(svc.metadata?.annotations === undefined
            ? [{ op: "add", path: annotations, value: {} }]
            : []),
          { op: "add", path: key, value: preferred },
        ],
      });
      expect(await owner(lab, ip, "the preferred node answering", hashed)).toBe(preferred);
      // Not eligible (excluded): the usual election; eligible again: back to it.
      await core().patchNode({
        name: preferred,
        body: [{ op: "add", path: excludeLabel, value: "" }],
      });
      const meanwhile = await owner(lab, ip, "another node answering", preferred);
      expect(meanwhile).toBe(hashed);
      await core().patchNode({ name: preferred, body: [{ op: "remove", path: excludeLabel }] });
      expect(await owner(lab, ip, "the preferred node again", hashed)).toBe(preferred);
      // The annotation removed: the hash's choice again.
      await core().patchNamespacedService({
        name: "sample",
        namespace: NS,
        body: [{ op: "remove", path: key }],
      });
      expect(await owner(lab, ip, "the hash's node again", preferred)).toBe(hashed);
      expect(await answering(lab, ip, 3)).toEqual([hashed]);
    });
  },
);
