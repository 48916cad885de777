// Allocator alone (pure, no API server): `npm run bench -- allocator [--runs N]`
// (= `tsc -p tsconfig.programs.json && node --expose-gc dist-test/bench/index.js allocator`).
//   ipv4 /16       allocate 60,000 single-stack Services from 10.0.0.0/16
//   ipv6 /64       allocate 100,000 single-stack Services from 2001:db8::/64
//   dual-stack     allocate 50,000 RequireDualStack Services from a /16 + /64 pool
//   churn          with 100,000 held in a /64: release 10,000 random Services, allocate
//                  10,000 new ones (they fill the holes, lowest first)
//   restart        `assign` 100,000 existing assignments into a fresh allocator
//   memory         heap retained by the allocator with 100,000 assigned addresses (IPv4 /8
//                  and IPv6 /64), measured with global.gc() (needs --expose-gc); the
//                  Service requests are built before the baseline, as the controller holds
//                  those anyway
// Figures are printed and written to bench/results/allocator.json. Measurements, not tests:
// the target is at least 100,000 allocations/s on this 2-core machine.
import { performance } from "node:perf_hooks";

import { Allocator } from "../src/allocator/index.js";
import type { ServiceRequest } from "../src/allocator/index.js";
import { parseConfig, type Config } from "../src/config/index.js";
import type { IPFamily } from "../src/net/ip.js";
import { summary, writeResult } from "./_report.js";

function config(text: string): Config {
  const r = parseConfig(text);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join("\n"));
  return r.config;
}

const POOLS = config(`address-pools:
- name: v4-16
  protocol: layer2
  addresses: [10.0.0.0/16]
  auto-assign: false
- name: v4-8
  protocol: layer2
  addresses: [11.0.0.0/8]
  auto-assign: false
- name: v6-64
  protocol: layer2
  addresses: [2001:db8::/64]
  auto-assign: false
- name: dual
  protocol: layer2
  addresses: [12.0.0.0/16, 2001:db8:1::/64]
  auto-assign: false
`);

function requests(
  n: number,
  pool: string,
  families: readonly IPFamily[],
  prefix = "s",
): ServiceRequest[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `ns${i % 50}/${prefix}${i}`,
    namespace: `ns${i % 50}`,
    labels: { app: `app${i}` },
    families,
    familyPolicy: families.length === 2 ? "RequireDualStack" : "SingleStack",
    requestedIPs: [],
    pool,
    sharingKey: "",
    ports: [{ protocol: "TCP", port: 80 }],
    backendKey: "",
  }));
}

function allocateAll(a: Allocator, reqs: readonly ServiceRequest[]): number {
  const t0 = performance.now();
  for (const r of reqs) {
    const res = a.allocate(r);
    if (!res.ok) throw new Error(`${r.key}: ${res.reason.message}`);
  }
  return performance.now() - t0;
}

/** Allocations per second over `runs` fresh allocators. */
function rate(reqs: readonly ServiceRequest[], runs: number) {
  const perSecond: number[] = [];
  for (let i = 0; i < runs; i++) {
    const ms = allocateAll(new Allocator(POOLS), reqs);
    perSecond.push(Math.round((reqs.length / ms) * 1000));
  }
  return {
    services: reqs.length,
    firstRun: perSecond[0],
    allocationsPerSecond: summary(perSecond),
  };
}

function heapAfterGC(): number {
  const collect = globalThis.gc;
  if (collect === undefined) throw new Error("run with node --expose-gc");
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}

function memory(pool: string, family: IPFamily, n: number) {
  const reqs = requests(n, pool, [family]);
  const before = heapAfterGC();
  const a = new Allocator(POOLS);
  allocateAll(a, reqs);
  const after = heapAfterGC();
  const bytes = after - before;
  // Keep `a` alive until after the measurement.
  const held = [...a.assignments()].length;
  return {
    pool,
    assigned: held,
    retainedMiB: Math.round((bytes / 2 ** 20) * 10) / 10,
    bytesPerAddress: Math.round(bytes / held),
  };
}

export function main(args: string[]): Promise<void> {
  const runsArg = args.indexOf("--runs");
  const runs = runsArg >= 0 ? Number(args[runsArg + 1]) : 3;

  const v4 = rate(requests(60_000, "v4-16", [4]), runs);
  console.log(
    `ipv4 /16: ${v4.services} Services, allocations/s p50 ${v4.allocationsPerSecond.p50}`,
  );
  const v6 = rate(requests(100_000, "v6-64", [6]), runs);
  console.log(
    `ipv6 /64: ${v6.services} Services, allocations/s p50 ${v6.allocationsPerSecond.p50}`,
  );
  const dual = rate(requests(50_000, "dual", [4, 6]), runs);
  console.log(
    `dual-stack: ${dual.services} Services (2 IPs each), allocations/s p50 ${dual.allocationsPerSecond.p50}`,
  );

  // Churn: 100k held, 10k random releases, 10k new allocations into the holes.
  const base = requests(100_000, "v6-64", [6]);
  const a = new Allocator(POOLS);
  allocateAll(a, base);
  let seed = 42;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const victims = new Set<string>();
  while (victims.size < 10_000) victims.add(base[Math.floor(random() * base.length)]?.key ?? "");
  const t0 = performance.now();
  for (const k of victims) a.release(k);
  const releaseMs = performance.now() - t0;
  const fresh = requests(10_000, "v6-64", [6], "new");
  const churnMs = allocateAll(a, fresh);
  const churn = {
    held: 100_000,
    released: victims.size,
    releasesPerSecond: Math.round((victims.size / releaseMs) * 1000),
    allocationsPerSecond: Math.round((fresh.length / churnMs) * 1000),
  };
  console.log(
    `churn: 10,000 released and re-allocated among 100,000 held: ${churn.allocationsPerSecond} allocations/s`,
  );

  // Restart: assign every existing assignment into a fresh allocator.
  const byKey = new Map([...base, ...fresh].map((r) => [r.key, r]));
  const existing = [...a.assignments()];
  const b = new Allocator(POOLS);
  const t1 = performance.now();
  for (const x of existing) {
    const req = byKey.get(x.key);
    if (req === undefined || !b.assign(req, x.ips).ok) throw new Error(`restart: ${x.key}`);
  }
  const restartMs = performance.now() - t1;
  const restart = {
    assignments: existing.length,
    ms: Math.round(restartMs),
    assignsPerSecond: Math.round((existing.length / restartMs) * 1000),
  };
  console.log(`restart: ${restart.assignments} assignments restored in ${restart.ms} ms`);

  const mem = [memory("v4-8", 4, 100_000), memory("v6-64", 6, 100_000)];
  for (const m of mem) {
    console.log(
      `memory: ${m.assigned} addresses in ${m.pool}: ${m.retainedMiB} MiB retained (${m.bytesPerAddress} B/address)`,
    );
  }
  const file = writeResult("allocator", {
    ipv4Slash16: v4,
    ipv6Slash64: v6,
    dualStack: dual,
    churn,
    restart,
    memory: mem,
  });
  console.log(`wrote ${file}`);
  return Promise.resolve();
}
