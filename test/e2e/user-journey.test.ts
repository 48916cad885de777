import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prereqs } from "../helpers/prereq.js";
import { KubeLab, NAMESPACE, outage, podReady } from "../helpers/kube-lab.js";

// The user's journey on real nodes (kubelet, containerd, kube-proxy in every node namespace):
// `helm install` of charts/barelb with the image built from this tree, the pool ConfigMap and
// the sample Service of config/, `kubectl get svc`, and `curl` from a machine on the LAN,
// through the node that answers ARP and kube-proxy, to a pod. Then the faults a user meets:
// a speaker killed, a speaker deleted, a rolling upgrade, `externalTrafficPolicy: Local`, a
// namespace that enforces Pod Security, and `helm uninstall`.
//
// One lab for the whole file, the steps in order (each builds on the one before).

const log = (s: string) => console.log(`[user-journey] ${s}`);

describe.runIf(prereqs("user-journey e2e", ["root", "ip", "arping", "setpriv", "go"]))(
  "the user journey on real nodes",
  () => {
    let k = undefined as unknown as KubeLab;
    let ip = "";
    let url = "";

    beforeAll(async () => {
      // A cold machine builds the node binaries and the image first (minutes; cached after).
      k = await KubeLab.create(3, (line) => log(line));
    }, 60 * 60_000);

    afterAll(async () => {
      await (k as KubeLab | undefined)?.down();
    }, 120_000);

    it("helm install starts every pod of the chart on the nodes, with its own ServiceAccounts", async () => {
      const r = await k.install();
      // NOTES: the next step, the pool ConfigMap.
      expect(r.stdout).toContain("kubectl apply -f -");
      await k.applyPoolConfig();
      await k.waitBarelbReady();

      const controllers = await k.pods(NAMESPACE, "app.kubernetes.io/component=controller");
      expect(controllers).toHaveLength(2);
      expect(controllers.every(podReady)).toBe(true);
      expect(new Set(controllers.map((p) => p.spec.serviceAccountName))).toEqual(
        new Set(["barelb-controller"]),
      );
      const speakers = await k.pods(NAMESPACE, "app.kubernetes.io/component=speaker");
      expect(speakers.map((p) => p.spec.nodeName).sort()).toEqual(["node-1", "node-2", "node-3"]);
      expect(speakers.every(podReady)).toBe(true);
      expect(new Set(speakers.map((p) => p.spec.serviceAccountName))).toEqual(
        new Set(["barelb-speaker"]),
      );
      // hostNetwork: the speaker's pod IP is its node's address.
      for (const p of speakers) {
        expect(p.status.podIP).toBe(k.lab.node(p.spec.nodeName ?? "").ipv4);
      }
    });

    it("the sample Service gets an EXTERNAL-IP and curl from the LAN reaches a pod", async () => {
      await k.kubectl("apply", "-f", "config/sample-service.yaml");
      ip = await k.externalIP("sample");
      url = `http://${ip}:8080/`;
      expect(ip).toBe(k.lab.addresses.vipRange4.split("-")[0]);
      const table = (await k.kubectl("get", "svc", "sample")).stdout;
      log(`kubectl get svc sample\n${table}`);
      expect(table).toMatch(
        new RegExp(`sample\\s+LoadBalancer\\s+\\S+\\s+${ip.replaceAll(".", "\\.")}\\s`),
      );
      const body = await k.until("curl to reach a pod", 60_000, () => k.curl(url));
      expect(body).toMatch(/^hello from sample-\S+ on node-\d$/);
      // Requests spread over both pods, wherever they run, once the second is Ready too (the
      // first curl can come as soon as one pod is).
      const seen = new Set<string>();
      await k.until("curl to reach both pods", 60_000, async () => {
        const b = await k.curl(url);
        if (b !== undefined) seen.add(b);
        return seen.size >= 2 ? true : undefined;
      });
      expect(seen.size).toBe(2);
    });

    it("the owner's speaker killed (SIGKILL): curl works again within the failover time", async () => {
      const owner = await k.until("an ARP owner", 10_000, () => k.arpOwner(ip));
      const pod = await k.speakerOn(owner);
      const container = pod.status.containerStatuses?.[0];
      if (container?.containerID === undefined) throw new Error("speaker has no container ID");
      const prober = k.startProber(url);
      await k.until(
        "the prober's first success",
        10_000,
        () => prober.attempts.some((a) => a.ok) || undefined,
      );
      const faultAt = Date.now();
      await k.killContainer(owner, container.containerID);
      await k.until("the IP to be answered by another node", 30_000, async () => {
        const now = await k.arpOwner(ip);
        return now !== undefined && now !== owner;
      });
      await k.until("a successful request after the kill", 30_000, () =>
        prober.attempts.some((a) => a.ok && a.t > faultAt + 1_500),
      );
      const o = outage(await prober.stop(), faultAt);
      log(`SIGKILL of ${owner}'s speaker: ${JSON.stringify(o)}`);
      expect(o.recoveredAfterMs).not.toBeNull();
      // The kubelet restarts the container; it rejoins.
      await k.waitBarelbReady();
      const again = await k.speakerOn(owner);
      expect(again.status.containerStatuses?.[0]?.restartCount).toBe(container.restartCount + 1);
    });

    it("a speaker deleted and a helm upgrade that rolls every speaker: the client keeps being served", async () => {
      const owner = await k.until("an ARP owner", 10_000, () => k.arpOwner(ip));
      const prober = k.startProber(url);
      await k.until(
        "the prober's first success",
        10_000,
        () => prober.attempts.some((a) => a.ok) || undefined,
      );
      const deleteAt = Date.now();
      await k.kubectl("-n", NAMESPACE, "delete", "pod", (await k.speakerOn(owner)).metadata.name);
      await k.waitBarelbReady();
      const upgradeAt = Date.now();
      const speakerNames = async () =>
        (await k.pods(NAMESPACE, "app.kubernetes.io/component=speaker")).map(
          (p) => p.metadata.name,
        );
      const beforeRoll = await speakerNames();
      // The chart's heartbeat key Secret survives the upgrade (helm's lookup keeps it).
      const heartbeatKey = async () =>
        (
          await k.json<{ data: { key: string } }>(
            "-n",
            NAMESPACE,
            "get",
            "secret",
            "barelb-heartbeat-key",
          )
        ).data.key;
      const keyBefore = await heartbeatKey();
      await k.rollSpeakers(180);
      await k.waitBarelbReady();
      await k.until("a success after the rollout", 10_000, () =>
        prober.attempts.some((a) => a.ok && a.t > Date.now() - 2_000),
      );
      const attempts = await prober.stop();
      const del = outage(
        attempts.filter((a) => a.t < upgradeAt),
        deleteAt,
      );
      const roll = outage(attempts, upgradeAt);
      log(
        `speaker pod deleted: ${JSON.stringify(del)}; helm upgrade rolling 3 speakers: ${JSON.stringify(roll)}`,
      );
      expect(del.attempts).toBeGreaterThan(50);
      expect(roll.attempts).toBeGreaterThan(50);
      expect(del.recoveredAfterMs).not.toBeNull();
      expect(roll.recoveredAfterMs).not.toBeNull();
      // Every speaker was replaced by the upgrade.
      const afterRoll = await speakerNames();
      expect(afterRoll).toHaveLength(3);
      expect(afterRoll.filter((n) => beforeRoll.includes(n))).toEqual([]);
      expect(await heartbeatKey()).toBe(keyBefore);
    });

    it("externalTrafficPolicy Local: only a node with a ready pod announces, and the IP follows the pod", async () => {
      await k.kubectl("scale", "deployment/sample", "--replicas=1");
      await k.setTrafficPolicy("sample", "Local");
      const podNode = async () => {
        const pods = (await k.pods("default", "app=sample")).filter(
          (p) => p.metadata.deletionTimestamp === undefined && podReady(p),
        );
        return pods.length === 1 ? pods[0]?.spec.nodeName : undefined;
      };
      const first = await k.until("one ready sample pod", 60_000, podNode);
      await k.until(
        `the IP to be announced by ${first}`,
        30_000,
        async () => (await k.arpOwner(ip)) === first,
      );
      expect(await k.until("curl to reach the pod", 30_000, () => k.curl(url))).toContain(
        `on ${first}`,
      );

      // Move the pod: its node cordoned, the pod deleted, the Deployment makes one elsewhere.
      await k.kubectl("cordon", first);
      try {
        await k.kubectl("delete", "pod", "-l", "app=sample", "--wait=false");
        const second = await k.until("the pod on another node", 90_000, async () => {
          const n = await podNode();
          return n !== undefined && n !== first ? n : undefined;
        });
        await k.until(
          `the IP to follow the pod to ${second}`,
          30_000,
          async () => (await k.arpOwner(ip)) === second,
        );
        expect(await k.until("curl to reach the moved pod", 30_000, () => k.curl(url))).toContain(
          `on ${second}`,
        );
      } finally {
        await k.kubectl("uncordon", first);
      }
    });

    it("a namespace enforcing Pod Security baseline refuses the speaker, and the chart says how to fix it", async () => {
      const ns = "barelb-baseline";
      await k.kubectl("create", "namespace", ns);
      await k.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=baseline");
      // A second release that handles no Service (its own class, no controller): only the
      // speaker's admission is under test here.
      const r = await k.helm([
        "install",
        "barelb-psa",
        "charts/barelb",
        "-n",
        ns,
        "--set",
        "controller.replicas=0",
        "--set",
        "loadBalancerClass=example.com/none",
      ]);
      expect(r.stdout).toContain(
        `kubectl label namespace ${ns} pod-security.kubernetes.io/enforce=privileged`,
      );
      const refusal = await k.until("the DaemonSet's FailedCreate Event", 60_000, async () => {
        const events = await k.json<{ items: { reason: string; message: string }[] }>(
          "-n",
          ns,
          "get",
          "events",
          "--field-selector",
          "involvedObject.kind=DaemonSet",
        );
        return events.items.find((e) => e.reason === "FailedCreate")?.message;
      });
      expect(refusal).toContain('violates PodSecurity "baseline:latest"');
      expect(refusal).toContain("host namespaces");
      expect(await k.pods(ns, "app.kubernetes.io/component=speaker")).toEqual([]);
      await k.helm(["uninstall", "barelb-psa", "-n", ns, "--wait"]);
      await k.kubectl("delete", "namespace", ns, "--wait=false");
    });

    it("helm uninstall leaves no barelb object behind; Services keep their status", async () => {
      await k.helm(["uninstall", "barelb", "-n", NAMESPACE, "--wait", "--timeout", "120s"]);
      await k.until(
        "barelb's pods to be gone",
        60_000,
        async () => (await k.pods(NAMESPACE, "app.kubernetes.io/instance=barelb")).length === 0,
      );
      const labelled = async (kinds: string, namespaced: boolean) =>
        (
          await k.json<{ items: { kind: string; metadata: { name: string } }[] }>(
            "get",
            kinds,
            ...(namespaced ? ["-A"] : []),
            "-l",
            "app.kubernetes.io/part-of=barelb",
          )
        ).items.map((i) => `${i.kind}/${i.metadata.name}`);
      expect(await labelled("clusterroles,clusterrolebindings", false)).toEqual([]);
      expect(
        await labelled(
          "deployments,daemonsets,serviceaccounts,roles,rolebindings,configmaps",
          true,
        ),
      ).toEqual([]);
      // What the programs made at run time: the speakers delete their Leases when stopped;
      // the controller's leader Lease is released (no holder) and stays, as with any
      // leader-elected program.
      const leases = await k.json<{
        items: { metadata: { name: string }; spec: { holderIdentity?: string } }[];
      }>("-n", NAMESPACE, "get", "leases");
      expect(leases.items.filter((l) => l.metadata.name.startsWith("barelb-speaker-"))).toEqual([]);
      for (const l of leases.items) expect(l.spec.holderIdentity ?? "").toBe("");
      // The user's own objects stay: the pool ConfigMap they applied, and the Service, whose
      // status keeps the IP although nobody answers for it any more.
      await k.kubectl("-n", NAMESPACE, "get", "configmap", "barelb-config");
      expect(await k.externalIP("sample")).toBe(ip);
      expect(await k.arpOwner(ip)).toBeUndefined();
    });

    it("installed again, barelb keeps the Service's IP and serves it", async () => {
      await k.install();
      await k.waitBarelbReady();
      expect(await k.externalIP("sample")).toBe(ip);
      expect(await k.until("curl to reach the pod again", 60_000, () => k.curl(url))).toMatch(
        /^hello from sample-/,
      );
    });
  },
);
