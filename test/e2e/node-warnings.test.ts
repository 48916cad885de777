import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoordinationV1Api, CoreV1Api, type CoreV1Event } from "@kubernetes/client-node";
import { createLab, type Lab } from "../../src/lab/lab.js";
import {
  BARELB_NAMESPACE,
  LabCluster,
  sampleService,
  setEndpoints,
} from "../../src/lab/cluster.js";
import { loadKubeConfig } from "../../src/k8s/client.js";
import {
  MEMBERSHIP_ANNOTATION,
  NODE_WARNINGS_ANNOTATION,
  parseNodeWarnings,
} from "../../src/speaker/node-warnings.js";
import { answering, owner, serviceIP } from "../helpers/arp-owner.js";
import { eventually } from "../helpers/k8s.js";
import { prereqs } from "../helpers/prereq.js";
import { statusReport } from "../helpers/status.js";

// kube-proxy's IPVS mode without strictARP, set up for real (issue 11): in one node's
// namespace an interface kube-ipvs0 holds the Service's LoadBalancer IP while
// net.ipv4.conf.all.arp_ignore is 0, so that node's kernel answers ARP for the IP beside the
// node barelb chose (the client sees two MACs). Its speaker must say so on the Node (Warning
// Event), in its metric and on its Lease, and take it back once arp_ignore is 1. kube-proxy
// makes kube-ipvs0 a dummy link; where the dummy module is missing (as in this lab's kernel)
// an empty bridge of that name stands in: the kernel's ARP answer depends on the address
// being local, not on the link's type. The Wi-Fi warning cannot be set up here (no radio,
// no mac80211_hwsim): test/unit/speaker/node-facts.test.ts covers it on a fake sysfs.

const NS = "default";
const KIND = "KubeProxyIPVSWithoutStrictARP";

describe.runIf(prereqs("node-warnings e2e", ["root", "ip", "arping", "curl", "setpriv", "go"]))(
  "a node with kube-proxy IPVS and no strictARP",
  () => {
    let lab: Lab;
    let cluster: LabCluster | undefined;
    let ip = "";
    let chosen = "";
    let ipvsNode = "";
    const core = () => loadKubeConfig(lab.kubeconfig).makeApiClient(CoreV1Api);
    const leases = () => loadKubeConfig(lab.kubeconfig).makeApiClient(CoordinationV1Api);
    const exec = (node: string, argv: string[]) => lab.exec(lab.node(node), argv);

    /** The node's `barelb_speaker_node_warnings{kind}` value, read from its speaker. */
    async function gauge(node: string): Promise<string> {
      const r = await exec(node, ["curl", "-sS", "-m", "2", "http://127.0.0.1:7473/metrics"]);
      const re = new RegExp(`^barelb_speaker_node_warnings\\{kind="${KIND}"\\} (\\d+)`, "m");
      return re.exec(r.stdout)?.[1] ?? "missing";
    }
    const waitGauge = (node: string, value: string) =>
      eventually(
        `barelb_speaker_node_warnings{kind="${KIND}"} ${value} on ${node}`,
        async () => ((await gauge(node)) === value ? true : undefined),
        20_000,
        300,
      );

    /** The annotations of `node`'s speaker Lease. */
    async function leaseAnnotations(node: string): Promise<Record<string, string>> {
      const lease = await leases().readNamespacedLease({
        name: `barelb-speaker-${node}`,
        namespace: BARELB_NAMESPACE,
      });
      return lease.metadata?.annotations ?? {};
    }

    async function nodeEvents(node: string): Promise<CoreV1Event[]> {
      const list = await core().listNamespacedEvent({
        namespace: "default",
        fieldSelector: `involvedObject.kind=Node,involvedObject.name=${node},reason=${KIND}`,
      });
      return list.items;
    }

    beforeAll(async () => {
      lab = await createLab({ nodes: 2, controlPlane: true, persistent: false });
      // Checks every second and renewals every 2 s, so the test does not wait 30 s for each.
      cluster = await LabCluster.start(lab, {
        speakerArgs: ["--node-check-interval", "1s", "--renew-interval", "2s"],
      });
      await core().createNamespacedService({ namespace: NS, body: sampleService() });
      await setEndpoints(
        lab,
        NS,
        "sample",
        lab.nodes.map((n) => ({ node: n.name })),
      );
      ip = await serviceIP(lab, NS, "sample");
      chosen = await owner(lab, ip, "the elected node answering");
      ipvsNode = lab.nodes.map((n) => n.name).find((n) => n !== chosen) ?? "";
    });
    afterAll(async () => {
      // The node namespaces go with the lab, kube-ipvs0 with them.
      await cluster?.stop();
      await lab.down();
    });

    it("says nothing while no node has kube-ipvs0", async () => {
      for (const n of lab.nodes) {
        await waitGauge(n.name, "0");
        await eventually(
          `${n.name}'s Lease: no warnings, membership eligible`,
          async () => {
            const a = await leaseAnnotations(n.name);
            return a[NODE_WARNINGS_ANNOTATION] === "[]" && a[MEMBERSHIP_ANNOTATION] === "eligible"
              ? true
              : undefined;
          },
          20_000,
          300,
        );
      }
    });

    it("warns on the Node, in the metric and on the Lease when kube-ipvs0 holds the IP", async () => {
      await exec(ipvsNode, ["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=0"]);
      try {
        await exec(ipvsNode, ["ip", "link", "add", "kube-ipvs0", "type", "dummy"]);
      } catch {
        await exec(ipvsNode, ["ip", "link", "add", "kube-ipvs0", "type", "bridge"]);
      }
      await exec(ipvsNode, ["ip", "addr", "add", `${ip}/32`, "dev", "kube-ipvs0"]);

      // The failure is real: that node's kernel answers too.
      await eventually(
        `${ipvsNode}'s kernel answering ARP for ${ip} beside ${chosen}`,
        async () => {
          const a = await answering(lab, ip);
          return a.includes(ipvsNode) && a.includes(chosen) ? true : undefined;
        },
        20_000,
        200,
      );

      await waitGauge(ipvsNode, "1");
      expect(await gauge(chosen)).toBe("0");

      const [event] = await eventually(
        `a ${KIND} Event on Node ${ipvsNode}`,
        async () => {
          const items = await nodeEvents(ipvsNode);
          return items.length > 0 ? items : undefined;
        },
        20_000,
        300,
      );
      const node = await core().readNode({ name: ipvsNode });
      expect(event?.type).toBe("Warning");
      expect(event?.involvedObject.uid).toBe(node.metadata?.uid);
      expect(event?.message).toContain(`kube-ipvs0 holds the LoadBalancer IP ${ip}`);
      expect(event?.message).toContain("kubectl edit configmap -n kube-system kube-proxy");
      expect(event?.message).toContain("ipvs.strictARP: true");
      expect(await nodeEvents(chosen)).toEqual([]);

      const warned = await eventually(
        `${ipvsNode}'s Lease naming the warning`,
        async () => {
          const w = parseNodeWarnings((await leaseAnnotations(ipvsNode))[NODE_WARNINGS_ANNOTATION]);
          return w.length > 0 ? w : undefined;
        },
        20_000,
        300,
      );
      expect(warned.map((w) => w.kind)).toEqual([KIND]);
      expect(warned[0]?.message).toBe(event?.message);
      expect((await leaseAnnotations(chosen))[NODE_WARNINGS_ANNOTATION]).toBe("[]");
      // And `barelb status` names it, on the node and among the warnings.
      const r = await statusReport(lab.kubeconfig);
      expect(r.nodes.find((n) => n.name === ipvsNode)?.warnings.map((w) => w.kind)).toEqual([KIND]);
      expect(r.nodes.find((n) => n.name === chosen)?.warnings).toEqual([]);
      expect(r.warnings).toContainEqual({
        kind: KIND,
        object: `Node ${ipvsNode}`,
        message: event?.message,
      });
    });

    it("clears once net.ipv4.conf.all.arp_ignore is 1 (what strictARP sets)", async () => {
      await exec(ipvsNode, ["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"]);
      await waitGauge(ipvsNode, "0");
      await eventually(
        `${ipvsNode}'s Lease without warnings`,
        async () =>
          (await leaseAnnotations(ipvsNode))[NODE_WARNINGS_ANNOTATION] === "[]" ? true : undefined,
        20_000,
        300,
      );
      // And only the chosen node answers again.
      expect(await answering(lab, ip)).toEqual([chosen]);
      expect(cluster?.log(`speaker-${ipvsNode}`)).toContain("node warning cleared");
    });
  },
);
