// The controller end to end on a real API server: `npm run bench -- controller [--services N] [--scale M]`
//   - creates N LoadBalancer Services (default 1,000) and measures time until all have an
//     EXTERNAL-IP, p50/p99 time-to-IP, API requests per Service (counted by kube-apiserver's
//     own apiserver_request_total), controller RSS;
//   - restarts the controller: time until /readyz, and IP changes (must be zero);
//   - grows to M Services (default 5,000) and reports RSS again.
// The controller runs as a separate process (`barelb controller`), as in a cluster. Services are
// IPv6 single-stack with a pool in 2001:db8::/32 (the documentation range), so no address outside
// the documentation ranges appears even in bookkeeping.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { CoreV1Api, type V1Service } from "@kubernetes/client-node";
import {
  ensureControlPlaneBinaries,
  freePort,
  startControlPlane,
  type ControlPlane,
} from "../src/lab/controlplane.js";
import { loadKubeClient } from "../src/k8s/api.js";
import { loadKubeConfig } from "../src/k8s/client.js";
import { watchResource } from "../src/k8s/informer.js";
import { packageRoot } from "../src/util/paths.js";
import { pino } from "pino";
import { summary, writeResult } from "./_report.js";
import { apiRequests, diffCounts } from "./_k8s.js";
import { lbServiceBody } from "./_lab.js";

const NS = "bench";

export async function main(args: string[]): Promise<void> {
  const arg = (name: string, def: number) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : def;
  };
  const N = arg("--services", 1_000);
  const nodeOptionsAt = args.indexOf("--controller-node-options");
  controllerNodeOptions = nodeOptionsAt >= 0 ? (args[nodeOptionsAt + 1] ?? "") : "";
  const M = arg("--scale", 5_000);
  const dir = await mkdtemp(join(tmpdir(), "barelb-bench-ctl-"));
  const cp = await startControlPlane({
    bindAddress: "127.0.0.1",
    workDir: dir,
    binDir: await ensureControlPlaneBinaries(),
    tied: true,
  });
  let ctl: ChildProcess | undefined;
  try {
    const kc = loadKubeConfig(cp.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: {
        metadata: { name: "barelb-config" },
        data: {
          config:
            "address-pools:\n- name: bench\n  protocol: layer2\n  addresses: [2001:db8:b::/64]\n",
        },
      },
    });

    // Our own watch records when each Service first shows an IP.
    const created = new Map<string, number>();
    const gotIP = new Map<string, number>();
    const ipOf = new Map<string, string>();
    const seen = (svc: V1Service) => {
      const name = svc.metadata?.name ?? "";
      const ip = svc.status?.loadBalancer?.ingress?.[0]?.ip;
      if (ip !== undefined && !gotIP.has(name)) {
        gotIP.set(name, performance.now());
        ipOf.set(name, ip);
      }
    };
    const watch = watchResource<V1Service>({
      client: loadKubeClient(cp.kubeconfigPath),
      path: `/api/v1/namespaces/${NS}/services`,
      handlers: { add: seen, update: seen },
      log: pino({ level: "silent" }),
      what: "bench services",
    });
    await watch.synced;

    const port = await freePort("127.0.0.1");
    const requestsBefore = await apiRequests(cp);

    const createAll = async (from: number, to: number, waitForIPs: boolean) => {
      const names = Array.from(
        { length: to - from },
        (_, i) => `svc-${String(from + i).padStart(5, "0")}`,
      );
      const t0 = performance.now();
      for (let i = 0; i < names.length; i += 20) {
        await Promise.all(
          names.slice(i, i + 20).map(async (name) => {
            created.set(name, performance.now());
            await core.createNamespacedService({ namespace: NS, body: lbServiceBody(name) });
          }),
        );
      }
      const createSeconds = (performance.now() - t0) / 1000;
      if (waitForIPs) await until(() => names.every((n) => gotIP.has(n)), 300_000);
      return { names, createSeconds, seconds: (performance.now() - t0) / 1000 };
    };

    // Phase 1, backlog: N Services exist before the controller starts (the controller alone).
    console.log(`backlog: creating ${N} Services with no controller running...`);
    const backlog = await createAll(0, N, false);
    const tStart = performance.now();
    ctl = startController(cp, port);
    await until(() => backlog.names.every((n) => gotIP.has(n)), 300_000);
    const backlogSeconds = (performance.now() - tStart) / 1000;
    console.log(
      `backlog: ${N} Services all assigned ${round(backlogSeconds)} s after the controller started (process start included)`,
    );

    // Phase 2, live: N more Services created while the controller runs.
    console.log(`live: creating ${N} more Services with the controller running...`);
    const live = await createAll(N, 2 * N, true);
    await sleep(2_000); // let Events and patches settle before counting
    const delta = diffCounts(requestsBefore, await apiRequests(cp));
    const timeToIP = live.names.map((n) => (gotIP.get(n) ?? NaN) - (created.get(n) ?? NaN));
    const rss1 = { ...rssMiB(ctl), heapUsedMiB: await heapUsedMiB(port) };
    const total = 2 * N;
    const statusPatches = delta["PATCH services status"] ?? 0;
    const events = delta["POST events "] ?? 0;
    const leaseWrites = delta["PUT leases "] ?? 0;
    const result: Record<string, unknown> = {
      family: "IPv6",
      controllerNodeOptions,
      backlog: { services: N, allAssignedSeconds: round(backlogSeconds) },
      live: {
        services: N,
        createSeconds: round(live.createSeconds),
        allAssignedSeconds: round(live.seconds),
        timeToIPMs: summary(timeToIP.map(Math.round)),
      },
      apiRequestsDuringRun: delta,
      statusPatchesPerService: round(statusPatches / total),
      eventsPerService: round(events / total),
      leaseWritesDuringRun: leaseWrites,
      controllerMemory: { services: total, ...rss1 },
    };
    console.log(
      `live: ${N} Services created in ${round(live.createSeconds)} s, all assigned ${round(live.seconds)} s after the first create`,
    );
    console.log(
      `live: time to IP p50 ${summary(timeToIP).p50.toFixed(0)} ms, p99 ${summary(timeToIP).p99.toFixed(0)} ms, max ${summary(timeToIP).max.toFixed(0)} ms`,
    );
    console.log(
      `API writes per Service: ${round(statusPatches / total)} status patch(es) + ${round(events / total)} Event(s); Lease renewals during the run: ${leaseWrites}`,
    );
    console.log(
      `all API requests during the run (the benchmark's own creates included): ${JSON.stringify(delta)}`,
    );
    console.log(
      `controller RSS: ${rss1.rss} MiB (peak ${rss1.peak} MiB, JS heap ${rss1.heapUsedMiB.used} MiB used of ${rss1.heapUsedMiB.total}, external ${rss1.heapUsedMiB.external}) at ${total} Services`,
    );

    // Restart: time to ready, IP changes, writes.
    const before = new Map(ipOf);
    ctl.kill("SIGTERM");
    await exited(ctl);
    const requestsBeforeRestart = await apiRequests(cp);
    const t0 = performance.now();
    ctl = startController(cp, port);
    await until(() => ready(port), 120_000);
    const readySeconds = (performance.now() - t0) / 1000;
    await sleep(3_000);
    const after = await core.listNamespacedService({ namespace: NS });
    let changed = 0;
    for (const s of after.items)
      if (s.status?.loadBalancer?.ingress?.[0]?.ip !== before.get(s.metadata?.name ?? ""))
        changed++;
    const restartDelta = diffCounts(requestsBeforeRestart, await apiRequests(cp));
    result.restart = {
      readySeconds: round(readySeconds),
      ipChanges: changed,
      statusPatches: restartDelta["PATCH services status"] ?? 0,
    };
    console.log(
      `restart: ready in ${round(readySeconds)} s, ${changed} IP changes, ${restartDelta["PATCH services status"] ?? 0} status patches`,
    );

    if (M > 2 * N) {
      console.log(`growing to ${M} Services...`);
      const more = await createAll(2 * N, M, true);
      await sleep(2_000);
      const rss2 = { ...rssMiB(ctl), heapUsedMiB: await heapUsedMiB(port) };
      result.scale = { services: M, addedSeconds: round(more.seconds), controllerRssMiB: rss2 };
      console.log(
        `controller RSS: ${rss2.rss} MiB (peak ${rss2.peak} MiB, JS heap ${rss2.heapUsedMiB.used} MiB used of ${rss2.heapUsedMiB.total}, external ${rss2.heapUsedMiB.external}) at ${M} Services`,
      );
    }
    await watch.stop();
    console.log(`wrote ${writeResult("controller", result)}`);
  } finally {
    if (ctl !== undefined && ctl.exitCode === null) {
      ctl.kill("SIGTERM");
      await exited(ctl);
    }
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** V8 flags for the controller process only (e.g. the ones the chart sets), not for the benchmark. */
let controllerNodeOptions = "";

function startController(cp: ControlPlane, port: number): ChildProcess {
  return spawn(
    "setpriv",
    [
      "--pdeathsig",
      "KILL",
      "--",
      process.execPath,
      join(packageRoot(), "dist", "cli", "main.js"),
      "controller",
      "--kubeconfig",
      cp.kubeconfigPath,
      "--namespace",
      NS,
      "--identity",
      "bench",
      "--metrics-address",
      "127.0.0.1",
      "--metrics-port",
      String(port),
      "--log-level",
      "warn",
    ],
    {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, NODE_OPTIONS: controllerNodeOptions },
    },
  );
}

/** RSS of the controller process: the child of setpriv, which execs node in its place. */
function rssMiB(child: ChildProcess): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${child.pid ?? 0}/status`, "utf8");
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kb("VmRSS") / 1024), peak: Math.round(kb("VmHWM") / 1024) };
}

/** The controller's own report of its memory (prom-client's default metrics), in MiB. */
async function heapUsedMiB(
  port: number,
): Promise<{ used: number; total: number; external: number }> {
  const text = await new Promise<string>((resolve, reject) => {
    httpGet(`http://127.0.0.1:${port}/metrics`, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
  const metric = (name: string) =>
    Math.round(
      Number(new RegExp(`^barelb_controller_nodejs_${name} (\\S+)`, "m").exec(text)?.[1] ?? NaN) /
        2 ** 20,
    );
  return {
    used: metric("heap_size_used_bytes"),
    total: metric("heap_size_total_bytes"),
    external: metric("external_memory_bytes"),
  };
}

function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpGet(`http://127.0.0.1:${port}/readyz`, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
  });
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await sleep(20);
  }
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once("exit", () => r()));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number) => Math.round(x * 100) / 100;
