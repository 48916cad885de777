// Failover on real nodes, as a LAN client sees it with TCP: `npm run bench -- cluster [--runs N]`
// (needs root; the first run builds the node binaries and the image, minutes).
//
// A lab with real nodes (`barelb lab up --kubelet`, 3 nodes), barelb installed with the chart,
// the pool ConfigMap and the sample Service of config/ (2 web pods). The client namespace runs
// test/fixtures/http-prober.ts: a NEW TCP connection and one HTTP GET to the EXTERNAL-IP every
// 20 ms, each given 1 s. For each fault, from the fault's moment (wall clock, the prober's
// clock too):
//   failed       attempts started after the fault that failed (timeout, reset, refused);
//   recovered    fault → the end of the first successful attempt after the last failure,
//                i.e. when the service was back for good (0: nothing failed).
// Faults, in this order:
//   kill         the owner's speaker container SIGKILLed through containerd (the kubelet
//                restarts it), N runs;
//   delete       `kubectl delete pod` of the owner's speaker (graceful), N runs;
//   upgrade      `helm upgrade` changing a speaker annotation: every speaker rolled, 1 run;
//   node-cluster the owner node dies whole (link down, then its kubelet, kube-proxy,
//                containerd, containers killed) with externalTrafficPolicy Cluster: after the
//                IP moves, the new owner still sends part of the connections to the dead
//                node's pod until the Node is marked NotReady (kube-controller-manager's
//                --node-monitor-grace-period) and the endpoint leaves;
//   node-local   the same with externalTrafficPolicy Local and a pod on each live node: the
//                IP moves only to nodes with a ready endpoint of their own.
// Nothing passes or fails on a figure.
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { killContainers } from "../src/lab/real-nodes.js";
import { terminate } from "../src/util/proc.js";
import { KubeLab, NAMESPACE, outage, podReady, type Attempt } from "../test/helpers/kube-lab.js";
import { summary, writeResult } from "./_report.js";

interface Run {
  fault: string;
  owner: string;
  newOwner: string | undefined;
  attempts: number;
  failed: number;
  recoveredAfterMs: number | null;
  /** Failed attempts in each second after the fault (node deaths: how long failures go on). */
  failedPerSecond?: number[];
  /** Failed attempts by error (timeout, ECONNREFUSED, ...). */
  errors: Record<string, number>;
  /** The node answering ARP for the IP, sampled every second while the fault is watched. */
  owners: (string | null)[];
  /** Node deaths: the sample Service's ready endpoints on the dead node, every second. */
  readyOnDead?: number[];
  /** Node deaths: [second after the fault, error] of every failed attempt. */
  failures?: [number, string][];
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: "string", default: "3" },
      "node-watch": { type: "string", default: "90" },
      faults: { type: "string", default: "kill,delete,upgrade,node-cluster,node-local" },
    },
  });
  const faults = new Set(values.faults.split(","));
  const runs = Number(values.runs);
  const nodeWatchS = Number(values["node-watch"]);
  const t0 = Date.now();
  const k = await KubeLab.create(3, (l) => process.stderr.write(`  ${l}\n`));
  const results: Run[] = [];
  try {
    await k.install();
    await k.applyPoolConfig();
    await k.waitBarelbReady();
    await k.kubectl("apply", "-f", "config/sample-service.yaml");
    const ip = await k.externalIP("sample");
    const url = `http://${ip}:8080/`;
    await k.until("curl to reach a pod", 60_000, () => k.curl(url));
    process.stderr.write(`lab up, ${ip} served, in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);

    const owner = () => k.until("an ARP owner", 15_000, () => k.arpOwner(ip));
    const readyEndpointsOn = async (node: string) => {
      const slices = await k.json<{
        items: { endpoints?: { nodeName?: string; conditions?: { ready?: boolean } }[] }[];
      }>("get", "endpointslices", "-l", "kubernetes.io/service-name=sample");
      return slices.items
        .flatMap((sl) => sl.endpoints ?? [])
        .filter((e) => e.nodeName === node && e.conditions?.ready === true).length;
    };
    const measure = async (
      fault: string,
      act: (owner: string) => Promise<void>,
      watchMs: number,
    ): Promise<Run> => {
      const before = await owner();
      const prober = k.startProber(url);
      await k.until(
        "the prober's first success",
        10_000,
        () => prober.attempts.some((a) => a.ok) || undefined,
      );
      await sleep(500);
      const faultAt = Date.now();
      const owners: (string | null)[] = [];
      const readyOnDead: number[] = [];
      const long = watchMs > 10_000;
      const sampling = (async () => {
        for (let s = 1; Date.now() < faultAt + watchMs; s++) {
          owners.push((await k.arpOwner(ip)) ?? null);
          if (long) readyOnDead.push(await readyEndpointsOn(before));
          await sleep(Math.max(0, faultAt + s * 1000 - Date.now()));
        }
      })();
      await act(before);
      await sleep(Math.max(0, faultAt + watchMs - Date.now()));
      await sampling;
      const attempts = await prober.stop();
      const errors: Record<string, number> = {};
      for (const a of attempts.filter((x) => !x.ok && x.t >= faultAt))
        errors[a.err ?? "?"] = (errors[a.err ?? "?"] ?? 0) + 1;
      const o = outage(attempts, faultAt);
      const run: Run = {
        fault,
        owner: before,
        newOwner: await k.arpOwner(ip),
        ...o,
        errors,
        owners,
        ...(long
          ? {
              failedPerSecond: perSecond(attempts, faultAt, watchMs),
              readyOnDead,
              failures: attempts
                .filter((a) => !a.ok && a.t >= faultAt)
                .map((a): [number, string] => [Math.round(a.t - faultAt), a.err ?? "?"]),
            }
          : {}),
      };
      process.stderr.write(`${fault}: ${JSON.stringify(run)}\n`);
      results.push(run);
      return run;
    };
    const settle = async () => {
      await k.waitBarelbReady();
      // A speaker killed or restarted is held by its peers for a while after it returns.
      await sleep(5_000);
    };

    for (let i = 0; i < (faults.has("kill") ? runs : 0); i++) {
      await measure(
        "kill",
        async (node) => {
          const c = (await k.speakerOn(node)).status.containerStatuses?.[0]?.containerID;
          if (c === undefined) throw new Error("speaker without container ID");
          await k.killContainer(node, c);
        },
        6_000,
      );
      await settle();
    }
    for (let i = 0; i < (faults.has("delete") ? runs : 0); i++) {
      await measure(
        "delete",
        async (node) => {
          await k.kubectl(
            "-n",
            NAMESPACE,
            "delete",
            "pod",
            "--wait=false",
            (await k.speakerOn(node)).metadata.name,
          );
        },
        6_000,
      );
      await settle();
    }
    if (faults.has("upgrade")) await measure("upgrade", () => k.rollSpeakers(), 3_000);
    await settle();

    // Node deaths. Cluster: the owner dies; its web pod (if it had one) stays a ready endpoint
    // until the Node is NotReady.
    const killNode = async (node: string) => {
      const host = k.lab.node(node);
      await k.lab.exec(host, ["ip", "link", "set", host.ifname, "down"]);
      const procs = k.lab.record.processes.filter((p) => p.name.startsWith(`${node}/`));
      await Promise.all(procs.map((p) => terminate(p, 0)));
      await killContainers(join(k.lab.record.dir, "nodes", node));
    };
    // Make sure the owner has a web pod, so that the dead node still holds an endpoint.
    const ownerCluster = await owner();
    const webNodes = async () =>
      (await k.pods("default", "app=sample"))
        .filter((p) => podReady(p))
        .map((p) => p.spec.nodeName);
    if (!(await webNodes()).includes(ownerCluster)) {
      await k.kubectl("scale", "deployment/sample", "--replicas=3");
      await k.until(
        "a web pod on every node",
        60_000,
        async () => new Set(await webNodes()).size === 3 || undefined,
      );
    }
    const notReadyAt: { node: string; at: number | null } = { node: "", at: null };
    if (faults.has("node-cluster"))
      await measure(
        "node-cluster",
        async (node) => {
          notReadyAt.node = node;
          await killNode(node);
        },
        nodeWatchS * 1000,
      );
    const nodeJson =
      notReadyAt.node === ""
        ? null
        : await k.json<{
            status: { conditions: { type: string; status: string; lastTransitionTime: string }[] };
          }>("get", "node", notReadyAt.node);
    const ready = nodeJson?.status.conditions.find((c) => c.type === "Ready");
    const deadNode = notReadyAt.node;

    // Local: a pod on each of the two live nodes; the owner dies.
    await k.setTrafficPolicy("sample", "Local");
    await k.kubectl("scale", "deployment/sample", "--replicas=4");
    const live = k.lab.nodes.map((n) => n.name).filter((n) => n !== deadNode);
    await k.until("a ready web pod on both live nodes", 120_000, async () => {
      const nodes = new Set(await webNodes());
      return live.every((n) => nodes.has(n)) || undefined;
    });
    await sleep(3_000);
    if (faults.has("node-local")) await measure("node-local", (node) => killNode(node), 20_000);

    const by = (fault: string) => results.filter((r) => r.fault === fault);
    const figures = Object.fromEntries(
      ["kill", "delete", "upgrade", "node-cluster", "node-local"].map((f) => [
        f,
        {
          recoveredMs: summary(by(f).map((r) => r.recoveredAfterMs ?? Infinity)),
          failed: summary(by(f).map((r) => r.failed)),
          attempts: summary(by(f).map((r) => r.attempts)),
        },
      ]),
    );
    const lastFailureS = (r: Run | undefined) => {
      const per = r?.failedPerSecond ?? [];
      let last = -1;
      per.forEach((n, i) => {
        if (n > 0) last = i;
      });
      return last + 1;
    };
    const nodeCluster = by("node-cluster")[0];
    console.log("\ncluster failover, seen by a client making a new TCP connection every 20 ms:");
    for (const [f, v] of Object.entries(figures)) {
      console.log(
        `  ${f.padEnd(13)} runs ${v.failed.n}: recovered p50 ${fmt(v.recoveredMs.p50)} max ${fmt(v.recoveredMs.max)}; failed attempts p50 ${v.failed.p50} max ${v.failed.max}`,
      );
    }
    console.log(
      `  node death (Cluster): failures went on for ${lastFailureS(nodeCluster)} s; Node Ready became ${ready?.status ?? "?"} at ${ready?.lastTransitionTime ?? "?"}`,
    );
    const file = writeResult("cluster", {
      runs,
      nodeWatchS,
      loadavg: loadavg(),
      figures,
      nodeClusterFailuresLastSecond: lastFailureS(nodeCluster),
      deadNodeReady: ready ?? null,
      results,
    });
    console.log(`\nwrote ${file}`);
  } finally {
    await k.down();
  }
}

function fmt(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "never";
}

function perSecond(attempts: readonly Attempt[], faultAt: number, watchMs: number): number[] {
  const out = Array.from({ length: Math.ceil(watchMs / 1000) }, () => 0);
  for (const a of attempts) {
    const s = Math.floor((a.t - faultAt) / 1000);
    if (!a.ok && s >= 0 && s < out.length) out[s] = (out[s] ?? 0) + 1;
  }
  return out;
}
