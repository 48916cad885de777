import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CoreV1Api,
  type KubeConfig,
  type V1Service,
  type V1ServiceSpec,
} from "@kubernetes/client-node";
import { pino } from "pino";
import { setTimeout as sleep } from "node:timers/promises";
import { RESOURCES, resourcePath } from "../../src/k8s/api.js";
import { watchResource, type WatchedResource } from "../../src/k8s/informer.js";
import {
  createTestNamespace,
  eventually,
  integrationKubeConfig,
  kubeClientFor,
} from "../helpers/k8s.js";
import {
  pools,
  putConfig,
  ServiceFixture,
  startTestController,
  type TestController,
} from "../helpers/controller.js";

// Taking over from MetalLB without moving an IP, on a real API server: some 300 Services as
// MetalLB's controller leaves them (status written by field manager "controller" with its
// ip-allocated-from-pool annotation; the users' metallb.io/ and metallb.universe.tf/
// annotations), over four pools and both families, some sharing an IP. barelb's controller
// starts with the equivalent config: the Services whose IP fits keep it, each costing at most
// one write; those that do not fit move, each with an Event saying why; a restart writes
// nothing. Writes are counted per Service by a watch (every change the API server made) and in
// total by the controller's writer.

const kc = integrationKubeConfig();

const CONFIG = pools(
  "- name: lan", // MetalLB's was "office" for some Services: a pool renamed in the import
  "  protocol: layer2",
  "  addresses: [192.0.2.0/25, 192.0.2.128/27]",
  "- name: dmz",
  "  protocol: layer2",
  "  addresses: [198.51.100.0/25, '2001:db8:d::/120']",
  "- name: reserved",
  "  protocol: layer2",
  "  auto-assign: false",
  "  addresses: [198.51.100.128/26]",
  "- name: v6",
  "  protocol: layer2",
  "  addresses: ['2001:db8:6::/120']",
);

type Prefix = "metallb.io/" | "metallb.universe.tf/";

/** A Service as MetalLB left it, and what barelb should make of it. */
interface Left {
  name: string;
  /** status.loadBalancer.ingress, in MetalLB's order. */
  ips: string[];
  /** MetalLB's ip-allocated-from-pool. */
  metallbPool: string;
  prefix: Prefix;
  /** The user's own annotations (address-pool, loadBalancerIPs, allow-shared-ip). */
  annotations?: Record<string, string>;
  spec?: Partial<V1ServiceSpec>;
  /** Created a second after the others: younger than every Service it contests an IP with. */
  late?: boolean;
  want: { keeps: string } | { moves: string; to: RegExp };
}

const prefixOf = (i: number): Prefix => (i % 2 === 0 ? "metallb.io/" : "metallb.universe.tf/");
const hex = (n: number) => n.toString(16);

function leftBehind(ns: string): Left[] {
  const out: Left[] = [];
  for (let i = 0; i < 100; i++) {
    out.push({
      name: `lan-${i}`,
      ips: [`192.0.2.${1 + i}`],
      metallbPool: i % 10 === 0 ? "office" : "lan",
      prefix: prefixOf(i),
      want: { keeps: "lan" },
    });
  }
  for (let i = 0; i < 85; i++) {
    out.push({
      name: `dmz-${i}`,
      ips: [`198.51.100.${1 + i}`],
      metallbPool: "dmz",
      prefix: prefixOf(i),
      annotations: { [`${prefixOf(i + 1)}address-pool`]: "dmz" },
      want: { keeps: "dmz" },
    });
  }
  for (let i = 0; i < 20; i++) {
    const v4 = `198.51.100.${90 + i}`;
    const v6 = `2001:db8:d::${hex(1 + i)}`;
    // Half IPv6-first: MetalLB's ingress order need not follow ipFamilies.
    const v6First = i % 2 === 1;
    out.push({
      name: `dual-${i}`,
      ips: [v4, v6],
      metallbPool: "dmz",
      prefix: prefixOf(i),
      spec: {
        ipFamilyPolicy: i % 4 < 2 ? "RequireDualStack" : "PreferDualStack",
        ipFamilies: v6First ? ["IPv6", "IPv4"] : ["IPv4", "IPv6"],
      },
      want: { keeps: "dmz" },
    });
  }
  for (let i = 0; i < 20; i++) {
    out.push({
      name: `v6-${i}`,
      ips: [`2001:db8:6::${hex(1 + i)}`],
      metallbPool: "v6",
      prefix: prefixOf(i),
      spec: { ipFamilies: ["IPv6"], ipFamilyPolicy: "SingleStack" },
      want: { keeps: "v6" },
    });
  }
  for (let i = 0; i < 20; i++) {
    const ip = `198.51.100.${130 + i}`;
    out.push({
      name: `fixed-${i}`,
      ips: [ip],
      metallbPool: "reserved",
      prefix: prefixOf(i),
      ...(i % 2 === 0
        ? { annotations: { [`${prefixOf(i / 2)}loadBalancerIPs`]: ip } }
        : { spec: { loadBalancerIP: ip } }),
      want: { keeps: "reserved" },
    });
  }
  for (let i = 0; i < 20; i++) {
    for (const [side, port] of [
      ["a", 80],
      ["b", 443],
    ] as const) {
      out.push({
        name: `shared-${i}-${side}`,
        ips: [`192.0.2.${101 + i}`],
        metallbPool: "lan",
        prefix: prefixOf(i),
        annotations: { [`${prefixOf(side === "a" ? i : i + 1)}allow-shared-ip`]: `key-${i}` },
        spec: { ports: [{ port, protocol: "TCP" }] },
        want: { keeps: "lan" },
      });
    }
  }

  // Those that do not fit barelb's config: they move, and say why. Their names sort before
  // the Services they contest an IP with: the older one keeps it, whatever the names.
  const lanIP = /^192\.0\.2\.(\d|[1-9]\d|1[0-5]\d)$/;
  for (let i = 0; i < 5; i++) {
    out.push({
      name: `outside-${i}`,
      ips: [`192.0.2.${200 + i}`],
      metallbPool: "lan",
      prefix: prefixOf(i),
      want: { moves: `192.0.2.${200 + i} is not in any address pool`, to: lanIP },
    });
    out.push({
      name: `wrongpool-${i}`,
      ips: [`192.0.2.${121 + i}`],
      metallbPool: "lan",
      prefix: prefixOf(i),
      annotations: { [`${prefixOf(i)}address-pool`]: "dmz" },
      want: {
        moves: `192.0.2.${121 + i} is in pool "lan", but the address-pool annotation asks for pool "dmz"`,
        to: /^198\.51\.100\.\d+$/,
      },
    });
  }
  for (let i = 0; i < 3; i++) {
    out.push({
      name: `a-clash-${i}`,
      ips: [`192.0.2.${1 + i}`],
      metallbPool: "lan",
      prefix: prefixOf(i),
      late: true,
      want: { moves: `192.0.2.${1 + i} is already used by Service ${ns}/lan-${i}`, to: lanIP },
    });
    out.push({
      name: `a-port-${i}`,
      ips: [`192.0.2.${101 + i}`],
      metallbPool: "lan",
      prefix: prefixOf(i),
      annotations: { [`${prefixOf(i)}allow-shared-ip`]: `key-${i}` },
      late: true,
      want: { moves: "which also uses TCP/80", to: lanIP },
    });
  }
  for (let i = 0; i < 2; i++) {
    out.push({
      name: `a-key-${i}`,
      ips: [`192.0.2.${111 + i}`],
      metallbPool: "lan",
      prefix: prefixOf(i),
      annotations: { [`${prefixOf(i)}allow-shared-ip`]: "another-key" },
      spec: { ports: [{ port: 8080, protocol: "TCP" }] },
      late: true,
      want: { moves: "only Services with the same key share an IP", to: lanIP },
    });
  }
  return out;
}

/** Runs `fn` over `items`, `width` at a time. */
async function inParallel<T>(items: readonly T[], width: number, fn: (t: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

describe.runIf(kc !== null)("taking over from MetalLB, on a real API server", () => {
  const admin = kc as KubeConfig;
  const core = admin.makeApiClient(CoreV1Api);
  const client = kubeClientFor(admin);
  const suffix = Math.random().toString(16).slice(2, 8);
  const lbClass = `barelb.io/it-takeover-${suffix}`;
  let ns = "";
  let svc: ServiceFixture;
  let left: Left[] = [];
  let ctl: TestController | undefined;
  let watch: WatchedResource<V1Service> | undefined;
  /** Changes the API server made to each Service since the watch started. */
  const changes = new Map<string, number>();

  /** What MetalLB's controller writes: the status and its pool annotation, as "controller". */
  const leaveAsMetalLB = (l: Left) =>
    client.mergePatch(
      resourcePath(RESOURCES.services, { namespace: ns, name: l.name, subresource: "status" }),
      {
        metadata: { annotations: { [`${l.prefix}ip-allocated-from-pool`]: l.metallbPool } },
        status: { loadBalancer: { ingress: l.ips.map((ip) => ({ ip })) } },
      },
      { fieldManager: "controller" },
    );

  const settled = async (c: TestController) => {
    await c.handle.restored;
    // Idle twice, a while apart: the watch's echo of the last writes has been reconciled too.
    await eventually(
      "controller idle",
      async () => {
        if (!c.handle.idle()) return undefined;
        await sleep(1_000);
        return c.handle.idle() ? true : undefined;
      },
      60_000,
    );
  };

  /** barelb's Events, by the name of their object. */
  const reasons = async () => {
    const list = await core.listNamespacedEvent({ namespace: ns });
    const out = new Map<string, { reason: string; message: string }[]>();
    // barelb's only (this API server's own repair loop says ClusterIPNotAllocated now and then).
    for (const e of list.items.filter((e) => e.reportingComponent === "barelb-controller")) {
      const name = e.involvedObject.name ?? "";
      out.set(name, [
        ...(out.get(name) ?? []),
        { reason: e.reason ?? "", message: e.message ?? "" },
      ]);
    }
    return out;
  };

  beforeAll(async () => {
    ns = await createTestNamespace(admin, "it-takeover");
    svc = new ServiceFixture(admin, ns, lbClass);
    left = leftBehind(ns);
    await putConfig(core, ns, CONFIG);
    const create = async (l: Left) => {
      await svc.create(l.name, l.spec ?? {}, l.annotations ?? {}).catch((e: unknown) => {
        throw new Error(`creating ${l.name}`, { cause: e });
      });
      await leaveAsMetalLB(l);
    };
    await inParallel(
      left.filter((l) => l.late !== true),
      16,
      create,
    );
    await sleep(1_100); // creationTimestamp has whole seconds
    await inParallel(
      left.filter((l) => l.late === true),
      16,
      create,
    );
    watch = watchResource<V1Service>({
      client,
      path: resourcePath(RESOURCES.services, { namespace: ns }),
      handlers: {
        update: (s) => {
          const name = s.metadata?.name ?? "";
          changes.set(name, (changes.get(name) ?? 0) + 1);
        },
      },
      log: pino({ level: "silent" }),
      what: "services",
    });
    await watch.synced;
  }, 120_000);

  afterAll(async () => {
    await ctl?.stop();
    await watch?.stop();
    if (ns !== "") await core.deleteNamespace({ name: ns });
  });

  it("keeps every IP that fits, with at most one write each, and moves the others saying why", async () => {
    ctl = startTestController(admin, { namespace: ns, lbClass });
    await settled(ctl);
    const fits = left.filter((l) => "keeps" in l.want);
    const moves = left.filter((l) => "moves" in l.want);
    expect(fits.length + moves.length).toBeGreaterThanOrEqual(300);

    const now = new Map(
      (await core.listNamespacedService({ namespace: ns })).items.map((s) => [
        s.metadata?.name ?? "",
        s,
      ]),
    );
    const events = await reasons();
    for (const l of fits) {
      const s = now.get(l.name);
      expect(
        (s?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip),
        `${l.name} keeps its IPs`,
      ).toEqual(l.ips);
      const want = l.want as { keeps: string };
      expect(s?.metadata?.annotations?.["barelb.io/ip-allocated-from-pool"], l.name).toBe(
        want.keeps,
      );
      // MetalLB's record of the pool went with that write: the Service names one pool.
      expect(
        s?.metadata?.annotations?.[`${l.prefix}ip-allocated-from-pool`],
        l.name,
      ).toBeUndefined();
      expect(changes.get(l.name) ?? 0, `${l.name}: changes`).toBeLessThanOrEqual(1);
      expect(
        events.get(l.name) ?? [],
        `${l.name}: events ${JSON.stringify(events.get(l.name))}`,
      ).toEqual([]);
    }
    for (const l of moves) {
      const s = now.get(l.name);
      const ips = (s?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? "");
      const want = l.want as { moves: string; to: RegExp };
      expect(ips, `${l.name} moved`).toHaveLength(1);
      expect(ips[0], `${l.name} moved`).toMatch(want.to);
      expect(ips, `${l.name} moved`).not.toEqual(l.ips);
      const said = events.get(l.name) ?? [];
      expect(
        said.find((e) => e.reason === "ClearAssignment")?.message,
        `${l.name}: why it moved`,
      ).toContain(want.moves);
      expect(said.find((e) => e.reason === "ClearAssignment")?.message, l.name).toContain(
        "in its status, set before barelb handled the Service, cannot be kept",
      );
      expect(changes.get(l.name) ?? 0, `${l.name}: changes`).toBeLessThanOrEqual(1);
      expect(said.find((e) => e.reason === "IPAllocated")?.message, l.name).toContain(ips[0]);
    }
    // Shared IPs stay shared.
    for (let i = 0; i < 20; i++) {
      expect(now.get(`shared-${i}-a`)?.status?.loadBalancer?.ingress?.[0]?.ip).toBe(
        now.get(`shared-${i}-b`)?.status?.loadBalancer?.ingress?.[0]?.ip,
      );
    }
    // One status write per Service at most, counted by the writer too (in this namespace: the
    // controllers of test files running beside this one see each other's Services).
    expect(ctl.handle.writer.writesIn.get(ns)).toBeLessThanOrEqual(left.length);
  });

  it("writes nothing on a restart", async () => {
    await ctl?.stop();
    changes.clear();
    const eventsBefore = [...(await reasons()).values()].flat().length;
    ctl = startTestController(admin, { namespace: ns, lbClass });
    await settled(ctl);
    expect(ctl.handle.writer.writesIn.get(ns) ?? 0).toBe(0);
    expect(Object.fromEntries(changes)).toEqual({});
    expect([...(await reasons()).values()].flat().length).toBe(eventsBefore);
  });

  it("releases the IP it took over when a Service stops being a LoadBalancer", async () => {
    // MetalLB's "controller" still owns the ingress barelb kept as it was: it is barelb's all
    // the same, released and cleared as barelb's own (not left as another implementation's).
    await client.mergePatch(resourcePath(RESOURCES.services, { namespace: ns, name: "lan-5" }), {
      spec: { type: "ClusterIP" },
    });
    await svc.waitIPs("lan-5", (ips) => ips.length === 0, "no IP");
    const ev = await svc.waitEvent("lan-5", "ClearAssignment", "released IP 192.0.2.6");
    expect(ev.message).not.toContain("written by another implementation");
  });
});
