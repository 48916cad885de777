// Steady-state API load of barelb: `npm run bench -- api-load [--services 10,1000] [--window 60]`
// (needs root: it builds a lab of network namespaces with a real API server).
//
// A lab with 3 nodes, the controller and a speaker per node (default timings). For each count
// of LoadBalancer Services (default 10, then 1,000: the same Services plus 990 more):
//   - creates the Services: IPv6 single-stack, allocateLoadBalancerNodePorts: false, with one
//     EndpointSlice each holding a ready endpoint on every node (every Service has slices, so
//     every IP is announced and every speaker watches 1 slice per Service). The lab's pool
//     already holds 2001:db8:0:<slot>::1:0/112 (65,536 addresses, in the documentation
//     range) beside its 31 IPv4 addresses, so the lab's own ConfigMap serves 1,000 IPv6
//     Services as it is;
//   - waits until every Service has an IP, the speakers together announce each IP exactly
//     once, and the cluster is idle (no API write but Lease renewals for 10 s);
//   - counts API requests over a --window (default 60 s) with kube-apiserver's own
//     apiserver_request_total, by verb and resource: writes per second in total and per kind
//     (Lease renewals, Events, Service status, other), and reads (LIST/WATCH/GET) for context;
//   - reads the RSS (VmRSS, and the peak VmHWM) of each speaker and of the controller from
//     /proc/<pid>/status, and each speaker's JS heap from its /metrics.
//   - counts the Service status writes from the first create to idle: the controller's
//     (PATCH) and the speakers' announced conditions (APPLY), which must be O(ownership
//     changes) and 0 in the steady window;
//   - then stops the speaker announcing the most IPs (SIGTERM) and starts it again, and counts
//     the announced conditions' APPLYs each time: they must follow the IPs that move.
// Nothing passes or fails on a figure; writes must not grow with the Services.
import { loadavg } from "node:os";
import { CoreV1Api, DiscoveryV1Api } from "@kubernetes/client-node";
import { loadKubeConfig } from "../src/k8s/client.js";
import { LabCluster } from "../src/lab/cluster.js";
import { createLab } from "../src/lab/lab.js";
import type { ProcessRef } from "../src/util/proc.js";
import {
  announcedIPs,
  createServices,
  metricMiB,
  procStatusMiB,
  r2,
  sleep,
  speakerMetrics,
  waitFor,
} from "./_lab.js";
import { writeResult } from "./_report.js";
import { apiRequests, apiServerAccess, diffCounts, waitIdle, writesOnly } from "./_k8s.js";

const NS = "bench";

interface SpeakerMemory {
  rss: number;
  peak: number;
  heapUsedMiB: number;
}
const load = () => loadavg().map((x) => Math.round(x * 100) / 100);

export async function main(args: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const counts = (arg("--services") ?? "10,1000").split(",").map(Number);
  const windowS = Number(arg("--window") ?? 60);
  const loadBefore = load();
  console.log(
    `api-load: ${counts.join(" then ")} Services, ${windowS} s windows; load average ${loadBefore.join(" ")}`,
  );
  const lab = await createLab({ nodes: 3, controlPlane: true, persistent: false });
  let cluster: LabCluster | undefined;
  try {
    cluster = await LabCluster.start(lab);
    const c = cluster;
    const kc = loadKubeConfig(lab.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const api = apiServerAccess(lab.kubeconfig);
    await core.createNamespace({ body: { metadata: { name: NS } } });

    let created = 0;
    const phases: Record<string, unknown>[] = [];
    for (const count of counts) {
      console.log(`creating Services ${created} to ${count - 1} with their EndpointSlices...`);
      const t0 = performance.now();
      const beforeCreate = await apiRequests(api);
      await createServices(core, discovery, lab, NS, created, count);
      created = count;
      await waitFor(`all ${count} Services with an IP`, 600_000, async () => {
        const list = await core.listNamespacedService({ namespace: NS });
        return list.items.filter((s) => s.status?.loadBalancer?.ingress?.[0]?.ip !== undefined)
          .length === count
          ? true
          : undefined;
      });
      const announced = await waitFor(`all ${count} IPs announced`, 600_000, async () => {
        const per = await Promise.all(lab.nodes.map((n) => speakerMetrics(n.ipv4)));
        const ips = per.flatMap(announcedIPs);
        return new Set(ips).size === count
          ? { total: ips.length, perNode: per.map((m) => announcedIPs(m).length) }
          : undefined;
      });
      const readySeconds = (performance.now() - t0) / 1000;
      console.log(
        `${count} Services: all assigned and announced ${r2(readySeconds)} s after the first create (per node ${announced.perNode.join("/")}, ${announced.total - count} announced twice); waiting for idle...`,
      );
      const idleAfter = await waitIdle(api);
      // Service status writes from the first create to idle: the controller's merge patches
      // (PATCH, one per new Service) and the speakers' announced conditions (APPLY, one per
      // Service whose IP gained an owner, more if an IP moved while the speakers started).
      const createWrites = writesOnly(diffCounts(beforeCreate, await apiRequests(api)));
      const statusAtCreation = {
        controllerPatches: createWrites["PATCH services status"] ?? 0,
        speakerApplies: createWrites["APPLY services status"] ?? 0,
      };
      console.log(
        `idle after ${r2(idleAfter)} s; Service status writes since the first create: ${statusAtCreation.controllerPatches} PATCH (controller) + ${statusAtCreation.speakerApplies} APPLY (speakers' announced conditions); counting for ${windowS} s...`,
      );

      const loadStart = load();
      const before = await apiRequests(api);
      const tStart = performance.now();
      await sleep(windowS * 1000);
      const delta = diffCounts(before, await apiRequests(api));
      const seconds = (performance.now() - tStart) / 1000;
      const writes = writesOnly(delta);
      const rate = (pred: (k: string) => boolean, from = writes) =>
        r2(
          Object.entries(from)
            .filter(([k]) => pred(k))
            .reduce((s, [, v]) => s + v, 0) / seconds,
        );
      const kinds = {
        leaseRenewals: rate((k) => / leases /.test(k)),
        // The speakers renew their own Leases with PATCH, the controller its leader Lease with PUT.
        leasePatches: rate((k) => /^PATCH leases /.test(k)),
        leasePuts: rate((k) => /^PUT leases /.test(k)),
        events: rate((k) => / events /.test(k)),
        serviceStatus: rate((k) => /^\S+ services status$/.test(k)),
        other: rate((k) => !/ (leases|events) /.test(k) && !/^\S+ services status$/.test(k)),
      };
      // The speakers' only steady writes are their Lease renewals (PATCH); per node.
      const speakerWritesPerNode = r2(kinds.leasePatches / lab.nodes.length);
      const reads = Object.fromEntries(Object.entries(delta).filter(([k]) => !(k in writes)));
      const speakers: Record<string, SpeakerMemory> = {};
      for (const n of lab.nodes) {
        speakers[n.name] = {
          ...rssMiB(c.speakers.get(n.name)),
          heapUsedMiB: Math.round(
            metricMiB(await speakerMetrics(n.ipv4), "nodejs_heap_size_used_bytes"),
          ),
        };
      }
      const memory = {
        speakers,
        controller: rssMiB(c.controller),
      };
      const phase = {
        services: count,
        readySeconds: r2(readySeconds),
        idleAfterSeconds: r2(idleAfter),
        ipsAnnouncedTwice: announced.total - count,
        serviceStatusWritesAtCreation: statusAtCreation,
        announcedPerNode: announced.perNode,
        windowSeconds: r2(seconds),
        loadAverage: loadStart,
        writesPerSecond: rate(() => true),
        writesPerSecondByKind: kinds,
        speakerWritesPerNodePerSecond: speakerWritesPerNode,
        apiHealthReadsPerSecond: rate((k) => /^GET leases /.test(k), reads),
        writes,
        readsPerSecond: rate(() => true, reads),
        reads,
        memoryMiB: memory,
      };
      phases.push(phase);
      console.log(
        `${count} Services: ${phase.writesPerSecond} writes/s (Lease renewals ${kinds.leaseRenewals}: PATCH ${kinds.leasePatches} + PUT ${kinds.leasePuts}, Events ${kinds.events}, Service status ${kinds.serviceStatus}, other ${kinds.other}); reads ${phase.readsPerSecond}/s; load ${loadStart.join(" ")}`,
      );
      console.log(
        `  speaker writes per node: ${speakerWritesPerNode}/s (one per ${r2(1 / speakerWritesPerNode)} s); Lease reads (API health) ${phase.apiHealthReadsPerSecond}/s in all`,
      );
      console.log(`  writes in ${r2(seconds)} s: ${JSON.stringify(writes)}`);
      console.log(`  reads in ${r2(seconds)} s: ${JSON.stringify(reads)}`);
      console.log(
        `  RSS: speakers ${lab.nodes
          .map((n) => {
            const m = speakers[n.name];
            return `${n.name} ${m?.rss ?? NaN} MiB (peak ${m?.peak ?? NaN}, JS heap ${m?.heapUsedMiB ?? NaN})`;
          })
          .join(", ")}; controller ${memory.controller.rss} MiB (peak ${memory.controller.peak})`,
      );
    }
    // Ownership changes: the writes for "who announces" follow the IPs that move, not the
    // Services or time. The node announcing the most IPs stops (SIGTERM), then comes back and
    // wins the same IPs back; each time, count the APPLYs of announced conditions until idle.
    const moves: Record<string, unknown>[] = [];
    // A stopped speaker has no metrics endpoint: it announces nothing.
    const perNode = async () =>
      (await Promise.all(lab.nodes.map((n) => speakerMetrics(n.ipv4).catch(() => "")))).map(
        (m) => announcedIPs(m).length,
      );
    const counted = await perNode();
    const victim = lab.nodes[counted.indexOf(Math.max(...counted))]?.name ?? "";
    const moved = Math.max(...counted);
    const allAnnounced = (what: string, ok: (per: number[]) => boolean) =>
      waitFor(what, 600_000, async () => {
        const per = await perNode();
        return ok(per) ? per : undefined;
      });
    for (const step of ["stop", "restart"] as const) {
      const before = await apiRequests(api);
      const t0 = performance.now();
      if (step === "stop") await c.stopSpeaker(victim, "SIGTERM");
      else c.startSpeaker(victim);
      const victimIndex = lab.nodes.findIndex((n) => n.name === victim);
      const per = await allAnnounced(`every IP announced after the ${step}`, (p) =>
        step === "stop"
          ? p.reduce((a, b, i) => a + (i === victimIndex ? 0 : b), 0) === created
          : p[victimIndex] === moved && p.reduce((a, b) => a + b, 0) === created,
      );
      const settledS = (performance.now() - t0) / 1000;
      await waitIdle(api);
      const w = writesOnly(diffCounts(before, await apiRequests(api)));
      const move = {
        step,
        node: victim,
        ipsMoved: moved,
        announcedPerNode: per,
        settledSeconds: r2(settledS),
        conditionApplies: w["APPLY services status"] ?? 0,
        controllerPatches: w["PATCH services status"] ?? 0,
        events: Object.entries(w)
          .filter(([k]) => / events /.test(k))
          .reduce((a, [, v]) => a + v, 0),
      };
      moves.push(move);
      console.log(
        `${step} of ${victim} (${moved} IPs move): ${move.conditionApplies} APPLY (announced conditions), ${move.controllerPatches} PATCH (controller), ${move.events} Event writes; every IP announced after ${move.settledSeconds} s`,
      );
    }
    const loadAfter = load();
    console.log(`load average before ${loadBefore.join(" ")}, after ${loadAfter.join(" ")}`);
    console.log(
      `wrote ${writeResult("api-load", {
        nodes: 3,
        family: "IPv6",
        endpointSlices: "one per Service, a ready endpoint on each of the 3 nodes",
        speakerFlags:
          "defaults (--lease-duration 40s, --renew-interval 10s, --api-check-interval 2s, --heartbeat-interval 200ms)",
        loadAverage: { before: loadBefore, after: loadAfter },
        phases,
        ownershipChanges: moves,
      })}`,
    );
  } finally {
    await cluster?.stop();
    await lab.down();
  }
}

/** VmRSS and VmHWM of a process started by the lab cluster, in MiB. */
function rssMiB(ref: ProcessRef | undefined): { rss: number; peak: number } {
  const m = procStatusMiB(ref, ["VmRSS", "VmHWM"]);
  return { rss: Math.round(m.VmRSS ?? NaN), peak: Math.round(m.VmHWM ?? NaN) };
}
