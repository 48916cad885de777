// Failover as a LAN client sees it: `npm run bench -- failover [--runs N] [--keep-logs]`
// (needs root: it builds a lab of network namespaces with a real API server).
//
// A lab with 3 nodes, the controller and a speaker per node (default timings), the sample
// Service with ready endpoints on all 3 nodes. The client namespace runs two long-lived
// observers for the whole benchmark, so no process start-up is ever inside a measurement:
//   - test/fixtures/arp-prober.ts: an ARP request for the Service's IP every 10 ms through
//     barelb's own packet-socket addon; it reports each request, each reply (with the
//     replying MAC) and each gratuitous ARP, stamped with CLOCK_MONOTONIC, the clock this
//     process reads with process.hrtime (checked at start-up: see checkClocks);
//   - `ip monitor neigh`: the client kernel's neighbor-table changes as they happen, stamped
//     by this process when the line arrives.
// Then, N times for SIGTERM and N times for SIGKILL of the speaker that owns the IP:
//   t0         this process's monotonic clock just before kill(2);
//   answered   t0 → the prober receives the first reply from another node's MAC. It includes
//              signal delivery, the peers noticing (SIGTERM: the leaving speaker's message;
//              SIGKILL: heartbeats silent for --dead-after, 1 s), the election, the new
//              owner's data plane, the wait for the prober's next request (at most one
//              interval, ~10 ms: the largest gap between requests before the answer is
//              recorded per run as probeGapMs) and the prober's wake-up (tens of µs);
//   neighbor   t0 → `ip monitor` reports the client's neighbor entry for the IP holding the
//              new node's MAC. The entry is made fresh before each run by one UDP datagram
//              from the client's own stack (so it exists and points at the owner); the
//              prober's requests use another MAC and address and never touch it, so what
//              changes it is what would change it on a real LAN host (gratuitous ARP);
//   then       the stopped speaker is restarted, and the next run waits until every speaker
//              counts 3 eligible members (a killed speaker's peers hold it ~2.3 s after its
//              return) and one node has answered every request for 3 s.
// Per run it also records every move of the IP (more than one move after the signal is a
// flap; after the restart at most one move back is expected), and double answers: one
// request answered by two MACs, and (a looser test) replies from two MACs within 20 ms.
// --rest S waits S more seconds before each run: with S > 60 the peers' anti-flap hold of a
// killed speaker (2 s, doubled for each death within 60 s of its last release) starts over,
// so every SIGKILL run is a first death instead of one of a crash loop.
// Nothing passes or fails on a figure.
import { spawn, type ChildProcess } from "node:child_process";
import { cp as copyDir } from "node:fs/promises";
import { get as httpGet } from "node:http";
import { loadavg } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { CoreV1Api } from "@kubernetes/client-node";
import { loadKubeConfig } from "../src/k8s/client.js";
import { LabCluster, sampleService, setEndpoints } from "../src/lab/cluster.js";
import { createLab, type Lab } from "../src/lab/lab.js";
import { packageRoot } from "../src/util/paths.js";
import { isRunning } from "../src/util/proc.js";
import { quantile, writeResult } from "./_report.js";

type Signal = "SIGTERM" | "SIGKILL";
const TARGET_MS: Record<Signal, number> = { SIGTERM: 500, SIGKILL: 2_000 };
const NS = "default";
const PROBE_INTERVAL_MS = 10;
const STABLE_MS = 3_000;
/** Replies this far apart mean the IP went unanswered (requests go out every 10 ms). */
const GAP_MS = 100;

/** CLOCK_MONOTONIC in ms, the prober's clock too. */
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r1 = (x: number) => Math.round(x * 10) / 10;
const load = () => loadavg().map((x) => Math.round(x * 100) / 100);

interface Reply {
  seq: number;
  t: number;
  mac: string;
}
interface Garp {
  t: number;
  mac: string;
  op: number;
}
interface NeighLine {
  t: number;
  mac: string | null;
  state: string;
  raw: string;
}

/** A process in a lab namespace whose stdout lines are handed to `onLine` as they come. */
function spawnInNetns(
  netns: string,
  argv: string[],
  onLine: (line: string, t: number) => void,
): ChildProcess {
  // setpriv: the kernel kills it if this benchmark dies (the lab's teardown would too).
  const child = spawn(
    "setpriv",
    ["--pdeathsig", "KILL", "--", "ip", "netns", "exec", netns, ...argv],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  child.on("error", (e) => process.stderr.write(`${argv[0] ?? "?"}: ${e.message}\n`));
  createInterface({ input: child.stdout }).on("line", (line) => onLine(line, now()));
  return child;
}

/** The ARP prober of test/fixtures/arp-prober.ts and what it has reported so far. */
class Prober {
  readonly sends: { seq: number; t: number }[] = [];
  readonly replies: Reply[] = [];
  readonly garps: Garp[] = [];
  private readonly answers: ((t: number) => void)[] = [];
  private readyAt: ((t: number) => void) | undefined;
  readonly ready: Promise<number>;
  private readonly child: ChildProcess;

  constructor(lab: Lab, ip: string, proberIp: string) {
    this.ready = new Promise((r) => (this.readyAt = r));
    const program = join(packageRoot(), "dist-test", "test", "fixtures", "arp-prober.js");
    this.child = spawnInNetns(
      lab.client.netns,
      [
        process.execPath,
        program,
        "--ip",
        ip,
        "--ifname",
        lab.client.ifname,
        "--prober-ip",
        proberIp,
        "--interval-ms",
        String(PROBE_INTERVAL_MS),
      ],
      (line) => this.onLine(line),
    );
  }

  private onLine(line: string): void {
    const m = JSON.parse(line) as {
      ev: string;
      t: number;
      seq?: number;
      mac?: string;
      op?: number;
    };
    switch (m.ev) {
      case "s":
        this.sends.push({ seq: m.seq ?? 0, t: m.t });
        break;
      case "r":
        this.replies.push({ seq: m.seq ?? 0, t: m.t, mac: m.mac ?? "" });
        break;
      case "g":
        this.garps.push({ t: m.t, mac: m.mac ?? "", op: m.op ?? 0 });
        break;
      case "ready":
        this.readyAt?.(m.t);
        break;
      default:
        this.answers.shift()?.(m.t);
    }
  }

  /** Sends "clock" or "udp"; resolves with the prober's time of its answer. */
  command(cmd: "clock" | "udp"): Promise<number> {
    return new Promise((resolve) => {
      this.answers.push(resolve);
      this.child.stdin?.write(`${cmd}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.stdin?.end("quit\n");
    const t = setTimeout(() => this.child.kill("SIGKILL"), 3_000);
    await exited;
    clearTimeout(t);
  }
}

/** `ip monitor neigh` in the client namespace, lines about `ip` only. */
class NeighMonitor {
  readonly lines: NeighLine[] = [];
  private readonly child: ChildProcess;

  constructor(lab: Lab, ip: string) {
    this.child = spawnInNetns(lab.client.netns, ["ip", "monitor", "neigh"], (raw, t) => {
      const words = raw.trim().split(/\s+/);
      const deleted = words[0] === "Deleted";
      if ((deleted ? words[1] : words[0]) !== ip) return;
      const at = words.indexOf("lladdr");
      this.lines.push({
        t,
        mac: at >= 0 ? (words[at + 1] ?? "").toLowerCase() : null,
        state: deleted ? "Deleted" : (words.at(-1) ?? ""),
        raw,
      });
    });
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.kill("SIGTERM");
    return exited;
  }
}

/** A speaker's own count of eligible members (its /metrics), undefined if it does not answer. */
function speakerMembers(address: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = httpGet({ host: address, port: 7473, path: "/metrics", timeout: 500 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => {
        const m = /^barelb_speaker_members (\S+)/m.exec(body);
        resolve(m?.[1] === undefined ? undefined : Number(m[1]));
      });
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

interface RunResult {
  signal: Signal;
  run: number;
  from: string;
  to: string | null;
  answeredMs: number | null;
  neighborMs: number | null;
  /** The old owner's last reply after t0 (SIGTERM: when it stopped answering). */
  oldLastReplyMs: number | null;
  firstGratuitousMs: number | null;
  /** Largest gap between two requests in [t0 - 50 ms, answered]: the probe's granularity. */
  probeGapMs: number;
  /** Moves of the IP between the signal and the restart (1 is a clean failover). */
  moves: number;
  movesAfterRestart: number;
  /** The first 20 changes of who answers, ms after t0. */
  moveTimeline: { ms: number; nodes: string }[];
  /** Requests answered by two nodes, and when the first and last were (ms after t0). */
  doubleAnswered: number;
  doubleAnsweredSpan: { fromMs: number; toMs: number } | null;
  twoMacsWithin20ms: number;
  twoMacsSpan: { fromMs: number; toMs: number } | null;
  /** Longest time without any reply after the restart (a move back leaves a gap too). */
  restartGapMs: number;
  neighborLines: { ms: number; line: string }[];
  restartToStableMs: number;
  load1: number;
  t0Wall: string;
}

export async function main(args: string[]): Promise<void> {
  const runsAt = args.indexOf("--runs");
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 10;
  const keepLogs = args.includes("--keep-logs");
  const restAt = args.indexOf("--rest");
  const restMs = restAt >= 0 ? Number(args[restAt + 1]) * 1000 : 0;
  const loadBefore = load();
  console.log(`failover: ${runs} runs per signal; load average ${loadBefore.join(" ")}`);
  const lab = await createLab({ nodes: 3, controlPlane: true, persistent: false });
  let cluster: LabCluster | undefined;
  let prober: Prober | undefined;
  let monitor: NeighMonitor | undefined;
  let anomalies = 0;
  try {
    cluster = await LabCluster.start(lab, { logLevel: "debug" });
    const c = cluster;
    const core = loadKubeConfig(lab.kubeconfig).makeApiClient(CoreV1Api);
    await core.createNamespacedService({ namespace: NS, body: sampleService() });
    await setEndpoints(
      lab,
      NS,
      "sample",
      lab.nodes.map((n) => ({ node: n.name })),
    );
    const ip = await until("the sample Service's IP", 60_000, async () => {
      const s = await core.readNamespacedService({ name: "sample", namespace: NS });
      return s.status?.loadBalancer?.ingress?.[0]?.ip;
    });
    const nodeOf = new Map(lab.nodes.map((n) => [n.mac.toLowerCase(), n.name]));
    const nameOf = (mac: string) => nodeOf.get(mac) ?? `unknown ${mac}`;

    // The prober's own sender address: unused in the lab's slot (gateway .1, client .2).
    const client4 = lab.client.ipv4;
    const proberIp = `${client4.slice(0, client4.lastIndexOf("."))}.${Number(client4.split(".")[3]) + 1}`;
    const p = new Prober(lab, ip, proberIp);
    prober = p;
    const mon = new NeighMonitor(lab, ip);
    monitor = mon;
    await p.ready;
    const clock = await checkClocks(p);
    console.log(
      `IP ${ip}; prober (sender ${proberIp}) and benchmark share CLOCK_MONOTONIC (checked: prober time inside a ${r1(clock.rttMs * 1000)} µs round trip)`,
    );

    /** Waits until all speakers count 3 members and one MAC has answered every request for STABLE_MS. */
    const settle = async (): Promise<{ node: string; mac: string }> => {
      let membersOkSince = Infinity;
      return until(
        "one node answering steadily, 3 members",
        120_000,
        async () => {
          const members = await Promise.all(lab.nodes.map((n) => speakerMembers(n.ipv4)));
          const t = now();
          if (!members.every((m) => m === 3)) {
            membersOkSince = Infinity;
            return undefined;
          }
          membersOkSince = Math.min(membersOkSince, t);
          const last = p.replies.at(-1);
          if (last === undefined || t - last.t > GAP_MS) return undefined;
          let since = last.t;
          for (let i = p.replies.length - 1; i > 0; i--) {
            const cur = p.replies[i];
            const prev = p.replies[i - 1];
            if (cur === undefined || prev === undefined) break;
            if (prev.mac !== last.mac || cur.t - prev.t > GAP_MS) break;
            since = prev.t;
            if (since < t - STABLE_MS) break;
          }
          return t - Math.max(since, membersOkSince) >= STABLE_MS
            ? { node: nameOf(last.mac), mac: last.mac }
            : undefined;
        },
        200,
      );
    };

    /** Makes a fresh client neighbor entry for the IP that points at `mac`. */
    const freshNeighbor = async (mac: string) => {
      await lab.exec(lab.client, ["ip", "neigh", "flush", "to", ip, "dev", lab.client.ifname]);
      const from = mon.lines.length;
      await p.command("udp");
      await until("the client's neighbor entry for the IP", 5_000, () =>
        mon.lines.slice(from).some((l) => l.mac === mac) ? true : undefined,
      );
    };

    const oneRun = async (signal: Signal, run: number): Promise<RunResult> => {
      if (restMs > 0) await sleep(restMs);
      const owner = await settle();
      await freshNeighbor(owner.mac);
      await sleep(1_500); // past the kernel's ARP lock time after the entry was made
      const ref = c.speakers.get(owner.node);
      if (ref === undefined || !isRunning(ref))
        throw new Error(`${owner.node}: speaker not running`);
      const before = { replies: p.replies.length, neigh: mon.lines.length, sends: p.sends.length };
      const t0Wall = new Date().toISOString();
      const t0 = now();
      process.kill(ref.pid, signal);
      const newReply = () =>
        p.replies.slice(before.replies).find((r) => r.t >= t0 && r.mac !== owner.mac);
      const newNeigh = () =>
        mon.lines
          .slice(before.neigh)
          .find((l) => l.t >= t0 && l.mac !== null && l.mac !== owner.mac && nodeOf.has(l.mac));
      await until("another node answering and the neighbor entry moved", 30_000, () =>
        newReply() !== undefined && newNeigh() !== undefined ? true : undefined,
      ).catch((e: unknown) => console.log(`  run ${run}: ${String(e)}`));
      await sleep(3_000); // watch for a second move before restarting
      await until("the stopped speaker to exit", 15_000, () => (isRunning(ref) ? undefined : true));
      const tRestart = now();
      c.startSpeaker(owner.node);
      await settle();
      const tEnd = now();

      const answered = newReply();
      const neigh = newNeigh();
      const after = p.replies.slice(before.replies).filter((r) => r.t >= t0 && r.t <= tEnd);
      // Who answered each request, in order: the IP's owner as the client sees it. A request
      // answered by two nodes counts as its own state ("node-1+node-3").
      const window = p.replies.filter((r) => r.t >= t0 - STABLE_MS && r.t <= tEnd);
      const bySeq = new Map<number, { t: number; macs: Set<string> }>();
      for (const r of window) {
        const e = bySeq.get(r.seq) ?? { t: r.t, macs: new Set<string>() };
        bySeq.set(r.seq, e);
        e.macs.add(r.mac);
      }
      const key = (macs: Set<string>) => [...macs].map(nameOf).sort().join("+");
      const moveTimeline: { ms: number; nodes: string }[] = [];
      let cur = nameOf(owner.mac);
      let moves = 0;
      let movesAfterRestart = 0;
      const doubles: number[] = [];
      for (const e of bySeq.values()) {
        if (e.macs.size > 1) doubles.push(e.t - t0);
        if (e.t < t0) continue;
        const k = key(e.macs);
        if (k === cur) continue;
        cur = k;
        if (moveTimeline.length < 20) moveTimeline.push({ ms: r1(e.t - t0), nodes: k });
        if (e.t < tRestart) moves++;
        else movesAfterRestart++;
      }
      // The looser test: consecutive replies from two MACs less than 20 ms apart.
      const twoMacs: number[] = [];
      for (let i = 1; i < window.length; i++) {
        const a = window[i - 1];
        const b = window[i];
        if (a !== undefined && b !== undefined && a.mac !== b.mac && b.t - a.t < 20)
          twoMacs.push(b.t - t0);
      }
      const span = (xs: number[]) =>
        xs.length === 0 ? null : { fromMs: r1(xs[0] ?? NaN), toMs: r1(xs.at(-1) ?? NaN) };
      let restartGapMs = 0;
      let prevT = tRestart;
      for (const r of after.filter((x) => x.t >= tRestart)) {
        restartGapMs = Math.max(restartGapMs, r.t - prevT);
        prevT = r.t;
      }
      const oldLast = p.replies
        .slice(before.replies)
        .filter((r) => r.t >= t0 && r.t < tRestart && r.mac === owner.mac)
        .at(-1);
      const firstGarp = p.garps.find((g) => g.t >= t0 && g.mac !== owner.mac);
      const answeredAt = answered?.t ?? t0;
      let probeGapMs = 0;
      const sends = p.sends.slice(Math.max(0, before.sends - 10));
      for (let i = 1; i < sends.length; i++) {
        const a = sends[i - 1];
        const b = sends[i];
        if (a === undefined || b === undefined || b.t < t0 - 50 || a.t > answeredAt) continue;
        probeGapMs = Math.max(probeGapMs, b.t - a.t);
      }
      return {
        signal,
        run,
        from: owner.node,
        to: answered === undefined ? null : nameOf(answered.mac),
        answeredMs: answered === undefined ? null : r1(answered.t - t0),
        neighborMs: neigh === undefined ? null : r1(neigh.t - t0),
        oldLastReplyMs: oldLast === undefined ? null : r1(oldLast.t - t0),
        firstGratuitousMs: firstGarp === undefined ? null : r1(firstGarp.t - t0),
        probeGapMs: r1(probeGapMs),
        moves,
        movesAfterRestart,
        moveTimeline,
        doubleAnswered: doubles.length,
        doubleAnsweredSpan: span(doubles),
        twoMacsWithin20ms: twoMacs.length,
        twoMacsSpan: span(twoMacs),
        restartGapMs: r1(restartGapMs),
        neighborLines: mon.lines
          .slice(before.neigh)
          .filter((l) => l.t <= tEnd)
          .map((l) => ({ ms: r1(l.t - t0), line: l.raw })),
        restartToStableMs: Math.round(tEnd - tRestart),
        load1: load()[0] ?? NaN,
        t0Wall,
      };
    };

    console.log("waiting for the three speakers to settle...");
    await settle();
    const results: RunResult[] = [];
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      for (let run = 1; run <= runs; run++) {
        const r = await oneRun(signal, run);
        results.push(r);
        const odd =
          r.answeredMs === null ||
          r.answeredMs > TARGET_MS[signal] ||
          r.moves !== 1 ||
          r.movesAfterRestart > 1 ||
          r.doubleAnswered > 0;
        if (odd) anomalies++;
        console.log(
          `${signal} ${String(run).padStart(2)}: ${r.from} → ${r.to ?? "nobody"}  answered ${fmt(r.answeredMs)}  neighbor ${fmt(r.neighborMs)}  ` +
            `(old last reply ${fmt(r.oldLastReplyMs)}, first gratuitous ${fmt(r.firstGratuitousMs)}, probe gap ${r.probeGapMs} ms)  ` +
            `moves ${r.moves}+${r.movesAfterRestart} after restart (longest silence then ${r.restartGapMs} ms), double ${r.doubleAnswered}/${r.twoMacsWithin20ms}${r.doubleAnsweredSpan === null ? "" : ` (two nodes answering from ${r.doubleAnsweredSpan.fromMs} to ${r.doubleAnsweredSpan.toMs} ms)`}, load ${r.load1}${odd ? "  <-- look" : ""}`,
        );
      }
    }

    const bySignal = Object.fromEntries(
      (["SIGTERM", "SIGKILL"] as const).map((signal) => {
        const rs = results.filter((r) => r.signal === signal);
        const stats = (xs: (number | null)[]) => {
          const s = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
          return {
            n: s.length,
            missing: xs.length - s.length,
            min: s[0] ?? NaN,
            median: quantile(s, 0.5),
            ...(s.length >= 10 ? { p90: quantile(s, 0.9) } : {}),
            max: s.at(-1) ?? NaN,
          };
        };
        return [
          signal,
          {
            targetMs: TARGET_MS[signal],
            answeredMs: stats(rs.map((r) => r.answeredMs)),
            neighborMs: stats(rs.map((r) => r.neighborMs)),
            withinTarget: rs.filter(
              (r) => r.answeredMs !== null && r.answeredMs < TARGET_MS[signal],
            ).length,
            runsWithFlaps: rs.filter((r) => r.moves > 1).length,
            runsMovedBackAfterRestart: rs.filter((r) => r.movesAfterRestart === 1).length,
            runsWithFlapsAfterRestart: rs.filter((r) => r.movesAfterRestart > 1).length,
            runsWithDoubleAnswer: rs.filter((r) => r.doubleAnswered > 0).length,
            runsWithTwoMacsWithin20ms: rs.filter((r) => r.twoMacsWithin20ms > 0).length,
            moveBackSilenceMs: stats(
              rs.filter((r) => r.movesAfterRestart > 0).map((r) => r.restartGapMs),
            ),
          },
        ];
      }),
    );
    const loadAfter = load();
    console.log("");
    for (const [signal, s] of Object.entries(bySignal)) {
      const f = (x: { min: number; median: number; p90?: number; max: number; missing: number }) =>
        `median ${x.median} ms${x.p90 === undefined ? "" : `, p90 ${x.p90} ms`}, max ${x.max} ms, min ${x.min} ms${x.missing > 0 ? `, ${x.missing} never` : ""}`;
      console.log(`${signal} (target < ${s.targetMs} ms):`);
      console.log(`  answered by another node: ${f(s.answeredMs)}`);
      console.log(`  client neighbor entry:    ${f(s.neighborMs)}`);
      if (s.moveBackSilenceMs.n > 0)
        console.log(`  unanswered while moving back after the restart: ${f(s.moveBackSilenceMs)}`);
      console.log(
        `  within target ${s.withinTarget}/${runs}; runs with flaps ${s.runsWithFlaps}, moved back once after restart ${s.runsMovedBackAfterRestart}, flapped after restart ${s.runsWithFlapsAfterRestart}; ` +
          `runs with a request answered twice ${s.runsWithDoubleAnswer}, with two MACs within 20 ms ${s.runsWithTwoMacsWithin20ms}`,
      );
    }
    console.log(`load average before ${loadBefore.join(" ")}, after ${loadAfter.join(" ")}`);
    console.log(
      `wrote ${writeResult("failover", {
        runsPerSignal: runs,
        restBetweenRunsSeconds: restMs / 1000,
        probeIntervalMs: PROBE_INTERVAL_MS,
        speakerFlags:
          "defaults (--dead-after 1s, --heartbeat-interval 200ms, --lease-duration 10s, --renew-interval 2s)",
        loadAverage: { before: loadBefore, after: loadAfter },
        clockCheckRttMs: clock.rttMs,
        ...bySignal,
        runs: results,
      })}`,
    );
  } finally {
    await prober?.stop();
    await monitor?.stop();
    if (cluster !== undefined && (keepLogs || anomalies > 0)) {
      const dir = `/tmp/barelb-failover-logs-${lab.id}`;
      await copyDir(join(lab.record.dir, "logs"), dir, { recursive: true });
      console.log(`speaker and controller logs kept in ${dir}`);
    }
    await cluster?.stop();
    await lab.down();
  }
}

/**
 * The prober stamps with its CLOCK_MONOTONIC, this process with its own: both are the host's
 * (`ip netns exec` makes no time namespace). Checked, not assumed: the prober's answer to
 * "clock" must fall between this process's times before the request and after the answer.
 */
async function checkClocks(p: Prober): Promise<{ rttMs: number }> {
  let best = Infinity;
  for (let i = 0; i < 20; i++) {
    const before = now();
    const t = await p.command("clock");
    const after = now();
    if (t < before || t > after) {
      throw new Error(
        `the prober's clock (${t}) is not between ${before} and ${after}: the clocks differ`,
      );
    }
    best = Math.min(best, after - before);
  }
  return { rttMs: r1(best * 1000) / 1000 };
}

async function until<T>(
  what: string,
  timeoutMs: number,
  check: () => T | undefined | Promise<T | undefined>,
  everyMs = 10,
): Promise<T> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

const fmt = (ms: number | null) => (ms === null ? "never" : `${ms} ms`);
