// BGP mode against real routers: `npm run bench -- bgp [--router bird|frr|both] [--services N]
// [--reps N] [--prefixes N] [--steady S] [--keep-logs]` (needs root, Go, BIRD 2 and FRR).
//
// A lab of 3 nodes with the controller and a speaker per node, and a router namespace on the
// lab's LAN (src/lab/router.ts) running FRR and then BIRD (one at a time, same namespace).
// Each node peers with the router over IPv4 (eBGP, AS 64513 to 64512) and over IPv6 (iBGP,
// AS 64512). Every figure is read from the router's own kernel FIB (`ip route` in its
// namespace, Router.fib), polled back to back with at least POLL_MS between polls; each poll
// spawns `ip` in the namespace, so its resolution is a poll's duration (recorded as pollMs).
//
// 1. Service IP to route: --services (20) IPv4 Services of a BGP pool, Cluster policy, one
//    after another. The EndpointSlice (a ready endpoint on each of the 3 nodes) is made first,
//    then the Service. A watch of the Services (barelb's own informer, as the speakers use)
//    stamps the moment the status with the IP arrives; from the creation on, the router's
//    whole IPv4 table is polled (one `ip -j -4 route show`) until the /32 has 3 next hops.
//    Figures: from the IP's arrival on the watch, and from the Service's creation.
// 2. Next-hop removal when a node dies: the node's LAN link is cut in the root namespace
//    (`ip link set <bridge-side veth> down`), so nothing reaches the router: no FIN, no Cease,
//    no BFD Down; the router must notice the silence. t0 is taken just before the `ip link`
//    command (its own duration is recorded as cutMs); the figure is t0 to the first poll where
//    the node's next hop is gone from one of the Services' /32. Per setting, --reps (5) runs,
//    the node rotating; before each run the link is back up and the /32 has 3 next hops (and
//    BFD is Up on the 3 sessions where used). Settings, each on both sides (the ConfigMap's
//    peer and the router's neighbor):
//      bfd-100ms  bfd-profile 100 ms x 3, hold-time 90s;
//      bfd-300ms  bfd-profile 300 ms x 3 (MetalLB's default profile), hold-time 90s;
//      hold-3s    no BFD, hold-time 3s (the shortest RFC 4271 allows; a real one is 90 s or
//                 more, and the removal time scales with it);
//      sigkill    the same hold-3s sessions, the node's speaker SIGKILLed instead: its kernel
//                 closes the TCP connection (FIN), the router drops the session at once.
//    After each run the link comes back (or the speaker is restarted) and the FIB is polled
//    until the /32 has had its 3 next hops for a second: how long that took (backMs) and how
//    few next hops it had meanwhile (afterReturn: a node coming back should take nothing away
//    from the others). The node's return is slowed by the speakers' anti-flap hold (2 s,
//    doubled for each death within 60 s, up to 60 s), which BGP mode follows too: runs come
//    every few seconds, so this part takes most of the benchmark's time.
// 3. --prefixes (5,000) IPv6 Services (bench/_lab.ts createService) in an IPv6 BGP pool,
//    advertised by one node (node-1; the other speakers are stopped) over the IPv6 iBGP
//    session, with the last router of the run (BIRD by default). With the speaker stopped and
//    every Service assigned, the speaker is started; t0 to the first route and to all of them
//    in the router's kernel FIB (`ip -6 route show proto bird|bgp | wc -l` in its namespace),
//    the speaker's RSS (VmRSS) and CPU time (utime+stime of /proc/PID/stat) then and after
//    --steady (30) seconds. The same again with the pool as layer2 (no peers): the speaker
//    restarted until its metrics count every IP announced, to show what BGP adds.
// --prefixes 0 skips part 3. Nothing passes or fails on a figure.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { cp as copyDir } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  ApiException,
  CoreV1Api,
  DiscoveryV1Api,
  type V1ConfigMap,
  type V1Service,
} from "@kubernetes/client-node";
import { pino } from "pino";
import { loadKubeClient } from "../src/k8s/api.js";
import { watchResource, type WatchedResource } from "../src/k8s/informer.js";
import { loadKubeConfig } from "../src/k8s/client.js";
import { applyConfigMap, BARELB_NAMESPACE, LabCluster, setEndpoints } from "../src/lab/cluster.js";
import { createLab, type Lab } from "../src/lab/lab.js";
import { netnsExec } from "../src/lab/netns.js";
import {
  addRouterToLab,
  startRouter,
  type Router,
  type RouterKind,
  type RouterLeg,
  type RouterNeighbor,
} from "../src/lab/router.js";
import { isRunning, type ProcessRef } from "../src/util/proc.js";
import { announcedIPs, createServices, r2, sleep, speakerMetrics } from "./_lab.js";
import { quantile, writeResult } from "./_report.js";

const ROUTER_ASN = 64512;
const NODE_ASN = 64513;
const NS = "default";
const PREFIX_NS = "bench";
const POLL_MS = 5;
const MIB = 2 ** 20;
const run = promisify(execFile);
const load = () => loadavg().map(r2);
const now = () => performance.now();
const r1 = (x: number) => Math.round(x * 10) / 10;

type Setting = "bfd-100ms" | "bfd-300ms" | "hold-3s";
type Death = Setting | "sigkill";

interface PeerSetting {
  bfd?: { intervalMs: number; multiplier: number };
  holdS: number;
}
const SETTINGS: Record<Setting, PeerSetting> = {
  "bfd-100ms": { bfd: { intervalMs: 100, multiplier: 3 }, holdS: 90 },
  "bfd-300ms": { bfd: { intervalMs: 300, multiplier: 3 }, holdS: 90 },
  "hold-3s": { holdS: 3 },
};

/** The pool ConfigMap: an IPv4 BGP pool, an IPv6 pool (BGP or layer 2), peers for `setting`. */
function configMap(
  lab: Lab,
  leg: RouterLeg,
  setting: PeerSetting,
  v6: "bgp" | "layer2",
): V1ConfigMap {
  const s = setting;
  const peers =
    v6 === "layer2"
      ? ""
      : `peers:
  - peer-address: ${leg.router4}
    peer-asn: ${ROUTER_ASN}
    my-asn: ${NODE_ASN}
    hold-time: ${s.holdS}s
${s.bfd === undefined ? "" : "    bfd-profile: bench\n"}  - peer-address: ${leg.router6}
    peer-asn: ${ROUTER_ASN}
    my-asn: ${ROUTER_ASN}
    hold-time: 90s
${
  s.bfd === undefined
    ? ""
    : `bfd-profiles:
  - name: bench
    receive-interval: ${s.bfd.intervalMs}
    transmit-interval: ${s.bfd.intervalMs}
    detect-multiplier: ${s.bfd.multiplier}
`
}`;
  const config = `${peers}address-pools:
  - name: bgp4
    protocol: ${v6 === "layer2" ? "layer2" : "bgp"}
    addresses: [${lab.addresses.vipRange4}]
  - name: v6
    protocol: ${v6}
    addresses: [${lab.addresses.vipCidr6}]
`;
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "barelb-config", namespace: BARELB_NAMESPACE },
    data: { config },
  };
}

function neighbors(lab: Lab, s: PeerSetting): RouterNeighbor[] {
  return lab.nodes.flatMap((n) => [
    {
      address: n.ipv4,
      asn: NODE_ASN,
      holdTime: s.holdS,
      ...(s.bfd === undefined ? {} : { bfd: s.bfd }),
    },
    { address: n.ipv6, asn: ROUTER_ASN, holdTime: 90 },
  ]);
}

function stats(xs: readonly number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return {
    n: s.length,
    min: s[0] ?? NaN,
    p50: quantile(s, 0.5),
    p99: quantile(s, 0.99),
    max: s.at(-1) ?? NaN,
  };
}
const fmt = (x: { p50: number; p99: number; max: number; min: number }) =>
  `p50 ${x.p50} ms, p99 ${x.p99} ms, max ${x.max} ms (min ${x.min})`;

/**
 * Polls `check` back to back, at least `everyMs` apart. What it waits for happened after the
 * previous poll started (`after`) and before the first poll that saw it ended (`by`): the
 * figures use `by`, an upper bound, and keep `after - by` as the resolution.
 */
async function pollUntil<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
  everyMs = POLL_MS,
): Promise<{ by: number; after: number; value: T; polls: number; pollMs: number }> {
  const start = now();
  let polls = 0;
  let prev = start;
  for (;;) {
    const before = now();
    const v = await check().catch(() => undefined);
    const end = now();
    polls++;
    if (v !== undefined) {
      return { by: end, after: prev, value: v, polls, pollMs: r1((end - start) / polls) };
    }
    prev = before;
    if (end - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    const spent = end - before;
    if (spent < everyMs) await sleep(everyMs - spent);
  }
}

/** The router namespace's IPv4 kernel routes: destination to its number of next hops. */
async function fib4(netns: string): Promise<Map<string, number>> {
  const { stdout } = await netnsExec(netns, ["ip", "-j", "-4", "route", "show"]);
  const out = new Map<string, number>();
  for (const r of JSON.parse(stdout.trim() || "[]") as {
    dst?: string;
    gateway?: string;
    nexthops?: { gateway?: string }[];
  }[]) {
    if (r.dst === undefined) continue;
    const hops = new Set([r.gateway, ...(r.nexthops ?? []).map((h) => h.gateway)]);
    hops.delete(undefined);
    out.set(r.dst.replace(/\/32$/, ""), hops.size);
  }
  return out;
}

/** What the router's FIB held for a prefix while a node came back (see watchBack). */
interface AfterReturn {
  /** Until all 3 next hops were there and stayed for STAY_MS. */
  backMs: number;
  minHops: number;
  /** Time with no next hop at all (between polls that saw none, ± a poll). */
  zeroMs: number;
  longestZeroMs: number;
  firstZeroAtMs: number | null;
  /** Next-hop counts as they changed: [ms after the return, count], the first 20. */
  timeline: [number, number][];
}
const STAY_MS = 1_000;

/**
 * Polls `prefix` in the router's FIB from a node's return until its 3 next hops have been
 * there for STAY_MS, and records how few it had meanwhile: a returning node must not take
 * the others' next hops away.
 */
async function watchBack(r: Router, prefix: string, timeoutMs = 180_000): Promise<AfterReturn> {
  const t0 = now();
  let minHops = 3;
  let zeroMs = 0;
  let longestZeroMs = 0;
  let zeroSince: number | null = null;
  let firstZeroAtMs: number | null = null;
  let threeSince: number | null = null;
  let last = -1;
  const timeline: [number, number][] = [];
  for (;;) {
    const hops = (await r.fib(prefix).catch(() => undefined))?.length;
    const t = now();
    if (hops !== undefined) {
      minHops = Math.min(minHops, hops);
      if (hops !== last && timeline.length < 20) timeline.push([r1(t - t0), hops]);
      last = hops;
      if (hops === 0) {
        zeroSince ??= t;
        firstZeroAtMs ??= r1(t - t0);
      } else if (zeroSince !== null) {
        zeroMs += t - zeroSince;
        longestZeroMs = Math.max(longestZeroMs, t - zeroSince);
        zeroSince = null;
      }
      if (hops === 3) threeSince ??= t;
      else threeSince = null;
      if (threeSince !== null && t - threeSince >= STAY_MS) {
        return {
          backMs: Math.round(threeSince - t0),
          minHops,
          zeroMs: Math.round(zeroMs),
          longestZeroMs: Math.round(longestZeroMs),
          firstZeroAtMs,
          timeline,
        };
      }
    }
    if (t - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${prefix} back to 3`);
    await sleep(POLL_MS);
  }
}

let ticksPerSecond = 100;
/** VmRSS (MiB) and CPU time (utime+stime, seconds) of a process. */
function usage(ref: ProcessRef | undefined): { rssMiB: number; cpuS: number } {
  const pid = ref?.pid ?? 0;
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(f[11]) + Number(f[12]);
  return { rssMiB: r2((kb * 1024) / MIB), cpuS: r2(ticks / ticksPerSecond) };
}

export async function main(args: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const routerArg = arg("--router") ?? "both";
  const kinds: RouterKind[] =
    routerArg === "both" ? ["frr", "bird"] : routerArg === "frr" ? ["frr"] : ["bird"];
  if (!["both", "bird", "frr"].includes(routerArg)) throw new Error("--router bird|frr|both");
  const services = Number(arg("--services") ?? 20);
  const reps = Number(arg("--reps") ?? 5);
  const prefixes = Number(arg("--prefixes") ?? 5000);
  const steadyS = Number(arg("--steady") ?? 30);
  const keepLogs = args.includes("--keep-logs");
  ticksPerSecond = Number((await run("getconf", ["CLK_TCK"])).stdout.trim()) || 100;
  const tStart = now();
  const elapsed = () => `[${Math.round((now() - tStart) / 1000)} s]`;
  const loadBefore = load();
  console.log(
    `bgp: routers ${kinds.join(", ")}; ${services} Services, ${reps} runs per setting, ${prefixes} prefixes; load average ${loadBefore.join(" ")}`,
  );

  const lab = await createLab({ nodes: 3, controlPlane: true, persistent: false });
  let cluster: LabCluster | undefined;
  let router: Router | undefined;
  let cut: string | undefined;
  let watch: WatchedResource<V1Service> | undefined;
  const results: Record<string, unknown> = {};
  try {
    const leg = await addRouterToLab(lab);
    const kc = loadKubeConfig(lab.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    cluster = await LabCluster.start(lab, {
      configMap: configMap(lab, leg, SETTINGS["bfd-100ms"], "bgp"),
    });
    const c = cluster;
    const nodes4 = lab.nodes.map((n) => n.ipv4).sort();
    // When each Service's IP reaches a watcher (the speakers learn it the same way).
    const ipSeen = new Map<string, { ip: string; t: number }>();
    const onService = (svc: V1Service) => {
      const name = svc.metadata?.name ?? "";
      const ip = svc.status?.loadBalancer?.ingress?.[0]?.ip;
      if (ip !== undefined && !ipSeen.has(name)) ipSeen.set(name, { ip, t: now() });
    };
    watch = watchResource<V1Service>({
      client: loadKubeClient(lab.kubeconfig),
      path: `/api/v1/namespaces/${NS}/services`,
      handlers: { add: onService, update: onService },
      log: pino({ level: "silent" }),
      what: "bench services",
    });
    await watch.synced;
    console.log(`${elapsed()} lab ${lab.id} up, router namespace ${leg.routerNetns}`);

    const setLink = async (node: string, up: boolean) => {
      const dev = lab.node(node).hostIf;
      await run("ip", ["link", "set", dev, up ? "up" : "down"]);
      cut = up ? undefined : dev;
    };

    for (const kind of kinds) {
      console.log(`${elapsed()} ${kind}: starting`);
      let current: Setting = "bfd-100ms";
      const r = await startRouter({
        kind,
        netns: leg.routerNetns,
        dir: join(lab.record.dir, `router-${kind}`),
        asn: ROUTER_ASN,
        routerId: leg.router4,
        neighbors: neighbors(lab, SETTINGS[current]),
      });
      router = r;
      await applyConfigMap(core, configMap(lab, leg, SETTINGS[current], "bgp"));
      const sessionsUp = (want: number, timeoutMs = 90_000) =>
        pollUntil(
          `${kind}: ${want} sessions Established`,
          timeoutMs,
          async () =>
            (await r.sessions()).filter((s) => s.established).length >= want ? true : undefined,
          200,
        );
      await sessionsUp(6);
      console.log(`${elapsed()} ${kind}: 6 sessions Established`);

      // ---- 1. Service IP to route --------------------------------------------------------
      const fromIP: number[] = [];
      const fromCreate: number[] = [];
      const pollMs: number[] = [];
      const names: string[] = [];
      const ips: string[] = [];
      const resolution: number[] = [];
      for (let i = 0; i < services; i++) {
        const name = `${kind}-${String(i).padStart(2, "0")}`;
        names.push(name);
        await setEndpoints(
          lab,
          NS,
          name,
          lab.nodes.map((n) => ({ node: n.name })),
        );
        const t0 = now();
        await core.createNamespacedService({
          namespace: NS,
          body: {
            metadata: { name },
            spec: {
              type: "LoadBalancer",
              allocateLoadBalancerNodePorts: false,
              ipFamilies: ["IPv4"],
              ipFamilyPolicy: "SingleStack",
              selector: { app: name },
              ports: [{ name: "http", port: 80 }],
            },
          },
        });
        // The Service and the router's whole IPv4 table are polled side by side from the
        // creation on, so a route that comes before this process has read the IP is not missed.
        let known: string | undefined;
        const firstSeen = new Map<string, { by: number; after: number }>();
        const ipP = pollUntil(
          `${name}'s IP`,
          30_000,
          () => {
            known = ipSeen.get(name)?.ip;
            return Promise.resolve(ipSeen.get(name));
          },
          1,
        );
        let prev = t0;
        const routeP = pollUntil(`${name}'s /32 with 3 next hops`, 30_000, async () => {
          const before = now();
          const table = await fib4(r.netns);
          const end = now();
          for (const [dst, hops] of table) {
            if (hops === 3 && !firstSeen.has(dst)) firstSeen.set(dst, { by: end, after: prev });
          }
          prev = before;
          return known !== undefined ? firstSeen.get(known) : undefined;
        });
        const [{ value: ip }, route] = await Promise.all([ipP, routeP]);
        ips.push(ip.ip);
        const mid = (x: { by: number; after: number }) => (x.by + x.after) / 2;
        const seen = route.value;
        fromIP.push(r1(mid(seen) - ip.t));
        fromCreate.push(r1(mid(seen) - t0));
        resolution.push(r1((seen.by - seen.after) / 2));
        pollMs.push(route.pollMs);
        console.log(
          `  ${name} ${ip.ip}: IP in the status after ${r1(ip.t - t0)} ms, 3 next hops ${r1(mid(seen) - ip.t)} ms after that (± ${r1((seen.by - seen.after) / 2)} ms; FIB polls of ${route.pollMs} ms)`,
        );
        await sleep(200);
      }
      const serviceToRoute = {
        fromIPMs: stats(fromIP),
        fromCreationMs: stats(fromCreate),
        fibPollMs: stats(pollMs),
        resolutionMs: stats(resolution),
        samplesFromIPMs: fromIP,
      };
      console.log(
        `${elapsed()} ${kind}: Service IP to 3 next hops: ${fmt(serviceToRoute.fromIPMs)}`,
      );
      console.log(`  from the Service's creation: ${fmt(serviceToRoute.fromCreationMs)}`);

      // ---- 2. Next-hop removal ---------------------------------------------------------------
      const probe = `${ips[0] ?? ""}/32`;
      const settle = async (withBfd: boolean) => {
        await pollUntil(`${probe} with 3 next hops`, 120_000, async () =>
          JSON.stringify(await r.fib(probe)) === JSON.stringify(nodes4) ? true : undefined,
        );
        if (withBfd) {
          await pollUntil(
            `${kind}: 3 BFD sessions Up`,
            60_000,
            async () =>
              (await r.bfd()).filter((b) => b.state === "Up").length >= 3 ? true : undefined,
            100,
          );
        }
        await sleep(1_000);
        // Still 3 after a second: not a session that just came up and is about to be reset.
        if ((await r.fib(probe)).length !== 3) await settle(withBfd);
      };
      const switchTo = async (setting: Setting) => {
        if (setting === current) return;
        current = setting;
        await r.setNeighbors(neighbors(lab, SETTINGS[setting]));
        await applyConfigMap(core, configMap(lab, leg, SETTINGS[setting], "bgp"));
        // The speakers reopen changed peers (with a Cease); wait for that to have happened.
        await sleep(3_000);
        await sessionsUp(6);
      };
      const deaths: Record<string, unknown> = {};
      for (const death of ["bfd-100ms", "bfd-300ms", "hold-3s", "sigkill"] as Death[]) {
        const setting: Setting = death === "sigkill" ? "hold-3s" : death;
        await switchTo(setting);
        const withBfd = SETTINGS[setting].bfd !== undefined;
        const runs: {
          node: string;
          removedMs: number;
          plusMinusMs: number;
          cutMs: number;
          pollMs: number;
          backMs: number;
          afterReturn: AfterReturn;
        }[] = [];
        for (let rep = 0; rep < reps; rep++) {
          const node = lab.nodes[rep % lab.nodes.length]?.name ?? "node-1";
          const addr = lab.node(node).ipv4;
          await settle(withBfd);
          const t0 = now();
          if (death === "sigkill") await c.stopSpeaker(node, "SIGKILL");
          else await setLink(node, false);
          const cutMs = r1(now() - t0);
          const gone = await pollUntil(`${addr} gone from ${probe}`, 30_000, async () =>
            (await r.fib(probe)).includes(addr) ? undefined : true,
          );
          // Gone after the previous poll began (after the signal or cut for the first poll)
          // and before this one ended: the middle of that window, ± half of it.
          const lower = gone.polls === 1 ? t0 : gone.after;
          const removedMs = r1((lower + gone.by) / 2 - t0);
          const plusMinusMs = r1((gone.by - lower) / 2);
          if (death === "sigkill") {
            const ref = c.speakers.get(node);
            await pollUntil("the killed speaker to exit", 10_000, () =>
              Promise.resolve(ref !== undefined && isRunning(ref) ? undefined : true),
            );
            c.startSpeaker(node);
          } else {
            await setLink(node, true);
          }
          const back = await watchBack(r, probe);
          await settle(withBfd);
          const backMs = back.backMs;
          runs.push({
            node,
            removedMs,
            plusMinusMs,
            cutMs,
            pollMs: gone.pollMs,
            backMs,
            afterReturn: back,
          });
          console.log(
            `  ${kind} ${death} ${rep + 1}/${reps}: ${node}'s next hop gone after ${removedMs} ± ${plusMinusMs} ms (${death === "sigkill" ? "kill" : "ip link"} ${cutMs} ms, polls of ${gone.pollMs} ms); 3 next hops again ${backMs} ms after the ${death === "sigkill" ? "restart" : "link came back"}; meanwhile as few as ${back.minHops} next hops${back.zeroMs > 0 ? `, NONE for ${back.zeroMs} ms (longest ${back.longestZeroMs} ms, from ${back.firstZeroAtMs} ms)` : ""}`,
          );
        }
        const s = stats(runs.map((x) => x.removedMs));
        deaths[death] = {
          peer: {
            holdTimeS: SETTINGS[setting].holdS,
            bfd: SETTINGS[setting].bfd ?? null,
          },
          removedMs: { n: s.n, min: s.min, p50: s.p50, max: s.max },
          afterReturn: {
            backMs: stats(runs.map((x) => x.backMs)),
            runsWithFewerThan2Hops: runs.filter((x) => x.afterReturn.minHops < 2).length,
            runsWithNoNextHop: runs.filter((x) => x.afterReturn.zeroMs > 0).length,
            longestNoNextHopMs: Math.max(0, ...runs.map((x) => x.afterReturn.longestZeroMs)),
          },
          runs,
        };
        console.log(
          `${elapsed()} ${kind} ${death}: next hop removed p50 ${s.p50} ms, max ${s.max} ms (min ${s.min}); after the return: runs with no next hop at all ${runs.filter((x) => x.afterReturn.zeroMs > 0).length}/${runs.length}, with fewer than 2 ${runs.filter((x) => x.afterReturn.minHops < 2).length}/${runs.length}`,
        );
      }
      results[kind] = { serviceToRoute, nodeDeath: deaths };

      // This router's Services go; the next router starts from none.
      await switchTo("bfd-100ms");
      for (const name of names) {
        await core.deleteNamespacedService({ name, namespace: NS });
        await discovery
          .deleteNamespacedEndpointSlice({ name: `${name}-lab`, namespace: NS })
          .catch((e: unknown) => {
            if (!(e instanceof ApiException && e.code === 404)) throw e;
          });
      }
      if (kind !== kinds.at(-1)) {
        await r.stop();
        router = undefined;
      }
    }

    // ---- 3. 5,000 prefixes ---------------------------------------------------------------
    if (prefixes > 0 && router !== undefined) {
      const r = router;
      const proto = r.kind === "bird" ? "bird" : "bgp";
      const count = async () => {
        const { stdout } = await netnsExec(r.netns, ["ip", "-6", "route", "show", "proto", proto]);
        return stdout.split("\n").filter((l) => l.trim() !== "").length;
      };
      console.log(`${elapsed()} ${r.kind}: ${prefixes} prefixes from node-1 alone`);
      for (const n of lab.nodes) await c.stopSpeaker(n.name, "SIGTERM");
      await core.createNamespace({ body: { metadata: { name: PREFIX_NS } } });
      const tc = now();
      await createServices(core, discovery, lab, PREFIX_NS, 0, prefixes);
      console.log(`${elapsed()} created ${prefixes} Services in ${r2((now() - tc) / 1000)} s`);
      await pollUntil(
        `${prefixes} Services assigned`,
        600_000,
        async () => {
          const list = await core.listNamespacedService({ namespace: PREFIX_NS });
          const n = list.items.filter((s) => s.status?.loadBalancer?.ingress?.[0]?.ip).length;
          return n === prefixes ? true : undefined;
        },
        2_000,
      );
      console.log(`${elapsed()} all assigned`);

      const measure = async (mode: "bgp" | "layer2") => {
        const ref = c.startSpeaker("node-1");
        const t0 = now();
        let first: number | undefined;
        const done = await pollUntil(
          mode === "bgp" ? `${prefixes} routes in the FIB` : `${prefixes} IPs announced`,
          600_000,
          async () => {
            const n =
              mode === "bgp"
                ? await count()
                : announcedIPs(await speakerMetrics(lab.node("node-1").ipv4)).length;
            if (n > 0 && first === undefined) first = now();
            return n >= prefixes ? n : undefined;
          },
          100,
        );
        const atAll = usage(ref);
        const allS = r2((done.by - t0) / 1000);
        await sleep(steadyS * 1000);
        const steady = usage(ref);
        const stillAll = mode === "bgp" ? await count() : done.value;
        const m = {
          mode,
          firstS: first === undefined ? null : r2((first - t0) / 1000),
          allS,
          atAll,
          afterSteady: steady,
          steadySeconds: steadyS,
          countAfterSteady: stillAll,
          cpuDuringSteadyS: r2(steady.cpuS - atAll.cpuS),
        };
        console.log(
          `${elapsed()} ${mode}: first ${m.firstS} s, all ${prefixes} after ${allS} s (${mode === "bgp" ? `kernel FIB of ${r.kind}, proto ${proto}` : "speaker's metrics"}); RSS ${atAll.rssMiB} MiB, CPU ${atAll.cpuS} s; after ${steadyS} s: RSS ${steady.rssMiB} MiB, CPU ${steady.cpuS} s (${stillAll} routes)`,
        );
        return m;
      };
      const bgp = await measure("bgp");
      await c.stopSpeaker("node-1", "SIGTERM");
      await pollUntil(
        "the withdrawn routes gone",
        60_000,
        async () => ((await count()) === 0 ? true : undefined),
        200,
      );
      await applyConfigMap(core, configMap(lab, leg, SETTINGS["bfd-100ms"], "layer2"));
      await sleep(2_000);
      const l2 = await measure("layer2");
      results.prefixes = {
        router: r.kind,
        prefixes,
        counted: `ip -6 route show proto ${proto} | wc -l in the router's namespace`,
        bgp,
        layer2: l2,
      };
    }

    const loadAfter = load();
    console.log(
      `${elapsed()} load average before ${loadBefore.join(" ")}, after ${loadAfter.join(" ")}`,
    );
    console.log(
      `wrote ${writeResult("bgp", {
        routers: kinds,
        services,
        repsPerSetting: reps,
        pollMs: POLL_MS,
        loadAverage: { before: loadBefore, after: loadAfter },
        ...results,
      })}`,
    );
  } finally {
    if (cut !== undefined) await run("ip", ["link", "set", cut, "up"]).catch(() => undefined);
    if (keepLogs) {
      const dir = `/tmp/barelb-bgp-logs-${lab.id}`;
      await copyDir(lab.record.dir, dir, { recursive: true }).catch(() => undefined);
      console.log(`logs kept in ${dir}`);
    }
    await watch?.stop();
    await cluster?.stop();
    await router?.stop();
    await lab.down();
  }
}
