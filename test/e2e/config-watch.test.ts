import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoreV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { createLab, type Lab } from "../../src/lab/lab.js";
import {
  applyConfigMap,
  BARELB_NAMESPACE,
  LabCluster,
  sampleService,
  setEndpoints,
} from "../../src/lab/cluster.js";
import { loadKubeConfig } from "../../src/k8s/client.js";
import { score } from "../../src/speaker/election.js";
import { answering, owner, serviceIP } from "../helpers/arp-owner.js";
import { eventually } from "../helpers/k8s.js";
import { prereqs } from "../helpers/prereq.js";

// The pool config as the speakers see it (issue 10): a refused edit, a ConfigMap without its
// "config" key and a deleted ConfigMap change nothing a speaker announces. The pool's
// node-selectors pin the IP on a node that would NOT win it among all three, so a speaker
// that dropped the selectors (reading a missing key as an empty config, as one did) would
// move the IP, and the LAN client would see it. Real API server, three node namespaces,
// arping from the client.

const NS = "default";
const CM = "barelb-config";

describe.runIf(prereqs("config-watch e2e", ["root", "ip", "arping", "curl", "setpriv", "go"]))(
  "speakers keep the last good config",
  () => {
    let lab: Lab;
    let cluster: LabCluster;
    let ip = "";
    let pinned = "";
    let good: V1ConfigMap;
    const core = () => loadKubeConfig(lab.kubeconfig).makeApiClient(CoreV1Api);

    /** A ConfigMap whose one pool holds the lab's ranges, announced only by `node` (if any). */
    function poolConfig(node?: string): V1ConfigMap {
      const pool = {
        name: "default",
        protocol: "layer2",
        addresses: [lab.addresses.vipRange4, lab.addresses.vipCidr6],
        ...(node === undefined
          ? {}
          : { "node-selectors": [{ matchLabels: { "kubernetes.io/hostname": node } }] }),
      };
      return {
        metadata: { name: CM, namespace: BARELB_NAMESPACE },
        data: { config: stringify({ "address-pools": [pool] }) },
      };
    }

    /** Every speaker's barelb_config_stale gauge, read from its node. */
    async function staleGauges(): Promise<string[]> {
      return Promise.all(
        lab.nodes.map(async (n) => {
          const r = await lab.exec(n, ["curl", "-sS", "-m", "2", "http://127.0.0.1:7473/metrics"]);
          return /^barelb_config_stale (\d)/m.exec(r.stdout)?.[1] ?? "missing";
        }),
      );
    }

    /** The IP stays on `pinned` for a few seconds: every probe answered by it alone. */
    async function staysPinned(): Promise<void> {
      for (let i = 0; i < 6; i++) {
        expect(await answering(lab, ip, 1)).toEqual([pinned]);
        await new Promise((r) => setTimeout(r, 500));
      }
    }

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
      // The node that loses the election among all three: pinned there by the selectors.
      pinned =
        lab.nodes
          .map((n) => n.name)
          .sort((a, b) => (score(a, ip) > score(b, ip) ? -1 : score(a, ip) < score(b, ip) ? 1 : 0))
          .at(0) ?? "";
      good = poolConfig(pinned);
      await applyConfigMap(core(), good);
    });
    afterAll(async () => {
      await cluster.stop();
      await lab.down();
    });

    it("announces from the node the pool's node-selectors name", async () => {
      expect(await owner(lab, ip, `${pinned} answering`)).toBe(pinned);
      expect(await staleGauges()).toEqual(["0", "0", "0"]);
    });

    it("keeps announcing there after a refused edit", async () => {
      await applyConfigMap(core(), {
        ...good,
        data: {
          config: "address-pools:\n- name: default\n  protocol: layer2\n  addresses: [not-an-ip]\n",
        },
      });
      await eventually("every speaker's config stale", async () =>
        (await staleGauges()).every((g) => g === "1") ? true : undefined,
      );
      await staysPinned();
    });

    it("keeps announcing there when the ConfigMap loses its config key", async () => {
      await applyConfigMap(core(), { ...good, data: { other: "x" } });
      await staysPinned();
      expect(await staleGauges()).toEqual(["1", "1", "1"]);
    });

    it("keeps announcing there when the ConfigMap is deleted", async () => {
      await core().deleteNamespacedConfigMap({ name: CM, namespace: BARELB_NAMESPACE });
      await staysPinned();
      expect(await staleGauges()).toEqual(["1", "1", "1"]);
    });

    it("follows the next good config: without selectors the election's winner takes the IP", async () => {
      await applyConfigMap(core(), poolConfig());
      const winner = await owner(lab, ip, "the election's winner answering", pinned);
      expect(winner).not.toBe(pinned);
      expect(await staleGauges()).toEqual(["0", "0", "0"]);
    });
  },
);
