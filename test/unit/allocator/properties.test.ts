/**
 * Property tests: after any sequence of allocate / assign / release / setConfig,
 * - no IP is held by two Services that may not share it;
 * - every held IP lies in the pool the Service is told, that pool admits the Service, is the
 *   annotated one if any, and does not avoid the IP;
 * - stats count each held IP once;
 * - setConfig evicts exactly the Services whose IPs became invalid;
 * - a plain allocation gets the lowest address that was free;
 * - re-assigning every assignment into a fresh allocator reproduces them exactly (restart).
 * Pools are tiny so that exhaustion, sharing and conflicts happen often, and so that a brute
 * force can enumerate every address.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";

import {
  Allocator,
  type Assignment,
  type ServicePort,
  type ServiceRequest,
} from "../../../src/allocator/index.js";
import { matchesAny, type Config, type Pool } from "../../../src/config/index.js";
import { isBuggyIPv4, parseIP, type IP, type IPFamily } from "../../../src/net/ip.js";
import { cfg } from "./helpers.js";

const CONFIGS: readonly Config[] = [
  cfg(`address-pools:
- name: a
  protocol: layer2
  addresses: [192.0.2.0-192.0.2.3, 2001:db8::-2001:db8::3]
- name: b
  protocol: layer2
  addresses: [192.0.2.4/30]
  namespaces: [ns1]
- name: c
  protocol: layer2
  addresses: [192.0.2.8-192.0.2.9, 2001:db8::10/127]
  auto-assign: false
`),
  cfg(`address-pools:
- name: a2
  protocol: layer2
  addresses: [192.0.2.0-192.0.2.1, 2001:db8::-2001:db8::3]
  avoid-buggy-ips: true
- name: b
  protocol: layer2
  addresses: [192.0.2.4/30]
  service-selectors: [{matchLabels: {tier: web}}]
  priority: 1
`),
  cfg(`address-pools:
- name: a
  protocol: layer2
  addresses: [192.0.2.0/28, 2001:db8::/124]
  avoid-buggy-ips: true
`),
  cfg(""),
  cfg(`address-pools:
- name: a
  protocol: layer2
  addresses: [192.0.2.4/30]
  priority: 3
- name: b
  protocol: layer2
  addresses: [192.0.2.0/30]
  namespaces: [ns2]
- name: c
  protocol: layer2
  addresses: [2001:db8::/126, 192.0.2.8]
  service-selectors: [{matchExpressions: [{key: tier, operator: NotIn, values: [db]}]}]
`),
];

const IPS = [
  ...Array.from({ length: 16 }, (_, i) => `192.0.2.${i}`),
  "2001:db8::",
  "2001:db8::1",
  "2001:db8::3",
  "2001:db8::10",
  "2001:db8::11",
  "198.51.100.1",
  "bogus",
];
const PORTS: readonly ServicePort[] = [
  { protocol: "TCP", port: 80 },
  { protocol: "TCP", port: 443 },
  { protocol: "UDP", port: 53 },
];

const requestArb: fc.Arbitrary<ServiceRequest> = fc
  .record({
    ns: fc.constantFrom("ns1", "ns2"),
    name: fc.constantFrom("s1", "s2", "s3", "s4", "s5"),
    tier: fc.constantFrom(undefined, "web", "db"),
    stack: fc.constantFrom<[readonly IPFamily[], ServiceRequest["familyPolicy"]]>(
      [[4], "SingleStack"],
      [[4], "SingleStack"],
      [[6], "SingleStack"],
      [[4, 6], "PreferDualStack"],
      [[6, 4], "PreferDualStack"],
      [[4, 6], "RequireDualStack"],
    ),
    requested: fc.oneof(
      { arbitrary: fc.constant<string[]>([]), weight: 4 },
      { arbitrary: fc.array(fc.constantFrom(...IPS), { minLength: 1, maxLength: 2 }), weight: 2 },
    ),
    pool: fc.constantFrom(undefined, undefined, undefined, "a", "b", "c", "nope"),
    sharingKey: fc.constantFrom("", "", "k1", "k2"),
    ports: fc.subarray([...PORTS], { minLength: 1 }),
    backendKey: fc.constantFrom("", "", "app=x"),
  })
  .map((r): ServiceRequest => ({
    key: `${r.ns}/${r.name}`,
    namespace: r.ns,
    labels: r.tier === undefined ? {} : { tier: r.tier },
    families: r.stack[0],
    familyPolicy: r.stack[1],
    requestedIPs: r.requested,
    pool: r.pool,
    sharingKey: r.sharingKey,
    ports: r.ports,
    backendKey: r.backendKey,
  }));

type Op =
  | { kind: "allocate"; req: ServiceRequest }
  | { kind: "assign"; req: ServiceRequest; ips: string[] }
  | { kind: "reassign"; pick: number; req: ServiceRequest }
  | { kind: "release"; pick: number }
  | { kind: "complete"; pick: number }
  | { kind: "setConfig"; config: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: requestArb.map((req): Op => ({ kind: "allocate", req })), weight: 6 },
  {
    arbitrary: fc
      .tuple(requestArb, fc.array(fc.constantFrom(...IPS), { minLength: 1, maxLength: 2 }))
      .map(([req, ips]): Op => ({ kind: "assign", req, ips })),
    weight: 2,
  },
  // Re-validate a held assignment with a changed Service (labels, ports, key...).
  {
    arbitrary: fc
      .tuple(fc.nat(), requestArb)
      .map(([pick, req]): Op => ({ kind: "reassign", pick, req })),
    weight: 1,
  },
  { arbitrary: fc.nat().map((pick): Op => ({ kind: "release", pick })), weight: 2 },
  // A PreferDualStack Service with one family takes the other, keeping the first.
  { arbitrary: fc.nat().map((pick): Op => ({ kind: "complete", pick })), weight: 1 },
  {
    arbitrary: fc.nat(CONFIGS.length - 1).map((config): Op => ({ kind: "setConfig", config })),
    weight: 1,
  },
);

function ipOf(text: string): IP {
  const p = parseIP(text);
  if (!p.ok) throw new Error(`allocator returned an invalid IP ${text}`);
  return p.value;
}

function poolOf(config: Config, ip: IP): Pool | undefined {
  return config.pools.find((p) =>
    p.addresses.some((b) => b.family === ip.family && b.start <= ip.value && ip.value <= b.end),
  );
}

function admits(pool: Pool, req: ServiceRequest): boolean {
  if (pool.namespaces.length > 0 && !pool.namespaces.includes(req.namespace)) return false;
  return pool.serviceSelectors.length === 0 || matchesAny(pool.serviceSelectors, req.labels);
}

/** Brute-force validity of a placement (sharing aside). */
function placementValid(config: Config, req: ServiceRequest, ips: readonly string[]): boolean {
  const parsed = ips.map(ipOf);
  const pools = parsed.map((ip) => poolOf(config, ip));
  const first = pools[0];
  if (first === undefined || pools.some((p) => p !== first)) return false;
  if (parsed.some((ip) => first.avoidBuggyIPs && ip.family === 4 && isBuggyIPv4(ip.value))) {
    return false;
  }
  if (req.pool !== undefined && req.pool !== first.name) return false;
  return admits(first, req);
}

function mayShare(a: ServiceRequest, b: ServiceRequest): boolean {
  if (a.sharingKey === "" || a.sharingKey !== b.sharingKey) return false;
  if (a.backendKey !== b.backendKey) return false;
  return !a.ports.some((p) => b.ports.some((q) => p.protocol === q.protocol && p.port === q.port));
}

function checkInvariants(
  a: Allocator,
  config: Config,
  model: ReadonlyMap<string, ServiceRequest>,
): void {
  const assignments = [...a.assignments()];
  expect(assignments.map((x) => x.key).sort()).toEqual([...model.keys()].sort());
  const holders = new Map<string, ServiceRequest[]>();
  for (const x of assignments) {
    const req = model.get(x.key);
    if (req === undefined) throw new Error(`unknown holder ${x.key}`);
    expect(placementValid(config, req, x.ips), `${x.key} ${x.ips.join(",")}`).toBe(true);
    const parsed = x.ips.map(ipOf);
    expect(poolOf(config, parsed[0] ?? ipOf("0.0.0.0"))?.name).toBe(x.pool);
    expect(new Set(parsed.map((ip) => ip.family)).size).toBe(parsed.length);
    for (const ip of parsed) expect(req.families).toContain(ip.family);
    if (req.familyPolicy === "RequireDualStack") expect(parsed).toHaveLength(2);
    for (const ip of x.ips) holders.set(ip, [...(holders.get(ip) ?? []), req]);
  }
  for (const [ip, reqs] of holders) {
    for (let i = 0; i < reqs.length; i++) {
      for (let j = i + 1; j < reqs.length; j++) {
        const [r1, r2] = [reqs[i], reqs[j]];
        if (r1 === undefined || r2 === undefined) continue;
        expect(mayShare(r1, r2), `${ip} held by ${r1.key} and ${r2.key}`).toBe(true);
      }
    }
  }
  for (const s of a.stats()) {
    const used = [...holders.keys()].filter((ip) => {
      const p = ipOf(ip);
      return p.family === s.family && poolOf(config, p)?.name === s.pool;
    });
    expect(s.inUse, `${s.pool} IPv${s.family}`).toBe(used.length);
  }
  // Restart: a fresh allocator given the same assignments, in order, reproduces them.
  const fresh = new Allocator(config);
  for (const x of assignments) {
    const req = model.get(x.key);
    if (req === undefined) continue;
    const r = fresh.assign(req, x.ips);
    expect(r, x.key).toEqual({ ok: true, pool: x.pool, ips: x.ips });
  }
  expect([...fresh.assignments()]).toEqual(assignments);
}

/** Every address of a pool and family, lowest first. */
function addressesOf(pool: Pool, family: IPFamily): bigint[] {
  const out: bigint[] = [];
  const blocks = pool.addresses
    .filter((b) => b.family === family)
    .sort((x, y) => (x.start < y.start ? -1 : 1));
  for (const b of blocks) for (let v = b.start; v <= b.end; v++) out.push(v);
  return out;
}

describe("allocator properties", () => {
  it("keeps its invariants under any sequence of operations", () => {
    fc.assert(
      fc.property(
        fc.nat(CONFIGS.length - 1),
        fc.array(opArb, { minLength: 10, maxLength: 80 }),
        (start, ops) => {
          let config = CONFIGS[start] ?? CONFIGS[0];
          if (config === undefined) return;
          const a = new Allocator(config);
          const model = new Map<string, ServiceRequest>();
          for (const op of ops) {
            const keys = [...model.keys()];
            switch (op.kind) {
              case "allocate": {
                const others = new Set(
                  [...a.assignments()].filter((x) => x.key !== op.req.key).flatMap((x) => x.ips),
                );
                const r = a.allocate(op.req);
                if (r.ok) model.set(op.req.key, op.req);
                else model.delete(op.req.key);
                // Plain single-stack allocation: the lowest address that was free.
                if (
                  r.ok &&
                  op.req.requestedIPs.length === 0 &&
                  op.req.sharingKey === "" &&
                  op.req.familyPolicy === "SingleStack"
                ) {
                  const pool = config.pools.find((p) => p.name === r.pool);
                  const family = op.req.families[0];
                  if (pool === undefined || family === undefined) throw new Error("bad result");
                  const lowest = addressesOf(pool, family).find(
                    (v) =>
                      !others.has(ipText(family, v)) &&
                      !(pool.avoidBuggyIPs && family === 4 && isBuggyIPv4(v)),
                  );
                  expect(r.ips).toEqual([ipText(family, lowest ?? -1n)]);
                }
                break;
              }
              case "assign": {
                const r = a.assign(op.req, op.ips);
                if (r.ok) model.set(op.req.key, op.req);
                break;
              }
              case "reassign": {
                const key = keys[op.pick % Math.max(keys.length, 1)];
                const held = key === undefined ? undefined : a.get(key);
                if (key === undefined || held === undefined) break;
                const [namespace] = key.split("/");
                const req = { ...op.req, key, namespace: namespace ?? "" };
                const r = a.assign(req, held.ips);
                if (r.ok) {
                  // Same IPs, ordered like the (possibly changed) ipFamilies.
                  expect([...r.ips].sort()).toEqual([...held.ips].sort());
                  model.set(key, req);
                } else {
                  expect(a.get(key)).toEqual(held);
                }
                break;
              }
              case "release": {
                const key = keys[op.pick % Math.max(keys.length, 1)];
                if (key !== undefined) {
                  a.release(key);
                  model.delete(key);
                }
                break;
              }
              case "complete": {
                const key = keys[op.pick % Math.max(keys.length, 1)];
                const held = key === undefined ? undefined : a.get(key);
                if (key === undefined || held === undefined) break;
                const missing = a.missingFamily(key);
                const r = a.complete(key);
                if (missing === undefined) expect(r).toBeUndefined();
                if (r?.ok === true) {
                  expect(r.ips).toHaveLength(2);
                  expect(r.ips).toEqual(expect.arrayContaining([...held.ips]));
                  expect(a.missingFamily(key)).toBeUndefined();
                } else {
                  expect(a.get(key)).toEqual(held);
                }
                break;
              }
              case "setConfig": {
                const next = CONFIGS[op.config];
                if (next === undefined) break;
                const before: Assignment[] = [...a.assignments()];
                const evicted = a.setConfig(next);
                const invalid = before
                  .filter((x) => {
                    const req = model.get(x.key);
                    return req === undefined || !placementValid(next, req, x.ips);
                  })
                  .map((x) => x.key);
                expect(evicted.map((e) => e.key)).toEqual(invalid);
                for (const k of invalid) model.delete(k);
                config = next;
                break;
              }
            }
            checkInvariants(a, config, model);
          }
        },
      ),
      { numRuns: 250 },
    );
  });
});

function ipText(family: IPFamily, value: bigint): string {
  return family === 4
    ? [24, 16, 8, 0].map((s) => Number((value >> BigInt(s)) & 255n)).join(".")
    : new URL(`http://[${bigToV6(value)}]/`).hostname.slice(1, -1);
}

function bigToV6(value: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(":");
}
