// ARP data-plane benchmark (needs root: it builds a lab of network namespaces).
//   npm run bench -- arp            (compiles bench/ and test/fixtures/ first)
//   node dist-test/bench/arp.js     (after `tsc -p tsconfig.programs.json`)
// One node runs the data plane (test/fixtures/dataplane-speaker.ts); the lab's client sends
// raw ARP requests (test/fixtures/arp-client.ts) and measures:
//   - request-to-reply latency, p50/p99, one request at a time, with 1,000 owned IPs;
//   - sustained replies per second with a window of requests in flight;
//   - the speaker's CPU for a steady stream of requests for IPs it does not own;
//   - the data plane's RSS with 5,000 owned IPs;
// each with Node's default flags and with the speaker's (src/speaker/node-flags.ts).
// The documentation ranges hold only 512 IPv4 addresses, so "N owned IPs" is the 256 of
// 198.51.100.0/24 plus N - 256 IPv6 addresses of 2001:db8::/32; requests go to the IPv4 ones.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createLab, type Lab } from "../src/lab/lab.js";
import { packageRoot } from "../src/util/paths.js";
import { SPEAKER_NODE_FLAGS } from "../src/speaker/node-flags.js";
import { Speaker } from "../test/e2e/dataplane-helpers.js";
import { summary, writeResult } from "./_report.js";

const CLK_TCK = 100; // getconf CLK_TCK on Linux for x86-64, arm64 and armv7

function ownedSet(n: number): [string, { interfaces?: string[] }][] {
  const v4 = Array.from({ length: 256 }, (_, i) => `198.51.100.${i}`);
  const v6 = Array.from(
    { length: Math.max(0, n - v4.length) },
    (_, i) => `2001:db8:ffff::${(i + 1).toString(16)}`,
  );
  return [...v4, ...v6].slice(0, n).map((ip) => [ip, {}]);
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

async function client<T>(lab: Lab, args: string[]): Promise<T> {
  const program = join(packageRoot(), "dist-test", "test", "fixtures", "arp-client.js");
  const { stdout } = await lab.exec(
    lab.client,
    [
      "env",
      `CLIENT_IP=${lab.client.ipv4}`,
      `IFNAME=${lab.client.ifname}`,
      process.execPath,
      program,
      ...args,
    ],
    120_000,
  );
  return JSON.parse(stdout) as T;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Node flags the data plane runs with: Node's defaults, and the speaker's (as deployed). */
const CONFIGS: { name: string; flags: string[] }[] = [
  { name: "node defaults", flags: [] },
  { name: "speaker flags", flags: [...SPEAKER_NODE_FLAGS] },
];

export async function main(args: string[]): Promise<void> {
  const quick = args.includes("--quick");
  const lab = await createLab({ nodes: 1, controlPlane: false, persistent: false });
  let speaker: Speaker | undefined;
  const results: Record<string, unknown>[] = [];
  try {
    for (const config of CONFIGS) {
      console.log(`${config.name} (${config.flags.join(" ") || "no flags"}):`);
      await speaker?.stop();
      const started = await Speaker.start(
        lab.node("node-1").netns,
        ["--count", "1"],
        ["--expose-gc", ...config.flags],
      );
      speaker = started.speaker;
      const traffic = await measureTraffic(lab, speaker, started.ready.pid, quick);

      // 4. RSS with 5,000 owned IPs (after a full GC, as a long-running speaker settles).
      await speaker.stop();
      speaker = (
        await Speaker.start(
          lab.node("node-1").netns,
          ["--count", "1"],
          ["--expose-gc", ...config.flags],
        )
      ).speaker;
      const idle = await speaker.status(true);
      await speaker.own(ownedSet(5000));
      await sleep(2000);
      const full = await speaker.status(true);
      const eth0 = full.interfaces.find((i) => i.name === "eth0");
      const memory = {
        rssIdleMiB: mib(idle.rssBytes),
        heapIdleMiB: mib(idle.heapUsedBytes),
        rss5000MiB: mib(full.rssBytes),
        heap5000MiB: mib(full.heapUsedBytes),
        solicitedNodeGroups: eth0?.groups,
        groupSockets: eth0?.groupSockets,
        multicastJoinFailures: speaker.events.filter((e) => e.msg === "cannot join multicast group")
          .length,
      };
      console.log(
        `  RSS: ${memory.rssIdleMiB} MiB idle (heap ${memory.heapIdleMiB}), ${memory.rss5000MiB} MiB with 5,000 owned IPs (heap ${memory.heap5000MiB}); ${memory.solicitedNodeGroups} solicited-node groups on ${memory.groupSockets} sockets, ${memory.multicastJoinFailures} joins refused`,
      );
      results.push({ config: config.name, nodeFlags: config.flags.join(" "), ...traffic, memory });
    }
    const file = writeResult("arp", { quick, configs: results });
    console.log(`wrote ${file}`);
  } finally {
    await speaker?.stop();
    await lab.down();
  }
}

/** Latency, throughput and the cost of requests for IPs not owned, for one running data plane. */
async function measureTraffic(lab: Lab, speaker: Speaker, pid: number, quick: boolean) {
  const v4 = ownedSet(256).map(([ip]) => ip);

  // 1. Latency with 1,000 owned IPs.
  await speaker.own(ownedSet(1000));
  await sleep(500);
  await client(lab, ["latency", "200", v4.join(",")]); // warm-up (JIT, caches)
  const lat = await client<{ rttsMicros: number[]; lost: number }>(lab, [
    "latency",
    quick ? "2000" : "10000",
    v4.join(","),
  ]);
  const latency = { ...summary(lat.rttsMicros), lost: lat.lost, unit: "µs" };
  console.log(
    `  latency (1,000 owned): p50 ${latency.p50.toFixed(0)} µs, p99 ${latency.p99.toFixed(0)} µs, max ${latency.max.toFixed(0)} µs, lost ${lat.lost}`,
  );

  // 2. Sustained replies per second.
  const floodSeconds = quick ? 3 : 5;
  const cpu0 = cpuSeconds(pid);
  const fl = await client<{
    sent: number;
    received: number;
    seconds: number;
    perSecond: number[];
  }>(lab, ["flood", String(floodSeconds), "64", v4.join(",")]);
  const floodCpu = (cpuSeconds(pid) - cpu0) / fl.seconds;
  const throughput = {
    repliesPerSecond: Math.round(fl.received / fl.seconds),
    perSecond: fl.perSecond,
    requestsSent: fl.sent,
    repliesReceived: fl.received,
    speakerCpuCores: Number(floodCpu.toFixed(3)),
  };
  console.log(
    `  throughput: ${throughput.repliesPerSecond} replies/s (per second: ${fl.perSecond.join(", ")}), speaker CPU ${(floodCpu * 100).toFixed(0)}% of a core`,
  );

  // 3. CPU for requests for IPs nobody owns (192.0.2.x of this lab's VIP range, unowned).
  const seconds = quick ? 3 : 5;
  const idle0 = cpuSeconds(pid);
  await sleep(seconds * 1000);
  const idleCpu = (cpuSeconds(pid) - idle0) / seconds;
  const rate = 10_000;
  const start = lab.addresses.vipRange4.split("-")[0] ?? "";
  const prefix = start.slice(0, start.lastIndexOf("."));
  const base = Number(start.slice(start.lastIndexOf(".") + 1));
  const unowned = Array.from({ length: 30 }, (_, i) => `${prefix}.${base + i}`);
  const c0 = cpuSeconds(pid);
  const bl = await client<{ sent: number; failed: number; seconds: number }>(lab, [
    "blast",
    String(seconds),
    String(rate),
    unowned.join(","),
  ]);
  const blastCpu = (cpuSeconds(pid) - c0) / bl.seconds;
  const st = await speaker.status();
  const notOwnedSeen = st.metrics.ignored["arp eth0 not-owned"] ?? 0;
  const unownedCost = {
    requestsPerSecond: Math.round(bl.sent / bl.seconds),
    speakerCpuCores: Number(blastCpu.toFixed(3)),
    idleCpuCores: Number(idleCpu.toFixed(3)),
    microsPerRequest: Number((((blastCpu - idleCpu) * 1e6) / (bl.sent / bl.seconds)).toFixed(2)),
    seenAndIgnored: notOwnedSeen,
    repliesSent: Object.entries(st.metrics.repliesSent)
      .filter(([k]) => unowned.some((ip) => k.includes(` ${ip} `)))
      .reduce((s, [, v]) => s + v, 0),
  };
  console.log(
    `  unowned traffic: ${unownedCost.requestsPerSecond} requests/s cost ${(blastCpu * 100).toFixed(1)}% of a core (idle ${(idleCpu * 100).toFixed(1)}%), ${unownedCost.microsPerRequest} µs each, replies ${unownedCost.repliesSent}`,
  );
  return { latency, throughput, unownedCost };
}

const mib = (b: number) => Number((b / 2 ** 20).toFixed(1));
