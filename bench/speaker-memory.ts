// Memory of a whole speaker that owns many IPs:
// `npm run bench -- speaker-memory [--services 5000] [--flags "SET;SET;..."] [--settle 20]`
// (needs root: it builds a lab of network namespaces with a real API server).
//
// A lab with one node, so its speaker owns every IP: the controller, the speaker, and
// --services LoadBalancer Services (IPv6 single-stack, one EndpointSlice each with a ready
// endpoint on the node; the lab's pool holds a /112 of 2001:db8::/32 beside its IPv4 range).
// For each set of Node flags in --flags (";" between sets, "" = Node's defaults; by default
// the defaults and then the flags the chart and image give the speaker), the speaker is
// restarted with those flags, and once it announces every IP and --settle seconds have passed,
// the client namespace asks for every IP once with ndisc6 (so each IP also has request and
// reply counters, as in a cluster with clients), and it is sampled once a second for --settle
// seconds more: RSS (median and max of the samples, from smaps_rollup), the peak VmHWM since
// it started, the anonymous and file-backed parts, and the JS heap from its /metrics.
// Before any Service exists the speaker's idle figures are read the same way.
// --hold SECONDS keeps the lab and its last speaker up that long afterwards, to look inside.
// Nothing passes or fails on a figure.
import { loadavg } from "node:os";
import { CoreV1Api, DiscoveryV1Api } from "@kubernetes/client-node";
import { loadKubeConfig } from "../src/k8s/client.js";
import { LabCluster } from "../src/lab/cluster.js";
import { createLab } from "../src/lab/lab.js";
import { SPEAKER_NODE_FLAGS } from "../src/speaker/node-flags.js";
import { writeResult } from "./_report.js";
import {
  announcedIPs,
  createServices,
  metricMiB,
  procStatusMiB,
  r2,
  smapsRssMiB,
  sleep,
  speakerMetrics,
  waitFor,
} from "./_lab.js";

const NS = "bench";
const NODE = "node-1";
const load = () => loadavg().map(r2);

export async function main(args: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const count = Number(arg("--services") ?? 5000);
  const settleS = Number(arg("--settle") ?? 20);
  const holdS = Number(arg("--hold") ?? 0);
  // A set is Node flags and NAME=value environment entries, e.g. "MALLOC_ARENA_MAX=2 --no-opt".
  const flagSets = (arg("--flags") ?? ["", SPEAKER_NODE_FLAGS.join(" ")].join(";"))
    .split(";")
    .map((s) => s.split(" ").filter((f) => f !== ""));
  const envOf = (set: string[]) =>
    Object.fromEntries(
      set
        .filter((f) => !f.startsWith("-"))
        .map((f) => [f.slice(0, f.indexOf("=")), f.slice(f.indexOf("=") + 1)]),
    );
  const loadBefore = load();
  console.log(
    `speaker-memory: ${count} Services on 1 node; flag sets ${flagSets.map((f) => JSON.stringify(f.join(" "))).join(", ")}; load average ${loadBefore.join(" ")}`,
  );
  const lab = await createLab({ nodes: 1, controlPlane: true, persistent: false });
  let cluster: LabCluster | undefined;
  try {
    cluster = await LabCluster.start(lab);
    const c = cluster;
    const address = lab.node(NODE).ipv4;
    const kc = loadKubeConfig(lab.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);

    const announced = async () => announcedIPs(await speakerMetrics(address));
    /** Asks for each IP once from the client (8 at a time); returns how many got an answer. */
    const askEach = async (list: string[]) => {
      const script = `xargs -P 8 -I{} ndisc6 -q -r 2 -w 500 {} ${lab.client.ifname} 2>/dev/null | grep -c . || true`;
      const { stdout } = await lab.exec(
        lab.client,
        ["sh", "-c", `printf '%s\\n' ${list.join(" ")} | ${script}`],
        600_000,
      );
      return Number(stdout.trim());
    };

    /** Restarts the speaker with `flags`, waits for `ips` announced, settles and samples. */
    const measure = async (flags: string[], ips: number) => {
      await c.stopSpeaker(NODE, "SIGTERM");
      const t0 = performance.now();
      const ref = c.startSpeaker(
        NODE,
        flags.filter((f) => f.startsWith("-")),
        envOf(flags),
      );
      await waitFor(`${ips} IPs announced`, 600_000, async () => {
        const n = (await announced()).length;
        return n === ips ? true : undefined;
      });
      const readyS = r2((performance.now() - t0) / 1000);
      const answered = ips > 0 ? await askEach(await announced()) : 0;
      await sleep(settleS * 1000);
      const rss: number[] = [];
      for (let i = 0; i < settleS; i++) {
        rss.push(smapsRssMiB(ref).rss);
        await sleep(1000);
      }
      rss.sort((a, b) => a - b);
      const metrics = await speakerMetrics(address);
      const proc = procStatusMiB(ref, ["VmHWM"]);
      const now = smapsRssMiB(ref);
      const m = {
        nodeFlags: flags.join(" "),
        ownedIPs: announcedIPs(metrics).length,
        readySeconds: readyS,
        answeredByNdisc6: answered,
        rssMedianMiB: rss[Math.floor(rss.length / 2)] ?? NaN,
        rssMaxMiB: rss[rss.length - 1] ?? NaN,
        peakMiB: proc.VmHWM,
        rssAnonMiB: now.anon,
        rssFileMiB: now.file,
        heapUsedMiB: metricMiB(metrics, "nodejs_heap_size_used_bytes"),
        heapTotalMiB: metricMiB(metrics, "nodejs_heap_size_total_bytes"),
        externalMiB: metricMiB(metrics, "nodejs_external_memory_bytes"),
      };
      console.log(
        `  ${JSON.stringify(m.nodeFlags)}: ${m.ownedIPs} IPs (${m.answeredByNdisc6} answered): RSS median ${m.rssMedianMiB} MiB (max ${m.rssMaxMiB}, peak ${m.peakMiB}; anon ${m.rssAnonMiB}, file ${m.rssFileMiB}); JS heap used ${m.heapUsedMiB} of ${m.heapTotalMiB}, external ${m.externalMiB}; all announced ${m.readySeconds} s after start`,
      );
      return m;
    };

    console.log("idle (no Services):");
    const idle = [];
    for (const flags of flagSets) idle.push(await measure(flags, 0));

    await core.createNamespace({ body: { metadata: { name: NS } } });
    console.log(`creating ${count} Services with their EndpointSlices...`);
    const t0 = performance.now();
    await createServices(core, discovery, lab, NS, 0, count);
    console.log(`created in ${r2((performance.now() - t0) / 1000)} s`);
    console.log(`with ${count} owned IPs:`);
    const owned = [];
    for (const flags of flagSets) owned.push(await measure(flags, count));

    if (holdS > 0) {
      console.log(
        `holding for ${holdS} s: speaker pid ${c.speakers.get(NODE)?.pid}, metrics http://${address}:7473/metrics, KUBECONFIG=${lab.kubeconfig}`,
      );
      await sleep(holdS * 1000);
    }
    const loadAfter = load();
    console.log(`load average before ${loadBefore.join(" ")}, after ${loadAfter.join(" ")}`);
    console.log(
      `wrote ${writeResult("speaker-memory", {
        services: count,
        nodes: 1,
        family: "IPv6",
        settleSeconds: settleS,
        loadAverage: { before: loadBefore, after: loadAfter },
        idle,
        owned,
      })}`,
    );
  } finally {
    await cluster?.stop();
    await lab.down();
  }
}
